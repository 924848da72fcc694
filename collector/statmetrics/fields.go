package statmetrics

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Fields describes the metrics of S from its fields' tags, so a component
// names each series beside the counter it reads:
//
//	Published uint64 `json:"published" metric:"hazgate_northbound_published_total" help:"Events the broker acknowledged."`
//
// A name ending in _total is a counter, any other a gauge. Integers,
// floats and booleans (1 or 0) are read as they are, durations in seconds,
// times as Unix seconds (0 for the zero time). A tagged field of another
// type is a programming error, reported when Fields is called.
func Fields[S any]() []Stat[S] {
	t := reflect.TypeFor[S]()
	var out []Stat[S]
	for i := range t.NumField() {
		f := t.Field(i)
		name, ok := f.Tag.Lookup("metric")
		if !ok {
			continue
		}
		read := fieldReader(f)
		kind := prometheus.GaugeValue
		if strings.HasSuffix(name, "_total") {
			kind = prometheus.CounterValue
		}
		idx := f.Index
		out = append(out, Stat[S]{name, f.Tag.Get("help"), kind, func(s S) float64 { return read(reflect.ValueOf(s).FieldByIndex(idx)) }})
	}
	return out
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	timeType     = reflect.TypeFor[time.Time]()
)

func fieldReader(f reflect.StructField) func(reflect.Value) float64 {
	switch {
	case f.Type == durationType:
		return func(v reflect.Value) float64 { return time.Duration(v.Int()).Seconds() }
	case f.Type == timeType:
		return func(v reflect.Value) float64 {
			if t := v.Interface().(time.Time); !t.IsZero() {
				return float64(t.UnixNano()) / 1e9
			}
			return 0
		}
	}
	switch f.Type.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(v reflect.Value) float64 { return float64(v.Int()) }
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return func(v reflect.Value) float64 { return float64(v.Uint()) }
	case reflect.Float32, reflect.Float64:
		return func(v reflect.Value) float64 { return v.Float() }
	case reflect.Bool:
		return func(v reflect.Value) float64 { return Bool(v.Bool()) }
	}
	panic(fmt.Sprintf("statmetrics: field %s (%s) has a metric tag but is not a number, bool, duration or time", f.Name, f.Type))
}
