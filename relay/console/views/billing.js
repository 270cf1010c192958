// Billing for a tenant's admins (`t/:tenant/billing`, `t/:tenant/billing/invoices/:invoice`):
// the usage of a month so far (this month by default), the tenant's standing, its invoices,
// and one invoice as a printable page. The invoice is drawn here from its JSON (text only)
// and printed with the console's print rules; the relay's own printable HTML page and the
// CSV are fetched with the bearer token and handed to the browser as downloads (Blob URLs):
// nothing from the relay is ever rendered as markup in the console.

import { t, register, lang, locale } from '../common/i18n.js';
import { h, fill, field } from '../common/dom.js';
import { showError } from '../common/api.js';
import { formatBytes, formatDuration, formatNumber, formatTime } from '../common/format.js';
import { api, apiText, holds } from '../session.js';
import { download } from './searches.js';

register({
  'nav.billing': 'Billing',
  'billing.title': 'Billing',
  'billing.standing': 'Standing',
  'billing.standing.good': 'In good standing',
  'billing.standing.overdue': 'Overdue',
  'billing.standing.suspended': 'Suspended',
  'billing.standing_good_text': 'Nothing is overdue.',
  'billing.standing_overdue_text': 'An invoice is past its due date. Pay it to avoid a suspension.',
  'billing.standing_suspended_text': 'Searches and changes to boxes are refused until the overdue invoices are paid.',
  'billing.since': 'Since {when}',
  'billing.overdue_invoice': '{number} ({period}): {balance} due {due}',
  'billing.usage': 'Usage',
  'billing.usage_month': 'Month',
  'billing.usage_of': 'Usage of {month} so far ({zone})',
  'billing.usage_note': 'As the meters count it now; the month\'s invoice is made after it ends.',
  'billing.usage_none': 'No usage recorded this month.',
  'billing.meter.device_days': 'Box-days',
  'billing.meter.traffic_bytes': 'Uplink traffic',
  'billing.meter.api_calls': 'API calls',
  'billing.meter.searches': 'Searches',
  'billing.meter.camera_hours': 'Camera time searched',
  'billing.basis.seen_online': 'A box counts on the days it was seen online.',
  'billing.basis.registered': 'A box counts every day from its registration to its decommissioning.',
  'billing.by_day': 'By day',
  'billing.day': 'Day',
  'billing.invoices': 'Invoices',
  'billing.invoices_none': 'No invoice yet.',
  'billing.col_number': 'Number',
  'billing.col_period': 'Period',
  'billing.col_status': 'Status',
  'billing.col_total': 'Total',
  'billing.col_balance': 'Balance',
  'billing.col_due': 'Due',
  'invoice.status.issued': 'Issued',
  'invoice.status.paid': 'Paid',
  'invoice.status.overdue': 'Overdue',
  'invoice.status.void': 'Void',
  'invoice.title': 'Invoice {number}',
  'invoice.back': 'Billing',
  'invoice.print': 'Print',
  'invoice.csv': 'Download CSV',
  'invoice.html': 'Download printable page',
  'invoice.tenant': 'Billed to',
  'invoice.period': 'Period',
  'invoice.issued': 'Issued',
  'invoice.due': 'Due',
  'invoice.status': 'Status',
  'invoice.zone': 'Time zone',
  'invoice.item': 'Item',
  'invoice.quantity': 'Quantity',
  'invoice.unit_price': 'Unit price',
  'invoice.discount': 'Discount',
  'invoice.amount': 'Amount',
  'invoice.subtotal': 'Usage subtotal',
  'invoice.total': 'Total',
  'invoice.credited': 'Credit notes',
  'invoice.paid': 'Paid',
  'invoice.balance': 'Balance due',
  'invoice.payments': 'Payments',
  'invoice.credit_notes': 'Credit notes',
  'invoice.minimum': 'Minimum monthly charge',
  'invoice.per_units': 'per {n}',
  'invoice.band.free': 'free allowance',
  'invoice.band.base': 'base price',
  'invoice.band.tier': 'volume tier {n}',
  'invoice.item_text': '{meter}, {band} (price from {date})',
}, {
  'nav.billing': '账单',
  'billing.title': '账单',
  'billing.standing': '账户状态',
  'billing.standing.good': '状态良好',
  'billing.standing.overdue': '已逾期',
  'billing.standing.suspended': '已暂停',
  'billing.standing_good_text': '没有逾期账单。',
  'billing.standing_overdue_text': '有账单已过付款截止日。请尽快付款以免被暂停服务。',
  'billing.standing_suspended_text': '付清逾期账单之前，检索和设备变更将被拒绝。',
  'billing.since': '自 {when} 起',
  'billing.overdue_invoice': '{number}（{period}）：应付 {balance}，截止 {due}',
  'billing.usage': '用量',
  'billing.usage_month': '月份',
  'billing.usage_of': '{month} 至今用量（{zone}）',
  'billing.usage_note': '为计量器当前的计数；当月账单在月末之后生成。',
  'billing.usage_none': '本月尚无用量记录。',
  'billing.meter.device_days': '设备天数',
  'billing.meter.traffic_bytes': '上行流量',
  'billing.meter.api_calls': 'API 调用',
  'billing.meter.searches': '检索次数',
  'billing.meter.camera_hours': '摄像头检索时长',
  'billing.basis.seen_online': '设备在线的日子计为设备天数。',
  'billing.basis.registered': '设备从注册到停用的每一天都计为设备天数。',
  'billing.by_day': '按日明细',
  'billing.day': '日期',
  'billing.invoices': '账单列表',
  'billing.invoices_none': '还没有账单。',
  'billing.col_number': '编号',
  'billing.col_period': '账期',
  'billing.col_status': '状态',
  'billing.col_total': '合计',
  'billing.col_balance': '余额',
  'billing.col_due': '付款截止',
  'invoice.status.issued': '已开具',
  'invoice.status.paid': '已付清',
  'invoice.status.overdue': '已逾期',
  'invoice.status.void': '已作废',
  'invoice.title': '账单 {number}',
  'invoice.back': '账单',
  'invoice.print': '打印',
  'invoice.csv': '下载 CSV',
  'invoice.html': '下载可打印页面',
  'invoice.tenant': '客户',
  'invoice.period': '账期',
  'invoice.issued': '开具时间',
  'invoice.due': '付款截止',
  'invoice.status': '状态',
  'invoice.zone': '时区',
  'invoice.item': '项目',
  'invoice.quantity': '数量',
  'invoice.unit_price': '单价',
  'invoice.discount': '折扣',
  'invoice.amount': '金额',
  'invoice.subtotal': '用量小计',
  'invoice.total': '合计',
  'invoice.credited': '红字冲减',
  'invoice.paid': '已付',
  'invoice.balance': '应付余额',
  'invoice.payments': '付款记录',
  'invoice.credit_notes': '红字冲减记录',
  'invoice.minimum': '月最低消费补足',
  'invoice.per_units': '每 {n}',
  'invoice.band.free': '免费额度',
  'invoice.band.base': '基础价',
  'invoice.band.tier': '阶梯 {n}',
  'invoice.item_text': '{meter}，{band}（{date} 起价格）',
});

