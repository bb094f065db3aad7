//go:build linux

package stress

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
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
	// Fake cgroup filesystems: v1 with cpu and cpuacct mounted together (and linked
	// apart, as systemd does), memory on its own; and v2's one tree.
	root := t.TempDir()
	mk := func(dirs ...string) {
		for _, d := range dirs {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, d, "cgroup.procs"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("v1/cpu,cpuacct/docker/abc", "v1/memory/docker/abc", "v1/pids/docker/abc", "v2/system.slice/docker-abc.scope")
	if err := os.Symlink("cpu,cpuacct", filepath.Join(root, "v1/cpu")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, file, root string
		want             []string
	}{
		{"v1", "12:pids:/docker/abc\n4:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n1:name=systemd:/docker/abc\n", "v1",
			[]string{"v1/pids/docker/abc", "v1/cpu,cpuacct/docker/abc", "v1/memory/docker/abc"}},
		{"v2", "0::/system.slice/docker-abc.scope\n", "v2", []string{"v2/system.slice/docker-abc.scope"}},
		// A container's own view: its paths do not exist under the filesystems it sees.
		{"not visible", "4:cpu,cpuacct:/docker/other\n", "v1", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for _, w := range tc.want {
				want = append(want, filepath.Join(root, w))
			}
			if got := cgroupDirsIn([]byte(tc.file), filepath.Join(root, tc.root)); !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
	if _, err := cgroupDirs(1 << 30); err == nil {
		t.Error("a process that does not exist has cgroups")
	}
}
