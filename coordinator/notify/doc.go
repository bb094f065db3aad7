// Package notify tells people about runs: it posts an event to webhooks when a run is
// submitted, when it halts (with the halt's evidence), when it reaches a verdict and when
// it fails. Bodies are JSON (the run, halt and verdict as the contract's protojson) or a
// Slack-compatible {"text": ...} message, signed with HMAC-SHA256 over the exact body
// (header X-Murphy-Signature: sha256=<hex>), and retried with exponential backoff. Every
// delivery is counted (murphy_webhook_*), logged, and kept in a bounded in-memory record.
//
// # DESIGN
//
// Events come from committed state, not from the code paths that make the decisions. A
// run's events are a pure function of the replicated Run record (Events): submitted once
// it exists, halted once it has a HaltRecord, verdict once it has a Verdict, failed once
// it is FAILED. Each has a deterministic id, "<run id>/<kind>", which is the
// X-Murphy-Event-Id header and the body's "id", so a receiver can deduplicate. Reading
// committed state means an event is sent only for what the cluster really decided (a
// halt that failed to commit is never announced), and adding an event kind touches only
// Events.
//
// Only the leader sends, and each event once. Every node observes the FSM, but only the
// leader's Notifier acts on what it observes (Lead and Follow follow the server's
// leadership). A leader sends an event the first time it sees it in the committed state,
// and remembers the ids it has handled during its term.
//
// A new leader must not send again what the old leader sent. It cannot know what that was:
// deliveries are not replicated. The rule is by commit time: an event is the business of
// the leader that committed it, and every event carries the leader-stamped time of the
// command that created it (the run's created_at, the halt's at, ended_at). On winning an
// election a node sends only events stamped at or after the moment it won, less
// TakeoverMargin (500ms by default, for a command it stamped in the instant between
// Raft making it leader and the server hearing so). Everything older belongs to earlier
// leaders and is marked handled without being sent. Consequences, accepted:
//
//   - An event the old leader committed but had not delivered when it died is lost:
//     delivery is at most once across a leader change, and retried (at least once,
//     within the attempts) within a term.
//   - An event the old leader committed within TakeoverMargin of the election (more if
//     the two nodes' clocks disagree by more) may be delivered twice: deduplicate by
//     X-Murphy-Event-Id.
//   - A leader that steps down keeps delivering what it already queued: it decided
//     to send those while leading, and no other node will.
//
// Rejected alternatives: replicating a "delivered" mark through Raft for every event (a
// log entry per delivery, an FSM change, and still a duplicate when a leader dies between
// posting and committing the mark); replaying every event in the state on each election
// (a storm of stale notifications at every failover, which is what people turn webhooks
// off for); a replay window long enough to cover a dead leader's undelivered events
// (seconds to minutes of duplicates at every election, by design, and still a loss for
// anything older). TakeoverMargin is not that: it covers the new leader's own first
// instant, not the old leader's backlog.
//
// Delivery: one queue and one goroutine per URL, so a slow or dead receiver delays only
// itself and each receiver sees a run's events in order. A 2xx is delivered; a network
// error, 408, 429 or 5xx is retried (Retry-After is honoured up to BackoffMax); any other
// status fails at once, since repeating the same body cannot fix it. A full queue drops
// the event and counts it. Only scheme://host of a URL appears in metrics, logs and the
// delivery record: a Slack incoming-webhook URL carries its token in the path.
package notify
