// Package testenv lets a test that needs something outside Go (a Prometheus or Chromium
// binary, root for network namespaces) skip without it, and say so where `make test`
// can collect it: each skip appends a line to the file named by $MURPHY_SKIPPED, and the
// Makefile prints those lines, with the command that enables each, after the tests.
//
// CI sets a need's MURPHY_REQUIRE_* variable, which turns its skip into a failure, so a
// test that must run there cannot skip quietly.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Need is something outside Go that some tests require.
type Need struct {
	// Name is how the summary names it: "prometheus", "chromium", "root".
	Name string
	// Require names the variable that makes the need's absence a failure, if any.
	Require string
	// Enable is the one command that provides it.
	Enable string
}

// The needs of Murphy's tests. `make deps` installs the system packages.
var (
	Prometheus = Need{Name: "prometheus", Require: "MURPHY_REQUIRE_PROMETHEUS", Enable: "make deps"}
	Chromium   = Need{Name: "chromium", Require: "MURPHY_REQUIRE_CHROMIUM", Enable: "make deps"}
	Root       = Need{Name: "root", Require: "MURPHY_REQUIRE_ROOT", Enable: "sudo make test (network namespaces, nftables and qdiscs need CAP_SYS_ADMIN and CAP_NET_ADMIN)"}
	Docker     = Need{Name: "docker", Require: "MURPHY_REQUIRE_DOCKER", Enable: "a Docker engine at /var/run/docker.sock (apt-get install docker.io), or MURPHY_DOCKER_HOST"}
	Containerd = Need{Name: "containerd", Require: "MURPHY_REQUIRE_CONTAINERD", Enable: "make deps (containerd, runc and the CNI plugins), as root"}
	// Kernel features cannot be installed by a command; the summary still names them.
	Kernel = Need{Name: "kernel", Enable: "a kernel with the feature (modules nfnetlink_queue, sch_netem)"}
)

// SkipFile names the file a skip is recorded in; the Makefile sets it.
const SkipFile = "MURPHY_SKIPPED"

// Skip skips t because n is missing (why says what exactly), or fails it when n's
// Require variable is set.
func Skip(t testing.TB, n Need, why string) {
	t.Helper()
	if n.Require != "" && os.Getenv(n.Require) != "" {
		t.Fatalf("%s (%s is set, so this test may not skip; enable with: %s)", why, n.Require, n.Enable)
	}
	record(t, n, why)
	t.Skipf("SKIPPED: %s; enable with: %s", why, n.Enable)
}

// LookPath returns the first of names found on $PATH, or skips t as missing n.
func LookPath(t testing.TB, n Need, names ...string) string {
	t.Helper()
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	Skip(t, n, strings.Join(names, " or ")+" is not installed")
	return ""
}

// RequireRoot skips t unless it runs as root with the capabilities root usually has: a
// container's root without CAP_SYS_ADMIN cannot make the network namespace these tests
// work in, and must skip, not fail.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, Root, why)
	}
	if err := netnsAllowed(); err != nil {
		Skip(t, Root, fmt.Sprintf("%s; running as root, but a network namespace cannot be made here (%v: a container without CAP_SYS_ADMIN?)", why, err))
	}
}

// record appends "need<TAB>enable<TAB>package<TAB>test<TAB>why" to $MURPHY_SKIPPED. One
// short write with O_APPEND, so the test binaries `go test` runs in parallel do not
// interleave their lines.
func record(t testing.TB, n Need, why string) {
	path := os.Getenv(SkipFile)
	if path == "" {
		return
	}
	line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\n", n.Name, n.Enable, pkgDir(), t.Name(), strings.ReplaceAll(why, "\n", " "))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Logf("record the skip in %s: %v", path, err)
		return
	}
	defer f.Close()
	if _, err := f.WriteString(line); err != nil {
		t.Logf("record the skip in %s: %v", path, err)
	}
}

// pkgDir is the test's package directory relative to the module root (go test runs each
// test binary in its package's directory).
func pkgDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return "?"
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if rel, err := filepath.Rel(dir, wd); err == nil {
				return "./" + filepath.ToSlash(rel)
			}
			return wd
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return wd
		}
		dir = parent
	}
}
