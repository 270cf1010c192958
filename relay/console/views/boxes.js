// A tenant's boxes (`#/t/<tenant>/boxes`): online or offline, last seen, software version,
// indexing lag and outbox depth from the box's latest telemetry, refreshed while shown;
// registering a box shows its one-time activation string with a copy button and its QR code
// (drawn by the relay as SVG) for the installer. One box (`#/t/<tenant>/boxes/<id>`): its
// figures, a new provisioning key, the remote actions (ping, diagnostics, restart, a
// configuration change; the box's answer shown), renaming or moving it, decommissioning.
//
// Operators of a box's area register, move and decommission it and read its diagnostics;
// restart and configuration need the tenant administrator (as the API says).

import { register, t } from '../common/i18n.js';
import { h, fill, field, confirmButton } from '../common/dom.js';
import { showError, showMessage } from '../common/api.js';
import { formatBytes, formatDuration, formatNumber, formatTime } from '../common/format.js';
import { api, caller, holds } from '../session.js';
import { tenantPath, listAll, loadAreas, areaLabel, areaSelect, holdsOn } from './areas.js';

register({
  'nav.boxes': 'Boxes',
  'boxes.intro': 'The boxes of this organisation and how they are doing. The list refreshes by itself.',
  'boxes.register': 'Register a box',
  'boxes.register_intro': 'Registering gives a one-time activation string: the installer pastes it on the box\'s own page (or scans the QR code) to connect the box to this relay.',
  'boxes.name': 'Name',
  'boxes.area': 'Area',
  'boxes.group': 'Group',
  'boxes.group_hint': 'Optional: a label to sort boxes by.',
  'boxes.register_submit': 'Register',
  'boxes.name_missing': 'Give the box a name and choose its area.',
  'boxes.empty': 'No boxes yet.',
  'boxes.col_box': 'Box',
  'boxes.col_area': 'Area',
  'boxes.col_state': 'State',
  'boxes.col_seen': 'Last seen',
  'boxes.col_version': 'Version',
  'boxes.col_lag': 'Indexing lag',
  'boxes.col_outbox': 'Outbox',
  'boxes.online': 'Online',
  'boxes.offline': 'Offline',
  'boxes.registered': 'Waiting for activation',
  'boxes.decommissioned': 'Decommissioned',
  'boxes.never': 'never',
  'boxes.decommission': 'Decommission',
  'boxes.decommission_confirm': 'Click again: the box stops for good',
  'boxes.decommissioned_done': 'The box is decommissioned.',
  'boxes.activation_title': 'Activation string for {name}',
  'boxes.activation_once': 'Shown this once: copy it now or scan the code. It works once, until {time}.',
  'boxes.activation_qr': 'QR code of the activation string',
  'boxes.copy': 'Copy',
  'boxes.copied': 'Copied.',
  'boxes.copy_failed': 'Could not copy: select the text and copy it.',
  'boxes.back': 'All boxes',
  'boxes.details': 'Details',
  'boxes.f_id': 'ID',
  'boxes.f_state': 'State',
  'boxes.f_area': 'Area',
  'boxes.f_group': 'Group',
  'boxes.f_activated': 'Activated',
  'boxes.f_seen': 'Last seen',
  'boxes.f_version': 'Software version',
  'boxes.f_model': 'Face model',
  'boxes.f_uptime': 'Running for',
  'boxes.f_cameras': 'Cameras online',
  'boxes.f_lag': 'Indexing lag',
  'boxes.f_outbox': 'Outbox',
  'boxes.f_outbox_value': '{n} waiting',
  'boxes.f_outbox_oldest': '{n} waiting, oldest {age}',
  'boxes.f_disk': 'Disk free',
  'boxes.f_downloads': 'Downloads queued',
  'boxes.f_telemetry': 'Last report',
  'boxes.no_telemetry': 'No report yet.',
  'boxes.new_key': 'New activation string',
  'boxes.new_key_intro': 'The box is not activated yet. A new string replaces the old one.',
  'boxes.actions': 'Remote actions',
  'boxes.actions_intro': 'Sent to the box through the relay; its answer shows below.',
  'boxes.ping': 'Ping',
  'boxes.diagnostics': 'Diagnostics',
  'boxes.restart': 'Restart',
  'boxes.restart_confirm': 'Click again to restart the box',
  'boxes.config': 'Change configuration',
  'boxes.config_key': 'Key',
  'boxes.config_key_hint': 'A dotted key such as uplink.telemetry_interval_ms.',
  'boxes.config_value': 'Value',
  'boxes.config_value_hint': 'JSON (30000, true, "text"); anything else is sent as text.',
  'boxes.config_submit': 'Send',
  'boxes.config_missing': 'Give a key and a value.',
  'boxes.sending': 'Waiting for the box…',
  'boxes.answer': 'Answer to {method}',
  'boxes.answer_failed': 'The box refused {method}: {message}',
  'boxes.rpc_state': 'State: {state}',
  'boxes.edit': 'Rename or move',
  'boxes.save': 'Save',
  'boxes.saved': 'Saved.',
}, {
  'nav.boxes': '设备',
  'boxes.intro': '本机构的设备及其运行状况。列表会自动刷新。',
  'boxes.register': '注册设备',
  'boxes.register_intro': '注册后会得到一次性激活字符串：安装人员将其粘贴到设备本机页面（或扫描二维码），即可将设备连接到本中继服务器。',
  'boxes.name': '名称',
  'boxes.area': '区域',
  'boxes.group': '分组',
  'boxes.group_hint': '可选：用于排序的标签。',
  'boxes.register_submit': '注册',
  'boxes.name_missing': '请填写设备名称并选择区域。',
  'boxes.empty': '尚无设备。',
  'boxes.col_box': '设备',
  'boxes.col_area': '区域',
  'boxes.col_state': '状态',
  'boxes.col_seen': '最后在线',
  'boxes.col_version': '版本',
  'boxes.col_lag': '索引延迟',
  'boxes.col_outbox': '待发消息',
  'boxes.online': '在线',
  'boxes.offline': '离线',
  'boxes.registered': '等待激活',
  'boxes.decommissioned': '已停用',
  'boxes.never': '从未',
  'boxes.decommission': '停用设备',
  'boxes.decommission_confirm': '再次点击：设备将永久停用',
  'boxes.decommissioned_done': '设备已停用。',
  'boxes.activation_title': '{name} 的激活字符串',
  'boxes.activation_once': '仅显示这一次：请立即复制或扫码。仅可使用一次，有效期至 {time}。',
  'boxes.activation_qr': '激活字符串的二维码',
  'boxes.copy': '复制',
  'boxes.copied': '已复制。',
  'boxes.copy_failed': '无法复制：请选中文字后手动复制。',
  'boxes.back': '全部设备',
  'boxes.details': '详情',
  'boxes.f_id': 'ID',
  'boxes.f_state': '状态',
  'boxes.f_area': '区域',
  'boxes.f_group': '分组',
  'boxes.f_activated': '激活时间',
  'boxes.f_seen': '最后在线',
  'boxes.f_version': '软件版本',
  'boxes.f_model': '人脸模型',
  'boxes.f_uptime': '已运行',
  'boxes.f_cameras': '在线摄像头',
  'boxes.f_lag': '索引延迟',
  'boxes.f_outbox': '待发消息',
  'boxes.f_outbox_value': '{n} 条待发',
  'boxes.f_outbox_oldest': '{n} 条待发，最早 {age}',
  'boxes.f_disk': '磁盘剩余',
  'boxes.f_downloads': '排队下载',
  'boxes.f_telemetry': '最近上报',
  'boxes.no_telemetry': '尚无上报。',
  'boxes.new_key': '新的激活字符串',
  'boxes.new_key_intro': '设备尚未激活。新字符串会替换旧字符串。',
  'boxes.actions': '远程操作',
  'boxes.actions_intro': '经中继服务器发送到设备；设备的回复显示在下方。',
  'boxes.ping': 'Ping',
  'boxes.diagnostics': '诊断信息',
  'boxes.restart': '重启',
  'boxes.restart_confirm': '再次点击以重启设备',
  'boxes.config': '修改配置',
  'boxes.config_key': '配置项',
  'boxes.config_key_hint': '以点分隔的配置项，例如 uplink.telemetry_interval_ms。',
  'boxes.config_value': '值',
  'boxes.config_value_hint': 'JSON（30000、true、"text"）；其他内容按文本发送。',
  'boxes.config_submit': '发送',
  'boxes.config_missing': '请填写配置项和值。',
  'boxes.sending': '正在等待设备回复…',
  'boxes.answer': '{method} 的回复',
  'boxes.answer_failed': '设备拒绝了 {method}：{message}',
  'boxes.rpc_state': '状态：{state}',
  'boxes.edit': '重命名或移动',
  'boxes.save': '保存',
  'boxes.saved': '已保存。',
});

