// hazgate console: plain JavaScript, no build step, no CDN.
'use strict';

const I18N = {
  zh: {
    'tab.alarms': '报警', 'tab.overview': '总览', 'tab.tags': '点位', 'tab.hazards': '隐患',
    'live.on': '实时', 'live.off': '未连接', 'sound.on': '声音：开', 'sound.off': '声音：关', 'logout': '退出',
    'login.prompt': '请输入访问令牌', 'login.button': '登录', 'login.bad': '令牌无效', 'login.limited': '失败次数过多，请稍后再试',
    'filter.state': '状态', 'filter.allOpen': '全部未关闭', 'filter.status': '状态',
    'state.active_unacked': '报警未确认', 'state.active_acked': '报警已确认', 'state.cleared_unacked': '已恢复未确认',
    'state.normal': '已关闭', 'state.shelved': '已搁置', 'state.out_of_service': '停用',
    'col.time': '时间', 'col.tag': '点位', 'col.message': '内容', 'col.severity': '级别', 'col.value': '值', 'col.state': '状态',
    'col.name': '名称', 'col.area': '区域', 'col.quality': '质量', 'col.number': '编号', 'col.level': '等级',
    'col.description': '描述', 'col.deadline': '整改时限', 'col.status': '状态',
    'sev.low': '低', 'sev.medium': '中', 'sev.high': '高', 'sev.critical': '紧急',
    'ack': '确认', 'shelve': '搁置', 'unshelve': '解除搁置', 'return-to-service': '恢复投用', 'shelve.reason': '搁置原因：', 'shelve.minutes': '搁置分钟数：',
    'count': '共 {n} 条', 'page': '第 {p}/{n} 页',
    'colour.red': '红：二级报警或重大隐患', 'colour.orange': '橙：一级报警', 'colour.yellow': '黄：设备故障或一般隐患', 'colour.blue': '蓝：正常',
    'area.alarms': '报警 {n}', 'area.hazards': '隐患 {n}',
    'hz.notDone': '未销号', 'hz.all': '全部', 'hz.open': '待整改', 'hz.in_progress': '整改中', 'hz.pending_verification': '待验收',
    'hz.closed': '已销号', 'hz.dismissed': '误报', 'hz.overdue': '超期', 'hz.export': '导出台账', 'hz.exportXlsx': '导出Excel', 'hz.supervised': '督办',
    'to.in_progress': '开始整改', 'to.pending_verification': '提交验收', 'to.closed': '销号', 'to.dismissed': '误报',
    'to.back': '退回整改', 'supervise': '挂牌督办', 'comment': '说明：',
    'quality.good': '正常', 'quality.uncertain': '可疑', 'quality.bad': '故障', 'done': '完成', 'failed': '失败：',
    'tab.hubSites': '监管总览', 'tab.hubAlarms': '跨站报警', 'tab.hubHazards': '跨站隐患',
    'col.region': '区域', 'col.type': '类型', 'col.site': '站点', 'col.online': '通信', 'col.lastSeen': '最后通信',
    'col.openAlarms': '未关闭报警', 'col.unacked': '未确认', 'col.hazards': '隐患（重大）', 'col.raised': '报警时间',
    'col.ack': '确认', 'col.hazard': '隐患', 'col.cmdType': '类型', 'col.by': '督办人', 'col.note': '督办意见',
    'col.sent': '下发', 'col.acked': '站点确认',
    'hub.all': '全部', 'hub.online': '在线', 'hub.offline': '离线', 'hub.offlineFor': '离线 {d}',
    'hub.reason.lost': '连接中断', 'hub.reason.stopped': '正常停止', 'hub.reason.silent': '长时间无数据',
    'hub.unackedFor': '未确认超过（分钟）', 'hub.pageSize': '每页', 'hub.sites': '共 {n} 个站点，离线 {off} 个',
    'hub.stale': '站点离线，状态截至最后一次通信', 'hub.commands': '督办指令',
    'hub.note': '督办意见：', 'hub.deadline': '整改期限（可选，格式 2026-12-31）：', 'hub.badDate': '期限格式应为 2026-12-31',
    'hub.sent': '已下发 {t}', 'hub.pending': '待下发', 'hub.acked': '已确认 {t}', 'hub.notAcked': '未确认',
    'hub.ok': '执行成功', 'hub.waiting': '督办已下发，待站点确认', 'hub.count': '共 {n} 条', 'hub.refused': '站点拒绝：{e}',
    'cmd.supervise': '挂牌督办', 'cmd.lift': '撤销督办', 'cmd.instruct': '督办意见',
    'dur.d': '{n}天', 'dur.h': '{n}小时', 'dur.m': '{n}分', 'dur.s': '{n}秒',
    'sd.back': '‹ 返回监管总览', 'sd.open': '点击查看站点详情', 'sd.availability': '在线率（近7天，北京时间）', 'sd.kpi': '报警指标（近7天，北京时间）',
    'sd.date': '日期', 'sd.online': '在线率', 'sd.offlineMin': '离线（分钟）', 'sd.outages': '中断次数',
    'sd.outageList': '中断记录：', 'sd.outage': '{since} 至 {until}（{reason}）', 'sd.ongoing': '至今',
    'sd.alarms': '未关闭报警', 'sd.hazards': '隐患', 'sd.readings': '最新数据', 'sd.kind': '类别',
    'sd.event': '事件', 'sd.by': '操作人', 'sd.comment': '说明', 'sd.pickHazard': '点击隐患查看处理记录', 'sd.hazardEvents': '{n} 的处理记录',
    'sd.pickReading': '点击点位查看近1小时趋势', 'sd.noReadings': '暂无数据（站点未上报实时数据）',
    'sd.trendNeedsInflux': '趋势需要中心InfluxDB', 'sd.noTrend': '近1小时无数据', 'sd.shown': '（显示 {n} 条）',
    'sd.noOutage': '近7天无中断',
    'ev.created': '登记', 'ev.transition': '状态变更', 'ev.linked': '关联报警', 'ev.supervised': '挂牌督办', 'ev.unsupervised': '撤销督办',
  },
  en: {
    'tab.alarms': 'Alarms', 'tab.overview': 'Overview', 'tab.tags': 'Tags', 'tab.hazards': 'Hazards',
    'live.on': 'Live', 'live.off': 'Disconnected', 'sound.on': 'Sound: on', 'sound.off': 'Sound: off', 'logout': 'Log out',
    'login.prompt': 'Access token', 'login.button': 'Log in', 'login.bad': 'Invalid token', 'login.limited': 'Too many failures; try again later',
    'filter.state': 'State', 'filter.allOpen': 'All open', 'filter.status': 'Status',
    'state.active_unacked': 'Active, unacked', 'state.active_acked': 'Active, acked', 'state.cleared_unacked': 'Cleared, unacked',
    'state.normal': 'Closed', 'state.shelved': 'Shelved', 'state.out_of_service': 'Out of service',
    'col.time': 'Time', 'col.tag': 'Tag', 'col.message': 'Message', 'col.severity': 'Severity', 'col.value': 'Value', 'col.state': 'State',
    'col.name': 'Name', 'col.area': 'Area', 'col.quality': 'Quality', 'col.number': 'Number', 'col.level': 'Level',
    'col.description': 'Description', 'col.deadline': 'Deadline', 'col.status': 'Status',
    'sev.low': 'Low', 'sev.medium': 'Medium', 'sev.high': 'High', 'sev.critical': 'Critical',
    'ack': 'Ack', 'shelve': 'Shelve', 'unshelve': 'Unshelve', 'return-to-service': 'Return to service', 'shelve.reason': 'Reason for shelving:', 'shelve.minutes': 'Minutes:',
    'count': '{n} alarms', 'page': 'page {p}/{n}',
    'colour.red': 'Red: level-2 alarm or major hazard', 'colour.orange': 'Orange: level-1 alarm',
    'colour.yellow': 'Yellow: equipment fault or general hazard', 'colour.blue': 'Blue: normal',
    'area.alarms': '{n} alarms', 'area.hazards': '{n} hazards',
    'hz.notDone': 'Not closed', 'hz.all': 'All', 'hz.open': 'Open', 'hz.in_progress': 'In progress', 'hz.pending_verification': 'Pending verification',
    'hz.closed': 'Closed', 'hz.dismissed': 'Dismissed', 'hz.overdue': 'Overdue', 'hz.export': 'Export ledger', 'hz.exportXlsx': 'Export Excel', 'hz.supervised': 'Supervised',
    'to.in_progress': 'Start work', 'to.pending_verification': 'Submit', 'to.closed': 'Close', 'to.dismissed': 'Dismiss',
    'to.back': 'Send back', 'supervise': 'Supervise', 'comment': 'Comment:',
    'quality.good': 'good', 'quality.uncertain': 'uncertain', 'quality.bad': 'bad', 'done': 'Done', 'failed': 'Failed: ',
    'tab.hubSites': 'Sites', 'tab.hubAlarms': 'Alarms across sites', 'tab.hubHazards': 'Hazards across sites',
    'col.region': 'Region', 'col.type': 'Type', 'col.site': 'Site', 'col.online': 'Link', 'col.lastSeen': 'Last seen',
    'col.openAlarms': 'Open alarms', 'col.unacked': 'Unacked', 'col.hazards': 'Hazards (major)', 'col.raised': 'Raised',
    'col.ack': 'Acknowledged', 'col.hazard': 'Hazard', 'col.cmdType': 'Type', 'col.by': 'By', 'col.note': 'Instruction',
    'col.sent': 'Sent', 'col.acked': 'Site answer',
    'hub.all': 'All', 'hub.online': 'online', 'hub.offline': 'offline', 'hub.offlineFor': 'offline for {d}',
    'hub.reason.lost': 'connection lost', 'hub.reason.stopped': 'stopped', 'hub.reason.silent': 'silent',
    'hub.unackedFor': 'Unacked longer than (min)', 'hub.pageSize': 'Per page', 'hub.sites': '{n} sites, {off} offline',
    'hub.stale': 'Site offline: state as of its last message', 'hub.commands': 'Supervision commands',
    'hub.note': 'Instruction (督办意见):', 'hub.deadline': 'Deadline (optional, e.g. 2026-12-31):', 'hub.badDate': 'Deadline must look like 2026-12-31',
    'hub.sent': 'sent {t}', 'hub.pending': 'not sent yet', 'hub.acked': 'answered {t}', 'hub.notAcked': 'no answer yet',
    'hub.ok': 'applied', 'hub.waiting': 'sent, awaiting the site', 'hub.count': '{n} records', 'hub.refused': 'refused: {e}',
    'cmd.supervise': 'Supervise', 'cmd.lift': 'Lift', 'cmd.instruct': 'Instruct',
    'dur.d': '{n}d', 'dur.h': '{n}h', 'dur.m': '{n}m', 'dur.s': '{n}s',
    'sd.back': '‹ Back to sites', 'sd.open': 'Click for the site\'s details', 'sd.availability': 'Availability, last 7 days (Beijing time)', 'sd.kpi': 'Alarm KPIs, last 7 days (Beijing time)',
    'sd.date': 'Date', 'sd.online': 'Online', 'sd.offlineMin': 'Offline (min)', 'sd.outages': 'Outages',
    'sd.outageList': 'Outages: ', 'sd.outage': '{since} to {until} ({reason})', 'sd.ongoing': 'now',
    'sd.alarms': 'Open alarms', 'sd.hazards': 'Hazards', 'sd.readings': 'Latest readings', 'sd.kind': 'Kind',
    'sd.event': 'Event', 'sd.by': 'By', 'sd.comment': 'Comment', 'sd.pickHazard': 'Click a hazard for its history', 'sd.hazardEvents': 'History of {n}',
    'sd.pickReading': 'Click a tag for its last hour', 'sd.noReadings': 'No readings (the site publishes none)',
    'sd.trendNeedsInflux': 'Trends need the hub\'s central InfluxDB (趋势需要中心InfluxDB)', 'sd.noTrend': 'No readings in the last hour', 'sd.shown': '({n} shown)',
    'sd.noOutage': 'No outages in the last 7 days',
    'ev.created': 'created', 'ev.transition': 'status change', 'ev.linked': 'alarm linked', 'ev.supervised': 'supervised', 'ev.unsupervised': 'supervision lifted',
  },
};

