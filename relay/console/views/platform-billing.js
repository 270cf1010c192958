// The platform administrator's billing: a billing run (a dry run prices without storing; a
// real one issues the invoices), a dunning run, and the reports (revenue by month, tenants
// by status and standing, usage per tenant) as tables.

import { register, t } from '../common/i18n.js';
import { h, fill, field, confirmButton } from '../common/dom.js';
import { showError, showMessage } from '../common/api.js';
import { formatBytes, formatNumber } from '../common/format.js';
import { api } from '../session.js';
import {
  isPlatformAdmin, formatMoney, monthOf, MONTH, badge, messageBox, table,
} from './tenants.js';

register({
  'nav.billing_runs': 'Billing & reports',
  'pbill.title': 'Billing and reports',
  'pbill.all_tenants': 'All tenants',
  'pbill.tenant': 'Tenant',
  'pbill.month': 'Month',
  'pbill.month_hint': 'YYYY-MM, in each tenant’s time zone.',
  'pbill.bad_month': 'Enter the month as YYYY-MM.',

  'run.title': 'Billing run',
  'run.intro': 'Invoices a month as the monthly run does. A dry run prices it without storing anything; tenants already invoiced for the month are left as they are.',
  'run.dry': 'Dry run',
  'run.issue': 'Run and issue invoices',
  'run.confirm_issue': 'Click again to issue the invoices',
  'run.running': 'Running…',
  'run.done_dry': 'Dry run of {month}: nothing was stored.',
  'run.done': 'Billing run of {month} finished.',
  'run.previous': 'the previous month',
  'run.summary.tenants': 'Tenants',
  'run.summary.issued': 'Issued',
  'run.summary.priced': 'Priced',
  'run.summary.existing': 'Already invoiced',
  'run.summary.no_rule': 'No pricing rule',
  'run.summary.not_ended': 'Month not ended',
  'run.summary.failed': 'Failed',
  'run.outcome': 'Outcome',
  'run.number': 'Invoice',
  'run.total': 'Total',
  'run.reason': 'Note',
  'run.no_tenants': 'No tenant to bill.',
  'run_outcome.issued': 'Issued',
  'run_outcome.priced': 'Priced',
  'run_outcome.existing': 'Already invoiced',
  'run_outcome.no_rule': 'No pricing rule',
  'run_outcome.not_ended': 'Month not ended',
  'run_outcome.failed': 'Failed',

  'dunning.title': 'Dunning run',
  'dunning.intro': 'Marks invoices unpaid past their due date overdue and moves their tenants to overdue or suspended, with their notices, as the scheduler does. Only payments restore a tenant.',
  'dunning.start': 'Run the dunning check',
  'dunning.confirm': 'Click again to run it',
  'dunning.done': '{tenants} tenants looked at, {invoices} invoices marked overdue.',
  'dunning.from': 'From',
  'dunning.to': 'To',
  'dunning.reason': 'Why',
  'dunning.none_moved': 'No tenant changed standing.',

  'reports.title': 'Reports',
  'revenue.title': 'Revenue',
  'revenue.from': 'From month',
  'revenue.to': 'To month',
  'revenue.show': 'Show revenue',
  'revenue.currency': 'Currency',
  'revenue.invoices': 'Invoices',
  'revenue.invoiced': 'Invoiced',
  'revenue.credited': 'Credited',
  'revenue.paid': 'Paid',
  'revenue.outstanding': 'Outstanding',
  'revenue.overdue': 'Of which overdue',
  'revenue.none': 'No invoices in these months.',
  'states.title': 'Tenants by status and standing',
  'states.status': 'Status',
  'states.standing': 'Standing',
  'states.count': 'Tenants',
  'usage.title': 'Usage per tenant',
  'usage.show': 'Show usage',
  'usage.zone': 'Time zone',
  'usage.devices_billed': 'Boxes billed',
  'usage.device_days': 'Box-days',
  'usage.traffic': 'Traffic',
  'usage.api_calls': 'API calls',
  'usage.searches': 'Searches',
  'usage.camera_hours': 'Camera hours',
  'usage.none': 'No tenants.',
}, {
  'nav.billing_runs': '计费与报表',
  'pbill.title': '计费与报表',
  'pbill.all_tenants': '全部租户',
  'pbill.tenant': '租户',
  'pbill.month': '月份',
  'pbill.month_hint': 'YYYY-MM，按各租户的时区。',
  'pbill.bad_month': '请按 YYYY-MM 输入月份。',

  'run.title': '计费运行',
  'run.intro': '与每月自动运行相同，为某个月份开票。试运行只计价不保存；已为该月开票的租户保持不变。',
  'run.dry': '试运行',
  'run.issue': '运行并开具账单',
  'run.confirm_issue': '再次点击以开具账单',
  'run.running': '正在运行…',
  'run.done_dry': '{month} 的试运行：未保存任何内容。',
  'run.done': '{month} 的计费运行已完成。',
  'run.previous': '上个月',
  'run.summary.tenants': '租户',
  'run.summary.issued': '已开票',
  'run.summary.priced': '已计价',
  'run.summary.existing': '已有账单',
  'run.summary.no_rule': '无计价规则',
  'run.summary.not_ended': '月份未结束',
  'run.summary.failed': '失败',
  'run.outcome': '结果',
  'run.number': '账单',
  'run.total': '合计',
  'run.reason': '说明',
  'run.no_tenants': '没有可计费的租户。',
  'run_outcome.issued': '已开票',
  'run_outcome.priced': '已计价',
  'run_outcome.existing': '已有账单',
  'run_outcome.no_rule': '无计价规则',
  'run_outcome.not_ended': '月份未结束',
  'run_outcome.failed': '失败',

  'dunning.title': '催缴检查',
  'dunning.intro': '与定时任务相同：将超过到期日未付的账单标记为逾期，并将相应租户转为逾期或暂停状态，同时发送通知。只有付款才能恢复租户状态。',
  'dunning.start': '运行催缴检查',
  'dunning.confirm': '再次点击以运行',
  'dunning.done': '检查了 {tenants} 个租户，{invoices} 张账单被标记为逾期。',
  'dunning.from': '原状态',
  'dunning.to': '新状态',
  'dunning.reason': '原因',
  'dunning.none_moved': '没有租户的状态发生变化。',

  'reports.title': '报表',
  'revenue.title': '收入',
  'revenue.from': '起始月份',
  'revenue.to': '结束月份',
  'revenue.show': '查看收入',
  'revenue.currency': '币种',
  'revenue.invoices': '账单数',
  'revenue.invoiced': '开票金额',
  'revenue.credited': '红冲金额',
  'revenue.paid': '已收款',
  'revenue.outstanding': '未收款',
  'revenue.overdue': '其中逾期',
  'revenue.none': '这些月份没有账单。',
  'states.title': '按状态和账务状态统计租户',
  'states.status': '状态',
  'states.standing': '账务状态',
  'states.count': '租户数',
  'usage.title': '各租户用量',
  'usage.show': '查看用量',
  'usage.zone': '时区',
  'usage.devices_billed': '计费设备数',
  'usage.device_days': '设备天数',
  'usage.traffic': '流量',
  'usage.api_calls': 'API 调用',
  'usage.searches': '搜索次数',
  'usage.camera_hours': '摄像头小时',
  'usage.none': '没有租户。',
});

