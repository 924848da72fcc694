package sim

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/simonvetter/modbus"
)

// Unit is one simulated Modbus device (one unit id): holding and input
// registers, coils and discrete inputs, Size addresses each, set with typed
// values in any byte order. Reads past Size answer exception 0x02, writes
// 0x01. Safe for concurrent use.
type Unit struct {
	mu       sync.Mutex
	holding  []uint16
	input    []uint16
	coils    []bool
	discrete []bool
	silent   bool
	requests uint64
}

// NewUnit makes a unit with size addresses (1..65536) in each table, all zero.
func NewUnit(size int) (*Unit, error) {
	if size < 1 || size > 1<<16 {
		return nil, fmt.Errorf("sim unit: size %d, want 1..65536", size)
	}
	return &Unit{holding: make([]uint16, size), input: make([]uint16, size), coils: make([]bool, size), discrete: make([]bool, size)}, nil
}

func (u *Unit) regs(table string) ([]uint16, error) {
	switch table {
	case "holding":
		return u.holding, nil
	case "input":
		return u.input, nil
	}
	return nil, fmt.Errorf("sim unit: %q is not a register table (holding or input)", table)
}

// SetRegisters writes raw register words from addr on.
func (u *Unit) SetRegisters(table string, addr uint16, words ...uint16) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	r, err := u.regs(table)
	if err != nil {
		return err
	}
	if int(addr)+len(words) > len(r) {
		return fmt.Errorf("sim unit: %s %d+%d past size %d", table, addr, len(words), len(r))
	}
	copy(r[addr:], words)
	return nil
}

// SetValue writes v as type typ (uint16, int16, uint32, int32, uint64,
// int64, float32, float64) in byte order (ABCD, CDAB, BADC, DCBA) at addr.
func (u *Unit) SetValue(table string, addr uint16, typ, order string, v float64) error {
	w, err := Encode(typ, order, v)
	if err != nil {
		return err
	}
	return u.SetRegisters(table, addr, w...)
}

// SetBits writes coils or discrete inputs from addr on.
func (u *Unit) SetBits(table string, addr uint16, bits ...bool) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	var b []bool
	switch table {
	case "coil":
		b = u.coils
	case "discrete":
		b = u.discrete
	default:
		return fmt.Errorf("sim unit: %q is not a bit table (coil or discrete)", table)
	}
	if int(addr)+len(bits) > len(b) {
		return fmt.Errorf("sim unit: %s %d+%d past size %d", table, addr, len(bits), len(b))
	}
	copy(b[addr:], bits)
	return nil
}

// Silence makes the unit stop answering (its gateway answers 0x0B) or
// answer again.
func (u *Unit) Silence(silent bool) {
	u.mu.Lock()
	u.silent = silent
	u.mu.Unlock()
}

// Requests is how many reads the unit was asked, refused ones included.
func (u *Unit) Requests() uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.requests
}

// Encode returns v as type typ in byte order order, as the registers a
// device would hold. Integers are truncated toward zero and must fit typ.
func Encode(typ, order string, v float64) ([]uint16, error) {
	var b []byte
	fits := func(lo, hi float64) error {
		if v < lo || v > hi || math.IsNaN(v) {
			return fmt.Errorf("sim: %v does not fit %s", v, typ)
		}
		return nil
	}
	var err error
	switch typ {
	case "uint16":
		err = fits(0, math.MaxUint16)
		b = binary.BigEndian.AppendUint16(nil, uint16(v))
	case "int16":
		err = fits(math.MinInt16, math.MaxInt16)
		b = binary.BigEndian.AppendUint16(nil, uint16(int16(v)))
	case "uint32":
		err = fits(0, math.MaxUint32)
		b = binary.BigEndian.AppendUint32(nil, uint32(v))
	case "int32":
		err = fits(math.MinInt32, math.MaxInt32)
		b = binary.BigEndian.AppendUint32(nil, uint32(int32(v)))
	case "uint64":
		err = fits(0, math.MaxUint64)
		b = binary.BigEndian.AppendUint64(nil, uint64(v))
	case "int64":
		err = fits(math.MinInt64, math.MaxInt64)
		b = binary.BigEndian.AppendUint64(nil, uint64(int64(v)))
	case "float32":
		b = binary.BigEndian.AppendUint32(nil, math.Float32bits(float32(v)))
	case "float64":
		b = binary.BigEndian.AppendUint64(nil, math.Float64bits(v))
	default:
		return nil, fmt.Errorf("sim: unknown type %q", typ)
	}
	if err != nil {
		return nil, err
	}
	// Reorder the big-endian bytes as a device of that order keeps them.
	n := len(b) / 2
	words := make([]uint16, n)
	for i := range n {
		src := i
		if order == "CDAB" || order == "DCBA" {
			src = n - 1 - i
		}
		w := binary.BigEndian.Uint16(b[2*src:])
		if order == "BADC" || order == "DCBA" {
			w = w<<8 | w>>8
		}
		words[i] = w
	}
	switch order {
	case "ABCD", "CDAB", "BADC", "DCBA":
		return words, nil
	}
	return nil, fmt.Errorf("sim: unknown byte order %q", order)
}

