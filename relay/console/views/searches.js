// Remote searches (`t/:tenant/searches`, `t/:tenant/searches/:search`): start one (a person
// of the face library or a one-off photo, a time range, areas or boxes), the searches made,
// and one search's page: each box's part live (the API's server-sent events, read with the
// bearer token), the results as a timeline and a grid of face crops grouped by box and
// camera, each opening its frame; sortable by time or distance, exported as CSV (made here,
// from the results), cancelled. Viewers read; operators start and cancel (the API's rules:
// an operator of some area starts, an operator of every box's area cancels).

import { t, register, plural } from '../common/i18n.js';
import { h, fill, field, confirmButton } from '../common/dom.js';
import { showError, showMessage } from '../common/api.js';
import { formatDuration, formatNumber, formatTime } from '../common/format.js';
import { api, caller, follow, holds, holdsAnywhere } from '../session.js';

register({
  'nav.searches': 'Searches',
  'searches.title': 'Searches',
  'searches.new': 'New search',
  'searches.target': 'Look for',
  'searches.target_person': 'A person of the face library',
  'searches.target_photo': 'A photo (not kept)',
  'searches.person': 'Person',
  'searches.person_pick': 'Choose a person…',
  'searches.person_no_photo': '{name} (no photo)',
  'searches.person_photos': ({ name, n }) => `${name} (${n} ${plural(n, 'photo', 'photos')})`,
  'searches.no_people': 'The face library is empty: add a person with a photo first.',
  'searches.photo': 'Photo',
  'searches.photo_hint': 'A JPEG or PNG with one face. It is used for this search only.',
  'searches.from': 'From',
  'searches.to': 'To',
  'searches.last_hour': 'Last hour',
  'searches.last_day': 'Last 24 hours',
  'searches.last_week': 'Last 7 days',
  'searches.scope': 'Where',
  'searches.areas': 'Areas (with the areas below them)',
  'searches.boxes': 'Boxes',
  'searches.no_areas': 'No area.',
  'searches.no_boxes': 'No box is registered yet.',
  'searches.online': 'online',
  'searches.offline': 'offline',
  'searches.max_distance': 'Largest distance (optional)',
  'searches.max_distance_hint': 'Smaller is stricter; empty: each box\'s default.',
  'searches.start': 'Search',
  'searches.starting': 'Starting…',
  'searches.pick_person': 'Choose the person to look for.',
  'searches.pick_photo': 'Choose a photo.',
  'searches.pick_scope': 'Choose at least one area or box.',
  'searches.bad_span': 'Give a start and an end, the end after the start.',
  'searches.list': 'Searches made',
  'searches.none': 'No search yet.',
  'searches.col_person': 'Looking for',
  'searches.col_span': 'Footage from – to',
  'searches.col_state': 'State',
  'searches.col_boxes': 'Boxes done',
  'searches.col_results': 'Results',
  'searches.col_started': 'Started',
  'searches.a_photo': 'A photo, or a person since removed',
  'searches.open': 'Open',

  'search.title': 'Search for {name}',
  'search.title_photo': 'Search with a photo',
  'search.back': 'All searches',
  'search.live': 'Live',
  'search.not_live': 'Not live',
  'search.cancel': 'Cancel the search',
  'search.confirm_cancel': 'Click again to cancel on every box',
  'search.span': 'Footage',
  'search.scope': 'Scope',
  'search.started_by': 'Started by',
  'search.started_at': 'Started',
  'search.finished_at': 'Finished',
  'search.cancelled_at': 'Cancelled',
  'search.max_distance': 'Largest distance',
  'search.box_default': 'each box\'s default',
  'search.boxes': 'Boxes',
  'search.recordings': ({ done, total }) => `${done} of ${total} ${plural(total, 'recording', 'recordings')} searched`,
  'search.recordings_failed': ({ n }) => `${n} could not be read`,
  'search.matches': ({ n }) => `${n} ${plural(n, 'match', 'matches')}`,
  'search.eta': 'about {eta} left',
  'search.results': 'Results',
  'search.results_n': ({ n }) => `${n} ${plural(n, 'result', 'results')}`,
  'search.no_results': 'Nothing found so far.',
  'search.no_results_done': 'The person was not found in this footage.',
  'search.sort': 'Order',
  'search.sort_time': 'By time',
  'search.sort_distance': 'By distance (closest first)',
  'search.export': 'Export as CSV',
  'search.timeline': 'When the person was seen',
  'search.camera_n': ({ camera, n }) => `${camera} · ${n} ${plural(n, 'result', 'results')}`,
  'search.distance': 'distance {d}',
  'search.crop_alt': 'The face seen at {time}',
  'search.frame_alt': 'The frame at {time}',
  'search.picture_coming': 'Picture on its way',
  'search.frame_missing': 'The picture cannot be shown (not uploaded yet, or its link expired).',
  'search.unknown_box': 'Box {id}…',
  'search.state.running': 'Running',
  'search.state.done': 'Done',
  'search.state.cancelled': 'Cancelled',
  'box.state.queued': 'Waiting for the box',
  'box.state.sent': 'Sent',
  'box.state.accepted': 'Accepted',
  'box.state.running': 'Searching',
  'box.state.done': 'Done',
  'box.state.failed': 'Failed',
  'box.state.cancelled': 'Cancelled',
  'box.state.expired': 'Expired',
  'box.reason.model_mismatch': 'The box recognises faces with another model than the person\'s photos.',
  'box.reason.not_delivered': 'The box was not reachable before the search expired.',
  'box.reason.not_finished': 'The box did not finish in time.',
  'box.reason.task_failed': 'The search failed on the box.',
  'box.reason.cancelled': 'Cancelled.',
}, {
  'nav.searches': '检索',
  'searches.title': '检索',
  'searches.new': '新建检索',
  'searches.target': '查找对象',
  'searches.target_person': '人脸库中的人员',
  'searches.target_photo': '一张照片（不保存）',
  'searches.person': '人员',
  'searches.person_pick': '请选择人员…',
  'searches.person_no_photo': '{name}（无照片）',
  'searches.person_photos': ({ name, n }) => `${name}（${n} 张照片）`,
  'searches.no_people': '人脸库为空：请先添加带照片的人员。',
  'searches.photo': '照片',
  'searches.photo_hint': 'JPEG 或 PNG，只含一张人脸。仅用于本次检索。',
  'searches.from': '开始时间',
  'searches.to': '结束时间',
  'searches.last_hour': '最近一小时',
  'searches.last_day': '最近 24 小时',
  'searches.last_week': '最近 7 天',
  'searches.scope': '检索范围',
  'searches.areas': '区域（含下级区域）',
  'searches.boxes': '设备',
  'searches.no_areas': '没有区域。',
  'searches.no_boxes': '尚未注册设备。',
  'searches.online': '在线',
  'searches.offline': '离线',
  'searches.max_distance': '最大距离（可选）',
  'searches.max_distance_hint': '越小越严格；留空则使用各设备的默认值。',
  'searches.start': '检索',
  'searches.starting': '正在启动…',
  'searches.pick_person': '请选择要查找的人员。',
  'searches.pick_photo': '请选择照片。',
  'searches.pick_scope': '请至少选择一个区域或设备。',
  'searches.bad_span': '请填写开始和结束时间，结束须晚于开始。',
  'searches.list': '检索记录',
  'searches.none': '还没有检索。',
  'searches.col_person': '查找对象',
  'searches.col_span': '录像时段',
  'searches.col_state': '状态',
  'searches.col_boxes': '已完成设备',
  'searches.col_results': '结果',
  'searches.col_started': '发起',
  'searches.a_photo': '照片检索，或人员已被删除',
  'searches.open': '打开',

  'search.title': '检索 {name}',
  'search.title_photo': '照片检索',
  'search.back': '全部检索',
  'search.live': '实时',
  'search.not_live': '未连接',
  'search.cancel': '取消检索',
  'search.confirm_cancel': '再次点击以在所有设备上取消',
  'search.span': '录像时段',
  'search.scope': '范围',
  'search.started_by': '发起人',
  'search.started_at': '发起时间',
  'search.finished_at': '完成时间',
  'search.cancelled_at': '取消时间',
  'search.max_distance': '最大距离',
  'search.box_default': '各设备默认值',
  'search.boxes': '设备',
  'search.recordings': ({ done, total }) => `已检索 ${done} / ${total} 段录像`,
  'search.recordings_failed': ({ n }) => `${n} 段无法读取`,
  'search.matches': ({ n }) => `${n} 处匹配`,
  'search.eta': '约剩 {eta}',
  'search.results': '结果',
  'search.results_n': ({ n }) => `${n} 条结果`,
  'search.no_results': '暂未找到。',
  'search.no_results_done': '在这段录像中未找到此人。',
  'search.sort': '排序',
  'search.sort_time': '按时间',
  'search.sort_distance': '按距离（最接近在前）',
  'search.export': '导出 CSV',
  'search.timeline': '出现时间',
  'search.camera_n': ({ camera, n }) => `${camera} · ${n} 条结果`,
  'search.distance': '距离 {d}',
  'search.crop_alt': '{time} 看到的人脸',
  'search.frame_alt': '{time} 的画面',
  'search.picture_coming': '图片上传中',
  'search.frame_missing': '无法显示图片（尚未上传，或链接已过期）。',
  'search.unknown_box': '设备 {id}…',
  'search.state.running': '进行中',
  'search.state.done': '已完成',
  'search.state.cancelled': '已取消',
  'box.state.queued': '等待设备',
  'box.state.sent': '已发送',
  'box.state.accepted': '已接受',
  'box.state.running': '检索中',
  'box.state.done': '已完成',
  'box.state.failed': '失败',
  'box.state.cancelled': '已取消',
  'box.state.expired': '已过期',
  'box.reason.model_mismatch': '设备使用的人脸识别模型与此人照片的不同。',
  'box.reason.not_delivered': '检索过期前设备一直无法连接。',
  'box.reason.not_finished': '设备未能按时完成。',
  'box.reason.task_failed': '设备上的检索失败。',
  'box.reason.cancelled': '已取消。',
});

