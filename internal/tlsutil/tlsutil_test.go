package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestIssueAndIdentity(t *testing.T) {
	dir := t.TempDir()
	if err := InitCA(dir, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := InitCA(dir, time.Hour); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second init: %v", err)
	}
	crt, key, err := Issue(dir, filepath.Join(dir, "out"), RoleOperator, "alice", []string{"coord.example", "10.0.0.5"}, time.Hour, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(pair.Certificate[0])
	id, err := IdentityOf(c)
	if err != nil || id.Role != RoleOperator || id.Name != "alice" {
		t.Fatalf("identity %v %v", id, err)
	}
	if !strings.Contains(strings.Join(c.DNSNames, ","), "coord.example") || len(c.IPAddresses) != 3 {
		t.Errorf("SANs %v %v", c.DNSNames, c.IPAddresses)
	}
	if _, _, err := Issue(dir, dir, "root", "x", nil, time.Hour, time.Time{}); err == nil || !strings.Contains(err.Error(), `unknown role "root"`) {
		t.Errorf("bad role: %v", err)
	}
}
