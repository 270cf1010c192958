// Searching: the search form (a photo's faces, cameras, a time range), one task's progress
// and matches, and the list of tasks.

import { t } from '/assets/i18n.js';
import {
  h, fill, field, api, showError, showMessage, formatDuration, formatNumber, formatTime,
  box, boxZone, civilToInstant, instantToCivil, rfc3339,
} from '/assets/util.js';

const ACTIVE = new Set(['queued', 'running']);
const MAX_PHOTO_BYTES = 20 * 1024 * 1024;

/** The faces of the last photo and the one picked: kept while the page is open. */
const picked = { faces: null, chosen: null };

/** Camera names by id, for the tasks' lists (empty when unknown); learns the box's zone. */
async function cameraNames() {
  try {
    const [cameras] = await Promise.all([api('GET', '/api/v1/cameras'), boxZone()]);
    return new Map(cameras.map((c) => [c.id, c.name]));
  } catch (e) {
    if (e.auth) throw e;
    return new Map();
  }
}

const cameraLabel = (names, id) => names.get(id) || t('task.camera_id', { id });

// ---------------------------------------------------------------------------------------
// The search form

export function renderSearch(ctx) {
  const photo = h('input', { id: 'search-photo', type: 'file', accept: 'image/jpeg,image/png' });
  const photoError = h('p', { id: 'search-error', class: 'error', role: 'alert', hidden: true });
  const faces = h('div', { id: 'search-faces', class: 'faces', 'aria-live': 'polite' });
  const cameras = h('fieldset', { id: 'search-cameras', class: 'channels' },
    h('legend', null, t('search.cameras')), h('p', { class: 'muted' }, t('boot.loading')));
  const from = h('input', { id: 'search-from', type: 'datetime-local', required: true });
  const to = h('input', { id: 'search-to', type: 'datetime-local', required: true });
  const zoneHint = h('p', { class: 'muted small' });
  const startError = h('p', { id: 'search-start-error', class: 'error', role: 'alert', hidden: true });
  const start = h('button', { id: 'search-start', type: 'submit', class: 'primary' }, t('search.start'));
  let zone = null;

  const drawFaces = () => fill(faces, facesView(picked, drawFaces));
  if (picked.faces) drawFaces();

  photo.addEventListener('change', async () => {
    const file = photo.files && photo.files[0];
    showError(photoError, null);
    picked.faces = null;
    picked.chosen = null;
    fill(faces);
    if (!file) return;
    if (file.size > MAX_PHOTO_BYTES) return showMessage(photoError, t('error.too_large'));
    if (file.type && !/^image\/(jpeg|png)$/.test(file.type)) return showMessage(photoError, t('error.not_an_image'));
    fill(faces, h('p', { class: 'muted' }, t('search.finding_faces')));
    try {
      const answer = await api('POST', '/api/v1/faces', { photo: await readBase64(file) });
      if (!ctx.alive) return;
      picked.faces = Array.isArray(answer.faces) ? answer.faces : [];
      const best = picked.faces[answer.best];
      picked.chosen = best && best.usable ? answer.best : null;
      drawFaces();
    } catch (e) {
      fill(faces);
      if (e.code) showError(photoError, e, 'search');
      else showMessage(photoError, t('search.read_failed'));
    }
  });

  async function setup() {
    try {
      zone = await boxZone();
      const now = Date.now();
      if (!from.value) from.value = instantToCivil(now - 86400000, zone);
      if (!to.value) to.value = instantToCivil(now, zone);
      fill(zoneHint, t('search.zone_hint', { zone }));
      const list = await api('GET', '/api/v1/cameras');
      if (!ctx.alive) return;
      fill(cameras, h('legend', null, t('search.cameras')), list.length === 0
        ? h('p', { class: 'muted' }, t('cameras.none'))
        : list.map((c) => h('label', { class: 'check' },
          h('input', { type: 'checkbox', class: 'search-camera', value: c.id, checked: !!c.enabled }),
          h('span', null, c.name, c.enabled ? '' : ` (${t('camera.disabled')})`))));
    } catch (e) {
      if (ctx.alive) showError(startError, e);
    }
  }
  setup();

  async function onSubmit(event) {
    event.preventDefault();
    showError(startError, null);
    const face = picked.faces && picked.faces[picked.chosen];
    if (!face || !face.embedding) return showMessage(startError, t('search.pick_face'));
    const ids = [...cameras.querySelectorAll('.search-camera')].filter((c) => c.checked).map((c) => Number(c.value));
    if (ids.length === 0) return showMessage(startError, t('search.pick_camera'));
    if (!zone) return showMessage(startError, t('boot.loading'));
    const fromMs = civilToInstant(from.value, zone);
    const toMs = civilToInstant(to.value, zone);
    if (!Number.isFinite(fromMs) || !Number.isFinite(toMs)) return showMessage(startError, t('search.range_missing'));
    if (toMs <= fromMs) return showMessage(startError, t('search.range_order'));
    start.disabled = true;
    try {
      const task = await api('POST', '/api/v1/tasks', {
        from: rfc3339(fromMs, zone), to: rfc3339(toMs, zone), cameras: ids, priority: 0, embedding: face.embedding,
      });
      ctx.go(`#/tasks/${encodeURIComponent(task.id)}`);
    } catch (e) {
      showError(startError, e, 'search');
    } finally {
      start.disabled = false;
    }
    return undefined;
  }

  return h('section', { id: 'search', class: 'view' },
    h('div', { class: 'view-head' }, h('h1', null, t('nav.search'))),
    h('form', { onsubmit: onSubmit, novalidate: true },
      h('section', { class: 'card' },
        h('h2', null, t('search.step_photo')),
        field(t('search.photo'), photo, t('search.photo_hint')),
        photoError, faces),
      h('section', { class: 'card' },
        h('h2', null, t('search.step_where')),
        cameras,
        h('div', { class: 'form-grid' }, field(t('search.from'), from), field(t('search.to'), to)),
        zoneHint),
      startError,
      h('div', { class: 'actions' }, start)));
}

