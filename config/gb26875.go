package config

import (
	"fmt"
	"net"
	"strconv"
	"time"
)

// GB26875Device holds the keys only GB/T 26875.3 listeners have: a device
// of this protocol is a TCP listener that 用户信息传输装置 connect to.
type GB26875Device struct {
	Listen string `yaml:"listen" doc:"gb26875: host:port the listener binds, for example 0.0.0.0:9026."`
	// Allow is checked on every frame's source address, so a device cannot
	// start allowed and switch addresses.
	Allow []string `yaml:"allow" doc:"gb26875: addresses (decimal, as on the device's label) of the transmission devices accepted; empty accepts any."`
	// Heartbeat is what the devices are configured to send (20-30 s is usual).
	Heartbeat     time.Duration `yaml:"heartbeat" default:"30s" doc:"gb26875: the devices' heartbeat period."`
	CommLossAfter int           `yaml:"comm_loss_after" default:"3" doc:"gb26875: heartbeat periods without any frame after which a device's tags turn Bad (comm_loss) and its connection is closed."`
	// MaxConnections bounds memory and file descriptors against a flood.
	MaxConnections int `yaml:"max_connections" default:"2000" doc:"gb26875: connections served at once; more are closed on accept and counted."`
	// MaxConnectionsPerAddress keeps one host from taking every slot; devices
	// behind one NAT (a 4G carrier's, a site router's) share an address.
	MaxConnectionsPerAddress int `yaml:"max_connections_per_address" default:"4" doc:"gb26875: connections served at once from one remote IP address; more are closed on accept and counted. 0 turns the cap off; raise it when many transmission devices share one public address (NAT)."`
	// HandshakeTimeout frees the slot of a socket that never speaks the
	// protocol long before comm_loss_after would.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout" default:"5s" doc:"gb26875: a connection that has not sent a valid frame (from an allowed address) this long after accept is closed and counted. Devices send at once on connecting; one that waits for its first heartbeat needs more than its heartbeat period."`
	// The standard's resend rule: wait at most 10 s for a confirm, try 3 times.
	CommandTimeout time.Duration `yaml:"command_timeout" default:"10s" doc:"gb26875: how long a clock-sync or duty-check command waits for the device's confirm before it is sent again."`
	CommandTries   int           `yaml:"command_tries" default:"3" doc:"gb26875: how many times a command is sent before it fails."`
}

// maxAddress is the largest 6-byte transmission device address.
const maxAddress = 1<<48 - 1

// validateGB26875 checks a gb26875 listener's own keys.
func (d *decoder) validateGB26875(dev *Device, p string) {
	if dev.URL != "" {
		d.errorAt(p+".url", "gb26875 device %q: url is not used; a listener binds listen: host:port", dev.ID)
	}
	if dev.Listen == "" {
		d.errorAt(p, "gb26875 device %q: missing required key \"listen\" (host:port to accept transmission devices on)", dev.ID)
	} else if _, port, err := net.SplitHostPort(dev.Listen); err != nil || port == "" {
		d.errorAt(p+".listen", "gb26875 device %q: bad listen address %q: want host:port", dev.ID, dev.Listen)
	}
	seen := make(map[uint64]int)
	for i, a := range dev.Allow {
		ap := fmt.Sprintf("%s.allow[%d]", p, i)
		v, err := strconv.ParseUint(a, 10, 64)
		if err != nil || v > maxAddress {
			d.errorAt(ap, "gb26875 device %q: allow entry %q is not an address (a decimal number up to %d)", dev.ID, a, uint64(maxAddress))
			continue
		}
		if first, dup := seen[v]; dup {
			d.errorAt(ap, "gb26875 device %q: address %q is already allowed (allow[%d])", dev.ID, a, first)
		}
		seen[v] = i
	}
	if dev.Heartbeat <= 0 {
		d.errorAt(p+".heartbeat", "gb26875 device %q: heartbeat must be positive", dev.ID)
	}
	if dev.CommLossAfter < 1 {
		d.errorAt(p+".comm_loss_after", "gb26875 device %q: comm_loss_after must be at least 1", dev.ID)
	}
	if dev.MaxConnections < 1 {
		d.errorAt(p+".max_connections", "gb26875 device %q: max_connections must be at least 1", dev.ID)
	}
	if dev.MaxConnectionsPerAddress < 0 {
		d.errorAt(p+".max_connections_per_address", "gb26875 device %q: max_connections_per_address must be 0 (no cap) or more", dev.ID)
	}
	if dev.HandshakeTimeout <= 0 {
		d.errorAt(p+".handshake_timeout", "gb26875 device %q: handshake_timeout must be positive", dev.ID)
	}
	if dev.CommandTimeout <= 0 {
		d.errorAt(p+".command_timeout", "gb26875 device %q: command_timeout must be positive", dev.ID)
	}
	if dev.CommandTries < 1 {
		d.errorAt(p+".command_tries", "gb26875 device %q: command_tries must be at least 1", dev.ID)
	}
	for j, t := range dev.Tags {
		if t.Register != nil {
			d.errorAt(fmt.Sprintf("%s.tags[%d].register", p, j), "tag %q on gb26875 device %q: register is for modbus tags; a declared tag here only gives metadata (name, area) to a tag the devices create, such as UITD-000000001234.S1-1.Z3-P27.fire", t.ID, dev.ID)
		}
	}
}
