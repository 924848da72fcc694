package shift

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"

	"hazgate/alerting/sheet"
)

// pageCSS is the report page's only style, screen and print: A4 landscape,
// each table's header repeated on every printed page, no row split. The
// page is served under a CSP naming this text's hash (StyleHash), so it
// must reach the page exactly as written: no template actions in it.
const pageCSS = `
body { font: 12px/1.45 "Noto Sans CJK SC", "Microsoft YaHei", "SimSun", sans-serif; color: #000; margin: 1.5em; }
h1 { font-size: 18px; text-align: center; margin: 0 0 .6em; }
h2 { font-size: 14px; margin: 1.2em 0 .4em; border-left: 4px solid #305496; padding-left: .4em; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #666; padding: 2px 4px; text-align: left; vertical-align: top; }
th { background: #dde4f0; }
table.head { width: auto; margin-bottom: .6em; }
table.head th { background: none; border: none; padding-right: 1em; }
table.head td { border: none; }
p.none { color: #555; }
.sign { margin-top: 2em; display: flex; gap: 6em; }
@media print {
  @page { size: A4 landscape; margin: 12mm; }
  body { margin: 0; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; }
  h2 { break-after: avoid; }
}
`

// StyleHash is the CSP source of pageCSS ('sha256-...'): the report's
// Content-Security-Policy allows that style and nothing else, and the
// console's allows it too, as a report it shows from a blob inherits the
// console's policy.
var StyleHash = func() string {
	sum := sha256.Sum256([]byte(pageCSS))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

var page = template.Must(template.New("shift").Parse(`<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>交接班报表 {{.Site}} {{.Period}}</title>
<style>` + pageCSS + `</style>
</head>
<body>
<h1>{{if .Unit}}{{.Unit}} {{end}}交接班报表</h1>
<table class="head">
{{range .Summary}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>
{{end}}</table>
{{range .Sections}}<h2>{{.Name}}（{{len .Rows}}）</h2>
{{if .Rows}}<table>
<thead><tr>{{range .Columns}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
{{else}}<p class="none">无</p>
{{end}}{{end}}
<div class="sign"><span>交班人：</span><span>接班人：</span><span>交接时间：</span></div>
</body>
</html>
`))

// WriteHTML writes the report as a self-contained printable page in
// Chinese; every value is escaped by html/template.
func (r Report) WriteHTML(w io.Writer) error {
	data := struct {
		Site, Unit, Period string
		Summary            [][2]string
		Sections           []sheet.Table
	}{r.Site, r.Unit, bjTime(&r.From) + "–" + bjTime(&r.To), r.summary(), r.sections()}
	if err := page.Execute(w, data); err != nil {
		return fmt.Errorf("shift report html: %w", err)
	}
	return nil
}
