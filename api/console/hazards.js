'use strict';
// The plant's hazard tab (隐患): the list, a record's detail with its
// history and the actions the user's role may take, and manual entry of a
// hazard found on a walk-round (排查). Loaded after console.js, whose
// helpers ($, el, t, api, can, toast, fmtTime, exportLedger) it uses.

Object.assign(I18N.zh, {
  'hz.new': '新增隐患', 'hz.detail': '详情', 'hz.close': '关闭', 'hz.history': '处理记录',
  'hz.f.location': '隐患部位', 'hz.f.category': '隐患类别', 'hz.f.level': '隐患等级', 'hz.f.description': '隐患描述',
  'hz.f.basis': '判定依据', 'hz.f.measures': '整改措施', 'hz.f.responsible': '责任单位', 'hz.f.person': '责任人',
  'hz.f.found': '发现时间', 'hz.f.deadline': '整改时限', 'hz.f.funds': '整改资金（元）', 'hz.f.remarks': '备注',
  'hz.f.status': '整改状态', 'hz.f.condition': '报警状态', 'hz.f.source': '来源', 'hz.f.rectified': '整改完成时间',
  'hz.f.verifier': '验收人', 'hz.f.verifyComment': '验收意见', 'hz.f.verified': '验收时间', 'hz.f.closed': '销号时间',
  'hz.f.area': '区域', 'hz.f.point': '部位或点位编号', 'hz.f.days': '整改期限（天）', 'hz.f.comment': '说明 / 验收意见',
  'hz.f.override': '报警仍在时销号的理由',
  'hz.cond.active': '报警仍在（报警 {ids}）', 'hz.cond.normal': '已恢复正常', 'hz.cond.none': '无关联报警',
  'hz.src.rule': '规则判定', 'hz.src.manual': '现场排查录入',
  'hz.refusedActive': '报警仍在，不能销号。如确需销号，请在下方填写理由后再次销号。',
  'hz.activeWarn': '关联报警仍未消除：销号须说明理由。',
  'hz.submit': '提交', 'hz.cancel': '取消', 'hz.created': '已登记隐患 {n}',
  'hz.ev.time': '时间', 'hz.ev.event': '事件', 'hz.ev.by': '操作人', 'hz.ev.comment': '说明', 'hz.ev.override': '销号理由',
  'ev.overdue': '超期',
});
Object.assign(I18N.en, {
  'hz.new': 'New hazard', 'hz.detail': 'Details', 'hz.close': 'Close', 'hz.history': 'History',
  'hz.f.location': 'Location', 'hz.f.category': 'Category', 'hz.f.level': 'Level', 'hz.f.description': 'Description',
  'hz.f.basis': 'Basis', 'hz.f.measures': 'Measures', 'hz.f.responsible': 'Responsible unit', 'hz.f.person': 'Person responsible',
  'hz.f.found': 'Found', 'hz.f.deadline': 'Deadline', 'hz.f.funds': 'Funds (yuan)', 'hz.f.remarks': 'Remarks',
  'hz.f.status': 'Status', 'hz.f.condition': 'Alarms', 'hz.f.source': 'Source', 'hz.f.rectified': 'Rectified',
  'hz.f.verifier': 'Verifier', 'hz.f.verifyComment': "Verifier's opinion", 'hz.f.verified': 'Verified', 'hz.f.closed': 'Closed',
  'hz.f.area': 'Area', 'hz.f.point': 'Place or tag id', 'hz.f.days': 'Days to rectify', 'hz.f.comment': 'Comment / opinion',
  'hz.f.override': 'Why close while the alarm holds',
  'hz.cond.active': 'Still active (alarms {ids})', 'hz.cond.normal': 'Back to normal', 'hz.cond.none': 'No linked alarm',
  'hz.src.rule': 'Rule', 'hz.src.manual': 'Walk-round entry',
  'hz.refusedActive': 'The alarm is still active: the record cannot be closed. To close it anyway, state why below and close again.',
  'hz.activeWarn': 'The linked alarms are still active: closing needs a reason.',
  'hz.submit': 'Submit', 'hz.cancel': 'Cancel', 'hz.created': 'Hazard {n} recorded',
  'hz.ev.time': 'Time', 'hz.ev.event': 'Event', 'hz.ev.by': 'By', 'hz.ev.comment': 'Comment', 'hz.ev.override': 'Reason to close',
  'ev.overdue': 'overdue',
});

