// The cameras view: the cameras the box searches, and the form that adds one after
// probing the device.

import { t } from '/assets/i18n.js';
import {
  h, fill, field, api, ApiError, showError, showMessage, confirmButton,
  formatDuration, formatTime, box, boxZone,
} from '/assets/util.js';

/** The probe's problems (and the codes a failed add answers with). */
const PROBLEMS = new Set(['unreachable', 'not_isapi', 'wrong_password', 'locked_out', 'certificate', 'timeout', 'other']);

export function renderCameras(ctx) {
  const list = h('div', { id: 'camera-list', class: 'cards', 'aria-live': 'polite' },
    h('p', { class: 'muted' }, t('boot.loading')));
  const problem = h('p', { class: 'error', role: 'alert', hidden: true });

  async function load() {
    try {
      const cameras = await api('GET', '/api/v1/cameras');
      if (!ctx.alive) return;
      showError(problem, null);
      fill(list, cameras.length === 0
        ? h('p', { class: 'muted' }, t('cameras.none'))
        : cameras.map((camera) => cameraCard(camera, load)));
    } catch (e) {
      if (ctx.alive) { fill(list); showError(problem, e); }
    }
  }
  boxZone().catch(() => null); // for the times in probe answers
  load();
  return h('section', { id: 'cameras', class: 'view' },
    h('div', { class: 'view-head' }, h('h1', null, t('nav.cameras'))),
    problem, list, addForm(load));
}

// ---------------------------------------------------------------------------------------
// A camera's card

function cameraCard(camera, reload) {
  const panel = h('div', { class: 'camera-panel', hidden: true });
  const message = h('p', { class: 'error', role: 'alert', hidden: true });
  const noKeyframe = h('p', { class: 'snapshot-missing muted', hidden: true }, t('camera.no_keyframe'));
  const snapshot = h('img', {
    class: 'camera-snapshot', loading: 'lazy', alt: t('camera.snapshot_alt', { name: camera.name }),
    src: `/api/v1/cameras/${encodeURIComponent(camera.id)}/snapshot.jpg?t=${Date.now()}`,
    onerror: () => { snapshot.hidden = true; noKeyframe.hidden = false; },
  });

  const openPanel = (...content) => {
    showError(message, null);
    fill(panel, content);
    panel.hidden = false;
  };
  const closePanel = () => { panel.hidden = true; panel.replaceChildren(); };
  const failed = (e) => showError(message, e, 'problem');

  async function retest(button) {
    button.disabled = true;
    openPanel(h('p', { class: 'muted' }, t('camera.testing')));
    try {
      const check = await api('POST', `/api/v1/cameras/${encodeURIComponent(camera.id)}/test`);
      openPanel(checkResult(check));
    } catch (e) {
      closePanel();
      failed(e);
    } finally {
      button.disabled = false;
    }
  }

  const testButton = h('button', { type: 'button', class: 'camera-retest', onclick: () => retest(testButton) }, t('camera.retest'));
  const card = h('article', { class: 'camera card', 'data-id': camera.id },
    h('header', { class: 'row' }, h('h2', null, camera.name),
      camera.enabled ? h('span', { class: 'badge ok' }, t('camera.enabled')) : h('span', { class: 'badge off' }, t('camera.disabled'))),
    h('div', { class: 'snapshot' }, snapshot, noKeyframe),
    h('dl', { class: 'facts' },
      h('div', null, h('dt', null, t('camera.address')), h('dd', { class: 'break' }, camera.base_url)),
      h('div', null, h('dt', null, t('camera.username')), h('dd', null, camera.username)),
      h('div', null, h('dt', null, t('camera.tracks')), h('dd', null, (camera.tracks || []).join(', ') || '–')),
      h('div', null, h('dt', null, t('camera.indexing')), h('dd', null, indexing(camera))),
      camera.motion_gate && camera.motion_gate.state === 'fallback'
        ? h('div', null, h('dt', null, t('camera.motion_gate')), h('dd', { class: 'detail' }, camera.motion_gate.detail))
        : null),
    h('div', { class: 'actions' },
      testButton,
      h('button', { type: 'button', class: 'camera-edit', onclick: () => openPanel(editForm(camera, reload, closePanel)) }, t('camera.edit')),
      h('button', { type: 'button', class: 'camera-password', onclick: () => openPanel(passwordForm(camera, openPanel, closePanel)) }, t('camera.change_password')),
      confirmButton({ class: 'danger camera-delete' }, t('camera.delete'), t('camera.delete_confirm'), async () => {
        try {
          await api('DELETE', `/api/v1/cameras/${encodeURIComponent(camera.id)}`);
          card.remove();
          reload();
        } catch (e) { failed(e); }
      })),
    message, panel);
  return card;
}

