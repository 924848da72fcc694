// hazgate console: the KPI tab (指标), daily alarm KPIs beside EEMUA 191
// as inline SVG, and the shift report (交接班). Loaded after console.js,
// whose el(), api(), t(), toast() and S it uses.
'use strict';

Object.assign(I18N.zh, {
  'tab.kpi': '指标', 'kpi.period': '统计周期', 'kpi.days7': '近7天', 'kpi.days30': '近30天',
  'kpi.alarmsTitle': '每日报警次数（北京时间）', 'kpi.ratesTitle': '处置率与离线率',
  'kpi.date': '日期', 'kpi.alarms': '报警次数', 'kpi.rate': '报警率', 'kpi.disposal': '处置率', 'kpi.false': '误报率',
  'kpi.ackMedian': '确认时间中位数', 'kpi.disposeMedian': '处置时间中位数', 'kpi.offline': '离线率',
  'kpi.floods': '报警洪水', 'kpi.chattering': '振荡报警', 'kpi.top': '报警最多的10个点位', 'kpi.count': '次数', 'kpi.share': '占比',
  'kpi.guidance': 'EEMUA 191：每人每天≤{n}', 'kpi.summary': '{days}天共 {n} 次报警，{points} 个点位，处置率 {d}，离线率 {o}',
  'kpi.shift': '交接班', 'kpi.hours8': '近8小时', 'kpi.hours12': '近12小时', 'kpi.hours24': '近24小时',
  'kpi.shiftReport': '交接班报表', 'kpi.shiftXlsx': '交接班Excel', 'kpi.perPoint': '次/点',
  'kpi.ledgerCsv': '报警记录', 'kpi.ledgerXlsx': '报警记录Excel',
});
Object.assign(I18N.en, {
  'tab.kpi': 'KPIs', 'kpi.period': 'Period', 'kpi.days7': 'Last 7 days', 'kpi.days30': 'Last 30 days',
  'kpi.alarmsTitle': 'Alarms per day (Beijing time)', 'kpi.ratesTitle': 'Disposal rate and offline rate',
  'kpi.date': 'Date', 'kpi.alarms': 'Alarms', 'kpi.rate': 'Per point', 'kpi.disposal': 'Disposed', 'kpi.false': 'False alarms',
  'kpi.ackMedian': 'Median to ack', 'kpi.disposeMedian': 'Median to dispose', 'kpi.offline': 'Offline',
  'kpi.floods': 'Floods', 'kpi.chattering': 'Chattering', 'kpi.top': 'Top 10 sources', 'kpi.count': 'Count', 'kpi.share': 'Share',
  'kpi.guidance': 'EEMUA 191: ≤{n} a day per operator', 'kpi.summary': '{days} days: {n} alarms, {points} points, {d} disposed, {o} offline',
  'kpi.shift': 'Shift', 'kpi.hours8': 'Last 8 hours', 'kpi.hours12': 'Last 12 hours', 'kpi.hours24': 'Last 24 hours',
  'kpi.shiftReport': 'Shift report', 'kpi.shiftXlsx': 'Shift report (Excel)', 'kpi.perPoint': 'per point',
  'kpi.ledgerCsv': 'Alarm ledger (CSV)', 'kpi.ledgerXlsx': 'Alarm ledger (Excel)',
});

const K = { data: null, top: null, names: null };
const SVGNS = 'http://www.w3.org/2000/svg';

// bjDate is the Beijing date of ms since the epoch, 2025-03-01: the KPI
// days are Beijing days whatever the browser's zone.
const bjDate = (ms) => new Date(ms + 8 * 3600e3).toISOString().slice(0, 10);
const pct = (x) => (x * 100).toFixed(1) + '%';
const secs = (x) => x == null ? '–' : fmtDur(x * 1000);

async function loadKPI() {
  const days = +$('kpi-days').value || 7;
  const now = Date.now();
  const from = bjDate(now - (days - 1) * 86400e3), to = bjDate(now);
  const q = 'from=' + from + '&to=' + to;
  // The period's top 10 comes from the period KPIs: the days' own top
  // lists would miss a tag that is never in one day's ten.
  const [daily, period] = await Promise.all([
    api('/api/v1/alarms/kpi/daily?' + q),
    api('/api/v1/alarms/kpi?from=' + from + 'T00:00:00%2B08:00&to=' + encodeURIComponent(new Date(now).toISOString())),
  ]);
  if (!K.names) {
    K.names = new Map((await api('/api/v1/tags').catch(() => [])).map((tg) => [tg.id, tg.name]));
  }
  K.data = daily; K.top = period;
  renderKPI();
}

