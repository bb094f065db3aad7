// Package tlsutil is Murphy's certificate plumbing: a private CA, certificates that carry
// a role, TLS configurations for servers and clients, and the identity a peer's
// certificate proves. Every connection in a Murphy cluster (client, worker, and Raft
// between coordinators) is mutual TLS against one CA; the role decides what a peer may do.
package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Roles a certificate can carry.
const (
	RoleViewer      = "viewer"
	RoleOperator    = "operator"
	RoleAdmin       = "admin"
	RoleWorker      = "worker"
	RoleCoordinator = "coordinator"
)

// Roles lists every role, for validation and help texts.
var Roles = []string{RoleViewer, RoleOperator, RoleAdmin, RoleWorker, RoleCoordinator}

// Identity is who a peer proved to be.
type Identity struct {
	Role string
	Name string
	// Via says how: "certificate", "token", or "insecure" when TLS is off.
	Via string
}

func (i Identity) String() string { return i.Role + ":" + i.Name }

// Files locates a CA certificate and a certificate with its key.
type Files struct {
	CA, Cert, Key string
}

// InitCA creates a CA key and self-signed certificate in dir (ca.crt, ca.key). It refuses
// to overwrite an existing CA.
func InitCA(dir string, validity time.Duration) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "ca.key")); err == nil {
		return fmt.Errorf("a CA already exists in %s; remove it first to start over", dir)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Murphy CA", Organization: []string{"Murphy"}},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(validity),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	return writePair(dir, "ca", der, key)
}

// Issue creates name.crt and name.key in outDir, signed by the CA in caDir, for role.
// hosts become the certificate's DNS names and IP addresses (a server certificate must
// name the addresses clients dial); localhost and 127.0.0.1 are always included.
func Issue(caDir, outDir, role, name string, hosts []string, validity time.Duration, notBefore time.Time) (certPath, keyPath string, err error) {
	if !slices.Contains(Roles, role) {
		return "", "", fmt.Errorf("unknown role %q (use one of %v)", role, Roles)
	}
	if name == "" {
		return "", "", errors.New("a certificate needs a name (--name)")
	}
	caCert, caKey, err := loadCA(caDir)
	if err != nil {
		return "", "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	if notBefore.IsZero() {
		notBefore = time.Now().Add(-time.Minute)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name, OrganizationalUnit: []string{role}, Organization: []string{"Murphy"}},
		NotBefore:    notBefore,
		NotAfter:     notBefore.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return "", "", err
	}
	if err := writePair(outDir, name, der, key); err != nil {
		return "", "", err
	}
	return filepath.Join(outDir, name+".crt"), filepath.Join(outDir, name+".key"), nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func writePair(dir, name string, der []byte, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}

func loadCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		return nil, nil, fmt.Errorf("load the CA from %s (murphy tls init creates it): %w", dir, err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, err
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("the CA key is not an ECDSA key")
	}
	return cert, key, nil
}

func pool(caFile string) (*x509.CertPool, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	return p, nil
}

// ServerConfig is a coordinator's TLS configuration: its own certificate, and peers'
// certificates verified against the CA when they present one (a client may instead prove
// itself with a bearer token, checked above TLS).
func ServerConfig(f Files) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("load certificate: %w", err)
	}
	p, err := pool(f.CA)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientCAs:    p,
		ClientAuth:   tls.VerifyClientCertIfGiven,
	}, nil
}

// ClientConfig is the configuration to dial a coordinator: the server must hold a
// coordinator certificate from the CA; cert and key may be empty for a token-only client.
func ClientConfig(f Files) (*tls.Config, error) {
	p, err := pool(f.CA)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: p, VerifyConnection: requireRole(RoleCoordinator)}
	if f.Cert != "" || f.Key != "" {
		cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("load certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// PeerConfig is a coordinator's configuration for Raft: both sides must be coordinators.
func PeerConfig(f Files) (server, client *tls.Config, err error) {
	if server, err = ServerConfig(f); err != nil {
		return nil, nil, err
	}
	server.ClientAuth = tls.RequireAndVerifyClientCert
	server.VerifyConnection = requireRole(RoleCoordinator)
	if client, err = ClientConfig(f); err != nil {
		return nil, nil, err
	}
	return server, client, nil
}

func requireRole(role string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("the peer presented no certificate; a %s certificate is required", role)
		}
		id, err := IdentityOf(cs.PeerCertificates[0])
		if err != nil {
			return err
		}
		if id.Role != role {
			return fmt.Errorf("the peer's certificate is for %s %s, not a %s", id.Role, id.Name, role)
		}
		return nil
	}
}

// IdentityOf reads the role and name a verified certificate carries.
func IdentityOf(c *x509.Certificate) (Identity, error) {
	if len(c.Subject.OrganizationalUnit) != 1 || !slices.Contains(Roles, c.Subject.OrganizationalUnit[0]) {
		return Identity{}, fmt.Errorf("certificate %q carries no Murphy role; issue one with murphy tls issue --role", c.Subject.CommonName)
	}
	return Identity{Role: c.Subject.OrganizationalUnit[0], Name: c.Subject.CommonName, Via: "certificate"}, nil
}
