// The operators' console: boot, sign-in, the navigation and the router. The views live in
// views/*.js; each exports `routes`, a list of
//   { path: 'tenants/:tenant', nav: 'tenants' | null, scope: 'platform' | 'tenant',
//     allowed: () => boolean, render: (ctx, params) => Node }
// `path` is matched against the hash (`#/t/<tenant>/boxes`); `:name` parts become params.
// A route with `nav` set and no parameter but `:tenant` is a link in the navigation.
//
// Every view gets a context (`ctx`): `ctx.alive` turns false when the view is left,
// `ctx.onLeave(fn)` registers what to stop then, `ctx.notFound()` shows the not-found page
// (the same for a missing id and another tenant's: the API answers 404 to both).

import { t, lang, setLang, locale, register } from './common/i18n.js';
import { h, fill, field } from './common/dom.js';
import { errorBlock, showError } from './common/api.js';
import {
  signIn, signOut, resume, whenSignedOut, caller, authConfig, startOidc, finishOidc, usedOidc,
} from './session.js';
import './strings.js';
import * as tenants from './views/tenants.js';
import * as platformBilling from './views/platform-billing.js';
import * as areas from './views/areas.js';
import * as users from './views/users.js';
import * as boxes from './views/boxes.js';
import * as audit from './views/audit.js';
import * as people from './views/people.js';
import * as searches from './views/searches.js';
import * as billing from './views/billing.js';

const MODULES = [tenants, platformBilling, people, searches, boxes, areas, users, audit, billing];
const ROUTES = MODULES.flatMap((m) => m.routes || []).map((route) => ({
  ...route,
  regex: new RegExp(`^${route.path.replace(/:(\w+)/g, '(?<$1>[^/]+)')}$`),
}));

const app = document.getElementById('app');

// What the content security policy blocks is kept (the tests read it) and logged: the
// console must never need an exception to its policy.
document.addEventListener('securitypolicyviolation', (e) => {
  (window.__cspViolations ||= []).push(`${e.violatedDirective} ${e.blockedURI}`);
  console.error('blocked by the content security policy:', e.violatedDirective, e.blockedURI);
});
/** `boot`, `login` or `app`. */
let mode = 'boot';
let loginNotice = '';
let current = null;
/** `GET /api/v1/auth/config`: whether single sign-on is offered. */
let signInConfig = { oidc: null };

register({
  'error.unauthenticated': 'Sign in first.',
}, {
  'error.unauthenticated': '请先登录。',
});

function leave() {
  if (!current) return;
  current.alive = false;
  for (const stop of current.stops.splice(0)) {
    try { stop(); } catch (e) { console.error(e); }
  }
  current = null;
}

function newContext(tenant) {
  leave();
  const ctx = {
    alive: true,
    stops: [],
    /** The tenant the view is about (from the path), or the caller's own. */
    tenant,
    onLeave(stop) { this.stops.push(stop); },
    go(hash) { location.hash = hash; },
    notFound() { if (this.alive) fill(document.getElementById('main'), notFoundView()); },
    /** Shows an error in `el`, or the not-found page for a 404. */
    fail(el, error, prefix, params) {
      if (error && error.status === 404) this.notFound();
      else showError(el, error, prefix, params);
    },
  };
  current = ctx;
  return ctx;
}

whenSignedOut(() => {
  if (mode !== 'app') return;
  loginNotice = t('login.expired');
  mode = 'login';
  render();
});

function home(me) {
  if (me.platform_admin) return '#/tenants';
  return `#/t/${me.tenant_id}/searches`;
}