function renderKPI() {
  const d = K.data;
  if (!d) return;
  $('kpi-summary').textContent = kpiSummary(d);
  drawBars($('kpi-bars'), d.days, d.guidance_per_day);
  drawRates($('kpi-rates'), d.days);
  $('kpi-rows').replaceChildren(...kpiRows(d));
  const top = (K.top && K.top.top_sources) || [];
  const n = (K.top && K.top.alarms) || 0;
  $('kpi-top').replaceChildren(...top.map((s, i) => el('tr', {},
    el('td', {}, String(i + 1)), el('td', {}, s.tag), el('td', {}, (K.names && K.names.get(s.tag)) || ''),
    el('td', {}, String(s.count)), el('td', {}, n ? pct(s.count / n) : ''))));
}

// kpiRows is the per-day table of a daily KPI answer, newest first: the
// plant's KPI tab and a site's page at the hub show the same columns.
function kpiRows(d) {
  return d.days.slice().reverse().map((x) => el('tr', { 'data-date': x.date },
    el('td', {}, x.date), el('td', { className: 'kpi-alarms' + (x.alarms > d.guidance_per_day ? ' overdue' : '') }, String(x.alarms)),
    el('td', {}, d.points ? x.alarm_rate.toFixed(2) : '–'), el('td', { className: 'kpi-disposal' }, x.alarms ? pct(x.disposal_rate) : '–'),
    el('td', {}, x.alarms ? pct(x.false_alarm_rate) : '–'), el('td', {}, secs(x.median_ack_seconds)),
    el('td', {}, secs(x.median_dispose_seconds)), el('td', {}, pct(x.offline_rate)),
    el('td', {}, String(x.floods)), el('td', {}, String(x.chattering))));
}

// kpiSummary is the one-line total of a daily KPI answer.
function kpiSummary(d) {
  const total = d.days.reduce((n, x) => n + x.alarms, 0);
  const disposed = d.days.reduce((n, x) => n + x.disposed, 0);
  const offline = d.days.reduce((n, x) => n + x.offline_rate, 0) / Math.max(d.days.length, 1);
  return t('kpi.summary', { days: d.days.length, n: total, points: d.points,
    d: total ? pct(disposed / total) : '–', o: pct(offline) });
}

// svgKid appends an SVG element; colours are presentation attributes,
// which the page's style-src 'self' allows (style attributes it would not).
function svgKid(svg, tag, attrs, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text != null) e.textContent = text;
  svg.append(e);
  return e;
}

// drawBars draws one bar per day of its alarm count, with EEMUA 191's
// daily guidance as a dashed line.
function drawBars(svg, days, guidance) {
  svg.replaceChildren();
  const W = 760, H = 260, L = 44, R = 10, T = 16, B = 34;
  const top = Math.max(guidance, ...days.map((x) => x.alarms)) * 1.15 || 1;
  const Y = (v) => H - B - v / top * (H - B - T);
  const slot = (W - L - R) / Math.max(days.length, 1);
  svgKid(svg, 'rect', { x: 0, y: 0, width: W, height: H, fill: '#0b1016' });
  svgKid(svg, 'line', { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: '#445' });
  svgKid(svg, 'line', { x1: L, y1: T, x2: L, y2: H - B, stroke: '#445' });
  svgKid(svg, 'text', { x: L - 4, y: Y(0) + 4, 'text-anchor': 'end', fill: '#9aa', 'font-size': 11 }, '0');
  svgKid(svg, 'text', { x: L - 4, y: Y(top / 1.15) + 4, 'text-anchor': 'end', fill: '#9aa', 'font-size': 11 }, String(Math.round(top / 1.15)));
  days.forEach((x, i) => {
    const bx = L + i * slot + slot * 0.15, bw = slot * 0.7;
    const bar = svgKid(svg, 'rect', { class: 'bar', x: bx.toFixed(1), y: Y(x.alarms).toFixed(1), width: bw.toFixed(1),
      height: (H - B - Y(x.alarms)).toFixed(1), fill: x.alarms > guidance ? '#e53935' : '#3d8bd6', 'data-date': x.date });
    svgKid(bar, 'title', {}, x.date + ': ' + x.alarms);
    if (days.length <= 14 || x.alarms > 0) {
      svgKid(svg, 'text', { class: 'bar-value', x: (bx + bw / 2).toFixed(1), y: (Y(x.alarms) - 3).toFixed(1), 'text-anchor': 'middle', fill: '#dde', 'font-size': 11 }, String(x.alarms));
    }
    if (days.length <= 14 || (days.length - 1 - i) % 5 === 0) {
      svgKid(svg, 'text', { class: 'day-label', x: (bx + bw / 2).toFixed(1), y: H - B + 14, 'text-anchor': 'middle', fill: '#9aa', 'font-size': 11 }, x.date.slice(5));
    }
  });
  const gy = Y(guidance).toFixed(1);
  svgKid(svg, 'line', { class: 'guidance', x1: L, y1: gy, x2: W - R, y2: gy, stroke: '#ffb347', 'stroke-dasharray': '6 4' });
  svgKid(svg, 'text', { x: W - R, y: gy - 4, 'text-anchor': 'end', fill: '#ffb347', 'font-size': 11 }, t('kpi.guidance', { n: guidance }));
}

