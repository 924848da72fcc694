// hazgate console: the alarm list, its horn, acknowledgement with a
// comment and the disposal record (报警处置). The server pages and filters
// (GET /api/v1/alarms?sort=attention): a flood of thousands stays one page
// of the most urgent.
'use strict';

Object.assign(I18N.zh, {
  'state.awaiting_disposal': '待处置', 'state.suppressed_by_design': '已抑制',
  'filter.area': '区域', 'filter.severity': '级别', 'filter.all': '全部', 'filter.search': '搜索点位或内容',
  'col.point': '点位', 'col.duration': '持续', 'col.alarmLevel': '报警等级',
  'lvl.1': '一级', 'lvl.2': '二级', 'lvl.HH': '高高', 'lvl.H': '高', 'lvl.L': '低', 'lvl.LL': '低低',
  'lvl.rise': '上升速率', 'lvl.fall': '下降速率', 'lvl.stale': '无数据', 'lvl.device': '设备',
  'lvl.fire': '火警', 'lvl.fault': '故障', 'lvl.supervisory': '监管', 'lvl.disabled': '屏蔽', 'lvl.start': '启动', 'lvl.feedback': '反馈',
  'lvl.comm_loss': '通信中断', 'lvl.sensor_fault': '传感器故障', 'lvl.bad_quality': '数据异常',
  'dispose': '处置', 'silence': '消音', 'horn.prefs': '报警声', 'horn.hint': '点击启用报警声',
  'horn.critical': '紧急/火警/二级', 'horn.high': '高', 'horn.medium': '中', 'horn.low': '低',
  'ad.title': '报警详情', 'ad.close': '关闭', 'ad.raised': '报警时间', 'ad.cleared': '恢复时间', 'ad.acked': '确认',
  'ad.peak': '峰值', 'ad.count': '次数', 'ad.rule': '规则', 'ad.history': '处理记录', 'ad.escalated': '已升级 {n} 次',
  'ad.suppressed': '代表 {n} 个点位的报警（设计抑制）', 'ad.disposal': '处置记录',
  'ad.ackComment': '确认备注（可选）', 'ad.ackWith': '确认', 'ad.awaiting': '该报警需填写处置记录后方可关闭',
  'dp.title': '填写处置记录', 'dp.cause': '原因', 'dp.measures': '处置措施', 'dp.person': '处置人', 'dp.at': '处置时间',
  'dp.note': '备注', 'dp.submit': '提交处置', 'dp.needMeasures': '请填写处置措施', 'dp.done': '处置记录已提交',
  'ev.raised': '报警', 'ev.acked': '确认', 'ev.cleared': '恢复', 'ev.closed': '关闭', 'ev.shelved': '搁置',
  'ev.unshelved': '解除搁置', 'ev.disposed': '处置', 'ev.escalated': '升级',
});
Object.assign(I18N.en, {
  'state.awaiting_disposal': 'Awaiting disposal', 'state.suppressed_by_design': 'Suppressed',
  'filter.area': 'Area', 'filter.severity': 'Severity', 'filter.all': 'All', 'filter.search': 'Search tag or message',
  'col.point': 'Point', 'col.duration': 'Duration', 'col.alarmLevel': 'Level',
  'lvl.1': 'Level 1', 'lvl.2': 'Level 2', 'lvl.HH': 'HH', 'lvl.H': 'H', 'lvl.L': 'L', 'lvl.LL': 'LL',
  'lvl.rise': 'Rising', 'lvl.fall': 'Falling', 'lvl.stale': 'Stale', 'lvl.device': 'Device',
  'lvl.fire': 'Fire', 'lvl.fault': 'Fault', 'lvl.supervisory': 'Supervisory', 'lvl.disabled': 'Disabled', 'lvl.start': 'Start', 'lvl.feedback': 'Feedback',
  'lvl.comm_loss': 'Comm loss', 'lvl.sensor_fault': 'Sensor fault', 'lvl.bad_quality': 'Bad quality',
  'dispose': 'Dispose', 'silence': 'Silence', 'horn.prefs': 'Horn', 'horn.hint': 'Click to enable the horn',
  'horn.critical': 'Critical / fire / level 2', 'horn.high': 'High', 'horn.medium': 'Medium', 'horn.low': 'Low',
  'ad.title': 'Alarm', 'ad.close': 'Close', 'ad.raised': 'Raised', 'ad.cleared': 'Cleared', 'ad.acked': 'Acknowledged',
  'ad.peak': 'Peak', 'ad.count': 'Count', 'ad.rule': 'Rule', 'ad.history': 'History', 'ad.escalated': 'escalated {n} times',
  'ad.suppressed': 'stands for the alarms of {n} points (designed suppression)', 'ad.disposal': 'Disposal',
  'ad.ackComment': 'Comment (optional)', 'ad.ackWith': 'Acknowledge', 'ad.awaiting': 'This alarm closes once its disposal is filed',
  'dp.title': 'File the disposal', 'dp.cause': 'Cause', 'dp.measures': 'Measures taken', 'dp.person': 'Handled by', 'dp.at': 'Time',
  'dp.note': 'Note', 'dp.submit': 'File disposal', 'dp.needMeasures': 'Say what was done', 'dp.done': 'Disposal filed',
  'ev.raised': 'raised', 'ev.acked': 'acknowledged', 'ev.cleared': 'cleared', 'ev.closed': 'closed', 'ev.shelved': 'shelved',
  'ev.unshelved': 'unshelved', 'ev.disposed': 'disposed', 'ev.escalated': 'escalated',
});

