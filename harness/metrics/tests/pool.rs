//! Exact pooling of site results (`pool.rs`): sites summarised into count tables and pooled
//! give the report of `evaluate` on all the cases (round 1), and the paired DeLong test from
//! the sites' sums (round 2); the summaries hold no per-case data and round-trip through JSON;
//! a score grid pools exactly for the rounded scores; inconsistent or tampered inputs are
//! refused with an error naming the site; and the refactor of `delong.rs` behind round 2
//! (`TiePlacements`, `PairedSums`) gives the old placements and paired test bit for bit.

use common::json_diff as diff;
use harness_metrics::delong::{PairedSums, paired_delong, placements};
use harness_metrics::pool::{
    CountTable, PairedSiteSums, PoolError, ROUND1_COMPARISON_REASON, SiteSummary, paired_request,
    paired_site_sums, pool, pool_paired, pool_paired_json, request_digest, round_to_grid,
    summarize,
};

/// The request digest the tests' answers name where the request's file is not at issue.
const REQ: &str = "sha256:request";
/// The smallest level a summary holds (the tools' default).
const MIN: u64 = harness_metrics::MIN_LEVEL_CASES;
use harness_metrics::{EvalInput, EvalOptions, EvalReport, Grouping, Ranked, evaluate};
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use serde_json::Value;

mod common;

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------

/// Cases with owned columns, from which an [`EvalInput`] is borrowed.
#[derive(Clone)]
struct Cases {
    ids: Vec<String>,
    labels: Vec<bool>,
    /// (model, scores)
    models: Vec<(String, Vec<f64>)>,
    /// (grouping, each case's level)
    groups: Vec<(String, Vec<String>)>,
    /// Each case's site.
    site: Vec<String>,
}

/// Levels sorted by their bytes (as `harness_data`'s interner) and each case's code.
struct Owned {
    labels: Vec<bool>,
    models: Vec<(String, Vec<f64>)>,
    groupings: Vec<(String, Vec<String>, Vec<u32>)>,
}

impl Owned {
    fn input(&self) -> EvalInput<'_> {
        EvalInput {
            labels: &self.labels,
            models: self
                .models
                .iter()
                .map(|(n, s)| (n.as_str(), s.as_slice()))
                .collect(),
            groupings: self
                .groupings
                .iter()
                .map(|(name, levels, codes)| Grouping {
                    name,
                    levels,
                    codes,
                })
                .collect(),
            cluster: None,
        }
    }
}

impl Cases {
    fn subset(&self, keep: impl Fn(usize) -> bool) -> Cases {
        let idx: Vec<usize> = (0..self.labels.len()).filter(|&i| keep(i)).collect();
        Cases {
            ids: idx.iter().map(|&i| self.ids[i].clone()).collect(),
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            models: self
                .models
                .iter()
                .map(|(n, s)| (n.clone(), idx.iter().map(|&i| s[i]).collect()))
                .collect(),
            groups: self
                .groups
                .iter()
                .map(|(n, v)| (n.clone(), idx.iter().map(|&i| v[i].clone()).collect()))
                .collect(),
            site: idx.iter().map(|&i| self.site[i].clone()).collect(),
        }
    }

    fn site(&self, name: &str) -> Cases {
        self.subset(|i| self.site[i] == name)
    }

    fn sites(&self) -> Vec<String> {
        let mut s = self.site.clone();
        s.sort();
        s.dedup();
        s
    }

    fn rounded(&self, decimals: u32) -> Cases {
        let mut c = self.clone();
        for (_, s) in &mut c.models {
            for v in s.iter_mut() {
                *v = round_to_grid(*v, decimals);
            }
        }
        c
    }

    fn owned(&self) -> Owned {
        Owned {
            labels: self.labels.clone(),
            models: self.models.clone(),
            groupings: self
                .groups
                .iter()
                .map(|(name, values)| {
                    let mut levels = values.clone();
                    levels.sort();
                    levels.dedup();
                    let codes = values
                        .iter()
                        .map(|v| levels.binary_search(v).unwrap() as u32)
                        .collect();
                    (name.clone(), levels, codes)
                })
                .collect(),
        }
    }
}

fn balanced() -> Cases {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/metrics/cases/balanced_n500.csv"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (id, label, score, score_b, sex, age, site) = (
        col("case_id"),
        col("label"),
        col("score"),
        col("score_b"),
        col("sex"),
        col("age_band"),
        col("site"),
    );
    let mut c = Cases {
        ids: vec![],
        labels: vec![],
        models: vec![("score".into(), vec![]), ("score_b".into(), vec![])],
        groups: vec![("sex".into(), vec![]), ("age_band".into(), vec![])],
        site: vec![],
    };
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        c.ids.push(f[id].to_string());
        c.labels.push(f[label] == "1");
        c.models[0].1.push(f[score].parse().unwrap());
        c.models[1].1.push(f[score_b].parse().unwrap());
        c.groups[0].1.push(f[sex].to_string());
        c.groups[1].1.push(f[age].to_string());
        c.site.push(f[site].to_string());
    }
    assert_eq!(c.labels.len(), 500);
    c
}

/// Tie-heavy cases: scores on a 0.1 grid, 4 unequal sites (the last with negatives only),
/// a grouping whose levels sort differently by bytes than by characters, and levels that
/// some sites lack (the first site lacks the level that sorts first).
fn tie_heavy(seed: u64) -> Cases {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut unit = move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let mut c = Cases {
        ids: vec![],
        labels: vec![],
        models: vec![("a".into(), vec![]), ("b".into(), vec![])],
        groups: vec![("scanner".into(), vec![]), ("sex".into(), vec![])],
        site: vec![],
    };
    let sizes = [("s1", 420usize), ("s2", 170), ("s3", 35), ("s4", 60)];
    for (site, size) in sizes {
        for _ in 0..size {
            let y = site != "s4" && unit() < 0.35;
            let base = if y { 0.62 } else { 0.38 };
            let a = ((base + 0.5 * (unit() - 0.5)) * 10.0).round() / 10.0;
            let b = ((0.6 * a + 0.4 * unit()) * 10.0).round() / 10.0;
            // s1, the first site, has no "Philips" (which sorts first), s3 no "aGE".
            let scanner = match (unit() * 4.0) as u32 {
                0 => "Zeiss",
                1 => "Ölympus",
                2 if site != "s3" => "aGE",
                3 if site != "s1" => "Philips",
                _ => "Zeiss",
            };
            c.ids.push(format!("{}", c.ids.len() + 1));
            c.labels.push(y);
            c.models[0].1.push(a.clamp(0.0, 1.0));
            c.models[1].1.push(b.clamp(0.0, 1.0));
            c.groups[0].1.push(scanner.to_string());
            c.groups[1]
                .1
                .push(if unit() < 0.5 { "F" } else { "M" }.to_string());
            c.site.push(site.to_string());
        }
    }
    c
}