/** Each track's indexing lag, and why a track is stuck. */
function indexing(camera) {
  const tracks = Array.isArray(camera.indexing) ? camera.indexing : [];
  if (tracks.length === 0) return t('camera.lag_none');
  return h('ul', { class: 'plain' }, tracks.map((track) => h('li', null,
    tracks.length > 1 ? `${track.track}: ` : '',
    track.covered_to_ms > 0 ? t('camera.lag', { lag: formatDuration(track.lag_seconds) }) : t('camera.lag_none'),
    track.recordings_waiting ? ` · ${t('camera.waiting', { n: track.recordings_waiting })}` : '',
    track.problem ? h('small', { class: 'detail' }, track.problem) : null)));
}

/** What `POST /cameras/{id}/test` found. */
function checkResult(check) {
  if (!check.reachable) {
    return h('div', { class: 'outcome bad' }, h('strong', null, t('camera.check_failed')),
      check.error ? h('small', { class: 'detail' }, check.error) : null);
  }
  return h('div', { class: 'outcome ok' }, h('strong', null, t('camera.check_ok')),
    h('dl', { class: 'facts' },
      deviceFacts(check),
      h('div', null, h('dt', null, t('camera.tracks')), h('dd', null, (check.tracks || []).join(', ') || '–'))));
}

function deviceFacts(d) {
  return [['camera.model', d.model], ['camera.serial', d.serial], ['camera.firmware', d.firmware]]
    .filter(([, value]) => value)
    .map(([key, value]) => h('div', null, h('dt', null, t(key)), h('dd', { class: 'break' }, value)));
}

function editForm(camera, reload, close) {
  const name = h('input', { type: 'text', value: camera.name, required: true, maxlength: 100 });
  const enabled = h('input', { type: 'checkbox', checked: !!camera.enabled });
  const tracks = h('input', { type: 'text', value: (camera.tracks || []).join(', '), inputmode: 'numeric' });
  const form = inlineForm(close);
  async function onSubmit(event) {
    event.preventDefault();
    const change = {};
    if (name.value.trim() !== camera.name) change.name = name.value.trim();
    if (enabled.checked !== !!camera.enabled) change.enabled = enabled.checked;
    const wanted = tracks.value.split(/[\s,，]+/).filter(Boolean);
    if (wanted.some((x) => !/^\d+$/.test(x)) || wanted.length === 0) return showMessage(form.error, t('camera.tracks_invalid'));
    if (wanted.join(',') !== (camera.tracks || []).join(',')) change.tracks = wanted.map(Number);
    if (change.name === '') return showMessage(form.error, t('camera.name_missing'));
    if (Object.keys(change).length === 0) return close();
    await form.saving(async () => {
      await api('PATCH', `/api/v1/cameras/${encodeURIComponent(camera.id)}`, change);
      reload();
    });
    return undefined;
  }
  return form.render(onSubmit,
    field(t('camera.name'), name),
    h('label', { class: 'check' }, enabled, h('span', null, t('camera.enabled_label'))),
    field(t('camera.tracks'), tracks, t('camera.tracks_hint')));
}

