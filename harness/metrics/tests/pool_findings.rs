//! Exact pooling of multi-label site results (`pool_findings.rs`): three sites' per-finding
//! summaries pool to the all-cases `evaluate_multilabel` report (every per-finding figure and the
//! macro and micro AUROCs), the paired round makes the per-finding tests exact too, the
//! summaries round-trip through JSON and name no case, and inconsistent sites are refused.

use harness_metrics::multilabel::{
    FindingInput, MultilabelInput, MultilabelReport, evaluate_multilabel,
};
use harness_metrics::pool::{PoolError, ROUND1_COMPARISON_REASON};
use harness_metrics::pool_findings::{
    FindingsSiteSummary, findings_paired_request, findings_paired_site_sums, pool_findings,
    pool_findings_paired, summarize_findings,
};
use harness_metrics::{EvalOptions, Grouping};
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use serde_json::Value;

mod common;

const FINDINGS: [&str; 3] = ["effusion", "nodule", "rare"];

/// Owned multi-label cases: per finding its labels; model a scores every finding, model b the
/// first two; one grouping column; a site per case.
struct Cases {
    labels: Vec<Vec<bool>>,
    a: Vec<Vec<f64>>,
    b: Vec<Vec<f64>>,
    sex_levels: Vec<String>,
    sex: Vec<u32>,
    site: Vec<usize>,
}

fn cases(n: usize, seed: u64) -> Cases {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut u = move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let prevalence = [0.3, 0.15, 0.02];
    let mut c = Cases {
        labels: vec![Vec::new(); 3],
        a: vec![Vec::new(); 3],
        b: vec![Vec::new(); 3],
        sex_levels: vec!["F".into(), "M".into()],
        sex: Vec::new(),
        site: Vec::new(),
    };
    for _ in 0..n {
        c.sex.push(u32::from(u() < 0.5));
        // Unequal sites: A holds half the cases.
        let s = u();
        c.site.push(if s < 0.5 {
            0
        } else if s < 0.8 {
            1
        } else {
            2
        });
        for (f, &p) in prevalence.iter().enumerate() {
            let y = u() < p;
            c.labels[f].push(y);
            let shift = if y { 0.25 } else { 0.0 };
            // a: exact scores; b: on a 0.05 grid (ties).
            c.a[f].push((0.6 * u() + shift).min(1.0));
            c.b[f].push(((0.7 * u() + shift * 0.6).min(1.0) * 20.0).round() / 20.0);
        }
    }
    c
}

impl Cases {
    /// The cases of `site` (None: all), owned.
    fn subset(&self, site: Option<usize>) -> Cases {
        let keep: Vec<usize> = (0..self.sex.len())
            .filter(|&i| site.is_none_or(|s| self.site[i] == s))
            .collect();
        let pick = |v: &Vec<Vec<bool>>| -> Vec<Vec<bool>> {
            v.iter()
                .map(|c| keep.iter().map(|&i| c[i]).collect())
                .collect()
        };
        let pickf = |v: &Vec<Vec<f64>>| -> Vec<Vec<f64>> {
            v.iter()
                .map(|c| keep.iter().map(|&i| c[i]).collect())
                .collect()
        };
        Cases {
            labels: pick(&self.labels),
            a: pickf(&self.a),
            b: pickf(&self.b),
            sex_levels: self.sex_levels.clone(),
            sex: keep.iter().map(|&i| self.sex[i]).collect(),
            site: keep.iter().map(|&i| self.site[i]).collect(),
        }
    }

    fn input(&self) -> MultilabelInput<'_> {
        MultilabelInput {
            findings: (0..3)
                .map(|f| {
                    let mut models = vec![("a", self.a[f].as_slice())];
                    if f < 2 {
                        models.push(("b", self.b[f].as_slice()));
                    }
                    FindingInput {
                        name: FINDINGS[f],
                        labels: &self.labels[f],
                        models,
                    }
                })
                .collect(),
            groupings: vec![Grouping {
                name: "sex",
                levels: &self.sex_levels,
                codes: &self.sex,
            }],
            cluster: None,
        }
    }
}

fn opts() -> EvalOptions {
    EvalOptions {
        target_specificities: vec![0.8, 0.9],
        ..EvalOptions::default()
    }
}

fn site_summaries(all: &Cases) -> (Vec<Cases>, Vec<FindingsSiteSummary>) {
    let sites: Vec<Cases> = (0..3).map(|s| all.subset(Some(s))).collect();
    let summaries = sites
        .iter()
        .zip(["A", "B", "C"])
        .map(|(c, name)| summarize_findings(&c.input(), name, None, 5).unwrap())
        .collect();
    (sites, summaries)
}

/// Differences between two reports' JSON beyond `tol`, leaving out the warnings (they say what
/// was pooled) and, when `skip_comparisons`, the per-finding paired tests.
fn differences(a: &MultilabelReport, b: &MultilabelReport, skip_comparisons: bool) -> Vec<String> {
    let strip = |r: &MultilabelReport| {
        let mut v = serde_json::to_value(r).unwrap();
        v.as_object_mut().unwrap().remove("warnings");
        if skip_comparisons {
            for (_, f) in v["findings"].as_object_mut().unwrap() {
                f.as_object_mut().unwrap().remove("comparisons");
            }
        }
        v
    };
    let mut out = Vec::new();
    common::json_diff("", &strip(a), &strip(b), 1e-12, &mut out);
    out
}

