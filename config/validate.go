package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Allowed values of enumerated keys. Protocol-specific checks beyond these
// belong to the protocol package, which validates its own part at start-up.
var (
	roles = []string{"viewer", "operator", "verifier", "regulator", "admin"}
)

func oneOf(v string, allowed []string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

func (d *decoder) enum(p, what, v string, allowed []string) {
	if !oneOf(v, allowed) {
		d.errorAt(p, "%s: unknown %s %q (one of %s)", p, what, v, strings.Join(allowed, ", "))
	}
}

// validate checks what the types alone cannot: uniqueness, enums, URLs and
// the relations between keys.
func (d *decoder) validate(c *Config) {
	if c.Site.ID == "" {
		d.errorAt("site.id", "site.id must not be empty")
	}
	if c.DataDir == "" {
		d.errorAt("data_dir", "data_dir must not be empty")
	}
	d.validateHTTP(&c.HTTP)
	if c.InfluxDB != nil {
		d.validateInflux(c.InfluxDB)
	}

	devices := make(map[string]string)
	tags := make(map[string]string)
	for i := range c.Devices {
		dev := &c.Devices[i]
		p := fmt.Sprintf("devices[%d]", i)
		if prev, dup := devices[dev.ID]; dup {
			d.errorAt(p+".id", "duplicate device id %q (first at %s)", dev.ID, d.short(prev+".id"))
		} else {
			devices[dev.ID] = p
		}
		d.validateDevice(dev, p)
		for j := range dev.Tags {
			tp := fmt.Sprintf("%s.tags[%d]", p, j)
			id := dev.Tags[j].ID
			if id == "" {
				d.errorAt(tp+".id", "%s.id must not be empty", tp)
			} else if prev, dup := tags[id]; dup {
				d.errorAt(tp+".id", "duplicate tag id %q (first at %s)", id, d.short(prev+".id"))
			} else {
				tags[id] = tp
			}
		}
	}

	d.validateRules(c.Rules)
	d.validateAlarmHandling(&c.AlarmHandling)
	d.validateHazardRules(c.HazardRules)
	if c.Northbound != nil {
		d.validateNorthbound(c.Northbound)
	}
	if c.Hub != nil {
		d.validateHub(c.Hub)
	}
	if c.Forward != nil {
		d.validateForward(c.Forward)
	}
	d.validateWebhooks(c.Webhooks)
}

// short names the line of a path, for "first at" notes.
func (d *decoder) short(p string) string {
	pos := d.posOf(p)
	return fmt.Sprintf("line %d", pos.Line)
}

func (d *decoder) validateHTTP(h *HTTP) {
	if _, _, err := net.SplitHostPort(h.Listen); err != nil {
		d.errorAt("http.listen", "http.listen: bad address %q: want host:port", h.Listen)
	} else if len(h.Tokens) == 0 {
		// The API refuses this at start-up too; report it here so that
		// `hazgate check` (systemd's ExecStartPre) catches it first.
		if err := CheckLoopback(h.Listen); err != nil {
			d.errorAt("http.listen", "http.listen %q without http.tokens: %v; use 127.0.0.1, ::1 or localhost, or add an http.tokens block", h.Listen, err)
		}
	}
	if h.BodyTimeout <= 0 {
		d.errorAt("http.body_timeout", "http.body_timeout must be positive (got %s)", h.BodyTimeout)
	}
	if h.MaxConnsPerClient < 1 {
		d.errorAt("http.max_conns_per_client", "http.max_conns_per_client must be at least 1 (got %d)", h.MaxConnsPerClient)
	}
	for i, entry := range h.AllowedHosts {
		if _, _, err := SplitAllowedHost(entry); err != nil {
			d.errorAt(fmt.Sprintf("http.allowed_hosts[%d]", i), "http.allowed_hosts[%d]: %v", i, err)
		}
	}
	names := make(map[string]bool)
	secrets := make(map[string]string)
	for i, t := range h.Tokens {
		p := fmt.Sprintf("http.tokens[%d]", i)
		if t.Name == "" {
			d.errorAt(p+".name", "%s: empty token name", p)
		} else if names[t.Name] {
			d.errorAt(p+".name", "duplicate token name %q", t.Name)
		}
		names[t.Name] = true
		d.enum(p+".role", "role", t.Role, roles)
		// Say nothing of the value itself: it is a secret.
		if err := TokenProblem(t.Token); err != nil {
			d.errorAt(p+".token", "token %q: %v", t.Name, err)
		} else if prev, dup := secrets[t.Token]; dup {
			d.errorAt(p+".token", "token %q: same secret as %q; give each holder its own", t.Name, prev)
		} else {
			secrets[t.Token] = t.Name
		}
	}
}

// MinTokenLen is where a token starts to resist guessing.
const MinTokenLen = 16

// TokenProblem says what is wrong with an API token's secret, or nil. The
// config check and the API share it so both refuse the same tokens.
func TokenProblem(tok string) error {
	switch {
	case tok == "":
		return errors.New("empty secret")
	case strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		// A Bearer header cannot carry it, so nobody could use the token.
		return errors.New("the secret contains whitespace or control characters")
	case len(tok) < MinTokenLen:
		return fmt.Errorf("the secret must be at least %d characters", MinTokenLen)
	}
	return nil
}

// SplitAllowedHost splits an http.allowed_hosts entry, host or host:port
// (an IPv6 address bare or in brackets), into its lower-case host and its
// port, "" for any port. The config check and the API share it.
func SplitAllowedHost(entry string) (host, port string, err error) {
	if entry == "" {
		return "", "", errors.New("empty host")
	}
	if strings.ContainsAny(entry, "/@?# ") {
		return "", "", fmt.Errorf("%q: want a host name or host:port, without scheme or path", entry)
	}
	host = entry
	if ip, perr := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(entry, "["), "]")); perr == nil {
		return ip.String(), "", nil // a bare IPv6 address has colons but no port
	}
	if strings.Contains(entry, ":") {
		if host, port, err = net.SplitHostPort(entry); err != nil {
			return "", "", fmt.Errorf("%q: %w", entry, err)
		}
		if n, perr := strconv.ParseUint(port, 10, 16); perr != nil || n == 0 {
			return "", "", fmt.Errorf("%q: bad port %q", entry, port)
		}
	}
	if host == "" {
		return "", "", fmt.Errorf("%q: empty host", entry)
	}
	return strings.TrimSuffix(strings.ToLower(host), "."), port, nil
}

