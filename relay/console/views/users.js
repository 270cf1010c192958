// A tenant's users (`#/t/<tenant>/users`), for its administrators: add one (e-mail, password,
// name), disable or enable, delete, and grant or revoke roles on areas or the whole tenant.
// The API keeps users to tenant-wide administrators, so the view is theirs alone.

import { register, t } from '../common/i18n.js';
import { h, fill, field, confirmButton } from '../common/dom.js';
import { showError, showMessage } from '../common/api.js';
import { formatTime } from '../common/format.js';
import { api, caller, holds } from '../session.js';
import { tenantPath, listAll, loadAreas, areaLabel, areaSelect } from './areas.js';

register({
  'nav.users': 'Users',
  'users.intro': 'People who sign in to this organisation, and what each may do where.',
  'users.add': 'Add a user',
  'users.email': 'E-mail',
  'users.name': 'Name',
  'users.name_hint': 'Shown instead of the e-mail; optional.',
  'users.password': 'Password',
  'users.password_hint': 'At least 12 characters. Tell the user; they can change it later.',
  'users.submit': 'Add user',
  'users.added': 'User added. Grant a role so they can see something.',
  'users.empty': 'No users.',
  'users.col_user': 'User',
  'users.col_status': 'Status',
  'users.col_roles': 'Roles',
  'users.col_actions': '',
  'users.active': 'Active',
  'users.disabled': 'Disabled',
  'users.disable': 'Disable',
  'users.enable': 'Enable',
  'users.delete_confirm': 'Click again to delete the user',
  'users.you': 'you',
  'users.no_roles': 'No role: sees nothing.',
  'users.whole_tenant': 'whole organisation',
  'users.grant': 'Grant',
  'users.grant_role': 'Role',
  'users.grant_area': 'On',
  'users.revoke': 'Revoke',
  'users.granted': 'Role granted.',
  'users.revoked': 'Role revoked.',
  'users.updated': 'Saved.',
  'users.deleted': 'User deleted.',
  'users.since': 'since {time}',
  'users.missing': 'Fill in the e-mail and a password.',
  'role.tenant_admin': 'Administrator',
  'role.operator': 'Operator',
  'role.viewer': 'Viewer',
}, {
  'nav.users': '用户',
  'users.intro': '登录本机构的人员，以及每人在何处可做什么。',
  'users.add': '添加用户',
  'users.email': '电子邮箱',
  'users.name': '姓名',
  'users.name_hint': '代替邮箱显示；可不填。',
  'users.password': '密码',
  'users.password_hint': '至少 12 个字符。请告知用户，之后可自行修改。',
  'users.submit': '添加用户',
  'users.added': '已添加用户。请授予角色，用户才能看到内容。',
  'users.empty': '没有用户。',
  'users.col_user': '用户',
  'users.col_status': '状态',
  'users.col_roles': '角色',
  'users.col_actions': '',
  'users.active': '正常',
  'users.disabled': '已停用',
  'users.disable': '停用',
  'users.enable': '启用',
  'users.delete_confirm': '再次点击以删除用户',
  'users.you': '您',
  'users.no_roles': '无角色：看不到任何内容。',
  'users.whole_tenant': '整个机构',
  'users.grant': '授予',
  'users.grant_role': '角色',
  'users.grant_area': '范围',
  'users.revoke': '撤销',
  'users.granted': '已授予角色。',
  'users.revoked': '已撤销角色。',
  'users.updated': '已保存。',
  'users.deleted': '已删除用户。',
  'users.since': '自 {time}',
  'users.missing': '请填写邮箱和密码。',
  'role.tenant_admin': '管理员',
  'role.operator': '操作员',
  'role.viewer': '只读',
});

const ROLES = ['tenant_admin', 'operator', 'viewer'];

