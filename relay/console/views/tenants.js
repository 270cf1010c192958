// The platform administrator's tenants: the list, creating one through the creation saga
// (its steps shown as the API answers them), enabling, disabling and deleting; and one
// tenant's page with its details, its pricing rules, billing settings and standing.
//
// Also the few helpers the platform views share (money, dates, months, badges), exported for
// views/platform-billing.js.

import { register, t, locale } from '../common/i18n.js';
import { h, fill, field, confirmButton } from '../common/dom.js';
import { showError, showMessage } from '../common/api.js';
import { formatNumber, formatTime } from '../common/format.js';
import { api, caller } from '../session.js';
import * as boxes from './boxes.js';
import * as areas from './areas.js';
import * as users from './users.js';
import * as people from './people.js';
import * as searches from './searches.js';
import * as audit from './audit.js';
import * as billing from './billing.js';

register({
  'nav.tenants': 'Tenants',
  'nav.tenant_page': 'Tenant',
  'tenants.title': 'Tenants',
  'tenants.intro': 'Every organisation on this relay. Creating one runs the creation saga: the tenant’s record, then each resource it needs; a failed step undoes the ones before it.',
  'tenants.create_title': 'New tenant',
  'tenants.name': 'Name',
  'tenants.name_hint': 'As the organisation calls itself; 1 to 200 characters.',
  'tenants.name_missing': 'Enter a name.',
  'tenants.create': 'Create tenant',
  'tenants.creating': 'Creating…',
  'tenants.saga_running': 'Running the creation saga…',
  'tenants.created': 'Created {name}.',
  'tenants.created_before': '{name} was created earlier by the same request.',
  'tenants.open': 'Open its page',
  'tenants.list_title': 'All tenants',
  'tenants.status': 'Status',
  'tenants.created_at': 'Created',
  'tenants.actions': 'Actions',
  'tenants.none': 'No tenants yet.',
  'tenants.enable': 'Enable',
  'tenants.disable': 'Disable',
  'tenants.confirm_disable': 'Click again to disable',
  'tenants.delete': 'Delete',
  'tenants.confirm_delete': 'Click again to delete it and all its data',
  'tenants.deleted': 'Deleted {name}.',
  'tenants.count': '{n} tenants',
  'tstatus.enabled': 'Enabled',
  'tstatus.disabled': 'Disabled',
  'tstatus.creating': 'Being created',
  'saga_step.tenant_record': 'The tenant’s record',
  'saga_step.object_storage_prefix': 'Its object-storage prefix',
  'saga_step.broker_credentials': 'Its group on the message broker',
  'saga_step.face_library': 'Its face library',
  'saga_step.enabled': 'Enabled',
  'saga_step.took': '{ms} ms',
  'saga_step.retry_hint': 'Everything made was undone. Try again: the same request is retried safely.',
  'tenants.error.creation_in_progress': 'This tenant is still being created by an earlier attempt. Wait a moment and try again.',
  'tenants.error.tenant_creation_failed': 'Creating the tenant failed; everything made was undone. Try again.',
  'tenants.error.idempotency_key_reused': 'This request was already used for another name. Reload the page and try again.',

  'tenant.details': 'Details',
  'tenant.id': 'ID',
  'tenant.updated_at': 'Last changed',
  'tenant.rename': 'Rename',
  'tenant.renamed': 'Renamed.',
  'tenant.views': 'Its views',
  'tenant.views_intro': 'What the tenant’s administrators see, opened as the platform administrator.',
  'tenant.back': 'All tenants',

  'pricing.title': 'Pricing rules',
  'pricing.intro': 'Each version applies from its date until the next one’s; dates before this month, or in a month already invoiced, are refused.',
  'pricing.none': 'No pricing rule: the tenant is not invoiced.',
  'pricing.from': 'From',
  'pricing.currency': 'Currency',
  'pricing.charges': 'Charges',
  'pricing.minimum': 'Monthly minimum',
  'pricing.by': 'Set by',
  'pricing.add_title': 'New version',
  'pricing.from_hint': 'YYYY-MM-DD, in the tenant’s time zone. A currency may change only on the 1st.',
  'pricing.meter': 'Meter',
  'pricing.price': 'Price ({currency})',
  'pricing.free': 'Free per month',
  'pricing.price_hint': 'Leave the price empty for a meter that is not charged.',
  'pricing.add': 'Add version',
  'pricing.added': 'Version from {date} added.',
  'pricing.invalid_date': 'Enter the date as YYYY-MM-DD.',
  'pricing.invalid_amount': 'Enter amounts as plain numbers, e.g. 1.50.',
  'pricing.no_charge': 'Give at least one meter a price, or a monthly minimum.',
  'pricing.tiers': '{n} discount tiers',
  'pricing.free_short': '{n} free',
  'pmeter.device_days': 'Box-days',
  'pmeter.traffic_bytes': 'Traffic',
  'pmeter.api_calls': 'API calls',
  'pmeter.searches': 'Searches',
  'pmeter.camera_hours': 'Camera hours',
  'punit.device_days': 'per box-day',
  'punit.traffic_bytes': 'per GB',
  'punit.api_calls': 'per 1,000 calls',
  'punit.searches': 'per search',
  'punit.camera_hours': 'per camera-hour',
  'pfree.device_days': 'box-days',
  'pfree.traffic_bytes': 'GB',
  'pfree.api_calls': 'thousand calls',
  'pfree.searches': 'searches',
  'pfree.camera_hours': 'camera-hours',

  'settings.title': 'Billing settings',
  'settings.zone': 'Time zone',
  'settings.zone_hint': 'IANA name, e.g. Asia/Shanghai: the tenant’s months and days.',
  'settings.basis': 'Box-days billed',
  'settings.basis.seen_online': 'Days a box was seen online',
  'settings.basis.registered': 'Every day a box is registered',
  'settings.payment_days': 'Payment term (days)',
  'settings.overdue_after_days': 'Overdue after (days past due)',
  'settings.suspend_after_days': 'Suspended after (more days)',
  'settings.box_offline_minutes': 'Box offline alert (minutes, 0 never)',
  'settings.saved': 'Settings saved.',
  'settings.invalid_number': 'Enter whole numbers of days and minutes.',

  'pstanding.title': 'Standing',
  'pstanding.good': 'Good standing',
  'pstanding.overdue': 'Overdue',
  'pstanding.suspended': 'Suspended',
  'pstanding.since': 'Since',
  'pstanding.reason': 'Why',
  'pstanding.overdue_invoices': 'Overdue invoices',
  'pstanding.none_overdue': 'Nothing overdue.',
  'pinvoice.number': 'Invoice',
  'pinvoice.period': 'Month',
  'pinvoice.balance': 'Owed',
  'pinvoice.due': 'Due',
}, {
  'nav.tenants': '租户',
  'nav.tenant_page': '租户',
  'tenants.title': '租户',
  'tenants.intro': '本中继上的所有机构。创建租户会运行创建流程（saga）：先写入租户记录，再逐一创建所需资源；任何一步失败都会撤销之前的步骤。',
  'tenants.create_title': '新建租户',
  'tenants.name': '名称',
  'tenants.name_hint': '机构的名称，1 到 200 个字符。',
  'tenants.name_missing': '请输入名称。',
  'tenants.create': '创建租户',
  'tenants.creating': '正在创建…',
  'tenants.saga_running': '正在运行创建流程…',
  'tenants.created': '已创建 {name}。',
  'tenants.created_before': '{name} 已由同一请求在之前创建。',
  'tenants.open': '打开其页面',
  'tenants.list_title': '全部租户',
  'tenants.status': '状态',
  'tenants.created_at': '创建时间',
  'tenants.actions': '操作',
  'tenants.none': '还没有租户。',
  'tenants.enable': '启用',
  'tenants.disable': '停用',
  'tenants.confirm_disable': '再次点击以停用',
  'tenants.delete': '删除',
  'tenants.confirm_delete': '再次点击以删除它及其全部数据',
  'tenants.deleted': '已删除 {name}。',
  'tenants.count': '{n} 个租户',
  'tstatus.enabled': '已启用',
  'tstatus.disabled': '已停用',
  'tstatus.creating': '创建中',
  'saga_step.tenant_record': '租户记录',
  'saga_step.object_storage_prefix': '对象存储前缀',
  'saga_step.broker_credentials': '消息代理上的分组',
  'saga_step.face_library': '人脸库',
  'saga_step.enabled': '已启用',
  'saga_step.took': '{ms} 毫秒',
  'saga_step.retry_hint': '已创建的内容均已撤销。请重试：同一请求可安全重试。',
  'tenants.error.creation_in_progress': '此租户仍在由之前的请求创建中。请稍候再试。',
  'tenants.error.tenant_creation_failed': '创建租户失败，已创建的内容均已撤销。请重试。',
  'tenants.error.idempotency_key_reused': '此请求已用于另一个名称。请刷新页面后重试。',

  'tenant.details': '详情',
  'tenant.id': 'ID',
  'tenant.updated_at': '最后修改',
  'tenant.rename': '重命名',
  'tenant.renamed': '已重命名。',
  'tenant.views': '租户视图',
  'tenant.views_intro': '租户管理员看到的内容，以平台管理员身份打开。',
  'tenant.back': '全部租户',

  'pricing.title': '计价规则',
  'pricing.intro': '每个版本从其生效日期起适用，直到下一个版本。早于本月或所在月份已开票的日期会被拒绝。',
  'pricing.none': '没有计价规则：此租户不会被开票。',
  'pricing.from': '生效日期',
  'pricing.currency': '币种',
  'pricing.charges': '收费项',
  'pricing.minimum': '每月最低消费',
  'pricing.by': '设置人',
  'pricing.add_title': '新版本',
  'pricing.from_hint': 'YYYY-MM-DD，按租户时区。币种只能在每月 1 日变更。',
  'pricing.meter': '计量项',
  'pricing.price': '单价（{currency}）',
  'pricing.free': '每月免费额度',
  'pricing.price_hint': '不收费的计量项请留空单价。',
  'pricing.add': '添加版本',
  'pricing.added': '已添加自 {date} 起的版本。',
  'pricing.invalid_date': '请按 YYYY-MM-DD 输入日期。',
  'pricing.invalid_amount': '请输入数字金额，例如 1.50。',
  'pricing.no_charge': '请至少为一个计量项设置单价，或设置每月最低消费。',
  'pricing.tiers': '{n} 档阶梯折扣',
  'pricing.free_short': '免费 {n}',
  'pmeter.device_days': '设备天数',
  'pmeter.traffic_bytes': '流量',
  'pmeter.api_calls': 'API 调用',
  'pmeter.searches': '搜索次数',
  'pmeter.camera_hours': '摄像头小时',
  'punit.device_days': '每设备天',
  'punit.traffic_bytes': '每 GB',
  'punit.api_calls': '每千次调用',
  'punit.searches': '每次搜索',
  'punit.camera_hours': '每摄像头小时',
  'pfree.device_days': '设备天',
  'pfree.traffic_bytes': 'GB',
  'pfree.api_calls': '千次调用',
  'pfree.searches': '次搜索',
  'pfree.camera_hours': '摄像头小时',

  'settings.title': '计费设置',
  'settings.zone': '时区',
  'settings.zone_hint': 'IANA 名称，例如 Asia/Shanghai：决定租户的月份和日期。',
  'settings.basis': '设备天数计费方式',
  'settings.basis.seen_online': '设备在线的天数',
  'settings.basis.registered': '设备注册期间的每一天',
  'settings.payment_days': '付款期限（天）',
  'settings.overdue_after_days': '逾期（到期后天数）',
  'settings.suspend_after_days': '暂停（再过天数）',
  'settings.box_offline_minutes': '设备离线提醒（分钟，0 为不提醒）',
  'settings.saved': '设置已保存。',
  'settings.invalid_number': '天数和分钟数请输入整数。',

  'pstanding.title': '账务状态',
  'pstanding.good': '状态良好',
  'pstanding.overdue': '已逾期',
  'pstanding.suspended': '已暂停',
  'pstanding.since': '开始时间',
  'pstanding.reason': '原因',
  'pstanding.overdue_invoices': '逾期账单',
  'pstanding.none_overdue': '没有逾期账单。',
  'pinvoice.number': '账单',
  'pinvoice.period': '月份',
  'pinvoice.balance': '欠款',
  'pinvoice.due': '到期日',
});

