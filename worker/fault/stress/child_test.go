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
	// The deadlines are read when each case starts: D is replaced by one 300 ms away,
	// M by one a minute away.
	for _, tc := range []struct {
		name, orders, stdin string
		err                 string
		max                 time.Duration
	}{
		{"bad orders", "disk 1 2 3", "go\n", "want cpu CORES", time.Second},
		{"memory held to the deadline", "memory 1048576 D", "go\n", "", 2 * time.Second},
		{"no cores", "cpu 0 1000 M", "go\n", "orders", time.Second},
		{"never told to go", "cpu 1 1000 M", "", "", time.Second},
		// Told to go, then the worker's end of the pipe closes: it stops at once.
		{"worker gone", "cpu 1 1000000 M", "go\n", "", 2 * time.Second},
		{"deadline", "cpu 1 1000000 D", "go\n", "", 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in io.Reader = strings.NewReader(tc.stdin)
			if strings.Contains(tc.name, "deadline") {
				// The worker's end stays open: only the deadline ends it.
				pr, pw := io.Pipe()
				defer pw.Close()
				go func() { _, _ = pw.Write([]byte(tc.stdin)) }()
				in = pr
			}
			start := time.Now()
			orders := strings.NewReplacer("D", fmt.Sprint(start.Add(300*time.Millisecond).UnixNano()),
				"M", fmt.Sprint(start.Add(time.Minute).UnixNano())).Replace(tc.orders)
			var out strings.Builder
			err := runChild(orders, in, &out)
			if err == nil && tc.stdin != "" && out.String() != "ready\n" {
				t.Errorf("the burner said %q, want ready", out.String())
			}
			if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("got %v, want an error with %q", err, tc.err)
			}
			if d := time.Since(start); d > tc.max || (strings.Contains(tc.name, "deadline") && d < 250*time.Millisecond) {
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
