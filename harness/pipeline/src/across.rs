//! Evidence across runs: the bundles of several runs, each used only once it passes `harness
//! verify`, compared case by case (`harness compare`: their predictions merged by case id and
//! evaluated together, so every pair of candidates gets the paired test) and ranked (`harness
//! leaderboard`: every candidate of every verified run of a suite, by the suite's primary metric
//! with its CI — multi-label and multi-class suites by macro AUROC — flagging ranks the data
//! cannot separate). What is compared and ranked, and the leaderboard's Markdown and HTML, are
//! built here; the binary parses the arguments, prints and writes the files.

use std::path::{Path, PathBuf};

use harness_data::registry::DatasetTask;
use harness_evidence::evaluate_table;
use harness_evidence::evaluation::{
    ClassColumns, FindingColumns, evaluate_classes, evaluate_findings, read_findings,
};
use harness_evidence::manifest::Manifest;
use harness_evidence::manifest::{METRICS, PREDICTIONS};
use harness_evidence::verify::{VerifyOptions, verify};
use harness_metrics::EvalReport;
use harness_metrics::evaluate::Comparison as PairedComparison;
use harness_metrics::multiclass::{MacroComparison, MulticlassOptions, MulticlassReport};
use harness_metrics::multilabel::MultilabelReport;
use harness_metrics::multiple::holm;
use harness_metrics::registry::RankingMetric;
use harness_report::format::{escape_html, escape_markdown, num, p_clause};

use crate::recheck::{CasesCheck, DatasetReads, check_cases_with};

/// Why bundles could not be compared or ranked.
#[derive(Debug, thiserror::Error)]
pub enum AcrossError {
    /// A bundle that is not used: it fails `harness verify`, its cases are not the pinned
    /// dataset's, or its metrics cannot be read as its task's.
    #[error("{dir}: {reason}")]
    NotUsed {
        /// The bundle's folder.
        dir: PathBuf,
        /// Why, in words.
        reason: String,
    },
    /// A verified bundle's file that cannot be read (the message names it).
    #[error("{0}")]
    Unreadable(String),
    /// Runs that cannot be compared with each other (the same bundle twice, other data, another
    /// task, other cases or labels).
    #[error("{0}")]
    Incomparable(String),
    /// The merged predictions could not be evaluated (the error names them as
    /// [`MERGED`]).
    #[error(transparent)]
    Evaluate(Box<dyn std::error::Error + Send + Sync>),
}

fn not_used(dir: &Path, reason: impl Into<String>) -> AcrossError {
    AcrossError::NotUsed {
        dir: dir.to_path_buf(),
        reason: reason.into(),
    }
}

/// How bundles are checked before they are used: `harness verify`'s checks (with signature
/// keys, a signature by one of them), and, with a project root, its comparison of each
/// bundle's cases with the pinned dataset there (each dataset read once, however many bundles
/// were run on it).
pub struct Checks {
    keys: Vec<ed25519_dalek::VerifyingKey>,
    project_root: Option<PathBuf>,
    data_root: Option<PathBuf>,
    /// The datasets read so far: each once per command.
    reads: DatasetReads,
}

impl Checks {
    /// Bundles must carry a signature by one of `keys` (none: signatures are not checked); with
    /// `project_root`, their cases are compared with the pinned datasets there (found under
    /// `data_root` where given, as `harness run --data-root`).
    #[must_use]
    pub fn new(
        keys: Vec<ed25519_dalek::VerifyingKey>,
        project_root: Option<PathBuf>,
        data_root: Option<PathBuf>,
    ) -> Checks {
        Checks {
            keys,
            project_root,
            data_root,
            reads: DatasetReads::default(),
        }
    }
}

/// A verified bundle.
pub struct Run {
    /// Its folder, manifest and files, read as its verified manifest pins them.
    bundle: harness_evidence::VerifiedBundle,
    /// The binary statistics (`None` for a multi-label or multi-class run).
    metrics: Option<EvalReport>,
    /// A multi-label or multi-class run's statistics.
    task: Option<TaskMetrics>,
    /// How tables name it ([`label_runs`]).
    label: String,
}

impl Run {
    /// The bundle's folder.
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.bundle.dir()
    }
    /// Its verified manifest.
    #[must_use]
    pub fn manifest(&self) -> &Manifest {
        self.bundle.manifest()
    }
}

/// The metrics.json of a multi-label or multi-class run.
enum TaskMetrics {
    Multilabel(MultilabelReport),
    Multiclass(MulticlassReport),
}