// ---------------------------------------------------------------------------------------
// Shared by the platform views

export const isPlatformAdmin = () => Boolean(caller() && caller().platform_admin);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (text) => UUID.test(text || '');

export const METERS = ['device_days', 'traffic_bytes', 'api_calls', 'searches', 'camera_hours'];
/** Metered units per pricing unit (as `billing::Meter::units_per_price`). */
export const UNITS_PER_PRICE = {
  device_days: 1, traffic_bytes: 1e9, api_calls: 1000, searches: 1, camera_hours: 3600,
};
export const CURRENCIES = ['CNY', 'USD', 'EUR', 'HKD', 'SGD', 'GBP', 'JPY', 'KRW'];

/** The digits after the decimal point of `currency`'s major unit (JPY and KRW: none). */
export function currencyDigits(currency) {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

/** An amount in minor units (fen, cents) as money in the page's language. */
export function formatMoney(minor, currency) {
  if (minor == null || !Number.isFinite(Number(minor))) return '–';
  const digits = currencyDigits(currency);
  const value = Number(minor) / 10 ** digits;
  try {
    return new Intl.NumberFormat(locale(), { style: 'currency', currency }).format(value);
  } catch {
    return `${formatNumber(value, digits)} ${currency}`;
  }
}

/**
 * A decimal amount typed in major units ("1.5", "12") as minor units, exactly (no floating
 * point); null when it is not a plain non-negative number with at most `digits` decimals.
 */
export function parseMoney(text, digits) {
  const m = /^(\d{1,12})(?:[.,](\d*))?$/.exec(String(text).trim());
  if (!m || (m[2] || '').length > digits) return null;
  const fraction = (m[2] || '').padEnd(digits, '0');
  return Number(m[1]) * 10 ** digits + (fraction ? Number(fraction) : 0);
}

/** An RFC 3339 time from the API in the browser's zone. */
export function formatDate(text) {
  if (!text) return '–';
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? formatTime(ms) : String(text);
}

/** `YYYY-MM` of the month `offset` months from now (in the browser's zone). */
export function monthOf(offset = 0) {
  const now = new Date();
  const d = new Date(now.getFullYear(), now.getMonth() + offset, 1);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}`;
}

export const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

/** A status or outcome as a small coloured label. */
export function badge(kind, text, id) {
  return h('span', { class: ['badge', kind], id }, text);
}

/** A message line that shows a sentence (or nothing). */
export function messageBox(id, kind = 'error') {
  return h('div', { id, class: kind, role: kind === 'error' ? 'alert' : 'status', hidden: true });
}

/** A table in its scrolling wrapper. */
export function table(id, headings, rows, emptyText) {
  const head = h('thead', {}, h('tr', {}, headings.map((heading) => (typeof heading === 'string'
    ? h('th', { scope: 'col' }, heading)
    : h('th', { scope: 'col', class: heading.class }, heading.text)))));
  const body = h('tbody', {}, rows);
  const empty = rows.length === 0 && emptyText
    ? h('tr', {}, h('td', { class: 'empty', colspan: headings.length }, emptyText)) : null;
  if (empty) body.appendChild(empty);
  return h('div', { class: 'table-wrap' }, h('table', { id }, head, body));
}

/** Whether the view is still shown: checked after each await, so a late answer draws nothing. */
function alive(ctx) {
  return ctx.alive;
}

// ---------------------------------------------------------------------------------------
// Creating through the saga

/**
 * POSTs `/api/v1/tenants` with an `Idempotency-Key`: a retry of the same creation (after a
 * network failure, say) is the same request, never a second tenant.
 */
function postTenant(body, key) {
  return api('POST', '/api/v1/tenants', body, undefined, { 'idempotency-key': key });
}

function newKey() {
  if (globalThis.crypto && crypto.randomUUID) return `console-${crypto.randomUUID()}`;
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `console-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

function stepLabel(name) {
  return t(`saga_step.${name}`, {}, name);
}

/** The saga's steps as the creation answered them: the record, each step, the enabling. */
function stepItems(tenant) {
  const items = [h('li', { class: 'done', 'data-step': 'tenant_record' }, stepLabel('tenant_record'))];
  for (const step of tenant.steps || []) {
    items.push(h('li', { class: step.state === 'done' ? 'done' : step.state, 'data-step': step.name },
      stepLabel(step.name),
      step.duration_ms != null ? h('small', { class: 'muted step-time' }, ` · ${t('saga_step.took', { ms: formatNumber(step.duration_ms) })}`) : null));
  }
  items.push(h('li', { class: tenant.status === 'enabled' ? 'done' : 'running', 'data-step': 'enabled' }, stepLabel('enabled')));
  return items;
}

function createForm(ctx, onCreated) {
  const name = h('input', { id: 'tenant-name', type: 'text', required: true, maxlength: 200, autocomplete: 'off' });
  const submit = h('button', { id: 'tenant-create', type: 'submit', class: 'primary' }, t('tenants.create'));
  const error = messageBox('tenant-create-error');
  const steps = h('ol', { id: 'tenant-steps', class: 'steps', 'aria-live': 'polite', hidden: true });
  const outcome = h('div', { id: 'tenant-created', class: 'outcome ok', role: 'status', hidden: true });
  // One key per name: a retry after a failure or a lost answer is the same request.
  let pending = null;

  async function onSubmit(event) {
    event.preventDefault();
    showError(error, null);
    outcome.hidden = true;
    const wanted = name.value.trim();
    if (!wanted) {
      showMessage(error, t('tenants.name_missing'));
      name.focus();
      return;
    }
    if (!pending || pending.name !== wanted) pending = { name: wanted, key: newKey() };
    submit.disabled = true;
    fill(submit, t('tenants.creating'));
    steps.hidden = false;
    fill(steps, h('li', { class: 'running', 'data-step': 'saga' }, t('tenants.saga_running')));
    try {
      const tenant = await postTenant({ name: wanted }, pending.key);
      pending = null;
      if (!alive(ctx)) return;
      fill(steps, stepItems(tenant));
      fill(outcome,
        h('span', {}, t(tenant.steps.some((s) => s.duration_ms != null) ? 'tenants.created' : 'tenants.created_before', { name: tenant.name })),
        ' ',
        h('a', { href: `#/tenants/${tenant.id}`, id: 'tenant-created-link' }, t('tenants.open')));
      outcome.hidden = false;
      name.value = '';
      onCreated(tenant);
    } catch (e) {
      if (!alive(ctx)) return;
      if (e.code === 'idempotency_key_reused') pending = null;
      fill(steps, h('li', { class: 'failed', 'data-step': 'saga' }, t('saga_step.retry_hint')));
      steps.hidden = e.code !== 'tenant_creation_failed';
      showError(error, e, 'tenants.error');
    } finally {
      submit.disabled = false;
      fill(submit, t('tenants.create'));
    }
  }

  return h('form', { id: 'tenant-create-form', class: 'card add-form', novalidate: true, onsubmit: onSubmit },
    h('h2', {}, t('tenants.create_title')),
    error,
    h('div', { class: 'inline-form' }, field(t('tenants.name'), name, t('tenants.name_hint')), h('div', { class: 'actions' }, submit)),
    steps,
    outcome);
}

// ---------------------------------------------------------------------------------------
// Enabling, disabling, deleting

function statusBadge(status, id) {
  return badge(status, t(`tstatus.${status}`, {}, status), id);
}

/** The enable or disable button and the delete button of `tenant`; `changed(tenant|null)`. */
function tenantActions(ctx, tenant, error, changed) {
  const id = tenant.id;
  const toggle = tenant.status === 'enabled'
    ? confirmButton({ id: `tenant-disable-${id}`, class: 'danger' }, t('tenants.disable'), t('tenants.confirm_disable'),
      () => setStatus('disable'))
    : h('button', { id: `tenant-enable-${id}`, type: 'button', onclick: () => setStatus('enable') }, t('tenants.enable'));
  const remove = confirmButton({ id: `tenant-delete-${id}`, class: 'danger' }, t('tenants.delete'), t('tenants.confirm_delete'),
    async () => {
      remove.disabled = true;
      showError(error, null);
      try {
        await api('DELETE', `/api/v1/tenants/${id}`);
        if (alive(ctx)) changed(null);
      } catch (e) {
        if (!alive(ctx)) return;
        remove.disabled = false;
        showError(error, e);
      }
    });
  async function setStatus(action) {
    toggle.disabled = true;
    showError(error, null);
    try {
      const updated = await api('POST', `/api/v1/tenants/${id}/${action}`);
      if (alive(ctx)) changed(updated);
    } catch (e) {
      if (!alive(ctx)) return;
      toggle.disabled = false;
      showError(error, e);
    }
  }
  return h('div', { class: 'actions' }, toggle, remove);
}

// ---------------------------------------------------------------------------------------
// The list

const PAGE = 200;

function renderList(ctx) {
  const error = messageBox('tenants-error');
  const notice = messageBox('tenants-notice', 'notice');
  const count = h('span', { class: 'muted', id: 'tenants-count' });
  const list = h('div', { id: 'tenants-list' }, h('p', { class: 'muted' }, t('boot.loading')));
  const more = h('button', { id: 'tenants-more', type: 'button', hidden: true, onclick: () => load(true) }, t('action.more'));
  let items = [];

  function row(tenant) {
    return h('tr', { 'data-id': tenant.id },
      h('td', {}, h('a', { href: `#/tenants/${tenant.id}`, class: 'tenant-name' }, tenant.name)),
      h('td', {}, statusBadge(tenant.status)),
      h('td', {}, formatDate(tenant.created_at)),
      h('td', {}, tenantActions(ctx, tenant, error, (updated) => {
        if (updated) {
          items = items.map((it) => (it.id === updated.id ? updated : it));
        } else {
          items = items.filter((it) => it.id !== tenant.id);
          showMessage(notice, t('tenants.deleted', { name: tenant.name }));
        }
        draw();
      })));
  }

  function draw() {
    fill(count, t('tenants.count', { n: formatNumber(items.length) }));
    fill(list, table('tenants-table',
      [t('tenants.name'), t('tenants.status'), t('tenants.created_at'), t('tenants.actions')],
      items.map(row), t('tenants.none')));
  }

  async function load(next = false) {
    showError(error, null);
    more.disabled = true;
    try {
      const offset = next ? items.length : 0;
      const page = await api('GET', `/api/v1/tenants?limit=${PAGE}&offset=${offset}`);
      if (!alive(ctx)) return;
      items = next ? items.concat(page.items) : page.items;
      more.hidden = page.items.length < PAGE;
      draw();
    } catch (e) {
      if (!alive(ctx)) return;
      fill(list);
      showError(error, e);
    } finally {
      more.disabled = false;
    }
  }

  load();
  return h('section', { id: 'tenants-view', class: 'platform-view' },
    h('div', { class: 'view-head' },
      h('h1', {}, t('tenants.title')),
      h('button', { id: 'tenants-refresh', type: 'button', onclick: () => load() }, t('action.refresh'))),
    h('p', { class: 'muted' }, t('tenants.intro')),
    createForm(ctx, (tenant) => {
      showMessage(notice, null);
      if (!items.some((it) => it.id === tenant.id)) items = items.concat([{ ...tenant, steps: undefined }]);
      draw();
    }),
    h('div', { class: 'row list-head' }, h('h2', {}, t('tenants.list_title')), count),
    notice,
    error,
    list,
    h('div', { class: 'actions' }, more));
}

// ---------------------------------------------------------------------------------------
// One tenant

/** The tenant views' links (those of views/*.js that are the tenant's, in the navigation). */
function tenantLinks(id) {
  const modules = [searches, people, boxes, areas, users, audit, billing];
  return modules.flatMap((m) => m.routes || [])
    .filter((r) => r.scope === 'tenant' && r.nav && !r.path.replace(':tenant', '').includes(':')
      && (!r.allowed || r.allowed()))
    .map((r) => h('a', { href: `#/${r.path.replace(':tenant', id)}`, class: 'button', 'data-view': r.nav }, t(`nav.${r.nav}`)));
}

function renderTenant(ctx, params) {
  const id = params.tenant;
  if (!isUuid(id)) {
    queueMicrotask(() => ctx.notFound());
    return h('p', { class: 'muted' }, t('boot.loading'));
  }
  const error = messageBox('tenant-error');
  const head = h('div', { class: 'view-head' }, h('h1', { id: 'tenant-title' }, t('boot.loading')));
  const details = h('section', { class: 'card', id: 'tenant-details' });
  const body = h('div', { class: 'tenant-sections', hidden: true });
  const view = h('section', { id: 'tenant-view', class: 'platform-view' },
    h('p', { class: 'small' }, h('a', { href: '#/tenants', id: 'tenant-back' }, `← ${t('tenant.back')}`)),
    head, error, details, body);

  function drawDetails(tenant) {
    document.title = `${tenant.name} · Dipper`;
    fill(head, h('h1', { id: 'tenant-title' }, tenant.name), statusBadge(tenant.status, 'tenant-status'));
    const rename = h('input', { id: 'tenant-rename-name', type: 'text', value: tenant.name, maxlength: 200, autocomplete: 'off' });
    const renameError = messageBox('tenant-rename-error');
    const renameButton = h('button', { id: 'tenant-rename', type: 'submit' }, t('tenant.rename'));
    const links = tenantLinks(tenant.id);
    fill(details,
      h('h2', {}, t('tenant.details')),
      h('dl', { class: 'facts' },
        h('div', {}, h('dt', {}, t('tenant.id')), h('dd', { class: 'mono', id: 'tenant-id' }, tenant.id)),
        h('div', {}, h('dt', {}, t('tenants.status')), h('dd', {}, t(`tstatus.${tenant.status}`, {}, tenant.status))),
        h('div', {}, h('dt', {}, t('tenants.created_at')), h('dd', {}, formatDate(tenant.created_at))),
        h('div', {}, h('dt', {}, t('tenant.updated_at')), h('dd', {}, formatDate(tenant.updated_at)))),
      tenantActions(ctx, tenant, error, (updated) => {
        if (updated) drawDetails(updated);
        else ctx.go('#/tenants');
      }),
      h('form', {
        class: 'inline-form', id: 'tenant-rename-form', novalidate: true,
        onsubmit: async (event) => {
          event.preventDefault();
          showError(renameError, null);
          const wanted = rename.value.trim();
          if (!wanted) { showMessage(renameError, t('tenants.name_missing')); return; }
          renameButton.disabled = true;
          try {
            const updated = await api('PATCH', `/api/v1/tenants/${tenant.id}`, { name: wanted });
            if (alive(ctx)) drawDetails(updated);
          } catch (e) {
            if (!alive(ctx)) return;
            renameButton.disabled = false;
            showError(renameError, e);
          }
        },
      }, field(t('tenants.name'), rename), h('div', { class: 'actions' }, renameButton)),
      renameError,
      links.length ? h('div', { class: 'tenant-views', id: 'tenant-views' },
        h('h3', {}, t('tenant.views')),
        h('p', { class: 'muted small' }, t('tenant.views_intro')),
        h('div', { class: 'actions' }, links)) : null);
  }

  (async () => {
    try {
      const tenant = await api('GET', `/api/v1/tenants/${id}`);
      if (!alive(ctx)) return;
      drawDetails(tenant);
      fill(body, pricingSection(ctx, id), settingsSection(ctx, id), standingSection(ctx, id));
      body.hidden = false;
    } catch (e) {
      if (!alive(ctx)) return;
      fill(head);
      ctx.fail(error, e);
    }
  })();
  return view;
}

// ---------------------------------------------------------------------------------------
// Pricing rules

function chargeText(meter, charge, currency) {
  const parts = [`${t(`pmeter.${meter}`, {}, meter)}: ${formatMoney(charge.unit_price_minor, currency)} ${t(`punit.${meter}`, {}, '')}`.trim()];
  if (charge.free_allowance) {
    const free = charge.free_allowance / (UNITS_PER_PRICE[meter] || 1);
    parts.push(t('pricing.free_short', { n: `${formatNumber(free, free % 1 ? 3 : 0)} ${t(`pfree.${meter}`, {}, '')}`.trim() }));
  }
  if (charge.tiers && charge.tiers.length) parts.push(t('pricing.tiers', { n: charge.tiers.length }));
  return parts.join(' · ');
}

function firstOfMonth() {
  return `${monthOf(0)}-01`;
}

function pricingSection(ctx, tenantId) {
  const error = messageBox('pricing-error');
  const notice = messageBox('pricing-notice', 'notice');
  const list = h('div', { id: 'pricing-list' }, h('p', { class: 'muted' }, t('boot.loading')));
  let lastCurrency = 'CNY';

  async function load() {
    try {
      const rules = await api('GET', `/api/v1/tenants/${tenantId}/pricing-rules`);
      if (!alive(ctx)) return;
      if (rules.items.length) {
        lastCurrency = rules.items[rules.items.length - 1].currency;
        if (!form.dataset.touched) currency.value = lastCurrency;
        drawPriceLabels();
      }
      fill(list, table('pricing-table',
        [t('pricing.from'), t('pricing.currency'), t('pricing.charges'), { text: t('pricing.minimum'), class: 'num' }, t('pricing.by')],
        rules.items.map((rule) => h('tr', { 'data-from': rule.effective_from },
          h('td', {}, rule.effective_from),
          h('td', {}, rule.currency),
          h('td', {}, h('ul', { class: 'plain charges' },
            Object.entries(rule.charges).map(([meter, charge]) => h('li', { 'data-meter': meter }, chargeText(meter, charge, rule.currency))))),
          h('td', { class: 'num' }, formatMoney(rule.minimum_monthly_minor, rule.currency)),
          h('td', {}, rule.created_by, h('br'), h('small', { class: 'muted' }, formatDate(rule.created_at))))),
        t('pricing.none')));
    } catch (e) {
      if (!alive(ctx)) return;
      fill(list);
      showError(error, e);
    }
  }

  const from = h('input', { id: 'rule-from', type: 'text', value: firstOfMonth(), placeholder: 'YYYY-MM-DD', autocomplete: 'off', inputmode: 'numeric' });
  const currency = h('select', { id: 'rule-currency' }, CURRENCIES.map((c) => h('option', { value: c }, c)));
  const minimum = h('input', { id: 'rule-minimum', type: 'text', inputmode: 'decimal', autocomplete: 'off', placeholder: '0' });
  const prices = {};
  const frees = {};
  const priceLabels = {};
  const rows = METERS.map((meter) => {
    prices[meter] = h('input', { id: `rule-price-${meter}`, type: 'text', inputmode: 'decimal', autocomplete: 'off', 'aria-label': `${t(`pmeter.${meter}`)} ${t(`punit.${meter}`)}` });
    frees[meter] = h('input', { id: `rule-free-${meter}`, type: 'text', inputmode: 'decimal', autocomplete: 'off', placeholder: '0', 'aria-label': `${t(`pmeter.${meter}`)} ${t('pricing.free')}` });
    priceLabels[meter] = h('small', { class: 'muted' });
    return h('tr', { 'data-meter': meter },
      h('th', { scope: 'row' }, t(`pmeter.${meter}`)),
      h('td', {}, prices[meter], ' ', priceLabels[meter]),
      h('td', {}, frees[meter], ' ', h('small', { class: 'muted' }, t(`pfree.${meter}`))));
  });
  const priceHead = h('th', { scope: 'col' });
  function drawPriceLabels() {
    fill(priceHead, t('pricing.price', { currency: currency.value }));
    for (const meter of METERS) fill(priceLabels[meter], t(`punit.${meter}`));
  }
  currency.value = lastCurrency;
  currency.addEventListener('change', () => { form.dataset.touched = '1'; drawPriceLabels(); });
  drawPriceLabels();
  const submit = h('button', { id: 'rule-add', type: 'submit', class: 'primary' }, t('pricing.add'));
  const formError = messageBox('rule-error');

  async function onSubmit(event) {
    event.preventDefault();
    showError(formError, null);
    showMessage(notice, null);
    const date = from.value.trim();
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) { showMessage(formError, t('pricing.invalid_date')); from.focus(); return; }
    const digits = currencyDigits(currency.value);
    const charges = {};
    for (const meter of METERS) {
      const priceText = prices[meter].value.trim();
      if (!priceText) continue;
      const price = parseMoney(priceText, digits);
      const freeText = frees[meter].value.trim();
      const free = freeText ? Number(freeText.replace(',', '.')) : 0;
      if (price == null || !Number.isFinite(free) || free < 0) {
        showMessage(formError, t('pricing.invalid_amount'));
        (price == null ? prices : frees)[meter].focus();
        return;
      }
      charges[meter] = { unit_price_minor: price, free_allowance: Math.round(free * UNITS_PER_PRICE[meter]), tiers: [] };
    }
    const minimumText = minimum.value.trim();
    const minimumMinor = minimumText ? parseMoney(minimumText, digits) : 0;
    if (minimumMinor == null) { showMessage(formError, t('pricing.invalid_amount')); minimum.focus(); return; }
    if (!Object.keys(charges).length && !minimumMinor) { showMessage(formError, t('pricing.no_charge')); return; }
    submit.disabled = true;
    try {
      const stored = await api('POST', `/api/v1/tenants/${tenantId}/pricing-rules`, {
        effective_from: date, currency: currency.value, charges, minimum_monthly_minor: minimumMinor,
      });
      if (!alive(ctx)) return;
      showMessage(notice, t('pricing.added', { date: stored.effective_from }));
      for (const meter of METERS) { prices[meter].value = ''; frees[meter].value = ''; }
      minimum.value = '';
      await load();
    } catch (e) {
      if (alive(ctx)) showError(formError, e);
    } finally {
      submit.disabled = false;
    }
  }

  const form = h('form', { id: 'rule-form', class: 'rule-form', novalidate: true, onsubmit: onSubmit },
    h('h3', {}, t('pricing.add_title')),
    formError,
    h('div', { class: 'form-grid' },
      field(t('pricing.from'), from, t('pricing.from_hint')),
      field(t('pricing.currency'), currency)),
    h('div', { class: 'table-wrap' }, h('table', { class: 'rule-charges' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('pricing.meter')), priceHead, h('th', { scope: 'col' }, t('pricing.free')))),
      h('tbody', {}, rows))),
    h('small', { class: 'hint' }, t('pricing.price_hint')),
    field(t('pricing.minimum'), minimum),
    h('div', { class: 'actions' }, submit));

  load();
  return h('section', { class: 'card', id: 'pricing' },
    h('h2', {}, t('pricing.title')),
    h('p', { class: 'muted small' }, t('pricing.intro')),
    error, notice, list, form);
}

