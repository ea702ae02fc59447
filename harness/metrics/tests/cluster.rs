//! Patient-clustered AUROC statistics (`cluster.rs`) against the reference values of
//! `shared/fixtures/tasks` (an independent O(N²) Obuchowski implementation cross-checked with
//! `doAUCcluster.R`; numpy and R cluster bootstraps; pROC `ci.coords`), at the tolerances of
//! `shared/spec/tasks.md`; against a naive O(N²) Obuchowski in this file; and the invariants:
//! singletons give DeLong's variance exactly, undefined cases say why, seeds reproduce.

use harness_metrics::Ranked;
use harness_metrics::bootstrap::quantile_type7;
use harness_metrics::cluster::{
    ClusterBootstrap, ClusteredComparisonReport, ClusteredModel, ClusteredReport, ClusteredSensCi,
    Clusters, cluster_bootstrap_auroc, cluster_bootstrap_aurocs, cluster_replicate_aurocs,
    obuchowski_auroc, paired_obuchowski, sens_at_spec_ci, sens_at_spec_ci_clustered,
};
use harness_metrics::delong::{delong, paired_delong, placements};
use harness_metrics::roc::sens_at_spec;
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const CASE: &str = "clustered_small_n60_patients24";

/// `shared/fixtures/tasks`, next to the checkout; `None` (and a message) when it is absent.
fn fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/tasks");
    if dir.join("cases").join(format!("{CASE}.csv")).is_file() {
        Some(dir)
    } else {
        println!("skipped: clustered fixtures not found at {}", dir.display());
        None
    }
}

/// The fixture's cases: labels, scores of A and B, patient codes (first appearance order)
/// and the number of patients.
struct Cases {
    labels: Vec<bool>,
    a: Vec<f64>,
    b: Vec<f64>,
    codes: Vec<u32>,
    n_clusters: usize,
}

fn read_cases(dir: &Path) -> Cases {
    let text = std::fs::read_to_string(dir.join("cases").join(format!("{CASE}.csv"))).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (pid, label, score, score_b) = (
        col("patient_id"),
        col("label"),
        col("score"),
        col("score_b"),
    );
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut cases = Cases {
        labels: Vec::new(),
        a: Vec::new(),
        b: Vec::new(),
        codes: Vec::new(),
        n_clusters: 0,
    };
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let next = ids.len() as u32;
        cases
            .codes
            .push(*ids.entry(f[pid].to_string()).or_insert(next));
        cases.labels.push(f[label] == "1");
        cases.a.push(f[score].parse().unwrap());
        cases.b.push(f[score_b].parse().unwrap());
    }
    cases.n_clusters = ids.len();
    cases
}

