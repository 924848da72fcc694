package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"hazgate/config"
)

// Role is what a token's holder may do. Roles grant permissions through
// grants; a route asks for one permission.
type Role string

// Roles, as configured in http.tokens[].role.
const (
	RoleViewer    Role = "viewer"    // reads
	RoleOperator  Role = "operator"  // control room: reads, acknowledges
	RoleVerifier  Role = "verifier"  // signs off rectified hazards (销号)
	RoleRegulator Role = "regulator" // reads across its sites, supervises
	RoleAdmin     Role = "admin"     // everything
)

// Permission is one thing a route needs.
type Permission string

// Permissions routes ask for. A new kind of action adds one here and a
// column in grants.
const (
	PermRead Permission = "read"
	PermAck  Permission = "ack"
	// PermDispose files how an alarm was handled (报警处置): the control
	// room's, like acknowledging.
	PermDispose Permission = "dispose"
	// Hazard workflow: PermHazardWork lets a request reach the transition
	// route; which change it may make follows from PermRectify (整改: the
	// plant) and PermVerify (验收, 销号, 误报). PermSupervise is 挂牌督办.
	PermHazardWork Permission = "hazard_work"
	PermRectify    Permission = "rectify"
	PermVerify     Permission = "verify"
	PermSupervise  Permission = "supervise"
	// PermHazardCreate enters a hazard found on a walk-round (排查): the
	// plant's people who walk it (operators, verifiers), not the regulator,
	// whose findings are the plant's to record.
	PermHazardCreate Permission = "hazard_create"
	// PermAdmin: gateway administration (rule reload).
	PermAdmin Permission = "admin"
)

// grants says which role holds which permission. Kept as one table so a
// review of who may do what reads it in one place.
var grants = map[Role][]Permission{
	RoleViewer:    {PermRead},
	RoleOperator:  {PermRead, PermAck, PermDispose, PermHazardWork, PermRectify, PermHazardCreate},
	RoleVerifier:  {PermRead, PermHazardWork, PermVerify, PermHazardCreate},
	RoleRegulator: {PermRead, PermSupervise},
	RoleAdmin:     {PermRead, PermAck, PermDispose, PermHazardWork, PermRectify, PermVerify, PermSupervise, PermHazardCreate, PermAdmin},
}

// Can reports whether role holds perm.
func (r Role) Can(perm Permission) bool { return slices.Contains(grants[r], perm) }

// principal is who a request acts as. Sites and Regions, when either is
// set, limit the hub's cross-site routes to those sites.
type principal struct {
	Name    string
	Role    Role
	Sites   []string
	Regions []string
}

// scoped reports whether p sees only some sites.
func (p principal) scoped() bool { return len(p.Sites) > 0 || len(p.Regions) > 0 }

// sees reports whether p may see site, of region.
func (p principal) sees(site, region string) bool {
	return !p.scoped() || slices.Contains(p.Sites, site) || (region != "" && slices.Contains(p.Regions, region))
}

// localPrincipal is the user of an unauthenticated API. It may do
// everything: reaching a loopback-only API already means being on the host.
// State changes must still come from the console's own page or a
// non-browser client (fromOwnConsole), since any page a browser on the
// host shows can reach loopback too.
var localPrincipal = principal{Name: "local", Role: RoleAdmin}

type principalKey struct{}

