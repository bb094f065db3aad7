package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"google.golang.org/protobuf/proto"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// Schema (bbolt, one file: <data dir>/journal.db):
//
//	meta/
//	    "version" -> "1"
//	faults/
//	    <assignment_id> -> protobuf murphyv1.ActiveFault
//	                       {assignment_id, run_id, step, fault{kind, params, duration},
//	                        injected_at, deadline}
//	reverted/
//	    <assignment_id> -> protobuf murphyv1.StepStatus {REVERTED, cause, at}
//
// One key per active fault. The value is the same message the worker sends in Hello, so
// what the journal holds and what the coordinator is told can never drift apart. Every
// Put and Delete is its own bbolt transaction, committed with fsync before it returns.
//
// reverted/ holds reverts made while no worker was there to report them (by the host's
// guardian): the next worker to open the journal reports each one to the coordinators
// and forgets it. The bucket is created on demand, so the schema version is unchanged.

const schemaVersion = "1"

var (
	bucketMeta   = []byte("meta")
	bucketFaults = []byte("faults")
	bucketRevert = []byte("reverted")
	keyVersion   = []byte("version")
)

// FileName is the journal's file inside the worker's data directory.
const FileName = "journal.db"

// Journal is the intent log. Its methods are safe for concurrent use.
type Journal struct {
	db *bolt.DB
}

// Open opens or creates the journal in dir.
func Open(dir string) (*Journal, error) {
	// A fresh host has no data directory yet; only the worker needs to read it.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create journal directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	// bbolt holds an exclusive flock; a second worker on the same data dir would block
	// forever without the timeout.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open journal %s: locked by another process (is another worker using this data dir?)", path)
		}
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := meta.Get(keyVersion); v != nil && string(v) != schemaVersion {
			return fmt.Errorf("schema version %q, this worker reads %q", v, schemaVersion)
		}
		if err := meta.Put(keyVersion, []byte(schemaVersion)); err != nil {
			return err
		}
		_, err = tx.CreateBucketIfNotExists(bucketFaults)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	return &Journal{db: db}, nil
}

// Put records the intent to apply f. It returns after the intent is on disk.
func (j *Journal) Put(f *murphyv1.ActiveFault) error {
	if f.GetAssignmentId() == "" {
		return errors.New("journal put: empty assignment id")
	}
	b, err := proto.Marshal(f)
	if err != nil {
		return fmt.Errorf("journal put %s: %w", f.GetAssignmentId(), err)
	}
	err = j.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketFaults).Put([]byte(f.GetAssignmentId()), b)
	})
	if err != nil {
		return fmt.Errorf("journal put %s: %w", f.GetAssignmentId(), err)
	}
	return nil
}

// Delete forgets the fault of assignmentID after it is reverted. Deleting an absent
// entry is not an error.
func (j *Journal) Delete(assignmentID string) error {
	err := j.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketFaults).Delete([]byte(assignmentID))
	})
	if err != nil {
		return fmt.Errorf("journal delete %s: %w", assignmentID, err)
	}
	return nil
}

// List returns every recorded fault, ordered by assignment id. An entry that cannot be
// decoded is reported as an error rather than skipped: a fault the worker cannot read is a
// fault it cannot revert.
func (j *Journal) List() ([]*murphyv1.ActiveFault, error) {
	var out []*murphyv1.ActiveFault
	var bad []string
	err := j.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketFaults).ForEach(func(k, v []byte) error {
			f := &murphyv1.ActiveFault{}
			if err := proto.Unmarshal(v, f); err != nil {
				bad = append(bad, string(k))
				return nil
			}
			out = append(out, f)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("journal list: %w", err)
	}
	slices.SortFunc(out, func(a, b *murphyv1.ActiveFault) int { return strings.Compare(a.AssignmentId, b.AssignmentId) })
	if len(bad) > 0 {
		return out, fmt.Errorf("journal list: undecodable entries %s", strings.Join(bad, ", "))
	}
	return out, nil
}

// Close closes the file.
func (j *Journal) Close() error {
	if err := j.db.Close(); err != nil {
		return fmt.Errorf("close journal: %w", err)
	}
	return nil
}

// Resolve forgets the fault of st's assignment and keeps st, its revert, for the next
// worker to report, in one transaction: a crash leaves either the fault or its report.
func (j *Journal) Resolve(st *murphyv1.StepStatus) error {
	b, err := proto.Marshal(st)
	if err != nil {
		return fmt.Errorf("journal resolve %s: %w", st.GetAssignmentId(), err)
	}
	err = j.db.Update(func(tx *bolt.Tx) error {
		rb, err := tx.CreateBucketIfNotExists(bucketRevert)
		if err != nil {
			return err
		}
		if err := rb.Put([]byte(st.GetAssignmentId()), b); err != nil {
			return err
		}
		return tx.Bucket(bucketFaults).Delete([]byte(st.GetAssignmentId()))
	})
	if err != nil {
		return fmt.Errorf("journal resolve %s: %w", st.GetAssignmentId(), err)
	}
	return nil
}

// Reverted returns the reverts kept by Resolve, ordered by assignment id; undecodable
// entries are dropped with an error, since a report is not a fault.
func (j *Journal) Reverted() ([]*murphyv1.StepStatus, error) {
	var out []*murphyv1.StepStatus
	var bad []string
	err := j.db.View(func(tx *bolt.Tx) error {
		rb := tx.Bucket(bucketRevert)
		if rb == nil {
			return nil
		}
		return rb.ForEach(func(k, v []byte) error {
			st := &murphyv1.StepStatus{}
			if err := proto.Unmarshal(v, st); err != nil {
				bad = append(bad, string(k))
				return nil
			}
			out = append(out, st)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("journal reverted: %w", err)
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("journal reverted: undecodable entries %s", strings.Join(bad, ", "))
	}
	return out, nil
}

// ForgetReverted drops the reports of ids once they are handed to the worker's outbox.
func (j *Journal) ForgetReverted(ids ...string) error {
	err := j.db.Update(func(tx *bolt.Tx) error {
		rb := tx.Bucket(bucketRevert)
		if rb == nil {
			return nil
		}
		for _, id := range ids {
			if err := rb.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("journal forget reverted: %w", err)
	}
	return nil
}
