package journal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func active(id string) *murphyv1.ActiveFault {
	return &murphyv1.ActiveFault{
		AssignmentId: id, RunId: "run-1", Step: 2,
		Fault:      &murphyv1.FaultSpec{Kind: "http.delay", Params: map[string]string{"delay": "200ms"}},
		InjectedAt: timestamppb.New(time.Unix(100, 0)),
		Deadline:   timestamppb.New(time.Unix(160, 0)),
	}
}

func TestJournalSurvivesCrash(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"b", "a", "c"} {
		if err := j.Put(active(id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Delete("c"); err != nil { // reverted before the crash
		t.Fatal(err)
	}
	// The "crash": the process ends with a and b applied and never reverted. Closing the
	// handle is what the OS does to a dead process's file; nothing else is written.
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	j, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	left, err := j.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 || left[0].AssignmentId != "a" || left[1].AssignmentId != "b" {
		t.Fatalf("leftovers %v, want a and b", left)
	}
	if !proto.Equal(left[0], active("a")) {
		t.Fatalf("entry changed on disk: %v", left[0])
	}
	for _, f := range left { // the start-up revert
		if err := j.Delete(f.AssignmentId); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Delete("never-there"); err != nil {
		t.Fatalf("delete of an absent entry: %v", err)
	}
	if left, _ := j.List(); len(left) != 0 {
		t.Fatalf("entries after revert: %v", left)
	}
}

func TestJournalLockedByAnotherWorker(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second Open: %v", err)
	}
}

func TestJournalRejectsEmptyID(t *testing.T) {
	j, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Put(&murphyv1.ActiveFault{}); err == nil {
		t.Fatal("Put accepted an empty assignment id")
	}
}

func TestOpenCreatesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	j, err := Open(dir)
	if err != nil {
		t.Fatalf("open on a missing directory: %v", err)
	}
	j.Close()
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Fatal(err)
	}
}
