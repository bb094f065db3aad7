package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// The pod tests (worker/fault/container, deploy/kubernetes-e2e) run a containerd of their
// own with its CRI plugin, beside (never instead of) any other: its own socket, root and
// state in a temporary directory, and a bridge CNI network of its own.

// CNIBin is where Debian's containernetworking-plugins puts the CNI plugins.
const CNIBin = "/usr/lib/cni"

// ContainerdMissing says what of containerd, ctr, runc and the CNI plugins the test
// network needs is not installed, or "" when nothing is.
func ContainerdMissing() string {
	for _, bin := range []string{"containerd", "ctr", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			return bin + " is not installed"
		}
	}
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(CNIBin, p)); err != nil {
			return "the CNI plugin " + filepath.Join(CNIBin, p) + " is not installed"
		}
	}
	return ""
}

// WriteContainerdConfig writes, under dir, the configuration of a containerd listening
// on sock (under dir too: a unix socket path has at most 107 bytes) whose sandboxes run
// sandboxImage and join a bridge network named bridge on subnet (a /24). It returns the
// configuration file, for containerd --config.
func WriteContainerdConfig(dir, sock, sandboxImage, bridge, subnet string) (string, error) {
	// restrict_oom_score_adj: a sandbox asks for -998, which a root without
	// CAP_SYS_RESOURCE (a microVM's, a container's) may not set.
	config := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q
[debug]
  address = ""
[metrics]
  address = ""
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = %[5]q
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "native"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = %[6]q
      conf_dir = %[7]q
  [plugins."io.containerd.internal.v1.opt"]
    path = %[8]q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc", sandboxImage, CNIBin,
		filepath.Join(dir, "cni"), filepath.Join(dir, "opt"))
	net := fmt.Sprintf(`{"cniVersion":"1.0.0","name":%[1]q,"plugins":[
{"type":"bridge","bridge":%[1]q,"isGateway":true,"ipMasq":false,"ipam":{"type":"host-local","ranges":[[{"subnet":%[2]q}]],"dataDir":%[3]q}},
{"type":"loopback"}]}`, bridge, subnet, filepath.Join(dir, "ipam"))
	for name, body := range map[string]string{"config.toml": config, "cni/10-murphy.conflist": net} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, "config.toml"), nil
}
