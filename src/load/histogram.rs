//! A small log-linear latency histogram (HDR-like) whose merge is exact.
//!
//! Values (microseconds) below 256 get one bucket each; above, every power of two is split
//! into 128 linear sub-buckets, so a reported quantile is within 1/128 (< 0.8 %) of the true
//! value. Buckets are plain counters, so merging two histograms is element-wise addition and
//! gives exactly the histogram of the concatenated samples — Kubernetes workers can ship their
//! histograms and the coordinator merges them without loss beyond the bucket width.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Values below this get an exact bucket each.
const LINEAR: u64 = 256;
/// Sub-buckets per power of two above [`LINEAR`].
const SUB: u64 = 128;

/// Log-linear histogram of `u64` values (gauntlet records microseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "HistogramWire", from = "HistogramWire")]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

fn index_of(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let msb = 63 - u64::from(v.leading_zeros());
    let shift = msb - 7;
    (shift * SUB + (v >> shift)) as usize
}

/// Highest value that maps to bucket `i`.
fn upper_of(i: usize) -> u64 {
    let i = i as u64;
    if i < LINEAR {
        return i;
    }
    let shift = i / SUB - 1;
    let m = i % SUB + SUB;
    let upper = (u128::from(m + 1) << shift) - 1;
    u64::try_from(upper).unwrap_or(u64::MAX)
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one value.
    pub fn record(&mut self, v: u64) {
        self.record_n(v, 1);
    }

    /// Records `n` occurrences of one value.
    pub fn record_n(&mut self, v: u64, n: u64) {
        if n == 0 {
            return;
        }
        let i = index_of(v);
        if self.counts.len() <= i {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += n;
        if self.count == 0 || v < self.min {
            self.min = v;
        }
        self.max = self.max.max(v);
        self.count += n;
        self.sum += u128::from(v) * u128::from(n);
    }

    /// Records a duration in microseconds (saturating).
    pub fn record_duration(&mut self, d: Duration) {
        self.record(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    /// Adds every sample of `other` to `self`; the result is exactly the histogram of both
    /// sample sets.
    pub fn merge(&mut self, other: &Histogram) {
        if other.count == 0 {
            return;
        }
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.min = if self.count == 0 {
            other.min
        } else {
            self.min.min(other.min)
        };
        self.max = self.max.max(other.max);
        self.count += other.count;
        self.sum += other.sum;
    }

    /// Number of recorded values.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Smallest recorded value (0 when empty).
    pub fn min(&self) -> u64 {
        self.min
    }

    /// Largest recorded value (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Arithmetic mean (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The value at quantile `q` (0.0..=1.0): the upper edge of the bucket holding the
    /// `ceil(q·count)`-th smallest value, clamped to the recorded min and max. 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper_of(i).clamp(self.min, self.max);
            }
        }
        self.max
    }
}

/// Sparse serialized form: only non-empty buckets, as `[index, count]` pairs.
#[derive(Serialize, Deserialize)]
struct HistogramWire {
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
    buckets: Vec<[u64; 2]>,
}

impl From<Histogram> for HistogramWire {
    fn from(h: Histogram) -> Self {
        let buckets = h
            .counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| [i as u64, *c])
            .collect();
        HistogramWire {
            count: h.count,
            sum: h.sum,
            min: h.min,
            max: h.max,
            buckets,
        }
    }
}

impl From<HistogramWire> for Histogram {
    fn from(w: HistogramWire) -> Self {
        // Indexes beyond the u64 range cannot come from `record`; ignore them rather than
        // allocating whatever a corrupt file asks for.
        let max_index = index_of(u64::MAX) as u64;
        let mut counts = Vec::new();
        for [i, c] in w.buckets.into_iter().filter(|[i, _]| *i <= max_index) {
            let i = i as usize;
            if counts.len() <= i {
                counts.resize(i + 1, 0);
            }
            counts[i] += c;
        }
        Histogram {
            counts,
            count: w.count,
            sum: w.sum,
            min: w.min,
            max: w.max,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_bounded() {
        let mut prev_upper = None;
        for i in 0..=index_of(u64::MAX) {
            let up = upper_of(i);
            if let Some(p) = prev_upper {
                assert_eq!(index_of(p + 1), i, "bucket {i} starts right after {p}");
            }
            assert_eq!(index_of(up), i);
            prev_upper = Some(up);
        }
        for v in [
            0u64,
            1,
            255,
            256,
            257,
            1000,
            12_345,
            999_999,
            60_000_000,
            u64::MAX,
        ] {
            let up = upper_of(index_of(v));
            assert!(up >= v);
            assert!((up - v) as f64 <= v as f64 / 128.0 + 1.0, "{v} -> {up}");
        }
    }

    #[test]
    fn quantiles_of_uniform_values() {
        let mut h = Histogram::new();
        for v in 1..=10_000u64 {
            h.record(v);
        }
        assert_eq!(h.count(), 10_000);
        assert_eq!(h.min(), 1);
        assert_eq!(h.max(), 10_000);
        for (q, want) in [(0.5, 5_000.0), (0.9, 9_000.0), (0.99, 9_900.0)] {
            let got = h.quantile(q) as f64;
            assert!((got - want).abs() / want < 0.01, "q{q}: {got} vs {want}");
        }
        assert_eq!(h.quantile(1.0), 10_000);
        assert_eq!(h.quantile(0.0), 1);
        assert!((h.mean() - 5_000.5).abs() < 1e-9);
    }

    #[test]
    fn merge_equals_recording_everything() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        let mut all = Histogram::new();
        for v in (0..5_000u64).map(|i| i * 37 % 100_003) {
            a.record(v);
            all.record(v);
        }
        for v in (0..3_000u64).map(|i| 1_000_000 + i * 91) {
            b.record(v);
            all.record(v);
        }
        let mut merged = a.clone();
        merged.merge(&b);
        assert_eq!(merged, all);
        let mut other_way = b.clone();
        other_way.merge(&a);
        assert_eq!(other_way, all);
        let mut empty = Histogram::new();
        empty.merge(&all);
        assert_eq!(empty, all);
    }

    #[test]
    fn serde_round_trip_is_sparse_and_exact() {
        let mut h = Histogram::new();
        h.record_n(5, 3);
        h.record(1_000_000);
        let json = serde_json::to_string(&h).expect("serializes");
        assert!(json.contains("\"buckets\":[[5,3],"), "{json}");
        let back: Histogram = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, h);
    }
}
