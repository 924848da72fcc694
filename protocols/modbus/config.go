package modbus

import (
	"fmt"
	"net/url"
	"sort"

	"hazgate/config"
)

var (
	tables     = []string{"coil", "discrete", "holding", "input"}
	regTypes   = []string{"bool", "uint16", "int16", "uint32", "int32", "uint64", "int64", "float32", "float64"}
	byteOrders = []string{"ABCD", "CDAB", "BADC", "DCBA"}
	parities   = []string{"none", "even", "odd"}
	// modbusSchemes are the transports simonvetter/modbus understands.
	modbusSchemes = []string{"tcp", "rtu", "rtuovertcp", "rtuoverudp", "udp", "tcp+tls"}
)

// Config is the keys only Modbus devices have, flat under the device in
// YAML. Devices with the same url share one connection (one serial port,
// one RTU-over-TCP bridge) and must agree on its serial settings, timeout
// and tls.
type Config struct {
	UnitID    uint8  `yaml:"unit_id" default:"1" doc:"Modbus unit (slave) id."`
	ByteOrder string `yaml:"byte_order" default:"ABCD" doc:"Byte and word order of multi-register values: ABCD (big-endian, high word first), CDAB (word-swapped), BADC (byte-swapped), DCBA (little-endian). A register's own byte_order overrides it."`
	// Serial settings; rtuovertcp uses Speed for its line timing too.
	Speed    uint   `yaml:"speed" default:"9600" doc:"Serial line speed in baud (rtu; rtuovertcp uses it for frame timing)."`
	DataBits uint   `yaml:"data_bits" default:"8" doc:"Serial data bits: 7 or 8."`
	Parity   string `yaml:"parity" default:"none" doc:"Serial parity: none, even or odd."`
	StopBits uint   `yaml:"stop_bits" default:"1" doc:"Serial stop bits: 1 or 2."`
	Retries  int    `yaml:"retries" default:"1" doc:"Times a request is repeated after a timeout or a garbled reply before the device counts as lost (0-10)."`
	// Request planning.
	MaxGap       *uint16 `yaml:"max_gap" doc:"Unused registers a merged read may span. Default 8."`
	MaxGapBits   *uint16 `yaml:"max_gap_bits" doc:"Unused coils or discrete inputs a merged read may span. Default 64."`
	MaxRegisters uint16  `yaml:"max_registers" default:"125" doc:"Most registers one read asks for (1-125), for devices with a smaller limit."`
	SingleReads  bool    `yaml:"single_reads" doc:"Read every tag with a request of its own instead of merging reads, for devices that refuse multi-register reads. Default false."`
}

// TagConfig is the key a Modbus tag adds: where its value is.
type TagConfig struct {
	Register *Register `yaml:"register" doc:"Where the tag's value is."`
}

// Register locates and decodes a Modbus value.
type Register struct {
	Table     string  `yaml:"table" required:"true" doc:"coil, discrete, holding or input."`
	Address   uint16  `yaml:"address" doc:"0-based register or bit address."`
	Type      string  `yaml:"type" doc:"uint16, int16, uint32, int32, uint64, int64, float32 or float64; bool for coil and discrete. Default uint16 for registers, bool for bits."`
	ByteOrder string  `yaml:"byte_order" doc:"ABCD, CDAB, BADC or DCBA for this value; default the device's byte_order."`
	Bit       *uint8  `yaml:"bit" doc:"0-15: the value is this bit of a uint16 register (0 or 1), for status words."`
	Scale     float64 `yaml:"scale" default:"1" doc:"Multiplier: value = raw*scale + offset."`
	Offset    float64 `yaml:"offset" doc:"Added after scale. Default 0."`
	// Raw and Range make the register a 4-20 mA channel: Raw[0] is 4 mA,
	// Raw[1] 20 mA, mapped linearly onto Range.
	Raw   []float64 `yaml:"raw" doc:"Raw readings at 4 mA and 20 mA, for example [4000, 20000]; with range, a 4-20 mA channel checked against bands."`
	Range []float64 `yaml:"range" doc:"Engineering values at 4 mA and 20 mA, for example [0, 100]."`
	Bands *Bands    `yaml:"bands" doc:"Fault limits of a 4-20 mA channel. Default NAMUR NE 43: 3.6 and 21.0 mA."`
	// States makes the register a state code; each name also gets a 0/1 tag
	// <tag id>.<name>.
	States map[int]string `yaml:"states" doc:"State code names, for example {0: normal, 1: alarm, 2: fault}: the tag's value is the code and each state gets a 0/1 tag <id>.<name>."`
}