const $ = (id) => document.getElementById(id);
const S = {
  lang: localStorage.getItem('hazgate.lang') || 'zh',
  token: sessionStorage.getItem('hazgate.token') || '',
  me: null, tag: null, hazards: [], stream: null,
};

function t(key, vars) {
  let s = (I18N[S.lang] && I18N[S.lang][key]) || I18N.zh[key] || key;
  for (const k in vars || {}) s = s.replace('{' + k + '}', vars[k]);
  return s;
}
const can = (perm) => !!S.me && S.me.permissions.includes(perm);
const fmtTime = (s) => s ? new Date(s).toLocaleString(S.lang === 'zh' ? 'zh-CN' : 'en-GB', { hour12: false }) : '';
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) {
    if (k.startsWith('on')) e.addEventListener(k.slice(2), attrs[k]);
    else if (k === 'className') e.className = attrs[k];
    else e.setAttribute(k, attrs[k]);
  }
  for (const c of kids) if (c != null) e.append(c);
  return e;
}
function toast(msg) {
  const p = $('toast');
  p.textContent = msg; p.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => { p.hidden = true; }, 4000);
}

async function api(path, opts) {
  opts = opts || {};
  const headers = Object.assign({}, opts.headers);
  if (S.token) headers.Authorization = 'Bearer ' + S.token;
  // Every change is JSON, even one without a body: the gateway refuses
  // other types on POST, which is what keeps other sites' forms out.
  if (opts.body || (opts.method && opts.method !== 'GET')) headers['Content-Type'] = 'application/json';
  const resp = await fetch(path, Object.assign({}, opts, { headers }));
  if (resp.status === 401) { showLogin(); throw new Error(t('login.bad')); }
  if (!resp.ok) {
    let msg = resp.status + '';
    try { msg = (await resp.json()).error; } catch (e) { /* not JSON */ }
    const err = new Error(msg);
    err.status = resp.status;
    throw err;
  }
  return opts.raw ? resp : resp.json();
}

