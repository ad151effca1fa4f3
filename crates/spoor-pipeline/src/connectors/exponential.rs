//! A base-2 exponential histogram as OpenTelemetry defines it (the `spanmetrics` connector's
//! `histogram.exponential`): at scale `s` the base is `2^(2^-s)` and bucket `i` holds the values
//! in `(base^i, base^(i+1)]`. It starts at scale 20 and, when a value would need more than
//! `max_size` buckets, lowers the scale (each step halves the resolution and merges bucket pairs,
//! `index >> 1`) until every value fits, as the OTel SDKs do. Zero goes to the zero bucket;
//! durations are never negative.

use opentelemetry_proto::tonic::metrics::v1::ExponentialHistogramDataPoint;
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;

/// The finest scale the SDKs use.
pub(crate) const MAX_SCALE: i32 = 20;
/// The coarsest scale: two buckets cover every `f64`.
const MIN_SCALE: i32 = -10;

/// Weighted counts per bucket, `counts[k]` for index `offset + k`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExpHistogram {
    max_size: usize,
    pub(crate) scale: i32,
    pub(crate) offset: i32,
    pub(crate) counts: Vec<f64>,
    pub(crate) zero_count: f64,
    pub(crate) sum: f64,
    pub(crate) count: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

/// The bucket index of `value` (> 0) at `scale`: `ceil(log2(value) * 2^scale) - 1`, exact for
/// powers of two (which are upper boundaries).
pub(crate) fn index(value: f64, scale: i32) -> i32 {
    let log = value.log2();
    let scaled = log * (f64::from(scale)).exp2();
    let i = scaled.ceil() - 1.0;
    i.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
}

impl ExpHistogram {
    pub(crate) fn new(max_size: usize) -> Self {
        Self {
            max_size: max_size.max(2),
            scale: MAX_SCALE,
            offset: 0,
            counts: Vec::new(),
            zero_count: 0.0,
            sum: 0.0,
            count: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    pub(crate) fn observe(&mut self, value: f64, weight: f64) {
        if !value.is_finite() || value < 0.0 {
            return;
        }
        self.sum += value * weight;
        self.count += weight;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if value == 0.0 {
            self.zero_count += weight;
            return;
        }
        let mut i = index(value, self.scale);
        if !self.counts.is_empty() {
            let lo = self.offset.min(i);
            let hi = (self.offset + self.counts.len() as i32 - 1).max(i);
            let mut change = 0;
            while self.scale - change > MIN_SCALE
                && ((hi >> change) - (lo >> change)) as usize + 1 > self.max_size
            {
                change += 1;
            }
            if change > 0 {
                self.downscale(change);
                i = index(value, self.scale);
            }
        }
        if self.counts.is_empty() {
            self.offset = i;
            self.counts.push(0.0);
        } else if i < self.offset {
            let grow = (self.offset - i) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0.0, grow));
            self.offset = i;
        } else if i >= self.offset + self.counts.len() as i32 {
            self.counts.resize((i - self.offset) as usize + 1, 0.0);
        }
        if let Some(c) = self.counts.get_mut((i - self.offset) as usize) {
            *c += weight;
        }
    }

    /// Lowers the scale by `change`: bucket `i` becomes `i >> change`.
    fn downscale(&mut self, change: i32) {
        let new_offset = self.offset >> change;
        let mut merged: Vec<f64> = Vec::new();
        for (k, c) in self.counts.iter().enumerate() {
            let j = ((self.offset + k as i32) >> change) - new_offset;
            let j = j as usize;
            if merged.len() <= j {
                merged.resize(j + 1, 0.0);
            }
            merged[j] += c;
        }
        self.offset = new_offset;
        self.counts = merged;
        self.scale -= change;
    }