/** A file's bytes as base64 (the data URL without its prefix). */
function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.addEventListener('load', () => resolve(String(reader.result).replace(/^data:[^,]*,/, '')));
    reader.addEventListener('error', () => reject(reader.error));
    reader.readAsDataURL(file);
  });
}

/** The faces found, as buttons: the usable ones can be picked, the others say why not. */
function facesView(state, redraw) {
  const faces = state.faces || [];
  if (faces.length === 0) return h('p', { class: 'notice' }, t('search.no_faces'));
  const anyUsable = faces.some((f) => f.usable);
  return [
    h('p', { class: anyUsable ? 'muted small' : 'notice' }, anyUsable ? t('search.pick_hint') : t('search.none_usable')),
    h('div', { class: 'face-grid' }, faces.map((face, i) => {
      const selected = i === state.chosen;
      const reason = face.usable ? t('search.usable')
        : t(`face.${face.reason_code}`, {}, null) || face.reason || t('search.unusable');
      return h('button', {
        type: 'button', class: ['face', selected && 'selected', !face.usable && 'unusable'],
        disabled: !face.usable, 'aria-pressed': String(selected), 'data-index': i,
        onclick: () => { state.chosen = i; redraw(); },
      },
      typeof face.crop === 'string' && face.crop.startsWith('data:image/')
        ? h('img', { src: face.crop, alt: t('search.face_alt', { n: i + 1 }) }) : null,
      h('span', { class: 'verdict' }, reason));
    })),
  ];
}

// ---------------------------------------------------------------------------------------
// One task