function applyLang() {
  document.documentElement.lang = S.lang === 'zh' ? 'zh-CN' : 'en';
  document.querySelectorAll('[data-i18n]').forEach((e) => { e.textContent = t(e.dataset.i18n); });
  document.querySelectorAll('[data-i18n-placeholder]').forEach((e) => { e.placeholder = t(e.dataset.i18nPlaceholder); });
  $('lang').textContent = S.lang === 'zh' ? 'English' : '中文';
  $('live').textContent = t(S.stream ? 'live.on' : 'live.off');
  renderAll();
}

function showLogin(msg) {
  if (S.stream) { S.stream.abort(); S.stream = null; }
  $('app').hidden = true; $('login').hidden = false;
  $('token').value = ''; // the last user's token must not wait in the field for the next
  $('login-error').textContent = msg || '';
}

async function start() {
  let resp;
  try {
    resp = await fetch('/api/v1/whoami', { headers: S.token ? { Authorization: 'Bearer ' + S.token } : {} });
  } catch (e) { setTimeout(start, 3000); return; }
  if (resp.status === 401 || resp.status === 429) {
    sessionStorage.removeItem('hazgate.token'); S.token = '';
    showLogin(resp.status === 429 ? t('login.limited') : (S.tried ? t('login.bad') : ''));
    return;
  }
  S.me = await resp.json();
  $('login').hidden = true; $('app').hidden = false;
  $('logout').hidden = !S.me.authenticated;
  $('site').textContent = S.me.site_name ? S.me.site_name + ' (' + S.me.site + ')' : S.me.site;
  $('user').textContent = S.me.name + ' (' + S.me.role + ')';
  showNotice(); // hazards.js: http.notice, such as the demo's shortened timing
  // A token limited to some sites or regions may use the hub's views only:
  // the gateway's own alarms, points and stream span every site.
  document.querySelectorAll('nav button:not(.hub-only)').forEach((b) => { b.hidden = !!S.me.scoped; });
  if (!S.me.scoped) {
    connect('');
    await loadAlarms();
    fillAreas().catch(() => {});
  }
  // A hub opens on its sites; a plant gateway never shows the hub tabs.
  // ...unless the user has chosen a tab while the page was loading.
  if (await probeHub().catch(() => false) && !S.chose) showTab('hub-sites');
  applyLang();
}

// The live feed: Server-Sent Events read with fetch, so the token goes in
// a header, not the URL. Reconnects resume from the last event id.
async function connect(lastId) {
  const ctl = new AbortController();
  S.stream = ctl;
  const headers = {};
  if (S.token) headers.Authorization = 'Bearer ' + S.token;
  if (lastId) headers['Last-Event-ID'] = lastId;
  let id = lastId;
  try {
    const resp = await fetch('/api/v1/stream', { headers, signal: ctl.signal });
    if (!resp.ok) throw new Error('stream ' + resp.status);
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i); buf = buf.slice(i + 2);
        let ev = '', data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('id: ')) id = line.slice(4);
          else if (line.startsWith('event: ')) ev = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (ev === 'ready') { $('live').className = 'on'; $('live').textContent = t('live.on'); if (lastId) loadAlarms(); }
        else if (ev === 'alarm') onAlarmEvent(JSON.parse(data));
        else if (ev === 'hazard') onHazardEvent(JSON.parse(data));
      }
    }
  } catch (e) {
    if (ctl.signal.aborted) return;
  }
  if (S.stream !== ctl) return;
  $('live').className = 'off'; $('live').textContent = t('live.off');
  setTimeout(() => { if (S.stream === ctl) connect(id); }, 3000);
}

