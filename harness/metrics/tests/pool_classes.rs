//! Federated multi-class evaluation (`pool_classes.rs`): the site summaries of a split of the
//! cases pool to the figures one evaluation of all the cases gives (every deterministic field,
//! subgroups and gaps included), through their JSON; malformed or mismatched summaries are
//! refused naming the site and what is wrong.

use harness_metrics::evaluate::Grouping;
use harness_metrics::multiclass::{MulticlassInput, MulticlassOptions, evaluate_multiclass};
use harness_metrics::pool_classes::{
    CLASSES_SITE_FORMAT, ClassesSiteSummary, NOT_POOLED_REASON, pool_classes, summarize_classes,
};
use serde_json::Value;

/// Seeded cases: 4 classes (the last one rare), two models, probabilities on a 0.01 grid (ties
/// within and across sites), a subgroup column with a level absent from one site.
struct Data {
    classes: Vec<String>,
    labels: Vec<u32>,
    site: Vec<usize>,
    sex: Vec<u32>,
    sexes: Vec<String>,
    models: Vec<Vec<Vec<f64>>>,
}

fn data() -> Data {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    let k = 4;
    let (mut labels, mut site, mut sex) = (Vec::new(), Vec::new(), Vec::new());
    let mut models = vec![vec![Vec::new(); k]; 2];
    for i in 0..900 {
        let u = next();
        let y = if u < 0.4 {
            0
        } else if u < 0.7 {
            1
        } else if u < 0.95 {
            2
        } else {
            3
        };
        labels.push(y);
        // Unequal sites: 500, 300, 100 cases.
        site.push(if i < 500 {
            0
        } else if i < 800 {
            1
        } else {
            2
        });
        // Site 3 has no "U" level.
        sex.push(if i >= 800 {
            (i % 2) as u32
        } else {
            (i % 3) as u32
        });
        for (m, signal) in [(0usize, 1.2), (1, 0.4)] {
            let raw: Vec<f64> = (0..k)
                .map(|c| (if c == y as usize { signal } else { 0.0 } + next()).exp())
                .collect();
            let sum: f64 = raw.iter().sum();
            let mut row: Vec<f64> = raw
                .iter()
                .map(|r| (r / sum * 100.0).round() / 100.0)
                .collect();
            let head: f64 = row[..k - 1].iter().sum();
            row[k - 1] = ((1.0 - head) * 100.0).round() / 100.0;
            for (c, v) in row.iter().enumerate() {
                models[m][c].push(*v);
            }
        }
    }
    Data {
        classes: (0..k).map(|c| format!("c{c}")).collect(),
        labels,
        site,
        sex,
        sexes: vec!["F".into(), "M".into(), "U".into()],
        models,
    }
}

/// The input of the cases `keep` selects.
fn run<T>(d: &Data, keep: impl Fn(usize) -> bool, f: impl FnOnce(&MulticlassInput) -> T) -> T {
    let rows: Vec<usize> = (0..d.labels.len()).filter(|&i| keep(i)).collect();
    let labels: Vec<u32> = rows.iter().map(|&i| d.labels[i]).collect();
    let sex: Vec<u32> = rows.iter().map(|&i| d.sex[i]).collect();
    let cols: Vec<Vec<Vec<f64>>> = d
        .models
        .iter()
        .map(|m| {
            m.iter()
                .map(|c| rows.iter().map(|&i| c[i]).collect())
                .collect()
        })
        .collect();
    let input = MulticlassInput {
        classes: &d.classes,
        labels: &labels,
        models: vec![
            ("a", cols[0].iter().map(Vec::as_slice).collect()),
            ("b", cols[1].iter().map(Vec::as_slice).collect()),
        ],
        groupings: vec![Grouping {
            name: "sex",
            levels: &d.sexes,
            codes: &sex,
        }],
        cluster: None,
    };
    f(&input)
}

/// Every number of `got` within 1e-12 · max(1, |want|) of `want`, everything else equal.
fn same(path: &str, got: &Value, want: &Value, bad: &mut Vec<String>) {
    match (got, want) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            if (a - b).abs() > 1e-12 * b.abs().max(1.0) {
                bad.push(format!("{path}: {a} vs {b}"));
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            let (ka, kb): (Vec<&String>, Vec<&String>) = (a.keys().collect(), b.keys().collect());
            if ka != kb {
                bad.push(format!("{path}: keys {ka:?} vs {kb:?}"));
            }
            for (k, v) in b {
                if let Some(g) = a.get(k) {
                    same(&format!("{path}.{k}"), g, v, bad);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (g, v)) in a.iter().zip(b).enumerate() {
                same(&format!("{path}[{i}]"), g, v, bad);
            }
        }
        (a, b) if a == b => {}
        (a, b) => bad.push(format!("{path}: {a} vs {b}")),
    }
}

