//! Shared pieces of the harness's fuzz targets (`fuzz_targets/*.rs`, run by `ci/fuzz.sh`).
//!
//! Each target feeds raw bytes to one user-facing entry point and checks, besides "no panic,
//! no abort, no runaway allocation", the contract the entry point documents: errors name the
//! file (and, for TOML, a line and column inside the text); accepted input satisfies the
//! invariants the rest of the harness relies on (scores in [0, 1], group codes in range, paths
//! under their root, acceptance criteria that parse, ...). A broken contract is an assertion
//! failure, which libFuzzer reports as a crash like any panic.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, Once, OnceLock};

use harness_backends::{Backend, BackendError, LoadOptions};
use harness_data::{DataError, EvalSpec, EvalTable};

/// Checks a table returned by `parse_eval_csv` against what its documentation promises.
pub fn check_eval_table(table: &EvalTable, path: &Path, spec: &EvalSpec) {
    let n = table.n_rows();
    assert!(n > 0, "a table with no data rows was accepted");
    assert_eq!(table.path, path);
    assert_eq!(
        table.score_names, spec.scores,
        "score columns not in request order"
    );
    assert_eq!(table.scores.len(), spec.scores.len());
    for (name, column) in table.score_names.iter().zip(&table.scores) {
        assert_eq!(
            column.len(),
            n,
            "score column '{name}' has the wrong length"
        );
        for &v in column {
            assert!(
                v.is_finite() && (0.0..=1.0).contains(&v),
                "score {v} outside [0, 1] accepted"
            );
            assert!(
                !(v == 0.0 && v.is_sign_negative()),
                "-0.0 was not stored as 0.0"
            );
        }
    }
    let names: Vec<&str> = table.groups.iter().map(|g| g.name.as_str()).collect();
    let wanted: Vec<&str> = spec.groups.iter().map(String::as_str).collect();
    assert_eq!(names, wanted, "group columns not in request order");
    for g in &table.groups {
        assert_eq!(
            g.codes.len(),
            n,
            "group column '{}' has the wrong length",
            g.name
        );
        assert!(
            g.levels.windows(2).all(|w| w[0] < w[1]),
            "levels of '{}' are not strictly sorted: {:?}",
            g.name,
            g.levels
        );
        let mut used = vec![false; g.levels.len()];
        for &c in &g.codes {
            let c = c as usize;
            assert!(
                c < g.levels.len(),
                "group code {c} out of range in '{}'",
                g.name
            );
            used[c] = true;
        }
        assert!(
            used.iter().all(|&u| u),
            "group '{}' lists a level no row has",
            g.name
        );
        assert!(
            g.levels.iter().all(|l| !l.is_empty()),
            "group '{}' has an empty level name (empty fields are '{}')",
            g.name,
            harness_data::MISSING_LEVEL
        );
    }
}

/// Checks that a CSV error names the file it is about.
pub fn check_data_error(err: &DataError, path: &Path) {
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "error does not name the file: {msg}"
    );
}

/// Checks that a 1-based `(line, column)` reported for `text` lies inside it (or just past its end).
pub fn check_line_col(text: &str, line: usize, column: usize) {
    let lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
    assert!(
        line >= 1 && line <= lines,
        "line {line} outside a text of {lines} line(s)"
    );
    assert!(
        column >= 1 && column <= text.len() + 1,
        "column {column} outside a text of {} bytes",
        text.len()
    );
}

/// Checks that `p` (a path a registry or suite accepted) stays under its root.
pub fn check_contained(p: &str) {
    assert!(!p.is_empty(), "an empty path was accepted");
    for c in Path::new(p).components() {
        assert!(
            matches!(c, Component::Normal(_) | Component::CurDir),
            "path '{p}' escapes its root ({c:?}) but was accepted"
        );
    }
}

/// Replaces libFuzzer's panic hook (which aborts on *every* panic, even one that is caught) by
/// one that only reports: the backends turn a panic inside a third-party engine into
/// `BackendError::Load` with `catch_unwind`, which is the behaviour under test. A panic that
/// escapes the harness still ends the run as a crash: libfuzzer-sys aborts when the target
/// closure unwinds. Each distinct panic location is printed once (at most 20) so that a fuzz
/// log says which engine bugs the wrapper absorbed.
pub fn report_caught_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            static SEEN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
            let at = info.location().map_or_else(|| "?".to_string(), |l| format!("{}:{}", l.file(), l.line()));
            let mut seen = SEEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if seen.len() < 20 && seen.insert(at) {
                eprintln!("harness-fuzz: panic inside the target (fine if caught by the backend wrapper): {info}");
            }
        }));
    });
}

/// The file the model targets write each input to (`Backend::load` takes a path, as the
/// harness does): `$HARNESS_FUZZ_SCRATCH/model-<pid>.onnx`, else in the system temp folder.
/// The file sits alone in its own folder, so ONNX external-data references can only
/// resolve to the model itself.
pub fn scratch_model_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let base =
            std::env::var_os("HARNESS_FUZZ_SCRATCH").map_or_else(std::env::temp_dir, PathBuf::from);
        let dir = base.join(format!("harness-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the scratch folder");
        dir.join("model.onnx")
    })
}

/// Writes `data` as a model file and loads it with `backend` the way `harness run` does.
/// On success the declared input must be describable; on failure a load error must name the file.
pub fn load_model(backend: &dyn Backend, data: &[u8]) {
    let path = scratch_model_path();
    std::fs::write(path, data).expect("write the scratch model");
    match backend.load(path, &LoadOptions::default()) {
        Ok(model) => {
            let input = model.input();
            let _ = input.dims_text();
            let _ = input.check(&[1]);
        }
        Err(e @ BackendError::Load { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&path.display().to_string()),
                "load error does not name the file: {msg}"
            );
        }
        Err(BackendError::Unavailable { .. }) => {}
        Err(e) => panic!("unexpected error kind from load: {e}"),
    }
}

/// Checks what an image reader returned for the file `name`: an image whose pixel count is its
/// width × height × channels, every value finite; or an error naming the file.
pub fn check_image(
    result: &Result<harness_data::images::Image, harness_data::images::ImageError>,
    name: &str,
) {
    match result {
        Ok(image) => {
            let n = image.width as usize * image.height as usize * usize::from(image.channels);
            assert_eq!(image.pixels.len(), n, "pixel count matches the size");
            assert!(
                image.pixels.iter().all(|v| v.is_finite()),
                "no NaN or infinity"
            );
        }
        Err(e) => assert!(e.to_string().contains(name), "error names the file: {e}"),
    }
}
