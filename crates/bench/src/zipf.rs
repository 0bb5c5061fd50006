//! Skewed picks: the k-th item of a list (k from 1) comes up with weight 1 / k^s, as the hot
//! products and regular customers of real traffic do. Exponent 0 is uniform.
//!
//! The cumulative weights are computed once per list and searched per pick (O(log n)), which
//! is exact for any exponent and cheap for the few thousand items a sample has.

use std::sync::Arc;

/// A list with a skewed picker over it; the first items are the hottest.
#[derive(Debug, Clone)]
pub struct Skewed<T> {
    items: Vec<T>,
    /// Cumulative weights divided by the total, ending at 1.
    cdf: Arc<[f64]>,
}

impl<T> Skewed<T> {
    pub fn new(items: Vec<T>, exponent: f64) -> Self {
        let mut cdf = Vec::with_capacity(items.len());
        let mut sum = 0.0;
        for k in 1..=items.len() {
            sum += (k as f64).powf(-exponent);
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        Self {
            items,
            cdf: cdf.into(),
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn items(&self) -> &[T] {
        &self.items
    }

    /// The rank (from 0) that `u`, uniform in [0, 1), falls on.
    pub fn rank(&self, u: f64) -> Option<usize> {
        if self.items.is_empty() {
            return None;
        }
        let i = self.cdf.partition_point(|c| *c <= u);
        Some(i.min(self.items.len() - 1))
    }

    /// The item `u`, uniform in [0, 1), falls on; `None` for an empty list.
    pub fn pick(&self, u: f64) -> Option<&T> {
        self.rank(u).map(|i| &self.items[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(list: &Skewed<usize>, n: usize) -> Vec<usize> {
        let mut counts = vec![0; list.len()];
        for i in 0..n {
            let u = (i as f64 + 0.5) / n as f64;
            counts[*list.pick(u).expect("not empty")] += 1;
        }
        counts
    }

    #[test]
    fn exponent_one_gives_rank_k_one_kth_of_the_first() {
        let list = Skewed::new((0..100).collect(), 1.0);
        let c = counts(&list, 1_000_000);
        // Weights 1, 1/2, 1/10 of the first.
        assert!((c[1] as f64 / c[0] as f64 - 0.5).abs() < 0.01, "{c:?}");
        assert!((c[9] as f64 / c[0] as f64 - 0.1).abs() < 0.01, "{c:?}");
        // Harmonic number H(100) ~ 5.187: the top item gets ~19%.
        assert!((c[0] as f64 / 1e6 - 1.0 / 5.187).abs() < 0.005);
        assert!(c.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn exponent_zero_is_uniform_and_empty_lists_pick_nothing() {
        let list = Skewed::new((0..10).collect(), 0.0);
        assert!(counts(&list, 10_000).iter().all(|c| *c == 1_000));
        let empty: Skewed<u8> = Skewed::new(Vec::new(), 1.0);
        assert!(empty.pick(0.3).is_none());
        assert!(empty.is_empty());
    }

    #[test]
    fn the_edges_of_the_unit_interval_stay_in_the_list() {
        let list = Skewed::new(vec!['a', 'b', 'c'], 2.0);
        assert_eq!(list.pick(0.0), Some(&'a'));
        assert_eq!(list.pick(0.999_999_999), Some(&'c'));
        assert_eq!(list.pick(1.0), Some(&'c'));
    }
}