/** The tenants' names by id, and a select of them (with "All tenants" first). */
async function tenantNames() {
  const names = new Map();
  for (let offset = 0; ; offset += 500) {
    const page = await api('GET', `/api/v1/tenants?limit=500&offset=${offset}`);
    for (const tenant of page.items) names.set(tenant.id, tenant.name);
    if (page.items.length < 500) return names;
  }
}

function tenantSelect(id, names) {
  return h('select', { id },
    h('option', { value: '' }, t('pbill.all_tenants')),
    [...names].map(([tenantId, name]) => h('option', { value: tenantId }, name)));
}

/**
 * Awaits `call` with `buttons` disabled and, while the view is still open, hands its answer
 * to `show`; a failure empties `result` and is shown in `error`.
 */
async function fetchInto(ctx, { result, error, buttons = [] }, call, show) {
  for (const button of buttons) button.disabled = true;
  try {
    const answer = await call();
    if (ctx.alive) show(answer);
  } catch (e) {
    if (!ctx.alive) return;
    fill(result);
    showError(error, e);
  } finally {
    for (const button of buttons) button.disabled = false;
  }
}

function tenantCell(tenantId, names) {
  return h('td', {}, h('a', { href: `#/tenants/${tenantId}` }, names.get(tenantId) || tenantId.slice(0, 8)));
}

