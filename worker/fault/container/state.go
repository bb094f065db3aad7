package container

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/murphy-chaos/murphy/worker/fault/record"
)

// touched is what an injected fault touched, written before the first container is
// touched and removed after a complete revert. A worker that crashed in between finds it
// at start-up (when the agent reverts its journal) and reverts exactly these containers.
// It is kept as every executor record is (worker/fault/record).
type touched struct {
	AssignmentID string   `json:"assignment_id"`
	Kind         string   `json:"kind"`
	Targets      []target `json:"targets"`
	// Pod and Container name a pod fault's target as its params do; Cgroup is the
	// freezer directory a pause froze. A pod fault's revert needs none of them (it finds
	// the pod again from the params); the record makes its Inject idempotent, and Cgroup
	// lets a revert thaw a container the runtime has already forgotten.
	Pod       string `json:"pod,omitempty"`
	Container string `json:"container,omitempty"`
	Cgroup    string `json:"cgroup,omitempty"`
}

type target struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// StartedAt is when the run the fault interrupts began. A revert starts a stopped
	// container again only if it has not been started since (by someone else), so the
	// revert undoes the fault's own stop and nothing later.
	StartedAt string `json:"started_at"`
}

// store keeps the family's records. Earlier workers wrote their own format,
// <dir>/<hex(assignment id)>.json holding the bare record; get still reads it, so a fault
// injected before an upgrade is reverted after it.
type store struct {
	recs *record.Dir
	dir  string
}

func newStore(dir string) store { return store{recs: record.At(dir), dir: dir} }

func (s store) get(id string) (touched, bool, error) {
	var r touched
	ok, err := s.recs.Get(id, &r)
	if err != nil {
		return touched{}, false, fmt.Errorf("read container fault state: %w", err)
	}
	if ok {
		return r, true, nil
	}
	return s.getLegacy(id)
}

func (s store) put(r touched) error {
	if err := s.recs.Put(r.AssignmentID, r); err != nil {
		return fmt.Errorf("write container fault state: %w", err)
	}
	return nil
}

func (s store) del(id string) error {
	if err := s.recs.Delete(id); err != nil {
		return fmt.Errorf("remove container fault state: %w", err)
	}
	// Not fsynced: a legacy record that outlives a power loss is read only for a journal
	// entry, and the agent forgets the entry (durably) after this returns.
	if err := os.Remove(s.legacyPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove container fault state: %w", err)
	}
	return nil
}

func (s store) legacyPath(id string) string {
	return filepath.Join(s.dir, hex.EncodeToString([]byte(id))+".json")
}

func (s store) getLegacy(id string) (touched, bool, error) {
	b, err := os.ReadFile(s.legacyPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return touched{}, false, nil
	}
	if err != nil {
		return touched{}, false, fmt.Errorf("read container fault state: %w", err)
	}
	var r touched
	if err := json.Unmarshal(b, &r); err != nil {
		return touched{}, false, fmt.Errorf("container fault state %s is corrupt: %w", s.legacyPath(id), err)
	}
	return r, true, nil
}
