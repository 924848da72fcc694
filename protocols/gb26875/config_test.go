package gb26875

import (
	"hazgate/config/configtest"
	"slices"
	"strings"
	"testing"
	"time"

	"hazgate/config"
)

const gbBase = `site: {id: s}
devices:
  - id: fire-centre
    protocol: gb26875
    listen: 0.0.0.0:9026
    allow: [000000001234, "889"]
`

func TestGB26875Example(t *testing.T) {
	cfg, err := config.Parse("g.yaml", []byte(gbBase), configtest.Env(nil))
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Devices[0].Block.(*Config)
	if d.Listen != "0.0.0.0:9026" || !slices.Equal(d.Allow, []string{"000000001234", "889"}) || d.Heartbeat != 30*time.Second ||
		d.CommLossAfter != 3 || d.MaxConnections != 2000 || d.CommandTimeout != 10*time.Second || d.CommandTries != 3 ||
		d.MaxConnectionsPerAddress != 4 || d.HandshakeTimeout != 5*time.Second {
		t.Errorf("device = %+v", d)
	}
}

func TestGB26875Problems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"no listen", strings.Replace(gbBase, "    listen: 0.0.0.0:9026\n", "", 1), []string{`3:5: gb26875 device "fire-centre": missing required key "listen"`}},
		{"bad listen", strings.Replace(gbBase, "0.0.0.0:9026", "9026", 1), []string{`5:13: gb26875 device "fire-centre": bad listen address "9026"`}},
		{"url", gbBase + "    url: tcp://h:1\n", []string{`7:10: gb26875 device "fire-centre": url is not used`}},
		{"bad address", strings.Replace(gbBase, `"889"`, `"0x12"`, 1), []string{`6:27: gb26875 device "fire-centre": allow entry "0x12" is not an address`}},
		{"address too big", strings.Replace(gbBase, `"889"`, `"281474976710656"`, 1), []string{`allow entry "281474976710656" is not an address`}},
		{"duplicate address", strings.Replace(gbBase, `"889"`, `"1234"`, 1), []string{`6:27: gb26875 device "fire-centre": address "1234" is already allowed (allow[0])`}},
		{"zero heartbeat", gbBase + "    heartbeat: 0s\n", []string{`7:16: gb26875 device "fire-centre": heartbeat must be positive`}},
		{"comm loss 0", gbBase + "    comm_loss_after: 0\n", []string{`7:22: gb26875 device "fire-centre": comm_loss_after must be at least 1`}},
		{"max connections", gbBase + "    max_connections: -1\n", []string{`7:22: gb26875 device "fire-centre": max_connections must be at least 1`}},
		{"per address", gbBase + "    max_connections_per_address: -1\n", []string{`7:34: gb26875 device "fire-centre": max_connections_per_address must be 0 (no cap) or more`}},
		{"handshake timeout", gbBase + "    handshake_timeout: 0s\n", []string{`7:24: gb26875 device "fire-centre": handshake_timeout must be positive`}},
		{"command timeout", gbBase + "    command_timeout: 0s\n", []string{`command_timeout must be positive`}},
		{"command tries", gbBase + "    command_tries: 0\n", []string{`command_tries must be at least 1`}},
		{"register", gbBase + "    tags:\n      - {id: X, register: {table: input}}\n", []string{`8:17: unknown key "register" in devices[0].tags[0]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			configtest.Problems(t, "c.yaml", tt.yaml, nil, tt.want...)
		})
	}
}
