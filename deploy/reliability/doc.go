// Package reliability is Murphy's black-box reliability suite: real coordinator and
// worker processes on this host, faults injected into network namespaces, stopped
// processes and files, and the control plane broken underneath them (a worker frozen
// past its deadline, killed and never restarted, cut off from the coordinators; the
// leader killed during an inject or a halt). After each trial it checks, from outside
// Murphy, that the fault's effect ended and nothing was left on the host, and at the end
// that no acknowledged run was lost.
//
// It needs root (network namespaces, nftables) and a built binary:
//
//	MURPHY_E2E_BIN=$PWD/bin/murphy MURPHY_RELIABILITY_TRIALS=100 go test -v ./deploy/reliability/
//
// `make e2e` runs a few trials, `make bench` at least a hundred.
package reliability