function onHazardEvent() { scheduleRefresh(); }

// Overview and hazards reload at most once a second during a burst.
function scheduleRefresh() {
  if (scheduleRefresh.timer) return;
  scheduleRefresh.timer = setTimeout(() => {
    scheduleRefresh.timer = null;
    const tab = currentTab();
    if (tab === 'overview') loadAreas();
    if (tab === 'hazards') loadHazards();
  }, 1000);
}

async function loadAreas() {
  const areas = await api('/api/v1/areas');
  $('areas').replaceChildren(...areas.map((a) => el('div', { className: 'area colour-' + a.colour, 'data-area': a.area },
    el('h3', {}, a.area),
    el('div', {}, t('area.alarms', { n: a.active_alarms }) + ' · ' + t('area.hazards', { n: a.open_hazards })),
    a.alarm ? el('div', {}, a.alarm.message || a.alarm.tag) : null)));
}

async function loadTags() {
  const pts = await api('/api/v1/points/latest');
  $('tag-rows').replaceChildren(...pts.map((p) => el('tr', { 'data-tag': p.tag, className: p.tag === S.tag ? 'sel' : '', onclick: () => showTrend(p) },
    el('td', {}, p.tag), el('td', {}, p.name), el('td', {}, p.area),
    el('td', {}, p.value == null ? '—' : p.value + ' ' + (p.unit || '')), el('td', {}, t('quality.' + p.quality)), el('td', {}, fmtTime(p.time)))));
}

// The tag's trend (showTrend, and drawTrend, which showSiteTrend shares)
// is in trends.js.

// The plant's hazard tab (hazardQuery, STEPS, loadHazards, renderHazards,
// transition, supervise) is in hazards.js.

// The export needs the token, so it is fetched and handed over as a blob.
async function exportLedger(path) {
  try {
    const resp = await api(path, { raw: true });
    const name = (/filename="([^"]+)"/.exec(resp.headers.get('Content-Disposition') || '') || [])[1] || 'hazards.csv';
    const url = URL.createObjectURL(await resp.blob());
    el('a', { href: url, download: name }).click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) { toast(t('failed') + e.message); }
}

