//! Hostile cases of issue 7 through the binary: a model that returns NaN and one that fails
//! mid-run are isolated (the other candidates' evidence is kept, exit code 3), and so is one
//! whose file does not match its sha256 pin; a run killed
//! with SIGKILL leaves a bundle `verify` rejects, and a re-run into the same folder restarts
//! cleanly; an ed25519-signed bundle verifies with its public key and not with another, and
//! signed shards are merged only with their signer's key checked.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn harness() -> Command {
    Command::new(env!("CARGO_BIN_EXE_harness"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn e2e_suite() -> String {
    std::fs::read_to_string(root().join("harness/cli/tests/e2e/e2e.toml")).unwrap()
}

fn run_args(suite: &Path, out: &Path) -> Vec<String> {
    let registry = root().join("datasets.toml");
    vec![
        "run".into(),
        suite.display().to_string(),
        "--registry".into(),
        registry.display().to_string(),
        "--no-perf".into(),
        "--out".into(),
        out.display().to_string(),
    ]
}

fn verify(dir: &Path, extra: &[&str]) -> Output {
    harness()
        .arg("verify")
        .arg(dir)
        .arg("--project-root")
        .arg(root())
        .args(extra)
        .output()
        .unwrap()
}

/// The e2e suite with vendor-b's model replaced by `model` (pinned by `sha256`) and its input
/// size set to `size`.
fn suite_with_vendor_b(model: &str, sha256: &str, size: u32) -> String {
    let mut s = e2e_suite();
    let start = s.find("name = \"vendor-b\"").unwrap();
    let end = start + s[start..].find("[[candidates]]").unwrap();
    let block = s[start..end]
        .replace("models/vendor-b.onnx", model)
        .replace(
            "da080853f49170327aa7cd74d5550fcce168fa5a75f25a1ba2fd8c97c2ed066f",
            sha256,
        )
        .replace("size = [64, 64]", &format!("size = [{size}, {size}]"));
    s.replace_range(start..end, &block);
    s
}

fn metrics(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("metrics.json")).unwrap()).unwrap()
}

#[test]
fn a_nan_model_and_a_wrong_shape_model_are_isolated() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        // models/test/nan-output.onnx returns NaN for every 16×16 input.
        (
            "nan",
            suite_with_vendor_b(
                "models/test/nan-output.onnx",
                &sha("models/test/nan-output.onnx"),
                16,
            ),
            "NaN",
        ),
        // The same model fed 64×64 images: it fails at its first batch (mid-run).
        (
            "shape",
            suite_with_vendor_b(
                "models/test/nan-output.onnx",
                &sha("models/test/nan-output.onnx"),
                64,
            ),
            "shape",
        ),
    ];
    for (name, suite_text, why) in cases {
        let suite = tmp.path().join(format!("{name}.toml"));
        std::fs::write(&suite, suite_text).unwrap();
        let out_dir = tmp.path().join(name);
        let out = harness().args(run_args(&suite, &out_dir)).output().unwrap();
        let t = text(&out);
        assert_eq!(out.status.code(), Some(3), "{name}: {t}");
        assert!(
            t.lines()
                .any(|l| l.contains("vendor-b") && l.contains("failed") && l.contains(why)),
            "{name}: {t}"
        );

        // The other candidates' evidence is complete and the bundle verifies.
        let v = verify(&out_dir, &[]);
        assert!(v.status.success(), "{name}: {}", text(&v));
        let m = metrics(&out_dir);
        for kept in ["vendor-a", "vendor-c"] {
            assert!(
                m["models"][kept]["auroc"].as_f64().is_some(),
                "{name}: {kept} lost: {m}"
            );
        }
        assert!(
            m["models"].get("vendor-b").is_none(),
            "{name}: a failed model must not have metrics"
        );
        let manifest = std::fs::read_to_string(out_dir.join("manifest.json")).unwrap();
        assert!(
            manifest.contains("vendor-b") && manifest.contains(why),
            "{name}: the failure is recorded with its reason"
        );
        let report = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
        assert!(
            report.contains("vendor-b") && report.contains(why),
            "{name}: the report names the failure"
        );
    }
}