fn opts() -> EvalOptions {
    EvalOptions {
        target_specificities: vec![0.8, 0.9, 0.95],
        ..Default::default()
    }
}

fn summaries(cases: &Cases, grid: Option<u32>) -> Vec<SiteSummary> {
    summaries_min(cases, grid, MIN)
}

/// [`summaries`] keeping levels of `min` cases or more.
fn summaries_min(cases: &Cases, grid: Option<u32>, min: u64) -> Vec<SiteSummary> {
    cases
        .sites()
        .iter()
        .map(|s| summarize(&cases.site(s).owned().input(), s, grid, min).unwrap())
        .collect()
}

fn all_cases(cases: &Cases) -> EvalReport {
    evaluate(&cases.owned().input(), &opts()).unwrap()
}

/// Both rounds: `(round 1, round 2)`.
fn pool_both(cases: &Cases, grid: Option<u32>) -> (EvalReport, EvalReport) {
    let sums = summaries(cases, grid);
    let round1 = pool(&sums, &opts()).unwrap();
    let request = paired_request(&sums).unwrap();
    let answers: Vec<PairedSiteSums> = cases
        .sites()
        .iter()
        .map(|s| paired_site_sums(&cases.site(s).owned().input(), s, &request, REQ).unwrap())
        .collect();
    let round2 = pool_paired(&sums, &request, REQ, &answers, &opts()).unwrap();
    (round1, round2)
}

// ---------------------------------------------------------------------------------------------
// Comparison of reports
// ---------------------------------------------------------------------------------------------

/// Every difference between two JSON values: numbers beyond `tol`, anything else unequal.
/// The differences between two reports, leaving out the top-level fields `skip`; also the
/// order of models, grouping columns, levels and targets (JSON objects here are unordered).
fn report_diff(pooled: &EvalReport, expected: &EvalReport, tol: f64, skip: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let (mut a, mut b) = (
        serde_json::to_value(pooled).unwrap(),
        serde_json::to_value(expected).unwrap(),
    );
    for k in skip {
        a.as_object_mut().unwrap().remove(*k);
        b.as_object_mut().unwrap().remove(*k);
    }
    diff("", &a, &b, tol, &mut out);
    let keys = |r: &EvalReport| {
        r.models
            .iter()
            .map(|(name, m)| {
                let subgroups: Vec<(String, Vec<String>)> = m
                    .subgroups
                    .iter()
                    .map(|(g, l)| (g.clone(), l.keys().cloned().collect()))
                    .collect();
                let fairness: Vec<(String, Vec<String>)> = m
                    .fairness
                    .iter()
                    .map(|(g, f)| (g.clone(), f.per_group.keys().cloned().collect()))
                    .collect();
                let targets: Vec<String> =
                    m.operating_points.sens_at_spec.keys().cloned().collect();
                (name.clone(), subgroups, fairness, targets)
            })
            .collect::<Vec<_>>()
    };
    if keys(pooled) != keys(expected) {
        out.push(format!("order: {:?} vs {:?}", keys(pooled), keys(expected)));
    }
    out
}

