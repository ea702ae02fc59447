//! The pipeline as a library, on a small project built in a temporary folder from the shipped
//! synthetic images and models: stage order through the observer, case order under parallel
//! decoding, fixed-batch and dynamic-batch models, hash-while-decoding, the GPU fallback and
//! the agreement sample.

use harness_backends::{BackendKind, LoadOptions, Preprocess, interpret};
use harness_pipeline::recheck::{CasesCheck, check_cases};
use harness_pipeline::{Observer, RunOptions, Stage, agreement_sample, plan, run_suite};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn sha256(path: &Path) -> String {
    harness_data::registry::file_sha256(path).unwrap()
}

/// A project with the first `n` synthetic-lesion cases, the given models (file names under
/// `models/`), and a suite whose candidates are `candidates` (name, model file, preprocess TOML,
/// output TOML, backends) plus `inference` lines.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(n: usize, candidates: &[(&str, &str, &str, &str, &str)], inference: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        let data = p.join("data/lesions");
        std::fs::create_dir_all(data.join("images")).unwrap();
        let src = root().join("data/synthetic-lesions");
        let labels = std::fs::read_to_string(src.join("labels.csv")).unwrap();
        let mut out = String::new();
        for (i, line) in labels.lines().enumerate().take(n + 1) {
            out.push_str(line);
            out.push('\n');
            if i > 0 {
                let img = line.split(',').nth(1).unwrap();
                std::fs::copy(src.join(img), data.join(img)).unwrap();
            }
        }
        std::fs::write(data.join("labels.csv"), out).unwrap();
        let digest = harness_data::registry::folder_sha256(&data).unwrap();
        std::fs::write(
            p.join("datasets.toml"),
            format!(
                "[datasets.lesions]\ntitle = \"test subset\"\nformat = \"image-folder\"\npath = \"data/lesions\"\nlabels = \"labels.csv\"\n\
                 id_column = \"case_id\"\nimage_column = \"image\"\nlabel = \"label\"\npositive_class = \"1\"\nlabel_meaning = \"1 = lesion\"\n\
                 subgroups = [\"sex\", \"site\"]\nsha256 = \"{digest}\"\nsynthetic = true\nlicence = \"CC0-1.0\"\nprovenance = \"test\"\n"
            ),
        )
        .unwrap();
        std::fs::create_dir_all(p.join("models")).unwrap();
        let mut suite = format!(
            "name = \"t\"\nversion = \"1\"\ndataset = \"lesions\"\n[inference]\n{inference}\n[metrics]\nbootstrap = 0\nseed = 7\n\
             [performance]\nskip = true\n"
        );
        for (name, file, pre, output, backends) in candidates {
            let from = ["models", "models/realistic", "models/test"]
                .iter()
                .map(|d| root().join(d).join(file))
                .find(|f| f.is_file())
                .unwrap();
            let to = p.join("models").join(file);
            std::fs::copy(&from, &to).unwrap();
            suite.push_str(&format!(
                "[[candidates]]\nname = \"{name}\"\nmodel = \"models/{file}\"\nsha256 = \"{}\"\nbackends = [{backends}]\npreprocess = {pre}\noutput = {output}\n",
                sha256(&to)
            ));
        }
        std::fs::write(p.join("suite.toml"), suite).unwrap();
        Project { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn options(&self) -> RunOptions {
        RunOptions {
            suite: self.path().join("suite.toml"),
            out: Some(self.path().join("out")),
            no_perf: true,
            threads: Some(1),
            ..RunOptions::default()
        }
    }
}

const GREY64: &str = "{ size = [64, 64], channels = 1, channel_order = \"gray\", scale = 0.00392156862745098, mean = [0.5], std = [0.25], layout = \"nchw\" }";
const PROB: &str = "{ kind = \"probability\", positive_index = 0 }";
const LOGIT: &str = "{ kind = \"logit\", positive_index = 0 }";

/// Records every call.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
    cases: Mutex<u64>,
}

impl Observer for Recorder {
    fn stage_started(&self, stage: Stage, _: &str) {
        self.events.lock().unwrap().push(format!("start {stage}"));
    }
    fn stage_finished(&self, stage: Stage) {
        self.events.lock().unwrap().push(format!("end {stage}"));
    }
    fn inference_started(&self, cases: u64, models: usize) {
        self.events
            .lock()
            .unwrap()
            .push(format!("infer {cases} cases {models} models"));
    }
    fn cases_done(&self, n: u64) {
        *self.cases.lock().unwrap() += n;
    }
    fn warning(&self, message: &str) {
        self.events
            .lock()
            .unwrap()
            .push(format!("warning {message}"));
    }
    fn info(&self, message: &str) {
        self.events.lock().unwrap().push(format!("info {message}"));
    }
}

fn predictions(dir: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(dir.join("predictions.csv"))
        .unwrap()
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// Each case's probability computed directly, one image at a time, in file order.
fn one_by_one(project: &Path, model: &str, pre: &str, output: &str, n: usize) -> Vec<f64> {
    let pre: Preprocess = toml::from_str::<toml::Table>(&format!("p = {pre}")).unwrap()["p"]
        .clone()
        .try_into()
        .unwrap();
    let output: harness_backends::OutputSpec =
        toml::from_str::<toml::Table>(&format!("o = {output}")).unwrap()["o"]
            .clone()
            .try_into()
            .unwrap();
    let mut m = BackendKind::Tract
        .backend()
        .load(
            &project.join("models").join(model),
            &LoadOptions {
                output: output.name.clone(),
                input_shape: Some(pre.case_shape()),
                ..LoadOptions::default()
            },
        )
        .unwrap();
    let labels = std::fs::read_to_string(project.join("data/lesions/labels.csv")).unwrap();
    labels
        .lines()
        .skip(1)
        .take(n)
        .map(|l| {
            let img = harness_data::read_image(
                &project
                    .join("data/lesions")
                    .join(l.split(',').nth(1).unwrap()),
                &Default::default(),
            )
            .unwrap();
            let batch = harness_backends::to_tensor(&pre, &[img]).unwrap();
            interpret(&output, &m.run(&batch).unwrap()).unwrap()[0]
        })
        .collect()
}

#[test]
fn stages_run_in_order_and_predictions_keep_case_order_under_parallel_decoding() {
    let n = 150;
    let project = Project::new(
        n,
        &[
            ("a", "vendor-a.onnx", GREY64, PROB, "\"tract\""),
            ("fixed", "fixed-batch1.onnx", GREY64, PROB, "\"tract\""),
            ("gap", "gap-rewrite.onnx", GREY64, LOGIT, "\"tract\""),
        ],
        "batch_size = 16",
    );
    let rec = Recorder::default();
    // Many decode threads (more than cases per batch) so that decode order is scrambled.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(8)
        .build()
        .unwrap();
    let outcome = pool
        .install(|| run_suite(&project.options(), &rec))
        .unwrap();
    assert!(!outcome.any_failed(), "{:?}", outcome.candidates);
    let events = rec.events.lock().unwrap().clone();
    let stages: Vec<&String> = events
        .iter()
        .filter(|e| e.starts_with("start") || e.starts_with("end"))
        .collect();
    let want: Vec<String> = Stage::ALL
        .iter()
        .flat_map(|s| [format!("start {s}"), format!("end {s}")])
        .collect();
    assert_eq!(stages.into_iter().cloned().collect::<Vec<_>>(), want);
    assert!(
        events.contains(&format!("infer {n} cases 3 models")),
        "{events:?}"
    );
    assert_eq!(*rec.cases.lock().unwrap(), n as u64);

    let rows = predictions(&outcome.out_dir);
    assert_eq!(rows.len(), n + 1);
    assert_eq!(
        rows[0],
        ["case_id", "label", "sex", "site", "a", "fixed", "gap"]
    );
    for (k, (model, pre, out)) in [
        ("vendor-a.onnx", GREY64, PROB),
        ("fixed-batch1.onnx", GREY64, PROB),
        ("gap-rewrite.onnx", GREY64, LOGIT),
    ]
    .iter()
    .enumerate()
    {
        let want = one_by_one(project.path(), model, pre, out, n);
        for (i, w) in want.iter().enumerate() {
            let got: f64 = rows[i + 1][4 + k].parse().unwrap();
            assert!((got - w).abs() <= 1e-6, "{model} case {i}: {got} vs {w}");
            assert_eq!(rows[i + 1][0], format!("c{:04}", i + 1));
        }
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outcome.out_dir.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["inference"]["engine"], "tract");
    assert_eq!(manifest["inference"]["device"], "cpu");
    assert!(!outcome.out_dir.join("INCOMPLETE").exists());
}

#[test]
fn a_file_changed_after_the_dataset_was_verified_stops_the_run_naming_it() {
    let project = Project::new(
        40,
        &[("a", "vendor-a.onnx", GREY64, PROB, "\"tract\"")],
        "batch_size = 8",
    );
    let options = project.options();
    let planned = plan(&options, &harness_pipeline::Silent).unwrap();
    // After the registry check, before inference: one image changes on disk.
    let victim = project.path().join("data/lesions/images/c0031.png");
    let other = project.path().join("data/lesions/images/c0002.png");
    std::fs::copy(&other, &victim).unwrap();
    let err = harness_pipeline::infer(&planned, &options, &harness_pipeline::Silent).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, harness_pipeline::PipelineError::DataChanged { .. }),
        "{msg}"
    );
    assert!(
        msg.contains("c0031.png") && msg.contains("changed after the dataset was verified"),
        "{msg}"
    );
    // And before the run starts, the registry check refuses the changed folder outright.
    let err = run_suite(&options, &harness_pipeline::Silent).unwrap_err();
    assert!(
        matches!(err, harness_pipeline::PipelineError::DatasetRefused { .. }),
        "{err}"
    );
}

/// The information lines of a run.
#[derive(Default)]
struct Infos(Mutex<Vec<String>>);

impl Observer for Infos {
    fn info(&self, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
}

/// With remembered hashes, a second check does not read the files whose stamps are unchanged
/// (and says so); a file changed after that check is still caught as it is decoded, and a run
/// started after the change refuses the folder (its new stamp makes the check read it again).
#[cfg(unix)]
#[test]
fn remembered_hashes_spare_the_second_read_and_still_catch_a_changed_file() {
    let project = Project::new(
        12,
        &[("a", "vendor-a.onnx", GREY64, PROB, "\"tract\"")],
        "batch_size = 4",
    );
    let options = RunOptions {
        remember_hashes: true,
        ..project.options()
    };
    // Files younger than the racy window are hashed but not remembered.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let reuse_line = |infos: &Infos| {
        let lines = infos.0.lock().unwrap();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("dataset lesions: present, verified"))
        );
        lines
            .iter()
            .find(|l| l.contains("not read for the check"))
            .cloned()
    };
    let first = Infos::default();
    let check = plan(&options, &first).unwrap().dataset_check;
    assert_eq!((check.files, check.reused), (13, 0));
    assert_eq!(reuse_line(&first), None);
    assert!(project.path().join(".harness-cache").is_dir());
    let second = Infos::default();
    let planned = plan(&options, &second).unwrap();
    let line = reuse_line(&second).unwrap();
    assert!(line.starts_with("13 of 13 files not read"), "{line}");
    assert_eq!(
        (planned.dataset_check.files, planned.dataset_check.reused),
        (13, 13)
    );
    // The bundle says how its check went.
    let outcome = run_suite(&options, &harness_pipeline::Silent).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outcome.out_dir.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(
        manifest["dataset"]["check"],
        serde_json::json!({"files": 13, "hashes_from_cache": 13})
    );
    // Without the option every file is read again.
    let full = Infos::default();
    plan(&project.options(), &full).unwrap();
    assert_eq!(reuse_line(&full), None);

    let victim = project.path().join("data/lesions/images/c0007.png");
    std::fs::copy(
        project.path().join("data/lesions/images/c0002.png"),
        &victim,
    )
    .unwrap();
    let err = harness_pipeline::infer(&planned, &options, &harness_pipeline::Silent).unwrap_err();
    assert!(
        matches!(err, harness_pipeline::PipelineError::DataChanged { .. }),
        "{err}"
    );
    let err = run_suite(&options, &harness_pipeline::Silent).unwrap_err();
    assert!(
        matches!(err, harness_pipeline::PipelineError::DatasetRefused { .. }),
        "{err}"
    );

    // A change the stamps do not show (made below the file system, or the cache edited): the
    // victim is remembered with its new stamp and its old hash. The check then passes (the
    // digest is the pinned one), and the run is stopped when the file is decoded.
    use std::os::unix::fs::MetadataExt;
    let old_hash = sha256(&root().join("data/synthetic-lesions/images/c0007.png"));
    let m = std::fs::metadata(&victim).unwrap();
    let stamp = format!(
        "{}\t{}\t{}\t{}\t{}",
        m.len(),
        i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
        m.ino(),
        m.dev()
    );
    let cache = std::fs::read_dir(project.path().join(".harness-cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "tsv"))
        .unwrap();
    let text = std::fs::read_to_string(&cache).unwrap();
    // (Just rewritten, the victim was hashed but not remembered: its times are racy.)
    let mut forged: String = text
        .lines()
        .filter(|line| !line.ends_with("\timages/c0007.png"))
        .map(|line| format!("{line}\n"))
        .collect();
    forged.push_str(&format!("{old_hash}\t{stamp}\timages/c0007.png\n"));
    std::fs::write(&cache, forged).unwrap();
    let err = run_suite(&options, &harness_pipeline::Silent).unwrap_err();
    assert!(
        matches!(err, harness_pipeline::PipelineError::DataChanged { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("c0007.png"), "{err}");
}

#[test]
fn a_gpu_accuracy_pass_without_cuda_falls_back_to_the_cpu_and_says_why() {
    let project = Project::new(
        24,
        &[("a", "vendor-a.onnx", GREY64, PROB, "\"tract\"")],
        "batch_size = 8\ndevice = \"gpu\"",
    );
    let rec = Recorder::default();
    let outcome = run_suite(&project.options(), &rec).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outcome.out_dir.join("manifest.json")).unwrap())
            .unwrap();
    let inf = &manifest["inference"];
    assert_eq!(inf["requested_device"], "gpu");
    if inf["device"] == "cuda" {
        // A machine with a CUDA build of ONNX Runtime: the GPU predictions were evaluated.
        assert_eq!(inf["engine"], "ort");
        return;
    }
    assert_eq!(inf["device"], "cpu");
    assert_eq!(inf["engine"], "tract");
    let reason = inf["fallback_reason"].as_str().unwrap();
    assert!(!reason.is_empty());
    assert!(
        !outcome.any_failed() && outcome.gate_passed(),
        "a fallback is not a failure"
    );
    let events = rec.events.lock().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("warning") && e.contains("GPU accuracy pass")),
        "{events:?}"
    );
    let report = std::fs::read_to_string(outcome.out_dir.join("summary.md")).unwrap();
    assert!(
        report.contains("because the GPU pass the suite asked for was not possible"),
        "the report says so"
    );
}