    /// The OTLP point (counts rounded: weighted counts may be fractional).
    pub(crate) fn to_point(&self) -> ExponentialHistogramDataPoint {
        ExponentialHistogramDataPoint {
            count: self.count.round() as u64,
            sum: Some(self.sum),
            scale: self.scale,
            zero_count: self.zero_count.round() as u64,
            positive: Some(Buckets {
                offset: self.offset,
                bucket_counts: self.counts.iter().map(|c| c.round() as u64).collect(),
            }),
            negative: None,
            min: (self.count > 0.0).then_some(self.min),
            max: (self.count > 0.0).then_some(self.max),
            zero_threshold: 0.0,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lower and upper boundary of bucket `index` at `scale`.
    fn bounds(index: i32, scale: i32) -> (f64, f64) {
        let step = (-f64::from(scale)).exp2();
        (
            (f64::from(index) * step).exp2(),
            ((f64::from(index) + 1.0) * step).exp2(),
        )
    }

    #[test]
    fn index_follows_the_otel_mapping() {
        // Scale 0: base 2, bucket i is (2^i, 2^(i+1)]; powers of two are upper bounds.
        assert_eq!(index(1.0, 0), -1);
        assert_eq!(index(2.0, 0), 0);
        assert_eq!(index(3.0, 0), 1);
        assert_eq!(index(4.0, 0), 1);
        assert_eq!(index(4.1, 0), 2);
        // Scale 1: base sqrt 2.
        assert_eq!(index(1.5, 1), 1);
        assert_eq!(index(2.0, 1), 1);
        // Scale -1: base 4.
        assert_eq!(index(4.0, -1), 0);
        assert_eq!(index(8.0, -1), 1);
        assert_eq!(index(0.25, -1), -2);
        // A value is within its bucket's bounds at every scale.
        for scale in [-3, 0, 3, 8, 20] {
            for v in [0.001, 0.0625, 0.3, 1.0, 1.7, 250.0, 12_345.6] {
                let (lo, hi) = bounds(index(v, scale), scale);
                assert!(
                    lo < v * (1.0 + 1e-9) && v <= hi * (1.0 + 1e-9),
                    "{v} at {scale}: ({lo}, {hi}]"
                );
            }
        }
    }

    #[test]
    fn the_scale_drops_until_every_value_fits_in_max_size_buckets() {
        let mut h = ExpHistogram::new(4);
        h.observe(1.0, 1.0);
        assert_eq!((h.scale, h.counts.len()), (MAX_SCALE, 1));
        // 1 and 2 are one doubling apart: at scale 1 they are 2 buckets apart (index -1 and 1).
        h.observe(2.0, 1.0);
        assert_eq!(h.scale, 1);
        assert_eq!(h.offset, -1);
        assert_eq!(h.counts, vec![1.0, 0.0, 1.0]);
        // 1 to 16: 4 doublings; scale 0 needs 5 buckets (−1..=3), scale −1 needs 3 (−1..=1).
        h.observe(16.0, 2.0);
        assert_eq!(h.scale, -1);
        assert_eq!((h.offset, h.counts.clone()), (-1, vec![1.0, 1.0, 2.0]));
        h.observe(0.0, 1.0);
        assert_eq!((h.zero_count, h.count, h.sum), (1.0, 5.0, 35.0));
        assert_eq!((h.min, h.max), (0.0, 16.0));
        // Every value still lies in its bucket.
        for v in [1.0, 2.0, 16.0] {
            let k = (index(v, h.scale) - h.offset) as usize;
            assert!(h.counts[k] > 0.0, "{v}");
        }
        let p = h.to_point();
        assert_eq!((p.scale, p.count, p.zero_count), (-1, 5, 1));
        assert_eq!(
            p.positive.map(|b| (b.offset, b.bucket_counts)),
            Some((-1, vec![1, 1, 2]))
        );
    }

    #[test]
    fn many_values_keep_at_most_max_size_buckets_at_the_finest_scale_that_fits() {
        let mut h = ExpHistogram::new(160);
        for i in 1..=10_000 {
            h.observe(f64::from(i) / 1000.0, 1.0);
        }
        assert!(h.counts.len() <= 160, "{}", h.counts.len());
        // 0.001 s .. 10 s is log2(10^4) ≈ 13.3 doublings: scale 3 (8 per doubling, 107
        // buckets) fits, scale 4 (213) does not.
        assert_eq!(h.scale, 3);
        assert_eq!(h.counts.iter().sum::<f64>(), 10_000.0);
    }
}
