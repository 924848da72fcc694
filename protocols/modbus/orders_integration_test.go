package modbus_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"testing"
	"time"

	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols/modbus"
	"hazgate/protocols/modbus/modbustest"
)

var orders = []string{"ABCD", "CDAB", "BADC", "DCBA"}

// values are written to the peer in each byte order and must read back as want.
var values = []struct {
	typ, val string
	want     float64
}{
	{"uint16", "4660", 4660},
	{"int16", "-2", -2},
	{"uint32", "287454020", 287454020},
	{"int32", "-123456", -123456},
	{"float32", "-123.456", float64(float32(-123.456))},
	{"uint64", "1099511627783", 1099511627783},
	{"int64", "-1234567890123", -1234567890123},
	{"float64", "1234.5678", 1234.5678},
}

// words is how many registers a type takes.
func words(typ string) uint16 {
	switch typ {
	case "uint32", "int32", "float32":
		return 2
	case "uint64", "int64", "float64":
		return 4
	}
	return 1
}

// peerUnit is what one unit of a peer holds and what its device must read.
type peerUnit struct {
	holding []string // pymodbus ADDR=TYPE/ORDER:VAL specs
	tags    []config.Tag
	want    map[string]float64
}

// orderUnit lays every value out in byte order order, plus a status word
// 0x0108 (bits 3 and 8 set) in that order. With devOrder "" the order is
// the device's; otherwise the device reads devOrder and each tag overrides it.
func orderUnit(prefix, order string, perTag bool) peerUnit {
	u := peerUnit{want: map[string]float64{}}
	var addr uint16
	add := func(id string, r modbus.Register, want float64) {
		if perTag {
			r.ByteOrder = order
		}
		r.Table, r.Address = "holding", addr
		u.tags = append(u.tags, config.Tag{ID: prefix + id, Block: &modbus.TagConfig{Register: &r}})
		u.want[prefix+id] = want
	}
	for _, v := range values {
		u.holding = append(u.holding, fmt.Sprintf("%d=%s/%s:%s", addr, v.typ, order, v.val))
		add(v.typ, modbus.Register{Type: v.typ, Scale: 1}, v.want)
		addr += words(v.typ)
	}
	u.holding = append(u.holding, fmt.Sprintf("%d=uint16/%s:264", addr, order)) // 0x0108
	for _, b := range []uint8{0, 3, 8, 15} {
		add(fmt.Sprintf("bit%d", b), modbus.Register{Bit: &b, Scale: 1}, map[uint8]float64{3: 1, 8: 1}[b])
	}
	return u
}

// orderDevices builds units 1-4 (one per order, as the device's byte_order)
// and unit 5 (device ABCD, every tag overriding it with another order).
func orderDevices(url string, interval time.Duration) (map[int]modbustest.Values, []config.Device, map[string]float64) {
	peer := map[int]modbustest.Values{}
	want := map[string]float64{}
	var devs []config.Device
	mk := func(unit int, devOrder string, us ...peerUnit) {
		dev := config.Device{ID: fmt.Sprintf("unit%d", unit), Protocol: "modbus", URL: url, Interval: interval, Timeout: 500 * time.Millisecond,
			Block: &modbus.Config{UnitID: uint8(unit), ByteOrder: devOrder, Speed: 38400}}
		var pv modbustest.Values
		for _, u := range us {
			dev.Tags = append(dev.Tags, u.tags...)
			pv.Holding = append(pv.Holding, u.holding...)
			for k, v := range u.want {
				want[k] = v
			}
		}
		peer[unit] = pv
		devs = append(devs, dev)
	}
	for i, o := range orders {
		mk(i+1, o, orderUnit(fmt.Sprintf("u%d-%s-", i+1, o), o, false))
	}
	// Unit 5: the four orders side by side, each 24 registers apart.
	var mixed []peerUnit
	for i, o := range orders {
		u := orderUnit(fmt.Sprintf("u5-%s-", o), o, true)
		base := uint16(24 * i)
		for j := range u.tags {
			modbus.RegisterOf(u.tags[j]).Address += base
		}
		for j, h := range u.holding {
			var a int
			var rest string
			fmt.Sscanf(h, "%d=%s", &a, &rest)
			u.holding[j] = fmt.Sprintf("%d=%s", a+int(base), rest)
		}
		mixed = append(mixed, u)
	}
	mk(5, "ABCD", mixed...)
	return peer, devs, want
}

// runDevices runs a poller per device until the test ends; each device's
// batches arrive on its channel.
func runDevices(t *testing.T, devs []config.Device) (map[string]chan []collector.Sample, map[string]*modbus.Poller) {
	t.Helper()
	chans := map[string]chan []collector.Sample{}
	pollers := map[string]*modbus.Poller{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, len(devs))
	for _, dev := range devs {
		ch := make(chan []collector.Sample, 1000)
		p, err := modbus.New("site", dev, chanEmitter(ch), slog.New(slog.NewTextHandler(testWriter{t}, nil)))
		if err != nil {
			t.Fatal(err)
		}
		chans[dev.ID], pollers[dev.ID] = ch, p
		go func() {
			if err := p.Run(ctx); err != nil {
				t.Errorf("%s: %v", dev.ID, err)
			}
			done <- struct{}{}
		}()
	}
	t.Cleanup(func() {
		cancel()
		for range devs {
			<-done
		}
	})
	return chans, pollers
}

