//! `harness eval --task multilabel` and `--cluster` through the binary: the aggregates agree
//! with a direct O(N²) Mann–Whitney count written here, and bad cluster columns are refused.

mod common;

use common::mann_whitney as auroc;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// A seeded multi-label case: findings `eff` (common), `nod` (rarer) and `pnx` (never
/// positive), 1–3 images per patient, scores on a 0.001 grid (ties).
fn write_case(path: &Path) -> (Vec<[bool; 3]>, Vec<[f64; 3]>) {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut text = String::from("case_id,patient,y_eff,y_nod,y_pnx,a_eff,a_nod,a_pnx\n");
    let (mut labels, mut scores) = (Vec::new(), Vec::new());
    let mut patient = 0;
    for case in 0..150 {
        if next() < 0.5 {
            patient += 1;
        }
        let y = [next() < 0.35, next() < 0.2, false];
        let s =
            y.map(|p| ((0.3 * f64::from(u8::from(p)) + 0.7 * next()) * 1000.0).round() / 1000.0);
        text.push_str(&format!(
            "{case},P{patient},{},{},{},{},{},{}\n",
            u8::from(y[0]),
            u8::from(y[1]),
            u8::from(y[2]),
            s[0],
            s[1],
            s[2]
        ));
        labels.push(y);
        scores.push(s);
    }
    std::fs::write(path, text).unwrap();
    (labels, scores)
}

