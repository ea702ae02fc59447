//! Federated evaluation from the command line: the three sites of the balanced_n500 fixture
//! (its `site` column) each write a summary with `harness eval --aggregates-only`, and
//! `harness pool` gives the all-cases `harness eval` results to 1e-12 — the paired DeLong test
//! after the second round — while no site file holds a case id.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn harness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> Output {
    let out = harness(args);
    assert!(
        out.status.success(),
        "harness {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `harness args`, which must be refused (exit 2) with a message holding `needle`.
fn refused(args: &[&str], needle: &str) {
    let out = harness(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "harness {args:?}: {err}");
    assert!(err.contains(needle), "harness {args:?}: {needle}: {err}");
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/metrics/cases/balanced_n500.csv")
}

/// Writes one CSV per value of the `site` column of the fixture; returns (site, path, case ids).
fn split_by_site(dir: &Path) -> Vec<(String, PathBuf, Vec<String>)> {
    split_file_by_site(&fixture(), dir)
}

/// Writes one CSV per value of the `site` column of `source`; returns (site, path, case ids).
fn split_file_by_site(source: &Path, dir: &Path) -> Vec<(String, PathBuf, Vec<String>)> {
    let text = std::fs::read_to_string(source).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let site_col = header.split(',').position(|c| c == "site").unwrap();
    let mut sites: Vec<(String, PathBuf, Vec<String>)> = Vec::new();
    let mut bodies: Vec<String> = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let site = fields[site_col];
        let k = match sites.iter().position(|(s, _, _)| s == site) {
            Some(k) => k,
            None => {
                let path = dir.join(format!("site-{site}.csv"));
                sites.push((site.to_string(), path, Vec::new()));
                bodies.push(format!("{header}\n"));
                sites.len() - 1
            }
        };
        sites[k].2.push(fields[0].to_string());
        bodies[k].push_str(line);
        bodies[k].push('\n');
    }
    for ((_, path, _), body) in sites.iter().zip(&bodies) {
        std::fs::write(path, body).unwrap();
    }
    sites
}

const COMMON: [&str; 10] = [
    "--label", "label", "--score", "score", "--score", "score_b", "--group", "sex", "--group",
    "age_band",
];

/// The statistics' settings: the coordinator's (and the all-cases eval's), never a site's.
const SPECS: [&str; 4] = [
    "--target-specificity",
    "0.8",
    "--target-specificity",
    "0.95",
];

/// The bootstraps of the all-cases eval and of the pool: the same CIs, pooled exactly.
const BOOTSTRAPS: [&str; 6] = ["--bootstrap", "300", "--sens-ci-boot", "300", "--seed", "7"];

