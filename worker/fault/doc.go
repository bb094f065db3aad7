// Package fault owns Murphy's fault model on the worker: the Executor interface every fault
// kind implements, the Registry of executors a worker offers, the local safety Policy the
// coordinator cannot override, and the FleetLimits a coordinator holds steps to.
//
// What a fault kind is (its parameters, their types and checks, what it needs and what
// reverts it) is declared in worker/fault/catalogue, which has no OS effects, so the
// coordinator can reject an unknown kind or a malformed parameter when a spec is
// submitted, long before any worker sees it. The worker decodes each assignment with the
// same catalogue and hands its executor the typed result, so the two can never disagree
// about what a valid parameter is.
package fault
