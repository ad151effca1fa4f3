// Time and duration formatting. All inputs are microseconds, as in the Jaeger JSON.

export type TimeZoneMode = 'local' | 'utc';

function trimNumber(x: number, decimals: number): string {
  return x.toFixed(decimals).replace(/\.?0+$/, '');
}

/** `742μs`, `12.35ms`, `1.5s`, `2m 3s`, `1h 2m`. */
export function formatDuration(us: number): string {
  if (!Number.isFinite(us)) return '–';
  const neg = us < 0 ? '-' : '';
  const a = Math.abs(us);
  if (a < 1000) return `${neg}${trimNumber(a, 2)}μs`;
  if (a < 1_000_000) return `${neg}${trimNumber(a / 1000, 2)}ms`;
  if (a < 60_000_000) return `${neg}${trimNumber(a / 1_000_000, 2)}s`;
  if (a < 3_600_000_000) {
    const m = Math.floor(a / 60_000_000);
    const s = Math.round((a - m * 60_000_000) / 1_000_000);
    return `${neg}${m}m${s ? ` ${s}s` : ''}`;
  }
  const h = Math.floor(a / 3_600_000_000);
  const m = Math.round((a - h * 3_600_000_000) / 60_000_000);
  return `${neg}${h}h${m ? ` ${m}m` : ''}`;
}

const UNIT_US: Record<string, number> = { ns: 0.001, us: 1, 'µs': 1, 'μs': 1, ms: 1000, s: 1_000_000, m: 60_000_000, h: 3_600_000_000 };

/** Parses `1.2ms`, `500us`, `2s`, `1m30s` into microseconds; null when it is not a duration. */
export function parseDuration(text: string): number | null {
  const t = text.trim();
  if (t === '') return null;
  const part = /(\d+(?:\.\d+)?|\.\d+)\s*(ns|us|µs|μs|ms|s|m|h)/gy;
  let total = 0;
  let at = 0;
  let m: RegExpExecArray | null;
  while ((m = part.exec(t)) !== null) {
    total += parseFloat(m[1]) * UNIT_US[m[2]];
    at = part.lastIndex;
    while (at < t.length && t[at] === ' ') at++;
    part.lastIndex = at;
  }
  return at === t.length && at > 0 ? total : null;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

interface Parts {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
  ms: number;
}

function partsOf(us: number, zone: TimeZoneMode): Parts {
  const date = new Date(Math.floor(us / 1000));
  return zone === 'utc'
    ? { y: date.getUTCFullYear(), mo: date.getUTCMonth() + 1, d: date.getUTCDate(), h: date.getUTCHours(), mi: date.getUTCMinutes(), s: date.getUTCSeconds(), ms: date.getUTCMilliseconds() }
    : { y: date.getFullYear(), mo: date.getMonth() + 1, d: date.getDate(), h: date.getHours(), mi: date.getMinutes(), s: date.getSeconds(), ms: date.getMilliseconds() };
}

/** `2024-03-05 14:03:07.123` (with ` UTC` appended in UTC mode). */
export function formatTimestamp(us: number, zone: TimeZoneMode = 'local'): string {
  const p = partsOf(us, zone);
  const text = `${p.y}-${pad(p.mo)}-${pad(p.d)} ${pad(p.h)}:${pad(p.mi)}:${pad(p.s)}.${pad(p.ms, 3)}`;
  return zone === 'utc' ? `${text} UTC` : text;
}

/** `14:03:07.123`. */
export function formatTimeOfDay(us: number, zone: TimeZoneMode = 'local'): string {
  const p = partsOf(us, zone);
  return `${pad(p.h)}:${pad(p.mi)}:${pad(p.s)}.${pad(p.ms, 3)}`;
}

/** `just now`, `42 seconds ago`, `3 minutes ago`, `2 hours ago`, `5 days ago`, or `in …` for the future. */
export function formatRelative(us: number, nowMs: number): string {
  const diffS = Math.round((nowMs * 1000 - us) / 1_000_000);
  const a = Math.abs(diffS);
  if (a < 5) return 'just now';
  const [n, unit] =
    a < 60 ? [a, 'second'] : a < 3600 ? [Math.floor(a / 60), 'minute'] : a < 86400 ? [Math.floor(a / 3600), 'hour'] : [Math.floor(a / 86400), 'day'];
  const text = `${n} ${unit}${n === 1 ? '' : 's'}`;
  return diffS >= 0 ? `${text} ago` : `in ${text}`;
}

/** Value for an `<input type="datetime-local">`: `2024-03-05T14:03`. */
export function toDateTimeInput(us: number, zone: TimeZoneMode): string {
  const p = partsOf(us, zone);
  return `${p.y}-${pad(p.mo)}-${pad(p.d)}T${pad(p.h)}:${pad(p.mi)}`;
}

/** Reads an `<input type="datetime-local">` value in the given zone; null when empty or invalid. */
export function fromDateTimeInput(text: string, zone: TimeZoneMode): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(text.trim());
  if (!m) return null;
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number);
  const ms = zone === 'utc' ? Date.UTC(y, mo - 1, d, h, mi, s) : new Date(y, mo - 1, d, h, mi, s).getTime();
  return Number.isNaN(ms) ? null : ms * 1000;
}

/** Lookback presets of the search form, with their length in microseconds. */
export const LOOKBACKS: { value: string; label: string; us: number }[] = [
  { value: '5m', label: 'Last 5 minutes', us: 5 * 60e6 },
  { value: '15m', label: 'Last 15 minutes', us: 15 * 60e6 },
  { value: '30m', label: 'Last 30 minutes', us: 30 * 60e6 },
  { value: '1h', label: 'Last hour', us: 3600e6 },
  { value: '2h', label: 'Last 2 hours', us: 2 * 3600e6 },
  { value: '3h', label: 'Last 3 hours', us: 3 * 3600e6 },
  { value: '6h', label: 'Last 6 hours', us: 6 * 3600e6 },
  { value: '12h', label: 'Last 12 hours', us: 12 * 3600e6 },
  { value: '24h', label: 'Last 24 hours', us: 24 * 3600e6 },
  { value: '2d', label: 'Last 2 days', us: 2 * 86400e6 },
  { value: '7d', label: 'Last 7 days', us: 7 * 86400e6 },
];

/** Length of a lookback such as `1h`, `2d`, `30m`; null for `custom` or nonsense. */
export function lookbackUs(value: string): number | null {
  const m = /^(\d+)(m|h|d|w)$/.exec(value);
  if (!m) return null;
  const unit = { m: 60e6, h: 3600e6, d: 86400e6, w: 7 * 86400e6 }[m[2] as 'm' | 'h' | 'd' | 'w'];
  return Number(m[1]) * unit;
}

/** Thousands separators: 100000 → `100,000`. */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** Tick marks for a time axis of `duration` µs: about `target` round steps. */
export function timeTicks(duration: number, target = 5): number[] {
  if (!(duration > 0)) return [0];
  const raw = duration / target;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let t = 0; t <= duration + 1e-9; t += step) out.push(t);
  return out;
}