const base = (tenant) => `/api/v1/tenants/${encodeURIComponent(tenant)}`;

/** The person the face library's "Search for this person" asked for. */
let wanted = null;

/** Opens the new-search form of `tenant` with `person` chosen. */
export function searchFor(ctx, tenant, person) {
  wanted = { tenant, person };
  ctx.go(`#/t/${tenant}/searches`);
}

/** Every item of a list route (pages of 500). */
async function everything(path) {
  const items = [];
  for (let offset = 0; offset < 10000; offset += 500) {
    const sep = path.includes('?') ? '&' : '?';
    const page = (await api('GET', `${path}${sep}limit=500&offset=${offset}`)).items;
    items.push(...page);
    if (page.length < 500) break;
  }
  return items;
}

/** Areas in tree order with their depth, and each area's ancestors (root first). */
function areaTree(areas) {
  const children = new Map();
  for (const area of areas) {
    const key = area.parent_id || '';
    if (!children.has(key)) children.set(key, []);
    children.get(key).push(area);
  }
  const ids = new Set(areas.map((a) => a.id));
  const ordered = [];
  const ancestors = new Map();
  const walk = (parent, depth, above) => {
    const list = (children.get(parent) || []).sort((a, b) => a.name.localeCompare(b.name));
    for (const area of list) {
      ordered.push({ area, depth });
      ancestors.set(area.id, above);
      walk(area.id, depth + 1, [...above, area.id]);
    }
  };
  walk('', 0, []);
  // Areas whose parent the caller does not see start their own trees.
  for (const area of areas) {
    if (area.parent_id && !ids.has(area.parent_id) && !ancestors.has(area.id)) {
      ordered.push({ area, depth: 0 });
      ancestors.set(area.id, []);
      walk(area.id, 1, [area.id]);
    }
  }
  return { ordered, ancestors };
}