#[test]
fn secondary_engines_run_on_the_seeded_sample_only() {
    let project = Project::new(
        60,
        &[("a", "vendor-a.onnx", GREY64, PROB, "\"tract\", \"candle\"")],
        "batch_size = 8\nagreement_cases = 10",
    );
    let outcome = run_suite(&project.options(), &harness_pipeline::Silent).unwrap();
    assert!(!outcome.any_failed(), "{:?}", outcome.candidates);
    let agreement: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outcome.out_dir.join("agreement.json")).unwrap())
            .unwrap();
    assert_eq!(agreement["cases_checked"], 10);
    assert_eq!(agreement["cases_total"], 60);
    let pair = &agreement["candidates"][0]["pairs"][0];
    assert_eq!(pair["n"], 10);
    assert!(pair["max_abs_diff"].as_f64().unwrap() < 1e-4);
    let html = std::fs::read_to_string(outcome.out_dir.join("report.html")).unwrap();
    assert!(
        html.contains("cross-checked on 10 of the 60 cases"),
        "the report says how many cases were cross-checked"
    );
}

#[test]
fn the_agreement_sample_is_seeded_sorted_and_uniform() {
    let s = agreement_sample(1000, 100, 42);
    assert_eq!(s.len(), 100);
    assert!(s.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(s, agreement_sample(1000, 100, 42));
    assert_ne!(s, agreement_sample(1000, 100, 43));
    assert_eq!(agreement_sample(5, 10, 1), vec![0, 1, 2, 3, 4]);
    assert!(agreement_sample(10, 0, 1).is_empty());
    // Each index is picked with probability k/n: over many seeds the first and last tenth
    // are hit about equally often (binomial, n = 20,000 draws each, 6 sigma bounds).
    let (mut low, mut high) = (0u32, 0u32);
    for seed in 0..2000 {
        for i in agreement_sample(100, 10, seed) {
            low += u32::from(i < 10);
            high += u32::from(i >= 90);
        }
    }
    for count in [low, high] {
        assert!((1700..=2300).contains(&count), "{low} {high}");
    }
}

#[test]
fn a_candidate_named_like_a_subgroup_is_refused_before_any_inference() {
    let project = Project::new(
        10,
        &[("site", "vendor-a.onnx", GREY64, PROB, "\"tract\"")],
        "batch_size = 8",
    );
    let err = run_suite(&project.options(), &harness_pipeline::Silent).unwrap_err();
    assert!(
        err.to_string()
            .contains("candidate 'site' has the name of a subgroup or patient column"),
        "{err}"
    );
    assert!(!project.path().join("out").exists(), "nothing was started");
}

/// A gate criterion the evaluation can never give is a mistake in the command, refused before
/// any inference (an hour of a hospital's images is not spent on a typo), not a gate FAIL after.
#[test]
fn a_criterion_the_evaluation_cannot_give_is_refused_before_any_inference() {
    use harness_evidence::gate::{Direction, TaskCriterion};
    let project = Project::new(
        10,
        &[("a", "vendor-a.onnx", GREY64, PROB, "\"tract\"")],
        "batch_size = 8",
    );
    for (key, why) in [
        (
            "auroc_gap.age",
            "auroc_gap.age: 'age' is not a grouping column",
        ),
        (
            "sens_at_spec_0.95",
            "0.95 is not among the target specificities",
        ),
        (
            "auroc_ci_lower_clustered",
            "auroc_ci_lower_clustered: it needs the patient (cluster) column",
        ),
    ] {
        let mut options = project.options();
        options.extra_criteria = vec![TaskCriterion {
            key: key.into(),
            direction: Direction::Under,
            limit: 0.1,
        }];
        let err = run_suite(&options, &harness_pipeline::Silent)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the command line: ") && err.contains(why),
            "{err}"
        );
        assert!(!project.path().join("out").exists(), "nothing was started");
    }
    // A federated site's or a shard's run applies no gate (the coordinator's pool, or the
    // merge, does): the suite's [acceptance] is not refused there over a criterion the site
    // never evaluates, but criteria given on the command line would be dropped without a word,
    // so they are refused.
    let suite = std::fs::read_to_string(project.path().join("suite.toml")).unwrap();
    std::fs::write(
        project.path().join("suite.toml"),
        format!("{suite}[acceptance]\nfail_over = {{ \"auroc_gap.age\" = 0.1 }}\n"),
    )
    .unwrap();
    let mut options = project.options();
    options.site = Some("s1".into());
    options.min_level_cases = Some(1);
    let site = run_suite(&options, &harness_pipeline::Silent);
    assert!(site.is_ok(), "{:?}", site.err());
    std::fs::remove_dir_all(project.path().join("out")).unwrap();
    std::fs::write(project.path().join("suite.toml"), &suite).unwrap();
    let gate = vec![TaskCriterion {
        key: "auroc".into(),
        direction: Direction::Under,
        limit: 0.99,
    }];
    // Options that contradict each other are refused before the dataset is even read.
    for (site, shard, criteria, why) in [
        (
            Some("s1"),
            None,
            &gate,
            "applies no gate (it computes no metrics): give --fail-under/--fail-over to `harness pool`",
        ),
        (
            None,
            Some("1/2"),
            &gate,
            "applies no gate (it computes no metrics): give --fail-under/--fail-over to `harness merge`",
        ),
        (
            Some("s1"),
            Some("1/2"),
            &vec![],
            "a federated site's run is not sharded",
        ),
        (Some(" "), None, &vec![], "a site needs a name"),
    ] {
        let mut options = project.options();
        options.site = site.map(String::from);
        options.shard = shard.map(|s| harness_evidence::shard::Shard::parse(s, |_| None).unwrap());
        options.extra_criteria = criteria.clone();
        let infos = Infos::default();
        let err = run_suite(&options, &infos).unwrap_err().to_string();
        assert!(err.contains(why), "{err}");
        let infos = infos.0.into_inner().unwrap();
        assert!(
            !infos.iter().any(|i| i.starts_with("verifying dataset")),
            "refused only after the dataset's check: {infos:?}"
        );
        assert!(!project.path().join("out").exists(), "nothing was started");
    }
    // A subgroup the dataset declares is a grouping column.
    let mut options = project.options();
    options.extra_criteria = vec![TaskCriterion {
        key: "auroc_gap.sex".into(),
        direction: Direction::Over,
        limit: 1.0,
    }];
    assert!(run_suite(&options, &harness_pipeline::Silent).is_ok());
}

/// A MedMNIST archive whose labels have several columns (a multi-label task) is refused with a
/// clear error before any inference, instead of silently using column 0; a one-column archive
/// runs, its images converted one at a time from the stored uint8 array.
#[test]
fn medmnist_labels_with_several_columns_are_refused_and_one_column_runs() {
    use ndarray_npy::NpzWriter;
    for columns in [2usize, 1] {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path();
        let n = 12;
        let images = ndarray::Array3::<u8>::from_shape_fn((n, 28, 28), |(i, y, x)| {
            ((i * 7 + y * 3 + x) % 256) as u8
        });
        let labels =
            ndarray::Array2::<u8>::from_shape_fn((n, columns), |(i, k)| ((i + k) % 2) as u8);
        let mut npz = NpzWriter::new(std::fs::File::create(p.join("m.npz")).unwrap());
        npz.add_array("test_images", &images).unwrap();
        npz.add_array("test_labels", &labels).unwrap();
        npz.finish().unwrap();
        let sha = sha256(&p.join("m.npz"));
        std::fs::write(
            p.join("datasets.toml"),
            format!(
                "[datasets.m]\ntitle = \"t\"\nformat = \"medmnist-npz\"\npath = \"m.npz\"\nsplit = \"test\"\nlabel = \"label\"\n\
                 positive_class = \"1\"\nlabel_meaning = \"1\"\nsha256 = \"{sha}\"\nsynthetic = true\nlicence = \"x\"\nprovenance = \"x\"\n"
            ),
        )
        .unwrap();
        std::fs::create_dir_all(p.join("models")).unwrap();
        std::fs::copy(
            root().join("models/vendor-a.onnx"),
            p.join("models/vendor-a.onnx"),
        )
        .unwrap();
        std::fs::write(
            p.join("suite.toml"),
            format!(
                "name = \"t\"\nversion = \"1\"\ndataset = \"m\"\n[metrics]\nbootstrap = 0\nsubgroups = []\n[performance]\nskip = true\n\
                 [[candidates]]\nname = \"a\"\nmodel = \"models/vendor-a.onnx\"\nsha256 = \"{}\"\npreprocess = {GREY64}\noutput = {PROB}\n",
                sha256(&p.join("models/vendor-a.onnx"))
            ),
        )
        .unwrap();
        let options = RunOptions {
            suite: p.join("suite.toml"),
            out: Some(p.join("out")),
            no_perf: true,
            threads: Some(1),
            ..RunOptions::default()
        };
        let result = run_suite(&options, &harness_pipeline::Silent);
        if columns == 2 {
            let err = result.unwrap_err().to_string();
            assert!(
                err.contains("'test_labels' has 2 columns per case"),
                "{err}"
            );
            assert!(!p.join("out").exists(), "refused before any work");
        } else {
            let outcome = result.unwrap_or_else(|e| panic!("{e}"));
            assert!(!outcome.any_failed());
            let rows = predictions(&outcome.out_dir);
            assert_eq!(rows.len(), n + 1);
            assert_eq!(rows[1][0], "test-00000");
        }
    }
}

/// `agreement_tolerance` decides the outcome: engines that differ by more than it are failed
/// (exit 3 in the CLI), with the difference as the reason.
#[test]
fn an_engine_beyond_the_agreement_tolerance_is_recorded_as_failed() {
    let project = Project::new(
        20,
        &[("a", "vendor-a.onnx", GREY64, PROB, "\"tract\", \"candle\"")],
        "batch_size = 8\nagreement_tolerance = 1e-12",
    );
    let outcome = run_suite(&project.options(), &harness_pipeline::Silent).unwrap();
    assert!(outcome.any_failed());
    let candle = outcome.candidates[0]
        .backends
        .iter()
        .find(|b| b.backend == "candle")
        .unwrap();
    assert!(candle.outcome.is_failed(), "{:?}", candle.outcome);
    let reason = candle.outcome.reason().unwrap();
    assert!(
        reason.contains("disagrees with tract")
            && reason.contains("exceeds agreement_tolerance 1e-12"),
        "{reason}"
    );
    // The evaluated predictions are unaffected.
    assert!(outcome.candidates[0].outcome.is_ok());
    assert_eq!(predictions(&outcome.out_dir).len(), 21);
}

/// An image copied under a second case id (the same file contents) is warned of, naming the
/// two cases and their labels.
#[test]
fn the_same_image_under_two_case_ids_is_warned_of() {
    let project = Project::new(
        10,
        &[("a", "vendor-a.onnx", GREY64, PROB, "\"tract\"")],
        "batch_size = 8",
    );
    let p = project.path();
    let run = || {
        let rec = Recorder::default();
        run_suite(&project.options(), &rec).unwrap();
        std::fs::remove_dir_all(p.join("out")).unwrap();
        rec.events.into_inner().unwrap()
    };
    let same = |events: &[String]| {
        events
            .iter()
            .find(|e| e.contains("have the same image as an earlier case"))
            .cloned()
    };
    assert_eq!(same(&run()), None);
    let data = p.join("data/lesions");
    let labels = std::fs::read_to_string(data.join("labels.csv")).unwrap();
    let rows: Vec<Vec<&str>> = labels
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    std::fs::copy(data.join(rows[0][1]), data.join(rows[3][1])).unwrap();
    repin(p);
    let warning = same(&run()).expect("warned");
    assert!(
        warning.contains(&format!(
            "1 case(s) have the same image as an earlier case, first '{}' (label {}) and '{}' (label {})",
            rows[0][0], rows[0][2], rows[3][0], rows[3][2]
        )),
        "{warning}"
    );
}

/// A bundle is never written into the pinned dataset's folder (it would change the data its
/// pin covers, and every later run would refuse the dataset), and nothing is started.
#[test]
fn an_out_folder_inside_the_dataset_is_refused() {
    let project = Project::new(
        10,
        &[("a", "vendor-a.onnx", GREY64, PROB, "\"tract\"")],
        "batch_size = 8",
    );
    let mut options = project.options();
    let inside = project.path().join("data/lesions/bundle");
    options.out = Some(inside.clone());
    let err = run_suite(&options, &harness_pipeline::Silent)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("inside the folder of dataset 'lesions'"),
        "{err}"
    );
    assert!(!inside.exists());
    assert!(run_suite(&project.options(), &harness_pipeline::Silent).is_ok());
}