const PAGE = 100; // alarm rows per page
const A = { rows: [], total: 0, page: 0, sel: null, causes: [], areas: [], unacked: null, silenced: false, loading: null };

// Which values mean nothing for an alarm: a lost device reads 0, a fire
// panel state 1.
const NO_VALUE = new Set(['comm_loss', 'sensor_fault', 'bad_quality']);
const GAS = new Set(['combustible_gas', 'toxic_gas']);
const isUnacked = (a) => a.state === 'active_unacked' || a.state === 'cleared_unacked';
const msgOf = (a) => (S.lang === 'en' && a.message_en) || a.message || a.rule;

// levelLabel: GB/T 50493 speaks of level-1 and level-2 gas alarms.
function levelLabel(a) {
  if (GAS.has(a.kind) && (a.level === 'H' || a.level === 'HH')) return t(a.level === 'HH' ? 'lvl.2' : 'lvl.1');
  if (a.level) return I18N.zh['lvl.' + a.level] ? t('lvl.' + a.level) : a.level;
  return I18N.zh['lvl.' + a.class] ? t('lvl.' + a.class) : '';
}
function valueText(a) {
  if (a.value == null) return ''; // the API leaves it out where nothing was measured
  if (NO_VALUE.has(a.class) || a.level === 'device' || a.level === 'stale' || (a.level && I18N.zh['lvl.' + a.level] && !/^(HH|H|L|LL|rise|fall)$/.test(a.level))) return '';
  return String(a.value) + (a.unit ? ' ' + a.unit : '');
}

function alarmQuery(extra) {
  const q = new URLSearchParams({ sort: 'attention' });
  const st = $('alarm-state').value, area = $('alarm-area').value, sev = $('alarm-severity').value, text = $('alarm-q').value.trim();
  if (st) q.set('state', st);
  if (area) q.set('area', area);
  if (sev) q.set('severity', sev);
  if (text) q.set('q', text);
  for (const k in extra || {}) q.set(k, extra[k]);
  return q.toString();
}

