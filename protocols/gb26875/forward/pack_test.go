package forward

import (
	"errors"
	"testing"
	"time"

	"hazgate/protocols/gb26875"
)

func TestPack(t *testing.T) {
	now := time.Now()
	comps := func(n int) []Pending {
		ps := make([]Pending, n)
		for i := range ps {
			ps[i] = Pending{Message: fire(ClassAlarm, 1, uint16(i), now), ID: uint64(i + 1)}
		}
		return ps
	}
	op := Pending{Message: Message{Unit: gb26875.Unit{Type: gb26875.TypeOperation, Operations: []gb26875.Operation{{SysType: 1, SysAddr: 1, Flags: 1}}}}}
	raw := Pending{Message: Message{Unit: gb26875.Unit{Type: 26, Count: 1, Raw: []byte{1, 2, 3}}}}
	for _, tc := range []struct {
		name    string
		ps      []Pending
		n, objs int
		err     error
	}{
		{"one", comps(1), 1, 1, nil},
		{"a frame's worth", comps(22), 22, 22, nil},
		{"more than a frame", comps(30), 22, 22, nil},
		{"a run ends at another type", append(comps(3), op), 3, 3, nil},
		{"a type not decoded goes alone", []Pending{raw, raw}, 1, 1, nil},
		{"no objects", []Pending{{Message: Message{Unit: gb26875.Unit{Type: gb26875.TypeComponentState}}}, comps(1)[0]}, 1, 0, gb26875.ErrUnit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, data, err := pack(tc.ps)
			if n != tc.n || !errors.Is(err, tc.err) {
				t.Fatalf("pack: %d messages, %v; want %d, %v", n, err, tc.n, tc.err)
			}
			if err != nil {
				return
			}
			if len(data) > gb26875.MaxData || int(data[1]) != tc.objs {
				t.Errorf("%d bytes with %d objects, want %d objects", len(data), data[1], tc.objs)
			}
			if u, err := gb26875.DecodeUnit(data); err != nil || u.Type != tc.ps[0].Unit.Type {
				t.Errorf("packed unit %+v: %v", u, err)
			}
		})
	}
}

func TestHistogramQuantile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		samples []time.Duration
		q       float64
		want    time.Duration
	}{
		{"empty", nil, 0.99, 0},
		{"one", []time.Duration{300 * time.Millisecond}, 0.99, 300 * time.Millisecond}, // the max caps the bucket bound
		{"p99 in a bucket", append(repeat(99, 40*time.Millisecond), 3*time.Second), 0.99, 50 * time.Millisecond},
		{"p99 over the limit", append(repeat(98, 40*time.Millisecond), 20*time.Second, 20*time.Second), 0.99, 20 * time.Second},
		{"beyond the last bucket", []time.Duration{5 * time.Minute}, 0.5, 5 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h histogram
			for _, d := range tc.samples {
				h.observe(d)
			}
			if got := h.snapshot().Quantile(tc.q); got != tc.want {
				t.Errorf("q%v = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
}

func repeat(n int, d time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

// Stats is read by /metrics on every scrape: it must not allocate.
func TestStatsDoesNotAllocate(t *testing.T) {
	l, err := NewLink(LinkOptions{Centres: []string{"127.0.0.1:1"}, Outbox: newMemOutbox()})
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = l.Stats() }); n != 0 {
		t.Errorf("Stats allocates %v times", n)
	}
}

func TestNewLinkRefuses(t *testing.T) {
	ob := newMemOutbox()
	for _, tc := range []struct {
		name string
		opts LinkOptions
	}{
		{"no centre", LinkOptions{Outbox: ob}},
		{"centre without a port", LinkOptions{Centres: []string{"centre.example"}, Outbox: ob}},
		{"no outbox", LinkOptions{Centres: []string{"127.0.0.1:9026"}}},
		{"address over 6 bytes", LinkOptions{Centres: []string{"127.0.0.1:9026"}, Outbox: ob, Address: gb26875.MaxAddress + 1}},
		{"negative retries", LinkOptions{Centres: []string{"127.0.0.1:9026"}, Outbox: ob, Retries: -1}},
	} {
		if _, err := NewLink(tc.opts); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}
