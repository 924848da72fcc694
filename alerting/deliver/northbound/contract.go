package northbound

import (
	"time"

	"hazgate/alerting"
	"hazgate/alerting/hazard"
)

// The northbound contract, version 1: what a site publishes under
// {prefix}/{site}/ and what a hub (or a province platform) consumes.
// docs/northbound.md describes it and docs/northbound.schema.json is its
// JSON Schema; a test checks what the publisher sends against the schema.
// Every message carries v, the site and the site's own time; journal
// messages carry their journal seq, so a consumer stores each once (site +
// seq) whatever the redelivery.
const ContractVersion = 1

// Topic names under {prefix}/{site}/.
const (
	TopicStatus  = "status"  // retained birth and death (last will)
	TopicAlarm   = "alarm"   // every alarm journal event
	TopicHazard  = "hazard"  // every hazard record event
	TopicSummary = "summary" // periodic counts
	TopicReading = "reading" // opt-in: readings on change beyond a deadband, and a periodic refresh
	// TopicCommand carries a hub's instructions south (督办), TopicCommandAck
	// the site's answers.
	TopicCommand    = "command"
	TopicCommandAck = "command/ack"
)

// Site states in a Status.
const (
	SiteOnline  = "online"
	SiteOffline = "offline"
)

// Status is the retained message on {prefix}/{site}/status: published
// online on every connect, offline on a clean stop, and offline as the
// broker-sent last will when the connection is lost (Reason "lost", Time
// then the connect time the will was set at).
type Status struct {
	V     int       `json:"v"`
	Site  string    `json:"site"`
	State string    `json:"state"` // online, offline
	Time  time.Time `json:"time"`
	// Reason says why a site is offline: "stopped" (clean stop) or "lost"
	// (last will).
	Reason       string `json:"reason,omitempty"`
	Name         string `json:"name,omitempty"` // the site's display name
	Version      string `json:"version,omitempty"`
	ConfigDigest string `json:"config_digest,omitempty"`
	Devices      int    `json:"devices"`
	Tags         int    `json:"tags"`
	// AlarmSeq and HazardSeq are the newest journal seqs at the time, so a
	// hub can tell how far behind its copy is.
	AlarmSeq  int64 `json:"alarm_seq"`
	HazardSeq int64 `json:"hazard_seq"`
}

// AlarmMessage is one alarm transition on {prefix}/{site}/alarm: the
// journal's event (seq, type, time, by, alarm) with v and site added, so a
// consumer of the earlier, unversioned message reads it unchanged.
type AlarmMessage struct {
	V    int    `json:"v"`
	Site string `json:"site"`
	alerting.Event
}

// HazardMessage is one hazard record event on {prefix}/{site}/hazard: the
// hazard journal's event with the record after the change.
type HazardMessage struct {
	V    int    `json:"v"`
	Site string `json:"site"`
	hazard.Event
}

// Summary is published on {prefix}/{site}/summary every summary interval:
// what a regulator's site list shows without replaying journals.
type Summary struct {
	V        int       `json:"v"`
	Site     string    `json:"site"`
	Time     time.Time `json:"time"`
	AlarmSeq int64     `json:"alarm_seq"`
	// HazardSeq is the newest hazard journal seq: with AlarmSeq, what a hub
	// checks its copy against (and asks a replay of what it lacks).
	HazardSeq int64 `json:"hazard_seq,omitempty"`
	// Open counts open alarms (any state but normal or
	// suppressed_by_design) by severity; Unacked
	// those not yet acknowledged.
	Open    map[string]int `json:"open"`
	Unacked int            `json:"unacked"`
	// TagsBad counts tags whose last reading is of bad quality (a device
	// offline or a sensor fault).
	TagsBad int `json:"tags_bad"`
	// SpoolBacklog is the readings waiting in the InfluxDB spool.
	SpoolBacklog int64 `json:"spool_backlog"`
	OpenHazards  int   `json:"open_hazards"`
	MajorHazards int   `json:"major_hazards"`
}

// ReadingMessage carries several readings on {prefix}/{site}/reading, for
// the kinds northbound.readings names: a tag's reading goes when it moves
// more than the deadband from the last one sent, when its quality changes,
// and at least every refresh. Seq rises by one per message from a start
// taken from the clock at each gateway start, so it keeps rising across
// restarts; readings are not journalled (their history is the site's
// InfluxDB): a message lost to a broker outage is followed by the next
// refresh.
type ReadingMessage struct {
	V        int       `json:"v"`
	Site     string    `json:"site"`
	Time     time.Time `json:"time"`
	Seq      int64     `json:"seq"`
	Readings []Reading `json:"readings"`
}

// Reading is one tag's reading.
type Reading struct {
	Tag     string    `json:"tag"`
	Kind    string    `json:"kind,omitempty"`
	Unit    string    `json:"unit,omitempty"`
	Value   float64   `json:"value"`
	Quality string    `json:"quality"`
	Time    time.Time `json:"time"`
}

// Command is a hub's instruction on {prefix}/{site}/command, published at
// QoS 1; the site applies each ID once and answers on command/ack.
type Command struct {
	V    int       `json:"v"`
	ID   string    `json:"id"` // unique per hub: the site keeps the ids it applied
	Site string    `json:"site"`
	Time time.Time `json:"time"` // the hub's time
	// Type is "supervise" (挂牌督办, with Note and Deadline), "lift" (撤销督办),
	// "instruct" (督办意见, reserved) or "replay": send Journal's events
	// after After again (the hub found a gap); a replay is not answered.
	Type     string     `json:"type"`
	Journal  string     `json:"journal,omitempty"` // replay: alarm or hazard
	After    int64      `json:"after,omitempty"`   // replay: the last seq the hub holds without a gap
	Hazard   int64      `json:"hazard,omitempty"`  // the site's hazard record id
	By       string     `json:"by"`                // the regulator's name
	Note     string     `json:"note,omitempty"`
	Deadline *time.Time `json:"deadline,omitempty"`
}

// CommandAck is the site's answer on {prefix}/{site}/command/ack.
type CommandAck struct {
	V    int       `json:"v"`
	ID   string    `json:"id"`
	Site string    `json:"site"`
	Time time.Time `json:"time"`
	// OK is true when the command was applied (or had been already); Error
	// says why not.
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// HazardSeq is the hazard event the command became, when it did.
	HazardSeq int64 `json:"hazard_seq,omitempty"`
}