async function loadAlarms() {
  // One request in flight; a burst of events asks once more after it.
  if (A.loading) { A.again = true; return A.loading; }
  A.loading = (async () => {
    const resp = await api('/api/v1/alarms?' + alarmQuery({ offset: A.page * PAGE, limit: PAGE }), { raw: true });
    A.total = parseInt(resp.headers.get('X-Total-Count') || '0', 10);
    A.rows = await resp.json();
    const top = await api('/api/v1/alarms?state=active_unacked,cleared_unacked&sort=attention&limit=1', { raw: true });
    const first = await top.json();
    A.unacked = { total: parseInt(top.headers.get('X-Total-Count') || '0', 10), top: first[0] || null };
    renderAlarms();
    horn.update();
  })();
  try { await A.loading; } finally {
    A.loading = null;
    if (A.again) { A.again = false; loadAlarms().catch((e) => toast(e.message)); }
  }
}

function onAlarmEvent(ev) {
  // A new annunciation, or an escalation, sounds the horn again after a silence.
  if ((ev.type === 'raised' && ev.alarm.state === 'active_unacked') || ev.type === 'escalated') A.silenced = false;
  if (A.sel && A.sel.id === ev.alarm.id) showAlarm(ev.alarm.id);
  clearTimeout(onAlarmEvent.timer);
  onAlarmEvent.timer = setTimeout(() => loadAlarms().catch((e) => toast(e.message)), 150);
  scheduleRefresh();
}

function renderAlarms() {
  const pages = Math.max(1, Math.ceil(A.total / PAGE));
  $('alarm-count').textContent = t('count', { n: A.total });
  $('alarm-page').textContent = t('page', { p: A.page + 1, n: pages });
  $('alarm-prev').disabled = A.page === 0;
  $('alarm-next').disabled = A.page >= pages - 1;
  const now = Date.now();
  const rows = A.rows.map((a) => {
    const acts = el('td', { className: 'acts' });
    const stop = (f) => (e) => { e.stopPropagation(); f(); };
    if (can('ack')) {
      if (isUnacked(a)) acts.append(el('button', { className: 'ack', onclick: stop(() => act(a.id, 'ack', {})) }, t('ack')));
      if (a.state === 'out_of_service') {
        // Ending maintenance is an admin's call (the API refuses an operator).
        if (can('admin')) acts.append(el('button', { className: 'return-to-service', onclick: stop(() => act(a.id, 'return-to-service')) }, t('return-to-service')));
      } else if (a.state === 'shelved') {
        acts.append(el('button', { className: 'unshelve', onclick: stop(() => act(a.id, 'unshelve')) }, t('unshelve')));
      } else if (a.state !== 'awaiting_disposal') {
        acts.append(el('button', { className: 'shelve', onclick: stop(() => shelve(a.id)) }, t('shelve')));
      }
    }
    if (can('dispose') && !a.disposal) acts.append(el('button', { className: 'dispose', onclick: stop(() => showAlarm(a.id, true)) }, t('dispose')));
    const end = a.cleared_at ? Date.parse(a.cleared_at) : now;
    return el('tr', { 'data-id': a.id, tabindex: '0', className: 'state-' + a.state + (a.state === 'active_unacked' ? ' flash' : '') + (A.sel && A.sel.id === a.id ? ' sel' : ''),
      onclick: () => showAlarm(a.id) },
      el('td', {}, fmtTime(a.raised_at)),
      el('td', { className: 'point' }, a.name || a.tag, a.name ? el('span', { className: 'note' }, ' ' + a.tag) : null),
      el('td', {}, a.area || ''),
      el('td', { className: 'level' }, levelLabel(a)),
      el('td', { className: 'msg' }, msgOf(a)),
      el('td', { className: 'value' }, valueText(a)),
      el('td', {}, fmtDur(end - Date.parse(a.raised_at))),
      el('td', { className: 'sev-' + a.severity }, t('sev.' + a.severity) + (a.escalations ? ' ↑' : '')),
      el('td', { className: 'state', 'data-state': a.state }, t('state.' + a.state)), acts);
  });
  $('alarm-rows').replaceChildren(...rows);
}