// ---------------------------------------------------------------------------------------
// Billing run

function runSection(ctx, names) {
  const month = h('input', { id: 'run-month', type: 'text', value: monthOf(-1), placeholder: 'YYYY-MM', autocomplete: 'off', inputmode: 'numeric' });
  const tenant = tenantSelect('run-tenant', names);
  const error = messageBox('run-error');
  const result = h('div', { id: 'run-result', 'aria-live': 'polite' });
  const dry = h('button', { id: 'run-dry', type: 'button', class: 'primary', onclick: () => run(true) }, t('run.dry'));
  const issue = confirmButton({ id: 'run-issue', class: 'danger' }, t('run.issue'), t('run.confirm_issue'), () => run(false));

  async function run(dryRun) {
    showError(error, null);
    const wanted = month.value.trim();
    if (wanted && !MONTH.test(wanted)) { showMessage(error, t('pbill.bad_month')); month.focus(); return; }
    const body = { dry_run: dryRun };
    if (wanted) body.month = wanted;
    if (tenant.value) body.tenant_id = tenant.value;
    fill(result, h('p', { class: 'muted' }, t('run.running')));
    await fetchInto(ctx, { result, error, buttons: [dry, issue] },
      () => api('POST', '/api/v1/billing/runs', body),
      (report) => drawRun(report, dryRun, wanted || t('run.previous')));
  }

  function drawRun(report, dryRun, monthText) {
    const s = report.summary;
    const keys = ['tenants', 'issued', 'priced', 'existing', 'no_rule', 'not_ended', 'failed'];
    fill(result,
      h('p', { class: ['outcome', s.failed ? 'bad' : 'ok'], id: 'run-done', 'data-dry': dryRun ? 'true' : 'false' },
        t(dryRun ? 'run.done_dry' : 'run.done', { month: monthText })),
      h('dl', { class: 'facts run-summary', id: 'run-summary' }, keys.map((key) => h('div', { 'data-key': key },
        h('dt', {}, t(`run.summary.${key}`)), h('dd', {}, formatNumber(s[key]))))),
      table('run-outcomes',
        [t('pbill.tenant'), t('pbill.month'), t('run.outcome'), t('run.number'), { text: t('run.total'), class: 'num' }, t('run.reason')],
        report.outcomes.map((o) => h('tr', { 'data-tenant': o.tenant_id, 'data-outcome': o.outcome },
          tenantCell(o.tenant_id, names),
          h('td', {}, o.period),
          h('td', {}, badge(o.outcome, t(`run_outcome.${o.outcome}`, {}, o.outcome))),
          h('td', {}, o.number || '–'),
          h('td', { class: 'num' }, o.total_minor != null ? formatMoney(o.total_minor, o.currency) : '–'),
          h('td', {}, o.reason || ''))),
        t('run.no_tenants')));
  }

  return h('section', { class: 'card', id: 'billing-run' },
    h('h2', {}, t('run.title')),
    h('p', { class: 'muted small' }, t('run.intro')),
    error,
    h('div', { class: 'filters' },
      field(t('pbill.month'), month, t('pbill.month_hint')),
      field(t('pbill.tenant'), tenant)),
    h('div', { class: 'actions' }, dry, issue),
    result);
}

// ---------------------------------------------------------------------------------------
// Dunning run

