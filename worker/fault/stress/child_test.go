//go:build linux

package stress

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRunChild(t *testing.T) {
	deadline := func(d time.Duration) int64 { return time.Now().Add(d).UnixNano() }
	for _, tc := range []struct {
		name, orders, stdin string
		err                 string
		max                 time.Duration
	}{
		{"bad orders", "memory 1 2 3", "go\n", "want cpu CORES", time.Second},
		{"no cores", fmt.Sprintf("cpu 0 1000 %d", deadline(time.Minute)), "go\n", "orders", time.Second},
		{"never told to go", fmt.Sprintf("cpu 1 1000 %d", deadline(time.Minute)), "", "", time.Second},
		// Told to go, then the worker's end of the pipe closes: it stops at once.
		{"worker gone", fmt.Sprintf("cpu 1 1000000 %d", deadline(time.Minute)), "go\n", "", 2 * time.Second},
		{"deadline", fmt.Sprintf("cpu 1 1000000 %d", deadline(300*time.Millisecond)), "go\n", "", 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in io.Reader = strings.NewReader(tc.stdin)
			if tc.name == "deadline" {
				// The worker's end stays open: only the deadline ends it.
				pr, pw := io.Pipe()
				defer pw.Close()
				go func() { _, _ = pw.Write([]byte(tc.stdin)) }()
				in = pr
			}
			start := time.Now()
			err := runChild(tc.orders, in)
			if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("got %v, want an error with %q", err, tc.err)
			}
			if d := time.Since(start); d > tc.max || (tc.name == "deadline" && d < 250*time.Millisecond) {
				t.Errorf("ran %v, want at most %v (and to the deadline when that is what ends it)", d, tc.max)
			}
		})
	}
}

func TestCgroupDirs(t *testing.T) {
	dirs, err := cgroupDirs(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "cgroup.procs")); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
	if _, err := cgroupDirs(1 << 30); err == nil {
		t.Error("a process that does not exist has cgroups")
	}
}