function match() {
  const path = decodeURIComponent(location.hash.replace(/^#\/?/, '').replace(/\/$/, ''));
  for (const route of ROUTES) {
    const m = route.regex.exec(path);
    if (m) return { route, params: { ...(m.groups || {}) } };
  }
  return null;
}

function render() {
  document.documentElement.lang = locale();
  const me = caller();
  if (mode === 'app' && me) {
    if (!location.hash || location.hash === '#' || location.hash === '#/') {
      history.replaceState(null, '', home(me));
    }
    const found = match();
    const tenant = (found && found.params.tenant) || me.tenant_id || null;
    const ctx = newContext(tenant);
    const main = h('main', { id: 'main' });
    fill(app, h('div', { class: 'shell' }, nav(me, found, tenant), main));
    if (!found || !found.route.allowed()) {
      document.title = `${t('notfound.title')} · Dipper`;
      main.appendChild(notFoundView());
      return;
    }
    document.title = `${t(`nav.${found.route.nav || found.route.title || 'console'}`)} · Dipper`;
    main.appendChild(found.route.render(ctx, found.params));
    return;
  }
  newContext(null);
  document.title = t('login.title_short');
  const body = mode === 'boot' ? h('p', { class: 'muted boot-note' }, t('boot.loading')) : loginView();
  fill(app, h('div', { class: 'shell signed-out' },
    h('header', { class: 'bar' }, h('span', { class: 'brand' }, t('brand')), langButton()),
    h('main', { id: 'main' }, body)));
  const first = app.querySelector('input:not([value]), input');
  if (first) first.focus();
}

function langButton() {
  return h('button', {
    id: 'lang', type: 'button', class: 'ghost', lang: lang() === 'zh' ? 'en' : 'zh-CN',
    title: t('nav.lang_title'),
    onclick: () => { setLang(lang() === 'zh' ? 'en' : 'zh'); render(); },
  }, t('nav.lang'));
}

function nav(me, found, tenant) {
  const active = found ? found.route.nav : null;
  const link = (route) => {
    const href = `#/${route.path.replace(':tenant', tenant || '')}`;
    return h('a', {
      id: `nav-${route.nav}`, href, class: 'nav-link',
      'aria-current': route.nav === active ? 'page' : null,
    }, t(`nav.${route.nav}`));
  };
  const navigable = (scope) => ROUTES.filter((r) => r.nav && r.scope === scope
    && !r.path.replace(':tenant', '').includes(':') && r.allowed());
  const platformLinks = me.platform_admin ? navigable('platform') : [];
  const tenantLinks = tenant ? navigable('tenant') : [];
  return h('header', { class: 'bar' },
    h('span', { class: 'brand' }, t('brand')),
    h('nav', { id: 'nav', 'aria-label': t('nav.label') },
      h('div', { class: 'nav-links' },
        platformLinks.length ? h('span', { class: 'nav-group' }, t('nav.platform')) : null,
        platformLinks.map(link),
        tenantLinks.length ? h('span', { class: 'nav-group', id: 'nav-tenant' },
          me.platform_admin ? t('nav.tenant_of', { id: tenant.slice(0, 8) }) : t('nav.tenant')) : null,
        tenantLinks.map(link)),
      h('div', { class: 'nav-tools' },
        h('span', { class: 'who', id: 'who' }, me.platform_admin ? t('who.platform') : t(`who.${topRole(me)}`)),
        langButton(),
        h('button', {
          id: 'logout', type: 'button', class: 'ghost',
          onclick: async () => {
            try { await signOut(); } catch (e) { console.warn('sign-out', e); }
            loginNotice = t('login.signed_out');
            mode = 'login';
            history.replaceState(null, '', '#/');
            render();
          },
        }, t('nav.logout')))));
}

function topRole(me) {
  for (const role of ['tenant_admin', 'operator', 'viewer']) {
    if (me.grants.some((g) => g.role === role)) return role;
  }
  return 'none';
}

function notFoundView() {
  return h('section', { class: 'not-found', id: 'not-found' },
    h('h1', {}, t('notfound.title')),
    h('p', { class: 'muted' }, t('notfound.text')),
    h('a', { href: caller() ? home(caller()) : '#/', class: 'button' }, t('notfound.home')));
}

function loginView() {
  const params = new URLSearchParams(location.search);
  let remembered = '';
  try { remembered = localStorage.getItem('dipper.console.tenant') || ''; } catch { /* none */ }
  const email = h('input', { id: 'login-email', type: 'email', autocomplete: 'username', required: true, value: params.get('email') || '' });
  const password = h('input', { id: 'login-password', type: 'password', autocomplete: 'current-password', required: true });
  const tenant = h('input', { id: 'login-tenant', type: 'text', autocomplete: 'organization', spellcheck: 'false', value: params.get('tenant') || remembered, placeholder: '00000000-0000-0000-0000-000000000000' });
  const message = h('div', { class: 'error', id: 'login-error', role: 'alert', hidden: true });
  const submit = h('button', { id: 'login-submit', type: 'submit', class: 'primary' }, t('login.submit'));
  const form = h('form', {
    class: 'panel narrow', id: 'login-form', novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      submit.disabled = true;
      showError(message, null);
      const tenantId = tenant.value.trim();
      try {
        await signIn(email.value.trim(), password.value, tenantId || null);
        try { localStorage.setItem('dipper.console.tenant', tenantId); } catch { /* not kept */ }
        loginNotice = '';
        mode = 'app';
        render();
      } catch (e) {
        submit.disabled = false;
        password.value = '';
        showError(message, e, 'login');
        password.focus();
      }
    },
  },
  h('h1', {}, t('login.title')),
  loginNotice ? h('p', { class: 'notice', id: 'login-notice' }, loginNotice) : null,
  message,
  signInConfig.oidc ? h('div', { class: 'sso' },
    h('button', {
      id: 'login-oidc', type: 'button', class: 'primary',
      onclick: async () => {
        showError(message, null);
        try { await startOidc(signInConfig.oidc); } catch (e) { showError(message, e, 'login'); }
      },
    }, t('login.oidc')),
    h('p', { class: 'muted small or' }, t('login.or'))) : null,
  field(t('login.email'), email),
  field(t('login.password'), password),
  field(t('login.tenant'), tenant, t('login.tenant_hint')),
  h('div', { class: 'actions' }, submit));
  return form;
}

window.addEventListener('hashchange', () => { if (mode === 'app') render(); });

async function boot() {
  render();
  try {
    signInConfig = await authConfig();
  } catch (e) {
    console.warn('sign-in options unknown', e);
  }
  try {
    let me = signInConfig.oidc ? await finishOidc(signInConfig.oidc) : null;
    if (!me) me = await resume();
    if (!me && signInConfig.oidc && usedOidc()) {
      // A reload after single sign-on: ask the provider again, without a prompt.
      await startOidc(signInConfig.oidc, true);
      return;
    }
    mode = me ? 'app' : 'login';
  } catch (e) {
    mode = 'login';
    if (e && e.silent) loginNotice = '';
    else if (e && /^oidc_/.test(e.code || '')) loginNotice = t('login.oidc_failed', { reason: e.message || e.code });
    else loginNotice = errorBlock(e) ? t('boot.down') : '';
  }
  render();
}

boot();