// CheckLoopback accepts host:port addresses whose host is a loopback IP or
// "localhost". An empty host or 0.0.0.0 means every interface: refused.
// An API without tokens may only listen where CheckLoopback accepts.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New("an empty host means every interface")
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("host %q is not an IP address or localhost", host)
	}
	if !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address", host)
	}
	return nil
}

func (d *decoder) validateDevice(dev *Device, p string) {
	d.enum(p+".protocol", "protocol", dev.Protocol, ProtocolNames())
	if dev.Interval <= 0 {
		d.errorAt(p+".interval", "device %q: interval must be positive", dev.ID)
	}
	if dev.Timeout <= 0 {
		d.errorAt(p+".timeout", "device %q: timeout must be positive", dev.ID)
	}
	if proto, ok := protocolOf(dev.Protocol); ok && proto.Check != nil {
		proto.Check(&Checker{d: d, path: p}, dev)
	}
}

// checkURL reports a URL that does not parse, has an unknown scheme or (when
// needHost) no host. It returns the parsed URL when it is usable.
func (d *decoder) checkURL(p, raw string, schemes []string, needHost bool) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err // its message repeats the URL, credentials and all
		}
		d.errorAt(p, "%s: bad URL %q: %v", p, RedactURL(raw), err)
		return nil
	}
	if !oneOf(u.Scheme, schemes) {
		d.errorAt(p, "%s: bad URL %q: scheme must be one of %s", p, RedactURL(raw), strings.Join(schemes, ", "))
		return nil
	}
	if needHost && u.Host == "" {
		d.errorAt(p, "%s: bad URL %q: no host", p, RedactURL(raw))
		return nil
	}
	return u
}