const pad = (n) => String(n).padStart(2, '0');

/** A Unix-ms instant as a datetime-local input's value (the browser's zone, seconds). */
function localInput(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A datetime-local input's value as Unix ms in the browser's zone; NaN when empty. */
function fromInput(value) {
  return value ? new Date(value).getTime() : NaN;
}

/** A file's bytes as base64. */
function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.addEventListener('load', () => resolve(String(reader.result).replace(/^data:[^,]*,/, '')));
    reader.addEventListener('error', () => reject(reader.error));
    reader.readAsDataURL(file);
  });
}

const when = (text) => (text ? formatTime(Date.parse(text)) : '–');

/** The tenant's users by id (tenant admins may list them; others get an empty map). */
async function userNames(tenant) {
  if (!holds('tenant_admin')) return new Map();
  try {
    const users = await everything(`${base(tenant)}/users`);
    return new Map(users.map((u) => [u.id, u.display_name || u.email]));
  } catch {
    return new Map();
  }
}

/** Who an audit actor (`user:{id}`, `oidc:…`) is, by name when known. */
function actorName(actor, users) {
  const m = /^user:(.+)$/.exec(actor || '');
  return (m && users.get(m[1])) || actor;
}

function stateBadge(state, prefix, id) {
  return h('span', { class: ['badge', `state-${state}`, state], id }, t(`${prefix}.${state}`, {}, state));
}

/** Gives a browser download of `text` as `name` through a Blob URL and an `<a download>`
 *  kept in `holder` (its href is the export's). The previous URL is revoked. */
export function download(holder, id, name, text, type) {
  const old = document.getElementById(id);
  if (old) {
    URL.revokeObjectURL(old.href);
    old.remove();
  }
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = h('a', { id, href: url, download: name, hidden: true, class: 'download-link' }, name);
  holder.appendChild(link);
  link.click();
  return link;
}

// ---------------------------------------------------------------------------------------
// The searches made, and a new one

function renderSearches(ctx, params) {
  const tenant = params.tenant;
  const error = h('div', { class: 'error', id: 'searches-error', role: 'alert', hidden: true });
  const list = h('div', { id: 'searches-list' }, h('p', { class: 'muted' }, t('boot.loading')));
  const formHolder = h('div', { id: 'search-form-holder' });
  let names = new Map();
  let users = new Map();
  let timer = 0;
  ctx.onLeave(() => clearTimeout(timer));

  async function loadList() {
    let items;
    try {
      items = await everything(`${base(tenant)}/searches`);
    } catch (e) {
      ctx.fail(error, e);
      return;
    }
    if (!ctx.alive) return;
    showError(error, null);
    drawList(items);
    clearTimeout(timer);
    if (items.some((s) => s.state === 'running')) timer = setTimeout(loadList, 5000);
  }

  function drawList(items) {
    if (items.length === 0) {
      fill(list, h('p', { class: 'empty', id: 'searches-empty' }, t('searches.none')));
      return;
    }
    fill(list, h('div', { class: 'table-wrap' }, h('table', { id: 'searches-table' },
      h('thead', {}, h('tr', {},
        h('th', {}, t('searches.col_person')),
        h('th', {}, t('searches.col_span')),
        h('th', {}, t('searches.col_state')),
        h('th', { class: 'num' }, t('searches.col_boxes')),
        h('th', { class: 'num' }, t('searches.col_results')),
        h('th', {}, t('searches.col_started')))),
      h('tbody', {}, items.map((s) => {
        const href = `#/t/${tenant}/searches/${s.id}`;
        const who = s.person_id && names.has(s.person_id) ? names.get(s.person_id) : t('searches.a_photo');
        return h('tr', { id: `search-row-${s.id}` },
          h('td', {}, h('a', { href, class: 'search-open' }, who)),
          h('td', { class: 'small' }, when(s.from), ' – ', when(s.to)),
          h('td', {}, stateBadge(s.state, 'search.state')),
          h('td', { class: 'num' }, `${formatNumber(s.boxes_ended)} / ${formatNumber(s.boxes)}`),
          h('td', { class: 'num' }, formatNumber(s.result_count)),
          h('td', { class: 'small' }, when(s.created_at), h('br'), h('span', { class: 'muted' }, actorName(s.created_by, users))));
      })))));
  }

  async function load() {
    let people = [];
    try {
      people = await everything(`${base(tenant)}/people`);
    } catch (e) {
      if (e && e.status === 404) { ctx.notFound(); return; }
      // Viewers without the library still see the list.
    }
    users = await userNames(tenant);
    if (!ctx.alive) return;
    names = new Map(people.map((p) => [p.id, p.name]));
    if (holdsAnywhere('operator')) {
      try {
        const [areas, devices] = await Promise.all([
          everything(`${base(tenant)}/areas`),
          everything(`${base(tenant)}/devices`),
        ]);
        if (!ctx.alive) return;
        fill(formHolder, newSearchForm(ctx, tenant, { people, areas, devices }));
      } catch (e) {
        ctx.fail(error, e);
      }
    }
    await loadList();
  }

  load();
  return h('section', { id: 'searches', class: 'view' },
    h('div', { class: 'view-head' }, h('h1', {}, t('searches.title'))),
    error,
    formHolder,
    h('h2', {}, t('searches.list')),
    list);
}