#[test]
fn a_model_that_does_not_match_its_pin_is_refused_and_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let wrong = "0".repeat(64);
    let suite = tmp.path().join("pin.toml");
    std::fs::write(
        &suite,
        suite_with_vendor_b("models/vendor-b.onnx", &wrong, 64),
    )
    .unwrap();
    let out_dir = tmp.path().join("pin");
    let out = harness().args(run_args(&suite, &out_dir)).output().unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    assert!(
        t.contains("vendor-b") && t.contains("differs from the suite's") && t.contains(&wrong),
        "{t}"
    );
    let m = metrics(&out_dir);
    assert!(m["models"].get("vendor-b").is_none() && m["models"]["vendor-a"]["auroc"].is_number());
    // The bundle is a consistent record of the refusal: it verifies.
    let v = verify(&out_dir, &[]);
    assert!(v.status.success(), "{}", text(&v));
}

fn sha(rel: &str) -> String {
    harness_data::registry::file_sha256(&root().join(rel)).unwrap()
}

#[test]
fn a_killed_run_is_rejected_and_a_rerun_restarts_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = root().join("harness/cli/tests/e2e/e2e.toml");
    let out_dir = tmp.path().join("killed");
    let mut child = harness()
        .args(run_args(&suite, &out_dir))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it (SIGKILL: no cleanup code runs) as soon as the bundle has been started.
    let start = Instant::now();
    while !out_dir.join("INCOMPLETE").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the run never started a bundle"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run was killed");

    let v = verify(&out_dir, &[]);
    assert_eq!(
        v.status.code(),
        Some(1),
        "a killed run must not verify: {}",
        text(&v)
    );
    assert!(text(&v).contains("INCOMPLETE"), "{}", text(&v));

    let rerun = harness().args(run_args(&suite, &out_dir)).output().unwrap();
    assert!(rerun.status.success(), "{}", text(&rerun));
    assert!(!out_dir.join("INCOMPLETE").exists());
    let v = verify(&out_dir, &[]);
    assert!(v.status.success(), "{}", text(&v));
}