fn assert_same(pooled: &EvalReport, expected: &EvalReport, tol: f64, skip: &[&str]) {
    let d = report_diff(pooled, expected, tol, skip);
    assert!(d.is_empty(), "{} differences:\n{}", d.len(), d.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn pooled_sites_give_the_all_cases_report() {
    let cases = balanced();
    assert_eq!(cases.sites(), ["A", "B", "C"]);
    let expected = all_cases(&cases);
    let (round1, round2) = pool_both(&cases, None);

    // Every single-model figure, subgroup and fairness entry: bit for bit.
    assert_same(&round1, &expected, 0.0, &["comparisons", "warnings"]);
    assert_same(&round1, &expected, 1e-12, &["comparisons", "warnings"]);
    // Round 1 lists the same pairs with their AUROCs, no test and the reason.
    assert_eq!(round1.comparisons.len(), expected.comparisons.len());
    for (c, e) in round1.comparisons.iter().zip(&expected.comparisons) {
        assert_eq!((&c.a, &c.b), (&e.a, &e.b));
        assert_eq!((c.auc_a, c.auc_b), (e.auc_a, e.auc_b));
        assert_eq!(c.method, e.method);
        assert_eq!(c.reason.as_deref(), Some(ROUND1_COMPARISON_REASON));
        let numbers = [c.auc_diff, c.se_diff, c.z, c.p];
        assert!(numbers.iter().all(Option::is_none), "{c:?}");
        assert!(c.ci95_diff.is_none());
    }
    // The models' warnings come first, in evaluate's order (round 1 raises no comparison's).
    let model_warnings: Vec<&String> = expected
        .warnings
        .iter()
        .filter(|w| !w.starts_with("comparison "))
        .collect();
    assert_eq!(
        round1
            .warnings
            .iter()
            .take(model_warnings.len())
            .collect::<Vec<_>>(),
        model_warnings
    );
    assert!(
        round1
            .warnings
            .iter()
            .any(|w| w.contains("patient-clustered")),
        "{:?}",
        round1.warnings
    );

    // Round 2: the comparisons too, to rounding (the sums are added site by site).
    assert_same(&round2, &expected, 1e-12, &["warnings"]);
    let (c, e) = (&round2.comparisons[0], &expected.comparisons[0]);
    assert!(e.p.is_some() && e.se_diff.unwrap() > 0.0, "{e:?}");
    assert_eq!(c.reason, e.reason);
    // Evaluate's warnings come first, in its order; then the pooling notes.
    assert_eq!(
        round2.warnings[..expected.warnings.len()],
        expected.warnings[..]
    );
}

#[test]
fn site_summaries_hold_no_case_rows_and_round_trip_through_json() {
    let cases = balanced();
    let summaries = summaries(&cases, None);
    let pooled = serde_json::to_string(&pool(&summaries, &opts()).unwrap()).unwrap();
    let gridded = self::summaries(&cases, Some(2));
    let mut read_back = Vec::new();
    for (k, s) in summaries.iter().chain(&gridded).enumerate() {
        let json = serde_json::to_string_pretty(s).unwrap();
        let value: Value = serde_json::from_str(&json).unwrap();
        let distinct = s.models.values().map(|t| t.all.len()).max().unwrap();
        let site = cases.site(&s.site);
        // No per-case collection: no array or object longer than the distinct scores, and no
        // key about cases.
        fn walk(v: &Value, limit: usize, path: &str) {
            match v {
                Value::Array(a) => {
                    assert!(a.len() <= limit, "{path}: {} entries", a.len());
                    for (i, x) in a.iter().enumerate() {
                        walk(x, limit, &format!("{path}[{i}]"));
                    }
                }
                Value::Object(o) => {
                    assert!(o.len() <= limit, "{path}: {} keys", o.len());
                    for (k, x) in o {
                        assert!(!k.to_lowercase().contains("case"), "{path}: key {k}");
                        walk(x, limit, &format!("{path}.{k}"));
                    }
                }
                _ => {}
            }
        }
        walk(&value, distinct, "");
        // No case id as a string anywhere.
        for id in &site.ids {
            assert!(!json.contains(&format!("\"{id}\"")), "case id {id}");
        }
        assert_eq!(
            s.disclosure.contains("exactly as scored"),
            s.score_decimals.is_none(),
            "{}",
            s.disclosure
        );
        assert!(s.disclosure.contains("patient (cluster) column"));
        // What exact scores amount to is said plainly.
        assert!(s.disclosure.contains("a row per case"), "{}", s.disclosure);
        assert!(
            s.disclosure.contains("fewer than 5 cases"),
            "{}",
            s.disclosure
        );
        let back: SiteSummary = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, s);
        if k < summaries.len() {
            read_back.push(back);
        }
    }
    let again = serde_json::to_string(&pool(&read_back, &opts()).unwrap()).unwrap();
    assert_eq!(again, pooled);
}

#[test]
fn a_score_grid_pools_exactly_for_the_rounded_scores() {
    let cases = balanced();
    let expected = all_cases(&cases.rounded(2));
    let (round1, round2) = pool_both(&cases, Some(2));
    assert_same(&round1, &expected, 1e-12, &["comparisons", "warnings"]);
    assert_same(&round2, &expected, 1e-12, &["warnings"]);
    // Not the unrounded figures.
    assert!(
        !report_diff(
            &round1,
            &all_cases(&cases),
            1e-12,
            &["comparisons", "warnings"]
        )
        .is_empty()
    );
    let s = &summaries(&cases, Some(2))[0];
    assert!(
        s.models["score"].all.len() < s.n as usize,
        "a grid makes ties"
    );
    assert_eq!(s.score_decimals, Some(2));
    assert!(
        s.disclosure.contains("rounding to 2 decimals"),
        "{}",
        s.disclosure
    );
    for t in s.models.values() {
        assert!(t.all.len() <= 101);
        for (v, _, _) in t.all.rows() {
            assert_eq!(round_to_grid(v, 2), v);
            assert_eq!(v, (v * 100.0).round() / 100.0);
        }
    }
}

#[test]
fn round_to_grid_rounds_halves_away_from_zero_and_clamps() {
    assert_eq!(round_to_grid(0.125, 2), 0.13);
    assert_eq!(round_to_grid(0.124, 2), 0.12);
    assert_eq!(round_to_grid(0.999, 2), 1.0);
    assert_eq!(round_to_grid(0.5, 0), 1.0);
    assert_eq!(round_to_grid(0.0, 3).to_bits(), 0.0f64.to_bits());
    assert_eq!(round_to_grid(-0.0, 3).to_bits(), 0.0f64.to_bits());
    assert_eq!(
        round_to_grid(0.123456789, 40),
        round_to_grid(0.123456789, 15)
    );
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    for _ in 0..10_000 {
        let s = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        for d in 0..=15 {
            let r = round_to_grid(s, d);
            assert!((0.0..=1.0).contains(&r));
            assert_eq!(round_to_grid(r, d), r, "idempotent: {s} at {d}");
            assert!((r - s).abs() <= 0.5 * 10f64.powi(-(d as i32)) + 1e-15);
        }
    }
}

#[test]
fn tie_heavy_unequal_sites_with_a_negatives_only_site_pool_exactly() {
    for seed in [1u64, 2, 3] {
        let cases = tie_heavy(seed);
        let expected = all_cases(&cases);
        let summaries = summaries(&cases, None);
        let s4 = summaries.iter().find(|s| s.site == "s4").unwrap();
        assert_eq!((s4.positives, s4.negatives), (0, 60));
        let s3 = summaries.iter().find(|s| s.site == "s3").unwrap();
        assert!(!s3.models["a"].groups["scanner"].contains_key("aGE"));
        let s1 = summaries.iter().find(|s| s.site == "s1").unwrap();
        assert!(!s1.models["a"].groups["scanner"].contains_key("Philips"));
        // Levels by bytes: "Philips" < "Zeiss" < "aGE" < "Ölympus".
        let levels: Vec<&String> = expected.models["a"].subgroups["scanner"].keys().collect();
        assert_eq!(levels, ["Philips", "Zeiss", "aGE", "Ölympus"]);
        assert!(
            summaries[0].models["a"].all.len() <= 11,
            "scores on a 0.1 grid"
        );
        let (round1, round2) = pool_both(&cases, None);
        assert_same(&round1, &expected, 0.0, &["comparisons", "warnings"]);
        assert_same(&round2, &expected, 1e-12, &["warnings"]);
    }
}

#[test]
fn bootstraps_pool_exactly_from_the_tables() {
    // A replicate draws positions among each class's cases in ascending score order (the AUROC
    // bootstrap), or counts at the tie groups' boundaries (sensitivity at specificity): both
    // depend on the count table alone, so the pooled CIs are the all-cases ones, bit for bit.
    // Unequal, tie-heavy sites: the pooled tables' order of the cases differs from the sites'.
    for cases in [balanced(), tie_heavy(9)] {
        let opts = EvalOptions {
            bootstrap: 200,
            sens_ci_bootstrap: 100,
            ..opts()
        };
        let expected = evaluate(&cases.owned().input(), &opts).unwrap();
        let pooled = pool(&summaries(&cases, None), &opts).unwrap();
        assert_eq!(pooled.options, opts);
        let (a, b) = (
            serde_json::to_value(&pooled).unwrap(),
            serde_json::to_value(&expected).unwrap(),
        );
        for (model, m) in b["models"].as_object().unwrap() {
            assert!(m["bootstrap"]["ci95"].is_array(), "{model}");
            assert!(m["sens_at_spec_ci95"].is_object(), "{model}");
        }
        let mut out = Vec::new();
        diff("", &a["models"], &b["models"], 0.0, &mut out);
        assert!(out.is_empty(), "{out:#?}");
    }
}

#[test]
fn one_class_and_empty_sites_pool_without_panics_or_nan() {
    let cases = balanced();
    // Negatives only, across three sites, one of which has no case at all.
    let negatives = cases.subset(|i| !cases.labels[i]);
    let mut negatives = negatives.subset(|i| negatives.site[i] != "C");
    let empty = summarize(&cases.subset(|_| false).owned().input(), "C", None, MIN).unwrap();
    assert_eq!(empty.n, 0);
    let mut sums = summaries(&negatives, None);
    sums.push(empty.clone());
    let expected = all_cases(&negatives);
    let round1 = pool(&sums, &opts()).unwrap();
    // With one class the comparisons are undefined in both rounds, as in evaluate, and the
    // warnings are evaluate's, in its order, before the pooling notes.
    assert_same(&round1, &expected, 0.0, &["warnings"]);
    assert!(!expected.warnings.is_empty());
    assert_eq!(
        round1.warnings[..expected.warnings.len()],
        expected.warnings[..]
    );
    let request = paired_request(&sums).unwrap();
    assert_eq!(request.models["score"].auroc, None);
    let mut answers: Vec<PairedSiteSums> = ["A", "B"]
        .iter()
        .map(|s| paired_site_sums(&negatives.site(s).owned().input(), s, &request, REQ).unwrap())
        .collect();
    answers.push(
        paired_site_sums(&cases.subset(|_| false).owned().input(), "C", &request, REQ).unwrap(),
    );
    for a in &answers {
        for p in &a.pairs {
            assert!(p.s10.iter().chain(&p.s01).all(|v| *v == 0.0), "{p:?}");
        }
    }
    let round2 = pool_paired(&sums, &request, REQ, &answers, &opts()).unwrap();
    assert_same(&round2, &expected, 0.0, &["warnings"]);

    // A single positive: DeLong undefined (m = 1), the AUROC defined.
    let one = cases.subset(|i| !cases.labels[i] || cases.ids[i] == "2");
    assert!(one.labels.iter().filter(|y| **y).count() == 1);
    let (r1, r2) = pool_both(&one, None);
    assert_same(&r1, &all_cases(&one), 0.0, &["warnings"]);
    assert_same(&r2, &all_cases(&one), 0.0, &["warnings"]);

    // Only empty sites.
    negatives = cases.subset(|_| false);
    let only_empty = vec![empty];
    assert_same(
        &pool(&only_empty, &opts()).unwrap(),
        &all_cases(&negatives),
        0.0,
        &["warnings"],
    );
}

#[test]
fn inconsistent_summaries_are_refused_naming_the_site() {
    let cases = balanced();
    let good = summaries(&cases, None);
    let opts = opts();
    let names = |e: &PoolError, site: &str| {
        assert!(e.to_string().contains(&format!("'{site}'")), "{e}");
    };

    // A site missing a model.
    let mut b_only = cases.site("B");
    b_only.models.truncate(1);
    let mut sums = good.clone();
    sums[1] = summarize(&b_only.owned().input(), "B", None, MIN).unwrap();
    let e = pool(&sums, &opts).unwrap_err();
    assert!(
        matches!(&e, PoolError::Models { site, .. } if site == "B"),
        "{e:?}"
    );
    names(&e, "B");
    assert!(matches!(
        paired_request(&sums),
        Err(PoolError::Models { .. })
    ));

    // A site's summary sent again under another name: refused where nearly every case has a
    // score of its own, with exact scores and on a fine grid alike (site A's 4-decimal
    // scores are nearly all distinct); noted only on a coarse grid, where sites share tables
    // by chance.
    for (grid, refused) in [(None, true), (Some(4), true), (Some(1), false)] {
        let mut sums = summaries(&cases, grid);
        let mut copy = sums[0].clone();
        copy.site = "A-copy".into();
        sums.push(copy);
        match pool(&sums, &opts) {
            Err(PoolError::Input { site, reason }) => {
                assert!(refused, "{grid:?}: {reason}");
                assert_eq!(site, "A-copy");
                assert!(reason.contains("counted twice"), "{reason}");
            }
            Ok(r) => {
                assert!(!refused, "{grid:?}: pooled");
                assert!(
                    r.warnings
                        .iter()
                        .any(|w| w.contains("sent the same count tables")),
                    "{:?}",
                    r.warnings
                );
            }
            Err(e) => panic!("{grid:?}: {e:?}"),
        }
    }

    // Two tiny sites whose few continuous scores match (8 cases each): too few distinct
    // scores to rule out chance, noted only.
    let tiny = summarize(&cases.subset(|i| i < 8).owned().input(), "T1", None, 1).unwrap();
    let mut twin = tiny.clone();
    twin.site = "T2".into();
    let r = pool(&[tiny, twin], &opts).unwrap();
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("sent the same count tables")),
        "{:?}",
        r.warnings
    );

    // Two sites with the same name.
    let mut sums = good.clone();
    sums[2].site = "A".into();
    let e = pool(&sums, &opts).unwrap_err();
    assert!(
        matches!(&e, PoolError::DuplicateSite { site } if site == "A"),
        "{e:?}"
    );
    names(&e, "A");

    // Level tables that do not add up to the `all` table.
    let mut sums = good.clone();
    let levels = sums[1].models["score"].groups.get_mut("sex").unwrap();
    let f = levels.get_mut("F").unwrap();
    let rows: Vec<(f64, u64, u64)> = f.rows().collect();
    let (v, p, n) = rows[0];
    let moved: Vec<(f64, u64, u64)> = std::iter::once((v, n, p))
        .chain(rows[1..].iter().copied())
        .collect();
    *f = CountTable::from_rows(moved).unwrap();
    let e = pool(&sums, &opts).unwrap_err();
    assert!(
        matches!(&e, PoolError::Counts { site, model: Some(m), .. } if site == "B" && m == "score"),
        "{e:?}"
    );
    names(&e, "B");
    // ... also when read from JSON.
    let json = serde_json::to_string(&sums[1]).unwrap();
    let e = serde_json::from_str::<SiteSummary>(&json).unwrap_err();
    assert!(e.to_string().contains("site 'B'"), "{e}");
    // Level sums right per model, but a level's classes differ between the models.
    let mut sums = good.clone();
    let b_levels = sums[0].models["score_b"].groups["sex"].clone();
    let a_levels = sums[0].models["score"].groups["sex"].clone();
    assert_ne!(a_levels["F"].class_counts(), a_levels["M"].class_counts());
    let mut swapped = b_levels.clone();
    swapped.insert("F".into(), b_levels["M"].clone());
    swapped.insert("M".into(), b_levels["F"].clone());
    *sums[0]
        .models
        .get_mut("score_b")
        .unwrap()
        .groups
        .get_mut("sex")
        .unwrap() = swapped;
    let e = pool(&sums, &opts).unwrap_err();
    assert!(
        matches!(&e, PoolError::Counts { site, level: Some(_), .. } if site == "A"),
        "{e:?}"
    );

    // Mismatched grids.
    let mut sums = good.clone();
    sums[2] = summarize(&cases.site("C").owned().input(), "C", Some(3), MIN).unwrap();
    let e = pool(&sums, &opts).unwrap_err();
    assert!(
        matches!(&e, PoolError::Grid { site, .. } if site == "C"),
        "{e:?}"
    );
    names(&e, "C");
    // A declared grid the scores are not on.
    let mut sums = good.clone();
    sums[0].score_decimals = Some(2);
    let e = pool(&sums, &opts).unwrap_err();
    assert!(
        matches!(&e, PoolError::Table { site: Some(s), .. } if s == "A"),
        "{e:?}"
    );
    // A grid finer than an f64 holds.
    let e = summarize(&cases.site("A").owned().input(), "A", Some(16), MIN).unwrap_err();
    assert!(matches!(&e, PoolError::Grid { .. }), "{e:?}");

    // Another format.
    let mut sums = good.clone();
    sums[1].format = "harness-site-summary/3".into();
    let e = pool(&sums, &opts).unwrap_err();
    assert!(matches!(&e, PoolError::Format { .. }), "{e:?}");
    names(&e, "B");
    assert!(matches!(pool(&[], &opts), Err(PoolError::NoSites)));
}