function passwordForm(camera, openPanel, close) {
  const password = h('input', { type: 'password', autocomplete: 'new-password', required: true });
  const form = inlineForm(close);
  async function onSubmit(event) {
    event.preventDefault();
    if (!password.value) return showMessage(form.error, t('camera.password_missing'));
    showMessage(form.error, t('camera.password_checking'));
    await form.saving(async () => {
      await api('PUT', `/api/v1/cameras/${encodeURIComponent(camera.id)}/password`, { password: password.value });
      openPanel(h('p', { class: 'outcome ok', role: 'status' }, t('camera.password_changed')));
    });
    return undefined;
  }
  return form.render(onSubmit, field(t('camera.new_password'), password, t('camera.password_hint')));
}

/**
 * A form opened under a camera card: its error line and its Save and Cancel buttons.
 * `saving(send)` runs `send` with Save disabled and shows its failure in the error line;
 * `render(onSubmit, ...fields)` builds the form.
 */
function inlineForm(close) {
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const save = h('button', { type: 'submit', class: 'primary' }, t('action.save'));
  async function saving(send) {
    save.disabled = true;
    try {
      await send();
    } catch (e) {
      showError(error, e, 'problem');
    } finally {
      save.disabled = false;
    }
  }
  const render = (onSubmit, ...fields) => h('form', { class: 'inline-form', onsubmit: onSubmit },
    ...fields,
    error,
    h('div', { class: 'actions' }, save, h('button', { type: 'button', onclick: close }, t('action.cancel'))));
  return { error, saving, render };
}

// ---------------------------------------------------------------------------------------
// Adding a camera

/** The sentence for a probe problem (or a failed add), which an installer can act on. */
export function problemText(problem) {
  const code = problem.problem;
  if (code === 'wrong_password') {
    return problem.attempts_left == null
      ? t('problem.wrong_password')
      : t('problem.wrong_password_left', { n: problem.attempts_left });
  }
  if (code === 'locked_out' && problem.locked_until_ms) {
    return t('problem.locked_out_until', { time: formatTime(problem.locked_until_ms, box.zone) });
  }
  return t(`problem.${code}`, problem, null) || problem.message || t('problem.other');
}

function warningText(warning) {
  if (warning.code === 'clock_off' && warning.offset_seconds != null) {
    return t('warning.clock_off', { offset: formatDuration(Math.abs(warning.offset_seconds)) });
  }
  return t(`warning.${warning.code}`, warning, null) || warning.message || String(warning.code);
}

