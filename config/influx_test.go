package config

import (
	"strings"
	"testing"
)

func TestByteSizeUnmarshalText(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		bad  bool
	}{
		{in: "1073741824", want: 1 << 30},
		{in: "1GiB", want: 1 << 30},
		{in: "512 MiB", want: 512 << 20},
		{in: "64KiB", want: 64 << 10},
		{in: "2TiB", want: 2 << 40},
		{in: "10GB", want: 10e9},
		{in: "1MB", want: 1e6},
		{in: "100B", want: 100},
		{in: "0", want: 0},
		{in: "1.5GiB", bad: true},
		{in: "-1MiB", bad: true},
		{in: "GiB", bad: true},
		{in: "1 gigabyte", bad: true},
		{in: "9999999TiB", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var b ByteSize
			err := b.UnmarshalText([]byte(tt.in))
			if tt.bad {
				if err == nil || !strings.Contains(err.Error(), tt.in) {
					t.Errorf("got %d, %v; want an error naming %q", b, err, tt.in)
				}
				return
			}
			if err != nil || b != tt.want {
				t.Errorf("got %d, %v; want %d", b, err, tt.want)
			}
		})
	}
}

func TestInfluxConfig(t *testing.T) {
	base := "site: {id: s}\n"
	tests := []struct {
		name      string
		yaml      string
		wantBytes ByteSize
		wantRate  int
		wantGzip  int // 0: not checked
		wantErr   string
	}{
		{name: "defaults", yaml: "influxdb: {url: http://h:8086, bucket: b}\n", wantBytes: 1 << 30},
		{name: "set", yaml: "influxdb: {url: http://h:8086, bucket: b, spool: {max_bytes: 2097152, replay_rate: 50000}}\n", wantBytes: 2 << 20, wantRate: 50000},
		{name: "with a unit", yaml: "influxdb: {url: http://h:8086, bucket: b, spool: {max_bytes: 512MiB}}\n", wantBytes: 512 << 20},
		{name: "bad unit", yaml: "influxdb: {url: http://h:8086, bucket: b, spool: {max_bytes: 5 parsecs}}\n", wantErr: "c.yaml:2:62: influxdb.spool.max_bytes:"},
		{name: "too small", yaml: "influxdb: {url: http://h:8086, bucket: b, spool: {max_bytes: 1000}}\n", wantErr: "c.yaml:2:62: influxdb.spool.max_bytes must be at least"},
		{name: "negative rate", yaml: "influxdb: {url: http://h:8086, bucket: b, spool: {replay_rate: -1}}\n", wantErr: "influxdb.spool.replay_rate must not be negative"},
		{name: "typo", yaml: "influxdb: {url: http://h:8086, bucket: b, spool: {max_byte: 1}}\n", wantErr: `unknown key "max_byte" in influxdb.spool (did you mean "max_bytes"?)`},
		{name: "gzip default fastest", yaml: "influxdb: {url: http://h:8086, bucket: b}\n", wantBytes: 1 << 30, wantGzip: 1},
		{name: "gzip smallest", yaml: "influxdb: {url: http://h:8086, bucket: b, gzip_level: 9}\n", wantBytes: 1 << 30, wantGzip: 9},
		{name: "gzip zero", yaml: "influxdb: {url: http://h:8086, bucket: b, gzip_level: 0}\n", wantErr: "c.yaml:2:55: influxdb.gzip_level must be 1 to 9, got 0"},
		{name: "gzip ten", yaml: "influxdb: {url: http://h:8086, bucket: b, gzip_level: 10}\n", wantErr: "influxdb.gzip_level must be 1 to 9, got 10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("c.yaml", []byte(base+tt.yaml), env(nil))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sp := cfg.InfluxDB.Spool; sp.MaxBytes != tt.wantBytes || sp.ReplayRate != tt.wantRate {
				t.Errorf("spool = %+v", sp)
			}
			if tt.wantGzip != 0 && cfg.InfluxDB.GzipLevel != tt.wantGzip {
				t.Errorf("gzip_level = %d, want %d", cfg.InfluxDB.GzipLevel, tt.wantGzip)
			}
		})
	}
}
