'use strict';
// The tags tab's trend (点位趋势): a range remembered per browser, that
// range's history, and the limits the alarm engine judges the tag by drawn
// as dashed lines named as the alarm message names them (二级报警值 50).
// drawTrend is shared with the hub's site detail (showSiteTrend in
// console.js), which passes no options. Loaded after console.js, whose
// helpers ($, t, api, S, toast, fmtTime) it uses.

Object.assign(I18N.zh, {
  'tr.range': '时间范围', 'tr.1h': '1小时', 'tr.8h': '8小时', 'tr.24h': '24小时', 'tr.7d': '7天',
  'tr.pick': '点击点位查看趋势', 'tr.period': '{from} 至 {to}', 'tr.noData': '该时段无数据',
  'tr.limits': '报警限值：{l}', 'tr.noLimits': '无报警限值',
});
Object.assign(I18N.en, {
  'tr.range': 'Range', 'tr.1h': '1 hour', 'tr.8h': '8 hours', 'tr.24h': '24 hours', 'tr.7d': '7 days',
  'tr.pick': 'Click a tag for its trend', 'tr.period': '{from} to {to}', 'tr.noData': 'No readings in this period',
  'tr.limits': 'Alarm limits: {l}', 'tr.noLimits': 'No alarm limits',
});

const MIN = 60e3, HOUR = 60 * MIN, DAY = 24 * HOUR;
const TREND_RANGES = { '1h': HOUR, '8h': 8 * HOUR, '24h': DAY, '7d': 7 * DAY };
const TR = { point: null, req: null, drawn: null }; // the trend shown, and the request whose answer it waits for

function trendRange() {
  const r = localStorage.getItem('hazgate.trendRange');
  return TREND_RANGES[r] ? r : '1h';
}

function setTrendRange(r) {
  localStorage.setItem('hazgate.trendRange', r);
  renderTrendRanges();
  if (TR.point) showTrend(TR.point);
}

function renderTrendRanges() {
  document.querySelectorAll('#trend-ranges button').forEach((b) => b.classList.toggle('active', b.dataset.range === trendRange()));
}

// limitLabel names a limit as its alarm message does: 二级报警值 50.
const limitValue = (v) => String(+v.toPrecision(4)); // as the engine writes limits: 7.058, not 7.058426
const limitLabel = (l) => ((S.lang === 'en' ? l.words_en : l.words) || l.level) + ' ' + limitValue(l.value);

// showTrend draws the chosen range of a tag's readings with its limits.
async function showTrend(p) {
  S.tag = p.tag; TR.point = p;
  document.querySelectorAll('#tag-rows tr').forEach((r) => r.classList.toggle('sel', r.dataset.tag === p.tag));
  $('trend-title').textContent = p.tag + ' ' + (p.name || '') + (p.unit ? ' (' + p.unit + ')' : '');
  const to = new Date(), from = new Date(to.getTime() - TREND_RANGES[trendRange()]);
  const q = new URLSearchParams({ from: from.toISOString(), to: to.toISOString() });
  const path = '/api/v1/points/' + encodeURIComponent(p.tag);
  // The newest request wins: a slow 7-day answer must not replace the
  // trend of a tag or range chosen after it.
  const req = TR.req = {};
  let pts, limits;
  try {
    [pts, limits] = await Promise.all([
      api(path + '/history?' + q),
      api(path + '/limits').catch((e) => { if (e.status === 501) return []; throw e; }), // a gateway without an engine
    ]);
  } catch (e) {
    if (TR.req === req) toast(t('failed') + e.message);
    return;
  }
  if (TR.req !== req) return;
  TR.drawn = { pts, opts: { from, to, limits }, at: Date.now() };
  redrawTrend();
}

// redrawTrend draws the last answer again, in the language now chosen.
function redrawTrend() {
  const note = $('trend-note');
  if (!TR.drawn) { note.textContent = t('tr.pick'); return; }
  const { pts, opts } = TR.drawn;
  const had = drawTrend($('trend'), pts, fmtTime, opts);
  const lines = [t('tr.period', { from: fmtTime(opts.from), to: fmtTime(opts.to) }) + (had ? '' : ' · ' + t('tr.noData'))];
  lines.push(opts.limits.length ? t('tr.limits', { l: opts.limits.map(limitLabel).join('，') }) : t('tr.noLimits'));
  note.textContent = lines.join(' · ');
}

// niceStep rounds a raw step up to 1, 2, 2.5 or 5 times a power of ten.
function niceStep(raw) {
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const m = [1, 2, 2.5, 5, 10].find((x) => x * mag >= raw);
  return Number((m * mag).toPrecision(12));
}

// timeStep is the tick interval for a span: about 6 to 8 labels.
function timeStep(span) {
  const steps = [MIN, 2 * MIN, 5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY];
  return steps.find((s) => span / s <= 8) || 7 * DAY;
}

const pad2 = (n) => String(n).padStart(2, '0');
// Ticks fall on whole local minutes, hours or days (console times are the
// browser's, as fmtTime shows them); a day's start shows its date.
function timeTicks(t0, t1) {
  const step = timeStep(t1 - t0), out = [];
  const d = new Date(t0); d.setHours(0, 0, 0, 0);
  for (let x = d.getTime(); x <= t1; x = step >= DAY ? new Date(x).setDate(new Date(x).getDate() + step / DAY) : x + step) {
    if (x < t0) continue;
    const at = new Date(x);
    const midnight = at.getHours() === 0 && at.getMinutes() === 0;
    out.push({ x, label: midnight ? pad2(at.getMonth() + 1) + '-' + pad2(at.getDate()) : pad2(at.getHours()) + ':' + pad2(at.getMinutes()) });
  }
  return out;
}

