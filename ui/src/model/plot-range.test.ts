import { describe, expect, it } from 'vitest';
import { durationAxisRange, MIN_TIME_SPAN_S, timeAxisRange } from './plot-range';

const t0 = 1_790_000_000; // seconds since the epoch, late 2026

describe('timeAxisRange', () => {
  it('is null without points', () => {
    expect(timeAxisRange([])).toBeNull();
    expect(timeAxisRange([Number.NaN])).toBeNull();
  });

  it('centres a single point in a one-minute window', () => {
    const [lo, hi] = timeAxisRange([t0]) ?? [0, 0];
    expect(hi - lo).toBe(MIN_TIME_SPAN_S);
    expect((t0 - lo) / (hi - lo)).toBeCloseTo(0.5, 9);
  });

  it('keeps two close points inside a narrow window, not years', () => {
    const [lo, hi] = timeAxisRange([t0, t0 + 0.002]) ?? [0, 0];
    expect(hi - lo).toBe(MIN_TIME_SPAN_S);
    expect(lo).toBeLessThan(t0);
    expect(hi).toBeGreaterThan(t0 + 0.002);
  });

  it('pads a wide spread on both sides', () => {
    const [lo, hi] = timeAxisRange([t0 + 3600, t0, t0 + 1800]) ?? [0, 0];
    expect(lo).toBeCloseTo(t0 - 3600 * 0.04, 6);
    expect(hi).toBeCloseTo(t0 + 3600 * 1.04, 6);
  });
});

describe('durationAxisRange', () => {
  it('starts at zero with headroom', () => {
    const [lo, hi] = durationAxisRange(100);
    expect(lo).toBe(0);
    expect(hi).toBeCloseTo(110, 9);
    expect(durationAxisRange(0)).toEqual([0, 1]);
    expect(durationAxisRange(null)).toEqual([0, 1]);
  });
});