/// The bundle `dir` when it passes `harness verify` (every file's hash, the metrics
/// recomputed), with keys carries a signature by one of them, and with a project root holds
/// the pinned dataset's cases.
///
/// # Errors
///
/// [`AcrossError::NotUsed`] naming the bundle and why.
pub fn load_verified(dir: &Path, checks: &Checks) -> Result<Run, AcrossError> {
    // The files used below are read against the manifest the verification was made on (and,
    // with keys, whose signature was checked): a file replaced since is refused, not used.
    // verify reads predictions.csv and metrics.json once, checks them against each other, and
    // keeps those bytes for what follows.
    let mut opts = VerifyOptions {
        public_keys: checks.keys.clone(),
        keep: vec![PREDICTIONS.to_string(), METRICS.to_string()],
        ..VerifyOptions::default()
    };
    if let Some(root) = &checks.project_root {
        // The cases are compared first, on the bytes verify then checks.
        let (cases, read) = check_cases_with(dir, root, checks.data_root.as_deref(), &checks.reads);
        match cases {
            CasesCheck::Matches { .. } => {
                opts.dataset_checked =
                    Some("every file hashed; the digest matches (with the cases' check)".into());
            }
            CasesCheck::Differs(why) => {
                return Err(not_used(
                    dir,
                    format!(
                        "its cases are not the pinned dataset's under {} ({why}); it is not used",
                        root.display()
                    ),
                ));
            }
            CasesCheck::NotChecked(why) => {
                return Err(not_used(
                    dir,
                    format!(
                        "its cases could not be compared with the dataset under {} ({why}); it is not used",
                        root.display()
                    ),
                ));
            }
        }
        opts.read = read;
    }
    let bundle = harness_evidence::VerifiedBundle::new(dir, verify(dir, &opts)).map_err(|why| {
        not_used(
            dir,
            format!("does not pass `harness verify` ({why}); it is not used"),
        )
    })?;
    let manifest = bundle.manifest();
    let bytes = bundle.read(METRICS).map_err(|why| {
        let kind = if manifest.site.is_some() {
            " (a federated site's bundle: pool it with `harness pool`)"
        } else if manifest.shard.is_some() {
            " (a shard's partial bundle: merge the shards with `harness merge` first)"
        } else {
            ""
        };
        AcrossError::Unreadable(format!("{why}{kind}"))
    })?;
    let context = |e: serde_json::Error| not_used(dir, format!("metrics.json: {e}"));
    let (metrics, task) = match manifest.evaluation.task {
        DatasetTask::Binary => (Some(serde_json::from_slice(&bytes).map_err(context)?), None),
        DatasetTask::Multilabel => (
            None,
            Some(TaskMetrics::Multilabel(
                serde_json::from_slice(&bytes).map_err(context)?,
            )),
        ),
        DatasetTask::Multiclass => (
            None,
            Some(TaskMetrics::Multiclass(
                serde_json::from_slice(&bytes).map_err(context)?,
            )),
        ),
    };
    Ok(Run {
        metrics,
        task,
        bundle,
        label: String::new(),
    })
}

fn suite_name(r: &Run) -> String {
    r.manifest()
        .suite
        .name
        .clone()
        .unwrap_or_else(|| r.manifest().suite.path.clone())
}

/// The dataset a run evaluated: its name and its whole digest (runs are ranked together only
/// on the same data); [`DatasetKey::shown`] is how boards name it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct DatasetKey {
    name: String,
    digest: String,
}

impl DatasetKey {
    fn of(r: &Run) -> DatasetKey {
        let d = &r.manifest().dataset;
        DatasetKey {
            name: d.name.clone(),
            digest: d.digest.clone(),
        }
    }

    /// Its name and the first 12 characters of its digest (after any `sha256:`/`md5:` tag).
    fn shown(&self) -> String {
        let digest = self
            .digest
            .split_once(':')
            .map_or(self.digest.as_str(), |(_, hex)| hex);
        let start: String = digest.chars().take(12).collect();
        format!("{} ({start})", self.name)
    }
}

/// Names each run `suite@folder`, with as many parent folders as tell it from the other runs
/// (`example@teamA/merged`, `example@teamB/merged`), then a number where the paths cannot: the
/// names head compare's columns and leaderboard's rows, so two runs must not share one.
pub fn label_runs(runs: &mut [Run]) {
    let folders: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            r.dir()
                .components()
                .rev()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect()
        })
        .collect();
    let suites: Vec<String> = runs.iter().map(suite_name).collect();
    let label = |i: usize, depth: usize| {
        let mut parts: Vec<&str> = folders[i].iter().take(depth).map(String::as_str).collect();
        parts.reverse();
        format!("{}@{}", suites[i], parts.join("/"))
    };
    let mut depth = vec![1; runs.len()];
    let mut labels: Vec<String> = (0..runs.len()).map(|i| label(i, 1)).collect();
    loop {
        let mut deeper = false;
        for i in 0..runs.len() {
            let shared = labels.iter().filter(|l| **l == labels[i]).count() > 1;
            if shared && depth[i] < folders[i].len() {
                depth[i] += 1;
                deeper = true;
            }
        }
        if !deeper {
            break;
        }
        labels = (0..runs.len()).map(|i| label(i, depth[i])).collect();
    }
    for i in 0..runs.len() {
        let before = labels[..i].iter().filter(|l| **l == labels[i]).count();
        if before > 0 {
            labels[i] = format!("{}#{}", labels[i], before + 1);
        }
    }
    for (r, l) in runs.iter_mut().zip(labels) {
        r.label = l;
    }
}