/// A run whose every candidate failed is still evidence (of the failures): its bundle
/// verifies, with no metrics to recompute and, under a gate, no verdict and a gate not passed.
#[test]
fn a_bundle_of_failed_candidates_verifies() {
    const GREY16: &str = "{ size = [16, 16], channels = 1, channel_order = \"gray\", scale = 0.00392156862745098, mean = [0.0], std = [1.0], layout = \"nchw\" }";
    let project = Project::new(
        10,
        &[("n", "nan-output.onnx", GREY16, PROB, "\"tract\"")],
        "batch_size = 8",
    );
    let mut options = project.options();
    options.extra_criteria = vec![harness_evidence::gate::TaskCriterion {
        key: "auroc".into(),
        direction: harness_evidence::gate::Direction::Under,
        limit: 0.5,
    }];
    let outcome = run_suite(&options, &harness_pipeline::Silent).unwrap();
    assert!(outcome.candidates[0].outcome.is_failed());
    let dir = &outcome.out_dir;
    assert!(!dir.join("metrics.json").exists());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["acceptance"]["passed"], false, "{manifest}");
    let v = harness_evidence::verify(dir, &Default::default());
    assert!(v.passed(), "{v:?}");
    let skipped = v
        .findings
        .iter()
        .find(|f| f.item == "metrics recomputation")
        .unwrap();
    assert_eq!(skipped.verdict(), "not checked");
    assert!(skipped.detail.contains("every candidate failed"));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains("Not passed: no candidate was evaluated, so none met the acceptance criteria (auroc ≥ 0.5)."),
        "the report says the gate was not passed"
    );
}

/// Measurements that could not be taken are said on the run's output, not only written in
/// performance.json: a GPU profile on an engine that runs on the CPU only.
#[test]
fn unmeasured_performance_is_warned_of() {
    let project = Project::new(
        10,
        &[("a", "vendor-a.onnx", GREY64, PROB, "\"tract\"")],
        "batch_size = 8",
    );
    let suite = project.path().join("suite.toml");
    let text = std::fs::read_to_string(&suite).unwrap().replace(
        "[performance]\nskip = true\n",
        "[performance]\nprofiles = [\"gpu\"]\n",
    );
    std::fs::write(&suite, text).unwrap();
    let mut options = project.options();
    options.no_perf = false;
    let rec = Recorder::default();
    run_suite(&options, &rec).unwrap();
    let events = rec.events.lock().unwrap().clone();
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("warning performance of a on tract, profile gpu: unavailable (")),
        "{events:?}"
    );
}

/// The dataset's patient column named as a subgroup is refused before the dataset's check
/// and the inference, naming the suite.
#[test]
fn the_patient_column_is_not_a_subgroup() {
    let project = Project::new(
        10,
        &[("a", "vendor-a.onnx", GREY64, PROB, "\"tract\"")],
        "batch_size = 8",
    );
    add_patient_column(project.path(), |i| format!("p{}", i / 2));
    let suite = project.path().join("suite.toml");
    let text = std::fs::read_to_string(&suite).unwrap().replace(
        "[metrics]\n",
        "[metrics]\nsubgroups = [\"sex\", \"patient\"]\n",
    );
    std::fs::write(&suite, text).unwrap();
    let infos = Infos::default();
    let err = run_suite(&project.options(), &infos)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "suite.toml: [metrics] subgroups names 'patient', dataset 'lesions''s patient column"
        ),
        "{err}"
    );
    let infos = infos.0.into_inner().unwrap();
    assert!(
        !infos.iter().any(|i| i.starts_with("verifying dataset")),
        "{infos:?}"
    );
}

/// The gate's verdicts travel with the evidence: the manifest records the suite's and the
/// command line's criteria and every verdict, the report opens with them, and `verify`
/// recomputes them, so a verdict edited to "passed" is found.
#[test]
fn the_gate_verdicts_are_recorded_shown_and_verified() {
    use harness_evidence::gate::{Direction, TaskCriterion};
    let project = Project::new(
        40,
        &[("a", "vendor-a.onnx", GREY64, PROB, "\"tract\"")],
        "batch_size = 8",
    );
    let suite = project.path().join("suite.toml");
    let mut text = std::fs::read_to_string(&suite).unwrap();
    text.push_str("[acceptance]\nfail_under = { auroc = 0.0 }\n");
    std::fs::write(&suite, text).unwrap();
    let mut options = project.options();
    options.extra_criteria = vec![TaskCriterion {
        key: "brier".into(),
        direction: Direction::Over,
        limit: 0.0,
    }];
    let outcome = run_suite(&options, &harness_pipeline::Silent).unwrap();
    assert!(!outcome.gate_passed());
    let dir = &outcome.out_dir;
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let acceptance = &manifest["acceptance"];
    assert_eq!(acceptance["criteria"]["suite"][0]["key"], "auroc");
    assert_eq!(acceptance["criteria"]["command_line"][0]["key"], "brier");
    assert_eq!(acceptance["passed"], false);
    let results = acceptance["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(
        (
            results[0]["passed"].as_bool(),
            results[1]["passed"].as_bool()
        ),
        (Some(true), Some(false))
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let section = html
        .find("<h2 id=\"acceptance\">")
        .expect("an acceptance section");
    assert!(
        section < html.find("<h2 id=\"summary\">").unwrap(),
        "it comes first"
    );
    assert!(html.contains("FAILED: 1 of 2 verdicts failed: a: brier = "));
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(
        md.contains("| a | brier ≤ 0 |") && md.contains("| FAIL |"),
        "{md}"
    );
    let v = harness_evidence::verify(dir, &Default::default());
    assert!(v.passed(), "{v:?}");
    // A verdict edited to "passed" (the manifest unsigned) is found by recomputing it.
    let edited = serde_json::to_string(&manifest)
        .unwrap()
        .replace("\"passed\":false", "\"passed\":true");
    std::fs::write(dir.join("manifest.json"), edited).unwrap();
    let v = harness_evidence::verify(dir, &Default::default());
    let failed: Vec<&str> = v
        .findings
        .iter()
        .filter(|f| f.verdict() == "FAILED")
        .map(|f| f.item.as_str())
        .collect();
    assert_eq!(failed, ["acceptance verdicts"], "{v:?}");
    // So is the suite's criterion dropped with its verdict (the gate then "passes" on the
    // command line's alone): the bundle's suite.toml still has it.
    let mut dropped = manifest.clone();
    dropped["acceptance"]["criteria"]["suite"] = serde_json::json!([]);
    let results = dropped["acceptance"]["results"].as_array_mut().unwrap();
    results.retain(|r| r["metric"] != "auroc");
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&dropped).unwrap(),
    )
    .unwrap();
    let v = harness_evidence::verify(dir, &Default::default());
    let finding = v
        .findings
        .iter()
        .find(|f| f.item == "acceptance verdicts")
        .unwrap();
    assert_eq!(finding.verdict(), "FAILED", "{v:?}");
    assert!(
        finding
            .detail
            .contains("the bundle's suite.toml has [\"auroc ≥ 0\"]"),
        "{}",
        finding.detail
    );
}

/// A model that declares its predicted label first (as scikit-learn's exporter orders its
/// outputs) is scored through the output its suite names, by every engine alike; the same model
/// without the name fails alone, saying how to name its scores, and the run goes on; so does
/// one whose positive_index the output does not have, at load.
#[test]
fn a_named_scores_output_is_the_one_scored_by_every_engine() {
    const NAMED: &str = "{ kind = \"probability\", positive_index = 1, name = \"probabilities\" }";
    const PAST_K: &str = "{ kind = \"probability\", positive_index = 4, name = \"probabilities\" }";
    let n = 40;
    let project = Project::new(
        n,
        &[
            (
                "named",
                "label-first.onnx",
                GREY64,
                NAMED,
                "\"tract\", \"candle\"",
            ),
            ("first", "label-first.onnx", GREY64, PROB, "\"tract\""),
            ("past-k", "label-first.onnx", GREY64, PAST_K, "\"tract\""),
        ],
        "batch_size = 8\nagreement_cases = 40",
    );
    let outcome = run_suite(&project.options(), &harness_pipeline::Silent).unwrap();
    let (named, first) = (&outcome.candidates[0], &outcome.candidates[1]);
    // A positive_index past the declared [N, 2] fails at load, naming the suite line, before
    // any case is scored.
    let reason = outcome.candidates[2].outcome.reason().unwrap_or_default();
    assert!(
        reason.contains("of the candidate at line ")
            && reason.contains("output 'probabilities' is declared [?, 2]")
            && reason.contains("positive_index 4 is out of range for 2")
            && !reason.contains("cases 0.."),
        "{reason}"
    );
    assert!(named.outcome.is_ok(), "{:?}", named.outcome);
    let reason = first.outcome.reason().unwrap_or_default();
    assert!(
        reason.contains("first output 'label' is int64")
            && reason.contains("name = ")
            && reason.contains("'probabilities'"),
        "{reason}"
    );
    let rows = predictions(&outcome.out_dir);
    assert_eq!(rows[0][4], "named");
    let want = one_by_one(project.path(), "label-first.onnx", GREY64, NAMED, n);
    for (i, w) in want.iter().enumerate() {
        let got: f64 = rows[i + 1][4].parse().unwrap();
        assert!((got - w).abs() <= 1e-6, "case {i}: {got} vs {w}");
        assert!(
            *w > 0.0 && *w < 1.0,
            "case {i}: {w} is a probability, not a label"
        );
    }
    let agreement: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outcome.out_dir.join("agreement.json")).unwrap())
            .unwrap();
    let pair = &agreement["candidates"][0]["pairs"][0];
    assert_eq!(pair["n"], 40);
    assert!(pair["max_abs_diff"].as_f64().unwrap() < 1e-5, "{pair}");
}

/// A vendor model exported with every input dimension symbolic runs on every engine, each
/// taking a case's shape from the suite's preprocess (tract could not load it before); a
/// preprocess that a model's fixed input refuses fails that candidate at load, naming both
/// shapes, and the run goes on.
#[test]
fn a_fully_dynamic_input_takes_its_shape_from_the_suite() {
    const GREY32: &str = "{ size = [32, 32], channels = 1, channel_order = \"gray\", scale = 0.00392156862745098, layout = \"nchw\" }";
    let n = 24;
    let project = Project::new(
        n,
        &[
            (
                "dynamic",
                "dynamic-all.onnx",
                GREY64,
                PROB,
                "\"tract\", \"ort\", \"candle\"",
            ),
            ("small", "fixed-batch1.onnx", GREY32, PROB, "\"tract\""),
        ],
        "batch_size = 8\nagreement_cases = 24",
    );
    let outcome = run_suite(&project.options(), &harness_pipeline::Silent).unwrap();
    let (dynamic, small) = (&outcome.candidates[0], &outcome.candidates[1]);
    assert!(dynamic.outcome.is_ok(), "{:?}", dynamic.outcome);
    let rows = predictions(&outcome.out_dir);
    assert_eq!(rows[0][4], "dynamic");
    let want = one_by_one(project.path(), "dynamic-all.onnx", GREY64, PROB, n);
    for (i, w) in want.iter().enumerate() {
        let got: f64 = rows[i + 1][4].parse().unwrap();
        assert!((got - w).abs() <= 1e-6, "case {i}: {got} vs {w}");
    }
    let agreement: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outcome.out_dir.join("agreement.json")).unwrap())
            .unwrap();
    let pairs = agreement["candidates"][0]["pairs"].as_array().unwrap();
    assert!(!pairs.is_empty(), "{agreement}");
    for pair in pairs {
        assert_eq!(pair["n"], 24, "{pair}");
        assert!(pair["max_abs_diff"].as_f64().unwrap() < 1e-5, "{pair}");
    }
    let reason = small.outcome.reason().unwrap_or_default();
    assert!(
        reason
            .contains("expects shape [1, 1, 64, 64], the batches would be [?, 1, 32, 32] (a suite")
            && !reason.contains("cases 0.."),
        "{reason}"
    );
}

/// A dataset that declares its patient column: the column goes into predictions.csv and the
/// manifest's evaluation settings, metrics.json gains the patient-clustered statistics (what
/// `verify` recomputes), and the report says its AUROC CIs are patient-clustered.
/// Adds a `patient` column (`patient_of(case)`, cases counted from 0) to the project's labels
/// and declares it as the dataset's cluster column (re-pinning the dataset).
fn add_patient_column(p: &Path, patient_of: impl Fn(usize) -> String) {
    let data = p.join("data/lesions");
    let labels = std::fs::read_to_string(data.join("labels.csv")).unwrap();
    let mut out = String::new();
    for (i, line) in labels.lines().enumerate() {
        let extra = if i == 0 {
            "patient".to_string()
        } else {
            patient_of(i - 1)
        };
        out.push_str(&format!("{line},{extra}\n"));
    }
    std::fs::write(data.join("labels.csv"), out).unwrap();
    repin(p);
    let registry = std::fs::read_to_string(p.join("datasets.toml")).unwrap();
    let end = registry.find("sha256 = \"").unwrap() + "sha256 = \"\"".len() + 64;
    std::fs::write(
        p.join("datasets.toml"),
        format!(
            "{}\ncluster = \"patient\"{}",
            &registry[..end],
            &registry[end..]
        ),
    )
    .unwrap();
}

/// Image paths written with backslashes (a labels file exported on Windows) are the files the
/// registry check hashed, and are opened as such: they passed the check and then failed to
/// open, mid-run.
#[test]
fn image_paths_with_backslashes_are_opened_as_checked() {
    let project = Project::new(
        6,
        &[("a", "vendor-a.onnx", GREY64, PROB, "\"tract\"")],
        "primary_backend = \"tract\"",
    );
    let labels_path = project.path().join("data/lesions/labels.csv");
    let labels = std::fs::read_to_string(&labels_path).unwrap();
    assert!(labels.contains("images/"), "the test needs folder paths");
    std::fs::write(&labels_path, labels.replace("images/", "images\\")).unwrap();
    repin(project.path());
    let outcome = run_suite(&project.options(), &harness_pipeline::Silent).unwrap();
    assert!(!outcome.any_failed());
    assert_eq!(
        predictions(&outcome.out_dir).len(),
        7,
        "a header and 6 cases"
    );
}

