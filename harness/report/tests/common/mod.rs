//! A synthetic evaluation for the report's tests and its demo: seeded data, three candidates of
//! known strength evaluated by `harness_metrics::evaluate`, one failed candidate, agreement and
//! performance rows with one disagreement and one unavailable backend.
#![allow(dead_code)]

use harness_metrics::evaluate::{EvalInput, EvalOptions, Grouping, evaluate};
use harness_report::*;
use indexmap::IndexMap;
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};

/// Name of the candidate whose name carries markup, to check escaping.
pub const MARKUP_NAME: &str = "vendor-c <b>beta</b>";
pub const FAILED_NAME: &str = "vendor-d";

struct Gen(Xoshiro256PlusPlus);

impl Gen {
    fn uniform(&mut self) -> f64 {
        ((self.0.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    /// Standard normal by Box–Muller.
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Labels, site codes and the scores of three models: vendor-a (strong), vendor-b (weaker:
/// significantly different from a), vendor-c (almost a's strength, sharing most of its noise:
/// not significantly different). Site "D" is small and site "E" has negatives only.
pub fn data(n: usize, seed: u64) -> (Vec<bool>, Vec<u32>, Vec<u32>, [Vec<f64>; 3]) {
    let mut g = Gen(Xoshiro256PlusPlus::seed_from_u64(seed));
    let (mut labels, mut sex, mut site) = (Vec::new(), Vec::new(), Vec::new());
    let mut scores: [Vec<f64>; 3] = Default::default();
    for i in 0..n {
        // Site E: 8 cases, all negative; site D: 20 cases, 3 positives; A/B/C share the rest.
        let (s, y) = if i < 8 {
            (4, false)
        } else if i < 28 {
            (3, i < 11)
        } else {
            ((g.0.next_u64() % 3) as u32, g.uniform() < 0.3)
        };
        labels.push(y);
        site.push(s);
        sex.push((g.0.next_u64() % 2) as u32);
        let shared = g.normal();
        let sign = if y { 1.0 } else { -1.0 };
        let strength = [1.1, 0.55, 1.1];
        for (k, col) in scores.iter_mut().enumerate() {
            let noise = 0.9 * shared + 0.44 * g.normal();
            // Rounded to 4 decimals: ties, as real score files have.
            col.push((sigmoid(strength[k] * sign + noise) * 1e4).round() / 1e4);
        }
    }
    (labels, sex, site, scores)
}

fn latency_cdf(g: &mut Gen, median_ms: f64, n: usize) -> (Vec<[f64; 2]>, LatencyMs) {
    let mut v: Vec<f64> = (0..n)
        .map(|_| median_ms * (0.25 * g.normal()).exp())
        .collect();
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
    let cdf = v
        .iter()
        .enumerate()
        .map(|(i, &ms)| [ms, (i + 1) as f64 / n as f64])
        .collect();
    (
        cdf,
        LatencyMs {
            p50: q(0.5),
            p90: q(0.9),
            p95: q(0.95),
            p99: q(0.99),
            max: v[n - 1],
        },
    )
}

/// The report input of the synthetic evaluation with `ok` (2 or 3) evaluated candidates plus
/// one failed candidate.
pub fn synthetic_input(ok: usize, n: usize, band_replicates: usize) -> ReportInput {
    let (labels, sex, site, scores) = data(n, 20240611);
    let names = ["vendor-a", "vendor-b", MARKUP_NAME];
    let sex_levels = vec!["F".to_string(), "M".to_string()];
    let site_levels: Vec<String> = ["A", "B", "C", "D", "E"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let eval_input = EvalInput {
        labels: &labels,
        models: (0..ok).map(|k| (names[k], scores[k].as_slice())).collect(),
        groupings: vec![
            Grouping {
                name: "sex",
                levels: &sex_levels,
                codes: &sex,
            },
            Grouping {
                name: "site",
                levels: &site_levels,
                codes: &site,
            },
        ],
        cluster: None,
    };
    let opts = EvalOptions {
        threshold: 0.5,
        target_specificities: vec![0.9],
        bootstrap: 200,
        seed: 7,
        sens_ci_bootstrap: 0,
    };
    let report = evaluate(&eval_input, &opts).unwrap();

    let mut candidates: Vec<Candidate> = (0..ok)
        .map(|k| Candidate {
            name: names[k].to_string(),
            model_file: format!("models/{}.onnx", ["a", "b", "c"][k]),
            model_sha256: format!("{:064x}", 0xabc0 + k),
            backends: vec!["ort-cpu".into(), "tract".into()],
            status: Status::Ok,
            reason: None,
            metrics: None,
            scores: scores[k].clone(),
            warnings: Vec::new(),
        })
        .collect();
    candidates.push(Candidate {
        name: FAILED_NAME.into(),
        model_file: "models/d.onnx".into(),
        model_sha256: format!("{:064x}", 0xdead),
        backends: vec!["candle".into()],
        status: Status::Failed,
        reason: Some("candle: unsupported operator NonMaxSuppression".into()),
        metrics: None,
        scores: Vec::new(),
        warnings: Vec::new(),
    });

    let mut g = Gen(Xoshiro256PlusPlus::seed_from_u64(99));
    let mut performance = Vec::new();
    for (k, name) in names.iter().enumerate().take(ok) {
        for (backend, median) in [("ort-cpu", 4.0 + k as f64), ("tract", 9.0 + 2.0 * k as f64)] {
            let (cdf, lat) = latency_cdf(&mut g, median, 400);
            performance.push(PerformanceRow {
                candidate: name.to_string(),
                backend: backend.into(),
                profile: "cpu-4threads".into(),
                scenario: "single-stream".into(),
                batch_size: 1,
                threads: 4,
                throughput_per_s: Some(1000.0 / lat.p50),
                latency_ms: Some(lat),
                latency_cdf: cdf,
                early_stopping: Some(EarlyStoppingMs {
                    percentile: 0.9,
                    estimate_ms: 1.2 * lat.p90,
                }),
                status: Status::Ok,
                reason: None,
            });
        }
    }
    performance.push(PerformanceRow {
        candidate: names[0].into(),
        backend: "ort-cuda".into(),
        profile: "gpu".into(),
        scenario: "offline".into(),
        batch_size: 32,
        threads: 1,
        throughput_per_s: None,
        latency_ms: None,
        latency_cdf: Vec::new(),
        early_stopping: None,
        status: Status::Unavailable,
        reason: Some("no CUDA device on this machine".into()),
    });
    let agreement = vec![
        AgreementRow {
            candidate: names[0].into(),
            a: "ort-cpu".into(),
            b: "tract".into(),
            max_abs_diff: 3.1e-7,
            decision_disagreements: 0,
            n: n as u64,
        },
        AgreementRow {
            candidate: names[1].into(),
            a: "ort-cpu".into(),
            b: "tract".into(),
            max_abs_diff: 2.4e-3,
            decision_disagreements: 2,
            n: n as u64,
        },
    ];
    let mut machine = IndexMap::new();
    machine.insert("CPU".to_string(), "2 cores, x86_64".to_string());
    machine.insert("Memory".to_string(), "8 GiB".to_string());
    machine.insert("OS".to_string(), "Debian 13".to_string());
    let mut input = ReportInput {
        header: Header {
            suite: Suite {
                name: "chest-xray-triage".into(),
                version: "1.0".into(),
            },
            dataset: DatasetInfo {
                name: "synthetic-cxr".into(),
                sha256: format!("{:064x}", 0x5eed),
                licence: "CC0-1.0".into(),
                cases: n as u64,
                bytes: Some(123_456),
                synthetic: true,
            },
            tool: ToolInfo {
                version: "0.1.0".into(),
                git_commit: "0123456789abcdef".into(),
            },
            date: "2025-01-01T00:00:00Z".into(),
            machine,
            profiles: vec!["cpu-4threads".into(), "gpu".into()],
            inference: None,
        },
        candidates,
        labels,
        evaluation: Evaluation::default(),
        agreement,
        performance,
        profiles_not_measured: vec![NotMeasured {
            profile: "gpu-fp16".into(),
            reason: Some("no GPU on this machine".into()),
        }],
        options: ReportOptions {
            roc_band_replicates: band_replicates,
            ..ReportOptions::default()
        },
        findings: None,
        classes: None,
        target_curves: Vec::new(),
        sites: Vec::new(),
        acceptance: Vec::new(),
        acceptance_criteria: Vec::new(),
    };
    input.attach_eval(&report);
    input
}