/** How often the list and a box's page ask again, ms. */
const REFRESH_MS = 3000;

const ms = (time) => (time ? Date.parse(time) : null);

/** The state badge: online, offline, waiting for activation, decommissioned. */
function stateBadge(device, id) {
  if (device.status === 'registered') return h('span', { class: 'badge unknown', id }, t('boxes.registered'));
  if (device.status === 'decommissioned') return h('span', { class: 'badge', id }, t('boxes.decommissioned'));
  return device.online
    ? h('span', { class: 'badge ok', id }, t('boxes.online'))
    : h('span', { class: 'badge bad', id }, t('boxes.offline'));
}

const lag = (device) => (device.telemetry && device.telemetry.indexing_lag_s != null
  ? formatDuration(device.telemetry.indexing_lag_s) : '–');
const outbox = (device) => (device.telemetry ? formatNumber(device.telemetry.outbox_depth) : '–');

/** Calls `tick` every REFRESH_MS while the view is shown (and the tab visible). */
function every(ctx, tick) {
  const timer = setInterval(() => { if (ctx.alive && !document.hidden) tick(); }, REFRESH_MS);
  ctx.onLeave(() => clearInterval(timer));
}

/** The one-time activation string of a provisioned device, its copy button and QR code. */
function activationPanel(provisioned) {
  const text = h('textarea', {
    id: 'activation-text', class: 'mono', rows: 3, readonly: true, spellcheck: 'false',
    value: provisioned.activation,
  });
  const copied = h('span', { id: 'activation-copied', class: 'muted small', role: 'status' });
  const copy = h('button', {
    type: 'button', id: 'activation-copy',
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(provisioned.activation);
        fill(copied, t('boxes.copied'));
      } catch {
        text.focus();
        text.select();
        fill(copied, t('boxes.copy_failed'));
      }
    },
  }, t('boxes.copy'));
  const qr = provisioned.activation_qr_svg
    ? h('img', {
      id: 'activation-qr', class: 'qr', alt: t('boxes.activation_qr'), width: 224, height: 224,
      src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(provisioned.activation_qr_svg)}`,
    })
    : null;
  return h('section', { id: 'activation', class: 'panel activation' },
    h('h2', {}, t('boxes.activation_title', { name: provisioned.device.name })),
    h('p', { class: 'notice' }, t('boxes.activation_once', { time: formatTime(ms(provisioned.provisioning_expires_at)) })),
    h('div', { class: 'activation-body' },
      qr,
      h('div', { class: 'activation-text' }, text, h('div', { class: 'actions' }, copy, copied))));
}

// ---------------------------------------------------------------------------------------
// The list

function renderList(ctx, params) {
  const tenant = params.tenant;
  const base = tenantPath(tenant, '/devices');
  const error = h('div', { id: 'boxes-error', class: 'error', role: 'alert', hidden: true });
  const notice = h('p', { id: 'boxes-notice', class: 'notice', role: 'status', hidden: true });
  const list = h('div', { id: 'boxes-list' }, h('p', { class: 'muted' }, t('boot.loading')));
  const registerSlot = h('div');
  const activationSlot = h('div');
  let areas = [];
  let first = true;

  async function load() {
    let devices;
    try {
      [devices, areas] = await Promise.all([listAll(base), loadAreas(tenant)]);
    } catch (e) {
      if (first) ctx.fail(error, e);
      else showError(error, e);
      return;
    }
    if (!ctx.alive) return;
    if (first) { first = false; drawRegister(); }
    drawList(devices);
  }

  function drawList(devices) {
    // A decommission button waiting for its second click is not redrawn under the finger.
    if (list.querySelector('.armed')) return;
    const area = (id) => areas.find((a) => a.id === id);
    const rows = devices.map((d) => {
      const canOperate = area(d.area_id) ? holdsOn('operator', area(d.area_id)) : holds('operator');
      return h('tr', { id: `box-${d.id}`, class: `box-row status-${d.status}` },
        h('td', {}, h('a', { href: `#/t/${tenant}/boxes/${d.id}`, id: `box-link-${d.id}`, class: 'box-name' }, d.name),
          d.group ? h('div', { class: 'muted small' }, d.group) : null),
        h('td', {}, areaLabel(area(d.area_id))),
        h('td', {}, stateBadge(d, `box-state-${d.id}`)),
        h('td', { id: `box-seen-${d.id}` }, d.last_seen_at ? formatTime(ms(d.last_seen_at)) : t('boxes.never')),
        h('td', { id: `box-version-${d.id}`, class: 'mono' }, d.software_version || '–'),
        h('td', { class: 'num', id: `box-lag-${d.id}` }, lag(d)),
        h('td', { class: 'num', id: `box-outbox-${d.id}` }, outbox(d)),
        h('td', {}, canOperate && d.status !== 'decommissioned'
          ? confirmButton({ id: `box-decommission-${d.id}`, class: 'danger' }, t('boxes.decommission'),
            t('boxes.decommission_confirm'), () => decommission(d))
          : null));
    });
    fill(list, devices.length === 0 ? h('p', { class: 'empty', id: 'boxes-empty' }, t('boxes.empty'))
      : h('div', { class: 'table-wrap' }, h('table', { id: 'boxes-table' },
        h('thead', {}, h('tr', {},
          h('th', {}, t('boxes.col_box')), h('th', {}, t('boxes.col_area')),
          h('th', {}, t('boxes.col_state')), h('th', {}, t('boxes.col_seen')),
          h('th', {}, t('boxes.col_version')), h('th', { class: 'num' }, t('boxes.col_lag')),
          h('th', { class: 'num' }, t('boxes.col_outbox')), h('th', {}))),
        h('tbody', {}, rows))));
  }

  async function decommission(device) {
    try {
      await api('POST', `${base}/${device.id}/decommission`);
      showError(error, null);
      showMessage(notice, t('boxes.decommissioned_done'));
    } catch (e) {
      showMessage(notice, null);
      showError(error, e);
    }
    await load();
  }

  function drawRegister() {
    const operated = areas.filter((a) => holdsOn('operator', a));
    if (operated.length === 0) { fill(registerSlot); return; }
    const name = h('input', { id: 'box-name', type: 'text', maxlength: 200, required: true, autocomplete: 'off' });
    const area = areaSelect({ id: 'box-area', required: true }, operated);
    const group = h('input', { id: 'box-group', type: 'text', maxlength: 200, autocomplete: 'off' });
    const submit = h('button', { id: 'box-register', type: 'submit', class: 'primary' }, t('boxes.register_submit'));
    fill(registerSlot, h('form', {
      id: 'box-register-form', class: 'panel', novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        const body = { name: name.value.trim(), area_id: area.value };
        if (!body.name || !body.area_id) { showMessage(error, t('boxes.name_missing')); return; }
        if (group.value.trim()) body.group = group.value.trim();
        submit.disabled = true;
        showError(error, null);
        showMessage(notice, null);
        try {
          const provisioned = await api('POST', base, body);
          if (!ctx.alive) return;
          name.value = '';
          group.value = '';
          fill(activationSlot, activationPanel(provisioned));
          await load();
        } catch (e) {
          showError(error, e);
        } finally {
          submit.disabled = false;
        }
      },
    },
    h('h2', {}, t('boxes.register')),
    h('p', { class: 'muted small' }, t('boxes.register_intro')),
    h('div', { class: 'form-grid' },
      field(t('boxes.name'), name), field(t('boxes.area'), area),
      field(t('boxes.group'), group, t('boxes.group_hint'))),
    h('div', { class: 'actions' }, submit)));
  }

  load();
  every(ctx, load);
  return h('section', { id: 'boxes-view', class: 'tenant-view' },
    h('div', { class: 'view-head' }, h('h1', {}, t('nav.boxes')),
      h('button', { type: 'button', id: 'boxes-refresh', onclick: load }, t('action.refresh'))),
    h('p', { class: 'muted' }, t('boxes.intro')),
    error, notice, activationSlot, list, registerSlot);
}

