import { describe, expect, it } from 'vitest';
import { formatDuration, formatRelative, formatTimestamp, fromDateTimeInput, lookbackUs, parseDuration, timeTicks, toDateTimeInput } from './format';

describe('formatDuration', () => {
  it('picks a unit by size', () => {
    expect(formatDuration(0)).toBe('0μs');
    expect(formatDuration(742)).toBe('742μs');
    expect(formatDuration(1000)).toBe('1ms');
    expect(formatDuration(12_345)).toBe('12.35ms');
    expect(formatDuration(1_500_000)).toBe('1.5s');
    expect(formatDuration(123_000_000)).toBe('2m 3s');
    expect(formatDuration(120_000_000)).toBe('2m');
    expect(formatDuration(3_720_000_000)).toBe('1h 2m');
    expect(formatDuration(-2000)).toBe('-2ms');
    expect(formatDuration(Number.NaN)).toBe('–');
  });
});

describe('parseDuration', () => {
  it('reads Jaeger duration strings', () => {
    expect(parseDuration('1.2ms')).toBeCloseTo(1200);
    expect(parseDuration('500us')).toBe(500);
    expect(parseDuration('500µs')).toBe(500);
    expect(parseDuration('2s')).toBe(2_000_000);
    expect(parseDuration('1m30s')).toBe(90_000_000);
    expect(parseDuration(' 1h ')).toBe(3_600_000_000);
    expect(parseDuration('1500ns')).toBeCloseTo(1.5);
  });
  it('rejects numbers without units and junk', () => {
    expect(parseDuration('')).toBeNull();
    expect(parseDuration('12')).toBeNull();
    expect(parseDuration('ms')).toBeNull();
    expect(parseDuration('1ms x')).toBeNull();
  });
});

describe('timestamps', () => {
  const us = Date.UTC(2024, 2, 5, 14, 3, 7, 123) * 1000;
  it('formats in UTC', () => {
    expect(formatTimestamp(us, 'utc')).toBe('2024-03-05 14:03:07.123 UTC');
  });
  it('round-trips datetime-local values in UTC and local time', () => {
    expect(toDateTimeInput(us, 'utc')).toBe('2024-03-05T14:03');
    expect(fromDateTimeInput('2024-03-05T14:03', 'utc')).toBe(Date.UTC(2024, 2, 5, 14, 3) * 1000);
    const local = fromDateTimeInput(toDateTimeInput(us, 'local'), 'local') as number;
    expect(Math.abs(local - us)).toBeLessThan(60e6);
    expect(fromDateTimeInput('nonsense', 'utc')).toBeNull();
  });
  it('says how long ago', () => {
    const now = Date.UTC(2024, 2, 5, 15, 0, 0);
    expect(formatRelative(now * 1000, now)).toBe('just now');
    expect(formatRelative((now - 42_000) * 1000, now)).toBe('42 seconds ago');
    expect(formatRelative((now - 60_000) * 1000, now)).toBe('1 minute ago');
    expect(formatRelative((now - 3 * 3600_000) * 1000, now)).toBe('3 hours ago');
    expect(formatRelative((now - 5 * 86400_000) * 1000, now)).toBe('5 days ago');
    expect(formatRelative((now + 120_000) * 1000, now)).toBe('in 2 minutes');
  });
});

describe('lookbacks and ticks', () => {
  it('reads lookbacks', () => {
    expect(lookbackUs('1h')).toBe(3600e6);
    expect(lookbackUs('2d')).toBe(2 * 86400e6);
    expect(lookbackUs('custom')).toBeNull();
  });
  it('makes round ticks', () => {
    expect(timeTicks(1000, 5)).toEqual([0, 200, 400, 600, 800, 1000]);
    expect(timeTicks(0)).toEqual([0]);
  });
});