export function renderTask(ctx, id) {
  const path = `/api/v1/tasks/${encodeURIComponent(id)}`;
  const state = h('span', { class: 'badge' });
  const progress = h('div', { id: 'task-progress', class: 'card', 'aria-live': 'polite' }, h('p', { class: 'muted' }, t('boot.loading')));
  const problems = h('div', { class: 'task-problems' });
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const cancel = h('button', { id: 'task-cancel', type: 'button', class: 'danger', hidden: true, onclick: onCancel }, t('task.cancel'));
  const count = h('span', { class: 'muted' });
  const results = h('div', { id: 'task-results', class: 'results' });
  let names = new Map();
  let cursor = 0;
  let shown = 0;

  async function onCancel() {
    cancel.disabled = true;
    try {
      draw(await api('POST', `${path}/cancel`));
    } catch (e) {
      showError(error, e);
    } finally {
      cancel.disabled = false;
    }
  }

  function draw(task) {
    if (!ctx.alive) return;
    state.className = `badge ${task.state}`;
    fill(state, t(`task.state.${task.state}`, {}, null) || task.state);
    cancel.hidden = !ACTIVE.has(task.state);
    fill(progress, progressView(task, names));
    fill(problems, problemsView(task));
  }

  /** Fetches the matches after the cursor, a few pages a time; true when there are more. */
  async function fetchResults() {
    let more = false;
    for (let page = 0; page < 10 && ctx.alive; page += 1) {
      const answer = await api('GET', `${path}/results?after=${cursor}&limit=100`);
      const matches = Array.isArray(answer.matches) ? answer.matches : [];
      if (!ctx.alive) return false;
      if (shown === 0 && matches.length > 0) results.replaceChildren();
      for (const m of matches) results.appendChild(resultTile(m, names));
      shown += matches.length;
      if (answer.next_after != null) cursor = answer.next_after;
      more = matches.length === 100;
      if (!more) break;
    }
    fill(count, t('task.matches_count', { n: formatNumber(shown) }));
    if (shown === 0) fill(results, h('p', { class: 'muted' }, t('task.no_matches')));
    return more;
  }

  let timer = 0;
  async function tick() {
    let finished = false;
    try {
      const task = await api('GET', path);
      showError(error, null);
      draw(task);
      const more = await fetchResults();
      finished = !ACTIVE.has(task.state) && !more;
    } catch (e) {
      if (e.auth || !ctx.alive) return;
      showError(error, e);
      finished = e.code === 'not_found';
    }
    if (ctx.alive && !finished) timer = setTimeout(tick, 1000);
  }
  ctx.onLeave(() => clearTimeout(timer));
  cameraNames().then((n) => { names = n; }).catch(() => null).finally(tick);

  return h('section', { id: 'task', class: 'view' },
    h('div', { class: 'view-head' },
      h('h1', null, t('task.title'), ' ', state),
      h('a', { href: '#/tasks' }, t('task.all'))),
    h('p', { class: 'muted small break' }, t('task.id', { id })),
    error, progress, h('div', { class: 'actions' }, cancel), problems,
    h('h2', null, t('task.results'), ' ', count),
    results);
}

function progressView(task, names) {
  const zone = box.zone;
  const processed = (task.recordings_done || 0) + (task.recordings_failed || 0);
  const total = task.recordings_total || 0;
  const recordings = task.searches_done ? t('task.recordings', { done: formatNumber(processed), total: formatNumber(total) })
    : t('task.recordings_so_far', { done: formatNumber(processed), total: formatNumber(total) });
  const rows = [
    [t('task.recordings_label'), recordings],
    task.recordings_failed ? [t('task.recordings_failed'), formatNumber(task.recordings_failed)] : null,
    ACTIVE.has(task.state) && task.eta_seconds != null ? [t('task.eta'), formatDuration(task.eta_seconds)] : null,
    [t('task.matches'), formatNumber(task.matches)],
    [t('task.faces'), t('task.faces_value', { faces: formatNumber(task.faces), keyframes: formatNumber(task.keyframes) })],
    [t('task.range'), `${formatTime(task.from_ms, zone)} – ${formatTime(task.to_ms, zone)}`],
    [t('task.cameras'), (task.cameras || []).map((id) => cameraLabel(names, id)).join(', ') || '–'],
    [t('task.created'), formatTime(task.created_at_ms, zone)],
    task.finished_at_ms ? [t('task.finished'), formatTime(task.finished_at_ms, zone)] : null,
  ].filter(Boolean);
  return [
    total > 0 ? h('progress', { max: total, value: processed, 'aria-label': t('task.recordings_label') })
      : h('progress', { 'aria-label': t('task.recordings_label'), hidden: !ACTIVE.has(task.state) }),
    h('dl', { class: 'facts' }, rows.map(([label, value]) => h('div', null, h('dt', null, label), h('dd', null, value)))),
  ];
}

function problemsView(task) {
  const list = (title, items) => (Array.isArray(items) && items.length > 0
    ? h('div', { class: 'card' }, h('h3', null, title), h('ul', { class: 'plain log' }, items.map((f) => h('li', null,
      h('span', { class: 'detail' }, f.reason), ' ', h('small', { class: 'muted' }, t('task.recordings_n', { n: f.recordings }))))))
    : null);
  return [
    task.error ? h('p', { class: task.state === 'failed' ? 'error' : 'warning' },
      h('span', { class: 'sentence' }, task.state === 'failed' ? t('task.failed_because') : t('task.not_searched')),
      h('small', { class: 'detail' }, task.error)) : null,
    list(t('task.failures'), task.failures),
    list(t('task.warnings'), task.warnings),
  ];
}

function matchCaption(m, names) {
  return [
    h('time', null, formatTime(m.time_ms, box.zone)),
    h('span', null, m.camera_name || cameraLabel(names, m.camera_id)),
    h('span', { class: 'muted' }, t('task.distance', { d: formatNumber(m.distance, 3) })),
  ];
}

