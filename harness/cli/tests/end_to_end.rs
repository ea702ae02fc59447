//! `harness run` → `harness verify` through the binary, on the shipped data and models:
//! a complete bundle, byte-identical reruns, tamper and interruption detection, and a
//! suite that tries to escape the project root. (Uses --no-perf: timing is not tested here.)

mod common;

use common::{harness, root, verify};
use std::path::Path;

fn run_suite(suite: &Path, out: &Path) -> std::process::Output {
    harness()
        .arg("run")
        .arg(suite)
        .arg("--registry")
        .arg(root().join("datasets.toml"))
        .arg("--no-perf")
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn run_writes_a_bundle_that_verifies_reproduces_and_detects_tampering() {
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/e2e.toml");
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));

    let out = run_suite(&suite, &a);
    assert!(
        out.status.success(),
        "run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "manifest.json",
        "predictions.csv",
        "metrics.json",
        "performance.json",
        "agreement.json",
        "report.html",
        "summary.md",
    ] {
        assert!(a.join(f).is_file(), "missing {f}");
    }
    assert!(!a.join("INCOMPLETE").exists());
    let pred = std::fs::read_to_string(a.join("predictions.csv")).unwrap();
    assert_eq!(pred.lines().count(), 601);
    assert!(pred.starts_with("case_id,label,sex,age_band,site,vendor-a,vendor-b,vendor-c\n"));
    let v = verify(&a);
    let stdout = String::from_utf8_lossy(&v.stdout);
    assert!(v.status.success(), "verify: {stdout}");
    // verify read the dataset's labels again and found the bundle's rows.
    assert!(
        stdout.lines().any(|l| l.contains("cases vs dataset")
            && l.contains(" ok ")
            && l.contains("600 cases: ids, labels and sex, age_band, site as dataset")),
        "{stdout}"
    );

    // Same suite and seed, fewer threads: byte-identical metrics and predictions.
    let out = harness()
        .env("RAYON_NUM_THREADS", "1")
        .arg("run")
        .arg(&suite)
        .arg("--registry")
        .arg(root().join("datasets.toml"))
        .arg("--no-perf")
        .arg("--out")
        .arg(&b)
        .output()
        .unwrap();
    assert!(out.status.success());
    for f in ["metrics.json", "predictions.csv"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f} differs between runs"
        );
    }

    // One changed byte in any file is caught, and the file is named.
    for f in [
        "predictions.csv",
        "metrics.json",
        "report.html",
        "manifest.json",
    ] {
        let t = tmp.path().join(format!("t-{f}"));
        copy_dir(&a, &t);
        let mut bytes = std::fs::read(t.join(f)).unwrap();
        // The middle byte; in the (unsigned) manifest, a byte of a pinned hash: its descriptive
        // fields (the machine) are not evidence that anything checks.
        let i = if f == "manifest.json" {
            let text = String::from_utf8_lossy(&bytes);
            text.rfind("\"predictions.csv\": \"").unwrap() + 25
        } else {
            bytes.len() / 2
        };
        bytes[i] ^= 0x01;
        std::fs::write(t.join(f), &bytes).unwrap();
        let v = verify(&t);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&v.stdout),
            String::from_utf8_lossy(&v.stderr)
        );
        assert_eq!(v.status.code(), Some(1), "{f}: {text}");
        assert!(text.contains(f) || text.contains("manifest"), "{f}: {text}");
    }

    // A label changed in predictions.csv is named by the comparison with the dataset.
    let t = tmp.path().join("relabelled");
    copy_dir(&a, &t);
    let (head, rest) = pred.split_once('\n').unwrap();
    let (first, rest) = rest.split_once('\n').unwrap();
    let mut cells: Vec<&str> = first.split(',').collect();
    let was = cells[1];
    cells[1] = if was == "1" { "0" } else { "1" };
    std::fs::write(
        t.join("predictions.csv"),
        format!("{head}\n{}\n{rest}", cells.join(",")),
    )
    .unwrap();
    let v = verify(&t);
    let stdout = String::from_utf8_lossy(&v.stdout);
    assert_eq!(v.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.contains("cases vs dataset")
            && l.contains("FAILED")
            && l.contains(&format!(
                "line 2 (case '{}'): label is '{}'; the dataset gives '{was}'",
                cells[0], cells[1]
            ))),
        "{stdout}"
    );

    // The same edit made consistent (metrics.json recomputed, both re-pinned; unsigned) passes
    // a verify without the dataset, but compare refuses to set its labels beside the honest
    // run's, naming the case.
    let manifest_path = t.join("manifest.json");
    let mut manifest: harness_evidence::Manifest =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    let edited = std::fs::read(t.join("predictions.csv")).unwrap();
    let metrics = harness_evidence::evaluation::evaluate_predictions(
        &edited,
        &t.join("predictions.csv"),
        &manifest.evaluation,
    )
    .unwrap()
    .to_json();
    std::fs::write(t.join("metrics.json"), &metrics).unwrap();
    for (file, bytes) in [("predictions.csv", &edited), ("metrics.json", &metrics)] {
        manifest
            .files
            .insert(file.into(), harness_data::registry::sha256_hex(bytes));
    }
    // (Its gate's recorded verdicts would no longer be those of the metrics: dropped too.)
    manifest.acceptance = None;
    std::fs::write(
        &manifest_path,
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
    let v = harness_evidence::verify(&t, &Default::default());
    assert!(v.passed(), "{v:?}");
    let cmp = harness().arg("compare").arg(&a).arg(&t).output().unwrap();
    let stderr = String::from_utf8_lossy(&cmp.stderr);
    assert_eq!(cmp.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "predictions.csv line 2 (case '{}') has the label(s) [\"{}\"]",
            cells[0], cells[1]
        )) && stderr.contains("must agree on every label"),
        "{stderr}"
    );
    // With the project root, compare and the leaderboard check each bundle's cases against the
    // pinned dataset itself, as verify --project-root does: the edited bundle is not used,
    // the honest one is.
    let cmp = harness()
        .arg("compare")
        .arg(&t)
        .arg(&a)
        .arg("--project-root")
        .arg(root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&cmp.stderr);
    assert_eq!(cmp.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("its cases are not the pinned dataset's under")
            && stderr.contains("it is not used"),
        "{stderr}"
    );
    let board = tmp.path().join("board");
    copy_dir(&a, &board.join("honest"));
    copy_dir(&t, &board.join("edited"));
    let out = harness()
        .arg("leaderboard")
        .arg(&board)
        .arg("--project-root")
        .arg(root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("skipped: ") && stderr.contains("edited: its cases are not the pinned"),
        "{stderr}"
    );
    let md = std::fs::read_to_string(board.join("leaderboard.md")).unwrap();
    assert!(md.contains("honest") && !md.contains("edited"), "{md}");

    // An interrupted run (marker present, manifest absent) is never accepted.
    let t = tmp.path().join("interrupted");
    copy_dir(&a, &t);
    std::fs::remove_file(t.join("manifest.json")).unwrap();
    std::fs::write(t.join("INCOMPLETE"), b"interrupted").unwrap();
    let v = verify(&t);
    assert_eq!(v.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&v.stdout).contains("INCOMPLETE"));
}

