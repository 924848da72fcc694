package mqtt

import (
	"hash/fnv"
	"os"
	"path/filepath"
	"testing"
	"time"

	"hazgate/collector"
)

func TestReceipts(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 123)
	tests := []struct {
		name    string
		slots   int
		adds    int          // keys 1..adds, time t0+key
		damage  func(string) // what happens to the file before it is opened again
		reopen  int          // slots on reopen; 0: the same
		present []uint64
		absent  []uint64
	}{
		{name: "kept across a reopen", slots: 8, adds: 5, present: []uint64{1, 3, 5}, absent: []uint64{6}},
		{name: "the ring keeps the newest", slots: 4, adds: 10, present: []uint64{7, 8, 9, 10}, absent: []uint64{1, 6}},
		{name: "one torn slot costs only itself", slots: 8, adds: 3,
			damage:  func(p string) { flipByte(t, p, int64(len(receiptsMagic)+receiptSize+9)) }, // key 2's slot
			present: []uint64{1, 3}, absent: []uint64{2}},
		{name: "another size starts empty", slots: 8, adds: 3, reopen: 16, absent: []uint64{1, 2, 3}},
		{name: "garbage starts empty", slots: 8, adds: 3,
			damage: func(p string) { os.WriteFile(p, []byte("not a receipts file"), 0o600) },
			absent: []uint64{1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "r")
			r, err := openReceipts(path, tt.slots)
			if err != nil {
				t.Fatal(err)
			}
			for k := 1; k <= tt.adds; k++ {
				r.add(uint64(k), t0.Add(time.Duration(k)))
				if k%3 == 0 { // commits of several records, and wraps inside one
					if err := r.commit(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := r.commit(); err != nil {
				t.Fatal(err)
			}
			r.Close()
			if tt.damage != nil {
				tt.damage(path)
			}
			slots := tt.slots
			if tt.reopen != 0 {
				slots = tt.reopen
			}
			r, err = openReceipts(path, slots)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for _, k := range tt.present {
				if at, ok := r.lookup(k); !ok || !at.Equal(t0.Add(time.Duration(k))) {
					t.Errorf("key %d: %v %v, want %v", k, at, ok, t0.Add(time.Duration(k)))
				}
			}
			for _, k := range tt.absent {
				if at, ok := r.lookup(k); ok {
					t.Errorf("key %d: found %v, want none", k, at)
				}
			}
		})
	}
}

// TestReceiptsContinueTheRing: records written after a reopen go on after
// the newest, so a second restart still finds the newest of both runs.
func TestReceiptsContinueTheRing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	t0 := time.Unix(1_700_000_000, 0)
	for run := range 3 {
		r, err := openReceipts(path, 4)
		if err != nil {
			t.Fatal(err)
		}
		for k := range 3 {
			r.add(uint64(run*10+k), t0)
		}
		if err := r.commit(); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	r, err := openReceipts(path, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, k := range []uint64{12, 21, 22, 20} {
		if _, ok := r.lookup(k); !ok {
			t.Errorf("key %d lost", k)
		}
	}
	if _, ok := r.lookup(11); ok {
		t.Error("key 11 should have been overwritten by the third run")
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestRedeliveryAfterRestartKeepsItsTime: a message stamped on receipt and
// redelivered (DUP) to the next run gets the time it had, so InfluxDB sees
// the same point again rather than a second one. A fresh message with the
// same payload is a new reading with its own time.
func TestRedeliveryAfterRestartKeepsItsTime(t *testing.T) {
	dir := t.TempDir()
	sub := Subscription{Topic: "hydrant/+/pressure", Tag: "HYD-{1}", Value: "p"}
	first := time.Now().Add(-2 * time.Second)
	msg := func(id uint16, dup bool) *fakeMsg {
		return &fakeMsg{topic: "hydrant/1/pressure", payload: []byte(`{"p":0.3}`), qos: 1, dup: dup, id: id}
	}
	run := func(batch []received) []collector.Sample {
		t.Helper()
		c := newTestCollector(t, collector.NewRegistry(), &recorder{}, "tcp://127.0.0.1:1", sub)
		c.stamps, _ = openReceipts(filepath.Join(dir, "r"), 16)
		defer c.stamps.Close()
		out := c.handle(batch)
		if err := c.stamps.commit(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	run([]received{{m: msg(7, false), at: first}})
	now := time.Now()
	got := run([]received{{m: msg(7, true), at: now}, {m: msg(8, false), at: now.Add(time.Millisecond)}, {m: msg(9, true), at: now.Add(2 * time.Millisecond)}})
	if len(got) != 3 {
		t.Fatalf("samples %+v, want 3", got)
	}
	if !got[0].Time.Equal(first) {
		t.Errorf("redelivery stamped %v, want its first receipt time %v", got[0].Time, first)
	}
	if !got[1].Time.Equal(now.Add(time.Millisecond)) {
		t.Errorf("new message with the same payload stamped %v, want its own receipt time", got[1].Time)
	}
	if !got[2].Time.Equal(now.Add(2 * time.Millisecond)) {
		t.Errorf("DUP never seen before stamped %v, want its receipt time", got[2].Time)
	}
}

// The receipts file keeps receiptKey's values: they must stay hash/fnv's.
func TestReceiptKeyIsFNV(t *testing.T) {
	for _, c := range []struct {
		id             uint16
		topic, payload string
	}{{0, "", ""}, {1, "a/b", `{"v":1}`}, {0xfffe, "bench/42", "\x00\xff"}} {
		h := fnv.New64a()
		h.Write([]byte{byte(c.id >> 8), byte(c.id)})
		h.Write([]byte(c.topic))
		h.Write([]byte{0})
		h.Write([]byte(c.payload))
		if got, want := receiptKey(c.id, c.topic, []byte(c.payload)), h.Sum64(); got != want {
			t.Errorf("receiptKey(%d, %q, %q) = %x, fnv %x", c.id, c.topic, c.payload, got, want)
		}
	}
}