const base = (tenant) => `/api/v1/tenants/${encodeURIComponent(tenant)}`;
const METERS = ['searches', 'camera_hours', 'device_days', 'api_calls', 'traffic_bytes'];

/** `minor` units of `currency` in the page's language: "¥1,234.50", "US$12.00", "¥1,234". */
export function formatMoney(minor, currency) {
  if (minor == null) return '–';
  try {
    const format = new Intl.NumberFormat(lang() === 'zh' ? 'zh-CN' : 'en', { style: 'currency', currency });
    const digits = format.resolvedOptions().maximumFractionDigits;
    return format.format(Number(minor) / 10 ** digits);
  } catch {
    return `${formatNumber(minor)} ${currency}`;
  }
}

/** A meter's quantity in its unit: bytes, camera-seconds as a duration, else a count. */
function meterValue(meter, quantity) {
  if (meter === 'traffic_bytes') return formatBytes(quantity);
  if (meter === 'camera_hours') return formatDuration(quantity);
  return formatNumber(quantity);
}

/** The date of an RFC 3339 time, in `zone` (the invoice's) or the browser's. */
function day(text, zone) {
  if (!text) return '–';
  const options = { year: 'numeric', month: 'short', day: 'numeric' };
  try {
    return new Intl.DateTimeFormat(locale(), { ...options, timeZone: zone || undefined }).format(new Date(text));
  } catch {
    return new Intl.DateTimeFormat(locale(), options).format(new Date(text));
  }
}
const when = (text) => (text ? formatTime(Date.parse(text)) : '–');

function statusBadge(status, id) {
  return h('span', { class: ['badge', `invoice-${status}`], id }, t(`invoice.status.${status}`, {}, status));
}

// ---------------------------------------------------------------------------------------
// Usage, standing, invoices

