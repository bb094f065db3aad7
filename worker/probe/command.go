package probe

import (
	"bytes"
	"context"
	"io"
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// waitDelay bounds how long a command's output is waited for once it has exited or been
// killed: a background child that keeps stdout open must not hold the probe.
const waitDelay = 200 * time.Millisecond

// commandCheck runs the program once, without a shell, its stdin empty, its stderr
// discarded and the last maxOutput bytes of its stdout kept (and, for a json_path, the
// first maxOutput bytes: a JSON document is read from its start). It succeeds when the
// program exits 0 and the json_path, if any, holds on a stdout that fit. On timeout the
// program's whole process group is killed (on Unix).
type commandCheck struct {
	sp spec
}

func (c *commandCheck) check(ctx context.Context) (bool, float64) {
	cmd := exec.CommandContext(ctx, c.sp.path, c.sp.argv[1:]...)
	cmd.Args[0] = c.sp.argv[0]
	cmd.Env = c.sp.env
	out := &tail{max: maxOutput}
	cmd.Stdout = out
	var doc *head
	if c.sp.jsonPath != nil {
		doc = &head{max: maxOutput}
		cmd.Stdout = io.MultiWriter(out, doc)
	}
	cmd.WaitDelay = waitDelay
	ownGroup(cmd)
	_ = cmd.Run() // the outcome is read from the process state
	code := -1
	if cmd.ProcessState != nil && ctx.Err() == nil {
		code = cmd.ProcessState.ExitCode() // -1 when a signal ended it
	}
	ok := code == 0
	if ok && doc != nil {
		ok = !doc.cut && c.sp.jsonPath.holds(doc.buf)
	}
	switch c.sp.measure {
	case MeasureExitCode:
		return ok, float64(code)
	case MeasureNumber:
		if !ok {
			return false, 0
		}
		n, found := lastNumber(out.bytes(), out.cut)
		if !found {
			return false, 0
		}
		return true, n
	}
	return ok, 0
}

func (c *commandCheck) close() {}

// tail is an io.Writer that keeps the last max bytes written to it.
type tail struct {
	max int
	buf []byte
	cut bool // bytes before buf were dropped
}

func (t *tail) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= t.max {
		t.cut = t.cut || len(t.buf) > 0 || len(p) > t.max
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		return n, nil
	}
	if over := len(t.buf) + len(p) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.cut = true
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

func (t *tail) bytes() []byte { return t.buf }

// head is an io.Writer that keeps the first max bytes written to it.
type head struct {
	max int
	buf []byte
	cut bool // bytes after buf were dropped
}

func (h *head) Write(p []byte) (int, error) {
	n := len(p)
	if room := h.max - len(h.buf); len(p) > room {
		h.cut = true
		p = p[:room]
	}
	h.buf = append(h.buf, p...)
	return n, nil
}

var number = regexp.MustCompile(`[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?`)

// lastNumber finds the last decimal number in out: "(integer) 42" gives 42,
// "p99=0.37s" gives 0.37. A sign counts only when it does not follow a letter, digit or
// dot, so "2024-01-02" ends in 2, not -2. When cut says out lost its beginning, a number
// at its very start may be the tail of a longer one and is not trusted.
func lastNumber(out []byte, cut bool) (float64, bool) {
	all := number.FindAllIndex(out, -1)
	if len(all) == 0 {
		return 0, false
	}
	start, end := all[len(all)-1][0], all[len(all)-1][1]
	if start == 0 && cut {
		return 0, false
	}
	if c := out[start]; (c == '-' || c == '+') && start > 0 && isWordByte(out[start-1]) {
		start++
	}
	v, err := strconv.ParseFloat(string(bytes.TrimPrefix(out[start:end], []byte("+"))), 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

func isWordByte(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_'
}
