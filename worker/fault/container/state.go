package container

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// record is what an injected fault touched, written before the first container is
// touched and removed after a complete revert. A worker that crashed in between finds it
// at start-up (when the agent reverts its journal) and reverts exactly these containers.
//
// One JSON file per assignment, <state dir>/<hex(assignment id)>.json, written to a
// temporary file, fsynced and renamed, then the directory fsynced.
type record struct {
	AssignmentID string   `json:"assignment_id"`
	Kind         string   `json:"kind"`
	Targets      []target `json:"targets"`
}

type target struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// StartedAt is when the run the fault interrupts began. A revert starts a stopped
	// container again only if it has not been started since (by someone else), so the
	// revert undoes the fault's own stop and nothing later.
	StartedAt string `json:"started_at"`
}

type store struct {
	dir string
}

func (s store) path(id string) string {
	return filepath.Join(s.dir, hex.EncodeToString([]byte(id))+".json")
}

func (s store) get(id string) (record, bool, error) {
	b, err := os.ReadFile(s.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return record{}, false, nil
	}
	if err != nil {
		return record{}, false, fmt.Errorf("read container fault state: %w", err)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return record{}, false, fmt.Errorf("container fault state %s is corrupt: %w", s.path(id), err)
	}
	return r, true, nil
}

func (s store) put(r record) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("create container fault state directory: %w", err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	path := s.path(r.AssignmentID)
	tmp, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("write container fault state: %w", err)
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write container fault state %s: %w", path, err)
	}
	return syncDir(s.dir)
}

func (s store) del(id string) error {
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove container fault state: %w", err)
	}
	return syncDir(s.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
