package fault

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// maxPID is the largest process id Linux hands out (PID_MAX_LIMIT on 64-bit).
const maxPID = 1 << 22

// Signals maps the signal names process.kill accepts (without "SIG") to their Linux
// numbers. The stop family is left out on purpose: a process stopped by process.kill
// would never be resumed; process.stop does that with a guaranteed SIGCONT.
var Signals = map[string]int{
	"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8,
	"KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
	"CONT": 18, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28,
	"IO": 29, "PWR": 30, "SYS": 31,
}

// ParseSignal reads a signal name ("KILL", "SIGKILL", "kill") or its Linux number.
func ParseSignal(s string) (name string, num int, err error) {
	up := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "SIG")
	if n, ok := Signals[up]; ok {
		return up, n, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		for name, m := range Signals {
			if m == n {
				return name, n, nil
			}
		}
	}
	switch up {
	case "STOP", "TSTP", "TTIN", "TTOU", "19", "20", "21", "22":
		return "", 0, fmt.Errorf("%q stops the process and nothing would resume it; use process.stop, which resumes it on revert", s)
	}
	return "", 0, fmt.Errorf("%q is not a signal (e.g. KILL, TERM, HUP, USR1 or a number)", s)
}

// processSelection are the params that pick processes, shared by process.kill and
// process.stop. Selectors combine: a process must match every one given.
var processSelection = []Param{
	{Name: "name", Type: TypeString,
		Help: "process name: /proc/PID/comm or the base name of argv[0], e.g. checkout-api"},
	{Name: "cmdline", Type: TypeString, Check: checkRegexp,
		Help: "RE2 regular expression matched against the command line (arguments joined by spaces)"},
	{Name: "pid", Type: TypeInt, Min: 1, Max: maxPID,
		Help: "process id"},
	{Name: "pidfile", Type: TypeString, Check: checkAbsPath,
		Help: "absolute path of a file holding the process id"},
	{Name: "count", Type: TypeString, Default: "all", Check: checkCount,
		Help: `how many matching processes to pick at random, or "all"`},
}

func checkRegexp(v string) error {
	if _, err := regexp.Compile(v); err != nil {
		return fmt.Errorf("%q is not a regular expression: %v", v, err)
	}
	return nil
}

func checkAbsPath(v string) error {
	if !filepath.IsAbs(v) {
		return fmt.Errorf("%q is not an absolute path", v)
	}
	return nil
}

func checkCount(v string) error {
	if v == "all" {
		return nil
	}
	if n, err := strconv.Atoi(v); err != nil || n < 1 {
		return fmt.Errorf(`%q is neither a positive count nor "all"`, v)
	}
	return nil
}

// checkSelection needs at least one selector and refuses what is always protected, so a
// spec aimed at PID 1 is rejected when it is submitted.
func checkSelection(params map[string]string) error {
	if params["name"] == "" && params["cmdline"] == "" && params["pid"] == "" && params["pidfile"] == "" {
		return errors.New("empty selector: give at least one of params.name, params.cmdline, params.pid, params.pidfile")
	}
	if params["pid"] == "1" {
		return errors.New("params.pid: pid 1 (init) is always protected")
	}
	return nil
}

// ProcessCount returns params' count: 0 for "all".
func ProcessCount(params map[string]string) int {
	n, _ := strconv.Atoi(value(params, "process.kill", "count"))
	return n
}

func init() {
	killParams := append([]Param{
		{Name: "signal", Type: TypeString, Default: "KILL", Check: func(v string) error { _, _, err := ParseSignal(v); return err },
			Help: "signal to send: a name (KILL, TERM, HUP...) or a number; not STOP (use process.stop)"},
	}, processSelection...)
	register(
		Kind{
			Name:    "process.kill",
			Summary: "send a signal to the selected processes, once",
			Params:  killParams,
			Instant: true,
			Check:   checkSelection,
		},
		Kind{
			Name:    "process.stop",
			Summary: "freeze the selected processes with SIGSTOP; SIGCONT on revert",
			Params:  processSelection,
			Check:   checkSelection,
		},
	)
}
