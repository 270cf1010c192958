// Talking to a JSON API: one error type for both pages (the error body both programs answer
// with: `{"error": code, "message": …, "field"?: …}`), the sentence shown for an error, and
// server-sent events read through fetch() (so they can carry an Authorization header).

import { t } from './i18n.js';
import { h, fill } from './dom.js';

/** An API error: the JSON error body's code and message, or `network` when no answer came. */
export class ApiError extends Error {
  constructor(status, code, message, body = {}) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.body = body;
    this.field = typeof body.field === 'string' ? body.field : null;
    /** Set when the page went to its sign-in view: nothing more to show. */
    this.auth = false;
  }
}

/**
 * Sends a request; resolves to `{ res, data }` (data: the parsed JSON, or null) when the
 * answer is 2xx, rejects with an ApiError otherwise (`network` when no answer came).
 */
export async function send(path, init) {
  let res;
  let text;
  try {
    res = await fetch(path, init);
    text = await res.text();
  } catch (e) {
    throw new ApiError(0, 'network', String((e && e.message) || e));
  }
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (res.ok) return { res, data: res.status === 204 ? null : data };
  const errorBody = data && typeof data === 'object' ? data : {};
  const code = typeof errorBody.error === 'string' ? errorBody.error : `http_${res.status}`;
  const after = Number(res.headers.get('retry-after'));
  if (Number.isFinite(after) && errorBody.retry_after_seconds == null) {
    errorBody.retry_after_seconds = after;
  }
  throw new ApiError(res.status, code, errorBody.message, errorBody);
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
 * when it says more (it names the field or the reason).
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

/**
 * Parses a text/event-stream body as it arrives: calls `onEvent({ event, data, id })` for
 * each event (`event` defaults to `message`; `data` is the joined data lines, as text).
 * Resolves when the stream ends; rejects when reading fails (an aborted fetch).
 */
export async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let event = { event: 'message', data: [], id: null };
  const dispatch = () => {
    if (event.data.length > 0) {
      onEvent({ event: event.event, data: event.data.join('\n'), id: event.id });
    }
    event = { event: 'message', data: [], id: null };
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let newline;
    while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
      if (line === '') { dispatch(); continue; }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const name = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (name === 'event') event.event = value;
      else if (name === 'data') event.data.push(value);
      else if (name === 'id') event.id = value;
    }
  }
}
