package alerting

import (
	"hazgate/collector"
)

// qualityRule raises an alarm of its class while a tag reads Bad for a
// reason of that class, so a broken detector or a silent device is an alarm
// of its own and never reads as clean air. The engine applies one per class
// to every tag; the class is also the rule name.
type qualityRule struct {
	ruleMeta
}

// qualityRules are applied to every tag, before the configured rules.
var qualityRules = []rule{
	&qualityRule{ruleMeta{name: ClassCommLoss, kind: kindQuality, class: ClassCommLoss, severity: SeverityHigh}},
	&qualityRule{ruleMeta{name: ClassSensorFault, kind: kindQuality, class: ClassSensorFault, severity: SeverityHigh}},
	&qualityRule{ruleMeta{name: ClassBadQuality, kind: kindQuality, class: ClassBadQuality, severity: SeverityMedium}},
}

// qualityClass maps a Bad sample's reason to its alarm class.
func qualityClass(reason string) string {
	switch reason {
	case collector.ReasonCommLoss:
		return ClassCommLoss
	case collector.ReasonSensorFault:
		return ClassSensorFault
	}
	return ClassBadQuality
}

func isQualityClass(name string) bool {
	return name == ClassCommLoss || name == ClassSensorFault || name == ClassBadQuality
}

func (r *qualityRule) matches(collector.Tag) bool { return true }

// eval clears on any readable sample (Good or Uncertain: the device answered)
// and on a Bad one of another class (a device that reports a sensor fault is
// talking again).
func (r *qualityRule) eval(_ *slot, _ *collector.Tag, s *collector.Sample, _ bool) verdict {
	if s.Quality == collector.Bad && qualityClass(s.Reason) == r.class {
		return verdictActive
	}
	return verdictClear
}

func (r *qualityRule) worse(float64, float64) bool { return false }

func (r *qualityRule) message(t *collector.Tag, s *collector.Sample) text {
	return qualityText(t, r.class, s.Reason)
}
