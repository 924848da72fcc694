package config

import (
	"net/url"
	"strings"
)

// secretQueryKeys are query parameters that carry a credential in the URLs
// our users paste: DingTalk's access_token, WeCom's key, a signed
// timestamp's sign, and the generic ones.
var secretQueryKeys = map[string]bool{
	"access_token": true, "token": true, "key": true, "secret": true,
	"sign": true, "password": true, "pass": true, "apikey": true, "api_key": true,
}

// RedactURL is raw fit for a log or an error message: the userinfo's
// password and any credential-looking query value become "xxxxx". Every
// place that prints a configured URL goes through it; it also copes with
// a URL that does not parse, the one most likely to be printed in an error.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return redactUnparsed(raw)
	}
	changed := false
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if secretQueryKeys[strings.ToLower(k)] {
				q[k] = []string{"xxxxx"}
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	if _, has := u.User.Password(); has || changed {
		return u.Redacted()
	}
	return raw // as written: String() would turn "tcp://" into "tcp:"
}

// redactUnparsed drops whatever sits between "scheme://" and an "@" of the
// authority, and the query, of a string url.Parse refused.
func redactUnparsed(raw string) string {
	rest, scheme := raw, ""
	if i := strings.Index(raw, "://"); i >= 0 {
		scheme, rest = raw[:i+3], raw[i+3:]
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
		rest = "xxxxx" + rest[at:]
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		rest = rest[:q] + "?xxxxx"
	}
	return scheme + rest
}