/// A case without a patient id is refused when the dataset is indexed, naming the case, not
/// after the inference of every case (the evaluation refused the predictions file then).
#[test]
fn a_case_without_a_patient_id_is_refused_before_inference() {
    let project = Project::new(
        12,
        &[("a", "vendor-a.onnx", GREY64, PROB, "\"tract\"")],
        "primary_backend = \"tract\"",
    );
    add_patient_column(project.path(), |case| {
        if case == 5 {
            " ".to_string()
        } else {
            format!("P{}", case / 2)
        }
    });
    let err = run_suite(&project.options(), &harness_pipeline::Silent)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("has no patient id in the patient column 'patient'"),
        "{err}"
    );
    let out = project.options().out.unwrap();
    assert!(!out.join("predictions.csv").exists(), "inference ran first");
}

#[test]
fn a_declared_patient_column_gives_patient_clustered_statistics() {
    let project = Project::new(
        40,
        &[
            ("a", "vendor-a.onnx", GREY64, PROB, "\"tract\""),
            ("b", "vendor-b.onnx", GREY64, LOGIT, "\"tract\""),
        ],
        "primary_backend = \"tract\"",
    );
    // Two images per patient: P0 has cases 1 and 2, P1 cases 3 and 4, ...
    add_patient_column(project.path(), |case| format!("P{}", case / 2));

    let outcome = run_suite(&project.options(), &harness_pipeline::Silent).unwrap();
    let rows = predictions(&outcome.out_dir);
    assert!(rows[0].contains(&"patient".to_string()), "{:?}", rows[0]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outcome.out_dir.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["evaluation"]["cluster"], "patient");
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outcome.out_dir.join("metrics.json")).unwrap())
            .unwrap();
    let clustered = &metrics["models"]["a"]["clustered"];
    assert_eq!(clustered["n_clusters"], 20, "{clustered}");
    assert_eq!(clustered["cluster_size_max"], 2);
    assert!(clustered["auroc_var_obuchowski"].as_f64().unwrap() > 0.0);
    // Subgroup levels are clustered too, and the forest plot says so.
    for level in metrics["models"]["a"]["subgroups"]["sex"]
        .as_object()
        .unwrap()
        .values()
    {
        assert!(
            level["clustered"]["n_clusters"].as_u64().unwrap() > 0,
            "{level}"
        );
    }
    let summary = std::fs::read_to_string(outcome.out_dir.join("summary.md")).unwrap();
    assert!(summary.contains("95% CI, patient-clustered"), "{summary}");
    assert!(summary.contains("Subgroup AUROC with patient-clustered (Obuchowski) 95% CI"));
    let html = std::fs::read_to_string(outcome.out_dir.join("report.html")).unwrap();
    assert!(
        html.contains("come from 20 patients"),
        "methods must say so"
    );
    // Each candidate's statistics show the patient-clustered CI beside the image-level one,
    // which is named as such.
    let obuchowski = clustered["auroc_ci95_obuchowski"].as_array().unwrap();
    let f = |v: &serde_json::Value| harness_report::format::fixed(v.as_f64().unwrap(), 4);
    assert!(
        html.contains("Patient-clustered 95% CI (Obuchowski 1997)")
            && html.contains(&format!(
                "[{}, {}] (20 patients",
                f(&obuchowski[0]),
                f(&obuchowski[1])
            ))
            && html.contains("DeLong 95% CI (image-level)"),
        "the statistics table lacks the patient-clustered CI"
    );
    // So do the ROC figures' legends, as their captions say.
    let svg = std::fs::read_to_string(outcome.out_dir.join("figures/roc-1-a.svg")).unwrap();
    let f3 = |v: &serde_json::Value| harness_report::format::fixed(v.as_f64().unwrap(), 3);
    let legend = format!("[{}, {}]", f3(&obuchowski[0]), f3(&obuchowski[1]));
    assert!(svg.contains(&legend), "{legend} not in the ROC legend");
    assert!(html.contains("AUROC with its patient-clustered 95% CI (Obuchowski"));
    // The paired comparison the report shows is the clustered one.
    let c = &metrics["comparisons"][0];
    let [lo, hi] = [0, 1].map(|k| c["clustered"]["ci95_diff"][k].as_f64().unwrap());
    let [dlo, dhi] = [0, 1].map(|k| c["ci95_diff"][k].as_f64().unwrap());
    // The sentence reads the difference from the higher AUROC's side: either orientation.
    let sentence = |a: f64, b: f64| {
        let f = |x: f64| harness_report::format::fixed(x, 3);
        [
            format!("95% CI {} to {}", f(a), f(b)),
            format!("95% CI {} to {}", f(-b), f(-a)),
        ]
    };
    assert_ne!(
        sentence(lo, hi),
        sentence(dlo, dhi),
        "the test needs CIs that differ"
    );
    assert!(
        sentence(lo, hi).iter().any(|t| html.contains(t.as_str())),
        "the clustered CI [{lo}, {hi}] is not in the report"
    );
    assert!(
        !sentence(dlo, dhi).iter().any(|t| html.contains(t.as_str())),
        "the image-level CI [{dlo}, {dhi}] is shown instead"
    );
    let v = harness_evidence::verify::verify(
        &outcome.out_dir,
        &harness_evidence::verify::VerifyOptions {
            project_root: Some(project.path().to_path_buf()),
            ..Default::default()
        },
    );
    assert!(v.passed(), "{:?}", v.findings);

    // verify's comparison with the pinned dataset: every id, label and patient as the dataset
    // gives them ...
    let dir = &outcome.out_dir;
    let cases = check_cases(dir, project.path(), None);
    assert!(
        matches!(&cases, CasesCheck::Matches { cases: 40, detail } if detail.contains("ids, labels and sex, site, patient as dataset")),
        "{cases:?}"
    );
    // ... from the bundle files it hands back, read once: verify checks those very bytes
    // (given altered, they fail though the files on disk are intact).
    let (cases, read) = harness_pipeline::recheck::check_cases_read(dir, project.path(), None);
    assert!(matches!(cases, CasesCheck::Matches { cases: 40, .. }));
    assert_eq!(
        read.keys().map(String::as_str).collect::<Vec<_>>(),
        ["manifest.json", "predictions.csv", "suite.toml"]
    );
    let given = |read| harness_evidence::verify::VerifyOptions {
        read,
        ..Default::default()
    };
    let mut altered = read.clone();
    altered.get_mut("predictions.csv").unwrap().push(b'\n');
    let v = harness_evidence::verify(dir, &given(altered));
    assert!(
        v.findings
            .iter()
            .any(|f| f.item == "predictions.csv" && f.status == harness_types::Status::Failed),
        "{:?}",
        v.findings
    );
    assert!(harness_evidence::verify(dir, &given(read)).passed());
    // ... so that a label changed in predictions.csv is named, with its line and case (the
    // bundle's own hashes are not what this check reads).
    let text = std::fs::read_to_string(dir.join("predictions.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut cells: Vec<String> = lines[5].split(',').map(String::from).collect();
    let (was, now) = if cells[1] == "1" {
        ("1", "0")
    } else {
        ("0", "1")
    };
    cells[1] = now.to_string();
    let case = cells[0].clone();
    lines[5] = cells.join(",");
    std::fs::write(dir.join("predictions.csv"), lines.join("\n") + "\n").unwrap();
    let cases = check_cases(dir, project.path(), None);
    assert!(
        matches!(&cases, CasesCheck::Differs(d) if d.starts_with(&format!(
            "{}: line 6 (case '{case}'): label is '{now}'; the dataset gives '{was}'",
            dir.join("predictions.csv").display()
        ))),
        "{cases:?}"
    );
    // A patient moved to another patient is named too.
    std::fs::write(
        dir.join("predictions.csv"),
        text.replacen(",P0,", ",P9,", 1),
    )
    .unwrap();
    let cases = check_cases(dir, project.path(), None);
    assert!(
        matches!(&cases, CasesCheck::Differs(d) if d.contains("patient is 'P9'; the dataset gives 'P0'")),
        "{cases:?}"
    );
    std::fs::write(dir.join("predictions.csv"), &text).unwrap();
    // A manifest edited to read its labels from another column, or to name another dataset
    // (which would leave nothing to compare), is refused.
    let manifest_text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    for (from, to, why) in [
        (
            "\"label\": \"label\"",
            "\"label\": \"label2\"",
            "reads the labels from label2; the run writes them to label",
        ),
        (
            "\"name\": \"lesions\"",
            "\"name\": \"ghost\"",
            "the manifest names dataset 'ghost', the bundle's suite.toml 'lesions'",
        ),
    ] {
        assert_eq!(manifest_text.matches(from).count(), 1, "{from}");
        std::fs::write(
            dir.join("manifest.json"),
            manifest_text.replacen(from, to, 1),
        )
        .unwrap();
        let cases = check_cases(dir, project.path(), None);
        assert!(
            matches!(&cases, CasesCheck::Differs(d) if d.contains(why)),
            "{cases:?}"
        );
    }
    std::fs::write(dir.join("manifest.json"), &manifest_text).unwrap();
    // A registry entry that now reads the same files otherwise (another positive class) is not
    // the one the bundle was computed under: the difference says so. A bundle claiming another
    // entry does not escape the comparison.
    let registry = project.path().join("datasets.toml");
    let entry = std::fs::read_to_string(&registry).unwrap();
    assert_eq!(entry.matches("positive_class = \"1\"").count(), 1);
    std::fs::write(
        &registry,
        entry.replace("positive_class = \"1\"", "positive_class = \"0\""),
    )
    .unwrap();
    let cases = check_cases(dir, project.path(), None);
    assert!(
        matches!(&cases, CasesCheck::Differs(d) if d.contains("reads its cases otherwise than at the run")),
        "{cases:?}"
    );
    std::fs::write(&registry, entry).unwrap();
    std::fs::write(
        dir.join("predictions.csv"),
        lines.join("\n") + "\n", // the relabelled file
    )
    .unwrap();
    let forged = manifest_text.replacen("\"reading_sha256\": \"", "\"reading_sha256\": \"0", 1);
    std::fs::write(dir.join("manifest.json"), forged).unwrap();
    let cases = check_cases(dir, project.path(), None);
    assert!(
        matches!(&cases, CasesCheck::Differs(d) if d.contains(&format!("(case '{case}')"))),
        "{cases:?}"
    );
    std::fs::write(dir.join("manifest.json"), &manifest_text).unwrap();
    std::fs::write(dir.join("predictions.csv"), &text).unwrap();
    // Bundles checked by one command (a leaderboard's entrants) have their dataset read once:
    // the second bundle is compared with the index the first one's check read and hashed,
    // even though a label file changed since; a new command reads the dataset again.
    let reads = harness_pipeline::recheck::DatasetReads::default();
    let check =
        |reads| harness_pipeline::recheck::check_cases_with(dir, project.path(), None, reads).0;
    assert!(matches!(
        check(&reads),
        CasesCheck::Matches { cases: 40, .. }
    ));
    assert_eq!(reads.count(), 1);
    // A dataset changed since the run is not the pinned one; one not placed here is not checked.
    let labels = project.path().join("data/lesions/labels.csv");
    let original = std::fs::read(&labels).unwrap();
    std::fs::write(&labels, [&original[..], b"\n"].concat()).unwrap();
    assert!(matches!(
        check(&reads),
        CasesCheck::Matches { cases: 40, .. }
    ));
    assert_eq!(reads.count(), 1);
    let fresh = harness_pipeline::recheck::DatasetReads::default();
    assert!(matches!(check(&fresh), CasesCheck::Differs(d) if d.contains("lesions")));
    let cases = check_cases(dir, project.path(), None);
    assert!(
        matches!(&cases, CasesCheck::Differs(d) if d.contains("lesions")),
        "{cases:?}"
    );
    std::fs::remove_file(&labels).unwrap();
    std::fs::rename(
        project.path().join("data/lesions"),
        project.path().join("data/elsewhere"),
    )
    .unwrap();
    let cases = check_cases(dir, project.path(), None);
    assert!(
        matches!(&cases, CasesCheck::NotChecked(d) if d.contains("lesions")),
        "{cases:?}"
    );
}

/// A multi-class image folder with subgroup columns and a patient column: each class gets its
/// patient-clustered one-vs-rest block, the macro AUROC its cluster bootstrap, each subgroup
/// level its own figures; the report's Classes section shows the clustered CIs and the subgroup
/// tables; and `verify` recomputes it all.
#[test]
fn a_multiclass_folder_with_subgroups_and_patients_is_evaluated_patient_clustered() {
    let project = Project::new(
        45,
        &[(
            "a",
            "findings-b.onnx",
            GREY64,
            "{ kind = \"softmax\", columns = [\"c0\", \"c1\", \"c2\"] }",
            "\"tract\"",
        )],
        "primary_backend = \"tract\"",
    );
    let p = project.path();
    add_patient_column(p, |case| format!("P{}", case / 3));
    // The label column becomes a class name; the registry declares the classes.
    relabel(p, |case, _| format!("c{}", ((case + 1) * 7 / 3) % 3));
    let registry = std::fs::read_to_string(p.join("datasets.toml"))
        .unwrap()
        .replace(
            "positive_class = \"1\"",
            "task = \"multiclass\"\nclasses = [\"c0\", \"c1\", \"c2\"]",
        );
    std::fs::write(p.join("datasets.toml"), registry).unwrap();
    let suite = std::fs::read_to_string(p.join("suite.toml")).unwrap();
    std::fs::write(
        p.join("suite.toml"),
        suite.replace("bootstrap = 0", "bootstrap = 60\nsubgroups = [\"site\"]"),
    )
    .unwrap();

    let outcome =
        run_suite(&project.options(), &harness_pipeline::Silent).unwrap_or_else(|e| panic!("{e}"));
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outcome.out_dir.join("metrics.json")).unwrap())
            .unwrap();
    assert_eq!(metrics["task"], "multiclass");
    assert_eq!(metrics["cluster"], "patient");
    let m = &metrics["models"]["a"];
    assert_eq!(m["ovr"]["c0"]["clustered"]["n_clusters"], 15, "{m}");
    assert!(
        m["auroc_macro_bootstrap_clustered"]["ci95"].is_array(),
        "{m}"
    );
    let levels = m["subgroups"]["site"].as_object().unwrap();
    assert!(levels.len() >= 2, "{levels:?}");
    let n: u64 = levels.values().map(|l| l["n"].as_u64().unwrap()).sum();
    assert_eq!(n, 45, "the levels partition the cases");
    for l in levels.values() {
        assert!(l["ci_method"].as_str().unwrap().contains("cluster"), "{l}");
    }
    assert!(m["gaps"]["site"]["accuracy_gap"].as_f64().is_some());
    let html = std::fs::read_to_string(outcome.out_dir.join("report.html")).unwrap();
    for needle in [
        "classes-subgroups",
        "classes-gaps",
        "Macro AUROC [95% CI, patient-clustered bootstrap]",
        "one-vs-rest AUROC [95% CI, patient-clustered]",
        "come from 15 patients",
    ] {
        assert!(html.contains(needle), "{needle}");
    }
    assert!(!html.contains("computes no subgroup or patient-clustered"));
    let v = harness_evidence::verify::verify(
        &outcome.out_dir,
        &harness_evidence::verify::VerifyOptions {
            project_root: Some(p.to_path_buf()),
            ..Default::default()
        },
    );
    assert!(v.passed(), "{:?}", v.findings);
    // Each case's class name, subgroups and patient as the dataset gives them.
    let cases = check_cases(&outcome.out_dir, p, None);
    assert!(
        matches!(&cases, CasesCheck::Matches { detail, .. } if detail.contains("ids, labels and ")),
        "{cases:?}"
    );

    // The same suite as a federated site: only its count tables leave, and they pool to the
    // run's figures (all but the bootstraps and the patient-clustered blocks).
    let mut o = project.options();
    o.out = Some(p.join("site"));
    o.site = Some("hospital-a".into());
    let site = run_suite(&o, &harness_pipeline::Silent).unwrap_or_else(|e| panic!("{e}"));
    assert!(!site.out_dir.join("predictions.csv").exists());
    let text = std::fs::read_to_string(site.out_dir.join("site.json")).unwrap();
    assert!(
        !text.contains("c0001") && !text.contains("P1"),
        "a case or patient id left the site"
    );
    let summary: harness_metrics::pool_classes::ClassesSiteSummary =
        serde_json::from_str(&text).unwrap();
    let pooled =
        harness_metrics::pool_classes::pool_classes(&[summary], &Default::default()).unwrap();
    let got = &pooled.models["a"];
    let want = outcome.eval.as_ref().unwrap().multiclass().unwrap();
    let want = &want.models["a"];
    let close = |a: Option<f64>, b: Option<f64>| {
        assert!((a.unwrap() - b.unwrap()).abs() < 1e-12, "{a:?} vs {b:?}")
    };
    close(got.auroc_macro, want.auroc_macro);
    close(got.auroc_hand_till, want.auroc_hand_till);
    close(Some(got.brier), Some(want.brier));
    close(Some(got.log_loss), Some(want.log_loss));
    assert_eq!(got.confusion_matrix, want.confusion_matrix);
    for (level, s) in &want.subgroups["site"] {
        let g = &got.subgroups["site"][level];
        assert_eq!(g.n, s.n);
        close(g.auroc_macro, s.auroc_macro);
        close(Some(g.accuracy), Some(s.accuracy));
    }
}