#[test]
fn three_sites_pool_to_the_all_cases_multilabel_report() {
    let all = cases(3000, 11);
    let expected = evaluate_multilabel(&all.input(), &opts()).unwrap();
    let (sites, summaries) = site_summaries(&all);

    // Round 1: every per-finding figure and the aggregates; the paired tests wait.
    let r1 = pool_findings(&summaries, &opts()).unwrap();
    let d = differences(&r1, &expected, true);
    assert!(d.is_empty(), "{} differences:\n{}", d.len(), d.join("\n"));
    assert_eq!(r1.findings_order, FINDINGS);
    for f in FINDINGS.iter().take(2) {
        let c = &r1.findings[*f].comparisons[0];
        assert_eq!(c.reason.as_deref(), Some(ROUND1_COMPARISON_REASON));
        assert!(c.z.is_none());
    }
    // Model b scores two findings: its aggregates cover those, as in the all-cases report.
    assert_eq!(r1.models["b"].findings_not_scored, ["rare"]);
    assert!(r1.models["a"].auroc_micro.is_some() && r1.models["a"].auroc_macro.is_some());

    // Round 2: the paired tests per finding too.
    let request = findings_paired_request(&summaries).unwrap();
    let sums: Vec<_> = sites
        .iter()
        .zip(["A", "B", "C"])
        .map(|(c, name)| findings_paired_site_sums(&c.input(), name, &request, "sha256:r").unwrap())
        .collect();
    let r2 = pool_findings_paired(&summaries, &request, "sha256:r", &sums, &opts()).unwrap();
    let d = differences(&r2, &expected, false);
    assert!(d.is_empty(), "{} differences:\n{}", d.len(), d.join("\n"));
    assert!(r2.findings["effusion"].comparisons[0].z.is_some());
}

#[test]
fn summaries_round_trip_and_hold_no_case_rows() {
    let all = cases(600, 3);
    let (_, summaries) = site_summaries(&all);
    for s in &summaries {
        let json = serde_json::to_string(s).unwrap();
        let back: FindingsSiteSummary = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, s);
        // Per finding a binary summary: tables of [score, positives, negatives] rows; no
        // per-case arrays anywhere (every array is a table, a row, or the findings' order).
        let v: Value = serde_json::from_str(&json).unwrap();
        assert!(s.disclosure.contains("across findings"), "{}", s.disclosure);
        for (name, f) in v["findings"].as_object().unwrap() {
            assert_eq!(f["format"], harness_metrics::pool::SITE_FORMAT, "{name}");
            // The `all` table is left out: a grouping's level tables add up to it.
            let model = &f["models"]["a"];
            assert!(model.get("all").is_none(), "{name}");
            let (_, levels) = model["groups"].as_object().unwrap().iter().next().unwrap();
            let mut cases = 0;
            for rows in levels.as_object().unwrap().values() {
                let rows = rows.as_array().unwrap();
                assert!(rows.iter().all(|r| r.as_array().unwrap().len() == 3));
                cases += rows
                    .iter()
                    .map(|r| r[1].as_u64().unwrap() + r[2].as_u64().unwrap())
                    .sum::<u64>();
            }
            assert_eq!(cases, s.n);
        }
    }
}

#[test]
fn sites_with_other_findings_or_formats_are_refused() {
    let all = cases(600, 5);
    let (_, mut summaries) = site_summaries(&all);
    // A site whose findings are in another order.
    let mut other = summaries[1].clone();
    other.findings.reverse();
    other.findings_order.reverse();
    let e = pool_findings(&[summaries[0].clone(), other], &opts()).unwrap_err();
    assert!(
        matches!(&e, PoolError::Input { site, reason } if site == "B" && reason.contains("not those of site 'A'")),
        "{e}"
    );
    // Findings that disagree with findings_order, or a finding summary of another site.
    let mut json: Value = serde_json::to_value(&summaries[2]).unwrap();
    json["findings_order"] = serde_json::json!(["effusion", "nodule"]);
    let e = serde_json::from_value::<FindingsSiteSummary>(json).unwrap_err();
    assert!(e.to_string().contains("findings_order"), "{e}");
    let mut json: Value = serde_json::to_value(&summaries[2]).unwrap();
    json["findings"]["nodule"]["site"] = serde_json::json!("A");
    let e = serde_json::from_value::<FindingsSiteSummary>(json).unwrap_err();
    assert!(e.to_string().contains("finding 'nodule'"), "{e}");
    let mut json: Value = serde_json::to_value(&summaries[2]).unwrap();
    json["format"] = serde_json::json!("harness-site-summary/2");
    assert!(serde_json::from_value::<FindingsSiteSummary>(json).is_err());
    // Two summaries from one site: refused by the binary pool, the finding named.
    summaries[1].site = "A".into();
    for f in summaries[1].findings.values_mut() {
        f.site = "A".into();
    }
    let e = pool_findings(&summaries, &opts()).unwrap_err();
    assert!(e.to_string().contains("finding 'effusion'"), "{e}");
    // A patient column cannot be pooled.
    let site = all.subset(Some(0));
    let mut input = site.input();
    input.cluster = Some(input.groupings[0]);
    assert!(summarize_findings(&input, "A", None, 5).is_err());
}