function dunningSection(ctx, names) {
  const tenant = tenantSelect('dunning-tenant', names);
  const error = messageBox('dunning-error');
  const result = h('div', { id: 'dunning-result', 'aria-live': 'polite' });
  const start = confirmButton({ id: 'dunning-start' }, t('dunning.start'), t('dunning.confirm'), async () => {
    showError(error, null);
    fill(result, h('p', { class: 'muted' }, t('run.running')));
    const body = tenant.value ? { tenant_id: tenant.value } : {};
    await fetchInto(ctx, { result, error, buttons: [start] },
      () => api('POST', '/api/v1/billing/dunning-runs', body),
      (report) => fill(result,
        h('p', { class: 'outcome ok', id: 'dunning-done' }, t('dunning.done', {
          tenants: formatNumber(report.tenants), invoices: formatNumber(report.invoices_overdue),
        })),
        report.moved.length ? table('dunning-moved',
          [t('pbill.tenant'), t('dunning.from'), t('dunning.to'), t('dunning.reason')],
          report.moved.map((m) => h('tr', {},
            tenantCell(m.tenant_id, names),
            h('td', {}, badge(m.from, t(`pstanding.${m.from}`, {}, m.from))),
            h('td', {}, badge(m.to, t(`pstanding.${m.to}`, {}, m.to))),
            h('td', {}, m.reason))))
          : h('p', { class: 'muted' }, t('dunning.none_moved'))));
  });
  return h('section', { class: 'card', id: 'dunning-run' },
    h('h2', {}, t('dunning.title')),
    h('p', { class: 'muted small' }, t('dunning.intro')),
    error,
    h('div', { class: 'filters' }, field(t('pbill.tenant'), tenant)),
    h('div', { class: 'actions' }, start),
    result);
}

// ---------------------------------------------------------------------------------------
// Reports

function revenueReport(ctx) {
  const from = h('input', { id: 'revenue-from', type: 'text', value: monthOf(-11), placeholder: 'YYYY-MM', autocomplete: 'off', inputmode: 'numeric' });
  const to = h('input', { id: 'revenue-to', type: 'text', value: monthOf(0), placeholder: 'YYYY-MM', autocomplete: 'off', inputmode: 'numeric' });
  const error = messageBox('revenue-error');
  const result = h('div', { id: 'revenue-result' });
  const show = h('button', { id: 'revenue-show', type: 'submit' }, t('revenue.show'));

  async function load(event) {
    if (event) event.preventDefault();
    showError(error, null);
    const query = new URLSearchParams();
    for (const [name, input] of [['from', from], ['to', to]]) {
      const value = input.value.trim();
      if (value && !MONTH.test(value)) { showMessage(error, t('pbill.bad_month')); input.focus(); return; }
      if (value) query.set(name, value);
    }
    const money = (m, key) => h('td', { class: 'num' }, formatMoney(m[key], m.currency));
    await fetchInto(ctx, { result, error, buttons: [show] },
      () => api('GET', `/api/v1/reports/revenue?${query}`),
      (report) => fill(result, table('revenue-table',
        [t('pbill.month'), t('revenue.currency'), { text: t('revenue.invoices'), class: 'num' },
          ...['invoiced', 'credited', 'paid', 'outstanding', 'overdue'].map((k) => ({ text: t(`revenue.${k}`), class: 'num' }))],
        report.months.map((m) => h('tr', { 'data-month': m.month, 'data-currency': m.currency },
          h('td', {}, m.month), h('td', {}, m.currency),
          h('td', { class: 'num' }, formatNumber(m.invoices)),
          money(m, 'invoiced_minor'), money(m, 'credited_minor'), money(m, 'paid_minor'),
          money(m, 'outstanding_minor'), money(m, 'overdue_minor'))),
        t('revenue.none'))));
  }

  load();
  return h('form', { class: 'card', id: 'report-revenue', novalidate: true, onsubmit: load },
    h('h3', {}, t('revenue.title')),
    error,
    h('div', { class: 'filters' }, field(t('revenue.from'), from), field(t('revenue.to'), to), show),
    result);
}

function statesReport(ctx) {
  const error = messageBox('states-error');
  const result = h('div', { id: 'states-result', class: 'states' }, h('p', { class: 'muted' }, t('boot.loading')));
  const counts = (id, heading, prefix, map) => table(id,
    [heading, { text: t('states.count'), class: 'num' }],
    Object.entries(map).map(([key, n]) => h('tr', { 'data-key': key },
      h('td', {}, badge(key, t(`${prefix}.${key}`, {}, key))), h('td', { class: 'num' }, formatNumber(n)))));
  fetchInto(ctx, { result, error },
    () => api('GET', '/api/v1/reports/tenants'),
    (report) => fill(result,
      counts('states-status', t('states.status'), 'tstatus', report.by_status),
      counts('states-standing', t('states.standing'), 'pstanding', report.by_standing)));
  return h('section', { class: 'card', id: 'report-tenants' }, h('h3', {}, t('states.title')), error, result);
}