// Server is a simulated Modbus TCP endpoint serving units by id: one
// device, or a Modbus gateway in front of an RS-485 bus with several. A
// request to a unit it lacks, or to a silent one, answers 0x0B (gateway
// target failed to respond), as such gateways do.
type Server struct {
	tcp      tcpServer
	units    map[uint8]*Unit
	requests atomic.Uint64
}

// NewServer makes a server for units that will listen on addr (host:port;
// port 0 picks a free one) once started.
func NewServer(addr string, units map[uint8]*Unit) (*Server, error) {
	if len(units) == 0 {
		return nil, fmt.Errorf("sim server: no units")
	}
	s := &Server{units: units}
	if err := s.tcp.init(addr, (*unitHandler)(s)); err != nil {
		return nil, fmt.Errorf("sim server: %w", err)
	}
	return s, nil
}

// Start listens and serves in the background; after Close it serves again
// on the same address.
func (s *Server) Start() error { return s.tcp.start() }

// Close stops listening and drops every client.
func (s *Server) Close() error { return s.tcp.close() }

// Addr is the host:port the server listens on (known after Start).
func (s *Server) Addr() string { return s.tcp.address() }

// URL is Addr as a hazgate device URL.
func (s *Server) URL() string { return (&url.URL{Scheme: "tcp", Host: s.Addr()}).String() }

// Requests is how many reads the server was asked, for every unit.
func (s *Server) Requests() uint64 { return s.requests.Load() }

type unitHandler Server

var _ modbus.RequestHandler = (*unitHandler)(nil)

// unit finds the request's unit and counts the request; the caller unlocks.
func (h *unitHandler) unit(id uint8) (*Unit, error) {
	(*Server)(h).requests.Add(1)
	u := h.units[id]
	if u == nil {
		return nil, modbus.ErrGWTargetFailedToRespond
	}
	u.mu.Lock()
	u.requests++
	if u.silent {
		u.mu.Unlock()
		return nil, modbus.ErrGWTargetFailedToRespond
	}
	return u, nil
}

func readRange[T any](tbl []T, addr, qty uint16) ([]T, error) {
	if int(addr)+int(qty) > len(tbl) {
		return nil, modbus.ErrIllegalDataAddress
	}
	return append([]T(nil), tbl[addr:int(addr)+int(qty)]...), nil
}

func (h *unitHandler) HandleCoils(r *modbus.CoilsRequest) ([]bool, error) {
	u, err := h.unit(r.UnitId)
	if err != nil {
		return nil, err
	}
	defer u.mu.Unlock()
	if r.IsWrite {
		return nil, modbus.ErrIllegalFunction
	}
	return readRange(u.coils, r.Addr, r.Quantity)
}

func (h *unitHandler) HandleDiscreteInputs(r *modbus.DiscreteInputsRequest) ([]bool, error) {
	u, err := h.unit(r.UnitId)
	if err != nil {
		return nil, err
	}
	defer u.mu.Unlock()
	return readRange(u.discrete, r.Addr, r.Quantity)
}

func (h *unitHandler) HandleHoldingRegisters(r *modbus.HoldingRegistersRequest) ([]uint16, error) {
	u, err := h.unit(r.UnitId)
	if err != nil {
		return nil, err
	}
	defer u.mu.Unlock()
	if r.IsWrite {
		return nil, modbus.ErrIllegalFunction
	}
	return readRange(u.holding, r.Addr, r.Quantity)
}

func (h *unitHandler) HandleInputRegisters(r *modbus.InputRegistersRequest) ([]uint16, error) {
	u, err := h.unit(r.UnitId)
	if err != nil {
		return nil, err
	}
	defer u.mu.Unlock()
	return readRange(u.input, r.Addr, r.Quantity)
}