// ---------------------------------------------------------------------------------------
// One box

function renderBox(ctx, params) {
  const { tenant, device: id } = params;
  const path = tenantPath(tenant, `/devices/${encodeURIComponent(id)}`);
  const error = h('div', { id: 'box-error', class: 'error', role: 'alert', hidden: true });
  const notice = h('p', { id: 'box-notice', class: 'notice', role: 'status', hidden: true });
  const title = h('h1', { id: 'box-title' }, t('nav.boxes'));
  const facts = h('div', { id: 'box-facts' }, h('p', { class: 'muted' }, t('boot.loading')));
  const keySlot = h('div');
  const activationSlot = h('div');
  const actionsSlot = h('div');
  const editSlot = h('div');
  const answer = h('section', { id: 'rpc-answer', class: 'panel', hidden: true });
  let areas = [];
  let first = true;
  let device = null;

  async function load() {
    try {
      [device, areas] = await Promise.all([api('GET', path), loadAreas(tenant)]);
    } catch (e) {
      if (first) ctx.fail(error, e);
      else showError(error, e);
      return;
    }
    if (!ctx.alive) return;
    fill(title, device.name);
    drawFacts();
    if (first) { first = false; drawControls(); }
  }

  const areaOf = () => areas.find((a) => a.id === device.area_id);
  const canOperate = () => (areaOf() ? holdsOn('operator', areaOf()) : false);

  function fact(key, value, valueId) {
    return h('div', {}, h('dt', {}, t(key)), h('dd', { id: valueId || null }, value));
  }

  function drawFacts() {
    const tm = device.telemetry;
    const outboxText = !tm ? '–' : tm.outbox_oldest_s != null && tm.outbox_depth > 0
      ? t('boxes.f_outbox_oldest', { n: formatNumber(tm.outbox_depth), age: formatDuration(tm.outbox_oldest_s) })
      : t('boxes.f_outbox_value', { n: formatNumber(tm.outbox_depth) });
    fill(facts, h('dl', { class: 'facts' },
      fact('boxes.f_state', stateBadge(device, 'box-state')),
      fact('boxes.f_id', h('span', { class: 'mono' }, device.id)),
      fact('boxes.f_area', areaLabel(areaOf())),
      device.group ? fact('boxes.f_group', device.group) : null,
      fact('boxes.f_activated', device.activated_at ? formatTime(ms(device.activated_at)) : '–'),
      fact('boxes.f_seen', device.last_seen_at ? formatTime(ms(device.last_seen_at)) : t('boxes.never'), 'box-seen'),
      fact('boxes.f_version', device.software_version || '–', 'box-version'),
      tm ? [
        fact('boxes.f_model', tm.model_id),
        fact('boxes.f_uptime', formatDuration(tm.uptime_s)),
        fact('boxes.f_cameras', `${formatNumber(tm.cameras_online)} / ${formatNumber(tm.cameras_total)}`, 'box-cameras'),
        fact('boxes.f_lag', lag(device), 'box-lag'),
        fact('boxes.f_outbox', outboxText, 'box-outbox'),
        fact('boxes.f_disk', formatBytes(tm.disk_free_bytes)),
        fact('boxes.f_downloads', formatNumber(tm.download_queue)),
        fact('boxes.f_telemetry', formatTime(ms(tm.received_at))),
      ] : fact('boxes.f_telemetry', t('boxes.no_telemetry'))));
  }

  function drawControls() {
    if (!canOperate() || device.status === 'decommissioned') return;
    if (device.status === 'registered') {
      const button = h('button', {
        type: 'button', id: 'box-new-key', class: 'primary',
        onclick: async () => {
          button.disabled = true;
          try {
            const provisioned = await api('POST', `${path}/provisioning-key`);
            if (ctx.alive) fill(activationSlot, activationPanel(provisioned));
            showError(error, null);
          } catch (e) {
            showError(error, e);
          } finally {
            button.disabled = false;
          }
        },
      }, t('boxes.new_key'));
      fill(keySlot, h('section', { class: 'panel' }, h('h2', {}, t('boxes.new_key')),
        h('p', { class: 'muted small' }, t('boxes.new_key_intro')), h('div', { class: 'actions' }, button)));
    }
    if (device.status === 'active') drawActions();
    drawEdit();
  }

  async function rpc(method, rpcParams, button) {
    if (button) button.disabled = true;
    showError(error, null);
    answer.hidden = false;
    fill(answer, h('p', { class: 'muted', id: 'rpc-waiting' }, t('boxes.sending')));
    try {
      const done = await api('POST', `${path}/rpc`, { method, params: rpcParams, timeout_ms: 30000 });
      if (!ctx.alive) return;
      const failed = done.state === 'failed' && done.error;
      fill(answer,
        h('h2', {}, t('boxes.answer', { method })),
        h('p', {}, h('span', { class: `badge ${done.state === 'successful' ? 'ok' : 'bad'}`, id: 'rpc-state' },
          t('boxes.rpc_state', { state: done.state }))),
        failed ? h('p', { class: 'error', id: 'rpc-failure' },
          t('boxes.answer_failed', { method, message: `${done.error.code}: ${done.error.message}` })) : null,
        done.result !== undefined && done.result !== null
          ? h('pre', { id: 'rpc-result', class: 'mono rpc-result' }, JSON.stringify(done.result, null, 2)) : null);
    } catch (e) {
      answer.hidden = true;
      showError(error, e);
    } finally {
      if (button) button.disabled = false;
    }
  }

  function drawActions() {
    const ping = h('button', { type: 'button', id: 'box-ping', onclick: () => rpc('ping', {}, ping) }, t('boxes.ping'));
    const diagnostics = h('button', {
      type: 'button', id: 'box-diagnostics', onclick: () => rpc('getDiagnostics', {}, diagnostics),
    }, t('boxes.diagnostics'));
    const parts = [h('h2', {}, t('boxes.actions')), h('p', { class: 'muted small' }, t('boxes.actions_intro'))];
    const buttons = [ping, diagnostics];
    // Restart and configuration need the tenant administrator of the whole tenant (the API).
    if (holds('tenant_admin')) {
      buttons.push(confirmButton({ id: 'box-restart', class: 'danger' }, t('boxes.restart'), t('boxes.restart_confirm'),
        () => rpc('restart', {})));
    }
    parts.push(h('div', { class: 'actions' }, buttons));
    if (holds('tenant_admin')) {
      const key = h('input', { id: 'config-key', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'uplink.telemetry_interval_ms' });
      const value = h('input', { id: 'config-value', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: '30000' });
      const send = h('button', { type: 'submit', id: 'config-submit' }, t('boxes.config_submit'));
      parts.push(h('form', {
        id: 'config-form', class: 'config-form', novalidate: true,
        onsubmit: (event) => {
          event.preventDefault();
          const k = key.value.trim();
          const raw = value.value.trim();
          if (!k || !raw) { showMessage(error, t('boxes.config_missing')); return; }
          let parsed;
          try { parsed = JSON.parse(raw); } catch { parsed = raw; }
          rpc('setConfig', { values: { [k]: parsed } }, send);
        },
      }, h('h3', {}, t('boxes.config')),
      h('div', { class: 'inline-form' },
        field(t('boxes.config_key'), key, t('boxes.config_key_hint')),
        field(t('boxes.config_value'), value, t('boxes.config_value_hint')), send)));
    }
    fill(actionsSlot, h('section', { class: 'panel', id: 'box-actions' }, parts));
  }

  function drawEdit() {
    const operated = areas.filter((a) => holdsOn('operator', a));
    const name = h('input', { id: 'box-edit-name', type: 'text', maxlength: 200, value: device.name });
    const area = areaSelect({ id: 'box-edit-area' }, operated, null, device.area_id);
    const save = h('button', { type: 'submit', id: 'box-edit-save' }, t('boxes.save'));
    fill(editSlot, h('form', {
      id: 'box-edit-form', class: 'panel', novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        const body = {};
        if (name.value.trim() && name.value.trim() !== device.name) body.name = name.value.trim();
        if (area.value && area.value !== device.area_id) body.area_id = area.value;
        if (Object.keys(body).length === 0) return;
        save.disabled = true;
        try {
          await api('PATCH', path, body);
          showError(error, null);
          showMessage(notice, t('boxes.saved'));
          await load();
        } catch (e) {
          showError(error, e);
        } finally {
          save.disabled = false;
        }
      },
    }, h('h2', {}, t('boxes.edit')),
    h('div', { class: 'inline-form' }, field(t('boxes.name'), name), field(t('boxes.area'), area), save),
    h('div', { class: 'actions danger-zone' },
      confirmButton({ id: 'box-decommission', class: 'danger' }, t('boxes.decommission'), t('boxes.decommission_confirm'),
        async () => {
          try {
            await api('POST', `${path}/decommission`);
            showMessage(notice, t('boxes.decommissioned_done'));
            fill(actionsSlot);
            fill(editSlot);
            fill(keySlot);
            await load();
          } catch (e) {
            showError(error, e);
          }
        }))));
  }

  load();
  every(ctx, load);
  return h('section', { id: 'box-view', class: 'tenant-view' },
    h('p', {}, h('a', { href: `#/t/${tenant}/boxes`, id: 'box-back' }, `← ${t('boxes.back')}`)),
    h('div', { class: 'view-head' }, title),
    error, notice, activationSlot,
    h('section', { class: 'panel' }, h('h2', {}, t('boxes.details')), facts),
    keySlot, actionsSlot, answer, editSlot);
}

export const routes = [
  { path: 't/:tenant/boxes', nav: 'boxes', scope: 'tenant', allowed: () => caller() != null, render: renderList },
  { path: 't/:tenant/boxes/:device', nav: 'boxes', scope: 'tenant', allowed: () => caller() != null, render: renderBox },
];