// ---------------------------------------------------------------------------------------
// Billing settings

const SETTING_NUMBERS = [
  ['payment_days', 'settings-payment-days', 365],
  ['overdue_after_days', 'settings-overdue-days', 365],
  ['suspend_after_days', 'settings-suspend-days', 365],
  ['box_offline_minutes', 'settings-offline-minutes', 10080],
];

function settingsSection(ctx, tenantId) {
  const error = messageBox('settings-error');
  const notice = messageBox('settings-notice', 'notice');
  const zone = h('input', { id: 'settings-zone', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const basis = h('select', { id: 'settings-basis' },
    ['seen_online', 'registered'].map((b) => h('option', { value: b }, t(`settings.basis.${b}`))));
  const numbers = Object.fromEntries(SETTING_NUMBERS.map(([key, id, max]) => [key,
    h('input', { id, type: 'number', min: 0, max, step: 1, inputmode: 'numeric' })]));
  const save = h('button', { id: 'settings-save', type: 'submit', class: 'primary', disabled: true }, t('action.save'));

  function show(settings) {
    zone.value = settings.time_zone;
    basis.value = settings.device_day_basis;
    for (const [key] of SETTING_NUMBERS) numbers[key].value = String(settings[key]);
    save.disabled = false;
  }

  (async () => {
    try {
      const settings = await api('GET', `/api/v1/tenants/${tenantId}/billing/settings`);
      if (alive(ctx)) show(settings);
    } catch (e) {
      if (alive(ctx)) showError(error, e);
    }
  })();

  async function onSubmit(event) {
    event.preventDefault();
    showError(error, null);
    showMessage(notice, null);
    const body = { time_zone: zone.value.trim(), device_day_basis: basis.value };
    for (const [key] of SETTING_NUMBERS) {
      const value = Number(numbers[key].value);
      if (numbers[key].value.trim() === '' || !Number.isInteger(value) || value < 0) {
        showMessage(error, t('settings.invalid_number'));
        numbers[key].focus();
        return;
      }
      body[key] = value;
    }
    save.disabled = true;
    try {
      const stored = await api('PUT', `/api/v1/tenants/${tenantId}/billing/settings`, body);
      if (!alive(ctx)) return;
      show(stored);
      showMessage(notice, t('settings.saved'));
    } catch (e) {
      if (alive(ctx)) showError(error, e);
    } finally {
      save.disabled = false;
    }
  }

  return h('form', { class: 'card', id: 'settings-form', novalidate: true, onsubmit: onSubmit },
    h('h2', {}, t('settings.title')),
    error, notice,
    h('div', { class: 'form-grid' },
      field(t('settings.zone'), zone, t('settings.zone_hint')),
      field(t('settings.basis'), basis),
      SETTING_NUMBERS.map(([key]) => field(t(`settings.${key}`), numbers[key]))),
    h('div', { class: 'actions' }, save));
}

// ---------------------------------------------------------------------------------------
// Standing

function standingSection(ctx, tenantId) {
  const error = messageBox('standing-error');
  const content = h('div', { id: 'standing-content' }, h('p', { class: 'muted' }, t('boot.loading')));
  (async () => {
    try {
      const standing = await api('GET', `/api/v1/tenants/${tenantId}/billing/standing`);
      if (!alive(ctx)) return;
      fill(content,
        h('p', { class: 'summary' }, badge(standing.standing, t(`pstanding.${standing.standing}`, {}, standing.standing), 'standing-badge')),
        standing.since ? h('dl', { class: 'facts' },
          h('div', {}, h('dt', {}, t('pstanding.since')), h('dd', {}, formatDate(standing.since))),
          standing.reason ? h('div', {}, h('dt', {}, t('pstanding.reason')), h('dd', {}, standing.reason)) : null) : null,
        h('h3', {}, t('pstanding.overdue_invoices')),
        standing.overdue.length ? table('standing-overdue',
          [t('pinvoice.number'), t('pinvoice.period'), { text: t('pinvoice.balance'), class: 'num' }, t('pinvoice.due')],
          standing.overdue.map((inv) => h('tr', {},
            h('td', {}, inv.number), h('td', {}, inv.period),
            h('td', { class: 'num' }, formatMoney(inv.balance_minor, inv.currency)),
            h('td', {}, formatDate(inv.due_at)))))
          : h('p', { class: 'muted' }, t('pstanding.none_overdue')));
    } catch (e) {
      if (!alive(ctx)) return;
      fill(content);
      showError(error, e);
    }
  })();
  return h('section', { class: 'card', id: 'standing' }, h('h2', {}, t('pstanding.title')), error, content);
}

// ---------------------------------------------------------------------------------------

export const routes = [
  { path: 'tenants', nav: 'tenants', scope: 'platform', allowed: isPlatformAdmin, render: renderList },
  { path: 'tenants/:tenant', nav: null, title: 'tenant_page', scope: 'platform', allowed: isPlatformAdmin, render: renderTenant },
];
