// Package web is the review surface every coordinator serves under /ui: the runs list, a
// run's detail with its charts and verdict in plain words, an experiment's trend over its
// runs, workers by topology, the cluster with the big red button, and self-contained
// reports (HTML, Markdown, JSON). Every run leads with one badge, its verdict first
// (refuted, inconclusive, upheld; else halted, failed or running), its phase secondary.
//
// Pages are Go templates rendered on the server from this node's own FSM, so any
// coordinator answers, after a failover too; only live progress (sample counts,
// guardrails, worker health) comes from the leader's soft state. A follower fetches the
// run's progress from the leader server-side (Watch through its own ExperimentService,
// which forwards it), so its page keeps its origin and sign-in; what it cannot learn it
// calls "unknown on this node", never "none". Summaries are committed in batches, so
// early in a run a chart says what the leader holds rather than "none recorded".
//
// Charts are inline SVG drawn here. The probes' warm-up is marked and kept out of a time
// chart's scale, its spikes drawn as chevrons on the axis's edge; a guardrail's halt is
// drawn with its threshold, its breaching samples and the hosts that held the fault. A metric decided host by host (the target is the
// unit: see MetricVerdict.unit) gets a per-host section: a dot plot of each host's change
// against its own baseline with the tolerance, the hosts beyond it on their own, the
// hosts that would settle an open question, and the pooled view, labelled as one that
// does not decide. The only script refreshes live parts of a page
// through server-sent events; every page reads the same without it.
//
// Writes (halt, halt all, resume) go through the ExperimentService like the CLI's, so a
// follower forwards them to the leader. Who may do what is decided by one function,
// Authorize, which allows everyone until roles exist (issue 7).
package web
