// The box's local page: boot, first-boot setup, sign-in, the navigation and the router,
// and the status view. The other views live in cameras.js, search.js and admin.js.
//
// Every view gets a context (`ctx`): `ctx.alive` turns false when the view is left, and
// `ctx.onLeave` registers what to stop then (pollers, the event stream, timers).

import { t, lang, setLang, locale } from '/assets/i18n.js';
import {
  h, fill, field, api, setCsrf, onAuthNeeded, showError, showMessage, errorBlock,
  formatBytes, formatDuration, formatNumber, formatTime, uplinkSummary, box,
} from '/assets/util.js';
import { renderCameras } from '/assets/cameras.js';
import { renderSearch, renderTask, renderTasks } from '/assets/search.js';
import { renderUplink, renderSettings } from '/assets/admin.js';

const app = document.getElementById('app');

/** `boot`, `setup`, `login`, `app` or `down` (the box did not answer at boot). */
let mode = 'boot';
/** A notice for the login view (e.g. "password changed"). */
let loginNotice = '';
let current = null;

// ---------------------------------------------------------------------------------------
// Contexts

function leave() {
  if (!current) return;
  current.alive = false;
  for (const stop of current.stops.splice(0)) {
    try { stop(); } catch (e) { console.error(e); }
  }
  current = null;
}

function newContext() {
  leave();
  const ctx = {
    alive: true,
    stops: [],
    onLeave(stop) { this.stops.push(stop); },
    go(hash) { location.hash = hash; },
    signedOut(notice) { setCsrf(''); loginNotice = notice || ''; setMode('login'); },
  };
  current = ctx;
  return ctx;
}

function setMode(next) {
  mode = next;
  render();
}

// The API tells us when the session is gone or the box was reset.
onAuthNeeded((code) => {
  const next = code === 'setup_required' ? 'setup' : 'login';
  if (mode === next) return;
  if (next === 'login' && mode === 'app') loginNotice = t('login.expired');
  setCsrf('');
  setMode(next);
});

// ---------------------------------------------------------------------------------------
// Rendering

const VIEWS = {
  status: renderStatus,
  cameras: renderCameras,
  uplink: renderUplink,
  search: renderSearch,
  tasks: renderTasks,
  settings: renderSettings,
};

/** The view and its parameter from the hash: `#/tasks/<id>` is the task view. */
function route() {
  const m = /^#\/([a-z]+)(?:\/([^/]+))?\/?$/.exec(location.hash);
  if (!m || !VIEWS[m[1]]) return null;
  if (m[1] === 'tasks' && m[2]) return { name: 'tasks', view: renderTask, param: decodeURIComponent(m[2]) };
  if (m[2]) return null;
  return { name: m[1], view: VIEWS[m[1]], param: null };
}

function render() {
  document.documentElement.lang = locale();
  const ctx = newContext();
  if (mode === 'app') {
    const where = route();
    if (!where) {
      history.replaceState(null, '', '#/status');
      return render();
    }
    document.title = `${t(`nav.${where.name}`)} · Dipper`;
    const main = h('main', { id: 'main' });
    fill(app, h('div', { class: 'shell' }, nav(where.name), main));
    main.appendChild(where.view(ctx, where.param));
    return undefined;
  }
  document.title = 'Dipper';
  const body = { boot: bootView, setup: setupView, login: loginView, down: downView }[mode](ctx);
  fill(app, h('div', { class: 'shell signed-out' },
    h('header', { class: 'bar' }, h('span', { class: 'brand' }, 'Dipper'), langButton()),
    h('main', { id: 'main' }, body)));
  const first = app.querySelector('input');
  if (first) first.focus();
  return undefined;
}

function langButton() {
  return h('button', {
    id: 'lang', type: 'button', class: 'ghost', lang: lang() === 'zh' ? 'en' : 'zh-CN',
    title: t('nav.lang_title'),
    onclick: () => { setLang(lang() === 'zh' ? 'en' : 'zh'); render(); },
  }, t('nav.lang'));
}

function nav(active) {
  const link = (name) => h('a', {
    id: `nav-${name}`, href: `#/${name}`, class: 'nav-link',
    'aria-current': name === active ? 'page' : null,
  }, t(`nav.${name}`));
  return h('header', { class: 'bar' },
    h('span', { class: 'brand' }, 'Dipper'),
    h('nav', { id: 'nav', 'aria-label': t('nav.label') },
      h('div', { class: 'nav-links' }, Object.keys(VIEWS).map(link)),
      h('div', { class: 'nav-tools' }, langButton(),
        h('button', { id: 'logout', type: 'button', class: 'ghost', onclick: logout }, t('nav.logout')))));
}