function render(ctx, params) {
  const tenant = params.tenant;
  const base = tenantPath(tenant, '/users');
  const error = h('div', { id: 'users-error', class: 'error', role: 'alert', hidden: true });
  const notice = h('p', { id: 'users-notice', class: 'notice', role: 'status', hidden: true });
  const table = h('div', { id: 'users-list' }, h('p', { class: 'muted' }, t('boot.loading')));
  let areas = [];
  const me = caller();

  const say = (text) => { showError(error, null); showMessage(notice, text); };
  const fail = (e, prefix) => { showMessage(notice, null); showError(error, e, prefix); };

  async function load() {
    let users;
    try {
      [users, areas] = await Promise.all([listAll(base), loadAreas(tenant)]);
      await Promise.all(users.map(async (user) => {
        user.grants = (await api('GET', `${base}/${user.id}/grants`)).items;
      }));
    } catch (e) {
      showMessage(notice, null);
      ctx.fail(error, e);
      return;
    }
    if (!ctx.alive) return;
    users.sort((a, b) => a.email.localeCompare(b.email));
    fill(table, users.length === 0 ? h('p', { class: 'empty' }, t('users.empty'))
      : h('div', { class: 'table-wrap' }, h('table', { id: 'users-table' },
        h('thead', {}, h('tr', {},
          h('th', {}, t('users.col_user')), h('th', {}, t('users.col_status')),
          h('th', {}, t('users.col_roles')), h('th', {}, t('users.col_actions')))),
        h('tbody', {}, users.map(row)))));
  }

  async function change(method, path, body, done, prefix) {
    try {
      await api(method, path, body);
      say(done);
    } catch (e) {
      fail(e, prefix);
      return false;
    }
    await load();
    return true;
  }

  function grantText(grant) {
    const where = grant.area_id
      ? areaLabel(areas.find((a) => a.id === grant.area_id)) : t('users.whole_tenant');
    return `${t(`role.${grant.role}`)} · ${where}`;
  }

  function row(user) {
    const self = me && me.user_id === user.id;
    const role = h('select', { id: `grant-role-${user.id}`, 'aria-label': t('users.grant_role') },
      ROLES.map((r) => h('option', { value: r }, t(`role.${r}`))));
    const area = areaSelect({ id: `grant-area-${user.id}`, 'aria-label': t('users.grant_area') },
      areas, ['', t('users.whole_tenant')]);
    const grantForm = h('form', {
      class: 'inline-form grant-form', id: `grant-form-${user.id}`,
      onsubmit: (event) => {
        event.preventDefault();
        const body = { role: role.value };
        if (area.value) body.area_id = area.value;
        change('POST', `${base}/${user.id}/grants`, body, t('users.granted'));
      },
    }, role, area, h('button', { type: 'submit', id: `grant-add-${user.id}` }, t('users.grant')));
    const grants = user.grants.length === 0
      ? h('p', { class: 'muted small' }, t('users.no_roles'))
      : h('ul', { class: 'plain grants', id: `grants-${user.id}` }, user.grants.map((grant) => h('li', {
        class: 'grant', id: `grant-${grant.id}`,
      }, h('span', { class: 'grant-text' }, grantText(grant)), ' ',
      self ? null : h('button', {
        type: 'button', class: 'ghost small-button', id: `grant-revoke-${grant.id}`,
        'aria-label': `${t('users.revoke')}: ${grantText(grant)}`,
        onclick: () => change('DELETE', `${base}/${user.id}/grants/${grant.id}`, undefined, t('users.revoked')),
      }, t('users.revoke')))));
    const disabled = user.status === 'disabled';
    const actions = self ? h('span', { class: 'muted small' }, t('users.you')) : h('div', { class: 'actions' },
      h('button', {
        type: 'button', id: `user-toggle-${user.id}`,
        onclick: () => change('PATCH', `${base}/${user.id}`, { status: disabled ? 'active' : 'disabled' }, t('users.updated')),
      }, disabled ? t('users.enable') : t('users.disable')),
      confirmButton({ id: `user-delete-${user.id}`, class: 'danger' }, t('action.delete'), t('users.delete_confirm'),
        () => change('DELETE', `${base}/${user.id}`, undefined, t('users.deleted'))));
    return h('tr', { id: `user-${user.id}`, class: disabled ? 'disabled-row' : null },
      h('td', {},
        h('div', { class: 'user-name' }, user.display_name || user.email),
        user.display_name && user.display_name !== user.email ? h('div', { class: 'muted small mono' }, user.email) : null,
        h('div', { class: 'muted small' }, t('users.since', { time: formatTime(Date.parse(user.created_at)) }))),
      h('td', {}, h('span', { class: `badge ${disabled ? 'bad' : 'ok'}` }, disabled ? t('users.disabled') : t('users.active'))),
      h('td', {}, grants, self ? null : grantForm),
      h('td', {}, actions));
  }

  const email = h('input', { id: 'user-email', type: 'email', required: true, autocomplete: 'off', maxlength: 254 });
  const name = h('input', { id: 'user-name', type: 'text', autocomplete: 'off', maxlength: 200 });
  const password = h('input', { id: 'user-password', type: 'password', required: true, autocomplete: 'new-password', minlength: 12 });
  const submit = h('button', { id: 'user-add', type: 'submit', class: 'primary' }, t('users.submit'));
  const addForm = h('form', {
    id: 'user-add-form', class: 'panel', novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      const body = { email: email.value.trim(), password: password.value };
      if (!body.email || !body.password) { showMessage(error, t('users.missing')); return; }
      if (name.value.trim()) body.display_name = name.value.trim();
      submit.disabled = true;
      const done = await change('POST', base, body, t('users.added'), 'users');
      submit.disabled = false;
      if (done) { email.value = ''; name.value = ''; password.value = ''; }
    },
  },
  h('h2', {}, t('users.add')),
  h('div', { class: 'form-grid' },
    field(t('users.email'), email),
    field(t('users.name'), name, t('users.name_hint')),
    field(t('users.password'), password, t('users.password_hint'))),
  h('div', { class: 'actions' }, submit));

  load();
  return h('section', { id: 'users-view', class: 'tenant-view' },
    h('div', { class: 'view-head' }, h('h1', {}, t('nav.users')),
      h('button', { type: 'button', id: 'users-refresh', onclick: load }, t('action.refresh'))),
    h('p', { class: 'muted' }, t('users.intro')),
    error, notice, addForm, table);
}

export const routes = [
  // The API lists users to the tenant's administrators only (of the whole tenant).
  { path: 't/:tenant/users', nav: 'users', scope: 'tenant', allowed: () => caller() != null && holds('tenant_admin'), render },
];