#[test]
fn tampered_count_tables_are_refused() {
    let cases = balanced();
    let good = summaries(&cases, None);
    let json = serde_json::to_value(&good[0]).unwrap();
    // Format 2 writes no `all` table where there are groupings: tamper with a level's.
    assert!(json["models"]["score"].get("all").is_none(), "{json}");
    let tamper = |edit: &dyn Fn(&mut Vec<Value>)| {
        let mut v = json.clone();
        let levels = v["models"]["score"]["groups"]["sex"]
            .as_object_mut()
            .unwrap();
        edit(levels.values_mut().next().unwrap().as_array_mut().unwrap());
        serde_json::from_value::<SiteSummary>(v)
            .unwrap_err()
            .to_string()
    };
    let e = tamper(&|rows| rows.reverse());
    assert!(
        e.contains("site 'A', model 'score'") && e.contains("ascending"),
        "{e}"
    );
    let e = tamper(&|rows| rows[3] = rows[2].clone());
    assert!(e.contains("distinct and ascending"), "{e}");
    let e = tamper(&|rows| rows[0][0] = serde_json::json!(1.5));
    assert!(
        e.contains("site 'A'") && e.contains("not a probability"),
        "{e}"
    );
    let e = tamper(&|rows| rows[0][0] = serde_json::json!("NaN"));
    assert!(
        e.contains("site 'A'") && e.contains("\"NaN\" is a string"),
        "{e}"
    );
    let e = tamper(&|rows| rows[0] = serde_json::json!([0.0, 0, 0]));
    assert!(e.contains("site 'A'") && e.contains("no cases"), "{e}");
    let e = tamper(&|rows| rows[0][1] = serde_json::json!(-1));
    assert!(e.contains("negative"), "{e}");
    let e = tamper(&|rows| rows[0][2] = serde_json::json!(0.5));
    assert!(e.contains("not a whole number"), "{e}");
    let e = tamper(&|rows| rows[0] = serde_json::json!([0.0, 1]));
    assert!(e.contains("not [score, positives, negatives]"), "{e}");
    // Counts that no longer match n.
    let e = tamper(&|rows| rows[0][1] = serde_json::json!(rows[0][1].as_u64().unwrap() + 1));
    assert!(e.contains("site 'A', model 'score'"), "{e}");
    // A level with no cases (summaries leave those out): it would pool as a phantom level.
    let mut v = json.clone();
    v["models"]["score"]["groups"]["sex"]["ZZ"] = serde_json::json!([]);
    let e = serde_json::from_value::<SiteSummary>(v)
        .unwrap_err()
        .to_string();
    assert!(e.contains("'ZZ'") && e.contains("no cases"), "{e}");

    // A table on its own.
    for bad in [
        "[[0.5, 1, 0], [0.2, 0, 1]]",
        "[[1.5, 1, 0]]",
        "[[\"NaN\", 1, 0]]",
    ] {
        assert!(serde_json::from_str::<CountTable>(bad).is_err(), "{bad}");
    }
    let t: CountTable = serde_json::from_str("[[0, 1, 2], [0.5, 0, 1], [1, 3, 0]]").unwrap();
    assert_eq!(t.class_counts(), (4, 3));
    assert_eq!(
        serde_json::to_string(&t).unwrap(),
        "[[0.0,1,2],[0.5,0,1],[1.0,3,0]]"
    );
    let e = CountTable::from_rows([(0.5, 1, 0), (0.2, 0, 1)]).unwrap_err();
    assert!(matches!(&e, PoolError::Table { site: None, .. }), "{e:?}");
    let e = CountTable::from_rows([(f64::NAN, 1, 0)]).unwrap_err();
    assert!(matches!(&e, PoolError::Table { .. }), "{e:?}");
    let e = CountTable::from_rows([(0.0, 1, 0), (-0.0, 0, 1)]).unwrap_err();
    assert!(matches!(&e, PoolError::Table { .. }), "{e:?}");
    assert!(CountTable::from_rows([(0.0, u64::MAX, 1)]).is_err());
}

