package api

import (
	"embed"
	"io/fs"
	"net/http"
	"slices"

	"hazgate/alerting/shift"
)

// The console is plain HTML, CSS and JavaScript embedded in the binary: no
// CDN and no build step, since sites are often offline.
//
//go:embed console
var consoleFiles embed.FS

const consolePath = "/console/"

var consoleCSP = "default-src 'self'; img-src 'self' data:; style-src 'self' " + shift.StyleHash + "; frame-ancestors 'none'"

func (a *API) console() http.HandlerFunc {
	sub, err := fs.Sub(consoleFiles, "console")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix(consolePath, http.FileServerFS(sub))
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// The page runs only its own scripts and talks only to this origin.
		// The shift report's style is allowed by its hash: the report,
		// shown from a blob, inherits this policy.
		h.Set("Content-Security-Policy", consoleCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}
}

// Whoami is what the console learns of its user.
type Whoami struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Permissions decide which buttons the console shows; the routes
	// check them again.
	Permissions []Permission `json:"permissions"`
	// Authenticated is false in loopback mode, where no token is asked.
	Authenticated bool   `json:"authenticated"`
	Site          string `json:"site"`
	// Notice is http.notice: a line for every user (the demo's shortened
	// timing), empty for none.
	Notice string `json:"notice,omitempty"`
	// SiteName is site.name, the enterprise's name, for the header.
	SiteName string `json:"site_name,omitempty"`
	// Scoped is true for a token limited to some sites or regions (listed):
	// it may use the hub's routes only, so the console shows only those.
	Scoped  bool     `json:"scoped,omitempty"`
	Sites   []string `json:"sites,omitempty"`
	Regions []string `json:"regions,omitempty"`
}

func (a *API) whoami() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, _ := principalFrom(r.Context())
		writeJSON(w, http.StatusOK, Whoami{Name: p.Name, Role: p.Role, Permissions: slices.Clone(grants[p.Role]),
			Authenticated: a.auth != nil, Site: a.site, SiteName: a.siteName, Notice: a.notice, Scoped: p.scoped(), Sites: p.Sites, Regions: p.Regions})
	}
}

func (a *API) reload() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.reloader == nil {
			writeError(w, http.StatusNotImplemented, "reload is not available on this gateway")
			return
		}
		p, _ := principalFrom(r.Context())
		if err := a.reloader.Reload(r.Context()); err != nil {
			// The message names the config file's problems, which the
			// admin asking needs to see.
			a.log.Warn("api: reload refused", "user", p.Name, "err", err)
			writeError(w, http.StatusUnprocessableEntity, "rules not reloaded; the old rules stay in force: "+err.Error())
			return
		}
		a.log.Info("api: rules reloaded", "user", p.Name, "site", a.site)
		writeJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
	}
}

func (a *API) shutdownStreams() { a.stopStreams() }
