// Package sim holds simulated devices for the demo and for tests: a gas
// detection controller (GDS) speaking Modbus TCP on loopback, and scenarios
// that drive it over time. Nothing here is needed to run the gateway.
package sim

import (
	"fmt"
	"math"
	"sync"

	"github.com/simonvetter/modbus"
)

// Register map of the simulated controller, modelled on common GDS panels.
const (
	// StatusBase is the holding register of detector 0's status word; detector
	// i's is StatusBase+i.
	StatusBase = 100
	// MaxDetectors keeps the input registers clear of the status words.
	MaxDetectors = StatusBase

	StatusFault  = 1 << 0 // detector fault (sensor or loop)
	StatusLevel1 = 1 << 1 // first-level alarm: at or above Level1LEL
	StatusLevel2 = 1 << 2 // second-level alarm: at or above Level2LEL

	// Alarm set points in %LEL (GB/T 50493: first level ≤ 25 %LEL, second ≤ 50 %LEL).
	Level1LEL = 25.0
	Level2LEL = 50.0
	// FullScaleLEL is the detectors' range; readings saturate there.
	FullScaleLEL = 100.0
)

// GasController is a simulated gas detection controller. Detector i's
// concentration is input register i in 0.1 %LEL (25 %LEL reads 250); holding
// register StatusBase+i is its status word. A silent detector makes any read
// covering it answer exception 0x0B (gateway target device failed to
// respond), as a controller does for a dead field detector. Safe for
// concurrent use.
type GasController struct {
	tcp      tcpServer
	mu       sync.Mutex
	lel      []uint16
	silent   []bool
	fault    []bool
	requests uint64
}

// NewGasController makes a controller with detectors detectors (1..MaxDetectors)
// that will listen on addr (host:port; port 0 picks a free one) once started.
func NewGasController(addr string, detectors int) (*GasController, error) {
	if detectors < 1 || detectors > MaxDetectors {
		return nil, fmt.Errorf("gas controller: %d detectors, want 1..%d", detectors, MaxDetectors)
	}
	c := &GasController{
		lel:    make([]uint16, detectors),
		silent: make([]bool, detectors),
		fault:  make([]bool, detectors),
	}
	if err := c.tcp.init(addr, (*handler)(c)); err != nil {
		return nil, fmt.Errorf("gas controller: %w", err)
	}
	return c, nil
}

// Start listens and serves in the background. After Close, Start serves
// again on the same address, so a test can take the controller away and
// bring it back where the gateway expects it.
func (c *GasController) Start() error {
	if err := c.tcp.start(); err != nil {
		return fmt.Errorf("gas controller: %w", err)
	}
	return nil
}

// Close stops listening and drops every client connection.
func (c *GasController) Close() error { return c.tcp.close() }

// Addr is the host:port the controller listens on (known after Start).
func (c *GasController) Addr() string { return c.tcp.address() }

// URL is Addr as a simonvetter/modbus (and hazgate config) URL.
func (c *GasController) URL() string { return "tcp://" + c.Addr() }

// Detectors is how many detectors the controller has.
func (c *GasController) Detectors() int { return len(c.lel) }

// SetLEL sets detector i's reading in %LEL, clamped to 0..FullScaleLEL.
// It panics if i is out of range, as indexing a slice would.
func (c *GasController) SetLEL(i int, lel float64) {
	c.check(i)
	if math.IsNaN(lel) {
		lel = 0
	}
	v := uint16(math.Round(math.Min(math.Max(lel, 0), FullScaleLEL) * 10))
	c.mu.Lock()
	c.lel[i] = v
	c.mu.Unlock()
}

// LEL returns detector i's reading in %LEL, at the register's 0.1 resolution.
func (c *GasController) LEL(i int) float64 {
	c.check(i)
	c.mu.Lock()
	defer c.mu.Unlock()
	return float64(c.lel[i]) / 10
}

// Silence makes detector i stop answering (silent) or answer again.
func (c *GasController) Silence(i int, silent bool) {
	c.check(i)
	c.mu.Lock()
	c.silent[i] = silent
	c.mu.Unlock()
}

// Silent reports whether detector i is silent.
func (c *GasController) Silent(i int) bool {
	c.check(i)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.silent[i]
}

// SetFault sets or clears detector i's fault bit in its status word.
func (c *GasController) SetFault(i int, fault bool) {
	c.check(i)
	c.mu.Lock()
	c.fault[i] = fault
	c.mu.Unlock()
}

// Requests is how many read requests the controller has answered, exceptions
// included; tests use it to see how a poller plans its reads.
func (c *GasController) Requests() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests
}

func (c *GasController) check(i int) {
	if i < 0 || i >= len(c.lel) {
		panic(fmt.Sprintf("sim: detector %d out of range 0..%d", i, len(c.lel)-1))
	}
}

// status is detector i's status word; c.mu must be held.
func (c *GasController) status(i int) uint16 {
	var s uint16
	if c.fault[i] {
		s |= StatusFault
	}
	if float64(c.lel[i]) >= Level1LEL*10 {
		s |= StatusLevel1
	}
	if float64(c.lel[i]) >= Level2LEL*10 {
		s |= StatusLevel2
	}
	return s
}

// handler is the controller seen by the Modbus server; a separate type keeps
// the Handle* methods out of GasController's API.
type handler GasController

// errSilent is what a gateway-style controller answers for a dead detector.
var errSilent = modbus.ErrGWTargetFailedToRespond

func (h *handler) HandleInputRegisters(req *modbus.InputRegistersRequest) ([]uint16, error) {
	c := (*GasController)(h)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
	first, n := int(req.Addr), int(req.Quantity)
	if first+n > len(c.lel) {
		return nil, modbus.ErrIllegalDataAddress
	}
	out := make([]uint16, n)
	for k := range n {
		if c.silent[first+k] {
			return nil, errSilent
		}
		out[k] = c.lel[first+k]
	}
	return out, nil
}

func (h *handler) HandleHoldingRegisters(req *modbus.HoldingRegistersRequest) ([]uint16, error) {
	c := (*GasController)(h)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
	if req.IsWrite {
		// A GDS is configured at its panel, never over the gateway link.
		return nil, modbus.ErrIllegalFunction
	}
	first, n := int(req.Addr)-StatusBase, int(req.Quantity)
	if first < 0 || first+n > len(c.lel) {
		return nil, modbus.ErrIllegalDataAddress
	}
	out := make([]uint16, n)
	for k := range n {
		if c.silent[first+k] {
			return nil, errSilent
		}
		out[k] = c.status(first + k)
	}
	return out, nil
}

func (h *handler) HandleCoils(*modbus.CoilsRequest) ([]bool, error) {
	c := (*GasController)(h)
	c.mu.Lock()
	c.requests++
	c.mu.Unlock()
	return nil, modbus.ErrIllegalFunction
}

func (h *handler) HandleDiscreteInputs(*modbus.DiscreteInputsRequest) ([]bool, error) {
	c := (*GasController)(h)
	c.mu.Lock()
	c.requests++
	c.mu.Unlock()
	return nil, modbus.ErrIllegalFunction
}

var _ modbus.RequestHandler = (*handler)(nil)
