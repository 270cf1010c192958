// Shared helpers: the DOM builder, the API client, formatting, and the box's time zone.
//
// Nothing here touches the page when imported, so node can load this module to test the
// pure helpers.

import { t, locale } from '/assets/i18n.js';

// ---------------------------------------------------------------------------------------
// DOM

/** Properties set as such rather than as attributes (their live state matters). */
const PROPS = new Set(['value', 'checked', 'disabled', 'hidden', 'open', 'selected']);

/**
 * Builds an element. Text always goes in through text nodes and attributes through
 * setAttribute, so data from the API can never become markup. `on*` keys take functions
 * only (added with addEventListener); a string there is a programming error.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key.startsWith('on')) {
      if (typeof value !== 'function') throw new TypeError(`${key} must be a function`);
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'class') {
      el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
    } else if (PROPS.has(key)) {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

/** Appends children: nodes, text (strings, numbers) and nested arrays; null is skipped. */
export function append(el, children) {
  for (const child of children) {
    if (child == null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (typeof child === 'object' && 'nodeType' in child) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces an element's content. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A labelled input: `<label>` around the text and the control. */
export function field(label, control, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'label' }, label), control,
    hint ? h('small', { class: 'hint' }, hint) : null);
}

/**
 * A button that asks for a second click before acting (no window.confirm): the first click
 * turns it into "Click again to …" for a few seconds.
 */
export function confirmButton(attrs, label, confirmLabel, action) {
  let armed = false;
  let timer = 0;
  const button = h('button', {
    type: 'button', ...attrs,
    onclick: () => {
      if (!armed) {
        armed = true;
        button.classList.add('armed');
        fill(button, confirmLabel);
        timer = setTimeout(disarm, 4000);
        return;
      }
      disarm();
      action();
    },
  }, label);
  function disarm() {
    clearTimeout(timer);
    armed = false;
    button.classList.remove('armed');
    fill(button, label);
  }
  return button;
}

// ---------------------------------------------------------------------------------------
// The API

let csrf = '';
let authNeeded = () => {};

/** The session's CSRF token, from `GET /api/v1/session` or the setup and login answers. */
export function setCsrf(token) { csrf = typeof token === 'string' ? token : ''; }

/** Called with `unauthenticated` or `setup_required` when an answer says so. */
export function onAuthNeeded(handler) { authNeeded = handler; }

/** An API error: the JSON error body's code and message, or `network` when no answer came. */
export class ApiError extends Error {
  constructor(status, code, message, body = {}) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.body = body;
    this.field = typeof body.field === 'string' ? body.field : null;
    /** Set when the page went to the login or setup view: nothing more to show. */
    this.auth = false;
  }
}

/**
 * Calls the API; resolves to the JSON answer (null for 204), rejects with an ApiError.
 * A 403 (a stale CSRF token, e.g. after signing in from another tab) is tried once more
 * with the session's current token.
 */