// The open record's detail: the record, its history, and what the last
// attempt answered (a refused 销号 asks for a reason).
const HZ = { detail: null, events: [], error: '', needReason: false };

function hazardQuery() {
  const q = new URLSearchParams();
  if ($('hz-status').value) q.set('status', $('hz-status').value);
  if ($('hz-overdue').checked) q.set('overdue', '1');
  return q.toString();
}

// Which status changes a role may ask for; the server's workflow decides.
const STEPS = {
  open: [['in_progress', 'rectify', 'to.in_progress'], ['dismissed', 'verify', 'to.dismissed']],
  in_progress: [['pending_verification', 'rectify', 'to.pending_verification'], ['dismissed', 'verify', 'to.dismissed']],
  pending_verification: [['closed', 'verify', 'to.closed'], ['in_progress', 'verify', 'to.back'], ['dismissed', 'verify', 'to.dismissed']],
};
const isDone = (h) => h.status === 'closed' || h.status === 'dismissed';

async function loadHazards() {
  S.hazards = await api('/api/v1/hazards?' + hazardQuery());
  if (HZ.detail) await loadHazardDetail(HZ.detail.id);
  renderHazards();
}
function renderHazards() {
  $('hz-new').hidden = !can('hazard_create');
  $('hz-rows').replaceChildren(...S.hazards.map((h) => el('tr', {
    'data-id': h.id, className: (h.level === '重大隐患' ? 'major' : '') + (HZ.detail && HZ.detail.id === h.id ? ' sel' : ''),
    onclick: () => openHazard(h.id),
  },
  el('td', {}, h.number), el('td', {}, h.area), el('td', {}, h.level + (h.supervised ? ' · ' + t('hz.supervised') : '')),
  el('td', { className: 'msg' }, h.description), el('td', { className: h.overdue ? 'overdue' : '' }, fmtTime(h.deadline)),
  el('td', {}, t('hz.' + h.status)), el('td', {}, el('button', { className: 'detail' }, t('hz.detail'))))));
  renderHazardDetail();
}

async function loadHazardDetail(id) {
  const [h, events] = await Promise.all([api('/api/v1/hazards/' + id), api('/api/v1/hazards/' + id + '/history')]);
  if (HZ.detail && HZ.detail.id !== id) { HZ.error = ''; HZ.needReason = false; }
  HZ.detail = h; HZ.events = events;
}
async function openHazard(id) {
  try {
    $('hz-new-form').hidden = true;
    await loadHazardDetail(id);
    renderHazards();
    $('hz-detail').scrollIntoView({ block: 'nearest' });
  } catch (e) { toast(t('failed') + e.message); }
}
function closeHazard() {
  HZ.detail = null; HZ.error = ''; HZ.needReason = false;
  renderHazards();
}

const fmtFunds = (f) => f == null ? '' : Number(f).toFixed(2);
function condition(h) {
  if (h.condition_active) return t('hz.cond.active', { ids: h.alarm_ids.join(', ') });
  return h.alarm_ids.length ? t('hz.cond.normal') : t('hz.cond.none');
}

