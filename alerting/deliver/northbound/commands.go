package northbound

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hazgate/alerting/hazard"
	"hazgate/collector"
)

// Supervisor applies a hub's 挂牌督办 to a hazard record (*hazard.Engine).
type Supervisor interface {
	Supervise(ctx context.Context, id int64, actor hazard.Actor, req hazard.SuperviseRequest) (hazard.Hazard, error)
	Get(ctx context.Context, id int64) (hazard.Hazard, error)
	History(ctx context.Context, id int64) ([]hazard.Event, error)
}

// Command types a site applies (the hub's hub.CommandSupervise and
// hub.CommandLift).
const (
	commandSupervise = "supervise"
	commandLift      = "lift"
	commandReplay    = "replay"
)

// appliedKeep is how many answered command ids the site remembers, so a
// hub's resend gets the same answer rather than a second change.
const appliedKeep = 1024

// commands answers a hub's instructions on {prefix}/{site}/command: each
// id is applied once (remembered in a file under data_dir, written before
// the answer goes out), and answered on command/ack with the result.
type commands struct {
	site     string
	target   Supervisor
	path     string // the applied ids; "" keeps them in memory only
	ackTopic string
	now      func() time.Time

	mu      sync.Mutex
	applied []CommandAck // oldest first
	queue   chan paho.Message
	// replay sends a journal's events after a seq again (the publisher's).
	replay func(ctx context.Context, journal string, after int64) error
}

func newCommands(site, path, ackTopic string, target Supervisor) (*commands, error) {
	c := &commands{site: site, target: target, path: path, ackTopic: ackTopic, now: time.Now, queue: make(chan paho.Message, 64)}
	if path == "" {
		return c, nil
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return c, nil
	case err != nil:
		return nil, fmt.Errorf("northbound commands %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &c.applied); err != nil {
		return nil, fmt.Errorf("northbound commands %s: %w", path, err)
	}
	return c, nil
}

// handle runs on paho's router: hand over and return.
func (c *commands) handle(ctx context.Context) paho.MessageHandler {
	return func(_ paho.Client, m paho.Message) {
		select {
		case c.queue <- m:
		case <-ctx.Done():
		}
	}
}

// run answers queued commands until ctx ends.
func (c *commands) run(ctx context.Context, client paho.Client, qos byte, timeout time.Duration, log *slog.Logger) {
	for {
		var m paho.Message
		select {
		case m = <-c.queue:
		case <-ctx.Done():
			return
		}
		if journal, after, ok := c.replayOf(m.Payload()); ok {
			if c.replay == nil {
				continue
			}
			if err := c.replay(ctx, journal, after); err != nil {
				log.Warn("northbound: replay for the hub failed; it will ask again", "journal", journal, "after", after, "err", err)
			}
			continue
		}
		ack, err := c.apply(ctx, m.Payload())
		if err != nil {
			log.Warn("northbound: refused a hub command", "topic", m.Topic(), "err", err)
			continue
		}
		b, _ := json.Marshal(ack)
		tok := client.Publish(c.ackTopic, qos, false, b)
		if !tok.WaitTimeout(timeout) || tok.Error() != nil {
			// The hub resends until it has an answer; the id is remembered.
			log.Warn("northbound: command answer not taken by the broker", "command", ack.ID, "err", tok.Error())
			continue
		}
		log.Info("northbound: answered a hub command", "command", ack.ID, "ok", ack.OK, "err", ack.Error)
	}
}

// replayOf reads a replay request of this site's: not applied once and
// not answered, since repeating it is harmless.
func (c *commands) replayOf(payload []byte) (journal string, after int64, ok bool) {
	var cmd Command
	if json.Unmarshal(payload, &cmd) != nil || cmd.V != ContractVersion || cmd.Site != c.site || cmd.Type != commandReplay {
		return "", 0, false
	}
	return cmd.Journal, cmd.After, true
}

// apply applies one command, or returns the answer it had before. An error
// is a message that is no command of this site's: not answered.
func (c *commands) apply(ctx context.Context, payload []byte) (CommandAck, error) {
	var cmd Command
	if err := json.Unmarshal(payload, &cmd); err != nil {
		return CommandAck{}, fmt.Errorf("not a command: %w", err)
	}
	if cmd.V != ContractVersion || cmd.ID == "" || cmd.Site != c.site {
		return CommandAck{}, fmt.Errorf("command %q: version %d, site %q: not this site's v%d command", cmd.ID, cmd.V, cmd.Site, ContractVersion)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := slices.IndexFunc(c.applied, func(a CommandAck) bool { return a.ID == cmd.ID }); i >= 0 {
		return c.applied[i], nil
	}
	ack := CommandAck{V: ContractVersion, ID: cmd.ID, Site: c.site}
	if err := c.execute(ctx, cmd); err != nil {
		ack.Error = err.Error()
	} else {
		ack.OK = true
		if hist, err := c.target.History(ctx, cmd.Hazard); err == nil && len(hist) > 0 {
			ack.HazardSeq = hist[len(hist)-1].Seq
		}
	}
	ack.Time = c.now().UTC()
	c.applied = append(c.applied, ack)
	if len(c.applied) > appliedKeep {
		c.applied = slices.Delete(c.applied, 0, len(c.applied)-appliedKeep)
	}
	if c.path != "" {
		b, _ := json.Marshal(c.applied)
		if err := collector.ReplaceFile(c.path, b); err != nil {
			// Not remembered: answer nothing; the resend applies it again
			// (a supervision already in place is taken as done).
			c.applied = c.applied[:len(c.applied)-1]
			return CommandAck{}, fmt.Errorf("command %s: remembering it: %w", cmd.ID, err)
		}
	}
	return ack, nil
}

// execute applies cmd to its hazard record. A record already as the
// command wants it (a resend after a crash between the change and the
// answer) is success.
func (c *commands) execute(ctx context.Context, cmd Command) error {
	if c.target == nil {
		return errors.New("this site takes no hub commands")
	}
	req := hazard.SuperviseRequest{Note: cmd.Note}
	switch cmd.Type {
	case commandSupervise:
		if cmd.Deadline != nil {
			req.Note += fmt.Sprintf("（督办期限 %s）", cmd.Deadline.In(beijing).Format("2006-01-02"))
		}
	case commandLift:
		req.Lift = true
	default:
		return fmt.Errorf("unknown command type %q", cmd.Type)
	}
	actor := hazard.Actor{Name: cmd.By, Supervise: true}
	if actor.Name == "" {
		actor.Name = "hub"
	}
	_, err := c.target.Supervise(ctx, cmd.Hazard, actor, req)
	if errors.Is(err, hazard.ErrWrongState) {
		if cur, gerr := c.target.Get(ctx, cmd.Hazard); gerr == nil && cur.Supervised == !req.Lift {
			return nil
		}
	}
	return err
}

var beijing = time.FixedZone("CST", 8*3600)