/// Runs compared case by case: their predictions merged by case id and evaluated together with
/// the first run's settings (DeLong CIs and paired tests, patient-clustered where declared; each
/// run's bootstrap CIs are in its own bundle).
pub struct Compared {
    /// The runs, verified and labelled ([`label_runs`]): merged columns are `LABEL/CANDIDATE`.
    pub runs: Vec<Run>,
    /// The merged predictions' statistics.
    pub results: ComparedResults,
}

/// The statistics of the merged predictions, by task.
pub enum ComparedResults {
    /// `metrics.json`'s layout of a binary run.
    Binary(EvalReport),
    /// A multi-label run's, finding by finding.
    Multilabel(MultilabelReport),
    /// A multi-class run's.
    Multiclass(MulticlassReport),
}

impl ComparedResults {
    /// What the statistics warn of.
    #[must_use]
    pub fn warnings(&self) -> &[String] {
        match self {
            ComparedResults::Binary(r) => &r.warnings,
            ComparedResults::Multilabel(r) => &r.warnings,
            ComparedResults::Multiclass(r) => &r.warnings,
        }
    }
}

/// The bundles `dirs` (two or more, each checked by `checks`), compared: they must be runs on
/// the same dataset (digest, case ids and order, labels) of one task.
///
/// # Errors
///
/// [`AcrossError::NotUsed`] for a bundle that fails its checks, [`AcrossError::Incomparable`]
/// for runs that cannot be compared, [`AcrossError::Evaluate`] when the merged predictions
/// cannot be evaluated.
pub fn compare_runs(dirs: &[PathBuf], checks: &Checks) -> Result<Compared, AcrossError> {
    for (i, d) in dirs.iter().enumerate() {
        let same = |e: &PathBuf| match (d.canonicalize(), e.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if let Some(e) = dirs[..i].iter().find(|e| same(e)) {
            return Err(AcrossError::Incomparable(format!(
                "{} and {} are the same bundle: compare different runs",
                e.display(),
                d.display()
            )));
        }
    }
    let mut runs = dirs
        .iter()
        .map(|d| load_verified(d, checks))
        .collect::<Result<Vec<_>, _>>()?;
    label_runs(&mut runs);
    let first = &runs[0];
    for r in &runs[1..] {
        if r.manifest().dataset.digest != first.manifest().dataset.digest {
            return Err(AcrossError::Incomparable(format!(
                "{} is on dataset {} ({}), {} on {} ({}): only runs on the same data can be compared",
                r.dir().display(),
                r.manifest().dataset.name,
                r.manifest().dataset.digest,
                first.dir().display(),
                first.manifest().dataset.name,
                first.manifest().dataset.digest
            )));
        }
        if r.manifest().evaluation.task != first.manifest().evaluation.task {
            return Err(AcrossError::Incomparable(format!(
                "{} is a {} run, {} a {} one: only runs of one task can be compared",
                r.dir().display(),
                r.manifest().evaluation.task,
                first.dir().display(),
                first.manifest().evaluation.task
            )));
        }
    }
    // Merge predictions by case id.
    let read = |r: &Run| -> Result<(csv::StringRecord, Vec<csv::StringRecord>), AcrossError> {
        let bytes = r
            .bundle
            .read(PREDICTIONS)
            .map_err(AcrossError::Unreadable)?;
        let unreadable = |e: csv::Error| not_used(r.dir(), format!("{PREDICTIONS}: {e}"));
        let mut rdr = csv::Reader::from_reader(&*bytes);
        let h = rdr.headers().map_err(unreadable)?.clone();
        let rows = rdr
            .records()
            .collect::<Result<Vec<_>, _>>()
            .map_err(unreadable)?;
        Ok((h, rows))
    };
    let (h0, rows0) = read(first)?;
    let s0 = &first.manifest().evaluation;
    // case id, the label column(s), the subgroup and patient columns; then the scores.
    let n_labels = match s0.task {
        DatasetTask::Multilabel => s0.findings.len(),
        _ => 1,
    };
    let fixed = 1 + n_labels + s0.columns().len();
    let mut header: Vec<String> = h0.iter().take(fixed).map(str::to_string).collect();
    let mut columns: Vec<Vec<String>> = Vec::new();
    // Each merged score column: (run/candidate, finding or class or none, source column).
    let mut merged: Vec<(String, Option<String>, String)> = Vec::new();
    for r in &runs {
        let (h, rows) = read(r)?;
        let ids: Vec<&str> = rows.iter().map(|x| x.get(0).unwrap_or("")).collect();
        let ids0: Vec<&str> = rows0.iter().map(|x| x.get(0).unwrap_or("")).collect();
        if ids != ids0 {
            return Err(AcrossError::Incomparable(format!(
                "{}: its cases differ from {}'s (case ids or order)",
                r.dir().display(),
                first.dir().display()
            )));
        }
        // The same dataset gives the same labels: a bundle whose labels were edited (its hashes
        // rewritten, unsigned) must not lend them to the comparison.
        let labels = |x: &csv::StringRecord| -> Vec<String> {
            (1..=n_labels)
                .map(|k| x.get(k).unwrap_or("").to_string())
                .collect()
        };
        if let Some((line, x)) = rows
            .iter()
            .zip(&rows0)
            .enumerate()
            .find(|(_, (x, x0))| labels(x) != labels(x0))
            .map(|(i, (x, _))| (i + 2, x))
        {
            return Err(AcrossError::Incomparable(format!(
                "{}: predictions.csv line {line} (case '{}') has the label(s) {:?}, {} has {:?}: runs of one dataset must agree on every label (check both with `harness verify --project-root`)",
                r.dir().display(),
                x.get(0).unwrap_or(""),
                labels(x),
                first.dir().display(),
                labels(&rows0[line - 2])
            )));
        }
        let s = &r.manifest().evaluation;
        let label = r.label.as_str();
        let sources: Vec<(String, Option<String>, String)> = match s.task {
            DatasetTask::Binary => s
                .scores
                .iter()
                .map(|c| (format!("{label}/{c}"), None, c.clone()))
                .collect(),
            DatasetTask::Multilabel => s
                .findings
                .iter()
                .flat_map(|f| {
                    f.scores
                        .iter()
                        .map(|(c, col)| (format!("{label}/{c}"), Some(f.name.clone()), col.clone()))
                })
                .collect(),
            DatasetTask::Multiclass => s
                .classes
                .iter()
                .flat_map(|cc| {
                    cc.models.iter().flat_map(move |(c, cols)| {
                        cc.classes.iter().zip(cols).map(move |(class, col)| {
                            (format!("{label}/{c}"), Some(class.clone()), col.clone())
                        })
                    })
                })
                .collect(),
        };
        for (model, target, source) in sources {
            let idx = h.iter().position(|c| c == source).ok_or_else(|| {
                AcrossError::Incomparable(format!("{}: no column {source}", r.dir().display()))
            })?;
            let name = match &target {
                Some(t) => format!("{model}:{t}"),
                None => model.clone(),
            };
            header.push(name.clone());
            columns.push(
                rows.iter()
                    .map(|x| x.get(idx).unwrap_or("").to_string())
                    .collect(),
            );
            merged.push((model, target, name));
        }
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&header).map_err(evaluate)?;
    for (i, row) in rows0.iter().enumerate() {
        let mut rec: Vec<String> = row.iter().take(fixed).map(str::to_string).collect();
        rec.extend(columns.iter().map(|c| c[i].clone()));
        w.write_record(&rec).map_err(evaluate)?;
    }
    let bytes = w.into_inner().map_err(evaluate)?;
    let path = Path::new(MERGED);
    let results = match s0.task {
        DatasetTask::Binary => {
            let names: Vec<String> = merged.iter().map(|(_, _, n)| n.clone()).collect();
            let columns = s0.columns();
            let spec = harness_data::EvalSpec {
                label: &s0.label,
                scores: &names,
                groups: &columns,
            };
            let table = harness_data::parse_eval_csv(&bytes, path, &spec).map_err(evaluate)?;
            let mut opts = s0.options();
            // DeLong CIs and paired tests (patient-clustered where declared); bootstrap CIs
            // are in each run's own bundle.
            opts.bootstrap = 0;
            let report = evaluate_table(&table, s0.cluster.as_deref(), &opts).map_err(evaluate)?;
            ComparedResults::Binary(report)
        }
        DatasetTask::Multilabel => {
            // Every finding lists its models in one order: runs, then each run's candidates.
            let mut order: Vec<&str> = Vec::new();
            for (m, _, _) in &merged {
                if !order.contains(&m.as_str()) {
                    order.push(m);
                }
            }
            let findings: Vec<FindingColumns> = s0
                .findings
                .iter()
                .map(|f| FindingColumns {
                    name: f.name.clone(),
                    label: f.label.clone(),
                    scores: order
                        .iter()
                        .filter_map(|m| {
                            merged
                                .iter()
                                .find(|(mm, t, _)| mm == m && t.as_deref() == Some(f.name.as_str()))
                                .map(|(mm, _, col)| (mm.clone(), col.clone()))
                        })
                        .collect(),
                })
                .collect();
            let read = read_findings(&bytes, path, &findings, &s0.columns()).map_err(evaluate)?;
            let mut opts = s0.options();
            opts.bootstrap = 0;
            let report = evaluate_findings(&findings, &read, s0.cluster.as_deref(), &opts)
                .map_err(evaluate)?;
            ComparedResults::Multilabel(report)
        }
        DatasetTask::Multiclass => {
            let Some(c0) = &s0.classes else {
                return Err(AcrossError::Incomparable(format!(
                    "{}: the manifest names no classes",
                    first.dir().display()
                )));
            };
            let mut models: indexmap::IndexMap<String, Vec<String>> = indexmap::IndexMap::new();
            for (m, _, col) in &merged {
                models.entry(m.clone()).or_default().push(col.clone());
            }
            let cols = ClassColumns {
                classes: c0.classes.clone(),
                label: c0.label.clone(),
                models,
            };
            let opts = MulticlassOptions {
                // The paired comparison of macro AUROCs is a bootstrap.
                bootstrap: if s0.bootstrap > 0 { s0.bootstrap } else { 2000 },
                seed: s0.seed,
            };
            // The paired bootstrap resamples patients where the runs declare them.
            let cluster = s0.cluster.as_deref();
            let report =
                evaluate_classes(&bytes, path, &cols, (&[], cluster), &opts).map_err(evaluate)?;
            ComparedResults::Multiclass(report)
        }
    };
    Ok(Compared { runs, results })
}

/// [`AcrossError::Evaluate`] of what evaluating the merged predictions returned.
fn evaluate(e: impl std::error::Error + Send + Sync + 'static) -> AcrossError {
    AcrossError::Evaluate(Box::new(e))
}

/// What the merged predictions are called in messages and summaries.
pub const MERGED: &str = "merged predictions";

/// The bundle folders under `dir` (it included), in path order: folders with a manifest (or a
/// run's incomplete marker); hidden folders (a run's staging folder) are skipped.
#[must_use]
pub fn find_bundles(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    collect_bundles(dir, &mut out);
    out
}

fn collect_bundles(dir: &Path, out: &mut Vec<PathBuf>) {
    if dir.join("manifest.json").is_file()
        || dir.join(harness_evidence::manifest::INCOMPLETE).is_file()
    {
        out.push(dir.to_path_buf());
        return;
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut subs: Vec<_> = rd
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            // Hidden folders: a run's staging folder (`.NAME.harness-partial`) is no entrant.
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .collect();
        subs.sort();
        for s in subs {
            collect_bundles(&s, out);
        }
    }
}

struct Entry<'a> {
    run: &'a Run,
    candidate: String,
    value: f64,
    ci: Option<[f64; 2]>,
}

