//! A multi-label suite end to end through the binary (`suites/example-multilabel.toml` on the
//! shipped synthetic chest films): `<candidate>:<finding>` columns, `metrics.json` with its
//! `"task"`, patient-clustered CIs, a model that scores a subset of the findings, `verify`, the
//! gate's multi-label keys and the report's findings section. (--no-perf: timing is not tested.)

mod common;

use common::{harness, mann_whitney, root, verify};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

fn run(out: &Path, extra: &[&str]) -> Output {
    harness()
        .arg("run")
        .arg(root().join("suites/example-multilabel.toml"))
        .arg("--no-perf")
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The column `name` of a CSV without quoted fields.
fn column(csv: &str, name: &str) -> Vec<String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let k = header.iter().position(|h| *h == name).unwrap();
    lines
        .map(|l| l.split(',').nth(k).unwrap().to_string())
        .collect()
}

#[test]
fn a_multilabel_suite_runs_verifies_and_gates_finding_by_finding() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let out = run(&a, &[]);
    assert!(out.status.success(), "run failed: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("4 findings"), "{stdout}");
    assert!(
        stdout.contains("not scored: nodule, cardiomegaly"),
        "{stdout}"
    );

    // One label column per finding; one score column per finding a candidate scores, in its
    // output order; the unused output column of findings-b is not written.
    let pred = std::fs::read_to_string(a.join("predictions.csv")).unwrap();
    assert_eq!(pred.lines().count(), 560);
    assert_eq!(
        pred.lines().next().unwrap(),
        "case_id,label:nodule,label:effusion,label:cardiomegaly,label:pneumothorax,sex,age_band,site,patient_id,\
         findings-a:nodule,findings-a:effusion,findings-a:cardiomegaly,findings-a:pneumothorax,\
         findings-b:pneumothorax,findings-b:effusion"
    );

    let m: Value = serde_json::from_slice(&std::fs::read(a.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(m["task"], "multilabel");
    assert_eq!(m["n"], 559);
    let findings = ["nodule", "effusion", "cardiomegaly", "pneumothorax"];
    for f in findings {
        // Each finding's AUROC is that of its own label and score columns (recounted here).
        let labels: Vec<bool> = column(&pred, &format!("label:{f}"))
            .iter()
            .map(|v| v == "1")
            .collect();
        let scores: Vec<f64> = column(&pred, &format!("findings-a:{f}"))
            .iter()
            .map(|v| v.parse().unwrap())
            .collect();
        let r = &m["findings"][f]["findings-a"];
        let got = r["auroc"].as_f64().unwrap();
        assert!(
            (got - mann_whitney(&labels, &scores).unwrap()).abs() < 1e-12,
            "{f}: {got}"
        );
        assert_eq!(
            m["findings"][f]["positives"].as_u64().unwrap(),
            labels.iter().filter(|&&y| y).count() as u64
        );
        // Several images per patient: the patient-clustered CI is reported beside DeLong's.
        assert!(
            r["clustered"]["auroc_ci95_obuchowski"].is_array(),
            "{f}: {r}"
        );
        // The suite asks for the CI of sens@spec: patient-resampled here.
        assert!(
            r["sens_at_spec_ci_clustered"]["0.90"].is_array(),
            "{f}: {r}"
        );
        let scored_by_b = m["findings"][f].get("findings-b").is_some();
        assert_eq!(scored_by_b, f == "effusion" || f == "pneumothorax", "{f}");
    }
    assert_eq!(
        m["models"]["findings-b"]["findings_not_scored"],
        serde_json::json!(["nodule", "cardiomegaly"])
    );
    assert!(
        m["models"]["findings-a"]
            .get("findings_not_scored")
            .is_none()
    );
    // findings-b's macro AUROC is the mean over its two findings.
    let b = |f: &str| m["findings"][f]["findings-b"]["auroc"].as_f64().unwrap();
    let macro_b = m["models"]["findings-b"]["auroc_macro"].as_f64().unwrap();
    assert!((macro_b - (b("effusion") + b("pneumothorax")) / 2.0).abs() < 1e-15);
    // Paired tests where both score a finding.
    assert_eq!(
        m["findings"]["effusion"]["comparisons"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        m["findings"]["nodule"]["comparisons"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    let v = verify(&a);
    assert!(v.status.success(), "verify: {}", text(&v));
    // The report has a findings section and a per-finding forest plot per candidate.
    let html = std::fs::read_to_string(a.join("report.html")).unwrap();
    assert!(html.contains("id=\"findings\""));
    assert!(html.contains("AUROC per finding of findings-b"));
    assert!(a.join("figures/findings-1-findings-a.svg").is_file());
    // One ROC overlay of the candidates per finding.
    for (k, f) in findings.iter().enumerate() {
        let svg = std::fs::read_to_string(a.join(format!("figures/roc-finding-{}-{f}.svg", k + 1)))
            .unwrap();
        assert!(svg.contains("findings-a: AUROC"), "{f}");
        assert_eq!(
            svg.contains("findings-b: AUROC"),
            *f == "effusion" || *f == "pneumothorax",
            "{f}"
        );
    }
    let md = std::fs::read_to_string(a.join("summary.md")).unwrap();
    assert!(md.contains("## Findings"), "{md}");
    // The limits name the findings a candidate does not score and the clustering; no evaluated
    // candidate is said to lack metrics.
    assert!(
        md.contains("findings-b does not score nodule, cardiomegaly"),
        "{md}"
    );
    assert!(
        md.contains(
            "from 260 patients: the Findings tables' CIs and the paired tests are patient-clustered"
        ),
        "{md}"
    );
    assert!(!md.contains("It has no metrics"), "{md}");
    // Each finding a candidate scores is reported as a single model is: its statistics with
    // the sensitivity's CIs, its operating point counted from the predictions, its reliability
    // diagram, subgroup forest and fairness tables.
    let section = |candidate: &str| {
        let start = md.find(&format!("## Candidate: {candidate}")).unwrap();
        let end = md[start + 3..]
            .find("\n## ")
            .map_or(md.len(), |e| start + 3 + e);
        &md[start..end]
    };
    let a_section = section("findings-a");
    let b_section = section("findings-b");
    for f in findings {
        assert!(a_section.contains(&format!("### Finding: {f}\n")), "{f}");
        assert_eq!(
            b_section.contains(&format!("### Finding: {f}\n")),
            f == "effusion" || f == "pneumothorax",
            "{f}"
        );
    }
    let labels = column(&pred, "label:nodule");
    let scores = column(&pred, "findings-a:nodule");
    let (mut tp, mut pos, mut tn, mut neg) = (0, 0, 0, 0);
    for (l, s) in labels.iter().zip(&scores) {
        let positive = s.parse::<f64>().unwrap() >= 0.5;
        match l.as_str() {
            "1" => (pos, tp) = (pos + 1, tp + usize::from(positive)),
            "0" => (neg, tn) = (neg + 1, tn + usize::from(!positive)),
            _ => {}
        }
    }
    let nodule = &a_section[a_section.find("### Finding: nodule").unwrap()..];
    let nodule = &nodule[..nodule[4..].find("### Finding:").unwrap()];
    assert!(
        nodule.contains(&format!(
            "({tp} of {pos} positives), specificity {:.3} ({tn} of {neg} negatives)",
            tn as f64 / neg as f64
        )),
        "{nodule}"
    );
    assert!(
        nodule.contains("| Sensitivity at specificity 0.90: cluster bootstrap 95% CI | \\[")
            && nodule.contains("#### Fairness by sex"),
        "{nodule}"
    );
    for figure in ["reliability", "forest"] {
        let file = format!("figures/{figure}-1-findings-a-1-nodule.svg");
        assert!(nodule.contains(&file), "{file}");
        assert!(a.join(&file).is_file(), "{file}");
    }
    assert!(html.contains("<h3>Finding: pneumothorax</h3>"));
    // Each finding's subgroups get a binary model's limits: cardiomegaly has few positives aged
    // 18-44.
    assert!(
        md.contains("Finding cardiomegaly: Subgroup age\\_band = 18-44 is small"),
        "{md}"
    );

    // Two runs compared across bundles: every pair of candidates, finding by finding, with
    // Holm's adjustment; the leaderboard ranks their candidates by macro AUROC.
    let b_dir = tmp.path().join("b");
    assert!(run(&b_dir, &[]).status.success());
    let cmp = harness()
        .arg("compare")
        .arg(&a)
        .arg(&b_dir)
        .output()
        .unwrap();
    assert!(cmp.status.success(), "{}", text(&cmp));
    let out = String::from_utf8_lossy(&cmp.stdout);
    assert!(
        out.contains("paired tests per finding (patient-clustered"),
        "{out}"
    );
    assert!(out.contains("example-multilabel@a/findings-a"), "{out}");
    assert!(out.contains("example-multilabel@b/findings-b"), "{out}");
    // The same predictions in both runs: identical AUROCs, so a difference of 0 on the
    // pair of the same candidate.
    assert!(out.contains("0.000 [0.000, 0.000]"), "{out}");
    let lb = harness()
        .arg("leaderboard")
        .arg(tmp.path())
        .arg("--out")
        .arg(tmp.path().join("lb"))
        .output()
        .unwrap();
    // The leaderboard ranks them by macro AUROC: a candidate that scores 2 of the 4 findings
    // says so; across runs it points to `compare`.
    assert!(lb.status.success(), "{}", text(&lb));
    let board = String::from_utf8_lossy(&lb.stdout);
    assert!(
        board.contains("Suite example-multilabel (multi-label) on synthetic-chest-findings (")
            && board.contains("ranked by macro AUROC"),
        "{board}"
    );
    assert!(board.contains("(over 2 of 4 findings)"), "{board}");
    assert!(board.contains("different runs"), "{board}");
    let md = std::fs::read_to_string(tmp.path().join("lb/leaderboard.md")).unwrap();
    assert!(md.contains("| 1 | findings-a |"), "{md}");
    // Within one run: the paired DeLong test of every finding both score, Holm-adjusted.
    let one = harness()
        .arg("leaderboard")
        .arg(&a)
        .arg("--out")
        .arg(tmp.path().join("lb-a"))
        .output()
        .unwrap();
    let board = String::from_utf8_lossy(&one.stdout);
    // The dataset declares its patients: whether the two differ rests on the patient-clustered
    // tests (the image-level p is too small), Holm-adjusted over the findings both score.
    assert!(
        board.contains("patient-clustered paired test (Obuchowski), Holm"),
        "{board}"
    );
    let metrics: Value =
        serde_json::from_slice(&std::fs::read(a.join("metrics.json")).unwrap()).unwrap();
    let mut ps: Vec<(String, f64)> = Vec::new();
    for f in metrics["findings_order"].as_array().unwrap() {
        let f = f.as_str().unwrap();
        for c in metrics["findings"][f]["comparisons"].as_array().unwrap() {
            ps.push((f.to_string(), c["clustered"]["p"].as_f64().unwrap()));
        }
    }
    assert_eq!(ps.len(), 2, "two findings scored by both");
    // Holm: the k-th smallest p times (n - k), running maximum.
    ps.sort_by(|x, y| x.1.total_cmp(&y.1));
    let (mut running, mut differ) = (0.0f64, Vec::new());
    for (k, (f, p)) in ps.iter().enumerate() {
        running = running.max((p * (ps.len() - k) as f64).min(1.0));
        if running < 0.05 {
            differ.push(f.clone());
        }
    }
    if differ.is_empty() {
        assert!(board.contains("no finding differs"), "{board}");
    } else {
        assert!(
            board.contains(&format!("{} of 2 findings differ", differ.len())),
            "{board}"
        );
    }

    // The same suite as one site of a federated evaluation: its bundle holds the per-finding
    // count tables only, and pooling it (both rounds) gives the run's per-finding figures.
    let site = tmp.path().join("site");
    let out = run(&site, &["--site", "A", "--aggregates-only"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!site.join("predictions.csv").exists());
    let summary = std::fs::read_to_string(site.join("site.json")).unwrap();
    assert!(summary.contains("harness-site-summary-multilabel/1"));
    assert!(
        !summary.contains(&column(&pred, "case_id")[0]),
        "a case id left the site"
    );
    let request = tmp.path().join("request.json");
    let pool = |extra: &[&std::ffi::OsStr]| {
        harness()
            .arg("pool")
            .arg(&site)
            .args(extra)
            .output()
            .unwrap()
    };
    assert!(
        pool(&["--request-out".as_ref(), request.as_os_str()])
            .status
            .success()
    );
    let sums = tmp.path().join("sums");
    let out = run(
        &sums,
        &[
            "--site",
            "A",
            "--aggregates-only",
            "--paired-request",
            request.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let pooled = tmp.path().join("pooled.json");
    let report = tmp.path().join("pooled-report");
    let out = pool(&[
        "--request".as_ref(),
        request.as_os_str(),
        "--sums".as_ref(),
        sums.as_os_str(),
        "--json".as_ref(),
        pooled.as_os_str(),
        "--report".as_ref(),
        report.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    // The pooled report: the findings section, a ROC overlay per finding, the site.
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(html.contains("id=\"findings\"") && html.contains("Sites and what left them"));
    assert!(
        html.contains("<td>per finding</td>"),
        "positives are per finding"
    );
    for f in ["roc-finding-1-nodule.svg", "findings-1-findings-a.svg"] {
        assert!(report.join("figures").join(f).is_file(), "{f}");
    }
    let (full, got): (Value, Value) = (
        serde_json::from_slice(&std::fs::read(a.join("metrics.json")).unwrap()).unwrap(),
        serde_json::from_slice(&std::fs::read(&pooled).unwrap()).unwrap(),
    );
    for f in ["nodule", "effusion", "cardiomegaly", "pneumothorax"] {
        assert_eq!(
            got["findings"][f]["findings-a"]["auroc"], full["findings"][f]["findings-a"]["auroc"],
            "{f}"
        );
    }
    assert_eq!(
        got["findings"]["effusion"]["comparisons"][0]["z"],
        full["findings"]["effusion"]["comparisons"][0]["z"]
    );
    assert_eq!(
        got["models"]["findings-a"]["auroc_micro"],
        full["models"]["findings-a"]["auroc_micro"]
    );

    // A changed score is caught by the recomputation.
    let t = tmp.path().join("tampered");
    std::fs::create_dir_all(&t).unwrap();
    for e in walk(&a) {
        let rel = e.strip_prefix(&a).unwrap();
        std::fs::create_dir_all(t.join(rel).parent().unwrap()).unwrap();
        std::fs::copy(&e, t.join(rel)).unwrap();
    }
    let mut lines: Vec<String> = pred.lines().map(str::to_string).collect();
    let mut cells: Vec<String> = lines[1].split(',').map(str::to_string).collect();
    let last = cells.len() - 1;
    cells[last] = "0.5".into();
    lines[1] = cells.join(",");
    std::fs::write(t.join("predictions.csv"), lines.join("\n") + "\n").unwrap();
    let v = verify(&t);
    assert_eq!(v.status.code(), Some(1), "{}", text(&v));
    assert!(text(&v).contains("predictions.csv"), "{}", text(&v));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn the_gate_takes_multilabel_keys_and_refuses_binary_ones() {
    let tmp = tempfile::tempdir().unwrap();
    // A finding findings-b does not score cannot pass its criterion, and says why.
    let out = run(&tmp.path().join("g"), &["--fail-under", "auroc.nodule=0.5"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("gate: pass  findings-a: auroc.nodule"), "{t}");
    assert!(
        t.contains("gate: FAIL  findings-b: findings-b does not score finding nodule"),
        "{t}"
    );
    // A binary metric on a multi-label suite is a usage error naming the keys it takes.
    let out = run(&tmp.path().join("h"), &["--fail-under", "auroc=0.5"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("auroc_macro"), "{}", text(&out));
}