fn eval(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("eval")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn multilabel_macro_and_micro_match_a_direct_count() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("ml.csv");
    let json = dir.path().join("ml.json");
    let (labels, scores) = write_case(&csv);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut ids: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let patients = ids.len() as u64;
    let out = eval(&[
        "--task",
        "multilabel",
        "--data",
        csv.to_str().unwrap(),
        "--finding",
        "eff=y_eff:a_eff",
        "--finding",
        "nod=y_nod:a_nod",
        "--finding",
        "pnx=y_pnx:a_pnx",
        "--cluster",
        "patient",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(r["task"], "multilabel");
    let column = |k: usize| -> (Vec<bool>, Vec<f64>) {
        (
            labels.iter().map(|y| y[k]).collect(),
            scores.iter().map(|s| s[k]).collect(),
        )
    };
    let per: Vec<Option<f64>> = (0..3)
        .map(|k| {
            let (y, s) = column(k);
            auroc(&y, &s)
        })
        .collect();
    for (k, name) in ["eff", "nod", "pnx"].iter().enumerate() {
        let got = r["findings"][name]["a"]["auroc"].as_f64();
        match per[k] {
            Some(want) => assert!((got.unwrap() - want).abs() < 1e-12, "{name}"),
            None => {
                assert!(got.is_none(), "{name}: one class, AUROC must be null");
                assert!(r["findings"][name]["a"]["auroc_reason"].is_string());
            }
        }
        // Clustered statistics next to the image-level ones, for each defined finding.
        let cl = &r["findings"][name]["a"]["clustered"];
        assert_eq!(cl["n_clusters"].as_u64(), Some(patients), "{name}: {cl}");
    }
    let defined: Vec<f64> = per.iter().flatten().copied().collect();
    let macro_want = defined.iter().sum::<f64>() / defined.len() as f64;
    let m = &r["models"]["a"];
    assert!((m["auroc_macro"].as_f64().unwrap() - macro_want).abs() < 1e-12);
    assert_eq!(m["n_findings_excluded"], 1);
    assert_eq!(m["findings_excluded"], serde_json::json!(["pnx"]));
    let pooled = |keep: &[usize]| {
        let (mut y, mut s) = (Vec::new(), Vec::new());
        for &k in keep {
            let (yk, sk) = column(k);
            y.extend(yk);
            s.extend(sk);
        }
        auroc(&y, &s).unwrap()
    };
    assert!((m["auroc_micro"].as_f64().unwrap() - pooled(&[0, 1, 2])).abs() < 1e-12);
    assert!((m["auroc_micro_defined_only"].as_f64().unwrap() - pooled(&[0, 1])).abs() < 1e-12);

    // The gate speaks the task: aggregates and `<metric>.<finding>`, exit 1 on a miss, 2 on a
    // key the task does not know.
    let base = [
        "--task",
        "multilabel",
        "--data",
        csv.to_str().unwrap(),
        "--finding",
        "eff=y_eff:a_eff",
        "--finding",
        "nod=y_nod:a_nod",
        "--finding",
        "pnx=y_pnx:a_pnx",
    ];
    let gate = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        eval(&args)
    };
    let low = format!("auroc_macro={}", macro_want - 0.01);
    let out = gate(&["--fail-under", &low]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let high = format!("auroc.eff={}", per[0].unwrap() + 0.01);
    let out = gate(&["--fail-under", &high]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("auroc.eff = ") && err.contains("is below"),
        "{err}"
    );
    let out = gate(&["--fail-under", "auroc.pnx=0.5"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an undefined AUROC cannot pass: {err}"
    );
    let out = gate(&["--fail-under", "auroc.lungs=0.5"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("unknown metric 'auroc.lungs'"), "{err}");
    // A finding's criterion the evaluation cannot give (no such grouping, a specificity not
    // targeted) is a mistake in the command, exit 2 as for a binary evaluation, not a FAIL.
    for (key, why) in [
        ("auroc_gap.site.nod=0.1", "'site' is not a grouping column"),
        (
            "sens_at_spec_0.95.eff=0.5",
            "0.95 is not among the target specificities",
        ),
    ] {
        let out = gate(&["--fail-over", key]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key}: {err}");
        assert!(err.contains(why), "{key}: {err}");
    }
}

#[test]
fn a_cluster_column_with_an_empty_patient_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("c.csv");
    std::fs::write(
        &csv,
        "case_id,patient,label,score\n1,P1,1,0.9\n2,P1,0,0.2\n3,,1,0.7\n4,P2,0,0.4\n5,P3,1,0.6\n6,P3,0,0.1\n",
    )
    .unwrap();
    let out = eval(&[
        "--data",
        csv.to_str().unwrap(),
        "--label",
        "label",
        "--score",
        "score",
        "--cluster",
        "patient",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cluster column 'patient'")
            && err.contains("line 4 (data row 3) of")
            && err.contains("has no patient id"),
        "{err}"
    );
    // The patient column given as the label too: named as given.
    let out = eval(&[
        "--data",
        csv.to_str().unwrap(),
        "--label",
        "label",
        "--score",
        "score",
        "--cluster",
        "label",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--cluster label is also a --label column"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ... or as a finding's label column.
    let out = eval(&[
        "--task",
        "multilabel",
        "--data",
        csv.to_str().unwrap(),
        "--finding",
        "x=label:score",
        "--cluster",
        "label",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--cluster label is also a --finding column"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A task flag that does not belong to the task is a usage error, not silently ignored.
    let out = eval(&[
        "--data",
        csv.to_str().unwrap(),
        "--label",
        "label",
        "--score",
        "score",
        "--finding",
        "x=label:score",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--finding is for --task multilabel, not binary")
    );
}

/// With `--cluster`, each subgroup level gets the patient-clustered statistics of its own cases:
/// the same numbers as evaluating only that level's rows with `--cluster`.
#[test]
fn subgroup_levels_get_their_own_patient_clustered_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    let header = "case_id,patient,site,label,score\n";
    let (mut all, mut site_a) = (String::from(header), String::from(header));
    for case in 0..240 {
        let patient = case / 3;
        let site = if patient % 2 == 0 { "A" } else { "B" };
        let y = next() < 0.4;
        let s = ((0.35 * f64::from(u8::from(y)) + 0.65 * next()) * 1000.0).round() / 1000.0;
        let row = format!("{case},P{patient},{site},{},{s}\n", u8::from(y));
        all.push_str(&row);
        if site == "A" {
            site_a.push_str(&row);
        }
    }
    let run = |name: &str, text: &str, extra: &[&str]| -> (Value, String) {
        let csv = dir.path().join(format!("{name}.csv"));
        let json = dir.path().join(format!("{name}.json"));
        std::fs::write(&csv, text).unwrap();
        let mut args = vec![
            "--data",
            csv.to_str().unwrap(),
            "--label",
            "label",
            "--score",
            "score",
            "--cluster",
            "patient",
            "--json",
            json.to_str().unwrap(),
        ];
        args.extend(extra);
        let out = eval(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (whole, table) = run("all", &all, &["--group", "site"]);
    let (only_a, _) = run("a", &site_a, &[]);
    // The printed table shows the clustered CI, and says so.
    let m = &whole["models"]["score"];
    let ci = |k: usize| {
        harness_report::format::fixed(
            m["clustered"]["auroc_ci95_obuchowski"][k].as_f64().unwrap(),
            3,
        )
    };
    let delong =
        |k: usize| harness_report::format::fixed(m["auroc_ci95_delong"][k].as_f64().unwrap(), 3);
    assert!(table.contains("240 images from 80 patients"), "{table}");
    assert!(
        table.contains("AUROC [95% CI, patient-clustered]"),
        "{table}"
    );
    assert!(
        table.contains(&format!("[{}, {}]", ci(0), ci(1))),
        "{table}"
    );
    assert_ne!(
        (ci(0), ci(1)),
        (delong(0), delong(1)),
        "the test needs CIs that differ"
    );
    assert!(
        !table.contains(&format!("[{}, {}]", delong(0), delong(1))),
        "{table}"
    );
    let level = &whole["models"]["score"]["subgroups"]["site"]["A"]["clustered"];
    let direct = &only_a["models"]["score"]["clustered"];
    assert_eq!(level["n_clusters"], 40, "{level}");
    for k in ["auroc_var_obuchowski", "s10", "s01", "s11"] {
        let (a, b) = (level[k].as_f64().unwrap(), direct[k].as_f64().unwrap());
        assert!((a - b).abs() < 1e-15, "{k}: {a} vs {b}");
    }
    assert_eq!(
        level["auroc_ci95_obuchowski"],
        direct["auroc_ci95_obuchowski"]
    );
    // With a bootstrap, the table's bootstrap column is the cluster bootstrap's (patients
    // drawn with replacement), not the image-level one, which is too narrow.
    let (boot, table) = run("boot", &all, &["--bootstrap", "300"]);
    let m = &boot["models"]["score"];
    let shown = |ci: &Value| {
        let f = |k: usize| harness_report::format::fixed(ci[k].as_f64().unwrap(), 3);
        format!("[{}, {}]", f(0), f(1))
    };
    let clustered = shown(&m["clustered"]["bootstrap"]["ci95"]);
    let image_level = shown(&m["bootstrap"]["ci95"]);
    assert_ne!(clustered, image_level, "the test needs CIs that differ");
    assert!(table.contains("patients resampled"), "{table}");
    assert!(table.contains(&clustered), "{table}");
    assert!(!table.contains(&image_level), "{table}");
}

/// Multi-class input errors name the file, the line (a blank line counted), the data row and the
/// columns, with exit 2: a row whose probabilities do not sum to 1 (never renormalised) and a
/// label no class flag names.
#[test]
fn multiclass_rows_that_do_not_sum_to_one_are_refused_by_row() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("mc.csv");
    std::fs::write(
        &csv,
        "case_id,label,p_x,p_y,p_z\n\n1,x,0.7,0.2,0.1\n2,y,0.2,0.5,0.2\n3,z,0.1,0.1,0.8\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--task",
            "multiclass",
            "--data",
            csv.to_str().unwrap(),
            "--label",
            "label",
        ];
        args.extend_from_slice(extra);
        eval(&args)
    };
    let classes = [
        "--class-score",
        "x=p_x",
        "--class-score",
        "y=p_y",
        "--class-score",
        "z=p_z",
    ];
    let out = run(&classes);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("mc.csv: line 4 (data row 2): model a's class probabilities (p_x=0.2, p_y=0.5, p_z=0.2) sum to 0.9"),
        "{err}"
    );
    let out = run(&[
        "--class-score",
        "x=p_x",
        "--class-score",
        "y=p_y",
        "--class-score",
        "w=p_z",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("mc.csv: line 5 (data row 3): label 'z'")
            && err.contains("not one of the classes x, y, w"),
        "{err}"
    );
    // A binary-only option would be ignored: refused instead.
    for (flag, value) in [("--threshold", "0.3"), ("--target-specificity", "0.95")] {
        let out = run(&[&classes[..], &[flag, value]].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!("{flag} is not used by --task multiclass")),
            "{err}"
        );
    }
    // The class label column missing from the header is named as the label, with the column
    // it may have meant.
    let mut args = vec![
        "--task",
        "multiclass",
        "--data",
        csv.to_str().unwrap(),
        "--label",
        "Label",
    ];
    args.extend_from_slice(&classes);
    let out = eval(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("label column 'Label'") && !err.contains("group column"),
        "{err}"
    );
}

/// `harness compare` of two runs on a dataset that declares its patient column: the paired
/// tests it prints are the patient-clustered ones (Obuchowski), not the image-level DeLong ones.
#[test]
fn compare_uses_the_patient_clustered_tests_where_the_dataset_declares_patients() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let root = common::root();
    let data = p.join("data");
    std::fs::create_dir_all(data.join("images")).unwrap();
    let src = root.join("data/synthetic-lesions");
    let labels = std::fs::read_to_string(src.join("labels.csv")).unwrap();
    let mut out = String::new();
    for (i, line) in labels.lines().enumerate().take(61) {
        if i == 0 {
            out.push_str(&format!("{line},patient\n"));
        } else {
            // Three images per patient.
            out.push_str(&format!("{line},P{}\n", (i - 1) / 3));
            let img = line.split(',').nth(1).unwrap();
            std::fs::copy(src.join(img), data.join(img)).unwrap();
        }
    }
    std::fs::write(data.join("labels.csv"), out).unwrap();
    let digest = harness_data::registry::folder_sha256(&data).unwrap();
    std::fs::write(
        p.join("datasets.toml"),
        format!(
            "[datasets.d]\ntitle = \"t\"\nformat = \"image-folder\"\npath = \"data\"\nlabels = \"labels.csv\"\n\
             id_column = \"case_id\"\nimage_column = \"image\"\nlabel = \"label\"\npositive_class = \"1\"\nlabel_meaning = \"1 = lesion\"\n\
             cluster = \"patient\"\nsha256 = \"{digest}\"\nsynthetic = true\nlicence = \"CC0-1.0\"\nprovenance = \"test\"\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(p.join("models")).unwrap();
    let grey = "{ size = [64, 64], channels = 1, channel_order = \"gray\", scale = 0.00392156862745098, mean = [0.5], std = [0.25], layout = \"nchw\" }";
    let run = |name: &str, model: &str, output: &str| -> std::path::PathBuf {
        std::fs::copy(
            root.join("models").join(model),
            p.join("models").join(model),
        )
        .unwrap();
        let sha = harness_data::registry::sha256_hex(
            &std::fs::read(p.join("models").join(model)).unwrap(),
        );
        let suite = p.join(format!("{name}.toml"));
        std::fs::write(
            &suite,
            format!(
                "name = \"{name}\"\nversion = \"1\"\ndataset = \"d\"\n[inference]\nprimary_backend = \"tract\"\n\
                 [metrics]\nbootstrap = 0\nseed = 7\nsubgroups = []\n[performance]\nskip = true\n\
                 [[candidates]]\nname = \"{name}\"\nmodel = \"models/{model}\"\nsha256 = \"{sha}\"\nbackends = [\"tract\"]\n\
                 preprocess = {grey}\noutput = {output}\n"
            ),
        )
        .unwrap();
        let bundle = p.join(format!("run-{name}"));
        let o = common::harness()
            .arg("run")
            .arg(&suite)
            .arg("--no-perf")
            .arg("--out")
            .arg(&bundle)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        bundle
    };
    let a = run(
        "a",
        "vendor-a.onnx",
        "{ kind = \"probability\", positive_index = 0 }",
    );
    let b = run(
        "b",
        "vendor-b.onnx",
        "{ kind = \"logit\", positive_index = 0 }",
    );
    let o = common::harness()
        .arg("compare")
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.contains("60 images from 20 patients"), "{text}");
    assert!(
        text.contains("comparison (paired, patient-clustered)"),
        "{text}"
    );
}

/// A subgroup column whose levels differ only in case or surrounding spaces (as spreadsheets
/// produce) is evaluated as written, with a warning naming the column and the levels; patient
/// ids are identifiers, which may differ in case, but not in surrounding spaces only. The
/// warnings are kept in the JSON with the others.
#[test]
fn look_alike_subgroup_levels_are_warned() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("la.csv");
    let json = dir.path().join("la.json");
    std::fs::write(
        &csv,
        "label,score,sex,patient\n1,0.9,F,p1\n0,0.1,F ,P1\n1,0.8,M,p2\n0,0.2,M, p2\n1,0.6,F,p4\n0,0.4,M,p5\n",
    )
    .unwrap();
    let out = eval(&[
        "--data",
        csv.to_str().unwrap(),
        "--label",
        "label",
        "--score",
        "score",
        "--group",
        "sex",
        "--cluster",
        "patient",
        "--json",
        json.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let levels = "subgroup column 'sex': levels 'F' / 'F ' differ only in case, surrounding spaces or Unicode form";
    let ids = "patient column 'patient': 1 id(s) differ only in surrounding spaces (' p2' / 'p2')";
    assert!(err.contains(levels), "{err}");
    assert!(err.contains(ids), "{err}");
    assert!(!err.contains("'p1' / 'P1'"), "{err}");
    let r: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let warnings: Vec<&str> = r["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    for want in [levels, ids] {
        assert!(warnings.iter().any(|w| w.contains(want)), "{warnings:?}");
    }
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{} warning(s)", warnings.len())),
        "{text}"
    );
}

/// The same warning for the multi-class and multi-label tasks, whose subgroup columns are read
/// by their own readers.
#[test]
fn look_alike_subgroup_levels_are_warned_for_every_task() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("tasks.csv");
    std::fs::write(
        &csv,
        "y,pa,pb,pc,f1,s1,f2,s2,site\n\
         a,0.7,0.2,0.1,1,0.9,0,0.2,North\n\
         b,0.2,0.7,0.1,0,0.1,1,0.8,north\n\
         c,0.1,0.2,0.7,1,0.8,0,0.3,South\n\
         a,0.6,0.3,0.1,0,0.3,1,0.7,North\n\
         b,0.3,0.6,0.1,1,0.7,0,0.1,South\n\
         c,0.2,0.2,0.6,0,0.2,1,0.9,north\n",
    )
    .unwrap();
    let data = csv.to_str().unwrap();
    let multiclass = eval(&[
        "--task",
        "multiclass",
        "--data",
        data,
        "--label",
        "y",
        "--class-score",
        "a=pa",
        "--class-score",
        "b=pb",
        "--class-score",
        "c=pc",
        "--group",
        "site",
    ]);
    let multilabel = eval(&[
        "--task",
        "multilabel",
        "--data",
        data,
        "--finding",
        "f1=f1:s1",
        "--finding",
        "f2=f2:s2",
        "--group",
        "site",
    ]);
    let site_json = dir.path().join("site.json");
    let multiclass_site = eval(&[
        "--task",
        "multiclass",
        "--data",
        data,
        "--label",
        "y",
        "--class-score",
        "a=pa",
        "--class-score",
        "b=pb",
        "--class-score",
        "c=pc",
        "--group",
        "site",
        "--aggregates-only",
        "--site",
        "S",
        "--min-level-cases",
        "1",
        "--json",
        site_json.to_str().unwrap(),
    ]);
    for (task, out) in [
        ("multiclass", multiclass),
        ("multilabel", multilabel),
        ("multiclass site", multiclass_site),
    ] {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{task}: {err}");
        assert!(
            err.contains("subgroup column 'site': levels 'North' / 'north' differ only in case"),
            "{task}: {err}"
        );
    }
}

/// The task flags' mistakes are named for what they are (exit 2): a --finding written as
/// --finding-b is, a --finding-b for an undeclared finding, two findings with one label
/// column, a multi-class flag on the binary task, an empty class label.
#[test]
fn task_flag_mistakes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv");
    std::fs::write(
        &csv,
        "y,pa,pb,pc,y1,s1,y2,s2\na,0.7,0.2,0.1,1,0.9,0,0.2\n,0.2,0.7,0.1,0,0.1,1,0.8\nc,0.1,0.2,0.7,1,0.8,0,0.3\n",
    )
    .unwrap();
    let data = csv.to_str().unwrap();
    let ml = |extra: &[&str]| {
        let mut a = vec!["--task", "multilabel", "--data", data];
        a.extend(extra);
        eval(&a)
    };
    let cases: Vec<(std::process::Output, &str)> = vec![
        (
            ml(&["--finding", "y1:s1"]),
            "--finding 'y1:s1': expected NAME=LABELCOL:SCORECOL",
        ),
        (
            ml(&["--finding", "a=y1:s1", "--finding-b", "zz=s2"]),
            "--finding-b names 'zz', which no --finding declares",
        ),
        (
            ml(&["--finding", "a=y1:s1", "--finding-b", "a=s1"]),
            "--finding-b a=s1: model b's column is model a's ('s1')",
        ),
        (
            ml(&["--finding", "a=y1:s1", "--finding", "b=y1:s2"]),
            "findings 'a' and 'b' both take their labels from column 'y1'",
        ),
        (
            eval(&[
                "--data",
                data,
                "--label",
                "y1",
                "--score",
                "s1",
                "--class-score",
                "a=pa",
            ]),
            "--class-score is for --task multiclass, not binary",
        ),
        (
            eval(&[
                "--task",
                "multiclass",
                "--data",
                data,
                "--label",
                "y",
                "--class-score",
                "a=pa",
                "--class-score",
                "b=pb",
                "--class-score",
                "c=pc",
            ]),
            "line 3 (data row 2): an empty label (every row needs its class) in column 'y'",
        ),
    ];
    for (out, needle) in cases {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{needle}: {err}");
        assert!(err.contains(needle), "{needle}: {err}");
    }
}

/// Figures that are defined but say less than they seem get a warning in the JSON: a fairness
/// gap over one level, a paired test of a model against its copy, a bootstrap over a class of
/// one case, patient-clustered statistics from a handful of patients. Their values stay as the
/// definitions give them.
#[test]
fn figures_that_say_less_than_they_seem_are_warned() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("w.csv");
    let json = dir.path().join("w.json");
    // Sex M holds both positives; F is all negatives. Three patients.
    let mut text = String::from("case_id,label,score,copy,sex,patient\n");
    for i in 0..30 {
        let (label, score) = match i {
            7 => (1, 0.8),
            9 => (1, 0.3),
            _ => (0, 0.1 + 0.02 * i as f64),
        };
        let sex = if i % 2 == 1 { "M" } else { "F" };
        text.push_str(&format!("c{i},{label},{score},{score},{sex},p{}\n", i % 3));
    }
    std::fs::write(&csv, text).unwrap();
    let data = csv.to_str().unwrap();
    let out = eval(&[
        "--data",
        data,
        "--label",
        "label",
        "--score",
        "score",
        "--score",
        "copy",
        "--group",
        "sex",
        "--bootstrap",
        "50",
        "--cluster",
        "patient",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let warnings = v["warnings"].to_string();
    for needle in [
        "score: fairness sex: only level 'M' has an AUROC",
        "score: fairness sex: only one level has a TPR",
        "comparison score vs copy: the paired AUROC difference is 0 with variance 0",
        "the cases come from 3 patient(s) (cluster column 'patient')",
    ] {
        assert!(warnings.contains(needle), "{needle}: {warnings}");
    }
    assert!(!warnings.contains("bootstrap CI rests on"), "{warnings}");
    // One positive case: the bootstrap draws it in every replicate.
    let one = dir.path().join("one.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    let first_rows: Vec<&str> = text.lines().take(9).collect();
    std::fs::write(&one, first_rows.join("\n") + "\n").unwrap();
    let out = eval(&[
        "--data",
        one.to_str().unwrap(),
        "--label",
        "label",
        "--score",
        "score",
        "--bootstrap",
        "50",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("score: the bootstrap CI rests on 1 positive and 7 negative case(s)"),
        "{err}"
    );
    // The values are the definitions' own.
    assert_eq!(v["models"]["score"]["fairness"]["sex"]["auroc_gap"], 0.0);
    assert_eq!(v["comparisons"][0]["p"], 1.0);
}