/// The board a binary run belongs to: its suite, the dataset it evaluated (one suite name may
/// have run on several: figures on different cases are not ranked together), and the metric its
/// manifest ranks by.
fn ranking(r: &Run) -> (String, DatasetKey, RankingMetric) {
    (
        suite_name(r),
        DatasetKey::of(r),
        r.manifest().primary_metric.unwrap_or_default(),
    )
}

/// Whether entry `e` is separable from the next one down.
fn separable(metric: RankingMetric, e: &Entry, next: Option<&Entry>) -> String {
    let Some(n) = next else {
        return "—".to_string();
    };
    if metric.key == "auroc" && std::ptr::eq(e.run, n.run) {
        let comparisons = e
            .run
            .metrics
            .as_ref()
            .map_or(&[][..], |m| &m.comparisons[..]);
        let at = comparisons.iter().position(|c| {
            (c.a == e.candidate && c.b == n.candidate) || (c.b == e.candidate && c.a == n.candidate)
        });
        let (p, test) = at.map_or((None, "paired DeLong"), |i| comparisons[i].reported_p());
        // As the run's report judges it: Holm-adjusted over the run's comparisons where there
        // are several.
        let (p, label) = match (at, PairedComparison::holm_reported(comparisons)) {
            (Some(i), Some(adjusted)) => (
                adjusted[i],
                format!(
                    "{test}, Holm-adjusted over the run's {} comparisons,",
                    comparisons.len()
                ),
            ),
            _ => (p, test.to_string()),
        };
        return match p {
            Some(p) if p < 0.05 => format!("yes ({label} p {})", p_clause(p)),
            Some(p) => format!("NO ({label} p {})", p_clause(p)),
            None => format!("unknown (no {test})"),
        };
    }
    if metric.ci_method.is_none() {
        return format!("unknown (no CI for {})", metric.label);
    }
    match (e.ci, n.ci) {
        (Some(a), Some(b)) if a[0] > b[1] || b[0] > a[1] => "yes (CIs do not overlap)".into(),
        (Some(_), Some(_)) if std::ptr::eq(e.run, n.run) => "NO (CIs overlap)".into(),
        (Some(_), Some(_)) => {
            "NO (CIs overlap; different runs — use `harness compare` for a paired test)".into()
        }
        _ => "unknown (CI undefined)".into(),
    }
}

