package fault

import (
	"fmt"
	"slices"

	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

// Registry maps fault kinds to the executors this worker offers. It is built once and read
// concurrently afterwards.
type Registry struct {
	execs map[string]Executor
}

// NewRegistry returns a registry of the given executors. Two executors for one kind, or an
// executor for a kind the catalogue does not know, is a programming error.
func NewRegistry(execs ...Executor) (*Registry, error) {
	r := &Registry{execs: make(map[string]Executor, len(execs))}
	for _, e := range execs {
		k := e.Kind()
		if _, ok := catalogue.Lookup(k); !ok {
			return nil, fmt.Errorf("fault: executor for kind %q missing from the catalogue", k)
		}
		if _, dup := r.execs[k]; dup {
			return nil, fmt.Errorf("fault: two executors for kind %q", k)
		}
		r.execs[k] = e
	}
	return r, nil
}

// Get returns the executor for kind.
func (r *Registry) Get(kind string) (Executor, bool) {
	e, ok := r.execs[kind]
	return e, ok
}

// Kinds returns the kinds with an executor, sorted.
func (r *Registry) Kinds() []string {
	ks := make([]string, 0, len(r.execs))
	for k := range r.execs {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