export async function api(method, path, body, retried = false) {
  const headers = { accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrf;
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  let text;
  try {
    res = await fetch(path, init);
    text = await res.text();
  } catch (e) {
    throw new ApiError(0, 'network', String(e && e.message || e));
  }
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (res.ok) return res.status === 204 ? null : data;
  const errorBody = data && typeof data === 'object' ? data : {};
  const code = typeof errorBody.error === 'string' ? errorBody.error : `http_${res.status}`;
  const error = new ApiError(res.status, code, errorBody.message, errorBody);
  const after = Number(res.headers.get('retry-after'));
  if (Number.isFinite(after) && errorBody.retry_after_seconds == null) {
    errorBody.retry_after_seconds = after;
  }
  if (res.status === 401 && (code === 'unauthenticated' || code === 'setup_required')) {
    error.auth = true;
    authNeeded(code);
  } else if (res.status === 403 && !retried && method !== 'GET') {
    const session = await api('GET', '/api/v1/session').catch(() => null);
    if (session && session.signed_in && session.csrf && session.csrf !== csrf) {
      setCsrf(session.csrf);
      return api(method, path, body, true);
    }
  }
  throw error;
}

/**
 * The sentence for an error: the translation of its code (under `prefix`, then the general
 * `error.` ones), else the server's message. `params` fill the sentence's blanks.
 */
export function errorText(error, prefix = 'error', params = {}) {
  if (!(error instanceof ApiError)) return t('error.unexpected');
  const values = { ...error.body, status: error.status, ...params };
  for (const key of [`${prefix}.${error.code}`, `error.${error.code}`]) {
    const text = t(key, values, null);
    if (text != null) return text;
  }
  if (/^http_5/.test(error.code)) return t('error.http_5xx', values);
  return error.message || t('error.http', values);
}

/**
 * An error as a block: the translated sentence, and the server's own message under it
 * when it says more (it names the field or the device's reason).
 */
export function errorBlock(error, prefix, params) {
  if (error && error.auth) return null;
  const sentence = errorText(error, prefix, params);
  const detail = error instanceof ApiError && error.message && error.message !== sentence
    && error.code !== 'network' ? error.message : null;
  return [h('span', { class: 'sentence' }, sentence),
    detail ? h('small', { class: 'detail' }, detail) : null];
}

/** Shows an error (or nothing) in a message element; hides it when there is none. */
export function showError(el, error, prefix, params) {
  const content = error ? errorBlock(error, prefix, params) : null;
  if (!content) {
    el.hidden = true;
    el.replaceChildren();
    return;
  }
  fill(el, content);
  el.hidden = false;
}

/** Shows a plain message (a client-side check) in a message element. */
export function showMessage(el, text) {
  if (!text) { el.hidden = true; el.replaceChildren(); return; }
  fill(el, text);
  el.hidden = false;
}

// ---------------------------------------------------------------------------------------
// Formatting

const numberFormats = new Map();

export function formatNumber(n, digits = 0) {
  if (n == null || !Number.isFinite(Number(n))) return '–';
  const key = `${locale()}|${digits}`;
  if (!numberFormats.has(key)) {
    numberFormats.set(key, new Intl.NumberFormat(locale(),
      { maximumFractionDigits: digits, minimumFractionDigits: digits }));
  }
  return numberFormats.get(key).format(Number(n));
}

/** Bytes in binary units: 512 B, 1.5 KiB, 23 MiB, 1.2 TiB. */
export function formatBytes(bytes) {
  if (bytes == null || !Number.isFinite(Number(bytes))) return '–';
  let value = Number(bytes);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || Math.abs(value) >= 100 ? 0 : 1;
  return `${formatNumber(value, digits)} ${units[unit]}`;
}

/** A duration in its two largest units: "2 h 5 min", "45 s" / "2小时5分", "45秒". */
export function formatDuration(seconds) {
  if (seconds == null || !Number.isFinite(Number(seconds))) return '–';
  let rest = Math.max(0, Math.round(Number(seconds)));
  const parts = [];
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['min', 60], ['s', 1]]) {
    const count = Math.floor(rest / size);
    rest -= count * size;
    if (count > 0 || (unit === 's' && parts.length === 0)) parts.push(t(`unit.${unit}`, { n: count }));
    if (parts.length === 2) break;
    if (parts.length === 1 && count === 0) break;
  }
  return parts.join(t('unit.join'));
}

const timeFormats = new Map();

/** A date formatter in the box's zone; falls back to the browser's zone if it is unknown. */
function timeFormat(zone, withDate) {
  const key = `${locale()}|${zone}|${withDate}`;
  if (!timeFormats.has(key)) {
    const options = { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' };
    if (withDate) Object.assign(options, { year: 'numeric', month: 'short', day: 'numeric' });
    let format;
    try {
      format = new Intl.DateTimeFormat(locale(), { ...options, timeZone: zone || undefined });
    } catch {
      format = new Intl.DateTimeFormat(locale(), options);
    }
    timeFormats.set(key, format);
  }
  return timeFormats.get(key);
}

/** A Unix-ms instant as the box's wall clock shows it, e.g. "Nov 25, 2026, 08:00:00". */
export function formatTime(ms, zone, withDate = true) {
  if (ms == null || !Number.isFinite(Number(ms))) return '–';
  return timeFormat(zone, withDate).format(new Date(Number(ms)));
}

// ---------------------------------------------------------------------------------------
// Civil time in the box's zone
//
// A `datetime-local` input gives a wall-clock time with no zone; the box's footage is in the
// box's zone (`time_zone` of /api/v1/status), not necessarily the browser's. To turn
// "2026-11-25T08:00" in Asia/Shanghai into an instant:
//
// 1. Read the wall-clock time as if it were UTC: `guess` (ms).
// 2. A zone's UTC offset at an instant is found with Intl: format the instant in the zone,
//    read that back as UTC, subtract the instant (`zoneOffset`).
// 3. Offsets change at most twice a year, so the offsets a day before and a day after
//    `guess` are the only candidates. `guess - offset` is the answer for each candidate
//    offset that really is the zone's offset at that instant.
// 4. Two valid answers (a clock turned back: the hour happens twice): take the earlier.
//    None (a clock turned forward: the time never happens): use the offset from before the
//    change, which moves the time forward by the gap — what a wall clock would show
//    (Temporal's "compatible" choice).

const partFormats = new Map();

/** The wall-clock fields of an instant in `zone`. */
function zoneFields(ms, zone) {
  if (!partFormats.has(zone)) {
    partFormats.set(zone, new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit', era: 'short',
    }));
  }
  const fields = {};
  for (const part of partFormats.get(zone).formatToParts(new Date(ms))) fields[part.type] = part.value;
  let year = Number(fields.year);
  if (/^b/i.test(fields.era || '')) year = 1 - year;
  return {
    year, month: Number(fields.month), day: Number(fields.day),
    hour: Number(fields.hour) % 24, minute: Number(fields.minute), second: Number(fields.second),
  };
}