/// One ranking: its heading, the column of the ranked value, and its rows (rank, candidate,
/// run, value with CI, separable from the next).
pub struct Board {
    /// "Suite S on DATASET (digest): ranked by METRIC (direction)".
    pub heading: String,
    /// The ranked value's column name, with its CI's kind.
    pub column: String,
    /// Rank, candidate, run, value with CI, separable from the next.
    pub rows: Vec<[String; 5]>,
}

/// Ranks of values sorted best first, equal values sharing the better rank (competition
/// ranking, "1, 1, 3"): the same model evaluated twice on the same cases is not ranked below
/// itself by its name.
fn competition_ranks(sorted: impl Iterator<Item = f64>) -> Vec<usize> {
    let mut ranks: Vec<usize> = Vec::new();
    let mut previous = None;
    for (i, value) in sorted.enumerate() {
        let rank = match (previous, ranks.last()) {
            (Some(p), Some(&r)) if p == value => r,
            _ => i + 1,
        };
        ranks.push(rank);
        previous = Some(value);
    }
    ranks
}

/// The ranked value with its CI as shown.
fn shown(value: f64, ci: Option<[f64; 2]>, has_ci: bool, digits: usize) -> String {
    match ci {
        Some([lo, hi]) => format!(
            "{} [{}, {}]",
            num(Some(value), digits),
            num(Some(lo), digits),
            num(Some(hi), digits)
        ),
        None if has_ci => format!("{} [CI n/a]", num(Some(value), digits)),
        None => num(Some(value), digits),
    }
}

