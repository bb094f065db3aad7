package spec

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalid matches every *Error with errors.Is, so callers (the gRPC
// status mapping, the CLI exit code) can tell a bad spec from other
// failures without a type assertion.
var ErrInvalid = errors.New("spec: invalid experiment spec")

// Problem is one thing wrong with a spec. Line and Column are 1-based; zero
// when the problem concerns the file as a whole (empty file, too large).
type Problem struct {
	Line, Column int
	// Field is the dotted path of the offending field as the user wrote
	// it, list items by 0-based index: "steps[1].duration". Empty when the
	// document as a whole is at fault.
	Field   string
	Message string
}

// String renders the problem without a file name: "line 12: field: message".
func (p Problem) String() string {
	return p.render("")
}

func (p Problem) render(file string) string {
	var b strings.Builder
	switch {
	case file != "" && p.Line > 0:
		b.WriteString(file + ":" + strconv.Itoa(p.Line) + ": ")
	case file != "":
		b.WriteString(file + ": ")
	case p.Line > 0:
		b.WriteString("line " + strconv.Itoa(p.Line) + ": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Error is every problem found in one spec, in file order.
type Error struct {
	File     string
	Problems []Problem
}

// Error renders a summary line, fit for a one-line CLI error, followed by
// one line per problem in the compiler style editors can jump to:
//
//	exp.yaml: experiment spec has 2 problems
//	exp.yaml:12: targets.experiment.count: must be at least 1
//	exp.yaml:20: steps: at least one step is required
//
// With a single problem the summary is that problem, and there is nothing
// after it.
func (e *Error) Error() string {
	if len(e.Problems) <= 1 {
		return e.Summary()
	}
	return e.Summary() + "\n" + strings.Join(e.Lines(), "\n")
}

// Summary is the first line of Error.
func (e *Error) Summary() string {
	switch len(e.Problems) {
	case 0:
		return e.prefix() + "invalid experiment spec"
	case 1:
		return e.Problems[0].render(e.File)
	default:
		return fmt.Sprintf("%sexperiment spec has %d problems", e.prefix(), len(e.Problems))
	}
}

// Lines renders each problem with the file name.
func (e *Error) Lines() []string {
	out := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		out[i] = p.render(e.File)
	}
	return out
}

// Is reports whether target is ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

func (e *Error) prefix() string {
	if e.File == "" {
		return ""
	}
	return e.File + ": "
}
