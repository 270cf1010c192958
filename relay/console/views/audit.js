// The audit log of a tenant (`#/t/<tenant>/audit`), for its administrators: every change and
// every refused attempt, newest first, filtered by actor, action and a time range, a page at
// a time.

import { register, t } from '../common/i18n.js';
import { h, fill, field } from '../common/dom.js';
import { showError, showMessage } from '../common/api.js';
import { formatTime } from '../common/format.js';
import { api, caller, holds } from '../session.js';
import { tenantPath, listAll } from './areas.js';

register({
  'nav.audit': 'Audit log',
  'audit.intro': 'Every change made in this organisation, and every attempt that was refused, newest first.',
  'audit.actor': 'Who',
  'audit.actor_any': 'Anyone',
  'audit.action': 'Action',
  'audit.action_hint': 'An action (device.register) or its group (device).',
  'audit.since': 'From',
  'audit.until': 'Until',
  'audit.apply': 'Filter',
  'audit.clear': 'Clear',
  'audit.empty': 'No records match.',
  'audit.col_time': 'Time',
  'audit.col_actor': 'Who',
  'audit.col_action': 'Action',
  'audit.col_target': 'On',
  'audit.col_outcome': 'Outcome',
  'audit.col_address': 'Address',
  'audit.success': 'done',
  'audit.refused': 'refused: {code}',
  'audit.count': 'Showing {n}.',
  'audit.bad_time': 'Check the dates.',
}, {
  'nav.audit': '审计日志',
  'audit.intro': '本机构的每次变更及每次被拒绝的尝试，最新的在前。',
  'audit.actor': '操作人',
  'audit.actor_any': '任何人',
  'audit.action': '操作',
  'audit.action_hint': '某个操作（device.register）或其类别（device）。',
  'audit.since': '从',
  'audit.until': '到',
  'audit.apply': '筛选',
  'audit.clear': '清除',
  'audit.empty': '没有符合条件的记录。',
  'audit.col_time': '时间',
  'audit.col_actor': '操作人',
  'audit.col_action': '操作',
  'audit.col_target': '对象',
  'audit.col_outcome': '结果',
  'audit.col_address': '地址',
  'audit.success': '成功',
  'audit.refused': '被拒绝：{code}',
  'audit.count': '显示 {n} 条。',
  'audit.bad_time': '请检查日期。',
});

const PAGE = 50;

/** Actions a tenant's log holds, offered in the action field (any text is accepted). */
const ACTIONS = [
  'area', 'area.create', 'area.update', 'area.delete',
  'user', 'user.create', 'user.update', 'user.delete', 'grant.create', 'grant.delete',
  'device', 'device.register', 'device.activate', 'device.update', 'device.provisioning_key',
  'device.decommission', 'device.rpc', 'person', 'search', 'auth',
];

/** A `datetime-local` value as RFC 3339 (the browser's zone); '' for none, null if invalid. */
function instant(value) {
  if (!value) return '';
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? null : at.toISOString();
}