fn read_expected(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("expected").join(format!("{CASE}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn pair(v: &Value) -> [f64; 2] {
    [f(&v[0]), f(&v[1])]
}

/// Collects mismatches instead of stopping at the first, so one run shows them all.
#[derive(Default)]
struct Checker {
    bad: Vec<String>,
}

impl Checker {
    fn abs(&mut self, what: &str, got: f64, want: f64, tol: f64) {
        // NaN fails too.
        let ok = (got - want).abs() <= tol;
        if !ok {
            self.bad.push(format!(
                "{what}: got {got:e} want {want:e} (|Δ| {:e} > {tol:e})",
                (got - want).abs()
            ));
        }
    }

    fn rel(&mut self, what: &str, got: f64, want: f64, tol: f64) {
        let ok = (got - want).abs() <= tol * want.abs();
        if !ok {
            self.bad.push(format!(
                "{what}: got {got:e} want {want:e} (relative {:e} > {tol:e})",
                ((got - want) / want).abs()
            ));
        }
    }

    fn pair(&mut self, what: &str, got: [f64; 2], want: [f64; 2], tol: f64) {
        self.abs(&format!("{what}[0]"), got[0], want[0], tol);
        self.abs(&format!("{what}[1]"), got[1], want[1], tol);
    }

    fn eq(&mut self, what: &str, got: u64, want: &Value) {
        if Some(got) != want.as_u64() {
            self.bad.push(format!("{what}: got {got} want {want}"));
        }
    }

    fn finish(self) {
        assert!(
            self.bad.is_empty(),
            "{} mismatches:\n{}",
            self.bad.len(),
            self.bad.join("\n")
        );
    }
}

#[test]
fn obuchowski_matches_the_reference_fixture() {
    let Some(dir) = fixtures() else { return };
    let cases = read_cases(&dir);
    let want = read_expected(&dir);
    let clusters = Clusters::new(&cases.labels, &cases.codes, cases.n_clusters);
    let mut c = Checker::default();

    let counts = clusters.counts();
    c.eq("n_clusters", counts.n_clusters, &want["clusters"]);
    c.eq(
        "cluster_size_min",
        counts.cluster_size_min,
        &want["cluster_size_min"],
    );
    c.eq(
        "cluster_size_max",
        counts.cluster_size_max,
        &want["cluster_size_max"],
    );

    let mut models = Vec::new();
    for (key, scores) in [("a", &cases.a), ("b", &cases.b)] {
        let w = &want[key];
        let d = &w["obuchowski_detail"];
        let ranked = Ranked::new(&cases.labels, scores);
        let model = ClusteredModel::new(&clusters, &ranked).unwrap();
        let o = model.obuchowski;
        c.eq(&format!("{key}.I"), counts.n_clusters, &d["I"]);
        c.eq(&format!("{key}.I10"), counts.n_clusters_with_pos, &d["I10"]);
        c.eq(&format!("{key}.I01"), counts.n_clusters_with_neg, &d["I01"]);
        c.eq(&format!("{key}.M"), ranked.m, &d["M"]);
        c.eq(&format!("{key}.N"), ranked.n, &d["N"]);
        c.abs(&format!("{key}.auroc"), o.theta, f(&w["auroc"]), 1e-12);
        c.abs(&format!("{key}.S10"), o.s10, f(&d["S10"]), 1e-12);
        c.abs(&format!("{key}.S01"), o.s01, f(&d["S01"]), 1e-12);
        c.abs(&format!("{key}.S11"), o.s11, f(&d["S11"]), 1e-12);
        c.abs(
            &format!("{key}.auroc_var_obuchowski"),
            o.var,
            f(&w["auroc_var_obuchowski"]),
            1e-15,
        );
        c.pair(
            &format!("{key}.auroc_ci95_obuchowski"),
            o.ci95,
            pair(&w["auroc_ci95_obuchowski"]),
            1e-12,
        );
        c.abs(
            &format!("{key}.auroc_var_delong_naive"),
            o.var_delong,
            f(&w["auroc_var_delong_naive"]),
            1e-12,
        );
        c.rel(
            &format!("{key}.design_effect"),
            o.design_effect.unwrap(),
            f(&w["design_effect_var_ratio"]),
            1e-9,
        );
        // The convenience entry point gives the same numbers.
        let direct = obuchowski_auroc(&cases.labels, scores, &cases.codes, cases.n_clusters);
        assert_eq!(direct.unwrap().obuchowski, o);
        models.push(model);
    }

    let w = &want["paired_obuchowski"];
    let t = paired_obuchowski(&clusters, &models[0], &models[1]).unwrap();
    c.abs("paired.auc_diff", t.diff, f(&w["auc_diff"]), 1e-12);
    c.abs("paired.var_a", t.var_a, f(&w["var_a"]), 1e-15);
    c.abs("paired.var_b", t.var_b, f(&w["var_b"]), 1e-15);
    c.abs("paired.cov_ab", t.cov_ab, f(&w["cov_ab"]), 1e-15);
    c.abs("paired.var_diff", t.var_diff, f(&w["var_diff"]), 1e-15);
    c.abs("paired.z", t.z.unwrap(), f(&w["z"]), 1e-9);
    c.rel("paired.p", t.p.unwrap(), f(&w["p"]), 1e-10);
    c.pair("paired.ci95_diff", t.ci95, pair(&w["ci95_diff"]), 1e-12);
    // Signed A − B: swapping the models flips z and the interval, not p.
    let swapped = paired_obuchowski(&clusters, &models[1], &models[0]).unwrap();
    c.abs("swapped z", swapped.z.unwrap(), -t.z.unwrap(), 1e-15);
    c.abs("swapped p", swapped.p.unwrap(), t.p.unwrap(), 1e-15);
    c.abs("swapped cov", swapped.cov_ab, t.cov_ab, 1e-18);

    // The report blocks carry the same numbers under the field names of tasks.md.
    let ok = |m: &ClusteredModel| Ok(m.clone());
    let block =
        serde_json::to_value(ClusteredReport::new(&clusters, &ok(&models[0]), None)).unwrap();
    for k in [
        "n_clusters",
        "n_clusters_with_pos",
        "n_clusters_with_neg",
        "cluster_size_min",
        "cluster_size_max",
        "auroc_var_obuchowski",
        "auroc_ci95_obuchowski",
        "design_effect",
        "s10",
        "s01",
        "s11",
    ] {
        assert!(!block[k].is_null(), "clustered.{k} missing: {block}");
    }
    assert!(block.get("reason").is_none() && block.get("bootstrap").is_none());
    c.abs(
        "report var",
        f(&block["auroc_var_obuchowski"]),
        f(&want["a"]["auroc_var_obuchowski"]),
        1e-15,
    );
    let cmp = serde_json::to_value(ClusteredComparisonReport::new(
        &clusters,
        &ok(&models[0]),
        &ok(&models[1]),
    ))
    .unwrap();
    c.abs("report cov_ab", f(&cmp["cov_ab"]), f(&w["cov_ab"]), 1e-15);
    c.abs("report z", f(&cmp["z"]), f(&w["z"]), 1e-9);
    c.pair(
        "report ci95_diff",
        pair(&cmp["ci95_diff"]),
        pair(&w["ci95_diff"]),
        1e-12,
    );
    assert!(cmp.get("reason").is_none(), "{cmp}");
    c.finish();
}

/// Midpoint of the two references' bootstrap CIs (numpy and R, B = 2000 each): both are
/// Monte-Carlo estimates, so the test compares with their mean, from 20,000 replicates of ours.
fn reference_ci(want: &Value, key: &str) -> [f64; 2] {
    let (np, r) = (
        pair(&want["cluster_bootstrap_numpy"][key]),
        pair(&want["cluster_bootstrap_R"][key]),
    );
    [(np[0] + r[0]) / 2.0, (np[1] + r[1]) / 2.0]
}

#[test]
fn cluster_bootstrap_matches_the_references_within_monte_carlo_error() {
    let Some(dir) = fixtures() else { return };
    let cases = read_cases(&dir);
    let want = read_expected(&dir);
    let clusters = Clusters::new(&cases.labels, &cases.codes, cases.n_clusters);
    let (ra, rb) = (
        Ranked::new(&cases.labels, &cases.a),
        Ranked::new(&cases.labels, &cases.b),
    );
    let mut c = Checker::default();
    let boots = cluster_bootstrap_aurocs(&clusters, &[&ra, &rb], 20_000, 1).unwrap();
    c.pair("a ci95", boots[0].ci95, reference_ci(&want, "ci95_a"), 0.01);
    c.pair("b ci95", boots[1].ci95, reference_ci(&want, "ci95_b"), 0.01);
    // The paired difference on shared resamples.
    let reps = cluster_replicate_aurocs(&clusters, &[&ra, &rb], 20_000, 1).unwrap();
    let mut diffs: Vec<f64> = reps.aurocs[0]
        .iter()
        .zip(&reps.aurocs[1])
        .map(|(a, b)| a - b)
        .collect();
    diffs.sort_by(f64::total_cmp);
    c.pair(
        "diff ci95",
        [quantile_type7(&diffs, 0.025), quantile_type7(&diffs, 0.975)],
        reference_ci(&want, "ci95_diff"),
        0.01,
    );
    // At the references' own B and seed, too (a wider Monte-Carlo error: 0.02).
    let b2000 = cluster_bootstrap_auroc(&clusters, &ra, 2000, 1).unwrap();
    c.pair(
        "a ci95 B=2000",
        b2000.ci95,
        reference_ci(&want, "ci95_a"),
        0.02,
    );
    c.finish();
    println!(
        "cluster bootstrap B=20000: a {:?} b {:?}; B=2000: a {:?}",
        boots[0], boots[1], b2000
    );
    assert_eq!((boots[0].n, boots[0].seed), (20_000, 1));
    assert_eq!(boots[0].n_redrawn, reps.n_redrawn);
    assert!(boots[0].ci95[0] <= boots[0].median && boots[0].median <= boots[0].ci95[1]);
}

#[test]
fn sens_at_spec_cis_on_the_fixture() {
    let Some(dir) = fixtures() else { return };
    let cases = read_cases(&dir);
    let want = read_expected(&dir);
    let clusters = Clusters::new(&cases.labels, &cases.codes, cases.n_clusters);
    let ranked = Ranked::new(&cases.labels, &cases.a);
    let point = sens_at_spec(&ranked.groups, 0.9).unwrap().interpolated;
    assert!((point - f(&want["a"]["sens_at_spec_0.90"])).abs() <= 1e-12);

    let image = sens_at_spec_ci(&ranked.groups, &[0.9, 0.95], 2000, 1).unwrap();
    let ci = image.ci95["0.90"];
    let reference = pair(&want["a"]["sens_at_spec_0.90_ci95_pROC_ci_coords_image_level"]);
    // tasks.md: tolerance max(0.02, 2/m), not checked for m < 30 (here m = 18): report only,
    // with a sanity bound of 2/m.
    println!("sens@spec 0.90 CI: ours {ci:?}, pROC {reference:?}");
    let tol = 2.0 / ranked.m as f64;
    assert!(
        (ci[0] - reference[0]).abs() <= tol && (ci[1] - reference[1]).abs() <= tol,
        "{ci:?} vs {reference:?}"
    );
    assert_eq!((image.info.n, image.info.seed), (2000, 1));
    assert!(
        ci[0] <= image.info.median_by_target["0.90"]
            && image.info.median_by_target["0.90"] <= ci[1]
    );
    assert_eq!(image.info.median, Some(image.info.median_by_target["0.90"]));
    assert!(image.ci95["0.95"][1] <= ci[1]);

    let clustered = sens_at_spec_ci_clustered(&clusters, &ranked, &[0.9, 0.95], 2000, 1).unwrap();
    let cc = clustered.ci95["0.90"];
    println!("sens@spec 0.90 clustered CI: {cc:?}");
    assert!(cc[0] <= point && point <= cc[1], "{cc:?} around {point}");
    assert!(
        cc[0] <= clustered.median_by_target["0.90"] && clustered.median_by_target["0.90"] <= cc[1]
    );
    // The same resamples as the AUROC cluster bootstrap of the seed: the same redraws.
    let boot = cluster_bootstrap_auroc(&clusters, &ranked, 2000, 1).unwrap();
    assert_eq!(clustered.n_redrawn, boot.n_redrawn);
    // JSON: the targets inline next to n and seed.
    let v = serde_json::to_value(&clustered).unwrap();
    assert_eq!(v["0.90"][0].as_f64(), Some(cc[0]));
    assert_eq!(v["n"].as_u64(), Some(2000));
    assert_eq!(v["seed"].as_u64(), Some(1));
    let back: ClusteredSensCi = serde_json::from_value(v).unwrap();
    assert_eq!(back, clustered);
}

/// Labels, scores on a 0.01 grid (ties across classes) and patient codes: `patients` patients
/// with 1..=max_size images each, a patient effect shared by its images.
fn generated(
    patients: usize,
    max_size: u64,
    seed: u64,
) -> (Vec<bool>, Vec<f64>, Vec<f64>, Vec<u32>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut unit = move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let (mut labels, mut a, mut b, mut codes) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for p in 0..patients {
        let size = 1 + (unit() * max_size as f64) as u64;
        let effect = unit();
        let sick = unit() < 0.4;
        for _ in 0..size {
            let y = if sick { unit() < 0.7 } else { unit() < 0.1 };
            let base = 0.5 * effect + 0.3 * y as u8 as f64;
            a.push(((base + 0.2 * unit()) * 100.0).round() / 100.0);
            b.push(((base * 0.8 + 0.4 * unit()) * 100.0).round() / 100.0);
            labels.push(y);
            codes.push(p as u32);
        }
    }
    (labels, a, b, codes)
}

fn psi(x: f64, y: f64) -> f64 {
    if x > y {
        1.0
    } else if x == y {
        0.5
    } else {
        0.0
    }
}

/// Obuchowski's formulas literally, O(N²): per-cluster sums of pairwise placements.
/// Returns (var_a, var_b, cov_ab).
fn naive_obuchowski(
    labels: &[bool],
    a: &[f64],
    b: &[f64],
    codes: &[u32],
    n_clusters: usize,
) -> (f64, f64, f64) {
    let m = labels.iter().filter(|&&y| y).count() as f64;
    let n = labels.len() as f64 - m;
    let auc = |s: &[f64]| {
        let mut t = 0.0;
        for i in 0..s.len() {
            for j in 0..s.len() {
                if labels[i] && !labels[j] {
                    t += psi(s[i], s[j]);
                }
            }
        }
        t / (m * n)
    };
    // X_i and Y_i per cluster.
    let sums = |s: &[f64]| {
        let (mut x, mut y) = (vec![0.0; n_clusters], vec![0.0; n_clusters]);
        for i in 0..s.len() {
            let mut v = 0.0;
            for j in 0..s.len() {
                if labels[i] != labels[j] {
                    v += if labels[i] {
                        psi(s[i], s[j])
                    } else {
                        psi(s[j], s[i])
                    };
                }
            }
            if labels[i] {
                x[codes[i] as usize] += v / n;
            } else {
                y[codes[i] as usize] += v / m;
            }
        }
        (x, y)
    };
    let (mut mi, mut ni) = (vec![0.0; n_clusters], vec![0.0; n_clusters]);
    for (&y, &c) in labels.iter().zip(codes) {
        if y {
            mi[c as usize] += 1.0
        } else {
            ni[c as usize] += 1.0
        }
    }
    let count = |v: &[f64]| v.iter().filter(|&&k| k > 0.0).count() as f64;
    let i = mi.iter().zip(&ni).filter(|(p, q)| **p + **q > 0.0).count() as f64;
    let (i10, i01) = (count(&mi), count(&ni));
    let (ta, tb) = (auc(a), auc(b));
    let ((xa, ya), (xb, yb)) = (sums(a), sums(b));
    let cov = |x1: &[f64], y1: &[f64], t1: f64, x2: &[f64], y2: &[f64], t2: f64| {
        let (mut s10, mut s01, mut s12, mut s21) = (0.0, 0.0, 0.0, 0.0);
        for k in 0..n_clusters {
            let (rx1, ry1) = (x1[k] - mi[k] * t1, y1[k] - ni[k] * t1);
            let (rx2, ry2) = (x2[k] - mi[k] * t2, y2[k] - ni[k] * t2);
            s10 += rx1 * rx2;
            s01 += ry1 * ry2;
            s12 += rx1 * ry2;
            s21 += rx2 * ry1;
        }
        let s10 = i10 / ((i10 - 1.0) * m) * s10;
        let s01 = i01 / ((i01 - 1.0) * n) * s01;
        let s11 = i / (i - 1.0) * (s12 + s21);
        s10 / m + s01 / n + s11 / (m * n)
    };
    (
        cov(&xa, &ya, ta, &xa, &ya, ta),
        cov(&xb, &yb, tb, &xb, &yb, tb),
        cov(&xa, &ya, ta, &xb, &yb, tb),
    )
}

#[test]
fn fast_obuchowski_matches_the_naive_definition() {
    let mut checked = 0;
    for seed in 0..12 {
        let (labels, a, b, codes) = generated(20 + 7 * seed as usize, 5, seed);
        let n_clusters = *codes.iter().max().unwrap() as usize + 1;
        let clusters = Clusters::new(&labels, &codes, n_clusters);
        let Ok(ma) = ClusteredModel::new(&clusters, &Ranked::new(&labels, &a)) else {
            continue;
        };
        let mb = ClusteredModel::new(&clusters, &Ranked::new(&labels, &b)).unwrap();
        let t = paired_obuchowski(&clusters, &ma, &mb).unwrap();
        let (va, vb, cov) = naive_obuchowski(&labels, &a, &b, &codes, n_clusters);
        for (what, got, want) in [
            ("var_a", ma.obuchowski.var, va),
            ("var_b", mb.obuchowski.var, vb),
            ("cov_ab", t.cov_ab, cov),
        ] {
            assert!(
                (got - want).abs() <= 1e-15,
                "seed {seed}: {what} {got:e} vs naive {want:e}"
            );
        }
        assert_eq!(t.var_a, ma.obuchowski.var);
        // Paired with itself: var_diff is 0 up to rounding, and z = 0, p = 1.
        let same = paired_obuchowski(&clusters, &ma, &ma).unwrap();
        assert!((same.cov_ab - ma.obuchowski.var).abs() <= 1e-18);
        assert_eq!((same.z, same.p), (Some(0.0), Some(1.0)));
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} generated cases were defined");
}

#[test]
fn one_image_per_cluster_gives_delong_exactly() {
    for seed in 0..8 {
        let (labels, a, b, _) = generated(150, 3, 100 + seed);
        // Every image its own cluster, numbered in reverse, with unused codes in between.
        let codes: Vec<u32> = (0..labels.len() as u32).rev().map(|c| 2 * c).collect();
        let clusters = Clusters::new(&labels, &codes, 2 * labels.len());
        let counts = clusters.counts();
        assert_eq!(counts.n_clusters as usize, labels.len());
        assert_eq!((counts.cluster_size_min, counts.cluster_size_max), (1, 1));
        let (ra, rb) = (Ranked::new(&labels, &a), Ranked::new(&labels, &b));
        let (da, db) = (delong(&ra.groups).unwrap(), delong(&rb.groups).unwrap());
        let (ma, mb) = (
            ClusteredModel::new(&clusters, &ra).unwrap(),
            ClusteredModel::new(&clusters, &rb).unwrap(),
        );
        let o = ma.obuchowski;
        assert_eq!(o.s11, 0.0, "seed {seed}");
        assert!(
            (o.var - da.var).abs() <= 1e-15,
            "seed {seed}: {:e} vs {:e}",
            o.var,
            da.var
        );
        assert!((o.s10 - da.s10).abs() <= 1e-15 && (o.s01 - da.s01).abs() <= 1e-15);
        assert!((o.design_effect.unwrap() - 1.0).abs() <= 1e-12);
        assert_eq!(o.theta, da.theta);
        // And the paired test is DeLong's.
        let (pa, pb) = (placements(&ra), placements(&rb));
        let dl = paired_delong(&labels, da.theta, &pa, db.theta, &pb).unwrap();
        let t = paired_obuchowski(&clusters, &ma, &mb).unwrap();
        assert!((t.var_diff - dl.se * dl.se).abs() <= 1e-15, "seed {seed}");
        assert!((t.z.unwrap() - dl.z.unwrap()).abs() <= 1e-9, "seed {seed}");
        // From the caller's own placements: the same estimate.
        let again = ClusteredModel::from_placements(&clusters, &da, &pa).unwrap();
        assert_eq!(again.obuchowski, o);
    }
}

#[test]
fn undefined_cases_are_null_with_a_reason() {
    let labels = [true, true, false, false, false, true];
    let scores = [0.9, 0.8, 0.3, 0.2, 0.6, 0.7];
    let ranked = Ranked::new(&labels, &scores);
    // All positives in one cluster (I10 = 1).
    let codes = [0, 0, 1, 2, 2, 0];
    let clusters = Clusters::new(&labels, &codes, 3);
    let model = ClusteredModel::new(&clusters, &ranked);
    let reason = model.as_ref().unwrap_err();
    assert!(reason.contains("1 with positives"), "{reason}");
    assert!(cluster_bootstrap_auroc(&clusters, &ranked, 100, 1).is_err());
    assert!(sens_at_spec_ci_clustered(&clusters, &ranked, &[0.9], 100, 1).is_err());
    let boot = Some(cluster_bootstrap_auroc(&clusters, &ranked, 100, 1));
    let report = ClusteredReport::new(&clusters, &model, boot);
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["reason"].as_str(), Some(reason.as_str()));
    assert!(
        v["bootstrap"].is_null() && v["bootstrap_reason"].is_string(),
        "{v}"
    );
    for k in [
        "auroc_var_obuchowski",
        "auroc_ci95_obuchowski",
        "design_effect",
        "s10",
        "s01",
        "s11",
    ] {
        assert!(v[k].is_null(), "{k}: {v}");
    }
    assert_eq!(v["n_clusters_with_pos"].as_u64(), Some(1));
    let text = serde_json::to_string(&report).unwrap();
    assert!(!text.contains("NaN"), "{text}");
    let back: ClusteredReport = serde_json::from_str(&text).unwrap();
    assert_eq!(back.reason, report.reason);
    let cmp = ClusteredComparisonReport::new(&clusters, &model, &model);
    assert_eq!(cmp.reason.as_deref(), Some(reason.as_str()));
    assert!(cmp.z.is_none() && cmp.cov_ab.is_none());

    // One cluster in all.
    let one = Clusters::new(&labels, &[0; 6], 1);
    let r = ClusteredModel::new(&one, &ranked).unwrap_err();
    assert!(r.contains("1 cluster"), "{r}");
    // One class.
    let single = [true; 6];
    let r = ClusteredModel::new(
        &Clusters::new(&single, &[0, 1, 2, 3, 4, 5], 6),
        &Ranked::new(&single, &scores),
    )
    .unwrap_err();
    assert!(r.contains("only one class"), "{r}");
    // Two clusters with each class: defined.
    let two = Clusters::new(&labels, &[0, 1, 0, 1, 0, 1], 2);
    assert!(ClusteredModel::new(&two, &ranked).is_ok());
    // No replicates, too many replicates, a bad target.
    assert!(cluster_bootstrap_auroc(&two, &ranked, 0, 1).is_err());
    assert!(cluster_bootstrap_auroc(&two, &ranked, 1_000_000, 1).is_err());
    assert!(sens_at_spec_ci_clustered(&two, &ranked, &[1.5], 10, 1).is_err());
    assert!(sens_at_spec_ci(&ranked.groups, &[0.9], 0, 1).is_err());
}

#[test]
fn perfect_separation_has_zero_variance_and_no_design_effect() {
    let labels = [true, true, true, false, false, false, false];
    let scores = [0.9, 0.8, 0.7, 0.1, 0.2, 0.3, 0.2];
    let codes = [0, 1, 2, 0, 1, 2, 3];
    let clusters = Clusters::new(&labels, &codes, 4);
    let model = ClusteredModel::new(&clusters, &Ranked::new(&labels, &scores));
    let o = model.as_ref().unwrap().obuchowski;
    assert_eq!((o.theta, o.var, o.ci95), (1.0, 0.0, [1.0, 1.0]));
    assert_eq!(o.design_effect, None);
    let report = ClusteredReport::new(&clusters, &model, None);
    assert!(report.design_effect_reason.is_some());
    // Two perfect models: no difference, z = 0, p = 1.
    let t = paired_obuchowski(&clusters, model.as_ref().unwrap(), model.as_ref().unwrap());
    assert_eq!(t.unwrap().p, Some(1.0));
}

#[test]
fn cluster_bootstrap_is_seeded_and_redraws_one_class_resamples() {
    // Pure clusters: 3 of positives, 3 of negatives, so some draws lack a class.
    let (mut labels, mut scores, mut codes) = (Vec::new(), Vec::new(), Vec::new());
    for c in 0..6u32 {
        for k in 0..4 {
            labels.push(c < 3);
            scores.push(((c * 7 + k * 3) % 10) as f64 / 10.0);
            codes.push(c);
        }
    }
    let clusters = Clusters::new(&labels, &codes, 6);
    let ranked = Ranked::new(&labels, &scores);
    let a = cluster_bootstrap_auroc(&clusters, &ranked, 500, 7).unwrap();
    let b = cluster_bootstrap_auroc(&clusters, &ranked, 500, 7).unwrap();
    let c = cluster_bootstrap_auroc(&clusters, &ranked, 500, 8).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    // P(a draw of 6 lacks a class) = 2·(1/2)^6: about 16 redraws in 500.
    assert!(a.n_redrawn > 0 && a.n_redrawn < 60, "{a:?}");
    let reps = cluster_replicate_aurocs(&clusters, &[&ranked], 500, 7).unwrap();
    assert!(reps.aurocs[0].iter().all(|x| (0.0..=1.0).contains(x)));
    assert_eq!(reps.n_redrawn, a.n_redrawn);
    let v = serde_json::to_value(&a).unwrap();
    for k in ["n", "seed", "ci95", "median", "n_redrawn"] {
        assert!(v.get(k).is_some(), "{k}: {v}");
    }
    let back: ClusterBootstrap = serde_json::from_value(v).unwrap();
    assert_eq!(back, a);
}

#[test]
fn cluster_bootstrap_replicates_are_the_drawn_clusters_aurocs() {
    // Replicate AUROCs are exact ratios over a resample: every one must be a value the
    // resample of whole clusters can take, and with clusters that are single images of a
    // perfectly separated model each is 1.
    let labels = [true, false, true, false, true, false];
    let scores = [0.9, 0.1, 0.8, 0.2, 0.7, 0.3];
    let codes = [0, 1, 2, 3, 4, 5];
    let clusters = Clusters::new(&labels, &codes, 6);
    let reps =
        cluster_replicate_aurocs(&clusters, &[&Ranked::new(&labels, &scores)], 200, 3).unwrap();
    assert!(reps.aurocs[0].iter().all(|&x| x == 1.0));
    // Deterministic whatever the thread count: rerun in a one-thread pool.
    let (l, a, _, c) = generated(40, 4, 9);
    let n_clusters = *c.iter().max().unwrap() as usize + 1;
    let clusters = Clusters::new(&l, &c, n_clusters);
    let ranked = Ranked::new(&l, &a);
    let many = cluster_replicate_aurocs(&clusters, &[&ranked], 300, 5).unwrap();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| cluster_replicate_aurocs(&clusters, &[&ranked], 300, 5).unwrap());
    assert_eq!(many, one);
}