// Bands are a 4-20 mA channel's fault limits, in mA. At or below Low or at
// or above High the signal means a sensor fault; between a limit and 4 or 20
// mA the reading is saturated (quality uncertain).
type Bands struct {
	Low  float64 `yaml:"fault_low" default:"3.6" doc:"At or below this current (mA) the channel is faulty."`
	High float64 `yaml:"fault_high" default:"21" doc:"At or above this current (mA) the channel is faulty."`
}

// regWords is how many registers a register type takes.
func regWords(typ string) int {
	switch typ {
	case "uint32", "int32", "float32":
		return 2
	case "uint64", "int64", "float64":
		return 4
	}
	return 1
}

func checkRegister(c *config.Checker, dev *config.Device, t *config.Tag, p string) {
	r := RegisterOf(*t)
	if r == nil {
		c.Errorf(p, "tag %q on modbus device %q: missing register", t.ID, dev.ID)
		return
	}
	p += ".register"
	c.Enum(p+".table", "register table", r.Table, tables)
	if r.Type != "" {
		c.Enum(p+".type", "register type", r.Type, regTypes)
	}
	if r.ByteOrder != "" {
		c.Enum(p+".byte_order", "byte order", r.ByteOrder, byteOrders)
	}
	bits := r.Table == "coil" || r.Table == "discrete"
	if bits && r.Type != "" && r.Type != "bool" {
		c.Errorf(p+".type", "tag %q: %s table holds bits; type must be bool, not %q", t.ID, r.Table, r.Type)
	}
	if !bits && r.Type == "bool" {
		c.Errorf(p+".type", "tag %q: bool needs table coil or discrete, not %q", t.ID, r.Table)
	}
	if int(r.Address)+regWords(r.Type) > 65536 {
		c.Errorf(p+".address", "tag %q: %s at address %d runs past register 65535", t.ID, r.Type, r.Address)
	}
	if r.Scale == 0 {
		c.Errorf(p+".scale", "tag %q: scale 0 makes every reading 0", t.ID)
	}
	scaled := r.Scale != 1 || r.Offset != 0
	// Only one of bit, raw/range and states says what the number means.
	var kinds []string
	if r.Bit != nil {
		kinds = append(kinds, "bit")
		if *r.Bit > 15 {
			c.Errorf(p+".bit", "tag %q: bit %d: a register has bits 0-15", t.ID, *r.Bit)
		}
		if r.Type != "" && r.Type != "uint16" && r.Type != "int16" {
			c.Errorf(p+".bit", "tag %q: bit needs a 16-bit register (type uint16), not %s", t.ID, r.Type)
		}
	}
	if r.Raw != nil || r.Range != nil {
		kinds = append(kinds, "raw/range")
		checkAnalog(c, t, r, p)
	} else if r.Bands != nil {
		c.Errorf(p+".bands", "tag %q: bands need raw and range (a 4-20 mA channel)", t.ID)
	}
	if r.States != nil {
		kinds = append(kinds, "states")
		checkStates(c, t, r, p)
	}
	if bits && len(kinds) > 0 {
		c.Errorf(p+".table", "tag %q: %s on a %s table: it applies to registers only", t.ID, kinds[0], r.Table)
	}
	if len(kinds) > 1 {
		c.Errorf(p, "tag %q: %s and %s cannot both be set", t.ID, kinds[0], kinds[1])
	}
	if len(kinds) > 0 && scaled {
		c.Errorf(p+".scale", "tag %q: scale and offset do not apply with %s", t.ID, kinds[0])
	}
}