// Regulator hub: the cross-site views, shown when /api/v1/hub/sites
// answers (a gateway without a hub block answers 501).
const BJ = new Intl.DateTimeFormat('zh-CN', { timeZone: 'Asia/Shanghai', hour12: false,
  year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
// fmtBJ shows a time in Beijing time whatever the browser's zone: the
// hub's users and the sites are in China, the hub's machine may not be.
const fmtBJ = (s) => s ? BJ.format(new Date(s)) : '';
const H = { sites: [], alarms: { offset: 0, total: 0, items: [] }, hazards: { offset: 0, total: 0, items: [] }, commands: [], detail: null };
const HUB_HAZARD_PAGE = 50;

function fmtDur(ms) {
  let s = Math.max(0, Math.floor(ms / 1000));
  const parts = [];
  for (const [k, n] of [['d', 86400], ['h', 3600], ['m', 60]]) {
    if (s >= n) { parts.push(t('dur.' + k, { n: Math.floor(s / n) })); s %= n; }
  }
  if (!parts.length) parts.push(t('dur.s', { n: s }));
  return parts.slice(0, 2).join(S.lang === 'zh' ? '' : ' ');
}
const isMajor = (h) => h.level === '重大隐患';
const siteLabel = (name, id) => name ? name + ' (' + id + ')' : id;

// probeHub asks whether this gateway is a hub; the hub tabs show only if so.
async function probeHub() {
  let resp;
  try {
    resp = await fetch('/api/v1/hub/sites', { headers: S.token ? { Authorization: 'Bearer ' + S.token } : {} });
  } catch (e) { return false; }
  S.hub = resp.ok;
  document.querySelectorAll('nav .hub-only').forEach((b) => { b.hidden = !S.hub; });
  if (!S.hub) return false;
  H.sites = await resp.json();
  fillHubFilters();
  return true;
}

// fillHubFilters builds the region and type choices from the sites,
// keeping what is chosen.
function fillHubFilters() {
  const uniq = (key) => [...new Set(H.sites.map((s) => s[key]).filter(Boolean))].sort();
  for (const [cls, key] of [['hub-region', 'region'], ['hub-type', 'type']]) {
    const vals = uniq(key);
    document.querySelectorAll('select.' + cls).forEach((sel) => {
      const keep = sel.value;
      sel.replaceChildren(el('option', { value: '' }, t('hub.all')), ...vals.map((v) => el('option', { value: v }, v)));
      sel.value = vals.includes(keep) ? keep : '';
    });
  }
}

async function loadHubSites() {
  H.sites = await api('/api/v1/hub/sites');
  fillHubFilters();
  renderHubSites();
}
const COLOUR_NAME = { red: '红', orange: '橙', yellow: '黄', blue: '蓝' };
// siteLink is a site's 在线/离线 with 离线时长 and why, as a tag (td, span).
function siteLink(tag, s, now) {
  if (s.online) return el(tag, { className: 'online' }, t('hub.online'));
  const link = el(tag, { className: 'offline' }, s.offline_since ? t('hub.offlineFor', { d: fmtDur(now - Date.parse(s.offline_since)) }) : t('hub.offline'));
  if (s.reason) link.append(el('span', { className: 'note' }, ' · ' + t('hub.reason.' + s.reason)));
  return link;
}
function renderHubSites() {
  const region = $('hs-region').value, type = $('hs-type').value;
  const list = H.sites.filter((s) => (!region || s.region === region) && (!type || s.type === type));
  const now = Date.now();
  $('hs-count').textContent = t('hub.sites', { n: list.length, off: list.filter((s) => !s.online).length });
  $('hs-rows').replaceChildren(...list.map((s) => {
    const sum = s.summary || { open: {} };
    const open = sum.open || {};
    const sev = el('td', { className: 'sevs' });
    for (const k of ['critical', 'high', 'medium', 'low']) {
      if (open[k]) sev.append(el('span', { className: 'sev-' + k }, t('sev.' + k) + ' ' + open[k]), ' ');
    }
    if (!sev.childNodes.length) sev.append('0');
    const link = siteLink('td', s, now);
    return el('tr', { 'data-site': s.site, className: s.online ? 'site-online' : 'site-offline', tabindex: 0, title: t('sd.open'),
      onclick: () => openSite(s.site), onkeydown: (e) => { if (e.key === 'Enter') openSite(s.site); } },
      el('td', {}, el('span', { className: 'dot colour-' + s.colour, title: S.lang === 'zh' ? COLOUR_NAME[s.colour] || s.colour : s.colour })),
      el('td', {}, el('strong', {}, s.name || s.site), ' ', el('span', { className: 'note' }, s.site)),
      el('td', {}, s.region || ''), el('td', {}, s.type || ''), link, el('td', {}, fmtBJ(s.last_seen)), sev,
      el('td', {}, String(sum.unacked || 0)),
      el('td', {}, String(sum.open_hazards || 0) + ' (' + String(sum.major_hazards || 0) + ')'));
  }));
}

function hubAlarmQuery() {
  const q = new URLSearchParams();
  for (const [id, key] of [['ha-region', 'region'], ['ha-type', 'type'], ['ha-severity', 'severity']]) {
    if ($(id).value) q.set(key, $(id).value);
  }
  const mins = parseInt($('ha-unacked').value, 10);
  if (mins > 0) q.set('unacked_for', mins + 'm');
  const limit = Math.min(5000, Math.max(1, parseInt($('ha-limit').value, 10) || 50));
  q.set('limit', limit); q.set('offset', H.alarms.offset);
  return { q: q.toString(), limit };
}
async function loadHubAlarms() {
  const { q, limit } = hubAlarmQuery();
  H.alarms = await api('/api/v1/hub/alarms?' + q);
  H.alarms.limit = limit;
  // Alarms closed since the last page may leave this one past the end.
  if (H.alarms.offset > 0 && H.alarms.offset >= H.alarms.total) {
    H.alarms.offset = Math.max(0, (Math.ceil(H.alarms.total / limit) - 1) * limit);
    return loadHubAlarms();
  }
  renderHubAlarms();
}
function pager(prefix, page, key) {
  const limit = page.limit || HUB_HAZARD_PAGE;
  const pages = Math.max(1, Math.ceil(page.total / limit));
  const p = Math.floor(page.offset / limit);
  $(prefix + '-count').textContent = t(key, { n: page.total });
  $(prefix + '-page').textContent = t('page', { p: p + 1, n: pages });
  $(prefix + '-prev').disabled = p === 0;
  $(prefix + '-next').disabled = p >= pages - 1;
}
function renderHubAlarms() {
  pager('ha', H.alarms, 'count');
  $('ha-rows').replaceChildren(...H.alarms.items.map((a) => {
    const state = el('td', { className: 'state', 'data-state': a.state }, t('state.' + a.state));
    if (a.stale) state.append(el('div', { className: 'note stale-note' }, t('hub.stale')));
    const ack = el('td', { className: 'msg' });
    if (a.acked_by || a.acked_at) ack.append(a.acked_by || '', ' ', fmtBJ(a.acked_at));
    if (a.ack_comment) ack.append(el('div', { className: 'note' }, a.ack_comment));
    return el('tr', { 'data-site': a.site, 'data-id': a.id,
      className: 'state-' + a.state + (a.stale ? ' stale' : ''), title: a.stale ? t('hub.stale') : '' },
    el('td', {}, fmtBJ(a.raised_at)), el('td', {}, siteLabel(a.site_name, a.site)), el('td', {}, a.tag),
    el('td', { className: 'msg' }, a.message || a.rule),
    el('td', { className: 'sev-' + a.severity }, (a.level ? a.level + ' · ' : '') + t('sev.' + a.severity)),
    el('td', {}, String(a.value)), state, ack);
  }));
}

function hubHazardQuery() {
  const q = new URLSearchParams();
  if ($('hh-region').value) q.set('region', $('hh-region').value);
  for (const [id, key] of [['hh-open', 'open'], ['hh-overdue', 'overdue'], ['hh-supervised', 'supervised']]) {
    if ($(id).checked) q.set(key, '1');
  }
  q.set('limit', HUB_HAZARD_PAGE); q.set('offset', H.hazards.offset);
  return q.toString();
}
async function loadHubHazards() {
  const [page, cmds] = await Promise.all([api('/api/v1/hub/hazards?' + hubHazardQuery()), api('/api/v1/hub/commands?limit=100')]);
  H.hazards = page; H.commands = cmds;
  if (H.hazards.offset > 0 && H.hazards.offset >= H.hazards.total) {
    H.hazards.offset = Math.max(0, (Math.ceil(H.hazards.total / HUB_HAZARD_PAGE) - 1) * HUB_HAZARD_PAGE);
    return loadHubHazards();
  }
  renderHubHazards();
}
function renderHubHazards() {
  pager('hh', H.hazards, 'hub.count');
  const names = Object.fromEntries(H.sites.map((s) => [s.site, s.name]));
  $('hh-rows').replaceChildren(...H.hazards.items.map((h) => {
    const acts = el('td');
    // A 挂牌督办 on its way (the site has not answered) is not sent twice.
    const waiting = H.commands.some((c) => c.site === h.site && c.hazard === h.id && c.type === 'supervise' && !c.acked_at);
    if (waiting) acts.append(el('span', { className: 'note supervise-pending' }, t('hub.waiting')));
    else if (can('supervise') && isMajor(h) && !h.supervised && !['closed', 'dismissed'].includes(h.status)) {
      acts.append(el('button', { className: 'supervise', onclick: () => hubSupervise(h) }, t('supervise')));
    }
    const sup = el('td', { className: 'msg' });
    if (h.supervised) {
      sup.append(t('hz.supervised') + (h.supervised_by ? ' · ' + h.supervised_by : ''));
      if (h.supervise_note) sup.append(el('div', { className: 'note' }, h.supervise_note));
    }
    return el('tr', { 'data-site': h.site, 'data-id': h.id, className: isMajor(h) ? 'major' : '' },
      el('td', {}, siteLabel(names[h.site] || h.unit, h.site)), el('td', {}, h.number || String(h.id)),
      el('td', {}, h.level), el('td', { className: 'msg' }, (h.category ? h.category + '：' : '') + (h.description || '')),
      el('td', { className: h.overdue ? 'overdue' : '' }, fmtBJ(h.deadline) + (h.overdue ? ' ' + t('hz.overdue') : '')),
      el('td', {}, t('hz.' + h.status)), sup, acts);
  }));
  $('hc-rows').replaceChildren(...H.commands.map((c) => {
    let answer;
    if (!c.acked_at) answer = el('td', { className: 'note' }, t('hub.notAcked'));
    else answer = el('td', { className: c.ok ? 'ok' : 'error' }, t('hub.acked', { t: fmtBJ(c.acked_at) }) + ' · ' + (c.ok ? t('hub.ok') : t('hub.refused', { e: c.error || '' })));
    return el('tr', { 'data-id': c.id, 'data-site': c.site, className: c.acked_at ? (c.ok ? 'cmd-ok' : 'cmd-failed') : (c.sent_at ? 'cmd-sent' : 'cmd-pending') },
      el('td', {}, fmtBJ(c.time)), el('td', {}, siteLabel(names[c.site], c.site)), el('td', {}, String(c.hazard)),
      el('td', {}, t('cmd.' + c.type)), el('td', {}, c.by || ''), el('td', { className: 'msg' }, c.note || ''),
      el('td', {}, fmtBJ(c.deadline)),
      el('td', { className: c.sent_at ? '' : 'note' }, c.sent_at ? t('hub.sent', { t: fmtBJ(c.sent_at) }) : t('hub.pending')), answer);
  }));
}
// hubSupervise asks for the 督办意见 and an optional deadline (a day,
// meant as its end in Beijing time) and sends 挂牌督办 to the site.
async function hubSupervise(h) {
  const note = (prompt(t('hub.note')) || '').trim();
  if (!note) return;
  const day = (prompt(t('hub.deadline')) || '').trim();
  const body = { note };
  if (day) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || isNaN(Date.parse(day + 'T23:59:59+08:00'))) { toast(t('hub.badDate')); return; }
    body.deadline = day + 'T23:59:59+08:00';
  }
  try {
    await api('/api/v1/hub/hazards/' + encodeURIComponent(h.site) + '/' + h.id + '/supervise', { method: 'POST', body: JSON.stringify(body) });
    toast(t('done')); loadHubHazards().catch((e) => toast(e.message));
  } catch (e) { toast(t('failed') + e.message); }
}