/// A 3-way sharded run (patients of 1-4 images, interleaved in case order) merges into a
/// bundle whose predictions, metrics and agreement figures are byte-identical to one run's and
/// which verifies; a patient is never split; a missing, repeated or changed shard is refused.
#[test]
fn three_shards_merge_byte_identical_to_one_run_and_bad_sets_are_refused() {
    use harness_evidence::shard::{Shard, ShardFile};
    use harness_pipeline::merge::{MergeOptions, merge};
    let project = Project::new(
        45,
        &[
            ("a", "vendor-a.onnx", GREY64, PROB, "\"tract\", \"candle\""),
            ("b", "vendor-b.onnx", GREY64, LOGIT, "\"tract\""),
        ],
        "primary_backend = \"tract\"\nagreement_cases = 12",
    );
    let p = project.path();
    // Patients of 1 to 4 images, not contiguous: case k belongs to patient (k * 7) % 17.
    let patient = |case: usize| format!("P{:02}", (case * 7) % 17);
    add_patient_column(p, patient);
    let whole = run_suite(&project.options(), &harness_pipeline::Silent).unwrap();
    let mut parts = Vec::new();
    for i in 1..=3 {
        let mut o = project.options();
        o.out = Some(p.join(format!("part-{i}")));
        o.shard = Some(Shard::parse(&format!("{i}/3"), |_| None).unwrap());
        let outcome = run_suite(&o, &harness_pipeline::Silent).unwrap();
        assert!(outcome.eval.is_none() && !outcome.any_failed());
        assert!(!outcome.out_dir.join("metrics.json").exists());
        parts.push(outcome.out_dir);
    }
    // Every patient's images are in one shard.
    let mut owner = std::collections::HashMap::new();
    let reads = harness_pipeline::recheck::DatasetReads::default();
    for (k, dir) in parts.iter().enumerate() {
        let file: ShardFile =
            serde_json::from_slice(&std::fs::read(dir.join("shard.json")).unwrap()).unwrap();
        assert_eq!(file.unit, "patient column 'patient'");
        assert_eq!(
            file.sample_bits,
            Some(8),
            "the shard records its images' depth"
        );
        for pos in file.positions {
            let previous = owner.insert(patient(pos as usize), k);
            assert!(previous.is_none() || previous == Some(k), "patient split");
        }
        assert!(harness_evidence::verify(dir, &Default::default()).passed());
        // The shard's rows are its share of the dataset's cases, as the dataset gives them.
        // (The three shards' checks read the dataset once, as a leaderboard's would.)
        let (cases, _) = harness_pipeline::recheck::check_cases_with(dir, p, None, &reads);
        assert!(
            matches!(&cases, CasesCheck::Matches { detail, .. } if detail.ends_with(&format!("shard {} of 3", k + 1))),
            "{cases:?}"
        );
        assert_eq!(cases, check_cases(dir, p, None));
    }
    assert_eq!(reads.count(), 1);
    let opts = |list: &[usize], out: &str| MergeOptions {
        parts: list.iter().map(|&k| parts[k].clone()).collect(),
        out: p.join(out),
        ..MergeOptions::default()
    };
    let merged = merge(&opts(&[2, 0, 1], "merged"), &harness_pipeline::Silent).unwrap();
    for file in ["predictions.csv", "metrics.json", "agreement.json"] {
        assert_eq!(
            std::fs::read(merged.out_dir.join(file)).unwrap(),
            std::fs::read(whole.out_dir.join(file)).unwrap(),
            "{file} differs from the unsharded run's"
        );
    }
    let dataset = |dir: &Path| {
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
        m["dataset"].clone()
    };
    // Each shard checked the pin over the whole folder; the merged bundle claims no check of
    // its own (the shards' manifests it keeps say how theirs went).
    for dir in [&whole.out_dir, &parts[0]] {
        assert_eq!(
            dataset(dir)["check"]["files"],
            46,
            "45 images and labels.csv"
        );
    }
    assert!(dataset(&merged.out_dir).get("check").is_none());
    assert!(matches!(
        check_cases(&merged.out_dir, p, None),
        CasesCheck::Matches { cases: 45, .. }
    ));
    let v = harness_evidence::verify(&merged.out_dir, &Default::default());
    assert!(v.passed(), "{:?}", v.findings);
    assert!(
        v.findings.iter().any(
            |f| f.item == "shard 3" && f.detail.contains("rows in predictions.csv are its own")
        ),
        "the shard pins and rows are checked: {:?}",
        v.findings
    );
    // A merged row rewritten after the merge, the manifest's hash of predictions.csv rewritten
    // with it: the score is written otherwise but is the same number, so the metrics recompute
    // alike; the shard's pinned predictions give the change away.
    let tampered = p.join("tampered");
    let copied = std::process::Command::new("cp")
        .arg("-r")
        .arg(&merged.out_dir)
        .arg(&tampered)
        .status()
        .unwrap();
    assert!(copied.success());
    let text = std::fs::read_to_string(tampered.join("predictions.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let col = lines[0].split(',').position(|c| c == "a").unwrap();
    let row = 1 + lines[1..]
        .iter()
        .position(|l| !l.split(',').nth(col).unwrap().contains('e'))
        .unwrap();
    let mut cells: Vec<String> = lines[row].split(',').map(String::from).collect();
    let same = if cells[col].contains('.') { "0" } else { ".0" };
    cells[col].push_str(same);
    lines[row] = cells.join(",");
    std::fs::write(tampered.join("predictions.csv"), lines.join("\n") + "\n").unwrap();
    let manifest_path = tampered.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    m["files"]["predictions.csv"] = harness_data::registry::sha256_hex(
        &std::fs::read(tampered.join("predictions.csv")).unwrap(),
    )
    .into();
    std::fs::write(&manifest_path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let v = harness_evidence::verify(&tampered, &Default::default());
    assert!(!v.passed());
    let failed: Vec<_> = v
        .findings
        .iter()
        .filter(|f| f.status == harness_types::Status::Failed)
        .collect();
    assert!(
        failed.len() == 1
            && failed[0].item.starts_with("shard ")
            && failed[0].detail.contains("changed after the merge"),
        "{failed:?}"
    );
    let message = |list: &[usize]| {
        merge(&opts(list, "bad"), &harness_pipeline::Silent)
            .unwrap_err()
            .to_string()
    };
    assert!(message(&[0, 2]).contains("missing shard(s) 2 of 3"));
    assert!(message(&[0, 1, 1, 2]).contains("shard 2 of 3 is given twice"));
    // A copy of part `k` with `file` rewritten by `edit` and re-pinned in its manifest (an
    // unsigned part), merged in place of part `k`: the merge's error.
    let merge_edited = |k: usize, file: &str, edit: &dyn Fn(Vec<u8>) -> Vec<u8>| {
        let copy = p.join(format!("part-{}-{file}", k + 1));
        let copied = std::process::Command::new("cp")
            .arg("-r")
            .arg(&parts[k])
            .arg(&copy)
            .status()
            .unwrap();
        assert!(copied.success());
        let bytes = edit(std::fs::read(copy.join(file)).unwrap());
        std::fs::write(copy.join(file), &bytes).unwrap();
        let manifest_path = copy.join("manifest.json");
        let mut m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
        m["files"][file] = harness_data::registry::sha256_hex(&bytes).into();
        std::fs::write(&manifest_path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
        let mut list = parts.clone();
        list[k] = copy;
        let options = MergeOptions {
            parts: list,
            out: p.join(format!("merged-{file}")),
            ..MergeOptions::default()
        };
        merge(&options, &harness_pipeline::Silent)
            .unwrap_err()
            .to_string()
    };
    // A shard whose images are of another bit depth than the others' (its shard.json says so):
    // one preprocessing scale cannot suit both.
    let err = merge_edited(1, "shard.json", &|bytes| {
        let mut file: ShardFile = serde_json::from_slice(&bytes).unwrap();
        file.sample_bits = Some(16);
        serde_json::to_vec_pretty(&file).unwrap()
    });
    assert!(
        err.contains("images are 16-bit") && err.contains("8-bit"),
        "{err}"
    );
    // A part whose predictions were not written as a run writes them (no final line end):
    // its rows in the merged file could not be checked against it, so it is refused.
    let err = merge_edited(2, "predictions.csv", &|mut bytes| {
        bytes.pop();
        bytes
    });
    assert!(err.contains("its last line has no line end"), "{err}");
    // A criterion the merged evaluation can never give is refused before any work (the merge
    // is where a sharded run's gate is applied).
    let mut gated = opts(&[0, 1, 2], "gated");
    gated.extra_criteria = vec![harness_evidence::gate::TaskCriterion {
        key: "auroc_gap.age".into(),
        direction: harness_evidence::gate::Direction::Over,
        limit: 0.1,
    }];
    let err = merge(&gated, &harness_pipeline::Silent)
        .unwrap_err()
        .to_string();
    assert!(err.contains("'age' is not a grouping column"), "{err}");
    assert!(!p.join("gated").exists(), "nothing was written");
    // A verified input hands back the bytes its check hashed, read once, whatever becomes of
    // the file after; a file it did not keep is read against the manifest, and refused once
    // changed.
    let (pred, shard) = (
        parts[2].join("predictions.csv"),
        parts[2].join("shard.json"),
    );
    let (pred_bytes, shard_bytes) = (
        std::fs::read(&pred).unwrap(),
        std::fs::read(&shard).unwrap(),
    );
    let mut part = harness_evidence::check_input(&parts[2], &[], &["predictions.csv"]).unwrap();
    std::fs::write(&pred, b"case_id\n").unwrap();
    std::fs::write(&shard, b"{}").unwrap();
    assert_eq!(*part.read("predictions.csv").unwrap(), pred_bytes[..]);
    let err = part.read("shard.json").unwrap_err();
    assert!(
        err.contains("changed after the bundle was verified"),
        "{err}"
    );
    assert_eq!(part.take("predictions.csv").unwrap(), pred_bytes);
    let err = part.read("predictions.csv").unwrap_err();
    assert!(
        err.contains("changed after the bundle was verified"),
        "taken: read again: {err}"
    );
    std::fs::write(&pred, &pred_bytes).unwrap();
    std::fs::write(&shard, &shard_bytes).unwrap();
    // A partial bundle changed after it was written.
    let pred = parts[1].join("predictions.csv");
    let text = std::fs::read_to_string(&pred).unwrap();
    std::fs::write(&pred, text.replacen(",0.", ",0.9", 1)).unwrap();
    let m = message(&[0, 1, 2]);
    assert!(m.contains("part-2") && m.contains("does not verify"), "{m}");
}

/// A federated site's run writes only its count tables (no predictions, metrics or report),
/// verifies, and `pool` of its summary gives the single-model figures of an ordinary run.
#[test]
fn a_site_run_writes_count_tables_only_and_pools_to_the_run_metrics() {
    let project = Project::new(
        30,
        &[
            ("a", "vendor-a.onnx", GREY64, PROB, "\"tract\""),
            ("b", "vendor-b.onnx", GREY64, LOGIT, "\"tract\""),
        ],
        "primary_backend = \"tract\"",
    );
    let p = project.path();
    let whole = run_suite(&project.options(), &harness_pipeline::Silent).unwrap();
    let mut o = project.options();
    o.out = Some(p.join("site"));
    o.site = Some("hospital-a".into());
    let site = run_suite(&o, &harness_pipeline::Silent).unwrap();
    assert!(site.eval.is_none());
    for absent in ["predictions.csv", "metrics.json", "report.html"] {
        assert!(
            !site.out_dir.join(absent).exists(),
            "{absent} left the site"
        );
    }
    let text = std::fs::read_to_string(site.out_dir.join("site.json")).unwrap();
    assert!(!text.contains("c0001"), "a case id left the site");
    assert!(harness_evidence::verify(&site.out_dir, &Default::default()).passed());
    let summary: harness_metrics::pool::SiteSummary = serde_json::from_str(&text).unwrap();
    let pooled = harness_metrics::pool::pool(
        &[summary],
        &whole.eval.as_ref().unwrap().binary().unwrap().options,
    )
    .unwrap();
    let want = serde_json::to_value(&whole.eval.unwrap().binary().unwrap().models).unwrap();
    let got = serde_json::to_value(&pooled.models).unwrap();
    assert_eq!(
        got, want,
        "pooled single-model figures differ from the run's"
    );
    // On a declared grid the summary holds only rounded scores, and says which grid.
    let mut o = project.options();
    o.out = Some(p.join("site-grid"));
    o.site = Some("hospital-a".into());
    o.score_decimals = Some(1);
    let site = run_suite(&o, &harness_pipeline::Silent).unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(site.out_dir.join("site.json")).unwrap();
    let grid: harness_metrics::pool::SiteSummary = serde_json::from_str(&text).unwrap();
    assert_eq!(grid.score_decimals, Some(1));
    for tables in grid.models.values() {
        let scores: Vec<f64> = tables.all.rows().map(|(s, _, _)| s).collect();
        assert!(scores.len() <= 11, "{scores:?}");
        assert!(
            scores
                .iter()
                .all(|&s| (s * 10.0 - (s * 10.0).round()).abs() < 1e-9),
            "{scores:?}"
        );
    }
    // A grid belongs to a site's summary (a round-2 answer takes the request's).
    let mut o = project.options();
    o.out = Some(p.join("no-site"));
    o.score_decimals = Some(2);
    let err = run_suite(&o, &harness_pipeline::Silent)
        .unwrap_err()
        .to_string();
    assert!(err.contains("with --site"), "{err}");
    o.site = Some("hospital-a".into());
    o.score_decimals = Some(16);
    let err = run_suite(&o, &harness_pipeline::Silent)
        .unwrap_err()
        .to_string();
    assert!(err.contains("at most 15"), "{err}");
    assert!(!p.join("no-site").exists(), "nothing was started");
}

/// A project of one MedMNIST-layout archive `m.npz` (28x28 images) registered as dataset `m`
/// with the given task keys, one model copied from the shipped ones, and a suite whose one
/// candidate `a` declares the output given to [`NpzProject::suite`].
struct NpzProject {
    dir: tempfile::TempDir,
    n: usize,
    task_keys: &'static str,
    model: &'static str,
    preprocess: &'static str,
    metrics: &'static str,
}

impl NpzProject {
    fn new(
        n: usize,
        task_keys: &'static str,
        model: &'static str,
        preprocess: &'static str,
        metrics: &'static str,
    ) -> NpzProject {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("models")).unwrap();
        std::fs::copy(
            root().join("models").join(model),
            dir.path().join("models").join(model),
        )
        .unwrap();
        NpzProject {
            dir,
            n,
            task_keys,
            model,
            preprocess,
            metrics,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes the archive with these test labels and registers it (its sha256 pinned).
    fn labels(&self, labels: &ndarray::Array2<u8>) {
        use ndarray_npy::NpzWriter;
        let p = self.path();
        let images = ndarray::Array3::<u8>::from_shape_fn((self.n, 28, 28), |(i, y, x)| {
            ((i * 13 + y * 7 + x * 3) % 256) as u8
        });
        let mut npz = NpzWriter::new(std::fs::File::create(p.join("m.npz")).unwrap());
        npz.add_array("test_images", &images).unwrap();
        npz.add_array("test_labels", labels).unwrap();
        npz.finish().unwrap();
        std::fs::write(
            p.join("datasets.toml"),
            format!(
                "[datasets.m]\ntitle = \"t\"\nformat = \"medmnist-npz\"\npath = \"m.npz\"\nsplit = \"test\"\n{}\n\
                 label_meaning = \"k\"\nsha256 = \"{}\"\nsynthetic = true\nlicence = \"x\"\nprovenance = \"x\"\n",
                self.task_keys,
                sha256(&p.join("m.npz"))
            ),
        )
        .unwrap();
    }

    /// Writes the suite with candidate `a`'s `output` declaration.
    fn suite(&self, output: &str) {
        let model = self.path().join("models").join(self.model);
        std::fs::write(
            self.path().join("suite.toml"),
            format!(
                "name = \"t\"\nversion = \"1\"\ndataset = \"m\"\n[metrics]\nsubgroups = []\n{}\n[performance]\nskip = true\n\
                 [[candidates]]\nname = \"a\"\nmodel = \"models/{}\"\nsha256 = \"{}\"\npreprocess = {}\noutput = {output}\n",
                self.metrics,
                self.model,
                sha256(&model),
                self.preprocess
            ),
        )
        .unwrap();
    }

    fn options(&self, out: &str) -> RunOptions {
        RunOptions {
            suite: self.path().join("suite.toml"),
            out: Some(self.path().join(out)),
            no_perf: true,
            threads: Some(1),
            ..RunOptions::default()
        }
    }

    fn run(&self, out: &str) -> harness_pipeline::RunOutcome {
        run_suite(&self.options(out), &harness_pipeline::Silent).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A 3-way sharded run merges into a bundle whose predictions, metrics, agreement
    /// figures, gate and report figures are those of the unsharded run `whole`, and which
    /// verifies.
    fn shards_merge_like(&self, whole: &harness_pipeline::RunOutcome) {
        use harness_evidence::shard::Shard;
        use harness_pipeline::merge::{MergeOptions, merge};
        let parts: Vec<PathBuf> = (1..=3)
            .map(|i| {
                let mut o = self.options(&format!("part-{i}"));
                o.shard = Some(Shard::parse(&format!("{i}/3"), |_| None).unwrap());
                let outcome = run_suite(&o, &harness_pipeline::Silent).unwrap();
                assert!(outcome.eval.is_none() && !outcome.any_failed());
                outcome.out_dir
            })
            .collect();
        let merged = merge(
            &MergeOptions {
                parts: parts.into_iter().rev().collect(),
                out: self.path().join("merged"),
                ..MergeOptions::default()
            },
            &harness_pipeline::Silent,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let files = |dir: &Path| -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(dir.join("figures"))
                .unwrap()
                .map(|e| format!("figures/{}", e.unwrap().file_name().to_string_lossy()))
                .collect();
            names.sort();
            names
        };
        let figures = files(&whole.out_dir);
        assert!(figures.iter().any(|f| f.contains("roc-")), "{figures:?}");
        assert_eq!(files(&merged.out_dir), figures);
        for file in ["predictions.csv", "metrics.json", "agreement.json"]
            .into_iter()
            .map(String::from)
            .chain(figures)
        {
            assert!(
                std::fs::read(merged.out_dir.join(&file)).unwrap()
                    == std::fs::read(whole.out_dir.join(&file)).unwrap(),
                "{file} differs from the unsharded run's"
            );
        }
        assert_eq!(
            format!("{:?}", merged.gate),
            format!("{:?}", whole.gate),
            "the gate reads the merged metrics as the run's"
        );
        let v = harness_evidence::verify(&merged.out_dir, &Default::default());
        assert!(v.passed(), "{:?}", v.findings);
    }

    /// A run with this output declaration is refused before any work, with `expect` in the
    /// message and the candidate named.
    fn refused(&self, output: &str, expect: &str) {
        self.suite(output);
        let err = run_suite(&self.options("refused"), &harness_pipeline::Silent)
            .unwrap_err()
            .to_string();
        assert!(err.contains(expect), "{output}: {err}");
        assert!(err.contains("candidate 'a'"), "{err}");
        assert!(
            !self.path().join("refused").exists(),
            "refused before any work"
        );
    }
}

/// A multi-label MedMNIST-layout archive (ChestMNIST's label matrix, one 0/1 column per
/// finding): a candidate maps its output columns to findings in its own order, the predictions
/// get `label:<finding>` and `<candidate>:<finding>` columns, and declarations that do not fit
/// the dataset are refused before any inference, naming the candidate; a 3-way sharded run
/// merges into the same bundle.
#[test]
fn a_multilabel_archive_runs_with_mapped_output_columns_and_bad_mappings_are_refused() {
    let n = 16;
    let p = NpzProject::new(
        n,
        "task = \"multilabel\"\nlabel = \"findings\"\nfindings = [\"f1\", \"f2\"]",
        "vendor-c.onnx",
        "{ size = [64, 64], channels = 1, channel_order = \"gray\", scale = 0.00392156862745098, layout = \"nhwc\" }",
        "bootstrap = 0\n[acceptance]\nfail_under = { auroc_macro = 0.0 }",
    );
    p.labels(&ndarray::Array2::<u8>::from_shape_fn((n, 2), |(i, k)| {
        u8::from((i + k) % 3 == 0)
    }));
    p.suite("{ kind = \"logit\", columns = [\"f2\", \"f1\"] }");
    let outcome = p.run("out");
    p.shards_merge_like(&outcome);
    assert!(!outcome.any_failed());
    assert_eq!(outcome.gate.len(), 1, "{:?}", outcome.gate);
    assert!(outcome.gate_passed());
    let rows = predictions(&outcome.out_dir);
    assert_eq!(rows[0], ["case_id", "label:f1", "label:f2", "a:f2", "a:f1"]);
    assert_eq!(rows.len(), n + 1);
    // The mapping follows the declaration: the model's first column is named f2, then f1.
    p.suite("{ kind = \"logit\", columns = [\"f1\", \"f2\"] }");
    let rows_b = predictions(&p.run("swapped").out_dir);
    assert_eq!(
        rows_b[0],
        ["case_id", "label:f1", "label:f2", "a:f1", "a:f2"]
    );
    for (r, s) in rows[1..].iter().zip(&rows_b[1..]) {
        assert_eq!((&r[3], &r[4]), (&s[3], &s[4]), "same columns, renamed");
        assert_ne!(r[3], r[4], "the two outputs differ, so the check can fail");
    }
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outcome.out_dir.join("metrics.json")).unwrap())
            .unwrap();
    assert_eq!(m["task"], "multilabel");
    assert_eq!(m["findings_order"], serde_json::json!(["f1", "f2"]));
    let positives: Vec<u64> = (1..=2)
        .map(|k| rows[1..].iter().filter(|r| r[k] == "1").count() as u64)
        .collect();
    assert_eq!(m["findings"]["f1"]["positives"], positives[0]);
    assert_eq!(m["findings"]["f2"]["positives"], positives[1]);

    p.refused(
        "{ kind = \"logit\", columns = [\"f2\", \"f3\"] }",
        "'f3', which is not a finding of dataset 'm' (f1, f2)",
    );
    p.refused(
        "{ kind = \"logit\", columns = [\"f1\", \"f1\"] }",
        "names 'f1' twice",
    );
    p.refused(
        "{ kind = \"softmax\", columns = [\"f1\", \"f2\"] }",
        "not \"softmax\"",
    );
    p.refused(
        "{ kind = \"logit\", positive_index = 1 }",
        "output.columns must name",
    );
    // A label matrix wider than the declared findings, and a value that is not 0/1.
    p.suite("{ kind = \"logit\", columns = [\"f2\", \"f1\"] }");
    for (labels, expect) in [
        (
            ndarray::Array2::<u8>::zeros((n, 3)),
            "3 columns per case, but dataset 'm' declares 2 findings",
        ),
        (
            ndarray::Array2::<u8>::from_elem((n, 2), 2),
            "value 2; a finding is 0 or 1",
        ),
    ] {
        p.labels(&labels);
        let err = run_suite(&p.options("bad"), &harness_pipeline::Silent)
            .unwrap_err()
            .to_string();
        assert!(err.contains(expect), "{err}");
    }
}

/// A multi-class MedMNIST-layout archive (DermaMNIST's layout: one class index per case): a
/// candidate's softmax columns are mapped to classes in its own order and written in class
/// order, `metrics.json` is the multi-class report, the gate reads its keys, the report has its
/// Classes section and figures, `verify` recomputes it, and declarations that do not fit are
/// refused before any inference; a 3-way sharded run merges into the same bundle.
#[test]
fn a_multiclass_archive_runs_with_mapped_softmax_columns_and_bad_mappings_are_refused() {
    let n = 30;
    // A 3-output model (64x64 grey, NCHW): its logits through a softmax are a 3-class model.
    let p = NpzProject::new(
        n,
        "task = \"multiclass\"\nlabel = \"class\"\nclasses = [\"c0\", \"c1\", \"c2\"]",
        "findings-b.onnx",
        "{ size = [64, 64], channels = 1, channel_order = \"gray\", scale = 0.00392156862745098, layout = \"nchw\" }",
        "bootstrap = 200\n[acceptance]\nfail_under = { accuracy = 0.0, \"auroc.c1\" = 0.0 }",
    );
    p.labels(&ndarray::Array2::<u8>::from_shape_fn((n, 1), |(i, _)| {
        (i % 3) as u8
    }));
    p.suite("{ kind = \"softmax\", columns = [\"c2\", \"c0\", \"c1\"] }");
    let outcome = p.run("out");
    assert!(!outcome.any_failed());
    assert_eq!(outcome.gate.len(), 2, "{:?}", outcome.gate);
    assert!(outcome.gate_passed(), "{:?}", outcome.gate);
    let rows = predictions(&outcome.out_dir);
    assert_eq!(rows[0], ["case_id", "label", "a:c0", "a:c1", "a:c2"]);
    assert_eq!(rows.len(), n + 1);
    for (i, r) in rows[1..].iter().enumerate() {
        assert_eq!(
            r[1],
            format!("c{}", i % 3),
            "class names in the label column"
        );
        let sum: f64 = r[2..].iter().map(|v| v.parse::<f64>().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-9, "a softmax row sums to 1: {r:?}");
    }
    p.shards_merge_like(&outcome);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outcome.out_dir.join("metrics.json")).unwrap())
            .unwrap();
    assert_eq!(m["task"], "multiclass");
    for f in [
        "confusion-1-a.svg",
        "reliability-classwise-1-a.svg",
        "roc-class-1-c0.svg",
        "roc-class-3-c2.svg",
    ] {
        assert!(outcome.out_dir.join("figures").join(f).is_file(), "{f}");
    }
    // The classwise reliability diagram: a line per class, each with its ECE-10 as reported.
    let svg = std::fs::read_to_string(
        outcome
            .out_dir
            .join("figures")
            .join("reliability-classwise-1-a.svg"),
    )
    .unwrap();
    for c in ["c0", "c1", "c2"] {
        let ece = m["models"]["a"]["classwise_ece_10_per_class"][c]
            .as_f64()
            .unwrap();
        assert!(svg.contains(&format!("{c}: ECE-10 {ece:.3}")), "{c}: {ece}");
    }
    let html = std::fs::read_to_string(outcome.out_dir.join("report.html")).unwrap();
    assert!(html.contains("id=\"classes\""));
    assert!(html.contains("Macro AUROC [95% CI, bootstrap]"));
    assert_eq!(
        m["class_counts"],
        serde_json::json!({"c0": 10, "c1": 10, "c2": 10})
    );
    // The column of class c2 is the model's first output: relabelling the columns moves it.
    let first_output: Vec<String> = rows[1..].iter().map(|r| r[4].clone()).collect();
    p.suite("{ kind = \"softmax\", columns = [\"c0\", \"c1\", \"c2\"] }");
    let again = p.run("again");
    let first_b: Vec<String> = predictions(&again.out_dir)[1..]
        .iter()
        .map(|r| r[2].clone())
        .collect();
    assert_eq!(first_output, first_b, "output column 0 is c2, then c0");
    assert!(
        harness_evidence::verify(&again.out_dir, &Default::default()).passed(),
        "verify recomputes the multi-class metrics"
    );

    p.refused(
        "{ kind = \"softmax\", columns = [\"c0\", \"c1\", \"\"] }",
        "\"\" is not allowed",
    );
    p.refused(
        "{ kind = \"logit\", columns = [\"c0\", \"c1\", \"c2\"] }",
        "not \"logit\"",
    );
    p.refused(
        "{ kind = \"softmax\", columns = [\"c0\", \"c1\", \"c1\"] }",
        "names 'c1' twice",
    );
    // A label beyond the classes.
    p.suite("{ kind = \"softmax\", columns = [\"c0\", \"c1\", \"c2\"] }");
    p.labels(&ndarray::Array2::<u8>::from_elem((n, 1), 3));
    let err = run_suite(&p.options("bad"), &harness_pipeline::Silent)
        .unwrap_err()
        .to_string();
    assert!(err.contains("label 3 is not a class index"), "{err}");
}

/// The labels of `p`'s dataset rewritten by `relabel` (case index, label) and the dataset
/// re-pinned.
fn relabel(p: &Path, relabel: impl Fn(usize, &str) -> String) {
    let data = p.join("data/lesions");
    let labels = std::fs::read_to_string(data.join("labels.csv")).unwrap();
    let mut out = String::new();
    for (i, line) in labels.lines().enumerate() {
        let mut fields: Vec<String> = line.split(',').map(String::from).collect();
        if i > 0 {
            fields[2] = relabel(i - 1, &fields[2]);
        }
        out.push_str(&(fields.join(",") + "\n"));
    }
    std::fs::write(data.join("labels.csv"), out).unwrap();
    repin(p);
}

/// The dataset of `p` pinned again, as its files now are.
fn repin(p: &Path) {
    let digest = harness_data::registry::folder_sha256(&p.join("data/lesions")).unwrap();
    let registry = std::fs::read_to_string(p.join("datasets.toml")).unwrap();
    let start = registry.find("sha256 = \"").unwrap();
    let registry = format!(
        "{}sha256 = \"{digest}\"{}",
        &registry[..start],
        &registry[start + 75..]
    );
    std::fs::write(p.join("datasets.toml"), registry).unwrap();
}

/// A run that fails over an earlier finished bundle (here on an image that cannot be decoded)
/// leaves that bundle as it was, verifiable; the next run that finishes replaces it, and
/// nothing of the failed one is left.
#[test]
fn a_failed_run_keeps_the_earlier_bundle_and_a_finished_one_replaces_it() {
    let project = Project::new(12, &[("a", "vendor-a.onnx", GREY64, PROB, "\"tract\"")], "");
    let p = project.path();
    let first = run_suite(&project.options(), &harness_pipeline::Silent).unwrap();
    let manifest = std::fs::read(first.out_dir.join("manifest.json")).unwrap();
    let image = p.join("data/lesions/images/c0005.png");
    let bytes = std::fs::read(&image).unwrap();
    std::fs::write(&image, &bytes[..bytes.len() / 2]).unwrap();
    repin(p);
    let infos = Infos::default();
    let err = run_suite(&project.options(), &infos)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("case 'c0005'") && err.contains("c0005.png"),
        "{err}"
    );
    let infos = infos.0.into_inner().unwrap();
    assert!(
        infos
            .iter()
            .any(|i| i.contains("is kept until this one is finished")),
        "{infos:?}"
    );
    assert_eq!(
        std::fs::read(first.out_dir.join("manifest.json")).unwrap(),
        manifest
    );
    assert!(harness_evidence::verify(&first.out_dir, &Default::default()).passed());
    let staging = p.join(".out.harness-partial");
    assert!(staging.join("INCOMPLETE").is_file());
    std::fs::write(&image, &bytes).unwrap();
    repin(p);
    // A killed write's temporary file in the earlier bundle goes with it.
    let leftover = first.out_dir.join(".harness-x1.tmp");
    std::fs::write(&leftover, "half").unwrap();
    let second = run_suite(&project.options(), &harness_pipeline::Silent).unwrap();
    assert_eq!(second.out_dir, first.out_dir);
    assert!(!leftover.exists(), "the earlier bundle was replaced");
    assert!(harness_evidence::verify(&second.out_dir, &Default::default()).passed());
    assert!(!staging.exists() && !p.join(".out.harness-replaced").exists());
}

/// A binary label column holds the positive class and one other value. `1.0` is the positive
/// class `1` (labels compare as numbers where the class is one); a third value (`-1` for
/// "uncertain") or a word in a numeric column is refused naming its line, column and value,
/// never counted as negative.
#[test]
fn binary_labels_compare_as_numbers_and_a_third_value_is_refused() {
    let project = Project::new(12, &[("a", "vendor-a.onnx", GREY64, PROB, "\"tract\"")], "");
    let p = project.path();
    let whole = run_suite(&project.options(), &harness_pipeline::Silent).unwrap();
    let positives = whole.eval.as_ref().unwrap().binary().unwrap().positives;
    assert!(positives > 0);
    std::fs::remove_dir_all(p.join("out")).unwrap();
    relabel(p, |_, label| {
        if label == "1" {
            "1.0".into()
        } else {
            "0.0".into()
        }
    });
    let written = run_suite(&project.options(), &harness_pipeline::Silent).unwrap();
    assert_eq!(written.eval.unwrap().binary().unwrap().positives, positives);
    std::fs::remove_dir_all(p.join("out")).unwrap();
    // An entry whose `rows` is not its data's number of cases: said, the run goes on.
    let registry = std::fs::read_to_string(p.join("datasets.toml")).unwrap();
    std::fs::write(p.join("datasets.toml"), format!("{registry}rows = 13\n")).unwrap();
    let recorder = Recorder::default();
    run_suite(&project.options(), &recorder).unwrap();
    let events = recorder.events.into_inner().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.contains("rows = 13, but its data hold 12 cases")),
        "{events:?}"
    );
    std::fs::write(p.join("datasets.toml"), registry).unwrap();
    std::fs::remove_dir_all(p.join("out")).unwrap();
    // A header written with spaces after its commas names ' label': said so.
    let labels = p.join("data/lesions/labels.csv");
    let text = std::fs::read_to_string(&labels).unwrap();
    std::fs::write(&labels, text.replacen("image,label,", "image, label,", 1)).unwrap();
    repin(p);
    let err = run_suite(&project.options(), &harness_pipeline::Silent)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no column 'label'") && err.contains("did you mean ' label'"),
        "{err}"
    );
    std::fs::write(&labels, text).unwrap();
    repin(p);
    for (coded, says) in [
        ("-1", "column 'label' has '-1': a third label value"),
        (
            "uncertain",
            "column 'label' has 'uncertain': not a finite number",
        ),
    ] {
        relabel(
            p,
            |i, label| if i == 5 { coded.into() } else { label.into() },
        );
        let err = run_suite(&project.options(), &harness_pipeline::Silent)
            .unwrap_err()
            .to_string();
        assert!(err.contains(":7: ") && err.contains(says), "{err}");
        relabel(p, |i, label| if i == 5 { "0".into() } else { label.into() });
    }
}