func checkAnalog(c *config.Checker, t *config.Tag, r *Register, p string) {
	if len(r.Raw) != 2 || len(r.Range) != 2 {
		c.Errorf(p, "tag %q: raw and range both need two values, [at 4 mA, at 20 mA]", t.ID)
		return
	}
	if r.Raw[0] == r.Raw[1] {
		c.Errorf(p+".raw", "tag %q: raw [%v, %v] is empty: the 4 mA and 20 mA readings must differ", t.ID, r.Raw[0], r.Raw[1])
	}
	if b := r.Bands; b != nil && !(b.Low < 4 && b.High > 20) {
		c.Errorf(p+".bands", "tag %q: bands [%v, %v] mA must lie outside 4-20 mA (fault_low < 4, fault_high > 20)", t.ID, b.Low, b.High)
	}
	if r.Type == "bool" {
		c.Errorf(p+".type", "tag %q: raw/range needs a numeric register type", t.ID)
	}
}

func checkStates(c *config.Checker, t *config.Tag, r *Register, p string) {
	if len(r.States) == 0 {
		c.Errorf(p+".states", "tag %q: states is empty", t.ID)
	}
	if r.Type == "float32" || r.Type == "float64" {
		c.Errorf(p+".type", "tag %q: a state code is an integer, not %s", t.ID, r.Type)
	}
	codes := make([]int, 0, len(r.States))
	for code := range r.States {
		codes = append(codes, code)
	}
	sort.Ints(codes)
	seen := make(map[string]int, len(codes))
	for _, code := range codes {
		name := r.States[code]
		at := fmt.Sprintf("%s.states[%d]", p, code)
		switch prev, dup := seen[name]; {
		case name == "":
			c.Errorf(at, "tag %q: state %d has no name", t.ID, code)
		case dup:
			c.Errorf(at, "tag %q: states %d and %d share the name %q", t.ID, prev, code, name)
		case url.PathEscape(name) != name:
			c.Errorf(at, "tag %q: state name %q becomes tag id %s.%s: use letters, digits, - and _", t.ID, name, t.ID, name)
		}
		seen[name] = code
	}
}

// checkConfig checks a modbus device's transport URL, settings and registers.
func checkConfig(c *config.Checker, dev *config.Device) {
	if dev.URL == "" {
		c.Errorf("", "missing required key %q in %s", "url", c.Path(""))
		return
	}
	u := c.URL("url", dev.URL, modbusSchemes, false)
	if u != nil && u.Scheme != "rtu" && u.Host == "" {
		c.Errorf("url", "device %q: url %q has no host:port", dev.ID, config.RedactURL(dev.URL))
	}
	if u != nil && u.Scheme == "rtu" && u.Path == "" {
		c.Errorf("url", "device %q: url %q has no serial device (rtu:///dev/ttyS0)", dev.ID, config.RedactURL(dev.URL))
	}
	if u != nil && u.Scheme == "tcp+tls" && (dev.TLS == nil || dev.TLS.CA == "" || dev.TLS.Cert == "" || dev.TLS.Key == "") {
		c.Errorf("url", "device %q: tcp+tls needs tls: {ca, cert, key} (Modbus/TLS authenticates the client by its certificate)", dev.ID)
	}
	m := dev.Block.(*Config)
	c.Enum("byte_order", "byte order", m.ByteOrder, byteOrders)
	c.Enum("parity", "parity", m.Parity, parities)
	if m.Speed == 0 {
		c.Errorf("speed", "device %q: speed must be positive", dev.ID)
	}
	if m.DataBits != 7 && m.DataBits != 8 {
		c.Errorf("data_bits", "device %q: data_bits %d: want 7 or 8", dev.ID, m.DataBits)
	}
	if m.StopBits != 1 && m.StopBits != 2 {
		c.Errorf("stop_bits", "device %q: stop_bits %d: want 1 or 2", dev.ID, m.StopBits)
	}
	if m.Retries < 0 || m.Retries > 10 {
		c.Errorf("retries", "device %q: retries %d: want 0-10", dev.ID, m.Retries)
	}
	if m.MaxRegisters < 1 || m.MaxRegisters > 125 {
		c.Errorf("max_registers", "device %q: max_registers %d: want 1-125", dev.ID, m.MaxRegisters)
	}
	for j := range dev.Tags {
		checkRegister(c, dev, &dev.Tags[j], fmt.Sprintf("tags[%d]", j))
	}
}

// RegisterOf is a Modbus tag's register, nil when its config has none.
func RegisterOf(t config.Tag) *Register {
	if tc, ok := t.Block.(*TagConfig); ok {
		return tc.Register
	}
	return nil
}