// renderHazardDetail draws the open record; what the user has typed in its
// inputs survives a redraw (a live update, a language switch).
function renderHazardDetail() {
  const box = $('hz-detail');
  const h = HZ.detail;
  box.hidden = !h;
  if (!h) { box.replaceChildren(); return; }
  const kept = {};
  box.querySelectorAll('[data-keep]').forEach((e) => { kept[e.id] = e.value; });
  const field = (key, value, cls) => [el('dt', {}, t(key)), el('dd', cls ? { className: cls } : {}, value == null ? '' : String(value))];
  const fields = el('dl', { className: 'hz-fields' },
    ...field('hz.f.location', h.area + (h.tag_name ? ' ' + h.tag_name : '') + (h.tag ? '（' + h.tag + '）' : '')),
    ...field('hz.f.category', h.category), ...field('hz.f.level', h.level + (h.supervised ? ' · ' + t('hz.supervised') : '')),
    ...field('hz.f.description', h.description), ...field('hz.f.basis', h.basis), ...field('hz.f.measures', h.measures),
    ...field('hz.f.responsible', h.responsible), ...field('hz.f.person', h.person),
    ...field('hz.f.found', fmtTime(h.found_at)), ...field('hz.f.deadline', fmtTime(h.deadline) + (h.overdue ? ' · ' + t('hz.overdue') : ''), h.overdue ? 'overdue' : ''),
    ...field('hz.f.funds', fmtFunds(h.funds)), ...field('hz.f.remarks', h.remarks),
    ...field('hz.f.status', t('hz.' + h.status), 'status-' + h.status),
    ...field('hz.f.condition', condition(h), h.condition_active ? 'cond-active' : ''),
    ...field('hz.f.source', t('hz.src.' + (h.source || 'rule'))),
    ...field('hz.f.rectified', fmtTime(h.rectified_at)), ...field('hz.f.verifier', h.verified_by),
    ...field('hz.f.verifyComment', h.verify_comment), ...field('hz.f.verified', fmtTime(h.verified_at)),
    ...field('hz.f.closed', fmtTime(h.closed_at)));

  const steps = (STEPS[h.status] || []).filter(([, perm]) => can(perm));
  const rectifier = steps.some(([, perm]) => perm === 'rectify');
  const input = (id, key, attrs) => el('label', {}, el('span', {}, t(key)),
    el(attrs.rows ? 'textarea' : 'input', Object.assign({ id, 'data-keep': '' }, attrs)));
  const acts = el('div', { className: 'hz-actions' });
  if (steps.length) {
    acts.append(input('hz-comment', 'hz.f.comment', { rows: 2 }));
    if (rectifier) {
      acts.append(input('hz-person', 'hz.f.person', { type: 'text' }), input('hz-measures', 'hz.f.measures', { rows: 2 }),
        input('hz-funds', 'hz.f.funds', { type: 'number', min: '0', step: '0.01' }));
    }
    acts.append(input('hz-remarks', 'hz.f.remarks', { type: 'text' }));
    if (h.condition_active && steps.some(([to]) => to === 'closed')) acts.append(el('p', { className: 'warn' }, t('hz.activeWarn')));
    if (HZ.needReason) acts.append(input('hz-override', 'hz.f.override', { type: 'text' }));
  }
  if (HZ.error) acts.append(el('p', { id: 'hz-error', className: 'error' }, HZ.error));
  const buttons = el('div', { className: 'bar' }, ...steps.map(([to, , label]) =>
    el('button', { className: 'to-' + to, onclick: () => transition(h, to) }, t(label))));
  if (can('supervise') && h.level === '重大隐患' && !h.supervised && !isDone(h)) {
    buttons.append(el('button', { className: 'supervise', onclick: () => supervise(h) }, t('supervise')));
  }
  buttons.append(el('button', { className: 'hz-close', onclick: closeHazard }, t('hz.close')));
  acts.append(buttons);

  const events = el('table', { className: 'compact' },
    el('thead', {}, el('tr', {}, ...['hz.ev.time', 'hz.ev.event', 'hz.ev.by', 'hz.ev.comment', 'hz.ev.override'].map((k) => el('th', {}, t(k))))),
    el('tbody', { id: 'hz-events' }, ...HZ.events.map((e) => el('tr', { 'data-type': e.type },
      el('td', {}, fmtTime(e.time)),
      el('td', {}, (I18N.zh['ev.' + e.type] ? t('ev.' + e.type) : e.type) + (e.to ? ' → ' + t('hz.' + e.to) : '')),
      el('td', {}, e.by || ''), el('td', { className: 'msg' }, e.comment || ''), el('td', { className: 'msg' }, e.override_reason || '')))));

  box.replaceChildren(el('h3', {}, h.number + ' · ' + h.level + ' · ' + t('hz.' + h.status)), fields, acts,
    el('h4', {}, t('hz.history')), events);
  box.querySelectorAll('[data-keep]').forEach((e) => { if (kept[e.id] != null) e.value = kept[e.id]; });
}

