package modbus

import (
	"hazgate/config/configtest"
	"os"
	"strings"
	"testing"
	"time"

	"hazgate/config"
)

const modbusBase = `site: {id: s}
devices:
  - id: bus-1
    protocol: modbus
    url: rtu:///dev/ttyS1
    speed: 19200
    parity: even
    byte_order: CDAB
    tags:
      - id: T1
        register: {table: input, address: 0}
`

func TestModbusKeys(t *testing.T) {
	cfg, err := config.Parse("m.yaml", []byte(modbusBase+`      - id: T2
        register: {table: holding, address: 30, bit: 3}
      - id: T3
        register: {table: input, address: 5, raw: [4000, 20000], range: [0, 100], bands: {fault_low: 1}}
      - id: T4
        register: {table: holding, address: 40, states: {0: normal, 1: alarm, 2: fault}, byte_order: BADC}
`), configtest.Env(nil))
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Devices[0]
	m := configOf(d)
	if m.Speed != 19200 || m.Parity != "even" || m.DataBits != 8 || m.StopBits != 1 || m.ByteOrder != "CDAB" || m.Retries != 1 ||
		m.MaxRegisters != 125 || m.MaxGap != nil || m.SingleReads {
		t.Errorf("modbus keys %+v", m)
	}
	if r := RegisterOf(d.Tags[1]); r.Bit == nil || *r.Bit != 3 {
		t.Errorf("bit: %+v", r)
	}
	if r := RegisterOf(d.Tags[2]); len(r.Raw) != 2 || r.Range[1] != 100 || r.Bands == nil || r.Bands.Low != 1 || r.Bands.High != 21 {
		t.Errorf("4-20 mA: %+v %+v", r, r.Bands)
	}
	if r := RegisterOf(d.Tags[3]); r.States[2] != "fault" || r.ByteOrder != "BADC" {
		t.Errorf("states: %+v", r)
	}
}