async function logout() {
  try {
    await api('DELETE', '/api/v1/session');
  } catch (e) {
    // Signed out already, or the box is down: the login view is right either way.
    console.warn(e);
  }
  setCsrf('');
  loginNotice = '';
  if (mode !== 'login') setMode('login');
}

// ---------------------------------------------------------------------------------------
// Boot

async function boot() {
  mode = 'boot';
  render();
  try {
    const session = await api('GET', '/api/v1/session');
    setCsrf(session.csrf);
    if (!session.password_set) return setMode('setup');
    if (!session.signed_in) return setMode('login');
    return setMode('app');
  } catch (e) {
    if (e.auth) return undefined;
    console.error(e);
    return setMode('down');
  }
}

function bootView() {
  return h('p', { class: 'muted', role: 'status' }, t('boot.loading'));
}

function downView() {
  return h('section', { id: 'down', class: 'panel narrow' },
    h('h1', null, t('error.network')),
    h('p', null, t('boot.down')),
    h('button', { type: 'button', onclick: boot }, t('action.retry')));
}

// ---------------------------------------------------------------------------------------
// First boot: set the administrator password

/** A hint only; the box decides (zxcvbn score 3 or more, at least 10 characters). */
function strengthHint(password) {
  if (!password) return t('setup.hint_empty');
  if ([...password].length < 10) return t('setup.hint_short', { n: [...password].length });
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^a-zA-Z0-9]/].filter((r) => r.test(password)).length;
  if (classes < 2) return t('setup.hint_mix');
  return classes >= 3 || password.length >= 16 ? t('setup.hint_good') : t('setup.hint_fair');
}

function setupView() {
  const password = h('input', { id: 'setup-password', type: 'password', autocomplete: 'new-password', required: true });
  const confirm = h('input', { id: 'setup-confirm', type: 'password', autocomplete: 'new-password', required: true });
  const hint = h('small', { id: 'setup-hint', class: 'hint', 'aria-live': 'polite' }, strengthHint(''));
  const error = h('p', { id: 'setup-error', class: 'error', role: 'alert', hidden: true });
  const submit = h('button', { id: 'setup-submit', type: 'submit', class: 'primary' }, t('setup.submit'));
  password.addEventListener('input', () => fill(hint, strengthHint(password.value)));

  async function onSubmit(event) {
    event.preventDefault();
    showMessage(error, '');
    if (!password.value) return showMessage(error, t('setup.empty'));
    if (password.value !== confirm.value) return showMessage(error, t('setup.mismatch'));
    submit.disabled = true;
    try {
      const answer = await api('POST', '/api/v1/session/setup', { password: password.value });
      setCsrf(answer && answer.csrf);
      setMode('app');
    } catch (e) {
      if (e.code === 'already_set') return setMode('login');
      showError(error, e, 'setup');
    } finally {
      submit.disabled = false;
    }
    return undefined;
  }

  return h('section', { id: 'setup', class: 'panel narrow' },
    h('h1', null, t('setup.title')),
    h('p', null, t('setup.intro')),
    h('form', { onsubmit: onSubmit, novalidate: true },
      field(t('setup.password'), password, hint),
      field(t('setup.confirm'), confirm),
      error,
      h('div', { class: 'actions' }, submit)));
}

// ---------------------------------------------------------------------------------------
// Sign in

