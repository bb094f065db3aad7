package record

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Dir is a directory of records, one per assignment id. Safe for concurrent use on
// different ids.
type Dir struct {
	path string
}

// Open creates path if needed and returns its records.
func Open(path string) (*Dir, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("fault records: %w", err)
	}
	return &Dir{path: path}, nil
}

// At returns the records in path without touching the disk; the directory is created by
// the first Put. For families that are built where no error can be returned.
func At(path string) *Dir { return &Dir{path: path} }

// Path is the directory holding the records.
func (d *Dir) Path() string { return d.path }

// file names a record by a hash of the assignment id, so any id is a safe file name.
func (d *Dir) file(id string) string {
	h := sha256.Sum256([]byte(id))
	return filepath.Join(d.path, hex.EncodeToString(h[:16])+".json")
}

type envelope struct {
	AssignmentID string          `json:"assignmentId"`
	Data         json.RawMessage `json:"data"`
}

// Put stores v as the record of id, durably, replacing any previous one.
func (d *Dir) Put(id string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode record of %s: %w", id, err)
	}
	b, err := json.Marshal(envelope{AssignmentID: id, Data: data})
	if err != nil {
		return fmt.Errorf("encode record of %s: %w", id, err)
	}
	name := d.file(id)
	if err := os.MkdirAll(d.path, 0o700); err != nil {
		return fmt.Errorf("write record of %s: %w", id, err)
	}
	tmp, err := os.CreateTemp(d.path, ".tmp-*")
	if err != nil {
		return fmt.Errorf("write record of %s: %w", id, err)
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write record of %s: %w", id, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync record of %s: %w", id, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write record of %s: %w", id, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("write record of %s: %w", id, err)
	}
	return d.syncDir()
}

// Get loads the record of id into v; ok is false when there is none.
func (d *Dir) Get(id string, v any) (ok bool, err error) {
	b, err := os.ReadFile(d.file(id))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read record of %s: %w", id, err)
	}
	var e envelope
	if err := json.Unmarshal(b, &e); err != nil || e.AssignmentID != id {
		return false, fmt.Errorf("record of %s in %s is damaged", id, d.file(id))
	}
	if err := json.Unmarshal(e.Data, v); err != nil {
		return false, fmt.Errorf("record of %s: %w", id, err)
	}
	return true, nil
}

// Delete removes the record of id durably; a missing record is not an error.
func (d *Dir) Delete(id string) error {
	if err := os.Remove(d.file(id)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("delete record of %s: %w", id, err)
	}
	return d.syncDir()
}

func (d *Dir) syncDir() error {
	f, err := os.Open(d.path)
	if err != nil {
		return fmt.Errorf("sync %s: %w", d.path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", d.path, err)
	}
	return nil
}
