package collector

// The `reading` measurement every Sample becomes in InfluxDB, named once for
// the sink that writes it (influx_line.go) and InfluxHistory that reads it
// back. The Grafana dashboards in deploy/ query the same names.
const (
	// MeasurementReading is the InfluxDB measurement every Sample becomes.
	MeasurementReading = "reading"

	// Tag keys, in the sorted order line protocol wants them written.
	readingArea   = "area"
	readingDevice = "device"
	readingKind   = "kind"
	readingSite   = "site"
	readingTag    = "tag"
	readingUnit   = "unit"

	// Field keys. A Bad reading has no value field: its number means nothing.
	readingQuality = "quality"
	readingReason  = "reason"
	readingValue   = "value"
)
