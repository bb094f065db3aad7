package catalogue

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

// ProcessSelector picks processes; every field set must match.
type ProcessSelector struct {
	// Name is /proc/PID/comm or the base name of argv[0].
	Name    string
	Cmdline *regexp.Regexp
	PID     int
	PIDFile string
	// Place restricts the match to the processes of one running container (its PID
	// namespace), found at inject on the worker's Docker engine or, in a pod, through the
	// CRI runtime.
	Place
	// Count is how many matching processes to pick at random; 0 for all.
	Count int
}

// ProcessKill is process.kill's parameters.
type ProcessKill struct {
	// Signal is the signal's name without "SIG"; SignalNum its Linux number.
	Signal    string
	SignalNum int
	ProcessSelector
}

// ProcessStop is process.stop's parameters.
type ProcessStop struct {
	ProcessSelector
}

func (p ProcessKill) String() string {
	return fmt.Sprintf("process.kill: SIG%s to %s", p.Signal, p.ProcessSelector)
}

func (p ProcessStop) String() string {
	return "process.stop: SIGSTOP, then SIGCONT on revert, to " + p.ProcessSelector.String()
}

func (s ProcessSelector) String() string {
	n := "all processes "
	if s.Count > 0 {
		n = fmt.Sprintf("%d random process(es) ", s.Count)
	}
	return n + s.Filters()
}

// Filters says what a matching process looks like.
func (s ProcessSelector) Filters() string {
	var parts []string
	if s.Name != "" {
		parts = append(parts, fmt.Sprintf("named %q", s.Name))
	}
	if s.Cmdline != nil {
		parts = append(parts, fmt.Sprintf("with a command line matching /%s/", s.Cmdline))
	}
	if s.PID != 0 {
		parts = append(parts, fmt.Sprintf("with pid %d", s.PID))
	}
	if s.PIDFile != "" {
		parts = append(parts, "with the pid in "+s.PIDFile)
	}
	if s.Place.Set() {
		parts = append(parts, strings.TrimSpace(s.Place.String()))
	}
	return strings.Join(parts, " and ")
}

// processSelection are the params that pick processes, shared by process.kill and
// process.stop. Selectors combine: a process must match every one given.
var processSelection = append([]Param{
	{Name: "name", Type: TypeString,
		Help: "process name: /proc/PID/comm or the base name of argv[0], e.g. checkout-api"},
	{Name: "cmdline", Type: TypeString, Parse: parseRegexp,
		Help: "RE2 regular expression matched against the command line (arguments joined by spaces)"},
	{Name: "pid", Type: TypeInt, Min: 1, Max: maxPID,
		Help: "process id"},
	{Name: "pidfile", Type: TypeString, Parse: check(checkAbsPath),
		Help: "absolute path of a file holding the process id"},
	{Name: "count", Type: TypeString, Default: "all", Parse: parseCount("count"),
		Help: `how many matching processes to pick at random, or "all"`},
}, placeParams("only processes of", "; pids and start times are recorded, never the container's ID")...)

func parseRegexp(v string) (any, error) {
	re, err := regexp.Compile(v)
	if err != nil {
		return nil, fmt.Errorf("%q is not a regular expression: %v", v, err)
	}
	return re, nil
}

func checkAbsPath(v string) error {
	if !filepath.IsAbs(v) {
		return fmt.Errorf("%q is not an absolute path", v)
	}
	return nil
}

// parseCount reads a selection's count: "all" (0) or a positive integer. noun names the
// latter in the error, as each family has always said it.
func parseCount(noun string) func(string) (any, error) {
	return func(v string) (any, error) {
		if v == "all" {
			return 0, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf(`%q is neither a positive %s nor "all"`, v, noun)
		}
		return n, nil
	}
}

// decodeSelection needs at least one selector and refuses what is always protected, so a
// spec aimed at PID 1 is rejected when it is submitted.
func decodeSelection(v values) (ProcessSelector, error) {
	s := ProcessSelector{Name: v.str("name"), Cmdline: value[*regexp.Regexp](v, "cmdline"), PID: int(v.int("pid")),
		PIDFile: v.str("pidfile"), Count: value[int](v, "count")}
	place, err := decodePlace(v)
	if err != nil {
		return s, err
	}
	s.Place = place
	if s.Name == "" && s.Cmdline == nil && s.PID == 0 && s.PIDFile == "" && !s.Place.Set() {
		return s, errors.New("empty selector: give at least one of params.name, params.cmdline, params.pid, params.pidfile, params.container, params.containerLabels, params.pod")
	}
	if s.PID == 1 {
		return s, errors.New("params.pid: pid 1 (init) is always protected")
	}
	return s, nil
}

const processNeeds = "Linux /proc and permission to signal the selected processes"

func init() {
	killParams := append([]Param{
		{Name: "signal", Type: TypeString, Default: "KILL", Parse: check(func(v string) error { _, _, err := ParseSignal(v); return err }),
			Help: "signal to send: a name (KILL, TERM, HUP...) or a number; not STOP (use process.stop)"},
	}, processSelection...)
	register(
		Kind{
			Name:    "process.kill",
			Summary: "send a signal to the selected processes, once",
			Params:  killParams,
			Instant: true,
			Needs:   processNeeds,
			Reverts: "nothing: a signal cannot be taken back",
			decode: func(v values) (Params, error) {
				sel, err := decodeSelection(v)
				if err != nil {
					return nil, err
				}
				name, num, _ := ParseSignal(v.str("signal"))
				return ProcessKill{Signal: name, SignalNum: num, ProcessSelector: sel}, nil
			},
		},
		Kind{
			Name:    "process.stop",
			Summary: "freeze the selected processes with SIGSTOP; SIGCONT on revert",
			Params:  processSelection,
			Needs:   processNeeds,
			Reverts: "SIGCONT to the processes it recorded, by the worker, at its start-up after a crash, or by the guardian",
			decode: func(v values) (Params, error) {
				sel, err := decodeSelection(v)
				if err != nil {
					return nil, err
				}
				return ProcessStop{ProcessSelector: sel}, nil
			},
		},
	)
}
