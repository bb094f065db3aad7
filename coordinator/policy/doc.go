// Package policy owns who may call which method of the coordinator's gRPC API, which node
// answers it, and whether it is audited. The policy is declared once, as the
// (murphy.v1.policy) option on every method of the contract; this package reads it from
// the protobuf registry into a table that the auth interceptor, the forwarder and the web
// pages share, and holds the one list of roles each level admits.
package policy