/// A dataset that mixes 8- and 16-bit images is refused, naming a case of each depth: one
/// preprocessing `scale` would feed the 16-bit ones values up to 257 times too large.
#[test]
fn a_dataset_mixing_bit_depths_is_refused_naming_the_cases() {
    let project = Project::new(12, &[("a", "vendor-a.onnx", GREY64, PROB, "\"tract\"")], "");
    let p = project.path();
    let path = p.join("data/lesions/images/c0004.png");
    let grey = image::open(&path).unwrap().to_luma8();
    let wide = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_fn(
        grey.width(),
        grey.height(),
        |x, y| image::Luma([u16::from(grey.get_pixel(x, y)[0]) * 257]),
    );
    wide.save(&path).unwrap();
    repin(p);
    let err = run_suite(&project.options(), &harness_pipeline::Silent).unwrap_err();
    assert!(
        matches!(
            &err,
            harness_pipeline::PipelineError::MixedBitDepth { first, first_bits: 8, case, bits: 16 }
                if first == "c0001" && case == "c0004"
        ),
        "{err}"
    );
}

/// A cross-check engine that cannot serve a candidate (candle lacks the DenseNet export's Pad
/// modes) leaves the candidate evaluated on its primary engine; the manifest records the
/// engine's failure and the report's limits say the agreement was measured without it.
#[test]
fn a_cross_check_engine_that_cannot_run_the_model_is_a_limit() {
    const RGB224: &str = "{ size = [224, 224], channels = 3, channel_order = \"rgb\", scale = 0.00392156862745098, layout = \"nchw\" }";
    let output = "{ kind = \"probability\", positive_index = 1 }";
    let project = Project::new(
        4,
        &[(
            "d",
            "densenet-style.onnx",
            RGB224,
            output,
            "\"tract\", \"candle\"",
        )],
        "batch_size = 2",
    );
    let outcome = run_suite(&project.options(), &harness_pipeline::Silent).unwrap();
    assert!(outcome.candidates[0].outcome.is_ok());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outcome.out_dir.join("manifest.json")).unwrap())
            .unwrap();
    let candle = &manifest["candidates"][0]["backends"][1];
    assert!(
        candle["backend"] == "candle"
            && candle["status"] == "failed"
            && candle["reason"]
                .as_str()
                .unwrap()
                .starts_with("candle: cannot load"),
        "{manifest}"
    );
    let md = std::fs::read_to_string(outcome.out_dir.join("summary.md")).unwrap();
    assert!(
        md.contains("Candidate d: the cross-check engine candle failed (candle: cannot load")
            && md.contains("its agreement with the evaluated engine was not measured"),
        "{md}"
    );
    assert!(!md.contains("cross-check engine tract"), "{md}");
}

