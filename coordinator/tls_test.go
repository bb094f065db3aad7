package coordinator_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/murphy-chaos/murphy/internal/tlsutil"
)

// The suite runs with TLS on, as production does: one CA for the package, and a
// certificate per role and name, issued on first use.
var testPKI struct {
	dir    string
	mu     sync.Mutex
	issued map[string]tlsutil.Files
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "murphy-pki-")
	if err != nil {
		panic(err)
	}
	if err := tlsutil.InitCA(dir, 24*time.Hour); err != nil {
		panic(err)
	}
	testPKI.dir, testPKI.issued = dir, map[string]tlsutil.Files{}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func certFor(t testing.TB, role, name string) tlsutil.Files {
	t.Helper()
	testPKI.mu.Lock()
	defer testPKI.mu.Unlock()
	key := role + "/" + name
	if f, ok := testPKI.issued[key]; ok {
		return f
	}
	out := filepath.Join(testPKI.dir, role)
	crt, k, err := tlsutil.Issue(testPKI.dir, out, role, name, nil, time.Hour, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	f := tlsutil.Files{CA: filepath.Join(testPKI.dir, "ca.crt"), Cert: crt, Key: k}
	testPKI.issued[key] = f
	return f
}

// tlsDial is the credential option for a client holding role/name's certificate.
func tlsDial(t testing.TB, role, name string) grpc.DialOption {
	t.Helper()
	cfg, err := tlsutil.ClientConfig(certFor(t, role, name))
	if err != nil {
		t.Fatal(err)
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(cfg))
}

func workerDial(t testing.TB, id string) []grpc.DialOption {
	return []grpc.DialOption{tlsDial(t, tlsutil.RoleWorker, id)}
}

func nodeTLS(t testing.TB, id string) *tlsutil.Files {
	f := certFor(t, tlsutil.RoleCoordinator, id)
	return &f
}
