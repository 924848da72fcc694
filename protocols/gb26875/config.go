package gb26875

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"hazgate/config"
)

// Config is the keys only GB/T 26875.3 listeners have, flat under the
// device in YAML: a device of this protocol is a TCP listener that
// 用户信息传输装置 connect to.
type Config struct {
	Listen string `yaml:"listen" doc:"host:port the listener binds, for example 0.0.0.0:9026."`
	// Allow is checked on every frame's source address, so a device cannot
	// start allowed and switch addresses.
	Allow []string `yaml:"allow" doc:"addresses (decimal, as on the device's label) of the transmission devices accepted; empty accepts any."`
	// Heartbeat is what the devices are configured to send (20-30 s is usual).
	Heartbeat     time.Duration `yaml:"heartbeat" default:"30s" doc:"the devices' heartbeat period."`
	CommLossAfter int           `yaml:"comm_loss_after" default:"3" doc:"heartbeat periods without any frame after which a device's tags turn Bad (comm_loss) and its connection is closed."`
	// MaxConnections bounds memory and file descriptors against a flood.
	MaxConnections int `yaml:"max_connections" default:"2000" doc:"connections served at once; more are closed on accept and counted."`
	// MaxConnectionsPerAddress keeps one host from taking every slot; devices
	// behind one NAT (a 4G carrier's, a site router's) share an address.
	MaxConnectionsPerAddress int `yaml:"max_connections_per_address" default:"4" doc:"connections served at once from one remote IP address; more are closed on accept and counted. 0 turns the cap off; raise it when many transmission devices share one public address (NAT)."`
	// HandshakeTimeout frees the slot of a socket that never speaks the
	// protocol long before comm_loss_after would.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout" default:"5s" doc:"a connection that has not sent a valid frame (from an allowed address) this long after accept is closed and counted. Devices send at once on connecting; one that waits for its first heartbeat needs more than its heartbeat period."`
	// The standard's resend rule: wait at most 10 s for a confirm, try 3 times.
	CommandTimeout time.Duration `yaml:"command_timeout" default:"10s" doc:"how long a clock-sync or duty-check command waits for the device's confirm before it is sent again."`
	CommandTries   int           `yaml:"command_tries" default:"3" doc:"how many times a command is sent before it fails."`
}

// maxAddress is the largest 6-byte transmission device address.
const maxAddress = 1<<48 - 1

// checkConfig checks a gb26875 listener's own keys.
func checkConfig(c *config.Checker, dev *config.Device) {
	cfg := dev.Block.(*Config)
	if dev.URL != "" {
		c.Errorf("url", "gb26875 device %q: url is not used; a listener binds listen: host:port", dev.ID)
	}
	if cfg.Listen == "" {
		c.Errorf("", "gb26875 device %q: missing required key \"listen\" (host:port to accept transmission devices on)", dev.ID)
	} else if _, port, err := net.SplitHostPort(cfg.Listen); err != nil || port == "" {
		c.Errorf("listen", "gb26875 device %q: bad listen address %q: want host:port", dev.ID, cfg.Listen)
	}
	seen := make(map[uint64]int)
	for i, a := range cfg.Allow {
		ap := fmt.Sprintf("allow[%d]", i)
		v, err := strconv.ParseUint(a, 10, 64)
		if err != nil || v > maxAddress {
			c.Errorf(ap, "gb26875 device %q: allow entry %q is not an address (a decimal number up to %d)", dev.ID, a, uint64(maxAddress))
			continue
		}
		if first, dup := seen[v]; dup {
			c.Errorf(ap, "gb26875 device %q: address %q is already allowed (allow[%d])", dev.ID, a, first)
		}
		seen[v] = i
	}
	if cfg.Heartbeat <= 0 {
		c.Errorf("heartbeat", "gb26875 device %q: heartbeat must be positive", dev.ID)
	}
	if cfg.CommLossAfter < 1 {
		c.Errorf("comm_loss_after", "gb26875 device %q: comm_loss_after must be at least 1", dev.ID)
	}
	if cfg.MaxConnections < 1 {
		c.Errorf("max_connections", "gb26875 device %q: max_connections must be at least 1", dev.ID)
	}
	if cfg.MaxConnectionsPerAddress < 0 {
		c.Errorf("max_connections_per_address", "gb26875 device %q: max_connections_per_address must be 0 (no cap) or more", dev.ID)
	}
	if cfg.HandshakeTimeout <= 0 {
		c.Errorf("handshake_timeout", "gb26875 device %q: handshake_timeout must be positive", dev.ID)
	}
	if cfg.CommandTimeout <= 0 {
		c.Errorf("command_timeout", "gb26875 device %q: command_timeout must be positive", dev.ID)
	}
	if cfg.CommandTries < 1 {
		c.Errorf("command_tries", "gb26875 device %q: command_tries must be at least 1", dev.ID)
	}
}