fn summaries(d: &Data) -> Vec<ClassesSiteSummary> {
    (0..3)
        .map(|s| {
            let summary = run(
                d,
                |i| d.site[i] == s,
                |input| summarize_classes(input, &format!("site-{s}"), 5).unwrap(),
            );
            // Through the file format.
            let text = serde_json::to_string(&summary).unwrap();
            serde_json::from_str(&text).unwrap()
        })
        .collect()
}

#[test]
fn sites_pool_to_the_all_cases_figures() {
    let d = data();
    let opts = MulticlassOptions::default();
    let pooled = pool_classes(&summaries(&d), &opts).unwrap();
    let all = run(
        &d,
        |_| true,
        |input| evaluate_multiclass(input, &opts).unwrap(),
    );
    let (mut got, mut want) = (
        serde_json::to_value(&pooled).unwrap(),
        serde_json::to_value(&all).unwrap(),
    );
    // The pooled comparisons say why they have no test; the rest is compared field by field.
    for v in [&mut got, &mut want] {
        let o = v.as_object_mut().unwrap();
        o.remove("warnings");
        o.remove("comparisons_macro");
    }
    let mut bad = Vec::new();
    same("", &got, &want, &mut bad);
    assert!(
        bad.is_empty(),
        "{} differences:\n{}",
        bad.len(),
        bad.join("\n")
    );
    // The test can fail: the levels are there and differ between models.
    let levels = &pooled.models["a"].subgroups["sex"];
    assert_eq!(levels.keys().collect::<Vec<_>>(), ["F", "M", "U"]);
    assert_eq!(levels["U"].n, 266);
    assert!(pooled.models["a"].auroc_macro != pooled.models["b"].auroc_macro);
    let c = &pooled.comparisons_macro[0];
    assert_eq!(c.diff, all.comparisons_macro[0].diff);
    assert_eq!(c.reason.as_deref(), Some(NOT_POOLED_REASON));
    assert!(c.p.is_none() && c.ci95_diff.is_none());
}

#[test]
fn malformed_or_mismatched_summaries_are_refused_by_name() {
    let d = data();
    let sites = summaries(&d);
    let opts = MulticlassOptions::default();
    let err = |sites: &[ClassesSiteSummary]| pool_classes(sites, &opts).unwrap_err().to_string();

    let mut s = sites.clone();
    s[1].classes.swap(0, 1);
    let e = err(&s);
    assert!(e.contains("site-1") && e.contains("classes"), "{e}");

    let mut s = sites.clone();
    let rows = &mut s[2].models["b"].all.scores["c2"].0;
    rows[0].1.push(1);
    let e = err(&s);
    assert!(
        e.contains("site-2") && e.contains("'b'") && e.contains("class 'c2', row 1"),
        "{e}"
    );

    let mut s = sites.clone();
    s[0].models["a"].all.scores["c1"].0[3].1[0] += 1;
    let e = err(&s);
    assert!(
        e.contains("site-0") && e.contains("class 'c1'") && e.contains("confusion matrix"),
        "{e}"
    );

    let mut s = sites.clone();
    let (k, v) = s[1].class_counts.shift_remove_index(0).unwrap();
    s[1].class_counts.insert(k, v);
    assert!(
        err(&s).contains("class_counts"),
        "class counts out of order"
    );

    // Counts beyond what the statistics hold are refused, never wrapped.
    let mut s = sites.clone();
    s[0].models["a"].all.confusion[0][0] = 1 << 63;
    assert!(err(&s).contains("at most"), "huge counts");

    let mut s = sites.clone();
    s[0].classes.truncate(2);
    assert!(err(&s).contains("at least 3"), "two classes");

    let mut s = sites.clone();
    s[0].n += 1;
    assert!(err(&s).contains("add up to"), "n and class_counts disagree");

    // A subgroup level whose classes do not add up to the site's.
    let mut s = sites.clone();
    let level = &mut s[0].models["b"].groups["sex"][0];
    let moved = level.confusion[0][0];
    level.confusion[0][0] = 0;
    level.confusion[1][0] += moved;
    let e = err(&s);
    assert!(e.contains("per class") || e.contains("class '"), "{e}");

    // A level's probability moved (its counts kept): the levels no longer add up to the site.
    let mut s = sites.clone();
    let rows = &mut s[0].models["a"].groups["sex"][0].scores["c1"].0;
    rows[0].0 = (rows[0].0 + rows[1].0) / 2.0;
    let e = err(&s);
    assert!(e.contains("site-0") && e.contains("do not add up"), "{e}");

    let mut s = sites.clone();
    s[2].site = "site-0".into();
    assert!(err(&s).contains("site-0"), "a repeated site name");

    let mut s = sites.clone();
    s[1].format = "harness-site-summary/1".into();
    assert!(err(&s).contains(CLASSES_SITE_FORMAT));

    // What a site publishes: no per-case rows, and it says what it reveals.
    let text = serde_json::to_string(&sites[0]).unwrap();
    assert!(sites[0].disclosure.contains("not which case"));
    assert!(!text.contains("case_id"));
}