/// `--json /dev/stdout` writes into the process's own stdout, whatever it is redirected to:
/// a file opened for appending keeps what it held, and gets the JSON and the printed table
/// (the file used to be replaced by the JSON alone).
#[cfg(target_os = "linux")]
#[test]
fn json_to_dev_stdout_goes_through_the_open_stream() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("s.csv");
    std::fs::write(&csv, "y,s\n1,0.9\n0,0.2\n1,0.7\n0,0.4\n1,0.3\n0,0.1\n").unwrap();
    let out = tmp.path().join("out.txt");
    std::fs::write(&out, "prior\n").unwrap();
    let appended = std::fs::OpenOptions::new().append(true).open(&out).unwrap();
    let status = harness()
        .args(["eval", "--data"])
        .arg(&csv)
        .args(["--label", "y", "--score", "s", "--json", "/dev/stdout"])
        .stdout(appended)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("prior\n"), "{text}");
    assert!(
        text.contains("\"auroc\"") && text.contains("AUROC"),
        "{text}"
    );
}

#[test]
fn a_suite_cannot_escape_the_project_root() {
    let tmp = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/e2e.toml"))
            .unwrap()
            .replacen("models/vendor-a.onnx", "../../etc/passwd", 1);
    let suite = tmp.path().join("escape.toml");
    std::fs::write(&suite, text).unwrap();
    let out = run_suite(&suite, &tmp.path().join("out"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("escape.toml:") && err.contains("'..'"),
        "{err}"
    );
    assert!(
        !tmp.path().join("out").exists(),
        "nothing may be written for an invalid suite"
    );
}

/// Candidates in the order a leaderboard markdown table lists them.
fn leaderboard_order(md: &str) -> Vec<String> {
    md.lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| rank"))
        .map(|l| l.split('|').nth(2).unwrap().trim().to_string())
        .collect()
}

/// Candidates sorted by one metric of metrics.json (`ascending` for lower-is-better).
fn order_by(metrics: &serde_json::Value, key: &str, ascending: bool) -> Vec<String> {
    let models = metrics["models"].as_object().unwrap();
    let mut v: Vec<(String, f64)> = models
        .iter()
        .map(|(n, m)| (n.clone(), m[key].as_f64().unwrap()))
        .collect();
    v.sort_by(|a, b| {
        let o = a.1.total_cmp(&b.1);
        if ascending { o } else { o.reverse() }
    });
    v.into_iter().map(|(n, _)| n).collect()
}

/// What the evaluation warns of is printed on stderr, as the run's summary says (it said so
/// and printed nothing): here vendor-a entered twice under two names, whose paired test has a
/// difference 0 with variance 0.
#[test]
fn a_run_prints_the_warnings_its_summary_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/e2e.toml"))
            .unwrap()
            .replacen("bootstrap = 200", "bootstrap = 0", 1);
    let start = text.find("[[candidates]]").unwrap();
    let first = &text[start..text[start + 1..].find("[[candidates]]").unwrap() + start + 1];
    let twin = first.replacen("name = \"vendor-a\"", "name = \"vendor-a-again\"", 1);
    let suite = tmp.path().join("twins.toml");
    std::fs::write(&suite, format!("{text}\n{twin}")).unwrap();
    let out = run_suite(&suite, &tmp.path().join("run"));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("run/metrics.json")).unwrap())
            .unwrap();
    let warnings = metrics["warnings"].as_array().unwrap();
    assert!(!warnings.is_empty(), "the test needs a warning");
    for w in warnings {
        assert!(
            stderr.contains(&format!("warning: {}", w.as_str().unwrap())),
            "{w} not on stderr: {stderr}"
        );
    }
    assert!(
        stdout.contains(&format!("{} warning(s) printed on stderr", warnings.len())),
        "{stdout}"
    );
}

