// The uplink view (the link to the cloud relay: activation, state) and the settings view.

import { t } from '/assets/i18n.js';
import {
  h, fill, field, api, errorBlock, showError, showMessage, confirmButton, formatBytes, formatDuration,
  formatNumber, formatTime, boxZone, box, uplinkSummary, parseActivation,
} from '/assets/util.js';

// ---------------------------------------------------------------------------------------
// Uplink

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function renderUplink(ctx) {
  const state = h('p', { id: 'uplink-state', class: 'summary', role: 'status' }, t('boot.loading'));
  const details = h('div');
  const error = h('div', { id: 'uplink-error', class: 'error', role: 'alert', hidden: true });

  const activation = h('textarea', {
    id: 'uplink-activation', rows: 3, spellcheck: 'false', autocomplete: 'off',
    placeholder: 'dipper://activate?relay=…&device_id=…&key=…',
  });
  const relay = h('input', { id: 'uplink-relay', type: 'url', placeholder: 'https://relay.example.com', autocomplete: 'off', spellcheck: 'false' });
  const device = h('input', { id: 'uplink-device', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const key = h('input', { id: 'uplink-key', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const activate = h('button', { id: 'uplink-activate', type: 'submit', class: 'primary' }, t('uplink.activate'));
  const parsed = h('small', { class: 'hint', 'aria-live': 'polite' });

  activation.addEventListener('input', () => {
    const text = activation.value.trim();
    if (!text) return fill(parsed);
    const values = parseActivation(text);
    if (!values) return fill(parsed, t('uplink.activation_invalid'));
    relay.value = values.relay;
    device.value = values.device_id;
    key.value = values.key;
    return fill(parsed, t('uplink.activation_read'));
  });

  async function onActivate(event) {
    event.preventDefault();
    showError(error, null);
    const body = { relay: relay.value.trim(), device_id: device.value.trim(), key: key.value.trim() };
    if (!body.relay || !body.device_id || !body.key) return showMessage(error, t('uplink.fields_missing'));
    if (!/^https?:\/\/./i.test(body.relay)) return showMessage(error, t('uplink.relay_invalid'));
    if (!UUID.test(body.device_id)) return showMessage(error, t('uplink.device_invalid'));
    activate.disabled = true;
    fill(parsed, t('uplink.activating'));
    try {
      const status = await api('POST', '/api/v1/uplink/activate', body);
      activation.value = '';
      key.value = '';
      fill(parsed);
      draw(status);
    } catch (e) {
      fill(parsed);
      showError(error, e, 'uplink');
    } finally {
      activate.disabled = false;
    }
    return undefined;
  }

  const form = h('form', { id: 'uplink-form', class: 'card', onsubmit: onActivate, hidden: true, novalidate: true },
    h('h2', null, t('uplink.activate_title')),
    h('p', { class: 'muted small' }, t('uplink.activate_intro')),
    field(t('uplink.activation'), activation, parsed),
    h('div', { class: 'form-grid' },
      field(t('uplink.relay'), relay), field(t('uplink.device'), device), field(t('uplink.key'), key)),
    h('div', { class: 'actions' }, activate));

  const deprovision = h('section', { class: 'card', hidden: true },
    h('h2', null, t('uplink.deprovision_title')),
    h('p', { class: 'muted small' }, t('uplink.deprovision_intro')),
    h('div', { class: 'actions' },
      confirmButton({ id: 'uplink-deprovision', class: 'danger' }, t('uplink.deprovision'), t('uplink.deprovision_confirm'), async () => {
        showError(error, null);
        try {
          await api('POST', '/api/v1/uplink/deprovision');
          await refresh();
        } catch (e) {
          showError(error, e, 'uplink');
        }
      })));

  function draw(status) {
    if (!ctx.alive || !status) return;
    const zone = box.zone;
    const outbox = status.outbox || {};
    fill(state, h('span', { class: ['badge', status.state] }, uplinkSummary(status, zone)),
      status.last_error && status.state !== 'connected'
        ? h('small', { class: 'detail' }, t('uplink.last_error'), ' ', status.last_error) : null);
    fill(details,
      h('dl', { class: 'facts' }, [
        [t('uplink.outbox'), t('uplink.outbox_depth', { messages: formatNumber(outbox.messages), bytes: formatBytes(outbox.bytes) })],
        status.outbox_oldest_seconds != null ? [t('uplink.outbox_oldest'), t('uplink.ago', { d: formatDuration(status.outbox_oldest_seconds) })] : null,
        outbox.quota_bytes ? [t('uplink.outbox_quota'), formatBytes(outbox.quota_bytes)] : null,
        status.published != null ? [t('uplink.published'), t('uplink.published_value', { published: formatNumber(status.published), acknowledged: formatNumber(status.acknowledged) })] : null,
        status.identity ? [t('uplink.identity'), status.identity] : null,
        status.broker_url ? [t('uplink.broker'), status.broker_url] : null,
        status.tenant ? [t('uplink.tenant'), t(`uplink.tenant_${status.tenant.standing}`)] : null,
      ].filter(Boolean).map(([label, value]) => h('div', null, h('dt', null, label), h('dd', { class: 'break' }, value)))));
    const activated = status.state && status.state !== 'not_activated';
    form.hidden = activated;
    deprovision.hidden = !activated;
  }

  async function refresh() {
    try {
      draw(await api('GET', '/api/v1/uplink/status'));
    } catch (e) {
      if (!ctx.alive || e.auth) return;
      fill(state, h('span', { class: 'badge bad' }, t('uplink.status_unknown')));
      fill(details, h('p', { class: 'error' }, errorBlock(e)));
    }
  }

  let timer = 0;
  const loop = async () => {
    await refresh();
    if (ctx.alive) timer = setTimeout(loop, 2000);
  };
  ctx.onLeave(() => clearTimeout(timer));
  boxZone().catch(() => null).finally(loop);

  return h('section', { id: 'uplink', class: 'view' },
    h('div', { class: 'view-head' }, h('h1', null, t('nav.uplink'))),
    h('section', { class: 'card' }, h('h2', null, t('uplink.connection')), state, details),
    error, form, deprovision);
}

// ---------------------------------------------------------------------------------------
// Settings

/** The settings' inputs: id, where the value sits in the JSON, label key, unit key. */
const SETTINGS = [
  ['settings-keep-days', ['retention', 'keep_days'], 'settings.keep_days', 'settings.keep_days_hint'],
  ['settings-quota', ['retention', 'quota_mib'], 'settings.quota', 'settings.quota_hint'],
  ['settings-min-free', ['disk', 'min_free_mib'], 'settings.min_free', 'settings.min_free_hint'],
  ['settings-frame-width', ['frame', 'width'], 'settings.frame_width', 'settings.pixels'],
  ['settings-frame-height', ['frame', 'height'], 'settings.frame_height', 'settings.pixels'],
];

export function renderSettings(ctx) {
  const inputs = new Map(SETTINGS.map(([id]) => [id, h('input', { id, type: 'number', min: 0, step: 1, inputmode: 'numeric', required: true })]));
  const saved = h('p', { class: 'notice', role: 'status', hidden: true });
  const error = h('div', { class: 'error', role: 'alert', hidden: true });
  const save = h('button', { id: 'settings-save', type: 'submit', class: 'primary', disabled: true }, t('action.save'));
  const time = h('dl', { class: 'facts' });

  function show(settings) {
    if (!ctx.alive || !settings) return;
    for (const [id, [group, name]] of SETTINGS) {
      const value = settings[group] && settings[group][name];
      inputs.get(id).value = value == null ? '' : String(value);
    }
    const clock = settings.time || {};
    if (clock.zone) box.zone = clock.zone;
    fill(time,
      h('div', null, h('dt', null, t('settings.zone')), h('dd', null, clock.zone || '–')),
      h('div', null, h('dt', null, t('settings.ntp')), h('dd', null, ntpBadge(clock.ntp_synchronized))),
      h('div', null, h('dt', null, t('status.box_time')), h('dd', null, formatTime(Date.now(), clock.zone))));
    save.disabled = false;
  }

  async function onSave(event) {
    event.preventDefault();
    showError(error, null);
    showMessage(saved, '');
    const body = {};
    for (const [id, [group, name]] of SETTINGS) {
      const input = inputs.get(id);
      input.removeAttribute('aria-invalid');
      const value = Number(input.value);
      if (input.value.trim() === '' || !Number.isInteger(value) || value < 0) {
        input.setAttribute('aria-invalid', 'true');
        input.focus();
        return showMessage(error, t('settings.invalid_number'));
      }
      body[group] = { ...body[group], [name]: value };
    }
    save.disabled = true;
    try {
      const answer = await api('PUT', '/api/v1/settings', body);
      show(answer);
      showMessage(saved, answer && answer.restart_needed ? `${t('settings.saved')} ${t('settings.restart')}` : t('settings.saved'));
    } catch (e) {
      const wrong = SETTINGS.find(([, path]) => e.field === path.join('.'));
      if (wrong) inputs.get(wrong[0]).setAttribute('aria-invalid', 'true');
      showError(error, e);
    } finally {
      save.disabled = false;
    }
    return undefined;
  }

  api('GET', '/api/v1/settings').then((settings) => {
    show(settings);
    if (settings && settings.restart_needed) showMessage(saved, t('settings.restart'));
  }, (e) => { if (ctx.alive) showError(error, e); });

  return h('section', { id: 'settings', class: 'view' },
    h('div', { class: 'view-head' }, h('h1', null, t('nav.settings'))),
    h('form', { class: 'card', onsubmit: onSave, novalidate: true },
      h('h2', null, t('settings.storage')),
      h('div', { class: 'form-grid' }, SETTINGS.map(([id, , label, hint]) => field(t(label), inputs.get(id), t(hint)))),
      error, saved,
      h('div', { class: 'actions' }, save)),
    h('section', { class: 'card' }, h('h2', null, t('settings.time')), time),
    h('section', { class: 'card' },
      h('h2', null, t('settings.diagnostics')),
      h('p', { class: 'muted small' }, t('settings.diagnostics_intro')),
      h('a', { id: 'settings-diagnostics', class: 'button', href: '/api/v1/diagnostics', download: 'dipper-diagnostics.json' },
        t('settings.diagnostics_download'))),
    passwordForm(ctx));
}

/** The clock's NTP state: yes, no, or null when the box cannot tell. */
function ntpBadge(synchronized) {
  if (synchronized == null) return h('span', { class: 'badge unknown' }, t('settings.ntp_unknown'));
  return synchronized ? h('span', { class: 'badge ok' }, t('settings.ntp_yes'))
    : h('span', { class: 'badge bad' }, t('settings.ntp_no'));
}

function passwordForm(ctx) {
  const current = h('input', { id: 'password-current', type: 'password', autocomplete: 'current-password', required: true });
  const next = h('input', { id: 'password-new', type: 'password', autocomplete: 'new-password', required: true });
  const error = h('div', { id: 'password-error', class: 'error', role: 'alert', hidden: true });
  const change = h('button', { id: 'password-change', type: 'submit', class: 'primary' }, t('password.change'));

  async function onSubmit(event) {
    event.preventDefault();
    showError(error, null);
    if (!current.value || !next.value) return showMessage(error, t('password.missing'));
    change.disabled = true;
    try {
      await api('PUT', '/api/v1/session/password', { current: current.value, new: next.value });
      ctx.signedOut(t('password.changed'));
    } catch (e) {
      showError(error, e, 'password');
    } finally {
      change.disabled = false;
    }
    return undefined;
  }

  return h('form', { class: 'card', onsubmit: onSubmit, novalidate: true },
    h('h2', null, t('password.title')),
    h('p', { class: 'muted small' }, t('password.intro')),
    h('div', { class: 'form-grid' },
      field(t('password.current'), current), field(t('password.new'), next, t('setup.hint_rule'))),
    error,
    h('div', { class: 'actions' }, change));
}