function renderBilling(ctx, params) {
  const tenant = params.tenant;
  const error = h('div', { class: 'error', id: 'billing-error', role: 'alert', hidden: true });
  const standing = h('section', { class: 'card', id: 'billing-standing' }, h('h2', {}, t('billing.standing')),
    h('p', { class: 'muted' }, t('boot.loading')));
  const month = h('input', { id: 'usage-month', type: 'month' });
  const usageBody = h('div', { id: 'usage-body' }, h('p', { class: 'muted' }, t('boot.loading')));
  const usage = h('section', { class: 'card', id: 'billing-usage' },
    h('div', { class: 'row' }, h('h2', {}, t('billing.usage')), field(t('billing.usage_month'), month)),
    usageBody);
  const invoices = h('section', { class: 'card', id: 'billing-invoices' }, h('h2', {}, t('billing.invoices')),
    h('p', { class: 'muted' }, t('boot.loading')));

  async function loadUsage() {
    const query = month.value ? `?month=${encodeURIComponent(month.value)}` : '';
    let report;
    try {
      report = await api('GET', `${base(tenant)}/usage${query}`);
    } catch (e) {
      ctx.fail(error, e);
      fill(usageBody);
      return;
    }
    if (!ctx.alive) return;
    if (!month.value) month.value = report.month;
    const totals = report.totals || {};
    const meters = [...METERS, ...Object.keys(totals).filter((m) => !METERS.includes(m))];
    fill(usageBody,
      h('p', { class: 'usage-of', id: 'usage-of' }, t('billing.usage_of', { month: report.month, zone: report.time_zone })),
      h('div', { class: 'usage-totals', id: 'usage-totals' }, meters.map((meter) => h('div', { class: 'usage-total', id: `usage-${meter}` },
        h('span', { class: 'usage-value' }, meterValue(meter, totals[meter] || 0)),
        h('span', { class: 'usage-label' }, t(`billing.meter.${meter}`, {}, meter))))),
      h('p', { class: 'muted small' }, t(`billing.basis.${report.device_day_basis}`, {}, ''), ' ', t('billing.usage_note')),
      report.days.length === 0 ? h('p', { class: 'muted', id: 'usage-none' }, t('billing.usage_none'))
        : h('details', { id: 'usage-days' }, h('summary', {}, t('billing.by_day')),
          h('div', { class: 'table-wrap' }, h('table', {},
            h('thead', {}, h('tr', {}, h('th', {}, t('billing.day')),
              meters.map((m) => h('th', { class: 'num' }, t(`billing.meter.${m}`, {}, m))))),
            h('tbody', {}, report.days.map((d) => {
              const sums = {};
              for (const c of d.counts) sums[c.meter] = (sums[c.meter] || 0) + c.quantity;
              return h('tr', {}, h('td', {}, d.date),
                meters.map((m) => h('td', { class: 'num' }, sums[m] ? meterValue(m, sums[m]) : '–')));
            }))))));
  }

  async function loadStanding() {
    let found;
    try {
      found = await api('GET', `${base(tenant)}/billing/standing`);
    } catch (e) {
      ctx.fail(error, e);
      return;
    }
    if (!ctx.alive) return;
    const kind = found.standing === 'good' ? 'ok' : found.standing === 'overdue' ? 'unknown' : 'bad';
    fill(standing, h('h2', {}, t('billing.standing')),
      h('p', { class: 'summary' },
        h('span', { class: ['badge', kind], id: 'standing-badge' }, t(`billing.standing.${found.standing}`, {}, found.standing)),
        found.since && found.standing !== 'good' ? h('span', { class: 'muted small' }, ' ', t('billing.since', { when: when(found.since) })) : null),
      h('p', { class: found.standing === 'good' ? 'muted' : found.standing === 'overdue' ? 'warning' : 'error' },
        t(`billing.standing_${found.standing}_text`, {}, '')),
      found.overdue.length ? h('ul', { class: 'plain', id: 'standing-overdue' }, found.overdue.map((inv) => h('li', {},
        h('a', { href: `#/t/${tenant}/billing/invoices/${inv.id}` }, t('billing.overdue_invoice', {
          number: inv.number, period: inv.period, balance: formatMoney(inv.balance_minor, inv.currency), due: day(inv.due_at),
        }))))) : null);
  }

  async function loadInvoices() {
    let items;
    try {
      items = (await api('GET', `${base(tenant)}/invoices?limit=500`)).items;
    } catch (e) {
      ctx.fail(error, e);
      return;
    }
    if (!ctx.alive) return;
    fill(invoices, h('h2', {}, t('billing.invoices')),
      items.length === 0 ? h('p', { class: 'empty', id: 'invoices-none' }, t('billing.invoices_none'))
        : h('div', { class: 'table-wrap' }, h('table', { id: 'invoices-table' },
          h('thead', {}, h('tr', {},
            h('th', {}, t('billing.col_number')), h('th', {}, t('billing.col_period')),
            h('th', {}, t('billing.col_status')), h('th', { class: 'num' }, t('billing.col_total')),
            h('th', { class: 'num' }, t('billing.col_balance')), h('th', {}, t('billing.col_due')))),
          h('tbody', {}, items.map((inv) => h('tr', { id: `invoice-row-${inv.id}` },
            h('td', {}, h('a', { class: 'invoice-open', href: `#/t/${tenant}/billing/invoices/${inv.id}` }, inv.number)),
            h('td', {}, inv.period),
            h('td', {}, statusBadge(inv.status)),
            h('td', { class: 'num' }, formatMoney(inv.total_minor, inv.currency)),
            h('td', { class: 'num' }, formatMoney(inv.balance_minor, inv.currency)),
            h('td', {}, day(inv.due_at))))))));
  }

  month.addEventListener('change', loadUsage);
  loadUsage();
  loadStanding();
  loadInvoices();
  return h('section', { id: 'billing', class: 'view' },
    h('div', { class: 'view-head' }, h('h1', {}, t('billing.title'))),
    error,
    h('div', { class: 'billing-top' }, usage, standing),
    invoices);
}

