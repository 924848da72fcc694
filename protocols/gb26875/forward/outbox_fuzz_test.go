package forward

import (
	"bytes"
	"testing"
)

// No record panics; one that decodes encodes to a record that decodes to
// the same message (the varint may have been written longer).
func FuzzDecodeRecord(f *testing.F) {
	for _, m := range []Message{msg(ClassAlarm, 3), uitdMsg(2)} {
		b, err := encodeRecord(nil, &m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{recordVersion, 0, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeRecord(b)
		if err != nil {
			return
		}
		again, err := encodeRecord(nil, &m)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", m, err)
		}
		m2, err := decodeRecord(again)
		if err != nil || m2.Class != m.Class || !m2.Entered.Equal(m.Entered) {
			t.Fatalf("re-encoded record decodes as %+v, %v; want %+v", m2, err, m)
		}
		if third, _ := encodeRecord(nil, &m2); !bytes.Equal(third, again) {
			t.Fatalf("encoding is not stable: %x then %x", again, third)
		}
	})
}