function usageReport(ctx, names) {
  const month = h('input', { id: 'usage-month', type: 'text', value: monthOf(0), placeholder: 'YYYY-MM', autocomplete: 'off', inputmode: 'numeric' });
  const error = messageBox('usage-error');
  const result = h('div', { id: 'usage-result' });
  const show = h('button', { id: 'usage-show', type: 'submit' }, t('usage.show'));
  const more = h('button', { id: 'usage-more', type: 'button', hidden: true, onclick: () => load(null, true) }, t('action.more'));
  let items = [];
  let after = null;
  let shown = '';

  function draw() {
    const total = (u, key) => (u.totals && u.totals[key]) || 0;
    fill(result, table('usage-table',
      [t('pbill.tenant'), t('usage.zone'),
        ...['devices_billed', 'device_days', 'traffic', 'api_calls', 'searches', 'camera_hours'].map((k) => ({ text: t(`usage.${k}`), class: 'num' }))],
      items.map((u) => h('tr', { 'data-tenant': u.tenant_id },
        h('td', {}, h('a', { href: `#/tenants/${u.tenant_id}` }, u.name || u.tenant_id.slice(0, 8))),
        h('td', {}, u.time_zone),
        h('td', { class: 'num' }, formatNumber(u.devices_billed)),
        h('td', { class: 'num' }, formatNumber(total(u, 'device_days'))),
        h('td', { class: 'num' }, formatBytes(total(u, 'traffic_bytes'))),
        h('td', { class: 'num' }, formatNumber(total(u, 'api_calls'))),
        h('td', { class: 'num' }, formatNumber(total(u, 'searches'))),
        h('td', { class: 'num' }, formatNumber(total(u, 'camera_hours') / 3600, 1)))),
      t('usage.none')));
  }

  async function load(event, next = false) {
    if (event) event.preventDefault();
    showError(error, null);
    const wanted = month.value.trim();
    if (!MONTH.test(wanted)) { showMessage(error, t('pbill.bad_month')); month.focus(); return; }
    if (next && wanted !== shown) next = false;
    const query = new URLSearchParams({ month: wanted, limit: '100' });
    if (next && after) query.set('after', after);
    await fetchInto(ctx, { result, error, buttons: [show, more] },
      () => api('GET', `/api/v1/reports/usage?${query}`),
      (page) => {
        shown = wanted;
        items = next ? items.concat(page.items) : page.items;
        for (const u of page.items) if (u.name) names.set(u.tenant_id, u.name);
        after = page.next_after || null;
        more.hidden = !after;
        draw();
      });
  }

  load();
  return h('form', { class: 'card', id: 'report-usage', novalidate: true, onsubmit: load },
    h('h3', {}, t('usage.title')),
    error,
    h('div', { class: 'filters' }, field(t('pbill.month'), month, t('pbill.month_hint')), show),
    result,
    h('div', { class: 'actions' }, more));
}

// ---------------------------------------------------------------------------------------

function render(ctx) {
  const error = messageBox('billing-error');
  const body = h('div', { id: 'billing-body' }, h('p', { class: 'muted' }, t('boot.loading')));
  fetchInto(ctx, { result: body, error }, tenantNames, (names) => fill(body,
    runSection(ctx, names),
    dunningSection(ctx, names),
    h('h2', { class: 'section-title' }, t('reports.title')),
    revenueReport(ctx),
    statesReport(ctx),
    usageReport(ctx, names)));
  return h('section', { id: 'billing-view', class: 'platform-view' },
    h('div', { class: 'view-head' }, h('h1', {}, t('pbill.title'))),
    error,
    body);
}

export const routes = [
  { path: 'billing', nav: 'billing_runs', scope: 'platform', allowed: isPlatformAdmin, render },
];