async function act(id, what, body) {
  try {
    await api('/api/v1/alarms/' + id + '/' + what, { method: 'POST', body: body ? JSON.stringify(body) : undefined });
    await loadAlarms();
    if (A.sel && A.sel.id === id) await showAlarm(id);
  } catch (e) { toast(t('failed') + e.message); }
}
function shelve(id) {
  const reason = prompt(t('shelve.reason'));
  if (!reason) return;
  const minutes = parseInt(prompt(t('shelve.minutes'), '60'), 10);
  if (minutes > 0) act(id, 'shelve', { minutes, reason });
}

// localInput writes a time for <input type=datetime-local>, in the
// browser's zone.
function localInput(d) {
  const p = (n) => String(n).padStart(2, '0');
  return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
}

// showAlarm opens an alarm's detail: its fields, disposal, history, and
// the forms the role may use.
async function showAlarm(id, focusDisposal) {
  const seq = A.showSeq = (A.showSeq || 0) + 1; // only the latest call renders
  const a = await api('/api/v1/alarms/' + id);
  A.sel = a;
  if (!A.causes.length) A.causes = await api('/api/v1/alarms/causes');
  const from = new Date(Date.parse(a.raised_at) - 1000).toISOString();
  const hist = a.tag ? (await api('/api/v1/alarms/history?tag=' + encodeURIComponent(a.tag) + '&from=' + encodeURIComponent(from) + '&limit=1000'))
    .filter((ev) => ev.alarm.id === a.id) : [];
  const box = $('alarm-detail');
  const dl = el('dl', {});
  const field = (k, v) => { if (v) dl.append(el('dt', {}, t(k)), el('dd', {}, v)); };
  field('col.point', (a.name ? a.name + ' ' : '') + a.tag + (a.area ? '（' + a.area + '）' : ''));
  field('col.alarmLevel', levelLabel(a) + ' · ' + t('sev.' + a.severity) + (a.escalations ? ' · ' + t('ad.escalated', { n: a.escalations }) : ''));
  field('col.state', t('state.' + a.state));
  field('ad.raised', fmtTime(a.raised_at));
  field('col.value', valueText(a));
  field('ad.peak', valueText(Object.assign({}, a, { value: a.peak })));
  field('ad.cleared', fmtTime(a.cleared_at));
  field('ad.acked', a.acked_at ? fmtTime(a.acked_at) + ' ' + a.acked_by + (a.ack_comment ? '：' + a.ack_comment : '') : '');
  field('ad.rule', a.rule);
  if (a.level === 'device') {
    const kids = await api('/api/v1/alarms?state=suppressed_by_design');
    field('ad.suppressed', ' ');
    dl.lastChild.textContent = t('ad.suppressed', { n: kids.filter((k) => k.root_id === a.id).length });
  }
  if (seq !== A.showSeq) return;
  const parts = [el('h3', {}, msgOf(a)), dl];
  if (a.disposal) {
    const d = a.disposal, cause = (A.causes.find((c) => c.code === d.cause) || { name: d.cause }).name;
    parts.push(el('h4', {}, t('ad.disposal')), el('p', { className: 'disposal' },
      cause + ' · ' + d.measures + ' · ' + d.person + ' · ' + fmtTime(d.at) + (d.note ? ' · ' + d.note : '')));
  }
  if (a.state === 'awaiting_disposal') parts.push(el('p', { className: 'overdue' }, t('ad.awaiting')));
  const rows = hist.map((ev) => el('tr', {}, el('td', {}, fmtTime(ev.time)), el('td', {}, t('ev.' + ev.type)), el('td', {}, ev.by || ''),
    el('td', {}, ev.type === 'acked' ? ev.alarm.ack_comment || '' : ev.type === 'disposed' && ev.alarm.disposal ? ev.alarm.disposal.measures : '')));
  parts.push(el('h4', {}, t('ad.history')), el('table', { className: 'compact' }, el('tbody', { id: 'ad-history' }, ...rows)));
  // The forms stay as they are while the alarm and what it allows do: a
  // live update must not wipe what the operator is typing.
  const key = a.id + '/' + isUnacked(a) + '/' + (a.state !== 'normal' && a.state !== 'suppressed_by_design');
  const info = $('ad-info');
  if (info && box.dataset.key === key && !box.hidden) {
    info.replaceChildren(...parts);
    renderAlarms();
    return;
  }
  const forms = [];
  if (can('ack') && isUnacked(a)) {
    const comment = el('input', { id: 'ack-comment', placeholder: t('ad.ackComment'), maxlength: '500' });
    forms.push(el('form', { className: 'ack-form', onsubmit: (e) => { e.preventDefault(); act(a.id, 'ack', { comment: comment.value.trim() }); } },
      comment, el('button', { id: 'ack-with-comment', type: 'submit' }, t('ad.ackWith'))));
  }
  if (can('dispose') && a.state !== 'normal' && a.state !== 'suppressed_by_design') forms.push(disposalForm(a));
  forms.push(el('button', { onclick: () => { A.sel = null; box.hidden = true; renderAlarms(); } }, t('ad.close')));
  box.dataset.key = key;
  box.replaceChildren(el('div', { id: 'ad-info' }, ...parts), ...forms);
  box.hidden = false;
  renderAlarms();
  if (focusDisposal && $('dp-measures')) $('dp-measures').focus();
}