function loginView(ctx) {
  const password = h('input', { id: 'login-password', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { id: 'login-error', class: 'error', role: 'alert', hidden: true });
  const submit = h('button', { id: 'login-submit', type: 'submit', class: 'primary' }, t('login.submit'));
  let countdown = 0;
  ctx.onLeave(() => clearInterval(countdown));

  /** "Try again in N s", counting down; the button waits as long. */
  function locked(seconds) {
    clearInterval(countdown);
    let left = Math.max(1, Math.ceil(Number(seconds) || 30));
    const tick = () => {
      if (left <= 0) {
        clearInterval(countdown);
        submit.disabled = false;
        showMessage(error, '');
        return;
      }
      showMessage(error, t('error.locked', { retry_after_seconds: left }));
      left -= 1;
    };
    submit.disabled = true;
    tick();
    countdown = setInterval(tick, 1000);
  }

  async function onSubmit(event) {
    event.preventDefault();
    if (submit.disabled) return;
    showMessage(error, '');
    if (!password.value) return showMessage(error, t('login.empty'));
    submit.disabled = true;
    try {
      const answer = await api('POST', '/api/v1/session', { password: password.value });
      setCsrf(answer && answer.csrf);
      loginNotice = '';
      setMode('app');
      return undefined;
    } catch (e) {
      submit.disabled = false;
      if (e.code === 'locked') return locked(e.body.retry_after_seconds);
      if (e.code === 'setup_required' || e.code === 'not_set') return setMode('setup');
      showError(error, e, 'login');
      password.select();
    }
    return undefined;
  }

  return h('section', { id: 'login', class: 'panel narrow' },
    h('h1', null, t('login.title')),
    loginNotice ? h('p', { class: 'notice', role: 'status' }, loginNotice) : null,
    h('form', { onsubmit: onSubmit, novalidate: true },
      field(t('login.password'), password),
      error,
      h('div', { class: 'actions' }, submit)),
    h('p', { class: 'muted small' }, t('login.forgot'), ' ',
      h('code', null, 'dipper admin reset-password'), t('login.forgot_after')));
}

// ---------------------------------------------------------------------------------------
// Status

function renderStatus(ctx) {
  const live = h('span', { id: 'status-live', class: 'live-indicator', role: 'status' }, t('status.connecting'));
  const cards = {};
  for (const name of ['cameras', 'disk', 'downloads', 'uplink', 'versions', 'errors']) {
    cards[name] = h('section', { id: `status-${name}`, class: ['card', `status-${name}`] },
      h('h2', null, t(`status.${name}`)), h('p', { class: 'muted' }, t('boot.loading')));
  }
  const problem = h('p', { class: 'error', role: 'alert', hidden: true });
  const section = h('section', { id: 'status', class: 'view' },
    h('div', { class: 'view-head' }, h('h1', null, t('nav.status')), live),
    problem,
    h('div', { class: 'grid' }, Object.values(cards)));

  const show = (data) => {
    if (!ctx.alive || !data) return;
    showError(problem, null);
    if (data.time_zone) box.zone = data.time_zone;
    drawStatus(cards, data);
  };
  const setLive = (on) => {
    live.classList.toggle('live', on);
    fill(live, on ? t('status.live') : t('status.reconnecting'));
  };
  const load = () => api('GET', '/api/v1/status').then(show,
    (e) => { if (ctx.alive && !e.auth) showError(problem, e); });

  load();
  // The stream: the browser reconnects by itself after a dropped connection; an answer
  // that is not a stream (signed out, say) closes it, and then we check and try again.
  let source = null;
  let retry = 0;
  const connect = () => {
    if (!ctx.alive) return;
    source = new EventSource('/api/v1/status/events');
    source.addEventListener('open', () => setLive(true));
    source.addEventListener('status', (event) => {
      setLive(true);
      try { show(JSON.parse(event.data)); } catch (e) { console.error(e); }
    });
    source.addEventListener('error', () => {
      setLive(false);
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        retry = setTimeout(() => { load(); connect(); }, 5000);
      }
    });
  };
  connect();
  ctx.onLeave(() => { clearTimeout(retry); if (source) source.close(); });
  return section;
}

/** A key-value list: [[label, value], ...]; null rows are skipped. */
function facts(rows) {
  return h('dl', { class: 'facts' }, rows.filter(Boolean).map(([label, value]) =>
    h('div', null, h('dt', null, label), h('dd', null, value))));
}

function badge(kind, text) {
  return h('span', { class: ['badge', kind] }, text);
}