// A site's drill-down (站点详情), opened from its row on 监管总览: its
// health, 在线率 per day, open alarms, hazards and latest readings, each
// from the hub's per-site routes; a reading's trend needs the central
// InfluxDB. H.detail is null while the sites table shows.
function openSite(site) {
  H.detail = { site, avail: null, kpi: null, alarms: { total: 0, items: [] }, hazards: { total: 0, items: [] }, readings: [], hazard: null, events: [], tag: null, trendNote: '' };
  $('hs-list').hidden = true; $('hs-detail').hidden = false;
  $('sd-hz-events').replaceChildren(); $('sd-trend').replaceChildren(); $('sd-trend-note').textContent = '';
  renderSiteDetail();
  loadSiteDetail().catch((e) => toast(e.message));
}
function closeSite() {
  H.detail = null;
  $('hs-list').hidden = false; $('hs-detail').hidden = true;
}
const sitePath = (site) => '/api/v1/hub/sites/' + encodeURIComponent(site);
async function loadSiteDetail() {
  const d = H.detail;
  if (!d) return;
  const q = (extra) => new URLSearchParams(Object.assign({ site: d.site, limit: 100 }, extra)).toString();
  // The KPIs' days are Beijing days (kpi.js's bjDate), the same seven as 在线率.
  const kpiDays = 'from=' + bjDate(Date.now() - 6 * 86400e3) + '&to=' + bjDate(Date.now());
  const [avail, alarms, hazards, readings, kpi] = await Promise.all([
    api(sitePath(d.site) + '/availability?days=7'), api('/api/v1/hub/alarms?' + q()),
    api('/api/v1/hub/hazards?' + q($('sd-hz-open').checked ? { open: 1 } : {})), api(sitePath(d.site) + '/readings'),
    api(sitePath(d.site) + '/kpi/daily?' + kpiDays)]);
  if (H.detail !== d) return; // closed or another site opened meanwhile
  Object.assign(d, { avail, alarms, hazards, readings, kpi });
  renderSiteDetail();
}
function renderSiteDetail() {
  const d = H.detail;
  if (!d) return;
  const s = H.sites.find((x) => x.site === d.site) || { site: d.site, online: true };
  $('sd-title').textContent = s.name || s.site;
  $('sd-meta').textContent = [s.site, s.region, s.type].filter(Boolean).join(' · ');
  $('sd-state').replaceChildren(siteLink('span', s, Date.now()),
    s.last_seen ? el('span', { className: 'note' }, ' · ' + t('col.lastSeen') + ' ' + fmtBJ(s.last_seen)) : null);
  const days = (d.avail && d.avail.days) || [];
  $('sd-days').replaceChildren(...days.map((x) => {
    const pct = Math.max(0, Math.min(100, x.online * 100));
    return el('tr', { 'data-date': x.date },
      el('td', {}, x.date), el('td', { className: 'pct' + (pct < 99 ? ' avail-low' : '') }, pct.toFixed(1) + '%'),
      el('td', {}, el('span', { className: 'avail-bar' }, el('span', { style: 'width: ' + pct.toFixed(1) + '%' }))),
      el('td', {}, String(Math.round(x.offline_seconds / 60))), el('td', {}, String(x.outages)));
  }));
  const outages = (d.avail && d.avail.outages) || [];
  $('sd-outages').textContent = !d.avail ? '' : outages.length ? t('sd.outageList') + outages.slice(-5).map((o) => t('sd.outage',
    { since: fmtBJ(o.since), until: o.until ? fmtBJ(o.until) : t('sd.ongoing'), reason: t('hub.reason.' + o.reason) })).join('；') : t('sd.noOutage');

  $('sd-kpi-summary').textContent = d.kpi ? kpiSummary(d.kpi) : '';
  $('sd-kpi-rows').replaceChildren(...(d.kpi ? kpiRows(d.kpi) : []));
  if (d.kpi) drawBars($('sd-kpi-bars'), d.kpi.days, d.kpi.guidance_per_day); else $('sd-kpi-bars').replaceChildren();

  const shown = (page) => t('hub.count', { n: page.total }) + (page.total > page.items.length ? ' ' + t('sd.shown', { n: page.items.length }) : '');
  $('sd-alarm-count').textContent = shown(d.alarms);
  $('sd-alarms').replaceChildren(...d.alarms.items.map((a) => {
    const state = el('td', { className: 'state', 'data-state': a.state }, t('state.' + a.state));
    if (a.stale) state.append(el('div', { className: 'note stale-note' }, t('hub.stale')));
    const ack = el('td', { className: 'msg' });
    if (a.acked_by || a.acked_at) ack.append(a.acked_by || '', ' ', fmtBJ(a.acked_at));
    if (a.ack_comment) ack.append(el('div', { className: 'note' }, a.ack_comment));
    return el('tr', { 'data-site': a.site, 'data-id': a.id, className: 'state-' + a.state + (a.stale ? ' stale' : '') },
      el('td', {}, fmtBJ(a.raised_at)), el('td', {}, a.tag), el('td', { className: 'msg' }, a.message || a.rule),
      el('td', { className: 'sev-' + a.severity }, (a.level ? a.level + ' · ' : '') + t('sev.' + a.severity)),
      el('td', {}, String(a.value)), state, ack);
  }));

  $('sd-hazard-count').textContent = shown(d.hazards);
  $('sd-hazards').replaceChildren(...d.hazards.items.map((h) => el('tr', { 'data-site': h.site, 'data-id': h.id,
    className: (isMajor(h) ? 'major' : '') + (d.hazard && d.hazard.id === h.id ? ' sel' : ''), onclick: () => showSiteHazard(h) },
  el('td', {}, h.number || String(h.id)), el('td', {}, h.level),
  el('td', { className: 'msg' }, (h.category ? h.category + '：' : '') + (h.description || '')),
  el('td', { className: h.overdue ? 'overdue' : '' }, fmtBJ(h.deadline) + (h.overdue ? ' ' + t('hz.overdue') : '')),
  el('td', {}, t('hz.' + h.status)), el('td', { className: 'msg' }, h.supervised ? t('hz.supervised') + (h.supervised_by ? ' · ' + h.supervised_by : '') : ''))));
  $('sd-hz-title').textContent = d.hazard ? t('sd.hazardEvents', { n: d.hazard.number || String(d.hazard.id) }) : t('sd.pickHazard');
  $('sd-hz-events').replaceChildren(...d.events.map((e) => el('tr', { 'data-seq': e.seq },
    el('td', {}, fmtBJ(e.time)),
    el('td', {}, (I18N.zh['ev.' + e.type] ? t('ev.' + e.type) : e.type) + (e.to ? ' → ' + t('hz.' + e.to) : '')),
    el('td', {}, e.by || ''), el('td', { className: 'msg' }, e.comment || ''))));

  $('sd-readings').replaceChildren(...(d.readings.length ? d.readings.map((r) => el('tr', { 'data-tag': r.tag,
    className: r.tag === d.tag ? 'sel' : '', onclick: () => showSiteTrend(r) },
  el('td', {}, r.tag), el('td', {}, r.kind || ''), el('td', {}, String(r.value) + (r.unit ? ' ' + r.unit : '')),
  el('td', { className: 'quality-' + r.quality }, t('quality.' + r.quality)), el('td', {}, fmtBJ(r.time))))
    : [el('tr', { className: 'empty' }, el('td', { colspan: 5, className: 'note' }, t('sd.noReadings')))]));
  if (!d.tag) $('sd-trend-title').textContent = t('sd.pickReading');
  $('sd-trend-note').textContent = d.trendNote ? t(d.trendNote) : '';
  $('sd-trend-note').className = 'note' + (d.trendNote === 'sd.trendNeedsInflux' ? ' trend-unavailable' : '');
}
async function showSiteHazard(h) {
  const d = H.detail;
  d.hazard = h; d.events = [];
  renderSiteDetail();
  try {
    const evs = await api('/api/v1/hub/hazards/' + encodeURIComponent(d.site) + '/' + h.id + '/history');
    if (H.detail === d && d.hazard === h) { d.events = evs; renderSiteDetail(); }
  } catch (e) { toast(t('failed') + e.message); }
}
// showSiteTrend draws a reading's last hour from the hub's central
// InfluxDB with the plant's trend drawing; a hub without one answers 501.
async function showSiteTrend(r) {
  const d = H.detail;
  d.tag = r.tag;
  document.querySelectorAll('#sd-readings tr').forEach((x) => x.classList.toggle('sel', x.dataset.tag === r.tag));
  $('sd-trend-title').textContent = r.tag + (r.kind ? ' ' + r.kind : '') + (r.unit ? ' (' + r.unit + ')' : '');
  const svg = $('sd-trend'), note = $('sd-trend-note');
  const say = (key) => { d.trendNote = key; note.textContent = key ? t(key) : ''; note.className = 'note' + (key === 'sd.trendNeedsInflux' ? ' trend-unavailable' : ''); };
  svg.replaceChildren(); say('');
  const to = new Date(), from = new Date(to.getTime() - 3600 * 1000);
  const q = new URLSearchParams({ from: from.toISOString(), to: to.toISOString() });
  let pts;
  try {
    pts = await api(sitePath(d.site) + '/points/' + encodeURIComponent(r.tag) + '/history?' + q);
  } catch (e) {
    if (H.detail !== d || d.tag !== r.tag) return;
    if (e.status === 501) say('sd.trendNeedsInflux');
    else toast(t('failed') + e.message);
    return;
  }
  if (H.detail !== d || d.tag !== r.tag) return;
  if (!drawTrend(svg, pts, fmtBJ)) say('sd.noTrend');
}

