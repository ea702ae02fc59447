//! Criterion micro-benchmarks of each statistic on a 200,000-case sample shaped like
//! `ci/gen_eval_case.py` (10 % prevalence, 6-decimal scores, 3 grouping columns).
//! Run: `cargo bench -p harness-metrics`. The whole-process comparison against scikit-learn is
//! `python3 ci/bench_eval.py`.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use harness_metrics::bootstrap::bootstrap_auroc;
use harness_metrics::calibration::{ece, log_loss, recalibration};
use harness_metrics::delong::{AucCounts, delong, paired_delong, placements};
use harness_metrics::groups::subgroup_aucs;
use harness_metrics::ranks::CaseKeys;
use harness_metrics::roc::{average_precision, sens_at_spec};
use harness_metrics::{EvalInput, EvalOptions, Grouping, Ranked, evaluate};
use std::hint::black_box;

struct Sample {
    labels: Vec<bool>,
    a: Vec<f64>,
    b: Vec<f64>,
    codes: [Vec<u32>; 3],
}

/// Deterministic synthetic sample: SplitMix64 stream, logistic scores rounded to 6 decimals.
fn sample(n: usize) -> Sample {
    let mut state = 20261122u64;
    let mut next = || {
        state = state.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut s = Sample {
        labels: Vec::new(),
        a: Vec::new(),
        b: Vec::new(),
        codes: [Vec::new(), Vec::new(), Vec::new()],
    };
    for _ in 0..n {
        let y = next() < 0.1;
        let noise = (next() - 0.5) * 6.0;
        let sigmoid = |x: f64| ((1.0 / (1.0 + (-x).exp())) * 1e6).round() / 1e6;
        s.a.push(sigmoid(-3.0 + 2.5 * y as u8 as f64 + noise));
        s.b.push(sigmoid(
            -0.5 + 1.2 * y as u8 as f64 + noise * 0.8 + (next() - 0.5),
        ));
        s.labels.push(y);
        s.codes[0].push((next() * 2.0) as u32);
        s.codes[1].push((next() * 3.0) as u32);
        s.codes[2].push((next() * 4.0) as u32);
    }
    s
}

fn benches(c: &mut Criterion) {
    let s = sample(200_000);
    let ranked = Ranked::new(&s.labels, &s.a);
    let mut g = c.benchmark_group("n200k");
    g.sample_size(20);
    g.bench_function("rank (sort + tie groups)", |bch| {
        bch.iter(|| Ranked::new(black_box(&s.labels), black_box(&s.a)))
    });
    g.bench_function("auroc + delong", |bch| {
        bch.iter(|| {
            (
                AucCounts::from_groups(&ranked.groups).auroc(),
                delong(black_box(&ranked.groups)),
            )
        })
    });
    g.bench_function("placements", |bch| {
        bch.iter(|| placements(black_box(&ranked)))
    });
    let rb = Ranked::new(&s.labels, &s.b);
    let (pa, pb) = (placements(&ranked), placements(&rb));
    let (ta, tb) = (
        AucCounts::from_groups(&ranked.groups).auroc().unwrap(),
        AucCounts::from_groups(&rb.groups).auroc().unwrap(),
    );
    g.bench_function("paired delong", |bch| {
        bch.iter(|| paired_delong(&s.labels, ta, black_box(&pa), tb, &pb))
    });
    g.bench_function("sens at spec 0.90", |bch| {
        bch.iter(|| sens_at_spec(black_box(&ranked.groups), 0.9))
    });
    g.bench_function("average precision", |bch| {
        bch.iter(|| average_precision(black_box(&ranked.groups)))
    });
    g.bench_function("log loss", |bch| {
        bch.iter(|| log_loss(black_box(&s.labels), &s.a))
    });
    g.bench_function("ece 10", |bch| {
        bch.iter(|| ece(black_box(&s.labels), &s.a, 10))
    });
    g.bench_function("recalibration (converged MLE + in-the-large)", |bch| {
        bch.iter(|| recalibration(black_box(&ranked.groups)))
    });
    let groupings: Vec<(&[u32], usize)> =
        vec![(&s.codes[0], 2), (&s.codes[1], 3), (&s.codes[2], 4)];
    let keys = CaseKeys::new(&s.labels, &groupings);
    let keyed = Ranked::with_keys(&s.a, &keys);
    g.bench_function("subgroup aucs (3 groupings)", |bch| {
        bch.iter(|| subgroup_aucs(black_box(&keyed), &keys))
    });
    for b in [200usize, 2000] {
        g.bench_with_input(BenchmarkId::new("bootstrap", b), &b, |bch, &b| {
            bch.iter(|| bootstrap_auroc(black_box(&ranked.groups), b, 1))
        });
    }
    let levels: Vec<Vec<String>> = [2, 3, 4]
        .iter()
        .map(|&k| (0..k).map(|i| format!("L{i}")).collect())
        .collect();
    let input = EvalInput {
        labels: &s.labels,
        models: vec![("a", &s.a[..]), ("b", &s.b[..])],
        groupings: (0..3)
            .map(|k| Grouping {
                name: ["sex", "age_band", "site"][k],
                levels: &levels[k],
                codes: &s.codes[k],
            })
            .collect(),
        cluster: None,
    };
    g.bench_function("evaluate (2 models, 3 groupings, no bootstrap)", |bch| {
        bch.iter(|| evaluate(black_box(&input), &EvalOptions::default()).unwrap())
    });
    g.finish();
}

criterion_group!(metrics, benches);
criterion_main!(metrics);