/// The boards of the binary runs: each suite by its primary metric.
fn binary_boards(runs: &[&Run]) -> Vec<Board> {
    let mut rankings: Vec<(String, DatasetKey, RankingMetric)> =
        runs.iter().map(|r| ranking(r)).collect();
    rankings.sort_by(|a, b| {
        (&a.0, &a.1)
            .cmp(&(&b.0, &b.1))
            .then_with(|| a.2.key.cmp(b.2.key))
    });
    rankings.dedup();
    let mut boards = Vec::new();
    for board in &rankings {
        let (suite, dataset, metric) = board;
        let mut entries = Vec::new();
        let mut clustered = false;
        for r in runs.iter().filter(|r| ranking(r) == *board) {
            let models = r.metrics.as_ref().map(|m| &m.models).into_iter().flatten();
            for (name, m) in models {
                if let Some(value) = metric.value(m) {
                    // An AUROC's CI as its report states it: patient-clustered where the
                    // cases are (one dataset per board: all entries alike).
                    let ci = if metric.key == "auroc" {
                        clustered |= m.clustered.is_some();
                        m.auroc_ci95_reported()
                    } else {
                        metric.ci(m)
                    };
                    entries.push(Entry {
                        run: r,
                        candidate: name.clone(),
                        value,
                        ci,
                    });
                }
            }
        }
        entries.sort_by(|a, b| {
            metric
                .better
                .cmp(a.value, b.value)
                .then_with(|| a.candidate.cmp(&b.candidate))
        });
        let column = match metric.ci_method {
            Some(_) if clustered => format!("{} [patient-clustered 95% CI]", metric.label),
            Some(ci) => format!("{} [{ci}]", metric.label),
            None => metric.label.to_string(),
        };
        let ranks = competition_ranks(entries.iter().map(|e| e.value));
        let rows = entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                [
                    ranks[i].to_string(),
                    e.candidate.clone(),
                    e.run.label.clone(),
                    shown(e.value, e.ci, metric.ci_method.is_some(), metric.digits),
                    separable(*metric, e, entries.get(i + 1)),
                ]
            })
            .collect();
        boards.push(Board {
            heading: format!(
                "Suite {suite} on {}: ranked by {} ({})",
                dataset.shown(),
                metric.label,
                metric.better.phrase()
            ),
            column,
            rows,
        });
    }
    boards
}

/// Whether two candidates of one multi-label or multi-class run are separable: multi-class by
/// the paired bootstrap of their macro AUROCs, multi-label by the paired DeLong tests of every
/// finding both score, Holm-adjusted over those findings.
fn task_separable(task: &TaskMetrics, a: &str, b: &str) -> String {
    let pair = |x: &str, y: &str| (x == a && y == b) || (x == b && y == a);
    match task {
        TaskMetrics::Multiclass(r) => {
            // Patient-clustered where the cases are clustered.
            let test = if r.cluster.is_some() {
                "paired cluster bootstrap of macro AUROC"
            } else {
                "paired bootstrap of macro AUROC"
            };
            let c = r
                .comparisons_macro
                .iter()
                .find(|c| pair(&c.a, &c.b))
                .map(MacroComparison::reported);
            match c.and_then(|c| c.p) {
                Some(p) if p < 0.05 => format!("yes ({test}, p {})", p_clause(p)),
                Some(p) => format!("NO ({test}, p {})", p_clause(p)),
                None if r.options.bootstrap > 0 => format!(
                    "unknown ({})",
                    c.and_then(|c| c.reason.as_deref())
                        .unwrap_or("the paired bootstrap is undefined")
                ),
                None => {
                    "unknown (no paired bootstrap: the suite's [metrics] bootstrap is 0)".into()
                }
            }
        }
        TaskMetrics::Multilabel(r) => {
            let tested: Vec<(&str, (Option<f64>, &str))> = r
                .findings_order
                .iter()
                .filter_map(|f| {
                    let c = r
                        .findings
                        .get(f)?
                        .comparisons
                        .iter()
                        .find(|c| pair(&c.a, &c.b))?;
                    Some((f.as_str(), c.reported_p()))
                })
                .collect();
            let test = tested.first().map_or("paired DeLong", |(_, (_, t))| *t);
            let tested: Vec<(&str, Option<f64>)> =
                tested.into_iter().map(|(f, (p, _))| (f, p)).collect();
            if tested.iter().all(|(_, p)| p.is_none()) {
                return "unknown (no finding scored by both has a paired test)".into();
            }
            let adjusted = holm(&tested.iter().map(|(_, p)| *p).collect::<Vec<_>>());
            let differ: Vec<&str> = tested
                .iter()
                .zip(&adjusted)
                .filter(|(_, q)| q.is_some_and(|q| q < 0.05))
                .map(|((f, _), _)| *f)
                .collect();
            if differ.is_empty() {
                format!(
                    "NO (no finding differs: {test}, Holm over {} findings)",
                    tested.len()
                )
            } else {
                format!(
                    "yes ({} of {} findings differ: {}; {test}, Holm)",
                    differ.len(),
                    tested.len(),
                    differ.join(", ")
                )
            }
        }
    }
}

