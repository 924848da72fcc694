package alerting

// Limit is one alarm limit that applies to a tag, named as its alarm
// message names it, for a trend to draw beside the readings.
type Limit struct {
	Rule     string  `json:"rule"`
	Level    string  `json:"level"` // HH, H, L or LL
	Value    float64 `json:"value"`
	High     bool    `json:"high"` // alarms above the value, else below
	Deadband float64 `json:"deadband,omitempty"`
	Severity string  `json:"severity"`
	// Words name the limit as its standard does (二级报警值), Clause the
	// clause a preset cites (GB/T 50493-2019 5.5.1); empty without one.
	Words   string `json:"words"`
	WordsEN string `json:"words_en"`
	Clause  string `json:"clause,omitempty"`
}

// Limits returns the limits the engine judges tag by, lowest to highest
// within each rule and rules in config order: a tag's own rule replaces the
// general ones as it does for alarms. A tag the engine has not seen yet is
// matched from its metadata; an unknown one has none.
func (e *Engine) Limits(tag string) []Limit {
	e.mu.Lock()
	defer e.mu.Unlock()
	var rules []rule
	ts := e.state[tag]
	t, ok := e.tags.Lookup(tag)
	switch {
	case ts != nil && (ts.known || !ok):
		for _, sl := range ts.slots {
			rules = append(rules, sl.r)
		}
	case ok:
		// Not seen yet, or its metadata arrived since: match as the engine
		// will at the tag's next sample, without changing its state.
		own := map[string]bool{}
		for _, r := range e.rules {
			if m := r.meta(); m.own && r.matches(t) {
				own[m.kind] = true
			}
		}
		for _, r := range e.rules {
			if m := r.meta(); r.matches(t) && (m.own || !own[m.kind]) {
				rules = append(rules, r)
			}
		}
	}
	var out []Limit
	for _, r := range rules {
		th, ok := r.(*threshold)
		if !ok {
			continue
		}
		out = append(out, Limit{
			Rule: th.name, Level: th.level, Value: th.limit, High: th.high, Deadband: th.deadband,
			Severity: th.severity, Words: th.words.zh, WordsEN: th.words.en, Clause: th.words.clause,
		})
	}
	return out
}
