package config

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"
)

// Allowed values of enumerated keys. Protocol-specific checks beyond these
// belong to the protocol package, which validates its own part at start-up.
var (
	protocols  = []string{"modbus"}
	tables     = []string{"coil", "discrete", "holding", "input"}
	regTypes   = []string{"bool", "uint16", "int16", "uint32", "int32", "float32"}
	severities = []string{"low", "medium", "high", "critical"}
	roles      = []string{"viewer", "operator", "verifier", "regulator", "admin"}
	// modbusSchemes are the transports simonvetter/modbus understands.
	modbusSchemes = []string{"tcp", "rtu", "rtuovertcp", "rtuoverudp", "udp", "tcp+tls"}
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

	rules := make(map[string]string)
	for i := range c.Rules {
		r := &c.Rules[i]
		p := fmt.Sprintf("rules[%d]", i)
		if prev, dup := rules[r.Name]; dup {
			d.errorAt(p+".name", "duplicate rule name %q (first at %s)", r.Name, d.short(prev+".name"))
		} else {
			rules[r.Name] = p
		}
		if r.Above == nil && r.Below == nil {
			d.errorAt(p, "rule %q: needs above or below", r.Name)
		}
		if r.Above != nil && r.Below != nil && *r.Below >= *r.Above {
			d.errorAt(p+".below", "rule %q: below (%g) must be less than above (%g), or the alarm never clears", r.Name, *r.Below, *r.Above)
		}
		d.enum(p+".severity", "severity", r.Severity, severities)
		if r.Match.Tag != "" {
			if _, err := path.Match(r.Match.Tag, ""); err != nil {
				d.errorAt(p+".match.tag", "rule %q: bad tag glob %q: %v", r.Name, r.Match.Tag, err)
			}
		}
	}
}

// short names the line of a path, for "first at" notes.
func (d *decoder) short(p string) string {
	pos := d.posOf(p)
	return fmt.Sprintf("line %d", pos.Line)
}

func (d *decoder) validateHTTP(h *HTTP) {
	if _, _, err := net.SplitHostPort(h.Listen); err != nil {
		d.errorAt("http.listen", "http.listen: bad address %q: want host:port", h.Listen)
	}
	names := make(map[string]bool)
	for i, t := range h.Tokens {
		p := fmt.Sprintf("http.tokens[%d]", i)
		if names[t.Name] {
			d.errorAt(p+".name", "duplicate token name %q", t.Name)
		}
		names[t.Name] = true
		d.enum(p+".role", "role", t.Role, roles)
		if len(t.Token) < 16 {
			// Say nothing of the value itself: it is a secret.
			d.errorAt(p+".token", "token %q: the secret must be at least 16 characters", t.Name)
		}
	}
}

func (d *decoder) validateInflux(in *InfluxDB) {
	d.checkURL("influxdb.url", in.URL, []string{"http", "https"}, true)
	if in.Bucket == "" {
		d.errorAt("influxdb.bucket", "influxdb.bucket must not be empty")
	}
	if in.BatchSize < 1 {
		d.errorAt("influxdb.batch_size", "influxdb.batch_size must be at least 1")
	}
	if in.FlushInterval <= 0 {
		d.errorAt("influxdb.flush_interval", "influxdb.flush_interval must be positive")
	}
	if in.Timeout <= 0 {
		d.errorAt("influxdb.timeout", "influxdb.timeout must be positive")
	}
}

func (d *decoder) validateDevice(dev *Device, p string) {
	d.enum(p+".protocol", "protocol", dev.Protocol, protocols)
	if dev.Interval <= 0 {
		d.errorAt(p+".interval", "device %q: interval must be positive", dev.ID)
	}
	if dev.Timeout <= 0 {
		d.errorAt(p+".timeout", "device %q: timeout must be positive", dev.ID)
	}
	if dev.Protocol == "modbus" {
		u := d.checkURL(p+".url", dev.URL, modbusSchemes, false)
		if u != nil && u.Scheme != "rtu" && u.Host == "" {
			d.errorAt(p+".url", "device %q: url %q has no host:port", dev.ID, dev.URL)
		}
		if u != nil && u.Scheme == "rtu" && u.Path == "" {
			d.errorAt(p+".url", "device %q: url %q has no serial device (rtu:///dev/ttyS0)", dev.ID, dev.URL)
		}
		for j := range dev.Tags {
			d.validateRegister(dev, &dev.Tags[j], fmt.Sprintf("%s.tags[%d]", p, j))
		}
	}
}

func (d *decoder) validateRegister(dev *Device, t *Tag, p string) {
	r := t.Register
	if r == nil {
		d.errorAt(p, "tag %q on modbus device %q: missing register", t.ID, dev.ID)
		return
	}
	d.enum(p+".register.table", "register table", r.Table, tables)
	if r.Type != "" {
		d.enum(p+".register.type", "register type", r.Type, regTypes)
	}
	bits := r.Table == "coil" || r.Table == "discrete"
	if bits && r.Type != "" && r.Type != "bool" {
		d.errorAt(p+".register.type", "tag %q: %s table holds bits; type must be bool, not %q", t.ID, r.Table, r.Type)
	}
	if !bits && r.Type == "bool" {
		d.errorAt(p+".register.type", "tag %q: bool needs table coil or discrete, not %q", t.ID, r.Table)
	}
	words := 1
	if r.Type == "uint32" || r.Type == "int32" || r.Type == "float32" {
		words = 2
	}
	if int(r.Address)+words > 65536 {
		d.errorAt(p+".register.address", "tag %q: %s at address %d runs past register 65535", t.ID, r.Type, r.Address)
	}
}

// checkURL reports a URL that does not parse, has an unknown scheme or (when
// needHost) no host. It returns the parsed URL when it is usable.
func (d *decoder) checkURL(p, raw string, schemes []string, needHost bool) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		d.errorAt(p, "%s: bad URL %q: %v", p, raw, err)
		return nil
	}
	if !oneOf(u.Scheme, schemes) {
		d.errorAt(p, "%s: bad URL %q: scheme must be one of %s", p, raw, strings.Join(schemes, ", "))
		return nil
	}
	if needHost && u.Host == "" {
		d.errorAt(p, "%s: bad URL %q: no host", p, raw)
		return nil
	}
	return u
}
