// Package fault owns Murphy's fault model on the worker: the Executor interface every fault
// kind implements, the Registry of executors a worker offers, the local safety Policy the
// coordinator cannot override, and the pure catalogue (Validate, Kinds, Lookup) of every
// fault kind Murphy knows.
//
// The catalogue has no OS effects and needs no executor, so the coordinator can reject an
// unknown kind or a malformed parameter when a spec is submitted, long before any worker
// sees it. Executors call the same catalogue, so the two can never disagree about what a
// valid parameter is.
package fault