function drawStatus(cards, s) {
  const zone = s.time_zone;
  const heading = (name) => h('h2', null, t(`status.${name}`));

  const cameras = Array.isArray(s.cameras) ? s.cameras : [];
  const online = cameras.filter((c) => c.online === true).length;
  fill(cards.cameras, heading('cameras'),
    h('p', { class: 'summary' }, t('status.cameras_summary', { online, total: cameras.length })),
    cameras.length === 0
      ? h('p', { class: 'muted' }, t('status.no_cameras'), ' ', h('a', { href: '#/cameras' }, t('status.add_camera')))
      : h('ul', { class: 'plain' }, cameras.map((c) => statusCamera(c, zone))));

  const disk = s.disk || {};
  const used = Number(disk.total_bytes) - Number(disk.free_bytes);
  const retention = s.retention || {};
  fill(cards.disk, heading('disk'),
    disk.full ? h('p', { class: 'error' }, t('status.disk_full')) : null,
    Number(disk.total_bytes) > 0
      ? h('progress', { max: disk.total_bytes, value: Math.max(0, used), 'aria-label': t('status.disk_used') })
      : null,
    facts([
      [t('status.disk_used'), t('status.disk_of', { used: formatBytes(used), total: formatBytes(disk.total_bytes) })],
      [t('status.disk_free'), formatBytes(disk.free_bytes)],
      [t('status.disk_min_free'), formatBytes(disk.min_free_bytes)],
      [t('status.retention'), retentionText(retention)],
      [t('status.index_entries'), formatNumber(s.index_entries)],
    ]));

  const downloads = s.downloads || {};
  fill(cards.downloads, heading('downloads'), facts([
    [t('status.downloads_active'), formatNumber(downloads.active)],
    [t('status.downloads_queued'), formatNumber(downloads.queued)],
    [t('status.tasks_running'), formatNumber(s.tasks_running)],
  ]));

  const uplink = s.uplink || {};
  const outbox = uplink.outbox || {};
  fill(cards.uplink, heading('uplink'),
    h('p', { class: 'summary' }, badge(uplink.state, uplinkSummary(uplink, zone))),
    uplink.last_error && uplink.state !== 'connected' ? h('p', { class: 'detail' }, uplink.last_error) : null,
    uplink.tenant && uplink.tenant.standing === 'suspended' ? h('p', { id: 'uplink-suspended', class: 'detail' }, badge('bad', t('uplink.tenant_suspended'))) : null,
    facts([
      [t('uplink.outbox'), t('uplink.outbox_depth', { messages: formatNumber(outbox.messages), bytes: formatBytes(outbox.bytes) })],
      outbox.oldest_ms ? [t('uplink.outbox_oldest'), formatTime(outbox.oldest_ms, zone)] : null,
    ]),
    h('a', { href: '#/uplink' }, t('status.uplink_more')));

  const models = s.models && typeof s.models === 'object' ? Object.entries(s.models) : [];
  fill(cards.versions, heading('versions'), facts([
    [t('status.software'), s.version || '–'],
    ...models.map(([kind, name]) => [t(`status.model_${kind}`, {}, null) || kind, String(name)]),
    [t('status.uptime'), formatDuration(s.uptime_seconds)],
    [t('status.time_zone'), zone || '–'],
    [t('status.box_time'), formatTime(s.now_ms, zone)],
  ]));

  const errors = Array.isArray(s.errors) ? s.errors : [];
  fill(cards.errors, heading('errors'), errors.length === 0
    ? h('p', { class: 'muted' }, t('status.no_errors'))
    : h('ul', { class: 'plain log' }, errors.map((e) => h('li', null,
      h('time', null, formatTime(e.at_ms, zone)), ' ',
      h('span', { class: e.level === 'warn' ? 'level-warn' : 'level-error' }, e.message)))));
}

function statusCamera(c, zone) {
  let state;
  if (!c.enabled) state = badge('off', t('camera.disabled'));
  else if (c.online === true) state = badge('ok', t('camera.online'));
  else if (c.online === false) state = badge('bad', t('camera.offline'));
  else state = badge('unknown', t('camera.not_checked'));
  const lag = c.lag_seconds == null ? t('camera.lag_none') : t('camera.lag', { lag: formatDuration(c.lag_seconds) });
  return h('li', { class: 'status-camera' },
    h('div', { class: 'row' }, h('strong', null, c.name), state),
    h('small', { class: 'muted' }, lag,
      c.checked_at_ms ? ` · ${t('camera.checked_at', { time: formatTime(c.checked_at_ms, zone) })}` : ''),
    c.last_error ? h('small', { class: 'detail' }, c.last_error) : null,
    c.indexing_problem ? h('small', { class: 'detail' }, c.indexing_problem) : null);
}

function retentionText(r) {
  const days = r.keep_days ? t('status.keep_days', { n: r.keep_days }) : t('status.keep_forever');
  return r.quota_mib ? t('status.keep_quota', { days, quota: formatBytes(r.quota_mib * 1048576) }) : days;
}

// ---------------------------------------------------------------------------------------
// Start

window.addEventListener('hashchange', () => { if (mode === 'app') render(); });
window.addEventListener('unhandledrejection', (event) => {
  // Every path catches its errors; this is the last net, so nothing fails silently.
  console.error(event.reason);
  const main = document.getElementById('main');
  if (!main || (event.reason && event.reason.auth)) return;
  const block = errorBlock(event.reason);
  if (block) main.prepend(h('p', { class: 'error', role: 'alert' }, block));
});
boot();