function pageHub(kind, dir) {
  const page = H[kind];
  const limit = kind === 'alarms' ? (page.limit || 50) : HUB_HAZARD_PAGE;
  page.offset = Math.max(0, page.offset + dir * limit);
  (kind === 'alarms' ? loadHubAlarms : loadHubHazards)().catch((e) => toast(e.message));
}

const currentTab = () => document.querySelector('nav button.active').dataset.tab;
function renderAll() {
  if (!S.me) return;
  renderAlarms();
  const tab = currentTab();
  if (tab === 'hazards') renderHazards();
  if (tab === 'kpi') renderKPI(); // kpi.js
  if (tab === 'overview') loadAreas().catch((e) => toast(e.message));
  if (S.hub) {
    fillHubFilters();
    if (tab === 'hub-sites') { renderHubSites(); renderSiteDetail(); }
    if (tab === 'hub-alarms') renderHubAlarms();
    if (tab === 'hub-hazards') renderHubHazards();
  }
}
function showTab(name) {
  if (name === 'hub-sites' && S.hub) closeSite();
  document.querySelectorAll('nav button').forEach((b) => b.classList.toggle('active', b.dataset.tab === name));
  document.querySelectorAll('.tab').forEach((s) => { s.hidden = s.id !== 'tab-' + name; });
  const load = { overview: loadAreas, tags: loadTags, hazards: loadHazards, alarms: loadAlarms, kpi: loadKPI,
    'hub-sites': loadHubSites, 'hub-alarms': loadHubAlarms, 'hub-hazards': loadHubHazards }[name];
  load().catch((e) => toast(e.message));
}

