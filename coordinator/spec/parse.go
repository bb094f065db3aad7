package spec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// MaxSize is the largest spec Parse accepts. Specs travel through the Raft
// log, whose entries should stay well under 512 KiB; a real spec is a few
// KiB.
const MaxSize = 256 << 10

// Options carries what the spec package cannot know by itself.
type Options struct {
	// ValidateFault checks a step's fault kind and parameters against the
	// fault catalogue. Its error message is shown to the user as is; return
	// a *ParamError to point at one parameter's line. Nil accepts any kind,
	// which is right only for tools that do not run experiments.
	ValidateFault func(kind string, params map[string]string) error
	// FaultIsInstant reports fault kinds that act once and need no revert
	// (process.kill). Every other step must have a duration, so the worker
	// can enforce a local deadline. Nil means no kind is instantaneous.
	FaultIsInstant func(kind string) bool
	// MaxFaultDuration refuses a step that lasts longer. Zero means no limit. Workers cut
	// a fault at their own maxDuration anyway; refusing the spec says so before the run,
	// instead of a shorter fault window than the one the spec promised.
	MaxFaultDuration time.Duration
}

// ParamError is an error ValidateFault may return to blame one parameter.
type ParamError struct {
	Param string
	Err   error
}

func (e *ParamError) Error() string { return e.Err.Error() }
func (e *ParamError) Unwrap() error { return e.Err }

var (
	yamlLine      = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	unknownAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

// Parse reads, validates and completes one experiment spec. data is YAML or
// JSON (told apart by content, not by file name: a document that starts
// with '{' or '[' is JSON); filename is used only in
// messages. On failure the error is an *Error listing every problem found.
func Parse(data []byte, filename string, opts Options) (*Experiment, error) {
	sum := sha256.Sum256(data)
	origin := &Origin{File: filename, Format: FormatYAML, Digest: hex.EncodeToString(sum[:])}
	fail := func(p ...Problem) error {
		sort.SliceStable(p, func(i, j int) bool {
			if p[i].Line != p[j].Line {
				return p[i].Line < p[j].Line
			}
			return p[i].Column < p[j].Column
		})
		return &Error{File: filename, Problems: p}
	}

	if len(data) > MaxSize {
		return nil, fail(Problem{Message: fmt.Sprintf("file is %d bytes; the limit is %d", len(data), MaxSize)})
	}
	root, format, problem := document(data)
	origin.Format = format
	if problem != nil {
		return nil, fail(*problem)
	}

	w := &walker{budget: nodeBudget}
	e := w.experiment(root, opts)
	if len(w.problems) > 0 {
		return nil, fail(w.problems...)
	}
	applyDefaults(e)
	e.Origin = origin
	return e, nil
}

// document returns the single root node of data, or the one problem that
// prevents reading any field at all.
func document(data []byte) (*yaml.Node, Format, *Problem) {
	body := bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, FormatYAML, &Problem{Message: `file is empty; a spec starts with "apiVersion: ` + APIVersion + `"`}
	}
	// A document that opens with a brace or bracket is read as JSON, strictly:
	// YAML would accept a broken JSON file as flow YAML and then complain
	// about fields instead of the missing comma.
	if trimmed[0] == '{' || trimmed[0] == '[' {
		n, p := JSONNode(body)
		if p != nil {
			return nil, FormatJSON, p
		}
		return n, FormatJSON, nil
	}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	if errors.Is(err, io.EOF) {
		return nil, FormatYAML, &Problem{Message: `file is empty; a spec starts with "apiVersion: ` + APIVersion + `"`}
	}
	if err == nil {
		var next yaml.Node
		switch err2 := dec.Decode(&next); {
		case err2 == nil:
			line := next.Line
			if len(next.Content) > 0 {
				line = next.Content[0].Line
			}
			return nil, FormatYAML, &Problem{Line: line, Message: "file holds more than one YAML document; put one experiment per file"}
		case !errors.Is(err2, io.EOF):
			err = err2
		}
	}
	if err != nil {
		return nil, FormatYAML, yamlProblem(data, err)
	}
	if len(doc.Content) == 0 || (doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].ShortTag() == "!!null") {
		return nil, FormatYAML, &Problem{Line: doc.Line, Message: `document is empty; a spec starts with "apiVersion: ` + APIVersion + `"`}
	}
	return doc.Content[0], FormatYAML, nil
}

