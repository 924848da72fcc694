package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"

	"hazgate/alerting/hazard"
	"hazgate/alerting/shift"
)

// ShiftReports builds 交接班 reports and alarm ledgers (*shift.Builder).
type ShiftReports interface {
	Build(ctx context.Context, from, to time.Time) (shift.Report, error)
	Ledger(ctx context.Context, from, to time.Time) (shift.Ledger, error)
}

// shiftPageCSP lets the report page use its own style and nothing else:
// it holds text operators and devices wrote, escaped, and no script.
var shiftPageCSP = "default-src 'none'; style-src " + shift.StyleHash + "; frame-ancestors 'none'"

// shiftReport answers GET /reports/shift: ?from= and ?to= (RFC 3339,
// default the last 8 hours), ?format=html (default, printable), xlsx or
// json. Anyone who may read the alarms and hazards may read it: it holds
// nothing a viewer cannot read from their own routes.
func (a *API) shiftReport() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.shift == nil {
			writeError(w, http.StatusNotImplemented, "shift reports are not available on this gateway")
			return
		}
		format := r.URL.Query().Get("format")
		switch format {
		case "":
			format = "html"
		case "html", "xlsx", "json":
		default:
			writeError(w, http.StatusBadRequest, fmt.Sprintf("format=%q: want html, xlsx or json", format))
			return
		}
		from, to, err := parsePeriod(r, shift.DefaultLength)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if to.Sub(from) > shift.MaxLength {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("from=%s to=%s: a shift report covers at most %s",
				from.Format(time.RFC3339), to.Format(time.RFC3339), shift.MaxLength))
			return
		}
		rep, err := a.shift.Build(r.Context(), from, to)
		if err != nil {
			a.internalError(w, r, "building the shift report", err)
			return
		}
		if format == "json" {
			writeJSON(w, http.StatusOK, rep)
			return
		}
		var buf bytes.Buffer
		h := w.Header()
		name := fmt.Sprintf("shift-%s-%s.%s", a.site, to.In(hazard.Beijing).Format("20060102-1504"), format)
		if format == "xlsx" {
			err = rep.WriteXLSX(&buf)
			h.Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
			h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
		} else {
			err = rep.WriteHTML(&buf)
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Content-Disposition", `inline; filename="`+name+`"`)
			h.Set("Content-Security-Policy", shiftPageCSP)
			h.Set("X-Content-Type-Options", "nosniff")
		}
		if err != nil {
			h.Del("Content-Disposition")
			h.Del("Content-Security-Policy")
			a.internalError(w, r, "writing the shift report", err)
			return
		}
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(buf.Bytes())
	}
}

// ledgerPeriod is the alarm ledger's default period: a month.
const ledgerPeriod = 30 * 24 * time.Hour

// alarmExport answers GET /alarms/export: the alarm ledger (报警处置记录)
// of the alarms raised in ?from= to ?to= (RFC 3339, default the last 30
// days, at most 93) with their acknowledgement and disposal, ?format=csv
// (default) or xlsx.
func (a *API) alarmExport() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.shift == nil {
			writeError(w, http.StatusNotImplemented, "the alarm ledger is not available on this gateway")
			return
		}
		format := r.URL.Query().Get("format")
		switch format {
		case "":
			format = "csv"
		case "csv", "xlsx":
		default:
			writeError(w, http.StatusBadRequest, fmt.Sprintf("format=%q: want csv or xlsx", format))
			return
		}
		from, to, err := parsePeriod(r, ledgerPeriod)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if to.Sub(from) > shift.MaxLedgerLength {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("from=%s to=%s: an alarm ledger covers at most %d days",
				from.Format(time.RFC3339), to.Format(time.RFC3339), shift.MaxLedgerLength/(24*time.Hour)))
			return
		}
		l, err := a.shift.Ledger(r.Context(), from, to)
		if err != nil {
			a.internalError(w, r, "reading the alarm ledger", err)
			return
		}
		var buf bytes.Buffer
		h := w.Header()
		if format == "xlsx" {
			err = l.WriteXLSX(&buf)
			h.Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
		} else {
			err = l.WriteCSV(&buf)
			h.Set("Content-Type", "text/csv; charset=utf-8")
		}
		if err != nil {
			a.internalError(w, r, "writing the alarm ledger", err)
			return
		}
		bj := func(t time.Time) string { return t.In(hazard.Beijing).Format("20060102") }
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="alarms-%s-%s-%s.%s"`, a.site, bj(from), bj(to), format))
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(buf.Bytes())
	}
}
