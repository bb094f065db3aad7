package fsm

import (
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/encoding/protowire"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// newerCommand is a command as a newer leader writes it: a kind this build does not know
// (field 999 of the oneof's message, which this build decodes as an unknown field).
func newerCommand(t *testing.T, ignorable bool) []byte {
	t.Helper()
	data, err := Encode(&murphyv1.Command{At: at(1), By: "leader:n9", Ignorable: ignorable})
	if err != nil {
		t.Fatal(err)
	}
	data = protowire.AppendTag(data, 999, protowire.BytesType)
	return protowire.AppendBytes(data, []byte("a future command"))
}

// A rolling upgrade: a newer leader writes a command kind this follower does not know.
// Marked ignorable, it is skipped and counted, and the state is what it was; unmarked,
// the follower stops rather than fork the state.
func TestUnknownCommandKinds(t *testing.T) {
	f := New()
	applyAll(t, f, script()[:3])
	before := persist(t, f)
	if res := f.Apply(&raft.Log{Index: 100, Type: raft.LogCommand, Data: newerCommand(t, true)}); res != nil {
		t.Fatalf("ignorable unknown command: %v", res)
	}
	if f.SkippedUnknown() != 1 {
		t.Errorf("skipped %d, want 1", f.SkippedUnknown())
	}
	if string(persist(t, f)) != string(before) {
		t.Error("skipping an unknown command changed the state")
	}
	defer func() {
		if recover() == nil {
			t.Error("an unknown command without the ignorable mark was applied")
		}
	}()
	f.Apply(&raft.Log{Index: 101, Type: raft.LogCommand, Data: newerCommand(t, false)})
}
