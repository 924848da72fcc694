package mqtt

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"golang.org/x/net/proxy"

	"hazgate/collector"
	"hazgate/config"
)

// Status payloads on {prefix}/{site}/status: "online" retained while
// connected, "offline" as the last will and on a clean stop.
const (
	StatusOnline  = "online"
	StatusOffline = "offline"
)

// StatusTopic is where a gateway says whether it is connected.
func StatusTopic(prefix, site string) string { return prefix + "/" + site + "/status" }

// broker is what a client needs to reach a broker: the collector's, and
// through PublisherOptions the northbound publisher's.
type broker struct {
	url, clientID      string
	username, password string
	keepAlive          time.Duration
	connectTimeout     time.Duration
	cleanSession       bool
	tls                *config.TLS
	statusTopic        string
}

// options builds paho's options: reconnects with backoff, a last will that
// marks the gateway offline, and TLS from the configured files.
func (b broker) options() (*paho.ClientOptions, error) {
	o := paho.NewClientOptions().
		AddBroker(b.url).
		SetClientID(b.clientID).
		SetUsername(b.username).
		SetPassword(b.password).
		SetKeepAlive(b.keepAlive).
		SetConnectTimeout(b.connectTimeout).
		SetCleanSession(b.cleanSession).
		SetOrderMatters(true).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(10*time.Second).
		SetWill(b.statusTopic, StatusOffline, 1, true)
	if b.buffered() {
		o.SetCustomOpenConnectionFn(func(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
			c, err := openBuffered(uri, o)
			if err != nil {
				return nil, err // not a nil *bufferedConn in a non-nil net.Conn
			}
			return c, nil
		})
	}
	if b.tls != nil {
		tc, err := tlsConfig(b.tls)
		if err != nil {
			return nil, err
		}
		o.SetTLSConfig(tc)
	}
	return o, nil
}

// PublisherOptions are paho's options for a publisher outside this package
// (the northbound delivery channel), with the collector's reconnects, TLS
// and last will. The session is clean: the publisher resends what was not
// acknowledged itself, in order, where a session kept by paho could replay
// an old message behind a newer.
func PublisherOptions(cfg config.Northbound, clientID, statusTopic string) (*paho.ClientOptions, error) {
	return broker{
		url: cfg.URL, clientID: clientID, username: cfg.Username, password: cfg.Password,
		keepAlive: cfg.KeepAlive, connectTimeout: max(cfg.Timeout, minConnectTimeout),
		cleanSession: true, tls: cfg.TLS, statusTopic: statusTopic,
	}.options()
}

func tlsConfig(t *config.TLS) (*tls.Config, error) {
	tc := &tls.Config{ServerName: t.ServerName, MinVersion: tls.VersionTLS12}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("tls.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca %s: no PEM certificate in it", t.CA)
		}
		tc.RootCAs = pool
	}
	if t.Cert != "" || t.Key != "" {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("tls.cert/tls.key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Connect makes the first connection, retrying with backoff until ctx ends;
// later reconnects are paho's. It reports whether it connected.
func Connect(ctx context.Context, client paho.Client, log *slog.Logger, url string) bool {
	backoff := time.Second
	for {
		tok := client.Connect()
		<-tok.Done() // bounded by the connect timeout
		if tok.Error() == nil {
			return true
		}
		log.Warn("cannot connect to mqtt broker; retrying", "broker", config.RedactURL(url), "in", backoff, "err", tok.Error())
		if !collector.Sleep(ctx, backoff) {
			return false
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// bufferedConn reads through a buffer: paho reads each packet in a few
// small reads, a syscall each; one buffered read takes in many packets.
// Writes go straight to the connection: a Write is one whole packet (or
// the collector's run of PUBACKs) and never interleaves with another.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// inboundFreeStore is paho's in-memory store without the inbound PUBLISH
// packets. paho keeps each received QoS 1/2 PUBLISH until it is
// acknowledged and, on resume, discards them (only a PUBREL is resumed), so
// they were a map entry per message for nothing; the collector also
// acknowledges QoS 1 messages itself (Collector.ackAll), which would leave
// them in the store forever. Outbound packets (our status publishes,
// subscriptions) and inbound PUBRELs are kept as paho keeps them.
type inboundFreeStore struct{ *paho.MemoryStore }

func newInboundFreeStore() inboundFreeStore { return inboundFreeStore{paho.NewMemoryStore()} }

func (s inboundFreeStore) Put(key string, m packets.ControlPacket) {
	if _, ok := m.(*packets.PublishPacket); ok && strings.HasPrefix(key, "i.") {
		return
	}
	s.MemoryStore.Put(key, m)
}

// buffered says whether the broker's URL is dialled by openBuffered
// (WebSockets are left to paho).
func (b broker) buffered() bool {
	u, err := url.Parse(b.url)
	return err == nil && !strings.HasPrefix(u.Scheme, "ws")
}

// openBuffered dials tcp:// and ssl:// brokers as paho does (through an
// environment proxy if one is set) and buffers reads; WebSockets are left
// to paho.
func openBuffered(uri *url.URL, o paho.ClientOptions) (*bufferedConn, error) {
	dialer := &net.Dialer{Timeout: o.ConnectTimeout}
	conn, err := proxy.FromEnvironmentUsing(dialer).Dial("tcp", uri.Host)
	if err != nil {
		return nil, err
	}
	switch uri.Scheme {
	case "ssl", "tls", "mqtts":
		tc := o.TLSConfig.Clone()
		if tc == nil {
			tc = &tls.Config{}
		}
		if tc.ServerName == "" {
			tc.ServerName = uri.Hostname()
		}
		tlsConn := tls.Client(conn, tc)
		conn.SetDeadline(time.Now().Add(o.ConnectTimeout))
		if err := tlsConn.Handshake(); err != nil {
			conn.Close()
			return nil, err
		}
		conn.SetDeadline(time.Time{})
		conn = tlsConn
	}
	return &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, 32<<10)}, nil
}