#[test]
fn the_second_round_refuses_missing_stale_or_foreign_answers() {
    let cases = balanced();
    let sums = summaries(&cases, None);
    let request = paired_request(&sums).unwrap();
    assert_eq!(
        request.pairs,
        [["score".to_string(), "score_b".to_string()]]
    );
    // The sites answer the request file the coordinator wrote (compact JSON).
    let digest = request_digest(&request);
    let answer =
        |s: &str| paired_site_sums(&cases.site(s).owned().input(), s, &request, &digest).unwrap();
    let answers: Vec<PairedSiteSums> = ["A", "B", "C"].iter().map(|s| answer(s)).collect();
    let opts = opts();
    assert!(pool_paired(&sums, &request, &digest, &answers, &opts).is_ok());

    // An answer to another request (an earlier round with other sites, say) is refused, even
    // when its pairs and counts fit: its placements were made against other pooled tables.
    let mut stale = answers.clone();
    let mut earlier = request.clone();
    earlier.pairs.clear();
    stale[0].request_sha256 = request_digest(&earlier);
    let e = pool_paired(&sums, &request, &digest, &stale, &opts).unwrap_err();
    assert!(
        matches!(&e, PoolError::Sums { site, reason } if site == "A" && reason.contains("another request")),
        "{e:?}"
    );

    // A site's sums missing.
    let e = pool_paired(&sums, &request, &digest, &answers[..2], &opts).unwrap_err();
    assert!(
        matches!(&e, PoolError::MissingSums { site } if site == "C"),
        "{e:?}"
    );
    assert!(e.to_string().contains("'C'"), "{e}");
    // Twice, or from a stranger.
    let mut twice = answers.clone();
    twice.push(answers[0].clone());
    let e = pool_paired(&sums, &request, &digest, &twice, &opts).unwrap_err();
    assert!(
        matches!(&e, PoolError::Sums { site, .. } if site == "A"),
        "{e:?}"
    );
    let mut stranger = answers.clone();
    stranger[1].site = "D".into();
    let e = pool_paired(&sums, &request, &digest, &stranger, &opts).unwrap_err();
    assert!(
        matches!(&e, PoolError::Sums { site, .. } if site == "D"),
        "{e:?}"
    );
    // Counts that are not the summary's.
    let mut grown = answers.clone();
    grown[1].pairs[0].m += 1;
    let e = pool_paired(&sums, &request, &digest, &grown, &opts).unwrap_err();
    assert!(
        matches!(&e, PoolError::Sums { site, .. } if site == "B"),
        "{e:?}"
    );
    // A request that is not the summaries'.
    let mut other = request.clone();
    other.pairs.clear();
    let e = pool_paired(&sums, &other, &digest, &answers, &opts).unwrap_err();
    assert!(matches!(&e, PoolError::Request { .. }), "{e:?}");

    // From the request's JSON text: the bytes written, or the same request re-encoded (parsed
    // then), give the report of the parsed request; another request, or not one, is refused.
    let want =
        serde_json::to_string(&pool_paired(&sums, &request, &digest, &answers, &opts).unwrap());
    let text = serde_json::to_vec(&request).unwrap();
    let pretty = serde_json::to_vec_pretty(&request).unwrap();
    for json in [
        text.clone(),
        [text.as_slice(), b"\n"].concat(),
        pretty.clone(),
    ] {
        let got = pool_paired_json(&sums, &json, &answers, &opts).unwrap();
        assert_eq!(
            serde_json::to_string(&got).unwrap(),
            *want.as_ref().unwrap()
        );
    }
    let e = pool_paired_json(&sums, &serde_json::to_vec(&other).unwrap(), &answers, &opts);
    assert!(matches!(&e, Err(PoolError::Request { .. })), "{e:?}");
    // A table with its classes swapped.
    let mut moved = request.clone();
    let model = &mut moved.models.get_index_mut(0).unwrap().1;
    model.table = CountTable::from_rows(model.table.rows().map(|(s, p, n)| (s, n, p))).unwrap();
    let e = pool_paired_json(&sums, &serde_json::to_vec(&moved).unwrap(), &answers, &opts);
    assert!(matches!(&e, Err(PoolError::Request { .. })), "{e:?}");
    let e = pool_paired_json(&sums, b"{\"format\": 1}", &answers, &opts);
    assert!(
        matches!(&e, Err(PoolError::Request { reason, .. }) if reason.contains("not a paired request")),
        "{e:?}"
    );
    // With the request right, a site's missing sums are refused as with a parsed request.
    let e = pool_paired_json(&sums, &text, &answers[..2], &opts).unwrap_err();
    assert!(matches!(&e, PoolError::MissingSums { .. }), "{e:?}");

    // At a site: data changed since round 1.
    let mut changed = cases.site("B");
    changed.models[0].1[0] = 0.123456789;
    let e = paired_site_sums(&changed.owned().input(), "B", &request, REQ).unwrap_err();
    assert!(
        matches!(&e, PoolError::Stale { site, model, .. } if site == "B" && model == "score"),
        "{e:?}"
    );
    assert!(e.to_string().contains("site 'B'"), "{e}");
    let doubled = cases.subset(|i| cases.site[i] == "B" || cases.site[i] == "C");
    let both = doubled.subset(|i| doubled.site[i] == "B" || i < 400);
    let more = Cases {
        ids: [both.ids.clone(), both.ids.clone()].concat(),
        labels: [both.labels.clone(), both.labels.clone()].concat(),
        models: both
            .models
            .iter()
            .map(|(n, s)| (n.clone(), [s.clone(), s.clone()].concat()))
            .collect(),
        groups: both
            .groups
            .iter()
            .map(|(n, s)| (n.clone(), [s.clone(), s.clone()].concat()))
            .collect(),
        site: [both.site.clone(), both.site.clone()].concat(),
    };
    let e = paired_site_sums(&more.owned().input(), "B", &request, REQ).unwrap_err();
    assert!(matches!(&e, PoolError::Stale { .. }), "{e:?}");
    // A model the site lacks; a tampered AUROC; another format.
    let mut one_model = cases.site("A");
    one_model.models.truncate(1);
    let e = paired_site_sums(&one_model.owned().input(), "A", &request, REQ).unwrap_err();
    assert!(
        matches!(&e, PoolError::Request { site: Some(site), reason } if site == "A" && reason.contains("model 'score_b', which is not among the models given here (score)")),
        "{e:?}"
    );
    let mut bad = request.clone();
    bad.models.get_mut("score").unwrap().auroc = Some(0.5);
    let e = paired_site_sums(&cases.site("A").owned().input(), "A", &bad, REQ).unwrap_err();
    assert!(
        matches!(&e, PoolError::Request { site: Some(s), .. } if s == "A"),
        "{e:?}"
    );
    let mut bad = request.clone();
    bad.format = "harness-paired-request/0".into();
    let e = paired_site_sums(&cases.site("A").owned().input(), "A", &bad, REQ).unwrap_err();
    assert!(matches!(&e, PoolError::Format { .. }), "{e:?}");

    // The messages round-trip through JSON.
    let req_back: harness_metrics::PairedRequest =
        serde_json::from_str(&serde_json::to_string(&request).unwrap()).unwrap();
    assert_eq!(req_back, request);
    for a in &answers {
        let back: PairedSiteSums =
            serde_json::from_str(&serde_json::to_string(a).unwrap()).unwrap();
        assert_eq!((&back.site, back.pairs.len()), (&a.site, a.pairs.len()));
        for (x, y) in back.pairs.iter().zip(&a.pairs) {
            assert_eq!((&x.a, &x.b, x.m, x.n), (&y.a, &y.b, y.m, y.n));
            // serde_json's default reader may be an ulp off.
            for (u, v) in x.s10.iter().chain(&x.s01).zip(y.s10.iter().chain(&y.s01)) {
                assert!((u - v).abs() <= 1e-15 * v.abs(), "{u} vs {v}");
            }
        }
    }
}

