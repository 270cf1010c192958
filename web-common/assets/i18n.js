// The words of a page in English and Simplified Chinese: the lookup both pages share.
//
// Each page (and each of its views) adds its own words with `register(en, zh)`; the words
// here (units) are common. `t(key, params)` looks a key up in the current language (then
// in English) and fills `{name}` blanks from `params`; an entry may be a function of
// `params` (for plurals). The language is the one remembered in localStorage `dipper.lang`,
// else the browser's first preference (any `zh*` is Chinese), else English.

const STORAGE_KEY = 'dipper.lang';

const dictionaries = {
  en: {
    'unit.d': '{n} d',
    'unit.h': '{n} h',
    'unit.min': '{n} min',
    'unit.s': '{n} s',
    'unit.join': ' ',
  },
  zh: {
    'unit.d': '{n}天',
    'unit.h': '{n}小时',
    'unit.min': '{n}分',
    'unit.s': '{n}秒',
    'unit.join': '',
  },
};
let current = null;

/** Adds words (later registrations win on a shared key). */
export function register(en, zh) {
  Object.assign(dictionaries.en, en);
  Object.assign(dictionaries.zh, zh);
}

/** A plural choice: `one` when `n` is 1, else `many`. */
export const plural = (n, one, many) => (Number(n) === 1 ? one : many);

/** The language to start with: remembered, else the browser's preference. */
function detect() {
  try {
    const saved = globalThis.localStorage && localStorage.getItem(STORAGE_KEY);
    if (saved === 'en' || saved === 'zh') return saved;
  } catch {
    // Storage may be off (private mode): fall through.
  }
  const nav = globalThis.navigator;
  const wanted = (nav && (nav.languages && nav.languages.length ? nav.languages : [nav.language])) || [];
  return wanted.some((tag) => /^zh\b/i.test(tag || '')) ? 'zh' : 'en';
}

/** `en` or `zh`. */
export function lang() {
  if (!current) current = detect();
  return current;
}

/** The BCP 47 tag for `<html lang>` and Intl: `en` or `zh-CN`. */
export function locale() {
  return lang() === 'zh' ? 'zh-CN' : 'en';
}

/** Switches the language and remembers it; the caller re-renders. */
export function setLang(next) {
  current = dictionaries[next] ? next : 'en';
  try { localStorage.setItem(STORAGE_KEY, current); } catch { /* not remembered */ }
}

/** The text for `key`; `fallback` (default: the key itself) when no language has it. */
export function t(key, params = {}, fallback = key) {
  const entry = dictionaries[lang()][key] ?? dictionaries.en[key];
  if (entry == null) return fallback;
  const text = typeof entry === 'function' ? entry(params || {}) : entry;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (params && params[name] != null ? String(params[name]) : whole));
}

export const dictionariesForTests = dictionaries;
