// The time axis of the search results' scatter plot. uPlot widens a time scale whose data has one
// value to 1,000 days (its default for `min == max`), which put a single result at the far left of
// a three-year axis; this range is computed from the points themselves instead.

/** The narrowest time axis, in seconds: one or a few close results sit in a one-minute window. */
export const MIN_TIME_SPAN_S = 60;

/** Padding on each side, as a share of the points' spread, so edge points are not cut in half. */
export const TIME_PAD = 0.04;

/**
 * The x range, in seconds, for points at `xs` (seconds since the epoch): the points' spread plus
 * padding, at least {@link MIN_TIME_SPAN_S} wide and centred on the points. `null` for no points.
 */
export function timeAxisRange(xs: readonly number[]): [number, number] | null {
  let min = Infinity;
  let max = -Infinity;
  for (const x of xs) {
    if (!Number.isFinite(x)) continue;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  if (min > max) return null;
  const spread = max - min;
  const span = Math.max(spread * (1 + 2 * TIME_PAD), MIN_TIME_SPAN_S);
  const mid = (min + max) / 2;
  return [mid - span / 2, mid + span / 2];
}

/** The y range (durations, any unit) from 0 to 10 % above the largest; [0, 1] when all are 0. */
export function durationAxisRange(max: number | null | undefined): [number, number] {
  return [0, max !== null && max !== undefined && Number.isFinite(max) && max > 0 ? max * 1.1 : 1];
}