document.addEventListener('DOMContentLoaded', () => {
  document.querySelectorAll('nav button').forEach((b) => b.addEventListener('click', () => { S.chose = true; showTab(b.dataset.tab); }));
  $('lang').addEventListener('click', () => { S.lang = S.lang === 'zh' ? 'en' : 'zh'; localStorage.setItem('hazgate.lang', S.lang); applyLang(); });
  $('logout').addEventListener('click', () => { sessionStorage.removeItem('hazgate.token'); S.token = ''; S.me = null; showLogin(); });
  initAlarms(); // alarms.js: the list's filters, pager, horn
  // The hub's ledger as CSV or XLSX: every site in the token's scope, the
  // list's filters, no paging (the plant's is in hazards.js).
  const hubLedger = (format) => {
    const q = new URLSearchParams(hubHazardQuery()); q.delete('limit'); q.delete('offset'); q.set('format', format);
    exportLedger('/api/v1/hub/hazards/export?' + q.toString());
  };
  $('hh-export').addEventListener('click', () => hubLedger('csv'));
  $('hh-export-xlsx').addEventListener('click', () => hubLedger('xlsx'));
  const reloadHub = (kind) => () => { H[kind].offset = 0; (kind === 'alarms' ? loadHubAlarms : loadHubHazards)().catch((e) => toast(e.message)); };
  ['hs-region', 'hs-type'].forEach((id) => $(id).addEventListener('change', renderHubSites));
  ['ha-region', 'ha-type', 'ha-severity', 'ha-unacked', 'ha-limit'].forEach((id) => $(id).addEventListener('change', reloadHub('alarms')));
  ['hh-region', 'hh-open', 'hh-overdue', 'hh-supervised'].forEach((id) => $(id).addEventListener('change', reloadHub('hazards')));
  $('ha-prev').addEventListener('click', () => pageHub('alarms', -1));
  $('ha-next').addEventListener('click', () => pageHub('alarms', 1));
  $('hh-prev').addEventListener('click', () => pageHub('hazards', -1));
  $('hh-next').addEventListener('click', () => pageHub('hazards', 1));
  $('sd-back').addEventListener('click', closeSite);
  $('sd-hz-open').addEventListener('change', () => loadSiteDetail().catch((e) => toast(e.message)));
  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    S.token = $('token').value.trim(); S.tried = true;
    sessionStorage.setItem('hazgate.token', S.token);
    start();
  });
  // Tag values refresh while their tab is open.
  setInterval(() => { if (S.me && currentTab() === 'tags') loadTags().catch(() => {}); }, 5000);
  // The hub's views poll: the hub has no live feed of other sites.
  setInterval(() => {
    if (!S.me || !S.hub) return;
    const load = { 'hub-sites': loadHubSites, 'hub-alarms': loadHubAlarms, 'hub-hazards': loadHubHazards }[currentTab()];
    if (load) load().catch(() => {});
    if (currentTab() === 'hub-sites' && H.detail) loadSiteDetail().catch(() => {});
  }, 5000);
  applyLang();
  start();
});