// drawTrend draws history points ({time, value?}) into svg (600x240): the
// readings as polylines broken at bad ones, a value axis with round ticks,
// and with opts:
//   from, to  the period the time axis spans, with ticks fit for its length
//             (else it spans the points, labelled at both ends with fmt);
//   limits    alarm limits (GET .../limits) as dashed lines with their
//             words and value, the value axis widened to show them.
// It reports whether there was a reading to draw.
function drawTrend(svg, pts, fmt, opts) {
  opts = opts || {};
  const ns = 'http://www.w3.org/2000/svg';
  const limits = opts.limits || [];
  const vals = pts.filter((x) => x.value != null);
  svg.replaceChildren();
  if (!vals.length && !(limits.length && opts.from)) return false;
  const L = 44, R = 590, T = 12, B = 220; // the plot's box in the viewBox
  const t0 = opts.from ? new Date(opts.from).getTime() : Date.parse(pts[0].time);
  const t1 = Math.max(opts.to ? new Date(opts.to).getTime() : Date.parse(pts[pts.length - 1].time), t0 + 1);
  let lo = Infinity, hi = -Infinity;
  for (const v of vals.map((x) => x.value).concat(limits.map((l) => l.value))) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (hi === lo) { hi += 1; lo -= 1; }
  const span = hi - lo;
  hi += span * 0.05; lo -= span * 0.05; // a limit at the edge stays inside the box
  const step = niceStep((hi - lo) / 5);
  lo = Math.floor(lo / step) * step; hi = Math.ceil(hi / step) * step;
  const digits = Math.min(4, (String(step).split('.')[1] || '').length);
  const X = (ms) => L + (ms - t0) / (t1 - t0) * (R - L), Y = (v) => B - (v - lo) / (hi - lo) * (B - T);
  const mk = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text != null) e.textContent = text;
    svg.append(e);
    return e;
  };
  for (let i = 0; lo + i * step <= hi + step / 2; i++) {
    const v = lo + i * step, y = Y(v).toFixed(1);
    mk('line', { x1: L, y1: y, x2: R, y2: y, class: 'grid' });
    mk('text', { x: L - 4, y: +y + 4, 'text-anchor': 'end', class: 'tick' }, v.toFixed(digits));
  }
  if (opts.from) {
    for (const tk of timeTicks(t0, t1)) {
      const x = X(tk.x);
      mk('line', { x1: x.toFixed(1), y1: T, x2: x.toFixed(1), y2: B, class: 'grid' });
      mk('text', { x: x.toFixed(1), y: 234, 'text-anchor': x < L + 16 ? 'start' : x > R - 16 ? 'end' : 'middle', class: 'tick time' }, tk.label);
    }
  } else {
    mk('text', { x: L, y: 234 }, fmt(pts[0].time));
    mk('text', { x: R, y: 234, 'text-anchor': 'end' }, fmt(pts[pts.length - 1].time));
  }
  mk('line', { x1: L, y1: B, x2: R, y2: B, class: 'axis' });
  mk('line', { x1: L, y1: T, x2: L, y2: B, class: 'axis' });
  // Limits under the readings, labels nudged apart where two lie close.
  const placed = limits.map((l) => ({ l, y: Y(l.value) })).sort((a, b) => a.y - b.y);
  let prev = -Infinity;
  for (const p of placed) {
    const cls = 'limit limit-' + p.l.level.toLowerCase();
    mk('line', { x1: L, y1: p.y.toFixed(1), x2: R, y2: p.y.toFixed(1), class: cls, 'data-level': p.l.level, 'data-value': p.l.value, 'data-rule': p.l.rule });
    const ly = Math.max(p.y - 3, prev + 11, T + 9);
    prev = ly;
    mk('text', { x: R - 2, y: ly.toFixed(1), 'text-anchor': 'end', class: cls + ' label', 'data-level': p.l.level }, limitLabel(p.l));
  }
  let seg = [];
  const flush = () => { if (seg.length) mk('polyline', { points: seg.join(' '), class: 'line' }); seg = []; };
  for (const x of pts) {
    if (x.value == null) { flush(); continue; }
    seg.push(X(Date.parse(x.time)).toFixed(1) + ',' + Y(x.value).toFixed(1));
  }
  flush();
  // The newest reading marked: on a week's axis the last minutes are a
  // sliver at the right edge.
  const last = vals[vals.length - 1];
  if (last) mk('circle', { cx: X(Date.parse(last.time)).toFixed(1), cy: Y(last.value).toFixed(1), r: 3, class: 'last' });
  return vals.length > 0;
}

document.addEventListener('DOMContentLoaded', () => {
  document.querySelectorAll('#trend-ranges button').forEach((b) => b.addEventListener('click', () => setTrendRange(b.dataset.range)));
  renderTrendRanges();
  redrawTrend();
  // console.js switches the language first: its listener was added before.
  $('lang').addEventListener('click', redrawTrend);
  // The trend moves on while its tab is open: a 240th of its range, at
  // least 15 s apart (15 s for an hour, 42 min for a week).
  setInterval(() => {
    if (!S.me || !TR.point || !TR.drawn || currentTab() !== 'tags') return;
    if (Date.now() - TR.drawn.at >= Math.max(15e3, TREND_RANGES[trendRange()] / 240)) showTrend(TR.point).catch(() => {});
  }, 5000);
});