function render(ctx, params) {
  const tenant = params.tenant;
  const error = h('div', { id: 'audit-error', class: 'error', role: 'alert', hidden: true });
  const body = h('tbody', { id: 'audit-rows' });
  const status = h('p', { class: 'muted small', id: 'audit-count', role: 'status' });
  const more = h('button', { type: 'button', id: 'audit-more', hidden: true, onclick: () => page(false) }, t('action.more'));
  const empty = h('p', { class: 'empty', id: 'audit-empty', hidden: true }, t('audit.empty'));
  const users = new Map();
  let offset = 0;
  let shown = 0;
  let query = '';
  let loading = false;

  const actor = h('select', { id: 'audit-actor' }, h('option', { value: '' }, t('audit.actor_any')));
  const action = h('input', { id: 'audit-action', type: 'text', list: 'audit-actions', autocomplete: 'off', spellcheck: 'false', maxlength: 200 });
  const since = h('input', { id: 'audit-since', type: 'datetime-local', step: 1 });
  const until = h('input', { id: 'audit-until', type: 'datetime-local', step: 1 });

  function who(text) {
    const user = text.startsWith('user:') ? users.get(text.slice(5)) : null;
    return user ? (user.display_name || user.email) : text;
  }

  function row(record) {
    const refused = record.outcome !== 'success';
    return h('tr', { class: refused ? 'refused' : null, 'data-action': record.action },
      h('td', { class: 'nowrap' }, formatTime(Date.parse(record.created_at))),
      h('td', { title: record.actor, class: 'audit-actor' }, who(record.actor)),
      h('td', { class: 'mono audit-action' }, record.action),
      h('td', { class: 'mono small audit-target' }, record.target),
      h('td', {}, h('span', { class: `badge ${refused ? 'bad' : 'ok'}` },
        refused ? t('audit.refused', { code: record.outcome.replace(/^refused:\s*/, '') }) : t('audit.success')),
      record.detail ? h('div', { class: 'muted small' }, record.detail) : null),
      h('td', { class: 'mono small' }, record.remote_addr));
  }

  async function page(reset) {
    if (loading) return;
    loading = true;
    if (reset) { offset = 0; shown = 0; }
    try {
      const answer = await api('GET', `${tenantPath(tenant, '/audit')}?${query}${query ? '&' : ''}limit=${PAGE}&offset=${offset}`);
      if (!ctx.alive) return;
      showError(error, null);
      if (reset) fill(body);
      answer.items.forEach((record) => body.appendChild(row(record)));
      offset += answer.items.length;
      shown += answer.items.length;
      more.hidden = answer.items.length < PAGE;
      empty.hidden = shown > 0;
      fill(status, t('audit.count', { n: shown }));
    } catch (e) {
      if (reset && offset === 0 && shown === 0 && !query) ctx.fail(error, e);
      else showError(error, e, 'audit');
    } finally {
      loading = false;
    }
  }

  function apply(event) {
    if (event) event.preventDefault();
    const from = instant(since.value);
    const to = instant(until.value);
    if (from === null || to === null) { showMessage(error, t('audit.bad_time')); return; }
    const q = new URLSearchParams();
    if (actor.value) q.set('actor', actor.value);
    if (action.value.trim()) q.set('action', action.value.trim());
    if (from) q.set('since', from);
    if (to) q.set('until', to);
    query = q.toString();
    page(true);
  }

  async function loadUsers() {
    try {
      const list = await listAll(tenantPath(tenant, '/users'));
      if (!ctx.alive) return;
      list.sort((a, b) => a.email.localeCompare(b.email));
      for (const user of list) {
        users.set(user.id, user);
        actor.appendChild(h('option', { value: `user:${user.id}` }, user.display_name || user.email));
      }
      // Names instead of ids in what is shown already.
      for (const cell of body.querySelectorAll('.audit-actor')) fill(cell, who(cell.title));
    } catch (e) {
      console.warn('audit: no user names', e);
    }
  }

  page(true);
  loadUsers();
  const filters = h('form', { id: 'audit-filters', class: 'filters', onsubmit: apply },
    field(t('audit.actor'), actor),
    field(t('audit.action'), action),
    h('datalist', { id: 'audit-actions' }, ACTIONS.map((a) => h('option', { value: a }))),
    field(t('audit.since'), since),
    field(t('audit.until'), until),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', id: 'audit-apply' }, t('audit.apply')),
      h('button', {
        type: 'button', id: 'audit-clear',
        onclick: () => { actor.value = ''; action.value = ''; since.value = ''; until.value = ''; apply(); },
      }, t('audit.clear'))));
  return h('section', { id: 'audit-view', class: 'tenant-view' },
    h('div', { class: 'view-head' }, h('h1', {}, t('nav.audit'))),
    h('p', { class: 'muted' }, t('audit.intro')),
    filters, error,
    h('div', { class: 'table-wrap' }, h('table', { id: 'audit-table' },
      h('thead', {}, h('tr', {},
        h('th', {}, t('audit.col_time')), h('th', {}, t('audit.col_actor')),
        h('th', {}, t('audit.col_action')), h('th', {}, t('audit.col_target')),
        h('th', {}, t('audit.col_outcome')), h('th', {}, t('audit.col_address')))),
      body)),
    empty, status, h('div', { class: 'actions' }, more));
}

export const routes = [
  // The API shows the log to the tenant's administrators only (of the whole tenant).
  { path: 't/:tenant/audit', nav: 'audit', scope: 'tenant', allowed: () => caller() != null && holds('tenant_admin'), render },
];