/// The table with each score moved by `to` (a reader's drift: the same for every table).
fn drift(t: &CountTable, to: &impl Fn(f64) -> f64) -> CountTable {
    CountTable::from_rows(t.rows().map(|(v, p, n)| (to(v), p, n))).unwrap()
}

/// One ulp up for some scores (decided by their bits), as a JSON reader that does not round
/// correctly might read them; 1 stays 1.
fn ulp_up(every: u64) -> impl Fn(f64) -> f64 {
    move |v: f64| {
        if v < 1.0 && (v.to_bits() >> 29).is_multiple_of(every) {
            f64::from_bits(v.to_bits() + 1)
        } else {
            v
        }
    }
}

/// Full-precision scores (a model's float outputs). With the workspace's serde_json
/// (`float_roundtrip`) the summaries read back bit for bit. A reader that is an ulp off on some
/// scores (serde_json without `float_roundtrip`), on the way to the coordinator and again on
/// the way back, leaves round 1 within 1e-12 (the order of the scores, hence every rank
/// statistic, is untouched) and round 2 still recognises every score.
#[test]
fn full_precision_scores_survive_json_and_an_inexact_reader() {
    let mut cases = tie_heavy(7);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    for (_, scores) in &mut cases.models {
        for s in scores.iter_mut() {
            let noise = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            *s = ((*s + 0.05 * noise) as f32 as f64).clamp(0.0, 1.0);
        }
    }
    // (A site has a scanner level of 4 cases; the minimum is not what this test is about.)
    let direct = summaries_min(&cases, None, 1);
    for s in &direct {
        let back: SiteSummary = serde_json::from_str(&serde_json::to_string(s).unwrap()).unwrap();
        assert_eq!(&back, s, "JSON must give every score back");
    }
    // Drift on the way to the coordinator.
    let up = ulp_up(3);
    let read: Vec<SiteSummary> = direct
        .iter()
        .map(|s| {
            let mut s = s.clone();
            for t in s.models.values_mut() {
                t.all = drift(&t.all, &up);
                for levels in t.groups.values_mut() {
                    for l in levels.values_mut() {
                        *l = drift(l, &up);
                    }
                }
            }
            s
        })
        .collect();
    let moved = direct[0].models["a"]
        .all
        .rows()
        .zip(read[0].models["a"].all.rows())
        .filter(|(u, v)| u.0 != v.0)
        .count();
    assert!(moved > 10, "{moved} scores moved");
    let expected = all_cases(&cases);
    assert_same(
        &pool(&read, &opts()).unwrap(),
        &expected,
        1e-12,
        &["comparisons", "warnings"],
    );
    // And again on the way back to the sites: up to 2 ulps from their own scores.
    let mut request = paired_request(&read).unwrap();
    for m in request.models.values_mut() {
        m.table = drift(&m.table, &ulp_up(2));
    }
    let answers: Vec<PairedSiteSums> = cases
        .sites()
        .iter()
        .map(|s| paired_site_sums(&cases.site(s).owned().input(), s, &request, REQ).unwrap())
        .collect();
    let round2 = pool_paired(&read, &request, REQ, &answers, &opts()).unwrap();
    assert_same(&round2, &expected, 1e-12, &["warnings"]);
    // Beyond the slack a score is not recognised.
    for m in request.models.values_mut() {
        m.table = drift(&m.table, &|v: f64| {
            if v < 0.5 {
                f64::from_bits(v.to_bits() + 1000)
            } else {
                v
            }
        });
    }
    let e = paired_site_sums(&cases.site("s1").owned().input(), "s1", &request, REQ).unwrap_err();
    assert!(matches!(&e, PoolError::Stale { .. }), "{e:?}");
    // On a grid of 15 decimals, scores have at most 15 significant digits.
    for s in summaries_min(&cases, Some(15), 1) {
        let back: SiteSummary = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}

/// The pre-refactor `placements` and `paired_delong`, verbatim but for names.
fn old_placements(ranked: &Ranked) -> Vec<f64> {
    let (mf, nf) = (ranked.m as f64, ranked.n as f64);
    let mut v = vec![0.0; ranked.order.len()];
    let (mut start, mut neg_below, mut pos_below) = (0usize, 0u64, 0u64);
    for g in &ranked.groups {
        let len = (g.pos + g.neg) as usize;
        let v10 = (neg_below as f64 + 0.5 * g.neg as f64) / nf;
        let v01 = ((ranked.m - pos_below - g.pos) as f64 + 0.5 * g.pos as f64) / mf;
        for (&case, &key) in ranked.order[start..start + len]
            .iter()
            .zip(&ranked.keys[start..start + len])
        {
            v[case as usize] = if key & 1 == 1 { v10 } else { v01 };
        }
        start += len;
        neg_below += g.neg;
        pos_below += g.pos;
    }
    v
}

fn old_paired(labels: &[bool], auc_a: f64, va: &[f64], auc_b: f64, vb: &[f64]) -> Option<[f64; 6]> {
    let (mut m, mut n) = (0u64, 0u64);
    let mut s10 = [0.0f64; 3];
    let mut s01 = [0.0f64; 3];
    for ((&y, &a), &b) in labels.iter().zip(va).zip(vb) {
        let (da, db) = (a - auc_a, b - auc_b);
        let acc = if y {
            m += 1;
            &mut s10
        } else {
            n += 1;
            &mut s01
        };
        acc[0] += da * da;
        acc[1] += db * db;
        acc[2] += da * db;
    }
    if m < 2 || n < 2 {
        return None;
    }
    let (mf, nf) = (m as f64, n as f64);
    let s = |k: usize| s10[k] / (mf - 1.0) / mf + s01[k] / (nf - 1.0) / nf;
    let var = s(0) + s(1) - 2.0 * s(2);
    let se = var.max(0.0).sqrt();
    let diff = auc_a - auc_b;
    let z = diff / se;
    Some([diff, se, z, s(0), s(1), s(2)])
}

#[test]
fn delong_refactor_gives_the_old_placements_and_paired_test_bit_for_bit() {
    for seed in 0..20u64 {
        let cases = tie_heavy(seed);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let labels = &cases.labels;
        // Tie-heavy scores and continuous ones.
        let cont: Vec<f64> = (0..labels.len())
            .map(|_| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
            .collect();
        for (a, b) in [
            (&cases.models[0].1, &cases.models[1].1),
            (&cases.models[0].1, &cont),
        ] {
            let (ra, rb) = (Ranked::new(labels, a), Ranked::new(labels, b));
            let (pa, pb) = (placements(&ra), placements(&rb));
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&pa), bits(&old_placements(&ra)));
            assert_eq!(bits(&pb), bits(&old_placements(&rb)));
            let (ta, tb) = (0.61, 0.57);
            let new = paired_delong(labels, ta, &pa, tb, &pb).unwrap();
            let old = old_paired(labels, ta, &pa, tb, &pb).unwrap();
            assert_eq!(new.diff.to_bits(), old[0].to_bits());
            assert_eq!(new.se.to_bits(), old[1].to_bits());
            assert_eq!(new.z.unwrap().to_bits(), old[2].to_bits());
            // Sums over disjoint parts add up to the whole, to rounding.
            let part = |keep: &dyn Fn(usize) -> bool| {
                let mut s = PairedSums::default();
                for i in (0..labels.len()).filter(|&i| keep(i)) {
                    s.push(labels[i], pa[i] - ta, pb[i] - tb);
                }
                s
            };
            let whole = part(&|_| true);
            let split = part(&|i| i % 3 == 0) + part(&|i| i % 3 != 0);
            assert_eq!((split.m, split.n), (whole.m, whole.n));
            let (x, y) = (whole.finish(ta, tb).unwrap(), split.finish(ta, tb).unwrap());
            assert_eq!(x, new);
            assert!((x.se - y.se).abs() < 1e-14 && (x.p.unwrap() - y.p.unwrap()).abs() < 1e-12);
        }
    }
}

