// hazgate console: the link to the city's fire remote-monitoring centre,
// when this gateway forwards to one (the forward block): whether it is
// connected, and the centre's 查岗 (duty check) with its countdown and the
// button the operator on duty answers with.
'use strict';

Object.assign(I18N.zh, {
  'fw.up': '监控中心：已连接', 'fw.down': '监控中心：未连接', 'fw.pending': '待上传 {n} 条',
  'fw.duty': '监控中心查岗：请在 {t} 内应答', 'fw.answer': '应答查岗', 'fw.answered': '已应答查岗', 'fw.late': '查岗已超时未应答',
});
Object.assign(I18N.en, {
  'fw.up': 'Centre: connected', 'fw.down': 'Centre: not connected', 'fw.pending': '{n} waiting',
  'fw.duty': 'Duty check from the monitoring centre: answer within {t}', 'fw.answer': 'Answer', 'fw.answered': 'Duty check answered', 'fw.late': 'Duty check missed',
});

const FW = { on: false, st: null };

async function loadForward() {
  try {
    FW.st = await api('/api/v1/forward');
    FW.on = true;
  } catch (e) {
    if (e.status === 501) { FW.on = false; FW.st = null; } // no forward block: nothing to show
  }
  renderForward();
}

function renderForward() {
  const link = $('fw-link'), box = $('duty-check');
  link.hidden = !FW.on;
  if (!FW.on) { box.hidden = true; return; }
  const st = FW.st, waiting = (st.pending.alarm || 0) + (st.pending.status || 0);
  link.className = st.connected ? 'on' : 'off';
  link.textContent = t(st.connected ? 'fw.up' : 'fw.down') + (waiting ? ' · ' + t('fw.pending', { n: waiting }) : '');
  const dc = st.duty_check;
  box.hidden = !dc;
  if (!dc) return;
  const left = Date.parse(dc.deadline) - Date.now();
  const mm = Math.max(0, Math.floor(left / 60000)), ss = Math.max(0, Math.floor(left / 1000) % 60);
  $('duty-text').textContent = left > 0 ? t('fw.duty', { t: mm + ':' + String(ss).padStart(2, '0') }) : t('fw.late');
  $('duty-answer').hidden = !can('ack') || left <= 0;
}

async function answerDutyCheck() {
  try {
    await api('/api/v1/forward/duty-check', { method: 'POST' });
    toast(t('fw.answered'));
  } catch (e) { toast(t('failed') + e.message); }
  loadForward();
}

document.addEventListener('DOMContentLoaded', () => {
  $('duty-answer').addEventListener('click', answerDutyCheck);
  // The countdown ticks every second; the link is asked every 2 s.
  setInterval(() => { if (FW.on) renderForward(); }, 1000);
  setInterval(() => { if (S.me && !S.me.scoped) loadForward(); }, 2000);
});
