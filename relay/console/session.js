// The signed-in session: the access token in memory only, the refresh token in the
// HttpOnly `dipper_refresh` cookie the relay sets (docs/design/0090, "Tokens in the
// browser"), and every API call made with the bearer token, renewed once on a 401.
//
// A reload or a new tab has no access token: `resume()` trades the cookie for one.

import { ApiError, send, readEvents } from './common/api.js';

let access = '';
let expiresAt = 0;
/** The caller as `GET /api/v1/me` tells (null when signed out). */
let me = null;
let onSignedOut = () => {};
let renewing = null;

/** Called (with the reason's code) when the session is gone and the page must sign in. */
export function whenSignedOut(handler) { onSignedOut = handler; }

/** The caller: `{ actor, user_id, tenant_id, platform_admin, grants: [{ role, area_id }] }`. */
export function caller() { return me; }

function keep(pair) {
  access = pair.access_token;
  expiresAt = Date.now() + (Number(pair.expires_in) || 0) * 1000;
}

async function loadMe() {
  me = await api('GET', '/api/v1/me');
  return me;
}

/** Signs in with e-mail and password (and the tenant, for a tenant's account). */
export async function signIn(email, password, tenantId) {
  const body = { email, password, cookie: true };
  if (tenantId) body.tenant_id = tenantId;
  const { data } = await send('/api/v1/auth/login', jsonInit('POST', body));
  keep(data);
  return loadMe();
}

/** Trades the refresh cookie for an access token; the caller, or null when there is none. */
export async function resume() {
  try {
    await renew();
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) return null;
    throw e;
  }
  return loadMe();
}

/** One renewal at a time: concurrent 401s wait for the same one (a refresh token is good once). */
function renew() {
  if (!renewing) {
    renewing = send('/api/v1/auth/refresh', jsonInit('POST', { cookie: true }))
      .then(({ data }) => keep(data))
      .finally(() => { renewing = null; });
  }
  return renewing;
}

/** Signs out: the relay revokes the session's refresh tokens and clears the cookie. */
export async function signOut() {
  try {
    await send('/api/v1/auth/logout', jsonInit('POST', { cookie: true }));
  } finally {
    access = '';
    me = null;
  }
}

function jsonInit(method, body) {
  return {
    method,
    headers: { accept: 'application/json', 'content-type': 'application/json' },
    body: JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  };
}

function authInit(method, body, contentType) {
  const headers = { accept: 'application/json' };
  if (access) headers.authorization = `Bearer ${access}`;
  const init = { method, headers, credentials: 'omit', cache: 'no-store' };
  if (body !== undefined) {
    if (contentType) {
      headers['content-type'] = contentType;
      init.body = body;
    } else {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
  }
  return init;
}

/** Runs `attempt()` with the bearer token; on 401 renews once and tries again. */
async function withRenewal(attempt) {
  if (access && expiresAt && Date.now() > expiresAt - 15000) {
    await renew().catch(() => {});
  }
  try {
    return await attempt();
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) throw e;
    try {
      await renew();
    } catch {
      access = '';
      me = null;
      e.auth = true;
      onSignedOut(e.code);
      throw e;
    }
    return attempt();
  }
}

/**
 * Calls the API; resolves to the JSON answer (null for 204), rejects with an ApiError.
 * `body` is sent as JSON, or as it is when `contentType` is given (a photo's bytes).
 */
export function api(method, path, body, contentType) {
  return withRenewal(async () => (await send(path, authInit(method, body, contentType))).data);
}

/** Fetches `path` as text (an invoice's HTML or CSV) with the bearer token. */
export function apiText(path) {
  return withRenewal(async () => {
    const init = authInit('GET');
    init.headers.accept = '*/*';
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'network', String((e && e.message) || e));
    }
    const text = await res.text();
    if (res.ok) return { text, type: res.headers.get('content-type') || '' };
    let body = {};
    try { body = JSON.parse(text); } catch { /* not JSON */ }
    throw new ApiError(res.status, body.error || `http_${res.status}`, body.message, body);
  });
}

/**
 * Follows a server-sent event stream with the bearer token (EventSource cannot send one):
 * `onEvent({ event, data, id })` per event; reconnects with `Last-Event-ID` after a drop
 * until `signal` aborts or `onEvent` returns `'stop'`. Resolves when stopped.
 */
export async function follow(path, onEvent, signal) {
  let last = null;
  let failures = 0;
  while (!signal.aborted) {
    let stop = false;
    try {
      await withRenewal(async () => {
        const init = authInit('GET');
        init.headers.accept = 'text/event-stream';
        if (last) init.headers['last-event-id'] = last;
        init.signal = signal;
        const res = await fetch(path, init);
        if (!res.ok) {
          let body = {};
          try { body = await res.json(); } catch { /* not JSON */ }
          throw new ApiError(res.status, body.error || `http_${res.status}`, body.message, body);
        }
        failures = 0;
        await readEvents(res.body, (event) => {
          if (event.id) last = event.id;
          if (onEvent(event) === 'stop') stop = true;
        });
      });
    } catch (e) {
      if (signal.aborted) return;
      if (e instanceof ApiError && e.status >= 400 && e.status < 500) throw e;
      failures += 1;
    }
    if (stop) return;
    await new Promise((resolve) => { setTimeout(resolve, Math.min(10000, 500 * 2 ** failures)); });
  }
}

// ---------------------------------------------------------------------------------------
// Roles

const RANK = { viewer: 1, operator: 2, tenant_admin: 3 };

/**
 * Whether the caller holds at least `role` (`viewer`, `operator`, `tenant_admin`) in its
 * tenant, on the whole tenant or (with `areaId`) on that area or an area above it
 * (`ancestors`: the area's ids from the root down). A platform admin holds every role.
 */
export function holds(role, areaId = null, ancestors = []) {
  if (!me) return false;
  if (me.platform_admin) return true;
  const wanted = RANK[role] || 99;
  return me.grants.some((g) => (RANK[g.role] || 0) >= wanted
    && (g.area_id == null || (areaId != null && (g.area_id === areaId || ancestors.includes(g.area_id)))));
}

/** Whether the caller holds `role` anywhere in its tenant (on any area). */
export function holdsAnywhere(role) {
  if (!me) return false;
  if (me.platform_admin) return true;
  const wanted = RANK[role] || 99;
  return me.grants.some((g) => (RANK[g.role] || 0) >= wanted);
}