/// A multi-label or multi-class candidate on a board.
struct TaskEntry<'a> {
    run: &'a Run,
    task: &'a TaskMetrics,
    candidate: String,
    /// Its macro AUROC.
    value: f64,
    ci: Option<[f64; 2]>,
    /// What the macro AUROC covers, when it is not every finding.
    note: String,
}

/// The boards of the multi-label and multi-class runs: each suite by macro AUROC (multi-class:
/// with its class-stratified bootstrap CI where the suite asked for a bootstrap).
fn task_boards(runs: &[&Run]) -> Vec<Board> {
    let board = |r: &Run| {
        let kind = match r.task.as_ref()? {
            TaskMetrics::Multilabel(_) => "multi-label",
            TaskMetrics::Multiclass(_) => "multi-class",
        };
        Some((suite_name(r), DatasetKey::of(r), kind))
    };
    let mut suites: Vec<(String, DatasetKey, &'static str)> =
        runs.iter().filter_map(|r| board(r)).collect();
    suites.sort();
    suites.dedup();
    let mut boards = Vec::new();
    for this in suites {
        let (suite, dataset, kind) = &this;
        let kind = *kind;
        let mut entries: Vec<TaskEntry> = Vec::new();
        for r in runs.iter().filter(|r| board(r).as_ref() == Some(&this)) {
            match r.task.as_ref() {
                Some(t @ TaskMetrics::Multilabel(m)) => {
                    for (name, s) in &m.models {
                        if let Some(v) = s.auroc_macro {
                            // A candidate that scores fewer findings has a macro over fewer.
                            let total = m.findings_order.len();
                            let covered = total - s.findings_not_scored.len();
                            let note = if covered < total {
                                format!(" (over {covered} of {total} findings)")
                            } else {
                                String::new()
                            };
                            entries.push(TaskEntry {
                                run: r,
                                task: t,
                                candidate: name.clone(),
                                value: v,
                                ci: None,
                                note,
                            });
                        }
                    }
                }
                Some(t @ TaskMetrics::Multiclass(m)) => {
                    for (name, s) in &m.models {
                        if let Some(v) = s.auroc_macro {
                            let ci = s.auroc_macro_bootstrap.clone().flatten().map(|b| b.ci95);
                            entries.push(TaskEntry {
                                run: r,
                                task: t,
                                candidate: name.clone(),
                                value: v,
                                ci,
                                note: String::new(),
                            });
                        }
                    }
                }
                None => {}
            }
        }
        entries.sort_by(|a, b| {
            b.value
                .total_cmp(&a.value)
                .then_with(|| a.candidate.cmp(&b.candidate))
        });
        let has_ci = kind == "multi-class";
        let ranks = competition_ranks(entries.iter().map(|e| e.value));
        let rows = entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let sep = match entries.get(i + 1) {
                    None => "—".to_string(),
                    Some(next) if std::ptr::eq(e.run, next.run) => {
                        task_separable(e.task, &e.candidate, &next.candidate)
                    }
                    Some(_) => {
                        "unknown (different runs — use `harness compare` for paired tests)".into()
                    }
                };
                [
                    ranks[i].to_string(),
                    e.candidate.clone(),
                    e.run.label.clone(),
                    shown(e.value, e.ci, has_ci, 3) + &e.note,
                    sep,
                ]
            })
            .collect();
        boards.push(Board {
            heading: format!(
                "Suite {suite} ({kind}) on {}: ranked by macro AUROC (higher is better)",
                dataset.shown()
            ),
            column: if has_ci {
                "macro AUROC [bootstrap]".into()
            } else {
                "macro AUROC".into()
            },
            rows,
        });
    }
    boards
}

/// The column names of a board's rows, the ranked value's being [`Board::column`].
#[must_use]
pub fn board_header(board: &Board) -> [&str; 5] {
    [
        "rank",
        "candidate",
        "run",
        board.column.as_str(),
        "separable from next?",
    ]
}

/// The boards of `runs` (verified and labelled): each binary suite by its primary metric, then
/// each multi-label or multi-class suite by macro AUROC, per dataset.
#[must_use]
pub fn boards(runs: &[Run]) -> Vec<Board> {
    let binary: Vec<&Run> = runs.iter().filter(|r| r.metrics.is_some()).collect();
    let tasks: Vec<&Run> = runs.iter().filter(|r| r.task.is_some()).collect();
    binary_boards(&binary)
        .into_iter()
        .chain(task_boards(&tasks))
        .collect()
}