function newSearchForm(ctx, tenant, { people, areas, devices }) {
  const preset = wanted && wanted.tenant === tenant ? wanted.person : null;
  wanted = null;
  const message = h('div', { class: 'error', id: 'search-error', role: 'alert', hidden: true });
  const byPerson = h('input', { type: 'radio', name: 'search-target', id: 'search-target-person', value: 'person', checked: true });
  const byPhoto = h('input', { type: 'radio', name: 'search-target', id: 'search-target-photo', value: 'photo' });
  const person = h('select', { id: 'search-person' },
    h('option', { value: '' }, t('searches.person_pick')),
    people.map((p) => h('option', {
      value: p.id, disabled: p.photo_count === 0,
    }, p.photo_count === 0 ? t('searches.person_no_photo', { name: p.name })
      : t('searches.person_photos', { name: p.name, n: p.photo_count }))));
  if (preset && people.some((p) => p.id === preset && p.photo_count > 0)) person.value = preset;
  const photo = h('input', { id: 'search-photo', type: 'file', accept: 'image/jpeg,image/png' });
  const personField = field(t('searches.person'), person,
    people.some((p) => p.photo_count > 0) ? null : t('searches.no_people'));
  const photoField = field(t('searches.photo'), photo, t('searches.photo_hint'));
  const now = Date.now();
  const from = h('input', { id: 'search-from', type: 'datetime-local', step: 1, required: true, value: localInput(now - 3600000) });
  const to = h('input', { id: 'search-to', type: 'datetime-local', step: 1, required: true, value: localInput(now) });
  const lastFor = (id, label, ms) => h('button', {
    type: 'button', id, class: 'small-button',
    onclick: () => { const end = Date.now(); from.value = localInput(end - ms); to.value = localInput(end); },
  }, label);
  const { ordered } = areaTree(areas);
  const areaBoxes = ordered.map(({ area, depth }) => {
    const label = h('label', { class: 'check', for: `search-area-${area.id}` },
      h('input', { type: 'checkbox', class: 'search-area', id: `search-area-${area.id}`, value: area.id }),
      h('span', {}, area.name));
    label.style.paddingLeft = `${depth * 1.25}rem`;
    return label;
  });
  const areaNames = new Map(areas.map((a) => [a.id, a.name]));
  const deviceBoxes = devices.filter((d) => d.status !== 'decommissioned')
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((d) => h('label', { class: 'check', for: `search-device-${d.id}` },
      h('input', { type: 'checkbox', class: 'search-device', id: `search-device-${d.id}`, value: d.id }),
      h('span', {}, d.name),
      h('span', { class: ['badge', d.online ? 'ok' : 'offline'] }, d.online ? t('searches.online') : t('searches.offline')),
      areaNames.has(d.area_id) ? h('small', { class: 'muted' }, areaNames.get(d.area_id)) : null));
  const maxDistance = h('input', { id: 'search-max-distance', type: 'number', min: 0.01, max: 2, step: 0.01, inputmode: 'decimal' });
  const submit = h('button', { id: 'search-start', type: 'submit', class: 'primary' }, t('searches.start'));
  const showTarget = () => {
    personField.hidden = !byPerson.checked;
    photoField.hidden = !byPhoto.checked;
  };
  byPerson.addEventListener('change', showTarget);
  byPhoto.addEventListener('change', showTarget);
  showTarget();

  const form = h('form', {
    id: 'search-form', class: 'card add-form', novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      const body = {};
      if (byPhoto.checked) {
        const file = photo.files && photo.files[0];
        if (!file) { showMessage(message, t('searches.pick_photo')); return; }
        body.photo = await readBase64(file);
      } else {
        if (!person.value) { showMessage(message, t('searches.pick_person')); person.focus(); return; }
        body.person_id = person.value;
      }
      const start = fromInput(from.value);
      const end = fromInput(to.value);
      if (!Number.isFinite(start) || !Number.isFinite(end) || end <= start) {
        showMessage(message, t('searches.bad_span'));
        return;
      }
      body.from = new Date(start).toISOString();
      body.to = new Date(end).toISOString();
      body.areas = [...form.querySelectorAll('.search-area:checked')].map((c) => c.value);
      body.devices = [...form.querySelectorAll('.search-device:checked')].map((c) => c.value);
      if (body.areas.length === 0 && body.devices.length === 0) {
        showMessage(message, t('searches.pick_scope'));
        return;
      }
      if (maxDistance.value !== '') body.max_distance = Number(maxDistance.value);
      showMessage(message, null);
      submit.disabled = true;
      fill(submit, t('searches.starting'));
      try {
        const search = await api('POST', `${base(tenant)}/searches`, body);
        if (ctx.alive) ctx.go(`#/t/${tenant}/searches/${search.id}`);
      } catch (e) {
        showError(message, e);
        submit.disabled = false;
        fill(submit, t('searches.start'));
      }
    },
  },
  h('h2', {}, t('searches.new')),
  message,
  h('fieldset', { class: 'channels' }, h('legend', {}, t('searches.target')),
    h('label', { class: 'check', for: 'search-target-person' }, byPerson, t('searches.target_person')),
    h('label', { class: 'check', for: 'search-target-photo' }, byPhoto, t('searches.target_photo')),
    personField, photoField),
  h('div', { class: 'form-grid' }, field(t('searches.from'), from), field(t('searches.to'), to)),
  h('div', { class: 'actions quick-spans' },
    lastFor('search-last-hour', t('searches.last_hour'), 3600000),
    lastFor('search-last-day', t('searches.last_day'), 86400000),
    lastFor('search-last-week', t('searches.last_week'), 7 * 86400000)),
  h('div', { class: 'form-grid' },
    h('fieldset', { class: 'channels scope', id: 'search-areas' }, h('legend', {}, t('searches.areas')),
      areaBoxes.length ? areaBoxes : h('p', { class: 'muted' }, t('searches.no_areas'))),
    h('fieldset', { class: 'channels scope', id: 'search-devices' }, h('legend', {}, t('searches.boxes')),
      deviceBoxes.length ? deviceBoxes : h('p', { class: 'muted' }, t('searches.no_boxes')))),
  field(t('searches.max_distance'), maxDistance, t('searches.max_distance_hint')),
  h('div', { class: 'actions' }, submit));
  return form;
}

