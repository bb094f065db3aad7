package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// builtImages are the repositories `make images` (and `make image-prometheus`) build:
// murphy-chaos/<name> for every deploy/images/<name>.Dockerfile.
func builtImages(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("images/*.Dockerfile")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Dockerfiles in deploy/images: %v", err)
	}
	var out []string
	for _, f := range files {
		out = append(out, "murphy-chaos/"+strings.TrimSuffix(filepath.Base(f), ".Dockerfile"))
	}
	return out
}

// yamlFiles lists every YAML file under deploy/.
func yamlFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(path); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// documents decodes every document of a YAML stream.
func documents(path string) ([]map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

// images collects the value of every "image" key, at any depth.
func images(v any, out *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "image" {
				*out = append(*out, s)
			}
			images(x, out)
		}
	case []any:
		for _, x := range v {
			images(x, out)
		}
	}
}

func TestYAMLParsesAndNamesOnlyImagesBuiltHere(t *testing.T) {
	built := builtImages(t)
	files := yamlFiles(t)
	seen := map[string]bool{}
	for _, path := range files {
		t.Run(path, func(t *testing.T) {
			docs, err := documents(path)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if len(docs) == 0 {
				t.Fatal("no documents")
			}
			var refs []string
			for _, d := range docs {
				images(d, &refs)
			}
			for _, ref := range refs {
				repo, _, _ := strings.Cut(ref, ":") // the tag may be ${MURPHY_TAG:-dev}
				if !slices.Contains(built, repo) {
					t.Errorf("image %q is not built here (make images builds %v)", ref, built)
				}
				seen[repo] = true
			}
		})
	}
	for _, want := range []string{"murphy-chaos/murphy", "murphy-chaos/demo"} {
		if !seen[want] {
			t.Errorf("no deployment file uses %s", want)
		}
	}
}

func TestKubernetesManifests(t *testing.T) {
	kinds := map[string]int{}
	files, _ := filepath.Glob("kubernetes/*.yaml")
	for _, path := range files {
		if filepath.Base(path) == "kustomization.yaml" {
			continue
		}
		docs, err := documents(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for i, d := range docs {
			kind, _ := d["kind"].(string)
			api, _ := d["apiVersion"].(string)
			meta, _ := d["metadata"].(map[string]any)
			if kind == "" || api == "" || meta["name"] == nil {
				t.Errorf("%s: document %d lacks apiVersion, kind or metadata.name", path, i+1)
				continue
			}
			clusterScoped := kind == "Namespace" || kind == "ClusterRole" || kind == "ClusterRoleBinding"
			if clusterScoped && meta["namespace"] != nil {
				t.Errorf("%s: %s %v is cluster-scoped but names a namespace", path, kind, meta["name"])
			}
			if !clusterScoped && meta["namespace"] != "murphy" {
				t.Errorf("%s: %s %v is not in namespace murphy", path, kind, meta["name"])
			}
			kinds[kind]++
			if kind == "StatefulSet" {
				checkStatefulSet(t, path, d)
			}
		}
	}
	for _, k := range []string{"StatefulSet", "DaemonSet", "Service", "ServiceAccount", "Role", "RoleBinding", "ConfigMap"} {
		if kinds[k] == 0 {
			t.Errorf("no %s in deploy/kubernetes", k)
		}
	}
}

// checkStatefulSet checks the coordinator StatefulSet's shape: three replicas, a headless
// service name, a volume claim template, readiness on /readyz.
func checkStatefulSet(t *testing.T, path string, d map[string]any) {
	spec := d["spec"].(map[string]any)
	if spec["replicas"] != 3 {
		t.Errorf("%s: replicas %v, want 3", path, spec["replicas"])
	}
	if spec["serviceName"] == nil || spec["volumeClaimTemplates"] == nil {
		t.Errorf("%s: want serviceName and volumeClaimTemplates", path)
	}
	body, _ := json.Marshal(spec)
	if !strings.Contains(string(body), `"readinessProbe":{"failureThreshold":3,"httpGet":{"path":"/readyz"`) {
		t.Errorf("%s: no readiness probe on /readyz", path)
	}
}

// TestDashboardUsesExportedMetrics checks that every murphy_* metric the Grafana
// dashboard queries is registered somewhere in Murphy's code.
func TestDashboardUsesExportedMetrics(t *testing.T) {
	data, err := os.ReadFile("grafana/murphy.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	var code strings.Builder
	for _, dir := range []string{"../coordinator", "../worker"} {
		_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
				b, _ := os.ReadFile(path)
				code.Write(b)
			}
			return nil
		})
	}
	names := regexp.MustCompile(`murphy_[a-z_]+[a-z]`).FindAllString(string(data), -1)
	if len(names) < 10 {
		t.Fatalf("only %d metric references in the dashboard", len(names))
	}
	for _, n := range names {
		base := n
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base = strings.TrimSuffix(base, suffix)
		}
		if !strings.Contains(code.String(), `"`+base+`"`) {
			t.Errorf("the dashboard queries %s, which no coordinator or worker code registers", n)
		}
	}
}