/// A run into a folder another run is writing (the same --out twice) is refused before the
/// dataset's check, which reads every file of the dataset, rather than after it; once the
/// other run is done it goes ahead.
#[test]
fn a_run_into_a_folder_being_written_is_refused_before_the_dataset_check() {
    let project = Project::new(
        4,
        &[("a", "vendor-a.onnx", GREY64, PROB, "\"tract\"")],
        "batch_size = 2",
    );
    let out = project.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let other_run = harness_evidence::bundle::FolderLock::take_existing(&out)
        .unwrap()
        .unwrap();
    let recorder = Recorder::default();
    let err = run_suite(&project.options(), &recorder).unwrap_err();
    assert!(
        err.to_string()
            .contains("another harness process is writing"),
        "{err}"
    );
    let events = recorder.events.into_inner().unwrap();
    assert!(
        !events.iter().any(|e| e.contains("verifying dataset")),
        "{events:?}"
    );
    drop(other_run);
    let recorder = Recorder::default();
    let outcome = run_suite(&project.options(), &recorder).unwrap();
    assert!(outcome.out_dir.join("manifest.json").is_file());
    let events = recorder.events.into_inner().unwrap();
    assert!(
        events.iter().any(|e| e.contains("verifying dataset")),
        "{events:?}"
    );
}