// ---------------------------------------------------------------------------------------
// One search

const resultKey = (r) => `${r.device_id}:${r.match_id}`;
const resultTime = (r) => Date.parse(r.time);

/** Keeps the URLs already shown while they have a minute left (no reload of every image). */
function merged(old, next) {
  if (!old) return next;
  if (!next.snapshots && old.snapshots) return { ...next, snapshots: old.snapshots };
  if (old.snapshots && next.snapshots
    && Date.parse(old.snapshots.expires_at) - Date.now() > 60000) {
    return { ...next, snapshots: old.snapshots };
  }
  return next;
}

/** One CSV field (RFC 4180); a text (not a number) a spreadsheet would take for a formula
 *  gets a leading `'`, as the relay's invoice CSV does. */
function csvField(value) {
  let text = value == null ? '' : String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return `"${text.replace(/"/g, '""')}"`;
}

/** The results as CSV: one row a result, in the order given. */
export function resultsCsv(search, personName, results, boxName) {
  const rows = [['search', 'person', 'time', 'box', 'box_id', 'camera', 'distance', 'match_id',
    'face_x', 'face_y', 'face_width', 'face_height']];
  for (const r of results) {
    const [x, y, w, hgt] = r.face_box || [];
    rows.push([search.id, personName || '', r.time, boxName(r.device_id), r.device_id, r.camera,
      r.distance, r.match_id, x, y, w, hgt]);
  }
  // A byte-order mark, so spreadsheets read the names' Chinese as UTF-8.
  return `\ufeff${rows.map((row) => row.map(csvField).join(',')).join('\r\n')}\r\n`;
}