// parserProblems are the messages of yaml.v3's parser (as opposed to its
// scanner). For these the library reports a 0-based line, and omits the line
// entirely when it is the first; scanner lines are already 1-based.
var parserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"found undefined tag handle",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
}

func yamlProblem(data []byte, err error) *Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		if slices.Contains(parserProblems, msg) {
			line++
		}
	} else if m := unknownAnchor.FindStringSubmatch(msg); m != nil {
		// The library does not say where; the first use is a fair guess.
		if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
			line, _ = position(data, i)
		}
	} else {
		line = 1
	}
	if line > 0 {
		lines := bytes.Split(data, []byte("\n"))
		if line <= len(lines) {
			l := lines[line-1]
			indent := l[:len(l)-len(bytes.TrimLeft(l, " \t"))]
			if bytes.IndexByte(indent, '\t') >= 0 {
				msg += " (indent with spaces; YAML does not allow tabs)"
			}
		}
	}
	return &Problem{Line: line, Message: "not valid YAML: " + msg}
}

// JSONNode reads strict JSON into a yaml.Node tree with lines and columns, so JSON goes
// through the same walkers as YAML (the spec's, and the Chaos Toolkit importer's). A
// syntax error comes back as a Problem on its line.
func JSONNode(data []byte) (*yaml.Node, *Problem) {
	if !json.Valid(data) {
		return nil, jsonProblem(data)
	}
	n, err := jsonNode(data)
	if err != nil {
		return nil, &Problem{Message: "not valid JSON: " + err.Error()}
	}
	return n, nil
}

func jsonProblem(data []byte) *Problem {
	var v any
	err := json.Unmarshal(data, &v)
	if err == nil {
		return &Problem{Message: "not valid JSON"}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, _ := position(data, int(se.Offset))
		return &Problem{Line: line, Message: "not valid JSON: " + se.Error()}
	}
	return &Problem{Message: "not valid JSON: " + err.Error()}
}

// position converts a byte offset into a 1-based line and column.
func position(data []byte, off int) (line, col int) {
	off = min(max(off, 0), len(data))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = off - bytes.LastIndexByte(before, '\n')
	return line, col
}

// maxJSONDepth bounds recursion on hostile input; a spec nests about eight
// levels.
const maxJSONDepth = 64

// jsonNode builds a yaml.Node tree from valid JSON, with positions, so JSON
// specs go through the same walker as YAML ones. yaml.v3 cannot be trusted
// with JSON itself: it rejects valid escapes such as "\/".
func jsonNode(data []byte) (*yaml.Node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var value func(depth int) (*yaml.Node, error)
	value = func(depth int) (*yaml.Node, error) {
		if depth > maxJSONDepth {
			return nil, errors.New("nested too deeply")
		}
		// InputOffset is the end of the previous token; the next one starts
		// after any blanks and separators.
		start := int(dec.InputOffset())
		for start < len(data) && strings.IndexByte(" \t\r\n:,", data[start]) >= 0 {
			start++
		}
		line, col := position(data, start)
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		n := &yaml.Node{Line: line, Column: col}
		switch t := tok.(type) {
		case json.Delim:
			n.Kind, n.Tag = yaml.SequenceNode, "!!seq"
			if t == '{' {
				n.Kind, n.Tag = yaml.MappingNode, "!!map"
			}
			for dec.More() {
				child, err := value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, child)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
		case string:
			n.Kind, n.Tag, n.Value, n.Style = yaml.ScalarNode, "!!str", t, yaml.DoubleQuotedStyle
		case json.Number:
			n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!int", t.String()
			if strings.ContainsAny(n.Value, ".eE") {
				n.Tag = "!!float"
			}
		case bool:
			n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!bool", strconv.FormatBool(t)
		case nil:
			n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!null", "null"
		}
		return n, nil
	}
	return value(0)
}