/// The leaderboard ranks by the primary metric the manifest records, in that metric's
/// direction (it once ranked every suite by AUROC whatever the suite said).
#[test]
fn leaderboard_ranks_by_the_recorded_primary_metric() {
    let tmp = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/e2e.toml"))
            .unwrap()
            .replacen("primary = \"auroc\"", "primary = \"log_loss\"", 1)
            .replacen("bootstrap = 200", "bootstrap = 0", 1);
    let suite = tmp.path().join("by-log-loss.toml");
    std::fs::write(&suite, text).unwrap();
    let results = tmp.path().join("results");
    let bundle = results.join("run");
    let out = run_suite(&suite, &bundle);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["primary_metric"], "log_loss");
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("metrics.json")).unwrap()).unwrap();
    let by_log_loss = order_by(&metrics, "log_loss", true);
    assert_ne!(
        by_log_loss,
        order_by(&metrics, "auroc", false),
        "the test needs candidates whose log loss and AUROC orders differ"
    );

    // The leaderboard of the bundles under `results`, written to `out`: its Markdown.
    let leaderboard = |results: &Path, out: &Path| {
        let lb = harness()
            .arg("leaderboard")
            .arg(results)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap();
        assert!(
            lb.status.success(),
            "{}",
            String::from_utf8_lossy(&lb.stderr)
        );
        std::fs::read_to_string(out.join("leaderboard.md")).unwrap()
    };
    // An unsigned bundle's manifest edited.
    let edit_manifest = |bundle: &Path, edit: &dyn Fn(&mut serde_json::Value)| {
        let path = bundle.join("manifest.json");
        let mut m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        edit(&mut m);
        std::fs::write(&path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    };
    let board = tmp.path().join("board");
    let md = leaderboard(&results, &board);
    assert!(md.contains("ranked by log loss (lower is better)"), "{md}");
    assert_eq!(leaderboard_order(&md), by_log_loss, "{md}");
    assert!(md.contains("unknown (no CI for log loss)"), "{md}");

    // Two entrants' bundles in folders of one name are told apart by their parent folders; a
    // run of the suite on other data (here its manifest's dataset edited, which an unsigned
    // bundle does not pin) gets a board of its own, not a rank among runs on other cases.
    for team in ["teamA", "teamB"] {
        copy_dir(&bundle, &results.join(team).join("run"));
    }
    edit_manifest(&results.join("teamB/run"), &|m| {
        m["dataset"]["name"] = "synthetic-lesions-v2".into();
        m["dataset"]["digest"] = format!("sha256:{}", "ab".repeat(32)).into();
    });
    let md = leaderboard(&results, &board);
    let boards: Vec<&str> = md.split("\n## ").skip(1).collect();
    assert_eq!(boards.len(), 2, "{md}");
    let (v1, v2) = if boards[0].contains("synthetic-lesions-v2") {
        (boards[1], boards[0])
    } else {
        (boards[0], boards[1])
    };
    assert!(
        v2.contains("on synthetic-lesions-v2 (abababababab)"),
        "{md}"
    );
    assert!(v2.contains("e2e@teamB/run"), "{md}");
    for run in ["e2e@results/run", "e2e@teamA/run"] {
        assert!(v1.contains(run) && !v2.contains(run), "{run}: {md}");
    }
    assert_eq!(leaderboard_order(v1).len(), 2 * by_log_loss.len(), "{md}");

    // Ranked by AUROC, neighbours of one run are told apart as the run's report tells them:
    // by the paired test Holm-adjusted over the run's comparisons (three candidates, three).
    let by_auroc = tmp.path().join("by-auroc");
    copy_dir(&bundle, &by_auroc.join("run"));
    edit_manifest(&by_auroc.join("run"), &|m| {
        m["primary_metric"] = "auroc".into()
    });
    let md = leaderboard(&by_auroc, &by_auroc);
    assert!(
        md.contains("(paired DeLong, Holm-adjusted over the run's 3 comparisons, p "),
        "{md}"
    );

    // compare names its columns by those labels too; a candidate set against its own copy
    // gives the warnings the footer counts (difference 0 with variance 0), on stderr and in
    // the Markdown; one bundle given twice is refused.
    let compare = |a: &Path, b: &Path| {
        harness()
            .arg("compare")
            .arg(a)
            .arg(b)
            .arg("--markdown")
            .arg(tmp.path().join("cmp.md"))
            .output()
            .unwrap()
    };
    let cmp = compare(&bundle, &results.join("teamA/run"));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&cmp.stdout),
        String::from_utf8_lossy(&cmp.stderr),
    );
    assert!(cmp.status.success(), "{stderr}");
    assert!(stdout.contains("e2e@teamA/run/"), "{stdout}");
    let warned = stderr.matches("warning: ").count();
    assert!(warned > 0, "{stderr}");
    assert!(
        stdout.contains(&format!("{warned} warning(s) printed on stderr")),
        "{stdout}"
    );
    let md = std::fs::read_to_string(tmp.path().join("cmp.md")).unwrap();
    assert!(md.contains("## Warnings"), "{md}");
    let twice = compare(&bundle, &results.join("run/../run"));
    assert_eq!(twice.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&twice.stderr).contains("are the same bundle"));
}
