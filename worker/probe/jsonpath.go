package probe

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/theory/jsonpath"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// jsonCheck is a compiled murphyv1.JSONPathCheck.
type jsonCheck struct {
	path *jsonpath.Path
	// expect is nil when the selected values are not compared.
	expect []any
	// count is -1 when the number of selected values is not compared.
	count int
}

// compileJSONPath returns nil for a nil check.
func compileJSONPath(c *murphyv1.JSONPathCheck) (*jsonCheck, error) {
	if c == nil {
		return nil, nil
	}
	p, err := jsonpath.Parse(c.GetPath())
	if err != nil {
		return nil, fmt.Errorf("json_path %q: %w", c.GetPath(), err)
	}
	j := &jsonCheck{path: p, count: -1}
	if c.Count != nil {
		if c.GetCount() < 0 {
			return nil, fmt.Errorf("json_path count %d is negative", c.GetCount())
		}
		j.count = int(c.GetCount())
	}
	for _, v := range c.GetExpect() {
		// AsInterface gives the shapes encoding/json decodes into (float64, string,
		// bool, nil, []any, map[string]any), so DeepEqual compares like with like.
		j.expect = append(j.expect, v.AsInterface())
	}
	return j, nil
}

// holds reports whether doc is one JSON value on which the check holds. A document that
// is not JSON fails the check: there is nothing to select from.
func (j *jsonCheck) holds(doc []byte) bool {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return false
	}
	got := j.path.Select(v)
	if j.count < 0 && j.expect == nil {
		return len(got) > 0
	}
	if j.count >= 0 && len(got) != j.count {
		return false
	}
	return j.expect == nil || reflect.DeepEqual([]any(got), j.expect)
}