/// Images whose files say they are to be turned for display (an EXIF Orientation tag, as
/// clinical photographs carry): a candidate that takes them as stored (the default, as PIL's
/// `Image.open` reads them) is warned, naming how many and the first; one declaring
/// `exif_orientation = "apply"` scores them upright, exactly as it scores the upright image.
#[test]
fn exif_orientation_is_applied_when_asked_and_warned_of_when_not() {
    use image::ImageEncoder;
    let apply = GREY64.replace(" }", ", exif_orientation = \"apply\" }");
    let project = Project::new(
        6,
        &[
            ("stored", "vendor-a.onnx", GREY64, PROB, "\"tract\""),
            ("upright", "vendor-a.onnx", &apply, PROB, "\"tract\""),
        ],
        "batch_size = 3",
    );
    let p = project.path();
    let labels = std::fs::read_to_string(p.join("data/lesions/labels.csv")).unwrap();
    let rows: Vec<Vec<String>> = labels
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let (case_3, image_3) = (&rows[2][0], &rows[2][1]);
    // Case 3's image is stored turned 90° anticlockwise, its file saying "turn 90° clockwise
    // to display" (EXIF 6): upright, it is the image the other cases' runs score.
    let before = upright_scores(&project);
    let path = p.join("data/lesions").join(image_3);
    let upright = image::open(&path).unwrap().into_luma8();
    let stored = image::imageops::rotate270(&upright);
    // A little-endian EXIF block: the TIFF header, one IFD entry (Orientation, SHORT, 6).
    let exif = b"II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0\0\0\0\0".to_vec();
    let mut bytes = Vec::new();
    let mut enc = image::codecs::png::PngEncoder::new(&mut bytes);
    enc.set_exif_metadata(exif).unwrap();
    enc.write_image(stored.as_raw(), 64, 64, image::ExtendedColorType::L8)
        .unwrap();
    std::fs::write(&path, bytes).unwrap();
    repin(p);
    let recorder = Recorder::default();
    let outcome = run_suite(&project.options(), &recorder).unwrap_or_else(|e| panic!("{e}"));
    let events = recorder.events.into_inner().unwrap();
    let warned = |name: &str| {
        events.iter().any(|e| {
            e.contains(&format!(
                "candidate {name}: 1 of 6 images carry an EXIF Orientation tag (the first, case '{case_3}': turned 90° clockwise to display) that its preprocess ignores"
            ))
        })
    };
    assert!(warned("stored") && !warned("upright"), "{events:?}");
    let rows = predictions(&outcome.out_dir);
    let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    let (stored_col, upright_col) = (col("stored"), col("upright"));
    for (k, row) in rows[1..].iter().enumerate() {
        assert_eq!(row[upright_col], before[k], "case {k}: scored upright");
        if k == 2 {
            assert_ne!(
                row[stored_col], row[upright_col],
                "the model sees it turned"
            );
        } else {
            assert_eq!(row[stored_col], row[upright_col], "case {k}");
        }
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outcome.out_dir.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(
        manifest["candidates"][0]["warnings"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert!(
        manifest["candidates"][1]["warnings"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
    assert_eq!(
        manifest["inference"]["turned_images"],
        serde_json::json!({"count": 1, "first_case": case_3, "first_row": 2, "first_exif": 6})
    );
    // Sharded three ways (the tagged image in shard 3, as row 0) and merged, the run says the
    // same: the shards' own counts give way to the whole run's.
    use harness_pipeline::merge::{MergeOptions, merge};
    let mut parts = Vec::new();
    for i in 1..=3 {
        let mut o = project.options();
        o.out = Some(p.join(format!("part-{i}")));
        o.shard = Some(harness_evidence::shard::Shard::parse(&format!("{i}/3"), |_| None).unwrap());
        parts.push(run_suite(&o, &harness_pipeline::Silent).unwrap().out_dir);
    }
    let merged = merge(
        &MergeOptions {
            parts,
            out: p.join("merged"),
            ..MergeOptions::default()
        },
        &harness_pipeline::Silent,
    )
    .unwrap();
    let merged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(merged.out_dir.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(
        merged["candidates"][0]["warnings"],
        manifest["candidates"][0]["warnings"]
    );
    assert_eq!(
        merged["candidates"][1]["warnings"],
        manifest["candidates"][1]["warnings"]
    );
    assert_eq!(
        merged["inference"]["turned_images"],
        manifest["inference"]["turned_images"]
    );
    // A federated site's bundle says how many images are turned, naming no case or row.
    let mut o = project.options();
    o.out = Some(p.join("site"));
    o.site = Some("hospital-a".into());
    o.min_level_cases = Some(1); // six cases in all
    let site = run_suite(&o, &harness_pipeline::Silent).unwrap().out_dir;
    let site_manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(site.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        site_manifest["inference"]["turned_images"],
        serde_json::json!({"count": 1, "first_exif": 6})
    );
    let warning = site_manifest["candidates"][0]["warnings"][0]
        .as_str()
        .unwrap();
    assert!(
        warning.starts_with(
            "1 of 6 images carry an EXIF Orientation tag (the first: turned 90° clockwise"
        ),
        "{warning}"
    );
    for file in std::fs::read_dir(&site).unwrap() {
        let file = file.unwrap().path();
        if file.is_file() {
            let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
            assert!(
                !text.contains(case_3.as_str()),
                "{} names {case_3}",
                file.display()
            );
        }
    }
    // Pooled with a second site (the same bundle under another name, with two turned images
    // of its six and another warning), the coordinator says it once per candidate, summed
    // over the sites; any other warning with the sites that gave it.
    use harness_pipeline::pooled::{SiteRun, site_run_warnings};
    let site_a: harness_evidence::Manifest = serde_json::from_value(site_manifest).unwrap();
    let mut site_b = site_a.clone();
    let turned = site_b
        .inference
        .as_mut()
        .unwrap()
        .turned_images
        .as_mut()
        .unwrap();
    turned.count = 2;
    site_b.candidates[0].warnings = vec![turned.warning(6)];
    site_b.candidates[1].warnings = vec!["another warning".into()];
    let warnings = site_run_warnings(&[
        SiteRun {
            name: "hospital-a",
            manifest: &site_a,
        },
        SiteRun {
            name: "hospital-b",
            manifest: &site_b,
        },
    ]);
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    assert!(
        warnings[0].starts_with(
            "candidate 'stored' at sites 'hospital-a', 'hospital-b' (2 of 2): 3 of 12 images carry an EXIF Orientation tag (the first: turned 90° clockwise"
        ),
        "{warnings:#?}"
    );
    assert_eq!(
        warnings[1],
        "candidate 'upright' at site 'hospital-b' (1 of 2): another warning"
    );
}

/// A candidate that fails at a case is recorded naming the case in a run's manifest; a
/// federated site's bundle, which names no case, says "a case" (the terminal says which).
#[test]
fn a_failure_at_a_case_names_it_except_in_a_site_bundle() {
    let overflow = GREY64.replace("scale = 0.00392156862745098", "scale = 3.0e38");
    let project = Project::new(
        6,
        &[
            ("a", "vendor-a.onnx", GREY64, PROB, "\"tract\""),
            ("b", "vendor-a.onnx", &overflow, PROB, "\"tract\""),
        ],
        "batch_size = 3",
    );
    let labels = std::fs::read_to_string(project.path().join("data/lesions/labels.csv")).unwrap();
    let first = labels
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let reason = |dir: &Path| {
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
        m["candidates"][1]["reason"].as_str().unwrap().to_string()
    };
    let run = run_suite(&project.options(), &harness_pipeline::Silent).unwrap();
    let named = reason(&run.out_dir);
    assert!(
        named.starts_with(&format!("case {first} (#0): ")),
        "{named}"
    );
    let mut o = project.options();
    o.out = Some(project.path().join("site"));
    o.site = Some("hospital-a".into());
    o.min_level_cases = Some(1);
    let recorder = Recorder::default();
    let site = run_suite(&o, &recorder).unwrap();
    let anonymous = reason(&site.out_dir);
    assert!(anonymous.starts_with("a case: "), "{anonymous}");
    assert!(!anonymous.contains(&first), "{anonymous}");
    let events = recorder.events.into_inner().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.contains(&format!("at case {first} (#0) (not recorded"))),
        "{events:?}"
    );
}

/// The "upright" candidate's scores (column values of predictions.csv, in case order) of a
/// run of `project` as it is now, in a bundle folder of its own.
fn upright_scores(project: &Project) -> Vec<String> {
    let mut o = project.options();
    o.out = Some(project.path().join("before"));
    let outcome = run_suite(&o, &harness_pipeline::Silent).unwrap();
    let rows = predictions(&outcome.out_dir);
    let col = rows[0].iter().position(|c| c == "upright").unwrap();
    rows[1..].iter().map(|r| r[col].clone()).collect()
}

/// A model that ends in a softmax, declared `kind = "softmax"`, would have a second softmax
/// applied to its probabilities: the run warns, naming the candidate; declared `probability`,
/// it does not.
#[test]
fn a_softmax_over_probabilities_is_warned_of() {
    const RGB224: &str = "{ size = [224, 224], channels = 3, channel_order = \"rgb\", scale = 0.00392156862745098, mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225], layout = \"nchw\" }";
    for (kind, warned) in [("softmax", true), ("probability", false)] {
        let output = format!("{{ kind = \"{kind}\", positive_index = 1 }}");
        let project = Project::new(
            6,
            &[("d", "densenet-style.onnx", RGB224, &output, "\"tract\"")],
            "batch_size = 3",
        );
        let recorder = Recorder::default();
        let outcome = run_suite(&project.options(), &recorder).unwrap_or_else(|e| panic!("{e}"));
        let events = recorder.events.into_inner().unwrap();
        assert_eq!(
            events.iter().any(|e| e
                .contains("candidate d: every output row is already non-negative and sums to 1")),
            warned,
            "{kind}: {events:?}"
        );
        // It stays with the evidence: the manifest's candidate and the report's limits.
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(outcome.out_dir.join("manifest.json")).unwrap())
                .unwrap();
        let recorded = manifest["candidates"][0]["warnings"].as_array();
        assert_eq!(recorded.is_some_and(|w| w.len() == 1), warned, "{manifest}");
        let html = std::fs::read_to_string(outcome.out_dir.join("report.html")).unwrap();
        assert_eq!(
            html.contains("Candidate d: every output row is already non-negative"),
            warned,
            "{kind}"
        );
    }
}

/// A dataset of TIFF files scores as its PNGs did. Each case's file holds two pages (the
/// image, then its negative) and a thumbnail, which is not a page: read as one image they are
/// refused naming the file; `frames = 1` scores the negatives; `frames = "all"` makes each page
/// its own case, `<case>#0` scoring exactly as the PNG.
#[test]
fn a_tiff_dataset_scores_as_its_pngs_page_by_page() {
    use tiff::encoder::{Compression, TiffEncoder, colortype::Gray8};
    use tiff::tags::Tag;
    let project = Project::new(
        6,
        &[("a", "vendor-a.onnx", GREY64, PROB, "\"tract\"")],
        "batch_size = 3",
    );
    let p = project.path();
    let data = p.join("data/lesions");
    let png_scores: Vec<String> = predictions(
        &run_suite(&project.options(), &harness_pipeline::Silent)
            .unwrap()
            .out_dir,
    )[1..]
        .iter()
        .map(|r| r[r.len() - 1].clone())
        .collect();
    let labels = std::fs::read_to_string(data.join("labels.csv")).unwrap();
    for line in labels.lines().skip(1) {
        let image = line.split(',').nth(1).unwrap();
        let grey = image::open(data.join(image)).unwrap().into_luma8();
        let negative: Vec<u8> = grey.as_raw().iter().map(|v| 255 - v).collect();
        let mut out = std::io::Cursor::new(Vec::new());
        let mut enc = TiffEncoder::new(&mut out)
            .unwrap()
            .with_compression(Compression::Lzw);
        enc.write_image::<Gray8>(64, 64, grey.as_raw()).unwrap();
        let mut thumbnail = enc.new_image::<Gray8>(2, 2).unwrap();
        thumbnail
            .encoder()
            .write_tag(Tag::NewSubfileType, 1u32)
            .unwrap();
        thumbnail.write_data(&[0, 64, 128, 255]).unwrap();
        enc.write_image::<Gray8>(64, 64, &negative).unwrap();
        std::fs::remove_file(data.join(image)).unwrap();
        std::fs::write(data.join(image.replace(".png", ".tif")), out.into_inner()).unwrap();
    }
    // Each file is one patient's: a copy of the id column is the patient column.
    let labels: String = labels
        .replace(".png", ".tif")
        .lines()
        .enumerate()
        .map(|(i, l)| match i {
            0 => format!("{l},patient\n"),
            _ => format!("{l},{}\n", l.split(',').next().unwrap()),
        })
        .collect();
    std::fs::write(data.join("labels.csv"), labels).unwrap();
    repin(p);
    // Refused at the first case decoded (the decoders run in parallel: any of the six).
    let err = run_suite(&project.options(), &harness_pipeline::Silent).unwrap_err();
    assert!(
        err.to_string().contains("images/c000")
            && err
                .to_string()
                .contains(".tif: unsupported TIFF image: 2 pages"),
        "{err}"
    );
    let registry = std::fs::read_to_string(p.join("datasets.toml")).unwrap();
    let with = |frames: &str| {
        std::fs::write(
            p.join("datasets.toml"),
            format!("{registry}frames = {frames}\ncluster = \"patient\"\n"),
        )
        .unwrap();
        predictions(
            &run_suite(&project.options(), &harness_pipeline::Silent)
                .unwrap_or_else(|e| panic!("{e}"))
                .out_dir,
        )
    };
    let negatives: Vec<String> = with("1")[1..]
        .iter()
        .map(|r| r[r.len() - 1].clone())
        .collect();
    assert_eq!(negatives.len(), 6);
    assert_ne!(negatives, png_scores);
    let pages = with("\"all\"");
    assert_eq!(pages.len(), 13, "two pages of six cases, and the header");
    for (k, row) in pages[1..].iter().enumerate() {
        let (case, page) = (k / 2, k % 2);
        assert!(row[0].ends_with(&format!("#{page}")), "{row:?}");
        let want = if page == 0 {
            &png_scores[case]
        } else {
            &negatives[case]
        };
        assert_eq!(&row[row.len() - 1], want, "case {case}, page {page}");
    }
}
