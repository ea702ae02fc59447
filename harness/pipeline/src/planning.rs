//! Stage 1 of a run, [`plan`](crate::plan): everything decided before inference — the suite
//! read once, the registry, the signing key, the dataset verified against its pin, the options
//! checked against the dataset's task and the machine's memory, a shard's or a site's part, the
//! case index and the bundle's folder.

use std::path::{Path, PathBuf};

use harness_data::images::ReadLimits;
use harness_data::registry::{Dataset, DatasetTask, FramePolicy, HashCache, Registry};
use harness_evidence::bundle::{BundleError, FolderLock};
use harness_evidence::gate::{Gate, Requested};
use harness_evidence::now_rfc3339;
use harness_evidence::shard::Shard;
use harness_evidence::suite::{Suite, SuiteError, find_registry};

use crate::{
    CaseIndex, HASH_CACHE_DIR, Observer, PipelineError, Plan, RequestKind, RunOptions, ShardPlan,
    Stage, Targets, default_tool, infer, load_index_cached,
};

/// The plan stage: suite, registry, signing key, dataset check, case index, bundle folder.
///
/// # Errors
///
/// A [`PipelineError`] naming the file at fault.
pub fn plan(options: &RunOptions, observer: &dyn Observer) -> Result<Plan, PipelineError> {
    observer.stage_started(Stage::Plan, &format!("reading {}", options.suite.display()));
    let result = plan_inner(options, observer);
    observer.stage_finished(Stage::Plan);
    result
}

