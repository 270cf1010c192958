// The signed-in session: the access token in memory only, the refresh token in the
// HttpOnly `dipper_refresh` cookie the relay sets (docs/design/0090, "Tokens in the
// browser"), and every API call made with the bearer token, renewed once on a 401.
//
// A reload or a new tab has no access token: `resume()` trades the cookie for one.
//
// With an OpenID Connect provider (`GET /api/v1/auth/config` names it), signing in is the
// authorization code flow with PKCE as a public client: the state and the verifier wait in
// sessionStorage for the redirect's round trip only; the provider's access token is what the
// API gets, its refresh token stays in memory, and a reload asks the provider again without
// a prompt (`prompt=none`), falling back to the sign-in page when it has no session.

import { ApiError, send, readEvents } from './common/api.js';

let access = '';
let expiresAt = 0;
/** The caller as `GET /api/v1/me` tells (null when signed out). */
let me = null;
let onSignedOut = () => {};
let renewing = null;
/** `relay` (the relay's accounts, the cookie) or `oidc` (the provider's tokens). */
let mode = 'relay';
/** The provider: `{ config, discovery }`, once used. */
let provider = null;
let providerRefresh = '';
const OIDC_ROUND_TRIP = 'dipper.oidc';
const OIDC_USED = 'dipper.oidc.used';

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
  mode = 'relay';
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
    const renewal = mode === 'oidc' ? renewAtProvider()
      : send('/api/v1/auth/refresh', jsonInit('POST', { cookie: true })).then(({ data }) => keep(data));
    renewing = renewal.finally(() => { renewing = null; });
  }
  return renewing;
}

async function renewAtProvider() {
  if (!providerRefresh) throw new ApiError(401, 'token_expired', 'no refresh token from the provider');
  const { data } = await send(provider.discovery.token_endpoint, formInit({
    grant_type: 'refresh_token', refresh_token: providerRefresh, client_id: provider.config.client_id,
  }));
  if (data.refresh_token) providerRefresh = data.refresh_token;
  keep(data);
}

// ---------------------------------------------------------------------------------------
// OpenID Connect

/** How to sign in: `{ oidc: { issuer, client_id, scope } | null }`. */
export async function authConfig() {
  const { data } = await send('/api/v1/auth/config', { headers: { accept: 'application/json' }, cache: 'no-store' });
  return data || { oidc: null };
}

const discoveries = new Map();

async function discover(issuer) {
  if (!discoveries.has(issuer)) {
    const { data } = await send(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`,
      { headers: { accept: 'application/json' }, credentials: 'omit' });
    discoveries.set(issuer, data);
  }
  return discoveries.get(issuer);
}

function base64url(bytes) {
  let text = '';
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const randomText = (n) => base64url(crypto.getRandomValues(new Uint8Array(n)));

function redirectUri() {
  return `${location.origin}/console/`;
}

function formInit(fields) {
  return {
    method: 'POST',
    headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields),
    credentials: 'omit',
    cache: 'no-store',
  };
}

/**
 * Goes to the provider's sign-in (`silent`: without a prompt, to renew after a reload).
 * Needs a secure context (HTTPS, or the relay on a loopback address) for SHA-256.
 */
export async function startOidc(config, silent = false) {
  if (!globalThis.crypto || !crypto.subtle) {
    throw new ApiError(0, 'oidc_insecure', 'single sign-on needs the console over HTTPS');
  }
  const discovery = await discover(config.issuer);
  const verifier = randomText(32);
  const state = randomText(16);
  const challenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  sessionStorage.setItem(OIDC_ROUND_TRIP, JSON.stringify({ state, verifier, silent, hash: location.hash }));
  const url = new URL(discovery.authorization_endpoint);
  const query = {
    response_type: 'code', client_id: config.client_id, redirect_uri: redirectUri(),
    scope: config.scope || 'openid', state, nonce: randomText(16),
    code_challenge: challenge, code_challenge_method: 'S256',
  };
  if (silent) query.prompt = 'none';
  for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
  location.assign(url.href);
}

/** Whether the last sign-in in this tab was through the provider (a reload asks it again). */
export function usedOidc() {
  try { return sessionStorage.getItem(OIDC_USED) === '1'; } catch { return false; }
}

/**
 * Completes the provider's redirect back (`?code=…&state=…`): trades the code for tokens;
 * the caller, or null when this load is not such a return. A refused or silent-failed
 * return rejects with an ApiError whose code is `oidc_<error>`.
 */
export async function finishOidc(config) {
  const params = new URLSearchParams(location.search);
  if (!params.has('state') || (!params.has('code') && !params.has('error'))) return null;
  let saved = null;
  try { saved = JSON.parse(sessionStorage.getItem(OIDC_ROUND_TRIP) || 'null'); } catch { saved = null; }
  sessionStorage.removeItem(OIDC_ROUND_TRIP);
  history.replaceState(null, '', `${location.pathname}${(saved && saved.hash) || ''}`);
  if (!saved || params.get('state') !== saved.state) {
    throw new ApiError(0, 'oidc_state', 'the sign-in answer does not match this tab\'s request');
  }
  if (params.has('error')) {
    sessionStorage.removeItem(OIDC_USED);
    const error = new ApiError(0, `oidc_${params.get('error')}`, params.get('error_description') || '');
    error.silent = saved.silent;
    throw error;
  }
  const discovery = await discover(config.issuer);
  const { data } = await send(discovery.token_endpoint, formInit({
    grant_type: 'authorization_code', code: params.get('code'), redirect_uri: redirectUri(),
    client_id: config.client_id, code_verifier: saved.verifier,
  }));
  mode = 'oidc';
  provider = { config, discovery };
  providerRefresh = data.refresh_token || '';
  keep(data);
  sessionStorage.setItem(OIDC_USED, '1');
  return loadMe();
}

/**
 * Signs out: the relay revokes the session's refresh tokens and clears the cookie; with the
 * provider, its refresh token is revoked there (when it offers revocation).
 */
export async function signOut() {
  try {
    if (mode === 'oidc') {
      sessionStorage.removeItem(OIDC_USED);
      const endpoint = provider && provider.discovery.revocation_endpoint;
      if (endpoint && providerRefresh) {
        await send(endpoint, formInit({
          token: providerRefresh, token_type_hint: 'refresh_token', client_id: provider.config.client_id,
        }));
      }
    } else {
      await send('/api/v1/auth/logout', jsonInit('POST', { cookie: true }));
    }
  } finally {
    access = '';
    providerRefresh = '';
    mode = 'relay';
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

function authInit(method, body, contentType, extra = {}) {
  const headers = { ...extra, accept: 'application/json' };
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

/**
 * API calls under way, kept on `window.__apiInFlight` (the browser tests wait for it to
 * reach zero before reading a page).
 */
let inFlight = 0;
function track(promise) {
  inFlight += 1;
  globalThis.__apiInFlight = inFlight;
  return promise.finally(() => {
    inFlight -= 1;
    globalThis.__apiInFlight = inFlight;
  });
}

/** Runs `attempt()` with the bearer token; on 401 renews once and tries again. */
function withRenewal(attempt) {
  return track(withRenewalNow(attempt));
}

async function withRenewalNow(attempt) {
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
 * `body` is sent as JSON, or as it is when `contentType` is given (a photo's bytes);
 * `headers` adds request headers (an `Idempotency-Key`).
 */
export function api(method, path, body, contentType, headers) {
  return withRenewal(async () => (await send(path, authInit(method, body, contentType, headers))).data);
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
      // Not counted in flight: a stream lasts as long as the page follows it.
      await withRenewalNow(async () => {
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