func withPrincipal(ctx context.Context, p principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principalFrom returns the request's principal; the authenticate
// middleware always sets one on API routes.
func principalFrom(ctx context.Context) (principal, bool) {
	p, ok := ctx.Value(principalKey{}).(principal)
	return p, ok
}

// credential is a configured token, kept only as its SHA-256 hash.
type credential struct {
	hash [sha256.Size]byte
	principal
}

type authenticator struct {
	creds []credential
	log   *slog.Logger
}

// minTokenLen is where a token starts to resist guessing; shorter ones are
// accepted (tests, demos) with a warning.
const minTokenLen = 16

func newAuthenticator(tokens []config.Token, log *slog.Logger) (*authenticator, error) {
	a := &authenticator{log: log}
	names := make(map[string]bool, len(tokens))
	for i, t := range tokens {
		// Messages name the entry and its holder, never the secret.
		where := fmt.Sprintf("http.tokens[%d] (%q)", i, t.Name)
		if t.Name == "" {
			return nil, fmt.Errorf("http.tokens[%d]: empty name", i)
		}
		if names[t.Name] {
			return nil, fmt.Errorf("%s: duplicate name; acknowledgements are recorded by name", where)
		}
		names[t.Name] = true
		if t.Token == "" {
			return nil, fmt.Errorf("%s: empty token", where)
		}
		if strings.ContainsFunc(t.Token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return nil, fmt.Errorf("%s: token contains whitespace or control characters", where)
		}
		role := Role(t.Role)
		if role == "" {
			role = RoleViewer
		}
		if _, ok := grants[role]; !ok {
			return nil, fmt.Errorf("%s: unknown role %q (want viewer, operator, verifier, regulator or admin)", where, t.Role)
		}
		c := credential{hash: sha256.Sum256([]byte(t.Token)), principal: principal{Name: t.Name, Role: role, Sites: t.Sites, Regions: t.Regions}}
		for _, o := range a.creds {
			if o.hash == c.hash {
				return nil, fmt.Errorf("%s: same token as %q; give each holder its own", where, o.Name)
			}
		}
		if len(t.Token) < minTokenLen {
			log.Warn("api: short token, easy to guess", "token_name", t.Name, "min_length", minTokenLen)
		}
		a.creds = append(a.creds, c)
	}
	return a, nil
}

// match finds the credential of token. It compares against every hash
// whatever matches, so timing says nothing about which entry, or how much
// of one, matched.
func (a *authenticator) match(token string) (principal, bool) {
	h := sha256.Sum256([]byte(token))
	idx := -1
	for i := range a.creds {
		eq := subtle.ConstantTimeCompare(h[:], a.creds[i].hash[:])
		idx = subtle.ConstantTimeSelect(eq, i, idx)
	}
	if idx < 0 {
		return principal{}, false
	}
	return a.creds[idx].principal, true
}

// bearerToken extracts the token of an "Authorization: Bearer <token>"
// header; the scheme is case-insensitive (RFC 9110).
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// authenticate puts the request's principal in its context, or answers 401
// (429 for a wrong token from a client past its failure limit).
func (a *API) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := localPrincipal
		if a.auth != nil {
			var ok bool
			if p, ok = a.checkToken(w, r); !ok {
				return
			}
		} else if !safeMethod(r.Method) && !fromOwnConsole(r) {
			// Without tokens, reaching loopback is the only credential, and
			// a browser on the host reaches it for any page it shows.
			writeError(w, http.StatusForbidden, "the unauthenticated API takes changes only from its own console "+
				"or a local non-browser client; add an http.tokens block to act from elsewhere")
			return
		}
		noteUser(r.Context(), p.Name)
		next.ServeHTTP(w, r.WithContext(withPrincipal(r.Context(), p)))
	})
}

// checkToken finds the request's principal, or answers the refusal. A valid
// token always passes, even from an address that is past its failure limit:
// a guesser on a shared address (NAT, a jump host) must not lock out the
// control room. Only wrong tokens are limited. The token is compared (in
// constant time) before the limit is consulted, so a limited client's
// answer takes as long whichever token it sent. The price: past the limit a
// guesser still tells a right guess by its 200, so the limit no longer
// slows guessing; what does is the token length config enforces
// (config.MinTokenLen) and the per-address connection cap.
func (a *API) checkToken(w http.ResponseWriter, r *http.Request) (principal, bool) {
	tok, ok := bearerToken(r)
	if !ok {
		// A missing token is a client that has not logged in yet, not a
		// guess: it does not count against the limit.
		a.metrics.authFailures.WithLabelValues("missing").Inc()
		w.Header().Set("WWW-Authenticate", `Bearer realm="hazgate"`)
		writeError(w, http.StatusUnauthorized, "missing bearer token")
		return principal{}, false
	}
	if p, ok := a.auth.match(tok); ok {
		return p, true
	}
	client := clientOf(r)
	if wait, limited := a.limiter.blocked(client); limited {
		a.metrics.authFailures.WithLabelValues("limited").Inc()
		w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
		writeError(w, http.StatusTooManyRequests, "too many failed authentications from "+client+"; try again later")
		return principal{}, false
	}
	a.limiter.fail(client)
	a.metrics.authFailures.WithLabelValues("invalid").Inc()
	a.log.Warn("api: invalid bearer token", "remote", r.RemoteAddr, "path", r.URL.Path,
		"request_id", requestID(r))
	w.Header().Set("WWW-Authenticate", `Bearer realm="hazgate", error="invalid_token"`)
	writeError(w, http.StatusUnauthorized, "invalid bearer token")
	return principal{}, false
}

// requirePermission answers 403 unless the request's role holds perm.
func requirePermission(perm Permission) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := principalFrom(r.Context())
			if !ok || !p.Role.Can(perm) {
				writeError(w, http.StatusForbidden, fmt.Sprintf("role %q lacks permission %q", p.Role, perm))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// scopedRoutes are what a token limited to sites or regions may call: the
// hub's cross-site routes, which honour the scope, and who it is. The
// gateway's own routes (its alarms, points, hazards, stream, metrics) span
// every site a hub watches (its site_offline alarms name them all), so they
// are refused rather than leak what the scope excludes.
func scopedRoute(pattern string) bool {
	return strings.HasPrefix(pattern, "/api/v1/hub/") || pattern == "/api/v1/whoami" || pattern == "/api/v1/openapi.json"
}

// allowScoped answers 403 to a scoped token on a route outside
// scopedRoutes.
func allowScoped(pattern string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if scopedRoute(pattern) {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p, _ := principalFrom(r.Context()); p.scoped() {
				writeError(w, http.StatusForbidden, fmt.Sprintf("token %q is limited to some sites or regions: only the hub routes (/api/v1/hub/...) honour that", p.Name))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
