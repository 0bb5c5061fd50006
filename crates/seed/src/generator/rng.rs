//! Deterministic randomness: one ChaCha stream per purpose derived from the seed (so adding a
//! draw to one table never shifts another table's data), ids drawn from those streams, and the
//! skewed choices (Zipf-like popularity, weighted tables) the generator is made of.

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::{Builder, Uuid};

pub(crate) type GenRng = ChaCha8Rng;

/// What a stream is for; its number selects the ChaCha stream, so the values never change.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stream {
    Stores = 1,
    Staff = 2,
    Catalog = 3,
    Customers = 4,
    Inventory = 5,
    OrderTimes = 6,
    OrderPlans = 7,
    OrderRows = 8,
    Prescriptions = 9,
    Eyes = 10,
    Jobs = 11,
    Products = 12,
    CustomerIds = 13,
}

/// The stream `which` of `seed`: same seed and stream, same values, on every platform.
pub(crate) fn stream(seed: u64, which: Stream) -> GenRng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(which as u64);
    rng
}

/// A stream of its own for one entity (a patient's eyes), independent of generation order.
pub(crate) fn keyed(seed: u64, which: Stream, key: u64) -> GenRng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ key.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    rng.set_stream(which as u64);
    rng
}

/// A UUIDv7 whose timestamp is `ms` (Unix milliseconds) and whose other bits come from `rng`.
/// (`Uuid::new_v7` would take those bits from the OS, making ids differ between runs.)
pub(crate) fn uuid_v7(rng: &mut GenRng, ms: i64) -> Uuid {
    let mut bytes = [0u8; 10];
    rng.fill_bytes(&mut bytes);
    Builder::from_unix_timestamp_millis(ms.max(0) as u64, &bytes).into_uuid()
}

/// True with probability `p`.
pub(crate) fn chance(rng: &mut GenRng, p: f64) -> bool {
    rng.gen::<f64>() < p
}

/// One element of a non-empty slice.
pub(crate) fn pick<'a, T>(rng: &mut GenRng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

/// Uniform in `lo..=hi` (integers), for durations and counts.
pub(crate) fn between(rng: &mut GenRng, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        lo
    } else {
        rng.gen_range(lo..=hi)
    }
}

/// A normal variate (Box–Muller), for eye values and ages.
pub(crate) fn normal(rng: &mut GenRng, mean: f64, sd: f64) -> f64 {
    let u1: f64 = rng.gen::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.gen();
    mean + sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Draws indices with given weights: a cumulative table and a binary search.
#[derive(Debug, Clone)]
pub(crate) struct Weighted {
    cumulative: Vec<f64>,
}

impl Weighted {
    pub(crate) fn new(weights: impl IntoIterator<Item = f64>) -> Self {
        let mut total = 0.0;
        let cumulative = weights
            .into_iter()
            .map(|w| {
                total += w.max(0.0);
                total
            })
            .collect();
        Self { cumulative }
    }

    /// Zipf-like popularity over `n` items, the most popular first: weight 1/(rank+1)^s.
    pub(crate) fn zipf(n: usize, s: f64) -> Self {
        Self::new((0..n).map(|rank| 1.0 / ((rank + 1) as f64).powf(s)))
    }

    pub(crate) fn sample(&self, rng: &mut GenRng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let target = rng.gen::<f64>() * total;
        self.cumulative
            .partition_point(|c| *c <= target)
            .min(self.cumulative.len().saturating_sub(1))
    }
}

/// A random permutation of `0..n`: which item gets which popularity rank.
pub(crate) fn shuffled(rng: &mut GenRng, n: usize) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.gen_range(0..=i));
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let a: Vec<u64> = (0..4).map(|_| stream(7, Stream::Stores).gen()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut s1 = stream(7, Stream::Stores);
        let mut s2 = stream(7, Stream::Staff);
        let mut s3 = stream(8, Stream::Stores);
        let x: u64 = s1.gen();
        assert_ne!(x, s2.gen::<u64>());
        assert_ne!(x, s3.gen::<u64>());
    }

    #[test]
    fn v7_ids_carry_the_timestamp() {
        let mut rng = stream(1, Stream::OrderRows);
        let id = uuid_v7(&mut rng, 1_700_000_000_123);
        assert_eq!(id.get_version_num(), 7);
        let (secs, nanos) = id.get_timestamp().expect("v7").to_unix();
        assert_eq!((secs, nanos), (1_700_000_000, 123_000_000));
    }

    #[test]
    fn zipf_favours_the_first_ranks() {
        let zipf = Weighted::zipf(1000, 1.0);
        let mut rng = stream(3, Stream::OrderPlans);
        let mut hits = vec![0u32; 1000];
        for _ in 0..100_000 {
            hits[zipf.sample(&mut rng)] += 1;
        }
        let top10: u32 = hits[..10].iter().sum();
        // 1/H(1000) of the mass per unit rank: the top 1% takes about 39%.
        assert!((34_000..44_000).contains(&top10), "{top10}");
        assert!(hits[0] > hits[500] * 50);
    }
}