function addForm(reload) {
  const name = h('input', { id: 'camera-name', type: 'text', maxlength: 100, required: true, autocomplete: 'off' });
  const url = h('input', { id: 'camera-url', type: 'url', placeholder: 'http://192.168.1.64', required: true, autocomplete: 'off', inputmode: 'url' });
  const username = h('input', { id: 'camera-username', type: 'text', value: 'admin', required: true, autocomplete: 'off' });
  const password = h('input', { id: 'camera-password', type: 'password', autocomplete: 'new-password' });
  const probe = h('div', { id: 'camera-probe', 'aria-live': 'polite' });
  const problem = h('div', { id: 'camera-problem', class: 'error', role: 'alert', hidden: true });
  const test = h('button', { id: 'camera-test', type: 'button', onclick: runProbe }, t('camera.test'));
  const save = h('button', { id: 'camera-save', type: 'submit', class: 'primary', disabled: true }, t('camera.save'));
  /** The last successful probe's answer, while the address and credentials are unchanged. */
  let probed = null;

  const showProblem = (sentence, detail) => {
    fill(problem, h('span', { class: 'sentence' }, sentence),
      detail && detail !== sentence ? h('small', { class: 'detail' }, detail) : null);
    problem.hidden = false;
  };
  const showFailure = (e) => {
    if (e instanceof ApiError && PROBLEMS.has(e.code)) showProblem(problemText({ ...e.body, problem: e.code }), e.message);
    else showError(problem, e, 'problem');
  };
  const credentials = () => ({ url: url.value.trim(), username: username.value.trim(), password: password.value });

  for (const input of [url, username, password]) {
    input.addEventListener('input', () => {
      if (!probed) return;
      probed = null;
      save.disabled = true;
      fill(probe, h('p', { class: 'muted' }, t('camera.test_again')));
    });
  }

  async function runProbe() {
    const body = credentials();
    showMessage(problem, '');
    if (!body.url) return showProblem(t('camera.url_missing'));
    if (!/^https?:\/\//i.test(body.url)) body.url = `http://${body.url}`;
    url.value = body.url;
    probed = null;
    save.disabled = true;
    test.disabled = true;
    fill(probe, h('p', { class: 'muted' }, t('camera.testing')));
    try {
      const answer = await api('POST', '/api/v1/cameras/probe', body);
      fill(probe);
      if (!answer || !answer.ok) {
        showProblem(problemText(answer || {}), answer && answer.message);
        return undefined;
      }
      probed = answer;
      save.disabled = false;
      if (!name.value.trim() && answer.model) name.value = answer.model;
      fill(probe, probeResult(answer));
    } catch (e) {
      fill(probe);
      showFailure(e);
    } finally {
      test.disabled = false;
    }
    return undefined;
  }

  async function onSubmit(event) {
    event.preventDefault();
    if (!probed) return showProblem(t('camera.test_first'));
    showMessage(problem, '');
    const body = { name: name.value.trim(), ...credentials() };
    if (!body.name) return showProblem(t('camera.name_missing'));
    const channels = Array.isArray(probed.channels) ? probed.channels : [];
    if (channels.length > 1) {
      body.tracks = [...probe.querySelectorAll('.camera-channel')].filter((c) => c.checked).map((c) => Number(c.value));
      if (body.tracks.length === 0) return showProblem(t('camera.channels_missing'));
    } else if (channels.length === 1) {
      body.tracks = [channels[0].track];
    }
    save.disabled = true;
    try {
      const camera = await api('POST', '/api/v1/cameras', body);
      probed = null;
      name.value = '';
      url.value = '';
      password.value = '';
      fill(probe, h('p', { class: 'outcome ok', role: 'status' }, t('camera.added', { name: (camera && camera.name) || body.name })));
      reload();
    } catch (e) {
      save.disabled = false;
      showFailure(e);
    }
    return undefined;
  }

  return h('form', { id: 'camera-add', class: 'card add-form', onsubmit: onSubmit, novalidate: true },
    h('h2', null, t('camera.add_title')),
    h('p', { class: 'muted small' }, t('camera.add_intro')),
    h('div', { class: 'form-grid' },
      field(t('camera.name'), name),
      field(t('camera.address'), url, t('camera.address_hint')),
      field(t('camera.username'), username),
      field(t('camera.password'), password)),
    h('div', { class: 'actions' }, test, save),
    probe, problem);
}

/** A successful probe: the device, its warnings, and its channels to pick from. */
function probeResult(answer) {
  const channels = Array.isArray(answer.channels) ? answer.channels : [];
  const warnings = Array.isArray(answer.warnings) ? answer.warnings : [];
  return h('div', { class: 'outcome ok' },
    h('strong', null, answer.device_type === 'nvr' ? t('camera.found_nvr') : t('camera.found_camera')),
    h('dl', { class: 'facts' }, deviceFacts(answer)),
    warnings.map((w) => h('p', { class: 'warning' }, warningText(w),
      w.message ? h('small', { class: 'detail' }, w.message) : null)),
    channels.length > 1
      ? h('fieldset', { class: 'channels' }, h('legend', null, t('camera.channels')),
        channels.map((c) => h('label', { class: 'check' },
          h('input', { type: 'checkbox', class: 'camera-channel', value: c.track, checked: true }),
          h('span', null, c.name ? `${c.name} (${c.track})` : String(c.track)))))
      : null);
}

