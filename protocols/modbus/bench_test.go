package modbus

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"hazgate/collector"
	"hazgate/config"
)

// benchDevice is bench/modbus's register map for n tags (a multiple of 10):
// half adjacent input registers, a fifth float32 CDAB two registers apart,
// a fifth status-word bits, a tenth coils; scale applies to the inputs.
func benchDevice(n int, scale float64) config.Device {
	var tags []config.Tag
	add := func(id string, r Register) {
		tags = append(tags, config.Tag{ID: id, Block: &TagConfig{Register: &r}})
	}
	k := n / 10
	for i := range 5 * k {
		add(fmt.Sprintf("in%d", i), Register{Table: "input", Address: uint16(i), Scale: scale})
	}
	for i := range 2 * k {
		add(fmt.Sprintf("f%d", i), Register{Table: "holding", Address: uint16(100 + 4*i), Type: "float32", ByteOrder: "CDAB", Scale: 1})
	}
	for i := range 2 * k {
		b := uint8(i % 16)
		add(fmt.Sprintf("st%d", i), Register{Table: "holding", Address: uint16(300 + i/16), Bit: &b, Scale: 1})
	}
	for i := range k {
		add(fmt.Sprintf("c%d", i), Register{Table: "coil", Address: uint16(i), Scale: 1})
	}
	return config.Device{ID: "dev", Protocol: "modbus", URL: "tcp://127.0.0.1:1", Block: &Config{UnitID: 1, ByteOrder: "ABCD"},
		Interval: time.Second, Timeout: time.Second, Tags: tags}
}

// BenchmarkFill decodes one poll's planned replies into samples (the
// poller's per-register work after the library returns); ns/op is per tag.
func BenchmarkFill(b *testing.B) {
	for _, scale := range []float64{1, 0.1} {
		b.Run(fmt.Sprintf("scale=%v", scale), func(b *testing.B) {
			p, err := New("site", benchDevice(40, scale), make(chanEmitter, 1), slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			replies := make([]reply, len(p.reqs))
			for i, rq := range p.reqs {
				if rq.table.bits() {
					replies[i].res.bits = make([]bool, rq.qty)
				} else {
					replies[i].res.regs = make([]byte, 2*int(rq.qty))
					for j := range replies[i].res.regs {
						replies[i].res.regs[j] = byte(j)
					}
				}
				replies[i].at = time.Now()
			}
			out := make([]collector.Sample, len(p.tags))
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				for i, rq := range p.reqs {
					p.fill(out, rq, replies[i])
				}
				n += len(p.tags)
			}
			for _, s := range out {
				if s.Quality != collector.Good {
					b.Fatalf("%+v", s)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/tag")
		})
	}
}