func next(t *testing.T, ch chan []collector.Sample, within time.Duration) []collector.Sample {
	t.Helper()
	select {
	case b := <-ch:
		return b
	case <-time.After(within):
		t.Fatalf("no batch in %v", within)
		return nil
	}
}

func checkValues(t *testing.T, dev string, b []collector.Sample, want map[string]float64) {
	t.Helper()
	for _, s := range b {
		w, ok := want[s.Tag]
		if !ok {
			t.Errorf("%s: unexpected tag %s", dev, s.Tag)
			continue
		}
		if s.Quality != collector.Good || math.Abs(s.Value-w) > 1e-9*math.Max(1, math.Abs(w)) {
			t.Errorf("%s: %s = %v (%v %q), want %v", dev, s.Tag, s.Value, s.Quality, s.Reason, w)
		}
	}
}

// Every type in every byte order, from pymodbus over Modbus TCP: five units
// behind one socket (a Modbus TCP gateway), polled through one connection.
func TestPymodbusByteOrdersTCP(t *testing.T) {
	srv := modbustest.StartPymodbus(t, modbustest.Values{Unit: 99, Size: 200})
	peer, devs, want := orderDevices("", 200*time.Millisecond)
	srv.Kill()
	srv = modbustest.StartPymodbus(t, modbustest.Values{Unit: 99, Size: 200, Units: peer})
	for i := range devs {
		devs[i].URL = srv.URL()
	}
	chans, pollers := runDevices(t, devs)
	for _, dev := range devs {
		for range 2 { // a second poll reads the same through the kept connection
			checkValues(t, dev.ID, next(t, chans[dev.ID], 10*time.Second), want)
		}
		if s := pollers[dev.ID].Stats(); s.Errors != 0 || s.Exceptions != 0 || s.RTT.Count == 0 {
			t.Errorf("%s: stats %+v", dev.ID, s)
		}
	}
}

// The same over Modbus RTU on a serial line (a socat pty pair): five units
// and a sixth that is dead share the port. The dead one is comm_loss every
// poll and costs only its own timeouts; the others keep reading. Killing the
// peer turns every tag comm_loss within 3 intervals; restarting it brings
// the values back without restarting anything here.
func TestPymodbusRTUBus(t *testing.T) {
	const interval = 300 * time.Millisecond
	peer, devs, want := orderDevices("", interval)
	srv := modbustest.StartPymodbusRTU(t, modbustest.Values{Unit: 99, Size: 200, Units: peer}, 38400)
	dead := config.Device{ID: "dead", Protocol: "modbus", Interval: interval, Timeout: 100 * time.Millisecond,
		Block: &modbus.Config{UnitID: 9, Speed: 38400, Retries: 1},
		Tags:  []config.Tag{{ID: "dead-1", Block: &modbus.TagConfig{Register: &modbus.Register{Table: "input", Address: 0, Scale: 1}}}}}
	devs = append(devs, dead)
	for i := range devs {
		devs[i].URL = srv.URL()
		devs[i].Timeout = dead.Timeout // one connection, one timeout
	}
	chans, pollers := runDevices(t, devs)
	for range 3 {
		for _, dev := range devs[:5] {
			checkValues(t, dev.ID, next(t, chans[dev.ID], 10*time.Second), want)
		}
		for _, s := range next(t, chans["dead"], 10*time.Second) {
			if s.Quality != collector.Bad || s.Reason != collector.ReasonCommLoss {
				t.Errorf("dead unit: %+v, want comm_loss", s)
			}
		}
	}
	// Every request to the dead unit times out; the next poll's first may
	// be in flight as the stats are read (seen under load: 7 sent, 6 timed
	// out), never more than one on the one connection.
	if s := pollers["dead"].Stats(); s.Timeouts < 2*3 || s.Requests < s.Timeouts || s.Requests-s.Timeouts > 1 {
		t.Errorf("dead unit stats %+v: want 2 timed-out attempts (1 retry) per poll", s)
	}
	if s := pollers["unit1"].Stats(); s.Errors != 0 {
		t.Errorf("unit1 stats %+v: the dead neighbour cost it errors", s)
	}

	srv.Kill()
	for _, dev := range devs[:5] {
		ch := chans[dev.ID]
		for len(ch) > 0 { // batches read before the kill
			<-ch
		}
		for n := 1; ; n++ {
			b := next(t, ch, 10*time.Second)
			if b[0].Quality == collector.Bad && b[0].Reason == collector.ReasonCommLoss {
				break
			}
			if n >= 3 {
				t.Fatalf("%s: 3 polls after the kill, still %+v", dev.ID, b[0])
			}
		}
	}
	srv.Restart()
	for _, dev := range devs[:5] {
		for n := 1; ; n++ {
			b := next(t, chans[dev.ID], 10*time.Second)
			if b[0].Quality == collector.Good {
				checkValues(t, dev.ID, b, want)
				break
			}
			if n > 20 {
				t.Fatalf("%s: 20 polls after the restart, still %+v", dev.ID, b[0])
			}
		}
	}
}
