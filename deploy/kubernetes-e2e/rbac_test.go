package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// serviceAccountClient creates a service account and returns a client that
// authenticates as it with a token from the TokenRequest API, the way a pod's projected
// token does.
func serviceAccountClient(t *testing.T, admin kubernetes.Interface, ns, name string) kubernetes.Interface {
	t.Helper()
	ctx := t.Context()
	if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service account %s: %v", name, err)
	}
	tok, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s: %v", name, err)
	}
	cfg := rest.AnonymousClientConfig(kube.Admin)
	cfg.BearerToken = tok.Status.Token
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("client for %s: %v", name, err)
	}
	return c
}

// createPod creates a bare pod. The ServiceAccount admission plugin refuses pods until
// the controller manager has given a new namespace its default service account, a
// moment after the namespace exists, so that refusal is waited out.
func createPod(t *testing.T, c kubernetes.Interface, ns, name string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "registry.invalid/murphy/" + name + ":1"}}},
	}
	var last error
	eventually(t, time.Minute, "create pod "+name, func(ctx context.Context) (bool, error) {
		_, last = c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		if last != nil && !strings.Contains(last.Error(), `serviceaccount "default" not found`) {
			return false, last
		}
		return last == nil, nil
	})
}

// TestRBACRefusals checks that the apiserver's RBAC authorizer refuses what a role does
// not grant: a service account with no binding can do nothing, and one allowed to read
// pods can neither delete them nor cordon a node. Murphy's least-privilege manifests
// will be tested against this same authorizer.
func TestRBACRefusals(t *testing.T) {
	admin := adminClient(t)
	ns := optedInNamespace(t, admin)
	ctx := t.Context()
	createPod(t, admin, ns, "target")

	nobody := serviceAccountClient(t, admin, ns, "nobody")
	reader := serviceAccountClient(t, admin, ns, "pod-reader")
	if _, err := admin.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create role: %v", err)
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "pod-reader", Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create role binding: %v", err)
	}
	// The RBAC authorizer reads roles from an informer, so a new binding takes effect
	// a moment after it is stored.
	eventually(t, 30*time.Second, "pod-reader may list pods", func(ctx context.Context) (bool, error) {
		_, err := reader.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		return err == nil, nil
	})

	zero := int64(0)
	for _, tc := range []struct {
		name string
		do   func(context.Context) error
		want string
	}{
		{"no binding lists pods", func(ctx context.Context) error {
			_, err := nobody.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			return err
		}, `cannot list resource "pods"`},
		{"no binding deletes a pod", func(ctx context.Context) error {
			return nobody.CoreV1().Pods(ns).Delete(ctx, "target", metav1.DeleteOptions{GracePeriodSeconds: &zero})
		}, `cannot delete resource "pods"`},
		{"reader deletes a pod", func(ctx context.Context) error {
			return reader.CoreV1().Pods(ns).Delete(ctx, "target", metav1.DeleteOptions{GracePeriodSeconds: &zero})
		}, `cannot delete resource "pods"`},
		{"reader evicts a pod", func(ctx context.Context) error {
			return reader.CoreV1().Pods(ns).EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "target", Namespace: ns}})
		}, `cannot create resource "pods/eviction"`},
		{"reader cordons a node", func(ctx context.Context) error {
			_, err := reader.CoreV1().Nodes().Patch(ctx, "any-node", types.StrategicMergePatchType, []byte(`{"spec":{"unschedulable":true}}`), metav1.PatchOptions{})
			return err
		}, `cannot patch resource "nodes"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do(t.Context())
			if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v; want Forbidden: ... %s", err, tc.want)
			}
		})
	}
	if _, err := admin.CoreV1().Pods(ns).Get(ctx, "target", metav1.GetOptions{}); err != nil {
		t.Fatalf("the pod is gone after refused deletes: %v", err)
	}
}