/// Format 2 leaves out a model's `all` table where a grouping column's level tables add up to
/// it (with exact scores and one grouping column, half the size of a format-1 file); format-1 files, which always hold
/// it, still read to the same summary and pool to the same report. A file missing a table it
/// needs, or whose other grouping does not add up to the rebuilt `all`, is refused.
#[test]
fn both_summary_formats_read_to_the_same_summary() {
    use harness_metrics::pool::{SITE_FORMAT, SITE_FORMAT_V1};
    let cases = balanced();
    let good = summaries(&cases, None);
    let opts = opts();
    let expected = serde_json::to_string(&pool(&good, &opts).unwrap()).unwrap();
    let v2 = serde_json::to_value(&good[0]).unwrap();
    assert_eq!(v2["format"], SITE_FORMAT);
    for t in v2["models"].as_object().unwrap().values() {
        assert!(t.get("all").is_none(), "{t}");
        assert_eq!(t["groups"].as_object().unwrap().len(), 2);
    }
    // Edited as text: a `serde_json::Value` would sort the keys, and with them the groupings.
    let v1: Vec<SiteSummary> = good
        .iter()
        .map(|s| {
            let mut text = serde_json::to_string(s).unwrap().replacen(
                &format!("\"format\":\"{SITE_FORMAT}\""),
                &format!("\"format\":\"{SITE_FORMAT_V1}\""),
                1,
            );
            let mut at = 0;
            for t in s.models.values() {
                at += text[at..].find("{\"groups\":").unwrap() + 1;
                let all = format!("\"all\":{},", serde_json::to_string(&t.all).unwrap());
                text.insert_str(at, &all);
                at += all.len();
            }
            assert!(text.contains("\"all\":[["), "{text}");
            serde_json::from_str(&text).unwrap()
        })
        .collect();
    assert_eq!(v1, good, "a format-1 file reads to the same summary");
    assert_eq!(
        serde_json::to_string(&pool(&v1, &opts).unwrap()).unwrap(),
        expected
    );

    // Format 1 without `all`.
    let mut v = v2.clone();
    v["format"] = SITE_FORMAT_V1.into();
    let e = serde_json::from_value::<SiteSummary>(v)
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs each model's 'all' table"), "{e}");
    // One grouping no longer adds up to the `all` rebuilt from the other.
    for grouping in ["sex", "age_band"] {
        let mut v = v2.clone();
        let levels = v["models"]["score"]["groups"][grouping]
            .as_object_mut()
            .unwrap();
        let rows = levels.values_mut().next().unwrap().as_array_mut().unwrap();
        let last = rows.len() - 1;
        rows[last][0] = serde_json::json!(0.999_999_9);
        let e = serde_json::from_value::<SiteSummary>(v)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("site 'A', model 'score'") && e.contains("do not add up"),
            "{e}"
        );
    }

    // Without grouping columns, format 2 writes `all`, and cannot do without it.
    let owned = cases.site("A").owned();
    let mut input = owned.input();
    input.groupings.clear();
    let ungrouped = serde_json::to_value(summarize(&input, "A", None, MIN).unwrap()).unwrap();
    assert!(
        ungrouped["models"]["score"]["all"].is_array(),
        "{ungrouped}"
    );
    let mut v = ungrouped.clone();
    v["models"]["score"].as_object_mut().unwrap().remove("all");
    let e = serde_json::from_value::<SiteSummary>(v)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no 'all' table and no grouping column"), "{e}");
    assert!(serde_json::from_value::<SiteSummary>(ungrouped).is_ok());
}