function disposalForm(a) {
  const cause = el('select', { id: 'dp-cause' }, ...A.causes.map((c) => el('option', { value: c.code }, c.name)));
  const measures = el('textarea', { id: 'dp-measures', rows: '2', maxlength: '2000' });
  const person = el('input', { id: 'dp-person', value: (S.me && S.me.name) || '' });
  const shown = localInput(new Date());
  const at = el('input', { id: 'dp-at', type: 'datetime-local', step: '1', value: shown });
  const note = el('input', { id: 'dp-note', maxlength: '2000' });
  const label = (k, input) => el('label', {}, el('span', {}, t(k)), input);
  return el('form', { id: 'dp-form', onsubmit: async (e) => {
    e.preventDefault();
    if (!measures.value.trim()) { toast(t('dp.needMeasures')); return; }
    const body = { cause: cause.value, measures: measures.value.trim(), person: person.value.trim(), note: note.value.trim() };
    if (at.value && at.value !== shown) body.at = new Date(at.value).toISOString(); // else the server's now
    await act(a.id, 'dispose', body);
    toast(t('dp.done'));
  } }, el('h4', {}, t('dp.title')), label('dp.cause', cause), label('dp.measures', measures), label('dp.person', person),
  label('dp.at', at), label('dp.note', note), el('button', { id: 'dp-submit', type: 'submit' }, t('dp.submit')));
}

