//go:build linux

package stress

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

// Disk is stress.disk.
type Disk struct {
	pol fault.Policy
	log *slog.Logger
}

var _ fault.Executor = (*Disk)(nil)

func newDisk(pol fault.Policy, log *slog.Logger) *Disk { return &Disk{pol: pol, log: orDiscard(log)} }

// FillName is the file stress.disk creates for an assignment in the directory it fills.
func FillName(assignmentID string) string {
	h := sha256.Sum256([]byte(assignmentID))
	return "murphy-stress-disk-" + hex.EncodeToString(h[:8]) + ".fill"
}

// Kind implements fault.Executor.
func (*Disk) Kind() string { return "stress.disk" }

// Validate implements fault.Executor.
func (d *Disk) Validate(p catalogue.Params) error {
	dp, ok := p.(catalogue.StressDisk)
	if !ok {
		return fmt.Errorf("stress.disk: params of type %T", p)
	}
	dir := dp.Path
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("stress.disk: params.path: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("stress.disk: params.path: %s is not a directory", dir)
	}
	if err := d.pol.AllowsDiskPath(dir); err != nil {
		return fmt.Errorf("stress.disk: refused: %w", err)
	}
	return nil
}

// Inject implements fault.Executor. The file is created exclusively, so a file the
// worker did not create is never truncated; an existing file of this assignment means a
// resend.
func (d *Disk) Inject(ctx context.Context, f fault.Fault) error {
	if err := d.Validate(f.Params); err != nil {
		return err
	}
	p := f.Params.(catalogue.StressDisk)
	dir, n := p.Path, p.Bytes
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return fmt.Errorf("stress.disk: %s: %w", dir, err)
	}
	if avail := int64(st.Bavail) * st.Bsize; n > avail {
		return fmt.Errorf("stress.disk: params.bytes: %d bytes is more than the %d free in %s", n, avail, dir)
	}
	name := filepath.Join(dir, FillName(f.AssignmentID))
	file, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stress.disk: %w", err)
	}
	err = fill(ctx, file, n)
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("stress.disk: fill %s: %w", name, err)
	}
	d.log.Info("disk stress started", "assignment_id", f.AssignmentID, "file", name, "bytes", n)
	return nil
}

// fill makes file take n bytes of disk: fallocate where the file system supports it,
// written blocks otherwise.
func fill(ctx context.Context, file *os.File, n int64) error {
	err := syscall.Fallocate(int(file.Fd()), 0, 0, n)
	if err == nil {
		return file.Sync()
	}
	if !errors.Is(err, syscall.EOPNOTSUPP) && !errors.Is(err, syscall.ENOSYS) {
		return err
	}
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = 0xa5
	}
	for left := n; left > 0; left -= int64(len(buf)) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := file.Write(buf[:min(left, int64(len(buf)))]); err != nil {
			return err
		}
	}
	return file.Sync()
}

// Revert implements fault.Executor: remove the assignment's file, if it is there.
func (d *Disk) Revert(_ context.Context, f fault.Fault) error {
	p, ok := f.Params.(catalogue.StressDisk)
	if !ok {
		return fmt.Errorf("stress.disk: params of type %T", f.Params)
	}
	name := filepath.Join(p.Path, FillName(f.AssignmentID))
	if err := os.Remove(name); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("stress.disk: %w", err)
	}
	d.log.Info("disk stress stopped", "assignment_id", f.AssignmentID, "file", name)
	return nil
}
