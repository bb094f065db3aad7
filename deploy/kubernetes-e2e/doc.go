// Package e2e holds Murphy's Kubernetes test tier: tests that run against a real
// kube-apiserver, kube-controller-manager and etcd (see package cluster), started once
// per test binary, with a kubelet stand-in that binds pods and reports them ready.
// Murphy's Kubernetes executors (worker/fault/kube) and kubernetes probe run in it as the
// ServiceAccount of deploy/kubernetes, whose manifests are applied first. It is a module
// of its own so that Murphy's main module never depends on k8s.io/kubernetes; the
// binaries are built from kubebuild/, a module holding only Kubernetes' own dependency
// versions. `make e2e-kubernetes` at the repository root builds them and runs it.
package e2e