// The horn sounds while an alarm waits for its acknowledgement, in the
// pattern of the most urgent: fast two-tone for critical alarms, fire and
// gas level 2, slower and softer below. It is on unless this browser turned
// it off; which severities sound, and whether it sounds at all, is
// remembered per browser. A browser that starts audio only after a gesture
// (autoplay policy) shows 点击启用报警声 until the first click anywhere.
// 消音 silences it until the next alarm is raised. document.body.dataset.horn says what it sounds,
// for people who cannot hear it and for tests.
const HORN = {
  critical: { tones: [960, 720], beat: 0.25, every: 0.5, gain: 0.6 },
  high: { tones: [880], beat: 0.3, every: 1.2, gain: 0.4 },
  medium: { tones: [660], beat: 0.2, every: 3, gain: 0.25 },
  low: { tones: [520], beat: 0.15, every: 6, gain: 0.15 },
};
const horn = {
  prefs: Object.assign({ on: true, critical: true, high: true, medium: true, low: false },
    JSON.parse(localStorage.getItem('hazgate.horn') || '{}')),
  next: 0,
  save() { localStorage.setItem('hazgate.horn', JSON.stringify(this.prefs)); },
  level() {
    const a = A.unacked && A.unacked.top;
    if (!a) return '';
    const lv = (a.severity === 'critical' || a.level === 'HH' || a.level === 'fire' || a.class === 'fire') ? 'critical' : a.severity;
    return this.prefs[lv] ? lv : '';
  },
  update() {
    const lv = this.level();
    const sounding = this.prefs.on && !A.silenced ? lv : '';
    document.body.dataset.horn = sounding;
    $('silence').hidden = !lv || A.silenced;
    $('sound').dataset.i18n = this.prefs.on ? 'sound.on' : 'sound.off'; // applyLang keeps it
    $('sound').textContent = t($('sound').dataset.i18n);
    $('horn-hint').hidden = !(sounding && this.ctx && this.ctx.state !== 'running');
  },
  tick() {
    const lv = document.body.dataset.horn;
    if (!lv) return;
    try {
      this.ctx = this.ctx || new AudioContext();
      if (this.ctx.state !== 'running') { $('horn-hint').hidden = false; return; }
      const p = HORN[lv], now = this.ctx.currentTime;
      if (now < this.next) return;
      p.tones.forEach((f, i) => {
        const o = this.ctx.createOscillator(), g = this.ctx.createGain();
        o.type = 'square'; o.frequency.value = f; g.gain.value = p.gain;
        o.connect(g); g.connect(this.ctx.destination);
        o.start(now + i * p.beat); o.stop(now + (i + 1) * p.beat);
      });
      this.next = now + p.every;
    } catch (e) { /* no audio device */ }
  },
};

function initAlarms() {
  const reload = () => { A.page = 0; loadAlarms().catch((e) => toast(e.message)); };
  ['alarm-state', 'alarm-area', 'alarm-severity'].forEach((id) => $(id).addEventListener('change', reload));
  $('alarm-q').addEventListener('input', () => { clearTimeout(initAlarms.t); initAlarms.t = setTimeout(reload, 300); });
  $('alarm-prev').addEventListener('click', () => { A.page--; loadAlarms().catch((e) => toast(e.message)); });
  $('alarm-next').addEventListener('click', () => { A.page++; loadAlarms().catch((e) => toast(e.message)); });
  $('sound').addEventListener('click', () => {
    horn.prefs.on = !horn.prefs.on; horn.save();
    if (horn.prefs.on) { horn.ctx = horn.ctx || new AudioContext(); horn.ctx.resume(); }
    horn.update();
  });
  $('silence').addEventListener('click', () => { A.silenced = true; horn.update(); });
  for (const lv of Object.keys(HORN)) {
    const box = $('horn-' + lv);
    box.checked = !!horn.prefs[lv];
    box.addEventListener('change', () => { horn.prefs[lv] = box.checked; horn.save(); horn.update(); });
  }
  // Browsers start audio only after a gesture: the first click anywhere.
  document.addEventListener('click', () => {
    if (!horn.prefs.on) return;
    try { horn.ctx = horn.ctx || new AudioContext(); } catch (e) { return; }
    if (horn.ctx.state !== 'running') horn.ctx.resume().then(() => horn.update(), () => {});
  }, true);
  horn.update();
  setInterval(() => horn.tick(), 100);
  // Durations move; the list refreshes its page every 10 s without events.
  setInterval(() => { if (S.me && !S.me.scoped && currentTab() === 'alarms') loadAlarms().catch(() => {}); }, 10000);
}

// fillAreas offers the registry's areas in the filter.
async function fillAreas() {
  const tags = await api('/api/v1/tags');
  const areas = [...new Set(tags.map((x) => x.area).filter(Boolean))].sort();
  const sel = $('alarm-area'), cur = sel.value;
  sel.replaceChildren(el('option', { value: '' }, t('filter.all')), ...areas.map((x) => el('option', { value: x }, x)));
  sel.value = cur;
}
