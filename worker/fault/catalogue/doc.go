// Package catalogue declares every fault kind Murphy knows, once: its name and summary,
// its parameters (type, default, help), the Go type they decode into, what a worker needs
// from its host to offer it, whether it is instant, and what reverts it.
//
// Parameters travel as text (the spec, the wire, the journal). Decode reads that text
// into the kind's own type (HTTPDelay, Network, ProcessKill...) and is the only place
// that does: the coordinator calls it when a spec is submitted, the worker when an
// assignment or a journal entry reaches it, and executors receive what it returned.
// Errors name the kind and the parameter ("http.delay: params.delay: ...") and are meant
// for the person who wrote the spec.
//
// The package has no OS effects and imports nothing of Murphy, so the coordinator, the
// worker and the command line all import it; how a worker carries a kind out lives in
// its executor (worker/fault/<family>).
package catalogue