fn plan_inner(options: &RunOptions, observer: &dyn Observer) -> Result<Plan, PipelineError> {
    check_run_options(options)?;
    let started_at = now_rfc3339();
    let suite_path = options.suite.clone();
    let suite_bytes = std::fs::read(&suite_path).map_err(|source| SuiteError::Io {
        file: suite_path.clone(),
        source,
    })?;
    let text = std::str::from_utf8(&suite_bytes).map_err(|e| {
        PipelineError::Input(format!("{}: not UTF-8 text: {e}", suite_path.display()))
    })?;
    let suite = Suite::parse(text, &suite_path)?;
    let requested = Requested {
        suite: suite
            .acceptance
            .criteria()
            .map_err(|e| PipelineError::Input(format!("{}: {e}", suite_path.display())))?,
        command_line: options.extra_criteria.clone(),
    };
    let signer = read_signer(options.sign_key.as_deref())?;

    let registry_file = match &options.registry {
        Some(r) => r.clone(),
        None => find_registry(&suite_path).ok_or_else(|| {
            PipelineError::Input(format!(
                "{}: no datasets.toml in its folder or above; pass --registry",
                suite_path.display()
            ))
        })?,
    };
    let project_root = registry_file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let registry = Registry::load(&registry_file, options.data_root.as_deref())?;
    let dataset = registry.get(&suite.dataset)?.clone();
    // The findings or classes a candidate's output columns name.
    let task = dataset.entry.task;
    let names: Vec<String> = match task {
        DatasetTask::Binary => Vec::new(),
        DatasetTask::Multilabel => dataset.entry.findings.clone().unwrap_or_default(),
        DatasetTask::Multiclass => dataset.entry.classes.clone().unwrap_or_default(),
    };
    check_outputs(&suite, &dataset, &names)
        .map_err(|e| PipelineError::Input(format!("{}: {e}", suite_path.display())))?;
    check_tensor_memory(
        &suite,
        &suite_path,
        harness_measure::machine::memory_limit(),
    )?;
    check_options_for_task(options, task, &dataset.name)?;
    // The suite's criteria and the caller's, checked against the task.
    let n_suite = requested.suite.len();
    let (criteria, warnings) = Gate::for_task(&requested.all(), task, &names).map_err(|e| {
        PipelineError::Input(format!(
            "{}: {e}",
            if n_suite > 0 {
                format!("{}: [acceptance] or the command line", suite_path.display())
            } else {
                "the command line".to_string()
            }
        ))
    })?;
    for w in warnings {
        observer.warning(&format!("{}: {w}", suite_path.display()));
    }
    let subgroups = suite
        .metrics
        .subgroups
        .clone()
        .unwrap_or_else(|| dataset.entry.subgroups.clone());
    let cluster = dataset.entry.cluster.clone();
    // The dataset's own id, label and patient columns are not subgroups: refused before the
    // dataset's check and the inference, not after them.
    let reserved = [
        (dataset.entry.id_column.as_deref(), "case id"),
        (Some(dataset.entry.label.as_str()), "label"),
        (cluster.as_deref(), "patient"),
    ];
    for g in &subgroups {
        if let Some((_, what)) = reserved.iter().find(|(c, _)| *c == Some(g.as_str())) {
            return Err(PipelineError::Input(format!(
                "{}: [metrics] subgroups names '{g}', dataset '{}''s {what} column: a subgroup is another column of its labels file (sex, site, …)",
                suite_path.display(),
                dataset.name
            )));
        }
    }
    // A criterion the evaluation can never give (a column that is not a subgroup, a specificity
    // not targeted, a CI not computed) is refused now, not failed after the inference. A
    // federated site's run applies no gate (the coordinator's pool does), so it is not refused
    // over a suite's criterion it never evaluates.
    if options.site.is_none()
        && let Some(why) =
            criteria.unavailable(&suite.metrics.options(), &subgroups, cluster.is_some())
    {
        return Err(PipelineError::Input(format!(
            "{}: [acceptance] or the command line: {why} (see [metrics] and the dataset's subgroups and patient column)",
            suite_path.display()
        )));
    }
    if let Some(c) = suite
        .candidates
        .iter()
        .find(|c| subgroups.contains(&c.name) || cluster.as_ref() == Some(&c.name))
    {
        return Err(PipelineError::Input(format!(
            "{}: candidate '{}' has the name of a subgroup or patient column; predictions.csv needs distinct columns (rename the candidate)",
            suite_path.display(),
            c.name
        )));
    }
    if let Some(col) = &cluster {
        observer.info(&format!(
            "dataset {} declares the patient column '{col}': CIs are also computed patient-clustered (Obuchowski 1997)",
            dataset.name
        ));
    }
    // The patient column is indexed like a subgroup column (it becomes a column of
    // predictions.csv) but is used as the clustering, not as a subgroup.
    let columns: Vec<String> = subgroups.iter().chain(&cluster).cloned().collect();
    let limits = ReadLimits {
        max_width: suite.limits.max_image_side,
        max_height: suite.limits.max_image_side,
        ..ReadLimits::default()
    };
    // A bundle written into the pinned dataset's folder would change the data it pins.
    let location = registry.location(&dataset);
    if let Some(out) = &options.out
        && location.is_dir()
        && harness_evidence::bundle::within(out, &location)
    {
        return Err(PipelineError::Input(format!(
            "--out {}: inside the folder of dataset '{}' ({}), which its pin covers: the bundle would change the data it was run on; write it elsewhere",
            out.display(),
            dataset.name,
            location.display()
        )));
    }
    // A folder another run is writing is refused now, not after the dataset's check.
    let out_lock = match &options.out {
        Some(out) => FolderLock::take_existing(out)?,
        None => None,
    };
    observer.info(&format!("verifying dataset {}", dataset.name));
    let cache = options
        .remember_hashes
        .then(|| HashCache::in_dir(project_root.join(HASH_CACHE_DIR)));
    let (cases, checked) = load_index_cached(
        &registry,
        &dataset,
        &columns,
        &limits,
        suite.limits.max_cases,
        cache.as_ref(),
    )?;
    observer.info(&format!(
        "dataset {}: {} ({})",
        dataset.name,
        checked.status,
        dataset.entry.pin()
    ));
    let same = cases.same_images();
    if let Some(&(a, b)) = same.first() {
        let label = |i: usize| {
            cases
                .binary_labels()
                .map(|l| format!(" (label {})", u8::from(l[i])))
                .unwrap_or_default()
        };
        observer.warning(&format!(
            "dataset {}: {} case(s) have the same image as an earlier case, first '{}'{} and '{}'{}: a copied image counts twice, and under two labels one of them is wrong",
            dataset.name,
            same.len(),
            cases.case_ids[a],
            label(a),
            cases.case_ids[b],
            label(b)
        ));
    }
    // Every case needs its patient: refused here, before hours of inference, naming the case
    // (the evaluation would refuse the predictions only after them).
    if let Some(col) = &cluster
        && let Some((_, ids)) = cases.groups.iter().find(|(c, _)| c == col)
        && let Some(k) = ids.iter().position(|id| id.trim().is_empty())
    {
        return Err(PipelineError::Input(format!(
            "dataset '{}': case '{}' has no patient id in the patient column '{col}'{}; every case needs one (empty ids would be pooled into one patient)",
            dataset.name,
            cases.case_ids[k],
            dataset
                .entry
                .labels
                .as_deref()
                .map(|l| format!(" of {l}"))
                .unwrap_or_default()
        )));
    }
    if let Some(cache) = &cache
        && checked.reused > 0
    {
        observer.info(&format!(
            "{} of {} files not read for the check: unchanged (size, times, inode) since a run hashed them ({}); each is hashed as it is decoded",
            checked.reused,
            checked.files,
            cache.dir().display()
        ));
    }
    if dataset.entry.synthetic {
        observer.info(&format!(
            "note: dataset '{}' is SYNTHETIC (no patient data); its figures say nothing about clinical performance",
            dataset.name
        ));
    }
    // Patient ids are identifiers, not subgroup levels: checked for stray spaces only.
    for (column, values) in &cases.groups {
        let levels: std::collections::BTreeSet<&str> = values.iter().map(String::as_str).collect();
        let warning = if subgroups.contains(column) {
            harness_data::look_alike_levels(column, levels)
        } else {
            harness_data::look_alike_ids(column, levels)
        };
        if let Some(w) = warning {
            observer.warning(&format!("dataset {}: {w}", dataset.name));
        }
    }
    if let Some(w) = cases.targets.one_class_warning() {
        observer.warning(&w);
    }
    // The pin vouches for the data; `rows` is the entry's description of them.
    // With every frame a case, the entry's rows count files, not cases.
    if let Some(rows) = dataset
        .entry
        .rows
        .filter(|&r| r != cases.len() as u64 && dataset.entry.frames != FramePolicy::All)
    {
        observer.warning(&format!(
            "dataset {}: its registry entry says rows = {rows}, but its data hold {} cases (the data are the pinned ones: correct the entry)",
            dataset.name,
            cases.len()
        ));
    }
    observer.info(&match cases.targets {
        Targets::Binary(_) => format!("{} cases ({} positive)", cases.len(), cases.positives()),
        Targets::Multilabel { .. } => format!(
            "{} cases ({} with at least one finding)",
            cases.len(),
            cases.positives()
        ),
        Targets::Multiclass { .. } => format!(
            "{} cases ({})",
            cases.len(),
            cases
                .targets
                .class_counts()
                .iter()
                .map(|(c, n)| format!("{c}: {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    });
    let (cases, shard) = match &options.shard {
        None => (cases, None),
        Some(shard) => {
            let (cases, plan) = shard_cases(cases, shard, cluster.as_deref())?;
            let positives = match cases.targets {
                Targets::Multiclass { .. } => String::new(),
                Targets::Multilabel { .. } => {
                    format!(" ({} with a finding)", cases.positives())
                }
                Targets::Binary(_) => format!(" ({} positive)", cases.positives()),
            };
            observer.info(&format!(
                "{shard}: {} of {} cases{positives}, dealt by {}",
                cases.len(),
                plan.total_cases,
                plan.unit
            ));
            (cases, Some(plan))
        }
    };
    let out_dir = match &options.out {
        Some(d) => d.clone(),
        None => fresh_run_dir(&project_root.join("results").join(&suite.name), &started_at)?,
    };
    Ok(Plan {
        suite,
        suite_bytes,
        suite_path,
        criteria,
        requested,
        registry,
        dataset,
        dataset_check: checked,
        project_root,
        subgroups,
        cluster,
        cases,
        shard,
        site: options.site.clone(),
        paired_request: options.paired_request.clone(),
        min_level_cases: options
            .min_level_cases
            .unwrap_or(harness_metrics::MIN_LEVEL_CASES),
        score_decimals: options.score_decimals,
        out_dir,
        out_lock,
        started_at,
        signer,
        tool: options.tool.clone().unwrap_or_else(default_tool),
    })
}

/// The run options that contradict each other, refused before anything is read.
///
/// A shard's or a site's run judges nothing itself: criteria given to it would be dropped
/// without a word and its exit status would say "passed"; the merge (or the pool) of all the
/// parts is what a gate applies to.
fn check_run_options(options: &RunOptions) -> Result<(), PipelineError> {
    let refuse = |why: &str| Err(PipelineError::Input(why.to_string()));
    if !options.extra_criteria.is_empty() {
        if options.shard.is_some() {
            return refuse(
                "a shard's run applies no gate (it computes no metrics): give --fail-under/--fail-over to `harness merge`, which gates the merged results (the suite's [acceptance] is applied there too)",
            );
        }
        if options.site.is_some() {
            return refuse(
                "a site's run applies no gate (it computes no metrics): give --fail-under/--fail-over to `harness pool`, which gates the pooled results",
            );
        }
    }
    if options.site.is_some() && options.shard.is_some() {
        return refuse(
            "a federated site's run is not sharded: run the site's cases in one run (--site without --shard)",
        );
    }
    if let Some(site) = options.site.as_deref().filter(|s| s.trim().is_empty()) {
        return Err(PipelineError::Input(format!(
            "--site '{site}': a site needs a name"
        )));
    }
    if options.paired_request.is_some() && options.site.is_none() {
        return refuse(
            "a paired request is answered by a federated site's run: give the site's name too",
        );
    }
    if let Some(d) = options.score_decimals {
        if options.site.is_none() {
            return refuse(
                "a score grid (--score-decimals) applies to a site's summary only (with --site)",
            );
        }
        if options.paired_request.is_some() {
            return refuse(
                "a round-2 answer takes its score grid from the coordinator's request: leave out --score-decimals",
            );
        }
        if d > harness_metrics::pool::MAX_SCORE_DECIMALS {
            return Err(PipelineError::Input(format!(
                "a grid of {d} decimals is finer than an f64 probability holds (at most {})",
                harness_metrics::pool::MAX_SCORE_DECIMALS
            )));
        }
    }
    Ok(())
}

/// Refuses, before the dataset is verified or an image decoded, a suite whose preprocessed
/// tensors alone would not fit in this machine's memory (`memory`, where known): a
/// `preprocess.size` meant for another model, or a batch far too large for full-size images.
/// The process would otherwise be killed by the system mid-run, with nothing written.
fn check_tensor_memory(
    suite: &Suite,
    suite_path: &Path,
    memory: Option<u64>,
) -> Result<(), PipelineError> {
    let Some(memory) = memory else {
        return Ok(());
    };
    let need = infer::tensor_memory(&suite.candidates, suite.inference.batch_size);
    if need <= memory {
        return Ok(());
    }
    let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
    let sizes: Vec<String> = suite
        .candidates
        .iter()
        .map(|c| format!("{} {:?}", c.name, c.preprocess.case_shape()))
        .collect();
    Err(PipelineError::Input(format!(
        "{}: the preprocessed images alone would take at least {:.1} GiB at once (three chunks of two batches of [inference] batch_size = {} cases, one float32 tensor per case and preprocessing: {}), more than the {:.1} GiB this process may use (the machine's memory, or its control group's limit): check each candidate's preprocess size, or lower batch_size",
        suite_path.display(),
        gib(need),
        suite.inference.batch_size,
        sizes.join(", "),
        gib(memory)
    )))
}

/// The site options the dataset's task rules out, refused before the dataset is verified.
fn check_options_for_task(
    options: &RunOptions,
    task: DatasetTask,
    dataset: &str,
) -> Result<(), PipelineError> {
    if options.score_decimals.is_some() && task == DatasetTask::Multiclass {
        return Err(PipelineError::Input(format!(
            "dataset '{dataset}' is multi-class: its site summary holds the probabilities as scored (rounded rows would no longer sum to 1); leave out --score-decimals"
        )));
    }
    match (options.paired_request.as_ref().map(|r| &r.kind), task) {
        (Some(_), DatasetTask::Multiclass) => Err(PipelineError::Input(format!(
            "dataset '{dataset}' is multiclass: a multi-class evaluation has no round 2 (its paired comparison is a bootstrap over cases, which is not pooled)"
        ))),
        (Some(RequestKind::Binary(_)), DatasetTask::Multilabel)
        | (Some(RequestKind::Findings(_)), DatasetTask::Binary) => {
            Err(PipelineError::Input(format!(
                "the paired request is for a {} evaluation, but dataset '{dataset}' is {task}",
                if task.is_binary() {
                    "multi-label"
                } else {
                    "binary"
                },
            )))
        }
        _ => Ok(()),
    }
}

/// Checks each candidate's output declaration against the dataset's task: a binary dataset
/// takes `positive_index`; a multi-label one takes `columns` naming its findings (each at most
/// once; a candidate may score a subset) with a sigmoid or probability per column; a
/// multi-class one takes `columns` naming every class exactly once, with a softmax over them or
/// probabilities that sum to 1.
fn check_outputs(suite: &Suite, dataset: &Dataset, names: &[String]) -> Result<(), String> {
    use harness_backends::OutputKind;
    let task = dataset.entry.task;
    let (what, whats) = match task {
        DatasetTask::Multiclass => ("class", "classes"),
        _ => ("finding", "findings"),
    };
    for c in &suite.candidates {
        let at = |m: String| format!("candidate '{}' (line {}): {m}", c.name, c.line);
        let o = &c.output;
        if task.is_binary() {
            if !o.columns.is_empty() {
                return Err(at(format!(
                    "output.columns is for a multi-label or multi-class dataset; dataset '{}' is binary (use positive_index)",
                    dataset.name
                )));
            }
            continue;
        }
        if o.columns.is_empty() || o.names().next().is_none() {
            return Err(at(format!(
                "dataset '{}' is {task}: output.columns must name, for each output column in order, the {what} it scores (one of {}){}",
                dataset.name,
                names.join(", "),
                if task == DatasetTask::Multilabel {
                    " or \"\" for a column not evaluated"
                } else {
                    ""
                }
            )));
        }
        if o.positive_index != 0 {
            return Err(at(format!(
                "positive_index is for a binary dataset; output.columns maps a {task} model's columns"
            )));
        }
        match (task, o.kind) {
            (DatasetTask::Multilabel, OutputKind::Softmax) => {
                return Err(at(
                    "a multi-label model scores each finding on its own: output.kind is \"logit\" (a sigmoid per column) or \"probability\", not \"softmax\"".into(),
                ));
            }
            (DatasetTask::Multiclass, OutputKind::Logit) => {
                return Err(at(
                    "a multi-class model gives one probability per class that sum to 1: output.kind is \"softmax\" (over its logits) or \"probability\", not \"logit\"".into(),
                ));
            }
            _ => {}
        }
        let mut seen = std::collections::HashSet::new();
        for name in o.names() {
            if !names.iter().any(|f| f == name) {
                return Err(at(format!(
                    "output.columns names '{name}', which is not a {what} of dataset '{}' ({})",
                    dataset.name,
                    names.join(", ")
                )));
            }
            if !seen.insert(name) {
                return Err(at(format!("output.columns names '{name}' twice")));
            }
        }
        if task == DatasetTask::Multiclass {
            if o.columns.iter().any(String::is_empty) {
                return Err(at(
                    "a multi-class model's every output column is a class (its probabilities must sum to 1): \"\" is not allowed".into(),
                ));
            }
            if let Some(missing) = names.iter().find(|n| !seen.contains(n.as_str())) {
                return Err(at(format!(
                    "output.columns must name every {what} of dataset '{}' ({}); '{missing}' is missing",
                    dataset.name,
                    names.join(", ")
                )));
            }
        }
        let _ = whats;
    }
    Ok(())
}

/// This shard's cases of the full index `cases`: dealt by patient when the dataset declares a
/// patient column (a patient is never split), else case by case.
fn shard_cases(
    cases: CaseIndex,
    shard: &Shard,
    cluster: Option<&str>,
) -> Result<(CaseIndex, ShardPlan), PipelineError> {
    let plan = shard_plan(&cases, shard, cluster)?;
    Ok((cases.select(&plan.positions), plan))
}

/// The positions of shard `shard`'s cases among `n` cases whose subgroup and patient columns
/// are `groups`: dealt by the patient column `cluster` where there is one.
pub(crate) fn shard_positions(
    groups: &[(String, Vec<String>)],
    n: usize,
    shard: &Shard,
    cluster: Option<&str>,
) -> Vec<usize> {
    let units = cluster.and_then(|c| {
        groups
            .iter()
            .find(|(name, _)| name == c)
            .map(|(_, v)| v.as_slice())
    });
    shard.positions(n, units)
}

/// Which of the full index's cases are this shard's ([`shard_cases`]); an error when none are.
fn shard_plan(
    cases: &CaseIndex,
    shard: &Shard,
    cluster: Option<&str>,
) -> Result<ShardPlan, PipelineError> {
    let unit = match cluster {
        Some(c) => format!("patient column '{c}'"),
        None => "cases".to_string(),
    };
    let positions = shard_positions(&cases.groups, cases.len(), shard, cluster);
    if positions.is_empty() {
        return Err(PipelineError::Input(format!(
            "{shard} has no cases: the dataset has {} cases, dealt by {unit}; use fewer shards",
            cases.len()
        )));
    }
    Ok(ShardPlan {
        shard: shard.clone(),
        unit,
        total_cases: cases.len(),
        total_positives: cases.positives(),
        positions,
    })
}

/// The signing key from its file, when one is given.
pub(crate) fn read_signer(
    key: Option<&Path>,
) -> Result<Option<ed25519_dalek::SigningKey>, PipelineError> {
    key.map(|k| {
        harness_evidence::signing::read_signing_key(k)
            .map_err(|e| PipelineError::Key(e.to_string()))
    })
    .transpose()
}

/// A new folder `<parent>/<stamp>` (or `<stamp>-2`, `-3`, … when another run started in the
/// same second), created exclusively so that concurrent runs never share one.
fn fresh_run_dir(parent: &Path, started_at: &str) -> Result<PathBuf, PipelineError> {
    let stamp: String = started_at
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let io = |p: &Path, e: std::io::Error| {
        PipelineError::Bundle(BundleError::Io {
            path: p.to_path_buf(),
            source: e,
        })
    };
    std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    for n in 1..10_000 {
        let dir = if n == 1 {
            parent.join(&stamp)
        } else {
            parent.join(format!("{stamp}-{n}"))
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(&dir, e)),
        }
    }
    Err(PipelineError::Input(format!(
        "{}: no free run folder for {stamp}",
        parent.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A preprocess size meant for another model (or a batch far too large) is refused before
    /// any image is read, with the figure and what to change; where the machine's memory is
    /// unknown nothing is refused.
    #[test]
    fn tensors_that_cannot_fit_in_memory_are_refused_up_front() {
        let suite = |size: &str, batch: usize| {
            Suite::parse(
                &format!(
                    "name = \"t\"\nversion = \"1\"\ndataset = \"d\"\n[inference]\nbatch_size = {batch}\n[[candidates]]\nname = \"m\"\nmodel = \"m.onnx\"\nsha256 = \"{}\"\npreprocess = {{ size = {size}, channels = 3, channel_order = \"rgb\", layout = \"nchw\" }}\noutput = {{ kind = \"probability\" }}\n",
                    "0".repeat(64)
                ),
                Path::new("suite.toml"),
            )
            .unwrap()
        };
        let gib = 1u64 << 30;
        let fine = suite("[512, 512]", 32);
        assert!(check_tensor_memory(&fine, Path::new("suite.toml"), Some(16 * gib)).is_ok());
        let huge = suite("[16000, 16000]", 32);
        let err = check_tensor_memory(&huge, Path::new("suite.toml"), Some(16 * gib))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("suite.toml: the preprocessed images alone would take")
                && err.contains("m [3, 16000, 16000]")
                && err.contains("more than the 16.0 GiB this process may use"),
            "{err}"
        );
        assert!(check_tensor_memory(&huge, Path::new("suite.toml"), None).is_ok());
        // Three chunks of at least two batches: 3 x 64 x 3 x 512 x 512 x 4 bytes at least.
        assert!(infer::tensor_memory(&fine.candidates, 32) >= 3 * 64 * 3 * 512 * 512 * 4);
    }

    /// Two runs started in the same second (shards on a scheduler) get different folders,
    /// and neither touches the other's.
    #[test]
    fn runs_started_in_the_same_second_get_their_own_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let stamp = "2026-12-02T04:00:00Z";
        let dirs: Vec<PathBuf> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| fresh_run_dir(tmp.path(), stamp).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut names: Vec<String> = dirs
            .iter()
            .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 8, "{names:?}");
        assert!(
            names.contains(&"20261202T040000Z".to_string())
                && names.contains(&"20261202T040000Z-2".to_string())
        );
        assert!(
            dirs.iter()
                .all(|d| d.is_dir() && std::fs::read_dir(d).unwrap().next().is_none())
        );
    }
}