const LEADERBOARD_INTRO: &str = "Only bundles that pass `harness verify` are ranked. Each binary suite is ranked by its primary metric, each multi-label or multi-class suite by macro AUROC.";

/// The leaderboard as Markdown (`leaderboard.md`).
#[must_use]
pub fn leaderboard_markdown(boards: &[Board]) -> String {
    let mut md = format!("# Leaderboard\n\n{LEADERBOARD_INTRO}\n");
    for board in boards {
        let column = &board.column;
        md.push_str(&format!(
            "\n## {}\n\n| rank | candidate | run | {column} | separable from next? |\n|---|---|---|---|---|\n",
            escape_markdown(&board.heading)
        ));
        for [rank, candidate, run, value, sep] in &board.rows {
            md.push_str(&format!(
                "| {rank} | {} | {} | {value} | {sep} |\n",
                escape_markdown(candidate),
                escape_markdown(run),
            ));
        }
    }
    md
}

/// The leaderboard as a standalone HTML page (`leaderboard.html`): ranks the data cannot
/// separate from the next are marked.
#[must_use]
pub fn leaderboard_html(boards: &[Board]) -> String {
    let mut html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Leaderboard</title><style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #bbb;padding:4px 8px}}.tie{{color:#a60}}</style></head><body><h1>Leaderboard</h1><p>{}</p>",
        LEADERBOARD_INTRO.replace("`harness verify`", "<code>harness verify</code>")
    );
    for board in boards {
        html.push_str(&format!("<h2>{}</h2><table><tr><th>rank</th><th>candidate</th><th>run</th><th>{}</th><th>separable from next?</th></tr>", escape_html(&board.heading), escape_html(&board.column)));
        for [rank, candidate, run, value, sep] in &board.rows {
            let class = if sep.starts_with("NO") {
                " class=\"tie\""
            } else {
                ""
            };
            html.push_str(&format!(
                "<tr><td>{rank}</td><td>{}</td><td>{}</td><td>{}</td><td{class}>{}</td></tr>",
                escape_html(candidate),
                escape_html(run),
                escape_html(value),
                escape_html(sep)
            ));
        }
        html.push_str("</table>");
    }
    html.push_str("</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_metrics::multiclass::{MulticlassInput, evaluate_multiclass};

    /// Three classes, 300 cases; model "good" puts most mass on the true class, "weak" little.
    fn multiclass(weak_signal: f64) -> MulticlassReport {
        let classes: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let labels: Vec<u32> = (0..300).map(|i| (i % 3) as u32).collect();
        let mut state = 7u64;
        let mut u = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut columns = |signal: f64| -> Vec<Vec<f64>> {
            let mut cols = vec![Vec::new(); 3];
            for &y in &labels {
                let raw: Vec<f64> = (0..3)
                    .map(|k| u() + if k == y as usize { signal } else { 0.0 })
                    .collect();
                let sum: f64 = raw.iter().sum();
                for k in 0..3 {
                    cols[k].push(raw[k] / sum);
                }
            }
            cols
        };
        let (good, weak) = (columns(1.5), columns(weak_signal));
        let input = MulticlassInput {
            classes: &classes,
            labels: &labels,
            models: vec![
                ("good", good.iter().map(Vec::as_slice).collect()),
                ("weak", weak.iter().map(Vec::as_slice).collect()),
            ],
            groupings: Vec::new(),
            cluster: None,
        };
        let opts = MulticlassOptions {
            bootstrap: 300,
            seed: 1,
        };
        evaluate_multiclass(&input, &opts).unwrap()
    }

    /// Equal values share the better rank and the next value skips the shared places; a value
    /// one ulp apart is a different rank.
    #[test]
    fn equal_values_share_a_rank() {
        let ranks = |v: &[f64]| competition_ranks(v.iter().copied());
        assert_eq!(ranks(&[0.9, 0.9, 0.8, 0.8, 0.8, 0.7]), [1, 1, 3, 3, 3, 6]);
        assert_eq!(ranks(&[0.9, 0.9f64.next_down(), 0.5]), [1, 2, 3]);
        assert_eq!(ranks(&[]), Vec::<usize>::new());
    }

    #[test]
    fn multiclass_candidates_are_separated_by_the_paired_bootstrap() {
        let apart = TaskMetrics::Multiclass(multiclass(0.0));
        let s = task_separable(&apart, "good", "weak");
        assert!(s.starts_with("yes (paired bootstrap of macro AUROC"), "{s}");
        // The same signal: not separable.
        let close = TaskMetrics::Multiclass(multiclass(1.5));
        let s = task_separable(&close, "weak", "good");
        assert!(s.starts_with("NO (paired bootstrap"), "{s}");
        assert!(task_separable(&close, "good", "other").starts_with("unknown"));
    }
}