// drawRates draws 处置率 and 离线率 per day as lines on 0-100 %.
function drawRates(svg, days) {
  svg.replaceChildren();
  const W = 760, H = 220, L = 44, R = 10, T = 24, B = 30;
  const slot = (W - L - R) / Math.max(days.length, 1);
  const X = (i) => L + i * slot + slot / 2, Y = (v) => H - B - v * (H - B - T);
  svgKid(svg, 'rect', { x: 0, y: 0, width: W, height: H, fill: '#0b1016' });
  for (const v of [0, 0.5, 1]) {
    svgKid(svg, 'line', { x1: L, y1: Y(v), x2: W - R, y2: Y(v), stroke: v ? '#27313d' : '#445' });
    svgKid(svg, 'text', { x: L - 4, y: Y(v) + 4, 'text-anchor': 'end', fill: '#9aa', 'font-size': 11 }, (v * 100) + '%');
  }
  const series = [
    ['disposal', t('kpi.disposal'), '#5fd068', (x) => x.alarms ? x.disposal_rate : null],
    ['offline', t('kpi.offline'), '#ffb347', (x) => x.offline_rate],
  ];
  series.forEach(([cls, label, colour, val], k) => {
    let seg = [];
    const flush = () => { if (seg.length > 1) svgKid(svg, 'polyline', { class: 'rate-' + cls, points: seg.join(' '), fill: 'none', stroke: colour, 'stroke-width': 2 }); seg = []; };
    days.forEach((x, i) => {
      const v = val(x);
      if (v == null) { flush(); return; }
      seg.push(X(i).toFixed(1) + ',' + Y(v).toFixed(1));
      const c = svgKid(svg, 'circle', { class: 'dot-' + cls, cx: X(i).toFixed(1), cy: Y(v).toFixed(1), r: 3, fill: colour });
      svgKid(c, 'title', {}, x.date + ' ' + label + ' ' + pct(v));
    });
    flush();
    svgKid(svg, 'rect', { x: L + 10 + k * 120, y: 6, width: 12, height: 4, fill: colour });
    svgKid(svg, 'text', { x: L + 26 + k * 120, y: 12, fill: '#cdd', 'font-size': 11 }, label);
  });
  days.forEach((x, i) => {
    if (days.length <= 14 || (days.length - 1 - i) % 5 === 0) {
      svgKid(svg, 'text', { x: X(i).toFixed(1), y: H - B + 14, 'text-anchor': 'middle', fill: '#9aa', 'font-size': 11 }, x.date.slice(5));
    }
  });
}

// shiftQuery is the shift report's period: the last N hours.
function shiftQuery(format) {
  const to = new Date(), from = new Date(to - (+$('shift-hours').value || 8) * 3600e3);
  return '/api/v1/reports/shift?format=' + format + '&from=' + encodeURIComponent(from.toISOString()) + '&to=' + encodeURIComponent(to.toISOString());
}

// ledgerQuery is the alarm ledger (报警处置记录) of the KPI period: its
// Beijing days, from the first's midnight to now.
function ledgerQuery(format) {
  const now = Date.now();
  const from = bjDate(now - ((+$('kpi-days').value || 7) - 1) * 86400e3) + 'T00:00:00+08:00';
  return '/api/v1/alarms/export?format=' + format + '&from=' + encodeURIComponent(from) + '&to=' + encodeURIComponent(new Date(now).toISOString());
}

// openShiftReport shows the printable report in a new tab. The report needs
// the token, so it is fetched and shown from a blob; the tab is opened
// before the fetch, while the click still counts as the user's.
async function openShiftReport() {
  const w = window.open('', '_blank');
  try {
    const resp = await api(shiftQuery('html'), { raw: true });
    const url = URL.createObjectURL(await resp.blob());
    if (w) w.location = url; else window.location.assign(url);
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (e) {
    if (w) w.close();
    toast(t('failed') + e.message);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('kpi-days').addEventListener('change', () => loadKPI().catch((e) => toast(e.message)));
  $('shift-html').addEventListener('click', openShiftReport);
  $('shift-xlsx').addEventListener('click', () => exportLedger(shiftQuery('xlsx')));
  $('ledger-csv').addEventListener('click', () => exportLedger(ledgerQuery('csv')));
  $('ledger-xlsx').addEventListener('click', () => exportLedger(ledgerQuery('xlsx')));
});