#[test]
fn a_signed_bundle_verifies_with_its_key_only() {
    let tmp = tempfile::tempdir().unwrap();
    for who in ["consortium", "someone-else"] {
        let k = harness()
            .arg("keygen")
            .arg("--out")
            .arg(tmp.path().join(who))
            .output()
            .unwrap();
        assert!(k.status.success(), "{}", text(&k));
    }
    let suite = root().join("harness/cli/tests/e2e/e2e.toml");
    let out_dir = tmp.path().join("signed");
    let key = tmp.path().join("consortium.key");
    let mut args = run_args(&suite, &out_dir);
    args.extend(["--sign-key".to_string(), key.display().to_string()]);
    let run = harness().args(&args).output().unwrap();
    assert!(run.status.success(), "{}", text(&run));

    let good = tmp.path().join("consortium.pub");
    let other = tmp.path().join("someone-else.pub");
    let ok = verify(&out_dir, &["--public-key", good.to_str().unwrap()]);
    assert!(ok.status.success(), "{}", text(&ok));
    let bad = verify(&out_dir, &["--public-key", other.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    // A leaderboard given its entrants' keys ranks only bundles signed by one of them.
    let board = |key: &Path| {
        harness()
            .arg("leaderboard")
            .arg(tmp.path())
            .arg("--out")
            .arg(tmp.path().join("board"))
            .arg("--public-key")
            .arg(key)
            .output()
            .unwrap()
    };
    let ranked = board(&good);
    assert!(ranked.status.success(), "{}", text(&ranked));
    let refused = board(&other);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        text(&refused).contains("matches none of the 1 public key(s)"),
        "{}",
        text(&refused)
    );
}

/// Signed shards: `merge` refuses them without the signer's public key (their signatures would
/// go unchecked into a bundle it may sign again), refuses a part changed after signing even
/// when its manifest's hashes were rewritten to match, and merges the untouched parts.
#[test]
fn signed_shards_are_merged_only_with_their_signatures_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let k = harness()
        .arg("keygen")
        .arg("--out")
        .arg(tmp.path().join("site"))
        .output()
        .unwrap();
    assert!(k.status.success(), "{}", text(&k));
    let (key, public) = (tmp.path().join("site.key"), tmp.path().join("site.pub"));
    let suite = root().join("harness/cli/tests/e2e/e2e.toml");
    let part = |i: u32| tmp.path().join(format!("part-{i}"));
    for i in 1..=2 {
        let mut args = run_args(&suite, &part(i));
        args.extend(
            [
                "--shard",
                &format!("{i}/2"),
                "--sign-key",
                &key.display().to_string(),
            ]
            .map(String::from),
        );
        let run = harness().args(&args).output().unwrap();
        assert!(run.status.success(), "{}", text(&run));
    }
    let merge = |parts: &[PathBuf], out: &str, extra: &[&str]| {
        harness()
            .arg("merge")
            .args(parts)
            .arg("--out")
            .arg(tmp.path().join(out))
            .args(extra)
            .output()
            .unwrap()
    };
    let parts = [part(1), part(2)];
    let unchecked = merge(&parts, "m0", &[]);
    assert_eq!(unchecked.status.code(), Some(2), "{}", text(&unchecked));
    assert!(
        text(&unchecked).contains("--public-key"),
        "{}",
        text(&unchecked)
    );
    let checked = merge(&parts, "m1", &["--public-key", public.to_str().unwrap()]);
    assert!(checked.status.success(), "{}", text(&checked));
    // The merged bundle keeps each shard's signature beside its manifest copy. A merge signed
    // by the coordinator's own key verifies with that key alone (the shards' signatures are
    // said to be by a key not given), and with the shards' key too checks theirs.
    let coordinator = tmp.path().join("coordinator");
    let k = harness()
        .arg("keygen")
        .arg("--out")
        .arg(&coordinator)
        .output()
        .unwrap();
    assert!(k.status.success(), "{}", text(&k));
    let signed = merge(
        &parts,
        "m2",
        &[
            "--public-key",
            public.to_str().unwrap(),
            "--sign-key",
            tmp.path().join("coordinator.key").to_str().unwrap(),
        ],
    );
    assert!(signed.status.success(), "{}", text(&signed));
    let m2 = tmp.path().join("m2");
    assert!(m2.join("shards/part-2/manifest.sig").is_file());
    let verify = |keys: &[&Path]| {
        let mut cmd = harness();
        cmd.arg("verify").arg(&m2);
        for k in keys {
            cmd.arg("--public-key").arg(k);
        }
        cmd.output().unwrap()
    };
    let coordinator_pub = tmp.path().join("coordinator.pub");
    let v = verify(&[&coordinator_pub]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    assert_eq!(
        text(&v).matches("by none of the public keys given").count(),
        2,
        "{}",
        text(&v)
    );
    let v = verify(&[&coordinator_pub, &public]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    assert_eq!(
        text(&v).matches("its shard's signature matches").count(),
        2,
        "{}",
        text(&v)
    );
    // The shards' key alone: the merge itself is not signed by it.
    let v = verify(&[&public]);
    assert_eq!(v.status.code(), Some(1), "{}", text(&v));
    // Merged into one of its own parts, the merge would replace that part: refused.
    let onto = merge(
        &parts,
        "part-2",
        &["--public-key", public.to_str().unwrap()],
    );
    assert_eq!(onto.status.code(), Some(2), "{}", text(&onto));
    assert!(text(&onto).contains("is the part"), "{}", text(&onto));
    // Merged into a folder inside a part, the part would hold files its manifest does not
    // list, and no longer verify: refused too.
    let inside = merge(
        &parts,
        "part-1/merged",
        &["--public-key", public.to_str().unwrap()],
    );
    assert_eq!(inside.status.code(), Some(2), "{}", text(&inside));
    assert!(
        text(&inside).contains("is inside the part"),
        "{}",
        text(&inside)
    );
    assert!(!part(1).join("merged").exists());
    assert!(
        part(2).join("shard.json").is_file(),
        "the part is untouched"
    );

    // A score changed in part 2, and its sha256 rewritten in the manifest: every file matches
    // the manifest, but the signature no longer matches the manifest.
    let forged = tmp.path().join("forged");
    let cp = Command::new("cp")
        .arg("-r")
        .arg(part(2))
        .arg(&forged)
        .status()
        .unwrap();
    assert!(cp.success());
    let preds = forged.join("predictions.csv");
    let text_before = std::fs::read_to_string(&preds).unwrap();
    let mut lines: Vec<String> = text_before.lines().map(String::from).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let col = header.iter().position(|c| *c == "vendor-a").unwrap();
    let mut cells: Vec<String> = lines[1].split(',').map(String::from).collect();
    cells[col] = if cells[col] == "0.5" {
        "0.25".into()
    } else {
        "0.5".into()
    };
    lines[1] = cells.join(",");
    std::fs::write(&preds, lines.join("\n") + "\n").unwrap();
    let manifest = forged.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    use sha2::Digest;
    let hex: String = sha2::Sha256::digest(std::fs::read(&preds).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    m["files"]["predictions.csv"] = serde_json::Value::String(hex);
    std::fs::write(&manifest, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let out = merge(
        &[part(1), forged],
        "m2",
        &["--public-key", public.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("manifest.sig"), "{}", text(&out));
}
