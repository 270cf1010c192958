// The box's own helpers: the API client with its CSRF token, civil time in the box's zone,
// what the page knows of the box, and the uplink's activation string. The DOM builder,
// formatting and error display are the ones the box shares with the relay's console
// (web-common/assets/, served as /assets/common/), re-exported here so that the page's
// modules import them from one place.
//
// Nothing here touches the page when imported.

import { t } from '/assets/i18n.js';
import { ApiError, send } from '/assets/common/api.js';
import { formatTime } from '/assets/common/format.js';

export { h, append, fill, field, confirmButton } from '/assets/common/dom.js';
export { formatNumber, formatBytes, formatDuration, formatTime } from '/assets/common/format.js';
export { ApiError, errorText, errorBlock, showError, showMessage } from '/assets/common/api.js';

// ---------------------------------------------------------------------------------------
// The API

let csrf = '';
let authNeeded = () => {};

/** The session's CSRF token, from `GET /api/v1/session` or the setup and login answers. */
export function setCsrf(token) { csrf = typeof token === 'string' ? token : ''; }

/** Called with `unauthenticated` or `setup_required` when an answer says so. */
export function onAuthNeeded(handler) { authNeeded = handler; }

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
  try {
    return (await send(path, init)).data;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    const { status, code } = error;
    if (status === 401 && (code === 'unauthenticated' || code === 'setup_required')) {
      error.auth = true;
      authNeeded(code);
    } else if (status === 403 && !retried && method !== 'GET') {
      const session = await api('GET', '/api/v1/session').catch(() => null);
      if (session && session.signed_in && session.csrf && session.csrf !== csrf) {
        setCsrf(session.csrf);
        return api(method, path, body, true);
      }
    }
    throw error;
  }
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
