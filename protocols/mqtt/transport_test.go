package mqtt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hazgate/collector"
	"hazgate/config"
)

// pki writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all signed by the CA, as PEM files in dir.
type pki struct{ ca, serverCert, serverKey, clientCert, clientKey string }

func newPKI(t *testing.T, dir string) pki {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	writeKey := func(name string, k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, "PRIVATE KEY", der)
	}
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hazgate test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: ips,
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	sDER, sKey := leaf(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	cDER, cKey := leaf(3, "hazgate-gw", x509.ExtKeyUsageClientAuth, nil)
	return pki{
		ca:         write("ca.pem", "CERTIFICATE", caDER),
		serverCert: write("server.pem", "CERTIFICATE", sDER), serverKey: writeKey("server-key.pem", sKey),
		clientCert: write("client.pem", "CERTIFICATE", cDER), clientKey: writeKey("client-key.pem", cKey),
	}
}

// TestIntegrationTransports reads through ssl:// with a client certificate
// the broker requires, and through ws://.
func TestIntegrationTransports(t *testing.T) {
	dir := t.TempDir()
	p := newPKI(t, dir)
	sslPort, wsPort := freePort(t), freePort(t)
	m := startMosquitto(t,
		fmt.Sprintf("listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true", sslPort, p.ca, p.serverCert, p.serverKey),
		fmt.Sprintf("listener %d 127.0.0.1\nprotocol websockets", wsPort))
	if m == nil {
		return
	}
	for _, tt := range []struct {
		name, url string
		tls       *config.TLS
	}{
		{"ssl", fmt.Sprintf("ssl://127.0.0.1:%d", sslPort), &config.TLS{CA: p.ca, Cert: p.clientCert, Key: p.clientKey}},
		{"ws", fmt.Sprintf("ws://127.0.0.1:%d", wsPort), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			c := newTestCollector(t, collector.NewRegistry(), rec, tt.url, Subscription{Topic: tt.name + "/+", Tag: "T{1}"})
			c.broker.tls = tt.tls
			runCollector(t, c)
			publish(t, testClient(t, m.URL(), "", true, nil), tt.name+"/1", 1, false, `{"value":7}`)
			waitFor(t, 10*time.Second, "the sample", func() bool { return len(rec.all()) == 1 })
			if s := rec.all()[0]; s.Tag != "T1" || s.Value != 7 {
				t.Errorf("sample %+v", s)
			}
		})
	}
	// Without the client certificate the broker refuses the connection.
	c := newTestCollector(t, collector.NewRegistry(), &recorder{}, fmt.Sprintf("ssl://127.0.0.1:%d", sslPort), Subscription{Topic: "x", Tag: "X"})
	c.broker.tls = &config.TLS{CA: p.ca}
	opts, err := c.broker.options()
	if err != nil {
		t.Fatal(err)
	}
	cl := paho.NewClient(opts)
	if tok := cl.Connect(); tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
		cl.Disconnect(0)
		t.Error("connected without the client certificate the broker requires")
	}
}
