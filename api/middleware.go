package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/go-chi/chi/v5/middleware"
)

func requestID(r *http.Request) string { return middleware.GetReqID(r.Context()) }

// echoRequestID returns the request id to the client, so a user's report
// can be matched to the log.
func echoRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := requestID(r); id != "" {
			w.Header().Set(middleware.RequestIDHeader, id)
		}
		next.ServeHTTP(w, r)
	})
}

// logNote carries what inner handlers learn (who the user is) back out to
// the access log, which wraps them and so cannot see their contexts.
type logNote struct{ user string }

type logNoteKey struct{}

func noteUser(ctx context.Context, user string) {
	if n, ok := ctx.Value(logNoteKey{}).(*logNote); ok {
		n.user = user
	}
}

// accessLog writes one debug line per request. It logs the path, never the
// headers, so no token reaches the log.
func (a *API) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.log.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		note := &logNote{}
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		defer func() {
			status := ww.Status()
			if status == 0 {
				status = http.StatusOK // nothing written: net/http sends 200
			}
			a.log.LogAttrs(r.Context(), slog.LevelDebug, "api: request",
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Int("bytes", ww.BytesWritten()),
				slog.Duration("duration", time.Since(start)),
				slog.String("user", note.user),
				slog.String("remote", r.RemoteAddr),
				slog.String("request_id", requestID(r)),
			)
		}()
		next.ServeHTTP(ww, r.WithContext(context.WithValue(r.Context(), logNoteKey{}, note)))
	})
}

// recoverer turns a handler panic into a logged error and a 500, so one bad
// request does not take the gateway down.
func (a *API) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v) // net/http's way to abort a response; not a bug
			}
			a.log.Error("api: handler panic", "method", r.Method, "path", r.URL.Path,
				"request_id", requestID(r), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			writeError(w, http.StatusInternalServerError, "internal error")
		}()
		next.ServeHTTP(w, r)
	})
}
