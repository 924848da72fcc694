package api

import (
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"hazgate/config"
)

// hostEntry is one parsed http.allowed_hosts entry; port "" is any port.
type hostEntry struct{ host, port string }

func parseAllowedHosts(entries []string) ([]hostEntry, error) {
	out := make([]hostEntry, 0, len(entries))
	for i, e := range entries {
		host, port, err := config.SplitAllowedHost(e)
		if err != nil {
			return nil, fmt.Errorf("http.allowed_hosts[%d]: %w", i, err)
		}
		out = append(out, hostEntry{host, port})
	}
	return out, nil
}

// hostPolicy says which Host headers the server answers. It is the defence
// against DNS rebinding: a page on a name the attacker controls, resolved
// to the gateway, is same-origin with the gateway in the browser's eyes,
// but still sends the attacker's name as Host.
type hostPolicy struct {
	anyHost  bool            // tokens and no allowed_hosts: as before, any Host
	ipOnPort string          // listening on every interface: any IP literal on this port
	exact    map[string]bool // host|port
	names    map[string]bool // host, on any port
}

// newHostPolicy allows the bound address, the loopback names on its port
// when bound to loopback or every interface, and the configured entries.
// With tokens and no entries it allows any Host: deployments on 0.0.0.0
// reached by names nobody listed keep working, and a rebinding page has no
// token to send anyway.
func newHostPolicy(bound netip.AddrPort, allowed []hostEntry, authenticated bool) *hostPolicy {
	p := &hostPolicy{exact: map[string]bool{}, names: map[string]bool{}}
	if authenticated && len(allowed) == 0 {
		p.anyHost = true
		return p
	}
	port := fmt.Sprint(bound.Port())
	p.exact[bound.Addr().Unmap().String()+"|"+port] = true
	if ip := bound.Addr(); ip.IsLoopback() || ip.IsUnspecified() {
		for _, h := range []string{"127.0.0.1", "::1", "localhost"} {
			p.exact[h+"|"+port] = true
		}
	}
	if bound.Addr().IsUnspecified() {
		// A rebinding page always sends a name; an IP address in Host is
		// a client that dialled the gateway's own address.
		p.ipOnPort = port
	}
	for _, e := range allowed {
		if e.port == "" {
			p.names[e.host] = true
		} else {
			p.exact[e.host+"|"+e.port] = true
		}
	}
	return p
}

// allows reports whether a request's Host header names this server.
func (p *hostPolicy) allows(hostHeader string) bool {
	if p.anyHost {
		return true
	}
	host, port, err := net.SplitHostPort(hostHeader)
	if err != nil {
		host, port = hostHeader, "80" // no port: http's default
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "" {
		return false
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.Unmap().String()
		if p.ipOnPort != "" && port == p.ipOnPort {
			return true
		}
	}
	return p.names[host] || p.exact[host+"|"+port]
}

// guard answers 421 to a request for a Host this server is not.
func (p *hostPolicy) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.allows(r.Host) {
			writeError(w, http.StatusMisdirectedRequest, fmt.Sprintf(
				"this gateway does not answer to Host %q; if clients reach it by that name, add it to http.allowed_hosts", r.Host))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// sameOrigin reports whether an Origin header names the host the request
// was sent to. The server has already checked that Host is one of its own.
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false // "null" (sandboxed frames, file://) included
	}
	return strings.EqualFold(u.Host, host)
}

// guardWrites refuses the state changes a page on another site could make
// a browser send: a foreign Origin is 403, and anything but a JSON body is
// 415, since a cross-site form or a no-cors fetch cannot send
// application/json without a preflight, which this API never grants.
func guardWrites(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if safeMethod(r.Method) {
			next.ServeHTTP(w, r)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
			writeError(w, http.StatusForbidden, fmt.Sprintf("cross-origin request refused: Origin %q is not this gateway (%s)", o, r.Host))
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, r.Method+" requests need Content-Type: application/json")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// fromOwnConsole reports whether a state change to the unauthenticated API
// comes from the gateway's own console or a non-browser client on the
// host. Browsers send Origin on every POST and Sec-Fetch-Site on every
// request, and a page cannot forge either; curl and scripts send neither.
// So: an Origin must be this gateway's own, and without one a
// Sec-Fetch-Site other than same-origin is a browser sent from elsewhere.
func fromOwnConsole(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		return sameOrigin(o, r.Host)
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin":
		return true
	}
	return false
}
