// Package cluster starts a Kubernetes control plane made of real parts for Murphy's
// Kubernetes tests: an etcd embedded in the test process, and kube-apiserver and
// kube-controller-manager as separate processes, built from k8s.io/kubernetes at the
// version this module's go.mod pins. There is no kubelet and no scheduler: pods are
// created by the controllers and stay Pending, and nodes are plain API objects. That is
// enough for everything Murphy does through the API server (selecting, deleting and
// counting pods, cordoning nodes, RBAC), and it is what a fake clientset cannot give:
// the real admission chain, the real RBAC authorizer and the real ReplicaSet controller.
//
// Start generates a CA, serving and client certificates and a service-account key in a
// temporary directory, so every run is isolated and nothing is read from the machine.
package cluster