function resultTile(m, names) {
  return h('button', { type: 'button', class: 'result', onclick: () => openFrame(m, names) },
    h('img', { src: m.face_snapshot, alt: t('task.face_alt'), loading: 'lazy' }),
    h('span', { class: 'caption' }, matchCaption(m, names)));
}

/** The full frame of a match, over the page; Escape, the button or the backdrop close it. */
function openFrame(m, names) {
  const before = document.activeElement;
  const existing = document.getElementById('frame-viewer');
  if (existing) existing.remove();
  const missing = h('p', { class: 'muted', hidden: true }, t('task.frame_missing'));
  const close = () => {
    viewer.remove();
    document.removeEventListener('keydown', onKey);
    window.removeEventListener('hashchange', close);
    if (before && before.focus) before.focus();
  };
  const onKey = (event) => { if (event.key === 'Escape') close(); };
  const closeButton = h('button', { type: 'button', class: 'close', onclick: close }, t('action.close'));
  const image = h('img', {
    src: m.frame_snapshot, alt: t('task.frame_alt'),
    onerror: () => { image.hidden = true; missing.hidden = false; },
  });
  const viewer = h('div', {
    id: 'frame-viewer', class: 'overlay', role: 'dialog', 'aria-modal': 'true', 'aria-label': t('task.frame_alt'),
    onclick: (event) => { if (event.target === viewer) close(); },
  }, h('figure', null, image, missing, h('figcaption', null, matchCaption(m, names), closeButton)));
  document.body.appendChild(viewer);
  document.addEventListener('keydown', onKey);
  window.addEventListener('hashchange', close);
  closeButton.focus();
}

// ---------------------------------------------------------------------------------------
// Every task

export function renderTasks(ctx) {
  const list = h('div', { id: 'tasks-list', class: 'cards' }, h('p', { class: 'muted' }, t('boot.loading')));
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  let names = new Map();
  let timer = 0;

  async function load() {
    clearTimeout(timer);
    try {
      const tasks = await api('GET', '/api/v1/tasks?limit=50');
      if (!ctx.alive) return;
      showError(error, null);
      fill(list, tasks.length === 0
        ? h('p', { class: 'muted' }, t('tasks.none'), ' ', h('a', { href: '#/search' }, t('tasks.start')))
        : tasks.map((task) => taskRow(task, names, error, load)));
      // Refresh while something is still going on.
      if (tasks.some((task) => ACTIVE.has(task.state))) timer = setTimeout(load, 3000);
    } catch (e) {
      if (ctx.alive && !e.auth) {
        showError(error, e);
        timer = setTimeout(load, 5000);
      }
    }
  }
  ctx.onLeave(() => clearTimeout(timer));
  cameraNames().then((n) => { names = n; }, () => null).finally(() => { if (ctx.alive) load(); });

  return h('section', { id: 'tasks', class: 'view' },
    h('div', { class: 'view-head' }, h('h1', null, t('nav.tasks')), h('a', { href: '#/search', class: 'button' }, t('tasks.start'))),
    error, list);
}

function taskRow(task, names, error, reload) {
  const zone = box.zone;
  const href = `#/tasks/${encodeURIComponent(task.id)}`;
  return h('article', { class: 'task card', 'data-id': task.id },
    h('div', { class: 'row' },
      h('span', { class: ['badge', task.state] }, t(`task.state.${task.state}`, {}, null) || task.state),
      h('a', { href, class: 'task-open' }, formatTime(task.created_at_ms, zone))),
    h('dl', { class: 'facts' },
      h('div', null, h('dt', null, t('task.range')), h('dd', null, `${formatTime(task.from_ms, zone)} – ${formatTime(task.to_ms, zone)}`)),
      h('div', null, h('dt', null, t('task.cameras')), h('dd', null, (task.cameras || []).map((id) => cameraLabel(names, id)).join(', ') || '–')),
      h('div', null, h('dt', null, t('task.matches')), h('dd', null, formatNumber(task.matches)))),
    h('div', { class: 'actions' },
      h('a', { href, class: 'button' }, t('tasks.open')),
      ACTIVE.has(task.state) ? h('button', {
        type: 'button', class: 'danger task-cancel',
        onclick: async (event) => {
          event.currentTarget.disabled = true;
          try {
            await api('POST', `/api/v1/tasks/${encodeURIComponent(task.id)}/cancel`);
          } catch (e) {
            showError(error, e);
          }
          reload();
        },
      }, t('task.cancel')) : null));
}
