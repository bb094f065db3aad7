// Package kube executes the Kubernetes fault kinds through the API server: pod.delete
// (kube-monkey's kill modes), node.cordon, node.drain (the Eviction API, so
// PodDisruptionBudgets are respected), workload.scale and workload.restart.
//
// Every object is chosen under the worker's KubernetesPolicy (namespace allow and deny
// lists, opt-in by the murphy.io/chaos=enabled label), which the coordinator cannot
// override, and acted on by UID: a pod is deleted with a UID precondition, and a revert
// touches a node or Deployment only if it is still the object the fault changed (same
// name and UID) and still in the state the fault left. What a revert needs (the node it
// cordoned, the replica count it replaced) is written to a record on disk before the
// object is touched, so a restarted worker or the guardian reverts it. Nothing is keyed
// by a container ID.
package kube