async function transition(h, to) {
  const val = (id) => ($(id) ? $(id).value.trim() : '');
  const body = { to, comment: val('hz-comment') };
  if ((STEPS[h.status] || []).some(([st, perm]) => st === to && perm === 'rectify')) {
    if (val('hz-person')) body.person = val('hz-person');
    if (val('hz-measures')) body.measures = val('hz-measures');
    if (val('hz-funds') !== '') body.funds = Number(val('hz-funds'));
  }
  if (val('hz-remarks')) body.remarks = val('hz-remarks');
  if (val('hz-override')) body.override_reason = val('hz-override');
  try {
    await api('/api/v1/hazards/' + h.id + '/transition', { method: 'POST', body: JSON.stringify(body) });
    HZ.error = ''; HZ.needReason = false;
    document.querySelectorAll('#hz-detail [data-keep]').forEach((e) => { e.value = ''; });
    toast(t('done'));
  } catch (e) {
    // 销号 while the alarms behind the record hold: the server asks why.
    const refused = e.status === 409 && to === 'closed' && h.condition_active;
    HZ.needReason = HZ.needReason || refused;
    HZ.error = refused ? t('hz.refusedActive') + '（' + e.message + '）' : t('failed') + e.message;
  }
  await loadHazards().catch((e) => toast(e.message));
}
async function supervise(h) {
  const note = prompt(t('comment'));
  if (!note) return;
  try {
    await api('/api/v1/hazards/' + h.id + '/supervise', { method: 'POST', body: JSON.stringify({ note }) });
    toast(t('done')); loadHazards();
  } catch (e) { toast(t('failed') + e.message); }
}

// Manual entry (新增隐患): the server checks every field and names the one
// that is wrong; the form shows its answer.
async function createHazard(ev) {
  ev.preventDefault();
  const v = (id) => $(id).value.trim();
  const body = { description: v('hzn-description'), level: v('hzn-level'), area: v('hzn-area'), point: v('hzn-point'),
    days: Number(v('hzn-days')), person: v('hzn-person'), basis: v('hzn-basis'), measures: v('hzn-measures'), remarks: v('hzn-remarks') };
  if (v('hzn-funds') !== '') body.funds = Number(v('hzn-funds'));
  try {
    const h = await api('/api/v1/hazards', { method: 'POST', body: JSON.stringify(body) });
    $('hz-new-form').reset(); $('hz-new-form').hidden = true; $('hzn-error').textContent = '';
    toast(t('hz.created', { n: h.number }));
    HZ.detail = h;
    await loadHazards();
  } catch (e) { $('hzn-error').textContent = t('failed') + e.message; }
}

function showNotice() {
  const n = (S.me && S.me.notice) || '';
  $('notice').textContent = n; $('notice').hidden = !n;
}

document.addEventListener('DOMContentLoaded', () => {
  $('hz-status').addEventListener('change', loadHazards);
  $('hz-overdue').addEventListener('change', loadHazards);
  $('hz-export').addEventListener('click', () => exportLedger('/api/v1/hazards/export?' + hazardQuery()));
  $('hz-export-xlsx').addEventListener('click', () => exportLedger('/api/v1/hazards/export?format=xlsx&' + hazardQuery()));
  $('hz-new').addEventListener('click', () => {
    HZ.detail = null; renderHazards();
    $('hz-new-form').hidden = false; $('hzn-description').focus();
  });
  $('hzn-cancel').addEventListener('click', () => { $('hz-new-form').hidden = true; $('hzn-error').textContent = ''; });
  $('hz-new-form').addEventListener('submit', createHazard);
});