// ---------------------------------------------------------------------------------------
// One invoice

/** A line's item in the page's language, from its stable key (`{meter}/{date}/{band}`). */
function itemText(line) {
  const parts = line.key.split('/');
  if (parts.length < 3) return line.key === 'minimum' ? t('invoice.minimum') : line.description;
  const [meter, date, ...rest] = parts;
  const band = rest.join('/');
  const tier = /^tier-(\d+)$/.exec(band);
  const bandText = tier ? t('invoice.band.tier', { n: tier[1] }) : t(`invoice.band.${band}`, {}, band);
  return t('invoice.item_text', { meter: t(`billing.meter.${meter}`, {}, meter), band: bandText, date });
}

function renderInvoice(ctx, params) {
  const { tenant, invoice: id } = params;
  const path = `${base(tenant)}/invoices/${encodeURIComponent(id)}`;
  const title = h('h1', { id: 'invoice-title' }, t('boot.loading'));
  const error = h('div', { class: 'error', id: 'invoice-error', role: 'alert', hidden: true });
  const sheet = h('article', { id: 'invoice-sheet', class: 'card invoice-sheet' });
  const holder = h('span', { id: 'invoice-downloads' });
  const busy = (button, work) => async () => {
    button.disabled = true;
    try {
      await work();
      showError(error, null);
    } catch (e) {
      ctx.fail(error, e);
    } finally {
      button.disabled = false;
    }
  };
  const printButton = h('button', { id: 'invoice-print', type: 'button', class: 'primary', disabled: true, onclick: () => window.print() }, t('invoice.print'));
  const csvButton = h('button', { id: 'invoice-csv', type: 'button', disabled: true }, t('invoice.csv'));
  const htmlButton = h('button', { id: 'invoice-html', type: 'button', disabled: true }, t('invoice.html'));
  let invoice = null;
  csvButton.addEventListener('click', busy(csvButton, async () => {
    const { text } = await apiText(`${path}/csv`);
    if (ctx.alive) download(holder, 'invoice-csv-link', `${invoice.number}.csv`, text, 'text/csv;charset=utf-8');
  }));
  htmlButton.addEventListener('click', busy(htmlButton, async () => {
    const { text } = await apiText(`${path}/html?lang=${lang() === 'zh' ? 'zh' : 'en'}`);
    if (ctx.alive) download(holder, 'invoice-html-link', `${invoice.number}.html`, text, 'text/html;charset=utf-8');
  }));
  ctx.onLeave(() => {
    for (const link of holder.querySelectorAll('a')) URL.revokeObjectURL(link.href);
  });

  async function load() {
    try {
      invoice = await api('GET', path);
    } catch (e) {
      ctx.fail(error, e);
      fill(title, t('billing.invoices'));
      return;
    }
    if (!ctx.alive) return;
    for (const b of [printButton, csvButton, htmlButton]) b.disabled = false;
    fill(title, t('invoice.title', { number: invoice.number }), ' ', statusBadge(invoice.status, 'invoice-status'));
    document.title = `${t('invoice.title', { number: invoice.number })} · Dipper`;
    const money = (minor) => formatMoney(minor, invoice.currency);
    const zone = invoice.time_zone;
    const facts = [
      [t('invoice.period'), invoice.period],
      [t('invoice.issued'), day(invoice.issued_at, zone)],
      [t('invoice.due'), day(invoice.due_at, zone)],
      [t('invoice.status'), t(`invoice.status.${invoice.status}`, {}, invoice.status)],
      [t('invoice.zone'), invoice.time_zone],
    ];
    const sums = [
      [t('invoice.subtotal'), money(invoice.subtotal_minor)],
      [t('invoice.total'), money(invoice.total_minor), 'total'],
      invoice.credited_minor ? [t('invoice.credited'), money(-invoice.credited_minor)] : null,
      invoice.paid_minor ? [t('invoice.paid'), money(-invoice.paid_minor)] : null,
      [t('invoice.balance'), money(invoice.balance_minor), 'balance'],
    ].filter(Boolean);
    fill(sheet,
      h('header', { class: 'invoice-head' },
        h('div', {}, h('strong', { class: 'invoice-brand' }, t('brand')),
          h('div', { class: 'muted small' }, t('invoice.tenant'), ': ', invoice.tenant_id)),
        h('div', { class: 'invoice-number' }, h('strong', {}, invoice.number))),
      h('dl', { class: 'facts' }, facts.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v)))),
      h('div', { class: 'table-wrap' }, h('table', { id: 'invoice-lines' },
        h('thead', {}, h('tr', {},
          h('th', {}, t('invoice.item')), h('th', { class: 'num' }, t('invoice.quantity')),
          h('th', { class: 'num' }, t('invoice.unit_price')), h('th', { class: 'num' }, t('invoice.discount')),
          h('th', { class: 'num' }, t('invoice.amount')))),
        h('tbody', {}, (invoice.lines || []).map((line) => h('tr', {},
          h('td', {}, itemText(line)),
          h('td', { class: 'num' }, formatNumber(line.quantity)),
          h('td', { class: 'num' }, money(line.unit_price_minor),
            line.units_per_price > 1 ? h('small', { class: 'muted' }, ' ', t('invoice.per_units', { n: formatNumber(line.units_per_price) })) : null),
          h('td', { class: 'num' }, line.discount_basis_points ? `${formatNumber(line.discount_basis_points / 100, 2)} %` : '–'),
          h('td', { class: 'num' }, money(line.amount_minor))))),
        h('tfoot', {}, sums.map(([k, v, cls]) => h('tr', { class: cls || null },
          h('th', { colspan: 4, class: 'num' }, k), h('td', { class: 'num', id: cls ? `invoice-${cls}` : null }, v)))))),
      (invoice.payments || []).length ? h('section', {}, h('h3', {}, t('invoice.payments')),
        h('ul', { class: 'plain' }, invoice.payments.map((p) => h('li', {}, paymentText(p, money))))) : null,
      (invoice.credit_notes || []).length ? h('section', {}, h('h3', {}, t('invoice.credit_notes')),
        h('ul', { class: 'plain' }, invoice.credit_notes.map((c) => h('li', {}, paymentText(c, money))))) : null);
  }

  load();
  return h('section', { id: 'invoice', class: 'view' },
    h('p', { class: 'crumbs no-print' }, h('a', { href: `#/t/${tenant}/billing`, id: 'invoice-back' }, t('invoice.back'))),
    h('div', { class: 'view-head' }, title,
      h('div', { class: 'actions no-print' }, printButton, csvButton, htmlButton, holder)),
    error,
    sheet);
}

/** A payment or credit note in one line: when, how much, and its reference or reason. */
function paymentText(entry, money) {
  const at = entry.paid_on ? entry.paid_on : day(entry.created_at);
  const note = [entry.number, entry.reference, entry.reason].filter(Boolean).join(' · ');
  return [at, ' · ', money(entry.amount_minor), note ? ` · ${note}` : ''];
}

const tenantAdmin = () => holds('tenant_admin');

export const routes = [
  { path: 't/:tenant/billing', nav: 'billing', scope: 'tenant', allowed: tenantAdmin, render: renderBilling },
  { path: 't/:tenant/billing/invoices/:invoice', nav: null, title: 'billing', scope: 'tenant', allowed: tenantAdmin, render: renderInvoice },
];
