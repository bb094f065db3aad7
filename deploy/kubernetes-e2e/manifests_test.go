package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// manifestsDir is the repository's deploy/kubernetes, applied as it is: the RBAC the
// tests run under is the RBAC users deploy.
var manifestsDir = filepath.Join("..", "kubernetes")

// The designated worker's identity, as deploy/kubernetes/kube-worker.yaml names it.
const (
	workerNamespace = "murphy"
	workerAccount   = "murphy-kube-worker"
)

var (
	applyOnce sync.Once
	applyErr  error
	applied   []string
)

// applyManifests server-side applies every file kustomization.yaml lists, once per test
// binary; each object must be accepted.
func applyManifests(t *testing.T) []string {
	t.Helper()
	applyOnce.Do(func() { applied, applyErr = apply(kube.Admin) })
	if applyErr != nil {
		t.Fatalf("apply %s: %v", manifestsDir, applyErr)
	}
	return applied
}

func apply(cfg *rest.Config) ([]string, error) {
	var kust struct {
		Resources []string `json:"resources"`
	}
	b, err := os.ReadFile(filepath.Join(manifestsDir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	if err := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096).Decode(&kust); err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	var done []string
	var errs []error
	for _, file := range kust.Resources {
		b, err := os.ReadFile(filepath.Join(manifestsDir, file))
		if err != nil {
			return nil, err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			var obj unstructured.Unstructured
			if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, err
			}
			if len(obj.Object) == 0 {
				continue
			}
			gvk := obj.GroupVersionKind()
			m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
			if m.Scope.Name() == "namespace" {
				ri = dyn.Resource(m.Resource).Namespace(obj.GetNamespace())
			}
			data, err := obj.MarshalJSON()
			if err != nil {
				return nil, err
			}
			force := true
			what := file + ": " + gvk.Kind + " " + obj.GetName()
			if _, err := ri.Patch(context.Background(), obj.GetName(), types.ApplyPatchType, data,
				metav1.PatchOptions{FieldManager: "murphy-e2e", Force: &force}); err != nil {
				errs = append(errs, errors.New(what+": "+err.Error()))
				continue
			}
			done = append(done, what)
		}
	}
	return done, errors.Join(errs...)
}

// TestDeployManifestsApply: the API server accepts every object of deploy/kubernetes
// (server-side apply validates each against the API's schema).
func TestDeployManifestsApply(t *testing.T) {
	objs := applyManifests(t)
	t.Logf("applied %d objects: %s", len(objs), strings.Join(objs, "; "))
	for _, want := range []string{"ClusterRole murphy-kube-worker", "ClusterRoleBinding murphy-kube-worker", "Deployment murphy-kube-worker"} {
		if !strings.Contains(strings.Join(objs, ";"), want) {
			t.Errorf("%s not applied", want)
		}
	}
}

// workerClient returns a client that acts as the designated worker's ServiceAccount
// (impersonated by the administrator), so what it may do is what the manifests' RBAC
// grants: a missing rule fails the test that needs it.
func workerClient(t *testing.T, account string) kubernetes.Interface {
	t.Helper()
	applyManifests(t)
	cfg := rest.CopyConfig(kube.Admin)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + workerNamespace + ":" + account,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + workerNamespace, "system:authenticated"},
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	// The RBAC authorizer reads bindings from an informer: a binding just applied takes
	// effect a moment later.
	if account == workerAccount {
		eventually(t, 30*time.Second, "the manifests' RBAC in force", func(ctx context.Context) (bool, error) {
			_, err := c.CoreV1().Nodes().Get(ctx, "none", metav1.GetOptions{})
			return err == nil || apierrors.IsNotFound(err), nil
		})
	}
	return c
}
