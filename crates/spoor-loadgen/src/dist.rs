//! The few distributions the workload draws from, written out so the stream of numbers depends
//! only on the seeded RNG (no platform- or version-dependent sampling code).

use rand::Rng;

/// A standard normal deviate (Box–Muller; one of the pair is discarded for simplicity).
pub(crate) fn std_normal<R: Rng>(rng: &mut R) -> f64 {
    // random::<f64>() is in [0, 1); 1 - u is in (0, 1], so ln never sees zero.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A log-normal deviate with the given median and shape (`sigma` of the underlying normal).
pub(crate) fn log_normal<R: Rng>(rng: &mut R, median: f64, sigma: f64) -> f64 {
    median * (sigma * std_normal(rng)).exp()
}

/// A Zipf(s = 1) rank in `0..n`, approximated by inverting the continuous power law:
/// P(rank = r) ∝ ln((r + 2) / (r + 1)) ≈ 1 / (r + 1). O(1), no table: for high-cardinality ids.
pub(crate) fn zipf1<R: Rng>(rng: &mut R, n: u32) -> u32 {
    let u = rng.random::<f64>();
    let r = ((f64::from(n) + 1.0).ln() * u).exp() - 1.0;
    (r as u32).min(n.saturating_sub(1))
}

/// An exact Zipf distribution over `0..n` with exponent `s`, by table look-up.
#[derive(Debug, Clone)]
pub(crate) struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub(crate) fn new(n: usize, s: f64) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for rank in 0..n {
            total += 1.0 / ((rank + 1) as f64).powf(s);
            cdf.push(total);
        }
        for p in &mut cdf {
            *p /= total;
        }
        Self { cdf }
    }

    pub(crate) fn sample<R: Rng>(&self, rng: &mut R) -> usize {
        let u = rng.random::<f64>();
        self.cdf
            .partition_point(|p| *p < u)
            .min(self.cdf.len().saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn log_normal_has_the_asked_median() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut xs: Vec<f64> = (0..20_001)
            .map(|_| log_normal(&mut rng, 5.0, 1.0))
            .collect();
        xs.sort_by(f64::total_cmp);
        let median = xs[xs.len() / 2];
        assert!((4.5..5.5).contains(&median), "median {median}");
    }

    #[test]
    fn zipf_favours_low_ranks() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let z = Zipf::new(50, 1.0);
        let mut counts = [0u32; 50];
        for _ in 0..10_000 {
            counts[z.sample(&mut rng)] += 1;
        }
        assert!(counts[0] > counts[1] && counts[1] > counts[10] && counts[10] > counts[49]);
        let mut approx = [0u32; 3];
        for _ in 0..10_000 {
            let r = zipf1(&mut rng, 1000);
            assert!(r < 1000);
            if r < 3 {
                approx[r as usize] += 1;
            }
        }
        assert!(approx[0] > approx[1] && approx[1] > approx[2]);
    }
}