func TestModbusProblems(t *testing.T) {
	tag := func(reg string) string {
		return modbusBase + "      - id: T2\n        register: " + reg + "\n"
	}
	tests := []struct {
		name string
		yaml string
		want string // "LINE:COL: substring"
	}{
		{"byte order", strings.Replace(modbusBase, "CDAB", "CBAD", 1), `8:17: devices[0].byte_order: unknown byte order "CBAD"`},
		{"parity", strings.Replace(modbusBase, "even", "mark", 1), `7:13: devices[0].parity: unknown parity "mark"`},
		{"speed", strings.Replace(modbusBase, "19200", "0", 1), `6:12: device "bus-1": speed must be positive`},
		{"stop bits", strings.Replace(modbusBase, "parity: even", "stop_bits: 3", 1), `7:16: device "bus-1": stop_bits 3: want 1 or 2`},
		{"data bits", strings.Replace(modbusBase, "parity: even", "data_bits: 9", 1), `7:16: device "bus-1": data_bits 9`},
		{"retries", strings.Replace(modbusBase, "parity: even", "retries: 11", 1), `7:14: device "bus-1": retries 11: want 0-10`},
		{"max registers", strings.Replace(modbusBase, "parity: even", "max_registers: 126", 1), `7:20: device "bus-1": max_registers 126`},
		{"tls without certs", strings.Replace(modbusBase, "rtu:///dev/ttyS1", "tcp+tls://plc:802", 1), `5:10: device "bus-1": tcp+tls needs tls: {ca, cert, key}`},
		{"tag byte order", tag("{table: input, address: 1, byte_order: abcd}"), `13:58: devices[0].tags[1].register.byte_order: unknown byte order "abcd"`},
		{"float64 past end", tag("{table: input, address: 65533, type: float64}"), `13:43: tag "T2": float64 at address 65533 runs past`},
		{"bit 16", tag("{table: holding, address: 1, bit: 16}"), `13:53: tag "T2": bit 16: a register has bits 0-15`},
		{"bit of a float", tag("{table: holding, address: 1, type: float32, bit: 1}"), `13:68: tag "T2": bit needs a 16-bit register`},
		{"bit on a coil", tag("{table: coil, address: 1, bit: 1}"), `13:27: tag "T2": bit on a coil table`},
		{"raw without range", tag("{table: input, address: 1, raw: [4000, 20000]}"), `13:19: tag "T2": raw and range both need two values`},
		{"empty raw", tag("{table: input, address: 1, raw: [4000, 4000], range: [0, 1]}"), `13:51: tag "T2": raw [4000, 4000] is empty`},
		{"bands inside 4-20", tag("{table: input, address: 1, raw: [0, 1], range: [0, 1], bands: {fault_low: 5}}"), `13:81: tag "T2": bands [5, 21] mA must lie outside 4-20 mA`},
		{"bands alone", tag("{table: input, address: 1, bands: {fault_low: 1}}"), `13:53: tag "T2": bands need raw and range`},
		{"scaled 4-20 mA", tag("{table: input, address: 1, raw: [0, 1], range: [0, 1], scale: 2}"), `13:81: tag "T2": scale and offset do not apply with raw/range`},
		{"bit and states", tag("{table: input, address: 1, bit: 1, states: {0: a}}"), `13:19: tag "T2": bit and states cannot both be set`},
		{"float states", tag("{table: input, address: 1, type: float32, states: {0: a}}"), `13:52: tag "T2": a state code is an integer`},
		{"duplicate state name", tag("{table: input, address: 1, states: {0: a, 1: a}}"), `13:64: tag "T2": states 0 and 1 share the name "a"`},
		{"state name with a space", tag("{table: input, address: 1, states: {0: \"on fire\"}}"), `13:58: tag "T2": state name "on fire" becomes tag id T2.on fire`},
		{"scale 0", tag("{table: input, address: 1, scale: 0}"), `13:53: tag "T2": scale 0 makes every reading 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("m.yaml", []byte(tt.yaml), configtest.Env(nil))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), "m.yaml:"+tt.want) {
				t.Errorf("got\n%v\nwant m.yaml:%s", err, tt.want)
			}
		})
	}
}

func TestFoundationExample(t *testing.T) {
	data, err := os.ReadFile("testdata/foundation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("foundation.yaml", data, configtest.Env(map[string]string{"INFLUX_TOKEN": "user:pass"}))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if cfg.Site.ID != "cz-demo-01" || cfg.Site.Name != "演示化工有限公司" {
		t.Errorf("site = %+v", cfg.Site)
	}
	if cfg.InfluxDB == nil || cfg.InfluxDB.Token != "user:pass" || cfg.InfluxDB.Bucket != "hazgate/autogen" {
		t.Fatalf("influxdb = %+v", cfg.InfluxDB)
	}
	if cfg.InfluxDB.BatchSize != 5000 || cfg.InfluxDB.FlushInterval != time.Second {
		t.Errorf("influxdb defaults not applied: %+v", cfg.InfluxDB)
	}
	dev := cfg.Devices[0]
	if dev.Interval != time.Second || dev.Timeout != 500*time.Millisecond || configOf(dev).UnitID != 1 {
		t.Errorf("device = %+v", dev)
	}
	r := RegisterOf(dev.Tags[0])
	if r.Table != "input" || r.Address != 0 || r.Type != "uint16" || r.Scale != 0.1 || r.Offset != 0 {
		t.Errorf("register = %+v", r)
	}
	if len(cfg.Rules) != 2 || *cfg.Rules[1].Above != 50 || cfg.Rules[1].Severity != "high" {
		t.Errorf("rules = %+v", cfg.Rules)
	}
}

// base is one modbus device with one tag, for the problems below.
const base = `site: {id: s}
devices:
  - id: gds-1
    protocol: modbus
    url: tcp://127.0.0.1:5020
    interval: 1s
    tags:
      - id: T1
        register: {table: input, address: 0}
`

// TestRegisterProblems: what only Modbus knows of a device's url and a
// tag's register is reported at its line and column.
func TestRegisterProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want []string
	}{
		{"url without host", strings.Replace(base, "tcp://127.0.0.1:5020", "tcp://", 1), nil, []string{`5:10: device "gds-1": url "tcp://" has no host:port`}},
		{"unknown table", strings.Replace(base, "table: input", "table: inputs", 1), nil, []string{`9:27: devices[0].tags[0].register.table: unknown register table "inputs"`}},
		{"bool on registers", strings.Replace(base, "address: 0", "address: 0, type: bool", 1), nil, []string{`9:52: tag "T1": bool needs table coil or discrete`}},
		{"float past end", strings.Replace(base, "address: 0", "address: 65535, type: float32", 1), nil, []string{`9:43: tag "T1": float32 at address 65535 runs past`}},
		{"register on another protocol's tag", "site: {id: s}\ndevices:\n  - {id: m, protocol: other, url: \"tcp://h:1\", tags: [{id: X, register: {table: input}}]}\n", nil,
			[]string{`unknown key "register" in devices[0].tags[0]: it is a modbus key, not one of other`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			configtest.Problems(t, "c.yaml", tt.yaml, tt.env, tt.want...)
		})
	}
}
