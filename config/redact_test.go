package config

import (
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://user:s3cret@influx:8086", "http://user:xxxxx@influx:8086"},
		{"tcp://gw:s3cret@broker:1883", "tcp://gw:xxxxx@broker:1883"},
		{"mqtts://broker:8883", "mqtts://broker:8883"},
		{"https://oapi.dingtalk.com/robot/send?access_token=s3cret", "https://oapi.dingtalk.com/robot/send?access_token=xxxxx"},
		{"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=s3cret&debug=1", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?debug=1&key=xxxxx"},
		{"tcp://10.0.0.5:502", "tcp://10.0.0.5:502"},
		{"rtu:///dev/ttyS0", "rtu:///dev/ttyS0"},
		// Refused by url.Parse (a space in the host, a bad escape): still redacted.
		{"http://user:s3cret@in flux:8086/x", "http://xxxxx@in flux:8086/x"},
		{"http://u:s3cret@host:8086/%zz?token=s3cret", "http://xxxxx@host:8086/%zz?xxxxx"},
	}
	for _, tt := range tests {
		got := RedactURL(tt.in)
		if got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(got, "s3cret") {
			t.Errorf("RedactURL(%q) = %q keeps the secret", tt.in, got)
		}
	}
}

// TestConfigErrorsRedactURLs: a URL refused by validation is quoted in the
// error without its credentials.
func TestConfigErrorsRedactURLs(t *testing.T) {
	for _, text := range []string{
		"site: {id: s}\ninfluxdb: {url: \"ftp://u:s3cret@influx:8086\", token: t, bucket: b}\n",
		"site: {id: s}\nnorthbound: {url: \"tcp://u:s3cret@bro ker:1883\"}\n",
	} {
		_, err := Parse("site.yaml", []byte(text), func(string) (string, bool) { return "", false })
		if err == nil {
			t.Fatalf("%q: no error", text)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error keeps the password: %v", err)
		}
		if !strings.Contains(err.Error(), "xxxxx") {
			t.Errorf("error does not quote the redacted URL: %v", err)
		}
	}
}
