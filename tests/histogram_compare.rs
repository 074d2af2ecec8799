//! gauntlet's log-linear `Histogram` next to HdrHistogram (the `hdrhistogram` crate, wrk2's
//! choice) on what the generator and the Kubernetes workers need: record cost, exact merges,
//! quantile error and serialized size. The decision and the numbers are in ARCHITECTURE.md;
//! `cargo test --release --test histogram_compare -- --ignored --nocapture` prints them.

use gauntlet::load::Histogram;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer, V2Serializer};
use rand::Rng;
use std::time::Instant;

/// Latency-like microsecond values: mostly 100 µs – 5 ms, a tail to a few seconds.
fn samples(n: usize) -> Vec<u64> {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| {
            let base: f64 = rng.random_range(4.6..8.5); // e^4.6 ≈ 100, e^8.5 ≈ 4,900
            let tail = if rng.random_range(0..100) == 0 {
                rng.random_range(0.0..7.0)
            } else {
                0.0
            };
            (base + tail).exp() as u64
        })
        .collect()
}

fn hdr(sigfig: u8) -> hdrhistogram::Histogram<u64> {
    // 1 µs .. 1 hour, auto-resize off: the same fixed range a run can produce.
    hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, sigfig).expect("valid bounds")
}

fn exact_quantile(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[test]
fn both_merge_exactly() {
    let values = samples(20_000);
    let (a, b) = values.split_at(7_000);
    let mut ours = (Histogram::new(), Histogram::new(), Histogram::new());
    let mut theirs = (hdr(3), hdr(3), hdr(3));
    for &v in a {
        ours.0.record(v);
        theirs.0.record(v).expect("in range");
    }
    for &v in b {
        ours.1.record(v);
        theirs.1.record(v).expect("in range");
    }
    for &v in &values {
        ours.2.record(v);
        theirs.2.record(v).expect("in range");
    }
    ours.0.merge(&ours.1);
    assert_eq!(ours.0, ours.2);
    theirs.0.add(&theirs.1).expect("same bounds");
    assert_eq!(theirs.0, theirs.2);
}

#[test]
#[ignore = "measurement; run with --release --ignored --nocapture"]
fn compare_cost_accuracy_and_size() {
    const N: usize = 2_000_000;
    let values = samples(N);
    let mut sorted = values.clone();
    sorted.sort_unstable();

    let start = Instant::now();
    let mut ours = Histogram::new();
    for &v in &values {
        ours.record(std::hint::black_box(v));
    }
    let ours_ns = start.elapsed().as_nanos() as f64 / N as f64;
    let json = serde_json::to_string(&ours).expect("serializes");
    let worst = |get: &dyn Fn(f64) -> u64| {
        [0.5, 0.9, 0.95, 0.99, 0.999]
            .iter()
            .map(|&q| {
                let want = exact_quantile(&sorted, q) as f64;
                (get(q) as f64 - want).abs() / want
            })
            .fold(0.0f64, f64::max)
    };
    println!(
        "ours:       {ours_ns:5.1} ns/record, worst quantile error {:.3} %, json {} bytes",
        worst(&|q| ours.quantile(q)) * 100.0,
        json.len()
    );

    for sigfig in [2u8, 3] {
        let start = Instant::now();
        let mut h = hdr(sigfig);
        for &v in &values {
            h.saturating_record(std::hint::black_box(v));
        }
        let ns = start.elapsed().as_nanos() as f64 / N as f64;
        let mut plain = Vec::new();
        V2Serializer::new()
            .serialize(&h, &mut plain)
            .expect("serializes");
        let mut deflated = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&h, &mut deflated)
            .expect("serializes");
        println!(
            "hdr sigfig {sigfig}: {ns:5.1} ns/record, worst quantile error {:.3} %, V2 {} bytes, \
             V2+deflate {} bytes (base64 in JSON: {}), {} counts in memory",
            worst(&|q| h.value_at_quantile(q)) * 100.0,
            plain.len(),
            deflated.len(),
            deflated.len().div_ceil(3) * 4,
            h.distinct_values()
        );
    }
}