function renderSearch(ctx, params) {
  const { tenant, search: id } = params;
  const path = `${base(tenant)}/searches/${encodeURIComponent(id)}`;
  const title = h('h1', { id: 'search-title' }, t('boot.loading'));
  const stateHolder = h('span', { id: 'search-state-holder' });
  const live = h('span', { class: 'live-indicator', id: 'search-live' }, t('search.not_live'));
  const error = h('div', { class: 'error', id: 'search-page-error', role: 'alert', hidden: true });
  const facts = h('dl', { class: 'facts', id: 'search-facts' });
  const actions = h('div', { class: 'actions', id: 'search-actions' });
  const boxList = h('ul', { class: 'plain search-boxes', id: 'search-boxes' });
  const count = h('span', { class: 'muted', id: 'results-count' });
  const sort = h('select', { id: 'results-sort' },
    h('option', { value: 'time' }, t('search.sort_time')),
    h('option', { value: 'distance' }, t('search.sort_distance')));
  const exportButton = h('button', { id: 'results-export', type: 'button', disabled: true }, t('search.export'));
  const exportHolder = h('span', { id: 'results-export-holder' });
  const timeline = h('div', { id: 'results-timeline', class: 'timeline', hidden: true });
  const groups = h('div', { id: 'results-groups' }, h('p', { class: 'muted' }, t('boot.loading')));

  let search = null;
  const parts = new Map();
  const results = new Map();
  let boxNames = new Map();
  let boxAreas = new Map();
  let ancestors = new Map();
  let personName = null;
  let users = new Map();
  let drawQueued = false;
  let lastFreshen = 0;
  const controller = new AbortController();
  ctx.onLeave(() => controller.abort());
  ctx.onLeave(() => {
    const link = document.getElementById('results-csv');
    if (link) URL.revokeObjectURL(link.href);
    const viewer = document.getElementById('frame-viewer');
    if (viewer) viewer.remove();
  });

  const boxName = (device) => boxNames.get(device) || t('search.unknown_box', { id: String(device).slice(0, 8) });

  function apply(found) {
    search = found;
    for (const part of found.boxes || []) parts.set(part.device_id, part);
    for (const r of (found.results && found.results.items) || []) results.set(resultKey(r), merged(results.get(resultKey(r)), r));
  }

  function schedule() {
    if (drawQueued) return;
    drawQueued = true;
    setTimeout(() => {
      drawQueued = false;
      if (ctx.alive) draw();
    }, 0);
  }

  function draw() {
    if (!search) return;
    fill(title, search.person_id && personName ? t('search.title', { name: personName }) : t('search.title_photo'));
    fill(stateHolder, stateBadge(search.state, 'search.state', 'search-state'));
    const scope = [
      ...(search.areas || []).map((a) => areaNames.get(a) || a.slice(0, 8)),
      ...(search.devices || []).map(boxName),
    ];
    const rows = [
      [t('search.span'), `${when(search.from)} – ${when(search.to)}`],
      [t('search.scope'), scope.join(', ')],
      [t('search.max_distance'), search.max_distance == null ? t('search.box_default') : formatNumber(search.max_distance, 2)],
      [t('search.started_by'), actorName(search.created_by, users)],
      [t('search.started_at'), when(search.created_at)],
      search.finished_at ? [t('search.finished_at'), when(search.finished_at)] : null,
      search.cancelled_at ? [t('search.cancelled_at'), when(search.cancelled_at)] : null,
    ].filter(Boolean);
    fill(facts, rows.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))));
    drawActions();
    drawBoxes();
    drawResults();
  }

  function mayCancel() {
    if (!holdsAnywhere('operator')) return false;
    return [...parts.keys()].every((device) => {
      const area = boxAreas.get(device);
      return area ? holds('operator', area, ancestors.get(area) || []) : holds('operator');
    });
  }

  function drawActions() {
    fill(actions, search.state === 'running' && mayCancel()
      ? confirmButton({ id: 'search-cancel', class: 'danger' }, t('search.cancel'), t('search.confirm_cancel'), cancel)
      : null);
  }

  async function cancel() {
    try {
      apply(await api('DELETE', path));
      showError(error, null);
    } catch (e) {
      ctx.fail(error, e);
    }
    if (ctx.alive) draw();
  }

  function drawBoxes() {
    const list = [...parts.values()].sort((a, b) => boxName(a.device_id).localeCompare(boxName(b.device_id)));
    fill(boxList, list.map((part) => {
      const p = part.progress;
      const reason = part.reason
        ? t(`box.reason.${part.reason.code}`, {}, null) || part.reason.message || part.reason.code : null;
      return h('li', { id: `search-box-${part.device_id}`, class: 'search-box' },
        h('div', { class: 'row' },
          h('strong', {}, boxName(part.device_id)),
          stateBadge(part.state, 'box.state')),
        p && p.recordings_total > 0 ? h('progress', { max: p.recordings_total, value: p.recordings_done }) : null,
        p ? h('div', { class: 'small muted box-progress' },
          t('search.recordings', { done: formatNumber(p.recordings_done), total: formatNumber(p.recordings_total) }),
          p.recordings_failed ? ` · ${t('search.recordings_failed', { n: formatNumber(p.recordings_failed) })}` : '',
          ` · ${t('search.matches', { n: p.matches })}`,
          p.eta_seconds != null && part.state === 'running' ? ` · ${t('search.eta', { eta: formatDuration(p.eta_seconds) })}` : '')
          : null,
        reason ? h('p', { class: part.state === 'failed' ? 'error small' : 'warning small' },
          h('span', { class: 'sentence' }, reason),
          part.reason.message && part.reason.message !== reason ? h('small', { class: 'detail' }, part.reason.message) : null)
          : null);
    }));
  }

  function sorted() {
    const list = [...results.values()];
    if (sort.value === 'distance') list.sort((a, b) => a.distance - b.distance || resultTime(a) - resultTime(b));
    else list.sort((a, b) => resultTime(a) - resultTime(b) || a.distance - b.distance);
    return list;
  }

  const tiles = new Map();

  function tile(r) {
    const key = resultKey(r);
    const url = r.snapshots ? r.snapshots.face_url : '';
    const cached = tiles.get(key);
    if (cached && cached.url === url) return cached.node;
    const at = formatTime(resultTime(r));
    // The date only when the span has more than one day.
    const short = formatTime(resultTime(r), undefined, Date.parse(search.to) - Date.parse(search.from) > 20 * 3600000);
    const picture = r.snapshots
      ? h('img', { class: 'crop', src: url, alt: t('search.crop_alt', { time: at }), onerror: freshen })
      : h('span', { class: 'crop pending' }, t('search.picture_coming'));
    const node = h('button', {
      type: 'button', class: 'result', id: `result-${r.device_id}-${r.match_id}`,
      'data-key': key, onclick: () => openFrame(key),
    }, picture,
    h('span', { class: 'caption' },
      h('time', { datetime: r.time, title: at }, short),
      h('span', { class: 'muted' }, t('search.distance', { d: formatNumber(r.distance, 3) }))));
    tiles.set(key, { url, node });
    return node;
  }

  function drawResults() {
    const list = sorted();
    fill(count, t('search.results_n', { n: list.length }));
    exportButton.disabled = list.length === 0;
    drawTimeline(list);
    if (list.length === 0) {
      fill(groups, h('p', { class: 'empty', id: 'results-empty' },
        search.state === 'running' ? t('search.no_results') : t('search.no_results_done')));
      return;
    }
    const byBox = new Map();
    for (const r of list) {
      if (!byBox.has(r.device_id)) byBox.set(r.device_id, new Map());
      const cameras = byBox.get(r.device_id);
      if (!cameras.has(r.camera)) cameras.set(r.camera, []);
      cameras.get(r.camera).push(r);
    }
    const boxes = [...byBox.keys()].sort((a, b) => boxName(a).localeCompare(boxName(b)));
    fill(groups, boxes.map((device) => {
      const cameras = byBox.get(device);
      const total = [...cameras.values()].reduce((n, l) => n + l.length, 0);
      return h('section', { class: 'result-box', id: `results-box-${device}` },
        h('h3', {}, boxName(device), ' ', h('span', { class: 'muted small' }, t('search.results_n', { n: total }))),
        [...cameras.keys()].sort((a, b) => a.localeCompare(b)).map((camera) => h('div', { class: 'result-camera' },
          h('h4', {}, t('search.camera_n', { camera, n: cameras.get(camera).length })),
          h('div', { class: 'results' }, cameras.get(camera).map(tile)))));
    }));
  }

  function drawTimeline(list) {
    const start = Date.parse(search.from);
    const end = Date.parse(search.to);
    if (!(end > start)) { timeline.hidden = true; return; }
    const span = end - start;
    const withDate = span > 20 * 3600000;
    const track = h('div', { class: 'track', role: 'list' });
    for (const r of [...list].sort((a, b) => b.distance - a.distance)) {
      const at = resultTime(r);
      const mark = h('button', {
        type: 'button', class: ['mark', r.distance < 0.45 ? 'close' : 'far'], role: 'listitem',
        title: `${formatTime(at)} · ${boxName(r.device_id)} · ${r.camera} · ${t('search.distance', { d: formatNumber(r.distance, 3) })}`,
        'aria-label': `${formatTime(at)} · ${r.camera}`,
        onclick: () => openFrame(resultKey(r)),
      });
      mark.style.left = `${Math.min(100, Math.max(0, ((at - start) / span) * 100))}%`;
      track.appendChild(mark);
    }
    const ticks = h('div', { class: 'ticks', 'aria-hidden': 'true' });
    for (let i = 0; i <= 4; i += 1) {
      const tick = h('span', { class: 'tick' }, formatTime(start + (span * i) / 4, undefined, withDate));
      tick.style.left = `${i * 25}%`;
      ticks.appendChild(tick);
    }
    fill(timeline, h('h3', {}, t('search.timeline')), track, ticks);
    timeline.hidden = false;
  }

  /** The frame of result `key` over the page; Escape, the button or the backdrop close it. */
  function openFrame(key) {
    const r = results.get(key);
    if (!r) return;
    const before = document.activeElement;
    const existing = document.getElementById('frame-viewer');
    if (existing) existing.remove();
    const at = formatTime(resultTime(r));
    const missing = h('p', { class: 'muted', id: 'frame-missing', hidden: !!r.snapshots }, t('search.frame_missing'));
    const box = h('div', { class: 'face-box', hidden: true });
    const image = r.snapshots ? h('img', {
      id: 'frame-image', src: r.snapshots.frame_url, alt: t('search.frame_alt', { time: at }),
      onerror: () => { image.hidden = true; missing.hidden = false; freshen(); },
      onload: () => {
        const [x, y, w, hgt] = r.face_box || [];
        if (!image.naturalWidth || !(w > 0)) return;
        box.style.left = `${(x / image.naturalWidth) * 100}%`;
        box.style.top = `${(y / image.naturalHeight) * 100}%`;
        box.style.width = `${(w / image.naturalWidth) * 100}%`;
        box.style.height = `${(hgt / image.naturalHeight) * 100}%`;
        box.hidden = false;
      },
    }) : null;
    const close = () => {
      viewer.remove();
      document.removeEventListener('keydown', onKey);
      if (before && before.focus) before.focus();
    };
    const onKey = (event) => { if (event.key === 'Escape') close(); };
    const closeButton = h('button', { type: 'button', class: 'close', id: 'frame-close', onclick: close }, t('action.close'));
    const viewer = h('div', {
      id: 'frame-viewer', class: 'overlay', role: 'dialog', 'aria-modal': 'true', 'aria-label': t('search.frame_alt', { time: at }),
      onclick: (event) => { if (event.target === viewer) close(); },
    }, h('figure', {},
      h('div', { class: 'frame-wrap' }, image, box),
      missing,
      h('figcaption', {},
        h('time', { datetime: r.time }, at),
        h('span', {}, boxName(r.device_id)),
        h('span', {}, r.camera),
        h('span', { class: 'muted' }, t('search.distance', { d: formatNumber(r.distance, 3) })),
        closeButton)));
    document.body.appendChild(viewer);
    document.addEventListener('keydown', onKey);
    ctx.onLeave(() => document.removeEventListener('keydown', onKey));
    closeButton.focus();
  }

  /** Every result page (fresh URLs), merged into what is shown. */
  async function loadResults() {
    const fresh = [];
    let after = null;
    for (let pages = 0; pages < 40; pages += 1) {
      const query = after ? `?limit=500&after=${encodeURIComponent(after)}` : '?limit=500';
      const page = await api('GET', `${path}/results${query}`);
      fresh.push(...page.items);
      if (!page.next) break;
      after = page.next;
    }
    for (const r of fresh) results.set(resultKey(r), merged(results.get(resultKey(r)), r));
  }

  /** New URLs when a picture failed to load and the URLs shown have expired (once in 30 s). */
  async function freshen() {
    const now = Date.now();
    if (now - lastFreshen < 30000) return;
    const expired = [...results.values()].some((r) => r.snapshots && Date.parse(r.snapshots.expires_at) <= now + 5000);
    if (!expired) return;
    lastFreshen = now;
    for (const [key, r] of results) if (r.snapshots) results.set(key, { ...r, snapshots: null });
    try { await loadResults(); } catch (e) { console.warn('results', e); }
    if (ctx.alive) schedule();
  }

  /** Once the search ended: reads the results until every one has its pictures (a box
   *  uploads them after its part is done), for a few minutes at most. */
  async function untilPictures() {
    for (let round = 0; round < 90 && ctx.alive; round += 1) {
      if ([...results.values()].every((r) => r.snapshots)) return;
      await new Promise((resolve) => { setTimeout(resolve, round < 10 ? 1000 : 3000); });
      if (!ctx.alive) return;
      try {
        await loadResults();
      } catch (e) {
        console.warn('results', e);
      }
      schedule();
    }
  }

  function onEvent(event) {
    if (!ctx.alive) return 'stop';
    let data;
    try { data = JSON.parse(event.data); } catch { return undefined; }
    switch (event.event) {
      case 'search':
        apply(data);
        break;
      case 'box':
        parts.set(data.device_id, data);
        break;
      case 'result':
      case 'snapshots':
        results.set(resultKey(data), merged(results.get(resultKey(data)), data));
        break;
      case 'end':
        apply(data);
        schedule();
        return 'stop';
      default:
        return undefined;
    }
    schedule();
    return undefined;
  }

  async function watch() {
    live.classList.add('live');
    fill(live, t('search.live'));
    try {
      await follow(`${path}/events`, onEvent, controller.signal);
    } catch (e) {
      if (ctx.alive) ctx.fail(error, e);
    }
    if (!ctx.alive) return;
    live.classList.remove('live');
    fill(live, t('search.not_live'));
    try {
      await loadResults();
    } catch (e) {
      console.warn('results', e);
    }
    schedule();
    await untilPictures();
  }

  let areaNames = new Map();

  async function load() {
    let found;
    try {
      found = await api('GET', path);
    } catch (e) {
      ctx.fail(error, e);
      fill(title, t('searches.title'));
      fill(groups);
      return;
    }
    if (!ctx.alive) return;
    apply(found);
    const [devices, areas, person, known] = await Promise.all([
      everything(`${base(tenant)}/devices`).catch(() => []),
      everything(`${base(tenant)}/areas`).catch(() => []),
      found.person_id ? api('GET', `${base(tenant)}/people/${found.person_id}`).catch(() => null) : null,
      userNames(tenant),
    ]);
    users = known;
    if (!ctx.alive) return;
    boxNames = new Map(devices.map((d) => [d.id, d.name]));
    boxAreas = new Map(devices.map((d) => [d.id, d.area_id]));
    areaNames = new Map(areas.map((a) => [a.id, a.name]));
    ({ ancestors } = areaTree(areas));
    personName = person ? person.name : null;
    draw();
    if (search.state === 'running') {
      watch();
      loadResults().then(schedule, (e) => console.warn('results', e));
    } else {
      try {
        await loadResults();
      } catch (e) {
        ctx.fail(error, e);
      }
      schedule();
      untilPictures();
    }
  }

  sort.addEventListener('change', () => drawResults());
  exportButton.addEventListener('click', () => {
    if (!search) return;
    const csv = resultsCsv(search, personName, sorted(), boxName);
    download(exportHolder, 'results-csv', `search-${search.id.slice(0, 8)}.csv`, csv, 'text/csv;charset=utf-8');
  });

  load();
  return h('section', { id: 'search', class: 'view' },
    h('p', { class: 'crumbs' }, h('a', { href: `#/t/${tenant}/searches`, id: 'search-back' }, t('search.back'))),
    h('div', { class: 'view-head' }, title, h('div', { class: 'row' }, stateHolder, live)),
    error,
    h('div', { class: 'search-top' },
      h('section', { class: 'card' }, facts, actions),
      h('section', { class: 'card' }, h('h2', {}, t('search.boxes')), boxList)),
    h('section', { class: 'card', id: 'search-results' },
      h('div', { class: 'row results-bar' },
        h('h2', {}, t('search.results'), ' ', count),
        h('div', { class: 'results-tools' }, field(t('search.sort'), sort), exportButton, exportHolder)),
      timeline,
      groups));
}

export const routes = [
  { path: 't/:tenant/searches', nav: 'searches', scope: 'tenant', allowed: () => caller() != null, render: renderSearches },
  { path: 't/:tenant/searches/:search', nav: null, title: 'searches', scope: 'tenant', allowed: () => caller() != null, render: renderSearch },
];