/// Every number within `tol`, everything else equal; `skip` paths (prefixes) are not compared.
fn compare(a: &Value, b: &Value, path: &str, tol: f64, skip: &[&str], bad: &mut Vec<String>) {
    if skip.iter().any(|s| path.starts_with(s)) {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let kx: Vec<&String> = x.keys().collect();
            let ky: Vec<&String> = y.keys().collect();
            if kx != ky {
                bad.push(format!("{path}: keys {kx:?} vs {ky:?}"));
                return;
            }
            for (k, v) in x {
                compare(v, &y[k], &format!("{path}.{k}"), tol, skip, bad);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                compare(u, v, &format!("{path}[{i}]"), tol, skip, bad);
            }
        }
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            if (x - y).abs() > tol {
                bad.push(format!("{path}: {x} vs {y}"));
            }
        }
        _ if a == b => {}
        _ => bad.push(format!("{path}: {a} vs {b}")),
    }
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn three_sites_pool_to_the_all_cases_results_and_reveal_no_case() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let sites = split_by_site(d);
    assert_eq!(sites.len(), 3, "the fixture has sites A, B and C");
    let p = |name: &str| d.join(name).to_string_lossy().into_owned();
    let all = p("all.json");
    let mut args = vec!["eval", "--data"];
    let data = fixture().to_string_lossy().into_owned();
    args.push(&data);
    args.extend(COMMON);
    args.extend(SPECS);
    args.extend(BOOTSTRAPS);
    args.extend(["--json", &all]);
    ok(&args);

    let mut summaries = Vec::new();
    for (site, csv, ids) in &sites {
        let out = p(&format!("{site}.json"));
        let csv = csv.to_string_lossy().into_owned();
        let mut a = vec!["eval", "--data", &csv];
        a.extend(COMMON);
        a.extend(["--aggregates-only", "--site", site, "--json", &out]);
        ok(&a);
        if summaries.is_empty() {
            // A statistics setting at a site would be ignored there: refused, naming the pool.
            let mut with = a.clone();
            with.extend(SPECS);
            let out = harness(&with);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{err}");
            assert!(err.contains("give it to `harness pool`"), "{err}");
            // So would one given at its default value, which the pool may set otherwise.
            let mut with = a.clone();
            with.extend(["--threshold", "0.5"]);
            let out = harness(&with);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{err}");
            assert!(
                err.contains("--threshold is a setting of the pooled"),
                "{err}"
            );
        }
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(!text.contains("case_id"), "{site}: a case id column");
        for id in ids {
            assert!(
                !text.contains(&format!("\"{id}\"")),
                "{site}: case id {id} in the summary"
            );
        }
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["format"], "harness-site-summary/2");
        assert_eq!(v["n"].as_u64().unwrap() as usize, ids.len());
        summaries.push(out);
    }
    let s: Vec<&str> = summaries.iter().map(String::as_str).collect();

    // Round 1: every single-model figure; comparisons wait for round 2.
    let round1 = p("round1.json");
    let mut a = vec!["pool"];
    a.extend(&s);
    a.extend([
        "--target-specificity",
        "0.8",
        "--target-specificity",
        "0.95",
        "--json",
        &round1,
    ]);
    a.extend(BOOTSTRAPS);
    ok(&a);
    let (want, got) = (read(Path::new(&all)), read(Path::new(&round1)));
    let mut bad = Vec::new();
    compare(
        &want,
        &got,
        "",
        1e-12,
        &[".comparisons", ".warnings"],
        &mut bad,
    );
    assert!(bad.is_empty(), "round 1 differs: {bad:#?}");
    // The bootstrap CIs are there, pooled exactly.
    assert!(got["models"]["score"]["bootstrap"]["ci95"].is_array());
    assert!(got["models"]["score_b"]["sens_at_spec_ci95"]["0.80"].is_array());
    assert!(got["comparisons"][0]["p"].is_null());
    // The AUROCs themselves are known after round 1.
    assert_eq!(
        got["comparisons"][0]["auc_a"],
        want["models"]["score"]["auroc"]
    );
    assert!(
        got["comparisons"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("second round")
    );

    // A gate criterion the pooled results can never give is refused (exit 2) before any
    // pooling, as `eval` refuses it: summaries hold no patient column, and no grouping but
    // the sites' own.
    for (criterion, needle) in [
        ("auroc_ci_lower_clustered=0.5", "patient (cluster) column"),
        (
            "equalized_odds_difference.ward=0.1",
            "'ward' is not a grouping column",
        ),
    ] {
        let mut a = vec!["pool"];
        a.extend(&s);
        a.extend(["--fail-under", criterion, "--json", &round1]);
        refused(
            &a,
            &format!("--fail-under {}: ", criterion.split('=').next().unwrap()),
        );
        refused(&a, needle);
    }

    // An `eval` results file given as a site is named for what it is, first or later.
    for files in [[&all, &summaries[0]], [&summaries[0], &all]] {
        refused(
            &["pool", files[0], files[1]],
            &format!("{all}: not a site summary (it has no \"format\" field"),
        );
    }
    // One site's cases sent twice under two names would count twice: refused, naming both.
    // Names that differ only in case are said to be alike.
    let resummarize = |k: usize, name: &str| {
        let out = p(&format!("renamed-{k}.json"));
        let csv = sites[k].1.to_string_lossy().into_owned();
        let mut a = vec!["eval", "--data", &csv];
        a.extend(COMMON);
        a.extend(["--aggregates-only", "--site", name, "--json", &out]);
        ok(&a);
        out
    };
    let (first, second) = (&sites[0].0, &sites[1].0);
    let resent = resummarize(0, "resent");
    refused(
        &["pool", &summaries[0], &summaries[1], &resent],
        &format!("site 'resent': its count tables are those of site '{first}' for every model"),
    );
    // Two real sites of a discrete score (a reader's yes/no) can share every table by chance:
    // noted, not refused.
    let mut flags = Vec::new();
    for site in ["north", "south"] {
        let csv = d.join(format!("{site}-flags.csv"));
        let rows: String = (0..8)
            .map(|i| format!("{site}{i},{},{}\n", i % 2, (i % 4 != 0) as u8))
            .collect();
        std::fs::write(&csv, format!("case_id,label,flag\n{rows}")).unwrap();
        let out = p(&format!("{site}-flags.json"));
        let csv = csv.to_string_lossy().into_owned();
        ok(&[
            "eval",
            "--data",
            &csv,
            "--label",
            "label",
            "--score",
            "flag",
            "--aggregates-only",
            "--site",
            site,
            "--json",
            &out,
        ]);
        flags.push(out);
    }
    let pooled_flags = p("flags.json");
    ok(&["pool", &flags[0], &flags[1], "--json", &pooled_flags]);
    assert!(
        read(Path::new(&pooled_flags))["warnings"]
            .to_string()
            .contains("sites 'north' and 'south' sent the same count tables for every model, of discrete scores"),
        "{}",
        read(Path::new(&pooled_flags))["warnings"]
    );
    let lower = resummarize(1, &first.to_lowercase());
    let alike = p("alike.json");
    let out = harness(&["pool", &summaries[0], &lower, "--json", &alike]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let note = format!(
        "site names '{first}' and '{}' differ only in case",
        first.to_lowercase()
    );
    assert!(err.contains(&note), "{err}");
    assert!(
        read(Path::new(&alike))["warnings"]
            .to_string()
            .contains(&note)
    );
    // A level written `f` at one site and `F` at another is pooled as written, and said to
    // look alike.
    let lower_csv = d.join("lower-f.csv");
    let text = std::fs::read_to_string(&sites[1].1).unwrap();
    let header = text.lines().next().unwrap();
    let sex = header.split(',').position(|c| c == "sex").unwrap();
    let lowered: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let mut cells: Vec<&str> = line.split(',').collect();
            if i > 0 && cells[sex] == "F" {
                cells[sex] = "f";
            }
            cells.join(",")
        })
        .collect();
    std::fs::write(&lower_csv, lowered.join("\n") + "\n").unwrap();
    let lower_summary = p("lower-f.json");
    let csv = lower_csv.to_string_lossy().into_owned();
    let mut a = vec!["eval", "--data", &csv];
    a.extend(COMMON);
    a.extend([
        "--aggregates-only",
        "--site",
        second,
        "--json",
        &lower_summary,
    ]);
    ok(&a);
    let out = harness(&["pool", &summaries[0], &lower_summary, "--json", &alike]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("over the sites' summaries, subgroup column 'sex': levels 'F' / 'f'"),
        "{err}"
    );

    // Round 2: the paired DeLong test.
    let request = p("request.json");
    let mut a = vec!["pool"];
    a.extend(&s);
    a.extend(["--request-out", &request]);
    ok(&a);
    let mut sums = Vec::new();
    for (site, csv, _) in &sites {
        let out = p(&format!("{site}-sums.json"));
        let csv = csv.to_string_lossy().into_owned();
        let mut a = vec!["eval", "--data", &csv];
        a.extend(COMMON);
        a.extend(["--paired-request", &request, "--site", site, "--json", &out]);
        ok(&a);
        sums.push(out);
    }
    let round2 = p("round2.json");
    // Round 2's arguments with the request at `request`, writing `json`.
    let round2_args = |request: &str, json: &str| -> Vec<String> {
        let mut a = vec!["pool".to_string()];
        a.extend(s.iter().map(|x| x.to_string()));
        a.extend(["--request", request, "--sums"].map(String::from));
        a.extend(sums.iter().cloned());
        a.extend(
            [
                "--target-specificity",
                "0.8",
                "--target-specificity",
                "0.95",
            ]
            .map(String::from),
        );
        a.extend(["--json", json].map(String::from));
        a.extend(BOOTSTRAPS.iter().map(|x| x.to_string()));
        a
    };
    let report_dir = p("pooled-report");
    let mut a = round2_args(&request, &round2);
    a.extend(["--report".to_string(), report_dir.clone()]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let out = String::from_utf8(ok(&a).stdout).unwrap();
    assert!(out.contains("what left each site"), "{out}");
    for (site, _, ids) in &sites {
        assert!(
            out.contains(&format!("  {site}: {} cases", ids.len())),
            "{out}"
        );
    }
    let got = read(Path::new(&round2));
    let mut bad = Vec::new();
    compare(&want, &got, "", 1e-12, &[".warnings"], &mut bad);
    assert!(bad.is_empty(), "round 2 differs: {bad:#?}");
    assert!(got["comparisons"][0]["p"].as_f64().unwrap() > 0.0);
    // A request that comes back with other bytes (here re-spaced) is parsed rather than taken
    // as the one made again from the summaries, and gives the same results.
    let spaced = p("request-spaced.json");
    let text = std::fs::read_to_string(&request).unwrap();
    std::fs::write(&spaced, format!(" {}\n\n", text.trim_end())).unwrap();
    let again = p("round2-spaced.json");
    let a = round2_args(&spaced, &again);
    ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(read(Path::new(&again)), got);
    // A site that answered an earlier request (made from sites A and B only) is refused by
    // name, though its pairs and counts fit: its placements are among other pooled cases.
    let earlier = p("request-ab.json");
    ok(&["pool", s[0], s[1], "--request-out", &earlier]);
    let (site, csv, _) = &sites[0];
    let csv = csv.to_string_lossy().into_owned();
    let stale = p("stale-sums.json");
    let mut a = vec!["eval", "--data", &csv];
    a.extend(COMMON);
    a.extend([
        "--paired-request",
        &earlier,
        "--site",
        site,
        "--json",
        &stale,
    ]);
    ok(&a);
    let mut a = vec!["pool"];
    a.extend(&s);
    a.extend(["--request", &request, "--sums", &stale, &sums[1], &sums[2]]);
    let out = harness(&a);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("site '{site}'")) && err.contains("another request"),
        "{err}"
    );
    // The pooled report: the run report's figures, and which site sent what (its file's hash).
    let html = std::fs::read_to_string(Path::new(&report_dir).join("report.html")).unwrap();
    assert!(
        html.contains("Sites and what left them"),
        "no sites section"
    );
    for (site, _, ids) in &sites {
        assert!(html.contains(&format!(
            "<td>{site}</td><td class=\"num\">{}</td>",
            ids.len()
        )));
    }
    let sha = harness_data::registry::file_sha256(Path::new(&s[0])).unwrap();
    assert!(html.contains(&sha), "site A's summary hash");
    assert!(
        html.contains("Pooled from the count tables of 3 site(s)"),
        "the limit"
    );
    let auroc = format!("{:.3}", want["models"]["score"]["auroc"].as_f64().unwrap());
    assert!(html.contains(&auroc), "the pooled AUROC {auroc}");
    // The ROC bands are drawn with the pool's own settings (as a run draws them with its
    // suite's), not a default seed.
    let band = format!(
        "(B = {}, seed {}; pROC ci.se)",
        want["options"]["bootstrap"]
            .as_u64()
            .unwrap()
            .clamp(200, 2000),
        want["options"]["seed"]
    );
    assert!(html.contains(&band), "{band}");
    for f in [
        "roc-1-score.svg",
        "reliability-1-score.svg",
        "roc-overlay.svg",
    ] {
        assert!(
            Path::new(&report_dir).join("figures").join(f).is_file(),
            "{f}"
        );
    }

    // Refusals, exit 2 naming the problem: a site twice, a site's answer missing.
    let mut a = vec!["pool", s[0], s[1], s[1], "--json", &round1];
    let out = harness(&a);
    assert_eq!(out.status.code(), Some(2));
    let twice = format!("site '{}' appears twice", sites[1].0);
    assert!(String::from_utf8_lossy(&out.stderr).contains(&twice));
    a = vec!["pool"];
    a.extend(&s);
    a.extend(["--request", &request, "--sums", &sums[0], &sums[1]]);
    let out = harness(&a);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let silent = format!("site '{}' sent no paired sums", sites[2].0);
    assert!(err.contains(&silent), "names the silent site: {err}");
    // Site A's round 1 with `extra` arguments.
    let csv = sites[0].1.to_string_lossy().into_owned();
    let site_args = |extra: &[&str]| {
        let mut a = vec![
            "eval",
            "--data",
            &csv,
            "--label",
            "label",
            "--score",
            "score",
            "--aggregates-only",
            "--site",
            "A",
            "--json",
            &round1,
        ];
        a.extend(extra);
        harness(&a)
    };
    // Clustered statistics cannot be pooled: refused at the site, not silently dropped.
    let out = site_args(&["--cluster", "sex"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cluster"));
    // An identifier-like grouping column (here the case id: one case per level) would publish
    // every case's score and label: refused, unless the site lowers the minimum on purpose.
    let out = site_args(&["--group", "case_id"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("grouping column 'case_id'") && err.contains("fewer than 5 cases"),
        "{err}"
    );
    let out = site_args(&["--group", "case_id", "--min-level-cases", "1"]);
    assert!(out.status.success());
    // So is a whole site of fewer cases than the minimum: its `all` tables would show them.
    let tiny = d.join("tiny.csv");
    std::fs::write(
        &tiny,
        "case_id,label,score
t1,1,0.7
t2,0,0.2
t3,1,0.6
",
    )
    .unwrap();
    let tiny = tiny.to_string_lossy().into_owned();
    let tiny_site = |extra: &[&str]| {
        let mut a = vec![
            "eval", "--data", &tiny, "--label", "label", "--score", "score",
        ];
        a.extend(["--aggregates-only", "--site", "T", "--json", &round1]);
        a.extend(extra);
        harness(&a)
    };
    let out = tiny_site(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the site has 3 case(s), fewer than 5"),
        "{err}"
    );
    assert!(tiny_site(&["--min-level-cases", "1"]).status.success());
}

/// `harness run --site` on the shipped example writes a site bundle that `harness pool` takes as
/// a folder (verified first: a changed file is refused) and pools to the run's own figures.
#[test]
fn a_site_bundle_pools_to_the_run_figures_and_a_changed_one_is_refused() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tmp = tempfile::tempdir().unwrap();
    let (site, whole) = (tmp.path().join("site"), tmp.path().join("whole"));
    let suite = root.join("suites/example.toml");
    let suite = suite.to_string_lossy();
    for (out, extra) in [
        (&whole, vec![]),
        (&site, vec!["--site", "hospital-a", "--aggregates-only"]),
    ] {
        let out = out.to_string_lossy();
        let mut a = vec!["run", &suite, "--no-perf", "--out", &out];
        a.extend(extra);
        ok(&a);
    }
    assert!(site.join("site.json").is_file() && !site.join("predictions.csv").exists());
    let pooled = tmp.path().join("pooled.json");
    let (site_s, pooled_s) = (site.to_string_lossy(), pooled.to_string_lossy());
    let metrics = read(&whole.join("metrics.json"));
    // The bundle carries its suite: the pool takes its [metrics] (target specificities, the
    // bootstrap and its seed) and applies its [acceptance], as the run did.
    let out = ok(&["pool", &site_s, "--json", &pooled_s]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("gate: pass  vendor-a: auroc =") && said.contains("is at least 0.75"),
        "the suite's gate (auroc >= 0.75) is applied: {said}"
    );
    let got = read(&pooled);
    assert_eq!(got["options"], metrics["options"]);
    let mut bad = Vec::new();
    for (model, want) in metrics["models"].as_object().unwrap() {
        compare(want, &got["models"][model], model, 0.0, &[], &mut bad);
    }
    assert!(bad.is_empty(), "{bad:#?}");
    // Other statistics' settings than the suite's are refused; the suite's own are not.
    let out = harness(&["pool", &site_s, "--json", &pooled_s, "--threshold", "0.3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--threshold: the site bundles ran suite"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ok(&["pool", &site_s, "--json", &pooled_s, "--bootstrap", "2000"]);
    // The pooled results written into the site bundle would break it: refused.
    let inside = site.join("pooled.json");
    let out = harness(&["pool", &site_s, "--json", inside.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is inside the site bundle"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!inside.exists());
    // A setting given at its default value counts: the suite's seed is 20261122, not 1.
    let out = harness(&["pool", &site_s, "--json", &pooled_s, "--seed", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--seed: the site bundles ran suite"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A site that ran the suite with another threshold: refused, naming what differs.
    let other = tmp.path().join("other");
    let other_suite = example_site(&other, 200, false);
    let text = std::fs::read_to_string(&other_suite).unwrap();
    std::fs::write(
        &other_suite,
        text.replacen("threshold = 0.5", "threshold = 0.3", 1),
    )
    .unwrap();
    let other_out = tmp.path().join("site-other");
    let other_out = other_out.to_string_lossy();
    ok(&[
        "run",
        &other_suite,
        "--no-perf",
        "--site",
        "other",
        "--aggregates-only",
        "--out",
        &other_out,
    ]);
    let out = harness(&["pool", &site_s, &other_out, "--json", &pooled_s]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("their suites differ in [metrics]"), "{err}");
    // One that ran it under another name and primary engine: pooled, saying so.
    std::fs::write(
        &other_suite,
        text.replacen("name = \"example\"", "name = \"example-renamed\"", 1)
            .replacen(
                "primary_backend = \"tract\"",
                "primary_backend = \"candle\"",
                1,
            ),
    )
    .unwrap();
    let renamed = tmp.path().join("site-renamed");
    let renamed = renamed.to_string_lossy();
    ok(&[
        "run",
        &other_suite,
        "--no-perf",
        "--site",
        "renamed",
        "--aggregates-only",
        "--out",
        &renamed,
    ]);
    let report = tmp.path().join("pooled-report");
    let report_s = report.to_string_lossy();
    let out = ok(&[
        "pool", &site_s, &renamed, "--json", &pooled_s, "--report", &report_s,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    let note = "the site bundles' suites differ in name ('example', 'example-renamed'); [inference] primary_backend ('candle', 'tract')";
    assert_eq!(err.matches(note).count(), 1, "said once: {err}");
    // The pooled JSON keeps it among its warnings.
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&pooled).unwrap()).unwrap();
    assert!(
        json["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.starts_with(note))),
        "{json:#}"
    );
    // The pooled report says it too.
    let md = std::fs::read_to_string(report.join("summary.md")).unwrap();
    assert!(
        md.contains(&harness_report::format::escape_markdown(note)),
        "{md}"
    );
    std::fs::write(site.join("agreement.json"), "{}").unwrap();
    let out = harness(&["pool", &site_s, "--json", &pooled_s]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not verify"));
}

/// A copy of the shipped example project in `dir` whose dataset lists only its first `cases`
/// cases (re-pinned), and, with `swap`, whose candidates "vendor-a" and "vendor-b" run each
/// other's model: the suite of another site. Returns the suite's path.
fn example_site(dir: &Path, cases: usize, swap: bool) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let copy = |from: &str| {
        let status = Command::new("cp")
            .args([
                "-r",
                &root.join(from).to_string_lossy(),
                &dir.to_string_lossy(),
            ])
            .status()
            .unwrap();
        assert!(status.success());
    };
    std::fs::create_dir_all(dir.join("data")).unwrap();
    for from in ["datasets.toml", "models", "suites"] {
        copy(from);
    }
    let data = dir.join("data");
    let status = Command::new("cp")
        .args([
            "-r",
            &root.join("data/synthetic-lesions").to_string_lossy(),
            &data.to_string_lossy(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let labels = data.join("synthetic-lesions/labels.csv");
    let text = std::fs::read_to_string(&labels).unwrap();
    let kept: String = text
        .lines()
        .take(cases + 1)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&labels, kept).unwrap();
    let hash = Command::new("bash")
        .arg(root.join("ci/dataset_hash.sh"))
        .arg(data.join("synthetic-lesions"))
        .output()
        .unwrap();
    assert!(hash.status.success());
    let hash = String::from_utf8(hash.stdout).unwrap();
    let registry = dir.join("datasets.toml");
    let pinned = "8896a041e622403e19d09796ff4d3c4d459cd110517e6208d87dfcb34f2792b9";
    let text = std::fs::read_to_string(&registry).unwrap();
    assert!(text.contains(pinned), "the example dataset's pin");
    std::fs::write(&registry, text.replace(pinned, hash.trim())).unwrap();
    let suite = dir.join("suites/example.toml");
    if swap {
        // Models as named at the other sites: each name now runs the other's model.
        let text = std::fs::read_to_string(&suite).unwrap();
        let (a, b) = ("name = \"vendor-a\"", "name = \"vendor-b\"");
        assert!(text.contains(a) && text.contains(b));
        let text = text.replace(a, "@A@").replace(b, a).replace("@A@", b);
        std::fs::write(&suite, text).unwrap();
    }
    suite.to_string_lossy().into_owned()
}

/// Both rounds from suite runs: two sites (the shipped example, and a copy of it holding its
/// first 400 cases) answer the coordinator's round-2 request with `harness run
/// --paired-request`, and `harness pool` reads both rounds from the site bundles (verified)
/// and gives every paired test. Bundles of the same data, or that ran another model under a
/// candidate's name, are refused.
#[test]
fn site_runs_answer_the_second_round_from_their_bundles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let suite_a = root
        .join("suites/example.toml")
        .to_string_lossy()
        .into_owned();
    let suite_b = example_site(&d.join("site-b"), 400, false);
    let suite_of = |site: &str| if site == "a" { &suite_a } else { &suite_b };
    let path = |n: &str| d.join(n).to_string_lossy().into_owned();
    for site in ["a", "b"] {
        let out = path(site);
        ok(&[
            "run",
            suite_of(site),
            "--no-perf",
            "--site",
            site,
            "--aggregates-only",
            "--out",
            &out,
        ]);
    }
    let request = path("request.json");
    ok(&["pool", &path("a"), &path("b"), "--request-out", &request]);
    for site in ["a", "b"] {
        let out = path(&format!("{site}-2"));
        ok(&[
            "run",
            suite_of(site),
            "--no-perf",
            "--site",
            site,
            "--aggregates-only",
            "--paired-request",
            &request,
            "--out",
            &out,
        ]);
        assert!(d.join(format!("{site}-2/paired-sums.json")).is_file());
    }
    let pooled = path("pooled.json");
    let out = ok(&[
        "pool",
        &path("a"),
        &path("b"),
        "--request",
        &request,
        "--sums",
        &path("a-2"),
        &path("b-2"),
        "--json",
        &pooled,
        "--report",
        &path("report"),
    ]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("six sums"));
    // The report says what left each site in both rounds (the sums' SHA-256 among it), and
    // that the sites' data are synthetic, as their bundles say.
    let summary = std::fs::read_to_string(d.join("report/summary.md")).unwrap();
    assert!(summary.contains("Round 2 (paired tests)"), "{summary}");
    for site in ["a-2", "b-2"] {
        let manifest = read(&d.join(site).join("manifest.json"));
        let sha = manifest["files"]["paired-sums.json"].as_str().unwrap();
        assert!(summary.contains(sha), "{site}: {summary}");
    }
    assert!(
        summary.contains("| Synthetic | YES: generated data |"),
        "{summary}"
    );
    // The candidates' model files as the site bundles pinned them.
    let manifest = read(&d.join("a").join("manifest.json"));
    for c in manifest["candidates"].as_array().unwrap() {
        let sha = c["model"]["sha256"].as_str().unwrap();
        assert!(summary.contains(sha), "{sha}: {summary}");
    }
    assert!(!summary.contains("not in the site summaries"), "{summary}");
    let got = read(Path::new(&pooled));
    let comparisons = got["comparisons"].as_array().unwrap();
    assert_eq!(comparisons.len(), 3, "three candidates, three pairs");
    for c in comparisons {
        assert!(
            c["p"].is_number() && c["se_diff"].as_f64().unwrap() > 0.0,
            "{c}"
        );
    }
    assert_eq!(got["n"], 1000, "600 + 400 cases");

    // The same site's bundle twice (copied under another folder): its cases would count twice.
    let copy = path("a-copy");
    let status = Command::new("cp")
        .args(["-r", &path("a"), &copy])
        .status()
        .unwrap();
    assert!(status.success());
    let out = harness(&["pool", &path("a"), &copy, "--json", &pooled]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("counted twice"), "{err}");
    // A site whose "vendor-a" and "vendor-b" are each other's models.
    let suite_c = example_site(&d.join("site-c"), 300, true);
    ok(&[
        "run",
        &suite_c,
        "--no-perf",
        "--site",
        "c",
        "--aggregates-only",
        "--out",
        &path("c"),
    ]);
    let out = harness(&["pool", &path("a"), &path("c"), "--json", &pooled]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("is another model at each site"), "{err}");
}

/// Sites that sign their bundles, each with its own key: `harness pool` checks every signature
/// against the keys given (repeatable) and refuses a bundle no key signed, a signed bundle
/// without keys, and a bare summary file when keys are given; a bundle's own `site.json` is
/// read as its bundle.
#[test]
fn signed_site_bundles_pool_with_their_signers_keys() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let path = |n: &str| d.join(n).to_string_lossy().into_owned();
    let suites = [
        root.join("suites/example.toml")
            .to_string_lossy()
            .into_owned(),
        example_site(&d.join("site-b"), 400, false),
    ];
    for (site, suite) in ["a", "b"].iter().zip(&suites) {
        ok(&["keygen", "--out", &path(&format!("{site}-key"))]);
        let key = path(&format!("{site}-key.key"));
        ok(&[
            "run",
            suite,
            "--no-perf",
            "--site",
            site,
            "--aggregates-only",
            "--sign-key",
            &key,
            "--out",
            &path(site),
        ]);
    }
    let (ka, kb) = (path("a-key.pub"), path("b-key.pub"));
    let pooled = path("pooled.json");
    let pool = |args: &[&str]| {
        let mut a = vec!["pool"];
        a.extend(args);
        a.extend(["--json", &pooled]);
        harness(&a)
    };
    let site_json = path("b/site.json");
    let both = pool(&[
        &path("a"),
        &site_json,
        "--public-key",
        &ka,
        "--public-key",
        &kb,
    ]);
    assert!(
        both.status.success(),
        "{}",
        String::from_utf8_lossy(&both.stderr)
    );
    for (args, needle) in [
        (vec![path("a"), path("b")], "give its signer's public key"),
        (
            vec![path("a"), path("b"), "--public-key".into(), ka.clone()],
            "matches none of the 1 public key",
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = pool(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(needle), "{err}");
    }
    // A summary copied out of its bundle has no signature to check.
    let bare = path("b-site.json");
    std::fs::copy(&site_json, &bare).unwrap();
    let out = pool(&[&path("a"), &bare, "--public-key", &ka, "--public-key", &kb]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bare file"), "{err}");
}

/// A seeded multi-label file: findings effusion (model a and b) and nodule (a and b), exact and
/// tied scores, a subgroup column and three sites.
fn multilabel_csv(path: &Path) {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut u = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut text = String::from("case_id,effusion,nodule,a_eff,a_nod,b_eff,b_nod,sex,site\n");
    for i in 0..900 {
        let (ye, yn) = (u() < 0.3, u() < 0.12);
        let s = |y: bool, u: f64| (0.65 * u + if y { 0.3 } else { 0.0 }).min(1.0);
        let (ae, an) = (s(ye, u()), s(yn, u()));
        let (be, bn) = (
            (s(ye, u()) * 20.0).round() / 20.0,
            (s(yn, u()) * 20.0).round() / 20.0,
        );
        let sex = if u() < 0.5 { "F" } else { "M" };
        let site = ["A", "B", "C"][(u() * 3.0) as usize % 3];
        text.push_str(&format!(
            "c{i},{},{},{ae},{an},{be},{bn},{sex},{site}\n",
            u8::from(ye),
            u8::from(yn)
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// Multi-label sites: `harness eval --task multilabel --aggregates-only` per site, `harness
/// pool` gives the all-cases `eval --task multilabel` per finding and in aggregate (round 1),
/// the paired tests per finding after round 2, and the gate takes multi-label keys.
#[test]
fn multilabel_sites_pool_finding_by_finding_to_the_all_cases_results() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let source = d.join("findings.csv");
    multilabel_csv(&source);
    let sites = split_file_by_site(&source, d);
    assert_eq!(sites.len(), 3);
    let p = |name: &str| d.join(name).to_string_lossy().into_owned();
    let task = [
        "--task",
        "multilabel",
        "--finding",
        "effusion=effusion:a_eff",
        "--finding",
        "nodule=nodule:a_nod",
        "--finding-b",
        "effusion=b_eff",
        "--finding-b",
        "nodule=b_nod",
        "--group",
        "sex",
    ];
    let all = p("all.json");
    let data = source.to_string_lossy().into_owned();
    let mut args = vec!["eval", "--data", &data];
    args.extend(task);
    args.extend(["--json", &all]);
    ok(&args);

    let mut summaries = Vec::new();
    let mut sums = Vec::new();
    for (site, csv, ids) in &sites {
        let (out, sum) = (p(&format!("{site}.json")), p(&format!("{site}-sums.json")));
        let csv = csv.to_string_lossy().into_owned();
        let mut a = vec!["eval", "--data", &csv];
        a.extend(task);
        a.extend(["--aggregates-only", "--site", site, "--json", &out]);
        ok(&a);
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(
            ids.iter().all(|id| !text.contains(&format!("\"{id}\""))),
            "no case id"
        );
        assert_eq!(
            read(Path::new(&out))["format"],
            "harness-site-summary-multilabel/1"
        );
        summaries.push(out);
        sums.push(sum);
    }
    // A level written `f` at one site and `F` at the others is pooled as written, and said
    // to look alike (as for binary sites).
    let text = std::fs::read_to_string(&sites[0].1).unwrap();
    let lowered = text.replace(",F,", ",f,");
    assert_ne!(lowered, text);
    let lower_csv = d.join("lower.csv");
    std::fs::write(&lower_csv, lowered).unwrap();
    let (lower, csv) = (p("lower.json"), lower_csv.to_string_lossy().into_owned());
    let mut a = vec!["eval", "--data", &csv];
    a.extend(task);
    a.extend(["--aggregates-only", "--site", &sites[0].0, "--json", &lower]);
    ok(&a);
    let out = harness(&[
        "pool",
        &lower,
        &summaries[1],
        &summaries[2],
        "--json",
        &p("lower-pooled.json"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("over the sites' summaries, subgroup column 'sex': levels 'F' / 'f'"),
        "{err}"
    );
    // A finding's criterion the pooled results can never give is refused (exit 2) before the
    // pooling, as in `eval`.
    let out = harness(&[
        "pool",
        &summaries[0],
        &summaries[1],
        "--fail-over",
        "auroc_gap.site.nodule=0.1",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("'site' is not a grouping column"), "{err}");

    let pooled = p("pooled.json");
    let request = p("request.json");
    let mut a = vec!["pool"];
    a.extend(summaries.iter().map(String::as_str));
    a.extend(["--json", &pooled, "--request-out", &request]);
    ok(&a);
    let mut bad = Vec::new();
    compare(
        &read(Path::new(&pooled)),
        &read(Path::new(&all)),
        "",
        1e-12,
        &[
            ".warnings",
            ".findings.effusion.comparisons",
            ".findings.nodule.comparisons",
        ],
        &mut bad,
    );
    assert!(bad.is_empty(), "round 1:\n{}", bad.join("\n"));

    for ((site, csv, _), sum) in sites.iter().zip(&sums) {
        let csv = csv.to_string_lossy().into_owned();
        let mut a = vec!["eval", "--data", &csv];
        a.extend(task);
        a.extend(["--paired-request", &request, "--site", site, "--json", sum]);
        ok(&a);
    }
    let pooled2 = p("pooled2.json");
    let mut a = vec!["pool"];
    a.extend(summaries.iter().map(String::as_str));
    a.extend(["--request", &request, "--sums"]);
    a.extend(sums.iter().map(String::as_str));
    a.extend(["--json", &pooled2, "--fail-under", "auroc_macro=0.99"]);
    let out = harness(&a);
    // The pooled macro AUROCs are below 0.99: the gate fails with exit 1, the results written.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut bad = Vec::new();
    compare(
        &read(Path::new(&pooled2)),
        &read(Path::new(&all)),
        "",
        1e-12,
        &[".warnings"],
        &mut bad,
    );
    assert!(bad.is_empty(), "round 2:\n{}", bad.join("\n"));
    let z = &read(Path::new(&pooled2))["findings"]["effusion"]["comparisons"][0]["z"];
    assert!(z.is_number(), "{z}");

    // A binary and a multi-label summary do not pool together.
    let binary = p("binary.json");
    let csv = sites[0].1.to_string_lossy().into_owned();
    ok(&[
        "eval",
        "--data",
        &csv,
        "--label",
        "effusion",
        "--score",
        "a_eff",
        "--aggregates-only",
        "--site",
        "Z",
        "--json",
        &binary,
    ]);
    let out = harness(&["pool", &summaries[0], &binary, "--json", &p("mixed.json")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("harness-site-summary-multilabel/1"));
}

fn multiclass_csv(path: &Path) {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut u = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut text = String::from("case_id,label,a0,a1,a2,b0,b1,b2,sex,site\n");
    for i in 0..600 {
        let y = (u() * 3.0) as usize % 3;
        let row = |signal: f64, u: &mut dyn FnMut() -> f64, grid: f64| -> [f64; 3] {
            let raw: Vec<f64> = (0..3)
                .map(|c| (if c == y { signal } else { 0.0 } + u()).exp())
                .collect();
            let s: f64 = raw.iter().sum();
            let p0 = (raw[0] / s * grid).round() / grid;
            let p1 = (raw[1] / s * grid).round() / grid;
            [p0, p1, ((1.0 - p0 - p1) * grid).round() / grid]
        };
        let a = row(0.5, &mut u, 1e6);
        let b = row(0.2, &mut u, 20.0);
        let sex = if u() < 0.5 { "F" } else { "M" };
        let site = ["A", "B", "C"][(u() * 3.0) as usize % 3];
        text.push_str(&format!(
            "m{i},k{y},{},{},{},{},{},{},{sex},{site}\n",
            a[0], a[1], a[2], b[0], b[1], b[2]
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// Multi-class sites: `harness eval --task multiclass --aggregates-only` per site, and `harness
/// pool` gives the all-cases `eval --task multiclass` (every figure but the bootstraps, subgroup
/// levels and gaps included) to 1e-12; the gate takes multi-class keys; a second round and a
/// score grid are refused with the reason.
#[test]
fn multiclass_sites_pool_to_the_all_cases_results() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let source = d.join("classes.csv");
    multiclass_csv(&source);
    let sites = split_file_by_site(&source, d);
    assert_eq!(sites.len(), 3);
    let p = |name: &str| d.join(name).to_string_lossy().into_owned();
    let task = [
        "--task",
        "multiclass",
        "--label",
        "label",
        "--class-score",
        "k0=a0",
        "--class-score",
        "k1=a1",
        "--class-score",
        "k2=a2",
        "--class-score-b",
        "k0=b0",
        "--class-score-b",
        "k1=b1",
        "--class-score-b",
        "k2=b2",
        "--group",
        "sex",
    ];
    let all = p("all.json");
    let mut args = vec!["eval", "--data", source.to_str().unwrap(), "--json", &all];
    args.extend(task);
    ok(&args);
    // A site's round 1 of `path` as `site`, written to `out`, with `extra` arguments.
    let summarize = |path: &Path, site: &str, out: &str, extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--data",
            path.to_str().unwrap(),
            "--aggregates-only",
            "--site",
            site,
            "--json",
            out,
        ];
        args.extend(task);
        args.extend(extra);
        harness(&args)
    };
    let mut files = Vec::new();
    for (site, path, ids) in &sites {
        let out = p(&format!("{site}.json"));
        let o = summarize(path, site, &out, &[]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.contains("harness-site-summary-multiclass/1"));
        assert!(!ids.iter().any(|id| text.contains(&format!("\"{id}\""))));
        files.push(out);
    }
    let pooled = p("pooled.json");
    let mut args = vec!["pool"];
    args.extend(files.iter().map(String::as_str));
    let report = p("report");
    args.extend([
        "--json",
        &pooled,
        "--fail-under",
        "auroc_macro=0.5",
        "--report",
        &report,
    ]);
    let out = ok(&args);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("pooled from 3 site(s); what left each site:")
            && String::from_utf8_lossy(&out.stdout)
                .contains("classes, 2 model(s): For each model and class"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The pooled report's macro AUROC column promises no CI it does not show.
    let summary = std::fs::read_to_string(Path::new(&report).join("summary.md")).unwrap();
    assert!(
        summary.contains("Macro AUROC (no bootstrap CI)"),
        "{summary}"
    );
    assert!(!summary.contains("Macro AUROC [95% CI"), "{summary}");
    // A seed would be ignored (no bootstrap is pooled for multi-class sites): refused.
    refused(
        &["pool", &files[0], &files[1], "--seed", "3"],
        "--seed is not used in pooling multi-class sites",
    );
    // The first site's cases sent again under another name would count twice: refused.
    let (first_site, first_path, _) = &sites[0];
    let again = p("again.json");
    let o = summarize(first_path, "again", &again, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    refused(
        &["pool", &files[0], &files[1], &again],
        &format!("its count tables are those of site '{first_site}' for every model"),
    );
    let mut bad = Vec::new();
    compare(
        &read(Path::new(&pooled)),
        &read(Path::new(&all)),
        "",
        1e-12,
        &[".warnings", ".comparisons_macro"],
        &mut bad,
    );
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    let r = read(Path::new(&pooled));
    assert_eq!(
        r["models"]["a"]["subgroups"]["sex"]
            .as_object()
            .unwrap()
            .len(),
        2
    );
    assert!(
        r["comparisons_macro"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("not pooled")
    );
    // The pooled report: the Classes section, each site's disclosure, per-class figures.
    let html = std::fs::read_to_string(d.join("report/report.html")).unwrap();
    assert!(
        html.contains("id=\"classes\"") && html.contains("per class"),
        "classes section"
    );
    assert!(html.contains("whole probability vector with its true class"));
    for f in [
        "confusion-1-a.svg",
        "roc-class-3-k2.svg",
        "reliability-classwise-2-b.svg",
    ] {
        assert!(d.join("report/figures").join(f).is_file(), "{f}");
    }
    // The gate reads the pooled figures; a second round and a grid are refused.
    let mut args = vec!["pool"];
    args.extend(files.iter().map(String::as_str));
    args.extend(["--fail-under", "auroc_macro=0.99"]);
    assert_eq!(harness(&args).status.code(), Some(1));
    let mut args = vec!["pool"];
    args.extend(files.iter().map(String::as_str));
    args.extend(["--request-out", "r.json"]);
    let o = harness(&args);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no round 2"));
    // The binary task's options would be ignored here: refused, saying why.
    for (flag, value) in [("--bootstrap", "200"), ("--threshold", "0.3")] {
        let mut args = vec!["pool"];
        args.extend(files.iter().map(String::as_str));
        args.extend([flag, value]);
        refused(
            &args,
            &format!("{flag} is not used in pooling multi-class sites"),
        );
    }
    let (site, path, _) = &sites[0];
    let out = p("grid.json");
    let o = summarize(path, site, &out, &["--score-decimals", "2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("sum to 1"));
}
