package catalogue

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxExecTimeout bounds one command of the exec kind; the worker's own bound on an
// executor call is a little longer, so a timeout always ends in a clean kill.
const maxExecTimeout = 9 * time.Second

// ParseArgv reads a command for the exec kind: a JSON array of strings
// (["tc","qdisc","add",...]) or words separated by white space. Quotes are refused in the
// second form, since no shell is there to honour them.
func ParseArgv(s string) ([]string, error) {
	t := strings.TrimSpace(s)
	var argv []string
	if strings.HasPrefix(t, "[") {
		if err := json.Unmarshal([]byte(t), &argv); err != nil {
			return nil, fmt.Errorf("%q is not a JSON array of strings: %v", s, err)
		}
	} else {
		if strings.ContainsAny(t, `'"\`) {
			return nil, fmt.Errorf("%q has quotes, but no shell reads it: write a JSON array of arguments, or set shell: true", s)
		}
		argv = strings.Fields(t)
	}
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("empty command")
	}
	return argv, nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ParseEnv reads the exec kind's environment: "KEY=value,KEY2=value2" or a JSON object.
// The result is sorted by name.
func ParseEnv(s string) ([]string, error) {
	t := strings.TrimSpace(s)
	kv := map[string]string{}
	if strings.HasPrefix(t, "{") {
		if err := json.Unmarshal([]byte(t), &kv); err != nil {
			return nil, fmt.Errorf("%q is not a JSON object of strings: %v", s, err)
		}
	} else if t != "" {
		for part := range strings.SplitSeq(t, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok {
				return nil, fmt.Errorf("%q is not KEY=value", part)
			}
			kv[k] = v
		}
	}
	var env []string
	for k, v := range kv {
		if !envName.MatchString(k) {
			return nil, fmt.Errorf("%q is not an environment variable name", k)
		}
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	return env, nil
}

// Exec is the exec kind's parameters.
type Exec struct {
	Inject, Revert Command
	// Env holds KEY=value pairs sorted by name; the worker adds the system PATH before them.
	Env []string
	// Dir is the working directory; "" for /.
	Dir                    string
	Timeout, RevertTimeout time.Duration
}

// Command is one of exec's commands.
type Command struct {
	// Text is the command as written, for messages.
	Text string
	// Argv is what runs: the parsed words, or /bin/sh -c Text with shell: true.
	Argv []string
}

func (p Exec) String() string {
	return fmt.Sprintf("exec: inject %q, revert %q", p.Inject.Text, p.Revert.Text)
}

func init() {
	timeout := func(name, what string) Param {
		return Param{Name: name, Type: TypeDuration, Default: "5s", Min: int64(time.Millisecond), Max: int64(maxExecTimeout),
			Help: what + " is killed (with its process group) after this long, at most 9s"}
	}
	register(Kind{
		Name:    "exec",
		Summary: "run a command to inject and another to revert (the escape hatch); only where the worker's policy allows it",
		Needs:   "nothing beyond a shell's programs",
		Consent: true,
		Reverts: "the revert command, run by the worker, at its start-up after a crash, or by the guardian",
		Params: []Param{
			{Name: "inject", Type: TypeString, Required: true,
				Help: `command run at inject: a JSON array ["tc","qdisc",...], words separated by spaces, or a script with shell: true`},
			{Name: "revert", Type: TypeString, Required: true,
				Help: "command run at revert, also after a worker crash; it must be safe to run twice"},
			{Name: "shell", Type: TypeString, Default: "false", Parse: func(v string) (any, error) {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return nil, fmt.Errorf("%q is not true or false", v)
				}
				return b, nil
			}, Help: "run inject and revert with /bin/sh -c"},
			{Name: "env", Type: TypeString, Parse: func(v string) (any, error) { return ParseEnv(v) },
				Help: "environment: KEY=value,KEY2=value2 or a JSON object; PATH defaults to the system path, nothing else is inherited"},
			{Name: "dir", Type: TypeString, Parse: check(checkAbsPath),
				Help: "working directory; default /"},
			timeout("timeout", "the inject command"),
			timeout("revertTimeout", "the revert command"),
		},
		decode: func(v values) (Params, error) {
			p := Exec{Env: value[[]string](v, "env"), Dir: v.str("dir"), Timeout: v.dur("timeout"), RevertTimeout: v.dur("revertTimeout")}
			shell := value[bool](v, "shell")
			for _, c := range []struct {
				name string
				cmd  *Command
			}{{"inject", &p.Inject}, {"revert", &p.Revert}} {
				c.cmd.Text = v.str(c.name)
				if shell {
					c.cmd.Argv = []string{"/bin/sh", "-c", c.cmd.Text}
					continue
				}
				argv, err := ParseArgv(c.cmd.Text)
				if err != nil {
					return nil, fmt.Errorf("params.%s: %w", c.name, err)
				}
				c.cmd.Argv = argv
			}
			return p, nil
		},
	})
}
