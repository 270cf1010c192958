// Numbers, sizes, durations and times in the page's language.

import { t, locale } from './i18n.js';

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
