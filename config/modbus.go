package config

import "fmt"

var (
	tables   = []string{"coil", "discrete", "holding", "input"}
	regTypes = []string{"bool", "uint16", "int16", "uint32", "int32", "float32"}
	// modbusSchemes are the transports simonvetter/modbus understands.
	modbusSchemes = []string{"tcp", "rtu", "rtuovertcp", "rtuoverudp", "udp", "tcp+tls"}
)

// ModbusDevice holds the keys only Modbus devices have.
type ModbusDevice struct {
	UnitID uint8 `yaml:"unit_id" default:"1" doc:"Modbus unit (slave) id."`
}

// Register locates and decodes a Modbus value.
type Register struct {
	Table   string  `yaml:"table" required:"true" doc:"coil, discrete, holding or input."`
	Address uint16  `yaml:"address" doc:"0-based register or bit address."`
	Type    string  `yaml:"type" doc:"uint16, int16, uint32, int32 or float32; bool for coil and discrete. Default uint16 for registers, bool for bits."`
	Scale   float64 `yaml:"scale" default:"1" doc:"Multiplier: value = raw*scale + offset."`
	Offset  float64 `yaml:"offset" doc:"Added after scale. Default 0."`
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

// validateModbus checks a modbus device's transport URL and registers.
func (d *decoder) validateModbus(dev *Device, p string) {
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
