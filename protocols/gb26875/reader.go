package gb26875

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// FrameError is a frame the reader could delimit but not accept: a bad
// checksum or a length over 1024. Frame holds what of the header could be
// read, so the receiver can deny the serial. The reader has already moved
// past it.
type FrameError struct {
	Frame Frame
	Err   error
}

func (e *FrameError) Error() string { return fmt.Sprintf("frame serial %d: %v", e.Frame.Serial, e.Err) }
func (e *FrameError) Unwrap() error { return e.Err }

// Reader splits a byte stream into frames. Bytes that cannot start a frame
// are skipped up to the next @@, so garbage on a line costs the garbage and
// never the connection.
type Reader struct {
	br      *bufio.Reader
	skipped uint64
}

// NewReader reads frames from r with a buffer that holds the largest frame.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, MaxFrame)}
}

// Skipped is how many bytes were skipped as garbage so far.
func (r *Reader) Skipped() uint64 { return r.skipped }

func (r *Reader) skip(n int) {
	d, _ := r.br.Discard(n)
	r.skipped += uint64(d)
}

// plausible reports whether a header can start a frame: the main version
// is fixed at 1 and the command is one the standard or a user defines. It
// keeps a stray @@ in garbage from making the reader wait for a body that
// never comes.
func plausible(h []byte) bool {
	c := Command(h[26])
	return h[4] == MainVersion && (c >= CmdControl && c <= CmdDeny || c >= 128)
}

// Next returns the next frame. Its Data is valid until the following call.
// A *FrameError is returned for a delimited frame that is not acceptable;
// any other error comes from the underlying reader (io.EOF, a deadline).
func (r *Reader) Next() (Frame, error) {
	for {
		if err := r.seek(); err != nil {
			return Frame{}, err
		}
		h, err := r.br.Peek(headerLen)
		if err != nil {
			return Frame{}, err
		}
		if !plausible(h) {
			r.skip(1)
			continue
		}
		n := int(binary.LittleEndian.Uint16(h[24:26]))
		if n > MaxData {
			f := Frame{Serial: binary.LittleEndian.Uint16(h[2:4]), Main: h[4], User: h[5], Time: TimeTag(h[6:12]),
				Src: getAddress(h[12:18]), Dst: getAddress(h[18:24]), Cmd: Command(h[26])}
			r.br.Discard(2) // the length cannot be trusted: look for the next start
			return Frame{}, &FrameError{Frame: f, Err: fmt.Errorf("length %d: %w", n, ErrLength)}
		}
		need := headerLen + n + trailLen
		if skip, err := r.await(need); err != nil {
			return Frame{}, err
		} else if skip > 0 {
			r.skip(skip)
			continue
		}
		b, _ := r.br.Peek(need)
		f, err := Parse(b)
		switch {
		case err == nil:
			r.br.Discard(len(b))
			return f, nil
		case errors.Is(err, ErrChecksum):
			// The end marks are where the length says: the frame is
			// delimited, only its contents are damaged (and counted by
			// the caller, not as garbage).
			r.br.Discard(len(b))
			f.Data = nil
			return Frame{}, &FrameError{Frame: f, Err: err}
		default: // no end mark: that @@ was not a frame start
			r.skip(1)
		}
	}
}

// seek discards bytes up to the next @@ (or a lone @ at the end of what is
// buffered), reading more as needed.
func (r *Reader) seek() error {
	for {
		if r.br.Buffered() < 2 {
			if _, err := r.br.Peek(2); err != nil {
				return err
			}
		}
		buf, _ := r.br.Peek(r.br.Buffered())
		i := bytes.Index(buf, []byte{startMark, startMark})
		if i == 0 {
			return nil
		}
		if i > 0 {
			r.skip(i)
			return nil
		}
		keep := 0
		if buf[len(buf)-1] == startMark {
			keep = 1
		}
		r.skip(len(buf) - keep)
	}
}

// await reads until need bytes are buffered. While it waits it looks for a
// whole valid frame starting further on: a device waits for the confirm of
// what it sent, so a stray start mark claiming a long body must not make
// the reader wait for bytes that will never come. skip > 0 is the offset of
// such a frame.
func (r *Reader) await(need int) (skip int, err error) {
	for r.br.Buffered() < need {
		buf, _ := r.br.Peek(r.br.Buffered())
		for i := 2; i+headerLen+trailLen <= len(buf); i++ {
			j := bytes.Index(buf[i:], []byte{startMark, startMark})
			if j < 0 {
				break
			}
			i += j
			if len(buf)-i < headerLen || !plausible(buf[i:]) {
				continue
			}
			end := i + headerLen + int(binary.LittleEndian.Uint16(buf[i+24:])) + trailLen
			if end <= len(buf) {
				if _, err := Parse(buf[i:end]); err == nil {
					return i, nil
				}
			}
		}
		if _, err := r.br.Peek(r.br.Buffered() + 1); err != nil {
			return 0, err
		}
	}
	return 0, nil
}
