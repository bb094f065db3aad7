// Package e2e holds Murphy's Kubernetes test tier: tests that run against a real
// kube-apiserver, kube-controller-manager and etcd (see package cluster), started once
// per test binary. It is a module of its own so that Murphy's main module never depends
// on k8s.io/kubernetes; `make e2e-kubernetes` at the repository root builds the
// binaries and runs it.
package e2e