function utcOf(f) {
  const date = new Date(0);
  date.setUTCFullYear(f.year, f.month - 1, f.day);
  date.setUTCHours(f.hour, f.minute, f.second, 0);
  return date.getTime();
}

/** The zone's offset from UTC at an instant, in ms (Shanghai: +8 h). */
export function zoneOffset(ms, zone) {
  const whole = Math.floor(ms / 1000) * 1000;
  return utcOf(zoneFields(whole, zone)) - whole;
}

/** Parses "YYYY-MM-DDTHH:MM[:SS]" into fields; null when it is not one. */
function civilFields(text) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(text || '');
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1).map((x) => Number(x || 0));
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return null;
  return { year, month, day, hour, minute, second };
}

/** A wall-clock time in `zone` ("2026-11-25T08:00") as Unix ms; NaN when unreadable. */
export function civilToInstant(text, zone) {
  const fields = civilFields(text);
  if (!fields) return NaN;
  const guess = utcOf(fields);
  const day = 86400000;
  const offsets = [zoneOffset(guess - day, zone), zoneOffset(guess + day, zone)];
  const valid = offsets
    .map((offset) => guess - offset)
    .filter((instant) => zoneOffset(instant, zone) === guess - instant);
  if (valid.length > 0) return Math.min(...valid);
  return guess - offsets[0];
}

const pad = (n, width = 2) => String(Math.abs(n)).padStart(width, '0');

/** Unix ms as the wall clock in `zone` for a datetime-local input: "2026-11-25T08:00". */
export function instantToCivil(ms, zone) {
  const f = zoneFields(ms, zone);
  return `${pad(f.year, 4)}-${pad(f.month)}-${pad(f.day)}T${pad(f.hour)}:${pad(f.minute)}`;
}

/** Unix ms as RFC 3339 with the zone's offset: "2026-11-25T08:00:00+08:00". */
export function rfc3339(ms, zone) {
  const f = zoneFields(ms, zone);
  const offset = zoneOffset(ms, zone) / 60000;
  const sign = offset < 0 ? '-' : '+';
  return `${pad(f.year, 4)}-${pad(f.month)}-${pad(f.day)}T${pad(f.hour)}:${pad(f.minute)}:`
    + `${pad(f.second)}${sign}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
}

/** The zone if Intl knows it, else the browser's own. */
export function usableZone(zone) {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return zone;
  } catch {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  }
}

// ---------------------------------------------------------------------------------------
// What the page knows of the box

/** The box's time zone, learnt from /api/v1/status (null until then). */
export const box = { zone: null };

/** The box's time zone, asking the box when it is not known yet. */
export async function boxZone() {
  if (!box.zone) {
    try {
      const status = await api('GET', '/api/v1/status');
      if (status && status.time_zone) box.zone = status.time_zone;
    } catch (e) {
      if (e.auth) throw e;
      console.warn('time zone unknown, using the browser\'s', e);
    }
  }
  return usableZone(box.zone);
}

/** The uplink's state in a few words: "Online since …", "Not activated" … */
export function uplinkSummary(link, zone) {
  const since = link.since_ms ? formatTime(link.since_ms, zone) : null;
  switch (link.state) {
    case 'not_activated': return t('uplink.not_activated');
    case 'connecting': return t('uplink.connecting');
    case 'connected': return since ? t('uplink.online_since', { time: since }) : t('uplink.online');
    case 'disconnected': return since ? t('uplink.disconnected_since', { time: since }) : t('uplink.disconnected');
    default: return String(link.state || '–');
  }
}

// ---------------------------------------------------------------------------------------
// The uplink's activation string

/**
 * Reads `dipper://activate?relay=<url-encoded>&device_id=<uuid>&key=<key>`; null when the
 * text is not one. The query is decoded by hand: a `+` in a key stays a `+`.
 */
export function parseActivation(text) {
  let url;
  try { url = new URL(String(text).trim()); } catch { return null; }
  if (url.protocol !== 'dipper:') return null;
  // Browsers differ on hosts of unknown schemes: "activate" is the host or the path.
  const where = (url.hostname || url.pathname.replace(/^\/+/, '')).replace(/\/+$/, '');
  if (where.toLowerCase() !== 'activate') return null;
  const values = {};
  for (const pair of url.search.replace(/^\?/, '').split('&')) {
    const at = pair.indexOf('=');
    if (at < 0) continue;
    try {
      values[decodeURIComponent(pair.slice(0, at))] = decodeURIComponent(pair.slice(at + 1));
    } catch {
      return null;
    }
  }
  const { relay, device_id: deviceId, key } = values;
  if (!relay || !deviceId || !key) return null;
  return { relay, device_id: deviceId, key };
}
