//! `harness merge`: partial bundles of a sharded run (`harness run --shard I/N`) combined
//! into the bundle one unsharded run would have written.
//!
//! Every part is verified first (a changed file refuses the merge), then checked against the
//! others: the same suite, dataset, models, tool and settings, shard count and evaluated
//! engine; every index from 1 to N exactly once; positions that cover the full case index
//! exactly once. The merged `predictions.csv` puts each part's rows back at their positions,
//! so it is byte-identical to an unsharded run's, and `metrics.json` is computed from it by
//! the same code as a run's (so it is byte-identical too, and `verify` accepts it). The
//! agreement figures are pooled (each shard checked the full run's sample restricted to its
//! cases); performance stays per machine: each part's `performance.json` and `manifest.json`
//! are kept under `shards/part-<I>/`, the manifest pins them, and the report shows each
//! shard's measurements separately.

use crate::{
    Observer, PipelineError, RunOutcome, SUITE_COPY, metrics_of, pretty, render, sampling_text,
};
use ed25519_dalek::VerifyingKey;
use harness_backends::{ExifOrientation, PairAgreement};
use harness_evidence::bundle::BundleWriter;
use harness_evidence::evaluation::EvaluateError;
use harness_evidence::gate::{Acceptance, Gate, Requested, TaskCriterion};
use harness_evidence::manifest::{AGREEMENT, METRICS, PERFORMANCE, PREDICTIONS};
use harness_evidence::manifest::{
    CandidateRecord, DatasetRecord, MANIFEST, Manifest, Outcome, SIGNATURE, ShardPin, ToolInfo,
    TurnedImages,
};
use harness_evidence::predictions::Lines;
use harness_evidence::shard::{SHARD_FILE, SHARD_FORMAT, ShardFile};
use harness_evidence::{
    Metrics, Suite, check_input, evaluate_predictions, metrics_json, now_rfc3339,
};
use harness_measure::BenchReport;
use indexmap::IndexMap;
use rayon::prelude::*;
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// What `harness merge` asks.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// The partial bundles, in any order.
    pub parts: Vec<PathBuf>,
    /// The merged bundle's folder.
    pub out: PathBuf,
    /// Criteria besides the suite's `[acceptance]`.
    pub extra_criteria: Vec<TaskCriterion>,
    /// Sign the merged manifest with this ed25519 secret key file.
    pub sign_key: Option<PathBuf>,
    /// Every part must be signed by one of these keys; without any, signed parts are refused
    /// (their signatures would go unchecked).
    pub public_keys: Vec<VerifyingKey>,
    /// The program recorded in the manifest.
    pub tool: Option<ToolInfo>,
}

/// One partial bundle as read.
struct Part {
    dir: PathBuf,
    manifest: Manifest,
    manifest_bytes: Vec<u8>,
    /// Its signature of `manifest_bytes` (`manifest.sig`), when it was signed.
    signature: Option<Vec<u8>>,
    shard: ShardFile,
    /// `shard.json` as its manifest pins it.
    shard_bytes: Vec<u8>,
    predictions: Vec<u8>,
    agreement: serde_json::Value,
    performance: Vec<u8>,
    /// The suite copy (`suite.toml`), as the part's manifest pins it.
    suite: Vec<u8>,
}

fn refuse(message: String) -> PipelineError {
    PipelineError::Input(message)
}

fn parse_json<T: serde::de::DeserializeOwned>(
    dir: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<T, PipelineError> {
    serde_json::from_slice(bytes)
        .map_err(|e| refuse(format!("{}: not valid: {e}", dir.join(name).display())))
}

fn read_part(dir: &Path, keys: &[VerifyingKey]) -> Result<Part, PipelineError> {
    if !dir.join(MANIFEST).is_file() {
        return Err(refuse(format!(
            "{}: no {MANIFEST}: not an evidence bundle (or its run did not finish)",
            dir.display()
        )));
    }
    // The predictions (the bulk of a part) are read once: hashed, and merged from those bytes.
    let mut bundle = check_input(dir, keys, &[PREDICTIONS]).map_err(|problem| {
        refuse(format!(
            "{}: the partial bundle does not verify: {problem}",
            dir.display()
        ))
    })?;
    let manifest = bundle.manifest().clone();
    if manifest.shard.is_none() {
        return Err(refuse(format!(
            "{}: not a partial bundle (its manifest names no shard); merge takes the bundles of `harness run --shard I/N`",
            dir.display()
        )));
    }
    // Each file as the verified manifest pins it: one replaced since the check is refused.
    let pinned = |name: &str| bundle.read(name).map(Cow::into_owned).map_err(refuse);
    let shard_bytes = pinned(SHARD_FILE)?;
    let shard: ShardFile = parse_json(dir, SHARD_FILE, &shard_bytes)?;
    if shard.format != SHARD_FORMAT || Some(&shard.shard) != manifest.shard.as_ref() {
        return Err(refuse(format!(
            "{}: {SHARD_FILE} (format '{}') does not describe the shard its manifest names",
            dir.display(),
            shard.format
        )));
    }
    let agreement = parse_json(dir, AGREEMENT, &pinned(AGREEMENT)?)?;
    let performance = pinned(PERFORMANCE)?;
    let suite = pinned(SUITE_COPY)?;
    Ok(Part {
        dir: dir.to_path_buf(),
        predictions: bundle.take(PREDICTIONS).map_err(refuse)?,
        agreement,
        performance,
        suite,
        manifest_bytes: bundle.manifest_bytes().to_vec(),
        // Kept with the manifest copy, so that the merged bundle shows who signed each shard
        // (`harness verify --public-key` checks it): as the part's verification read it.
        signature: bundle.signature().map(|s| s.as_bytes().to_vec()),
        manifest,
        shard,
        shard_bytes,
    })
}

/// The parts in index order, checked to be the shards 1..=N of one run.
fn check_parts(mut parts: Vec<Part>) -> Result<Vec<Part>, PipelineError> {
    let Some(first) = parts.first() else {
        return Err(refuse("no partial bundles given".into()));
    };
    let count = first.shard.shard.count;
    let first_dir = first.dir.display().to_string();
    let same = |p: &Part, what: &str, ok: bool| -> Result<(), PipelineError> {
        if ok {
            Ok(())
        } else {
            Err(refuse(format!(
                "{} and {first_dir} are not shards of one run: their {what} differ",
                p.dir.display()
            )))
        }
    };
    for p in &parts[1..] {
        let (a, b) = (&first.manifest, &p.manifest);
        same(p, "shard counts", p.shard.shard.count == count)?;
        same(p, "suites (sha256)", a.suite.sha256 == b.suite.sha256)?;
        same(
            p,
            "datasets",
            a.dataset.name == b.dataset.name
                && a.dataset.digest == b.dataset.digest
                // Parts written before the field existed do not say.
                && match (&a.dataset.reading_sha256, &b.dataset.reading_sha256) {
                    (Some(x), Some(y)) => x == y,
                    _ => true,
                },
        )?;
        same(p, "tools (version and commit)", a.tool == b.tool)?;
        same(
            p,
            "candidates (names and model sha256)",
            a.candidates.len() == b.candidates.len()
                && a.candidates
                    .iter()
                    .zip(&b.candidates)
                    .all(|(x, y)| x.name == y.name && x.model.sha256 == y.model.sha256),
        )?;
        same(p, "evaluation settings", a.evaluation == b.evaluation)?;
        same(
            p,
            "partitions (total cases, unit)",
            first.shard.total_cases == p.shard.total_cases && first.shard.unit == p.shard.unit,
        )?;
        // One preprocessing `scale` multiplies every shard's raw values: each shard refused a
        // second depth among its own images, the merge refuses one across shards.
        if let (Some(a), Some(b)) = (first.shard.sample_bits, p.shard.sample_bits)
            && a != b
        {
            return Err(refuse(format!(
                "{}'s images are {b}-bit, {first_dir}'s {a}-bit: a preprocessing scale multiplies raw values (0-255 or 0-65535), so no one scale suits both; convert the dataset's images to one bit depth",
                p.dir.display()
            )));
        }
        let engine = |m: &Manifest| m.inference.as_ref().map(|i| (i.engine.clone(), i.device));
        same(
            p,
            "evaluated engines or devices",
            engine(a) == engine(b) && a.primary_backend == b.primary_backend,
        )?;
    }
    parts.sort_by_key(|p| p.shard.shard.index);
    for w in parts.windows(2) {
        if w[0].shard.shard.index == w[1].shard.shard.index {
            return Err(refuse(format!(
                "shard {} of {count} is given twice: {} and {}",
                w[0].shard.shard.index,
                w[0].dir.display(),
                w[1].dir.display()
            )));
        }
    }
    let missing: Vec<String> = (1..=count)
        .filter(|i| !parts.iter().any(|p| p.shard.shard.index == *i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(refuse(format!(
            "missing shard(s) {} of {count}: a merge needs every shard (given: {})",
            missing.join(", "),
            parts
                .iter()
                .map(|p| p.dir.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    // A candidate that failed in one shard has no predictions there.
    for p in &parts {
        if let Some(c) = p.manifest.candidates.iter().find(|c| !c.outcome.is_ok()) {
            return Err(refuse(format!(
                "{}: candidate '{}' failed in this shard ({}); run the shard again before merging",
                p.dir.display(),
                c.name,
                c.outcome.reason().unwrap_or("no reason recorded")
            )));
        }
    }
    Ok(parts)
}

/// The rows of every part put back at their positions in the full case index.
fn merge_predictions(parts: &[Part]) -> Result<Vec<u8>, PipelineError> {
    let total =
        usize::try_from(parts[0].shard.total_cases).map_err(|_| refuse("too many cases".into()))?;
    // Each case's row as the bytes its shard wrote (each part has been checked against its
    // manifest's hash, so these are the harness's own CSV lines): copied, not re-encoded.
    let mut rows: Vec<Option<&[u8]>> = vec![None; total];
    // Each part's header and the byte offsets where its records start (a record ends where the
    // next one starts), parsed in parallel: with a hundred shards this is most of the merge's
    // reading.
    let parsed: Vec<Lines> = parts
        .par_iter()
        .map(|p| {
            Lines::split(&p.predictions, p.shard.positions.len())
                .map_err(|e| refuse(format!("{}: {e}", p.dir.join(PREDICTIONS).display())))
        })
        .collect::<Vec<Result<_, PipelineError>>>()
        .into_iter()
        // The first bad part in shard order, whatever the threads' timing.
        .collect::<Result<_, PipelineError>>()?;
    let mut header: Option<(&csv::ByteRecord, &Path)> = None;
    let mut header_line: &[u8] = &[];
    for (p, lines) in parts.iter().zip(&parsed) {
        let path = p.dir.join(PREDICTIONS);
        let data = p.predictions.as_slice();
        match &header {
            None => header = Some((&lines.header, &p.dir)),
            Some((first, dir)) if **first != lines.header => {
                return Err(refuse(format!(
                    "{}: its columns differ from those of {}",
                    path.display(),
                    dir.join(PREDICTIONS).display()
                )));
            }
            Some(_) => {}
        }
        // The merged file is the parts' lines as written, and `verify` checks each shard's
        // rows in it against the shard's own file: a part must be written as the harness
        // writes (one header line, byte for byte; every line ended).
        if header_line.is_empty() {
            header_line = lines.header_line(data);
        } else if lines.header_line(data) != header_line {
            return Err(refuse(format!(
                "{}: its header line is written otherwise than the first part's (the same columns): not as `harness run --shard` writes it",
                path.display()
            )));
        }
        if !data.ends_with(b"\n") {
            return Err(refuse(format!(
                "{}: its last line has no line end: not as `harness run --shard` writes it",
                path.display()
            )));
        }
        if lines.len() != p.shard.positions.len() {
            let relation = if lines.len() < p.shard.positions.len() {
                "fewer"
            } else {
                "more"
            };
            return Err(refuse(format!(
                "{}: {relation} rows than the {} cases its {SHARD_FILE} lists",
                path.display(),
                p.shard.positions.len()
            )));
        }
        for (k, &pos) in p.shard.positions.iter().enumerate() {
            let slot = usize::try_from(pos)
                .ok()
                .and_then(|i| rows.get_mut(i))
                .ok_or_else(|| {
                    refuse(format!(
                        "{}: position {pos} is outside the {total} cases of the run",
                        p.dir.join(SHARD_FILE).display()
                    ))
                })?;
            if slot.is_some() {
                return Err(refuse(format!(
                    "{}: case position {pos} is also in another shard: the shards overlap",
                    p.dir.join(SHARD_FILE).display()
                )));
            }
            *slot = Some(lines.record(data, k));
        }
    }
    if let Some(pos) = rows.iter().position(Option::is_none) {
        return Err(refuse(format!(
            "case position {pos} of {total} is in no shard: the shards do not cover the run"
        )));
    }
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.predictions.len()).sum());
    out.extend_from_slice(header_line);
    for line in rows.into_iter().flatten() {
        out.extend_from_slice(line);
    }
    Ok(out)
}

/// A candidate's agreement pairs by (engine a, engine b).
type PairsByEngines = IndexMap<(String, String), PairAgreement>;

/// Each candidate's agreement pairs summed over the shards: the largest difference, the
/// decision flips and cases compared.
fn merge_agreements(parts: &[Part]) -> Vec<serde_json::Value> {
    let mut by_candidate: IndexMap<String, (f64, PairsByEngines)> = IndexMap::new();
    for p in parts {
        let candidates = p.agreement["candidates"].as_array().cloned();
        for c in candidates.unwrap_or_default() {
            let Some(name) = c["candidate"].as_str() else {
                continue;
            };
            let threshold = c["threshold"].as_f64().unwrap_or(0.5);
            let pairs: Vec<PairAgreement> =
                serde_json::from_value(c["pairs"].clone()).unwrap_or_default();
            let entry = by_candidate
                .entry(name.to_string())
                .or_insert_with(|| (threshold, IndexMap::new()));
            for pair in pairs {
                let key = (pair.a.clone(), pair.b.clone());
                match entry.1.get_mut(&key) {
                    None => {
                        entry.1.insert(key, pair);
                    }
                    Some(m) => {
                        m.max_abs_diff = if pair.max_abs_diff.is_nan() {
                            f64::NAN
                        } else {
                            m.max_abs_diff.max(pair.max_abs_diff)
                        };
                        m.decision_disagreements += pair.decision_disagreements;
                        m.n += pair.n;
                    }
                }
            }
        }
    }
    by_candidate
        .into_iter()
        .map(|(name, (threshold, pairs))| {
            let pairs: Vec<PairAgreement> = pairs.into_values().collect();
            serde_json::json!({"candidate": name, "threshold": threshold, "pairs": pairs})
        })
        .collect()
}

/// A candidate's record over all shards: a backend failed in any shard is failed, naming it.
fn merge_candidates(parts: &[Part]) -> Vec<CandidateRecord> {
    let mut merged = parts[0].manifest.candidates.clone();
    for p in &parts[1..] {
        let index = p.shard.shard.index;
        for (m, c) in merged.iter_mut().zip(&p.manifest.candidates) {
            // A warning about every output row holds for the run where it held in every shard.
            m.warnings.retain(|w| c.warnings.contains(w));
            for b in &c.backends {
                if let (Some(reason), Some(mb)) = (
                    b.outcome.reason(),
                    m.backends.iter_mut().find(|x| x.backend == b.backend),
                ) && mb.outcome.is_ok()
                {
                    mb.outcome = if b.outcome.is_failed() {
                        Outcome::failed(format!("shard {index}: {reason}"))
                    } else {
                        b.outcome.clone()
                    };
                }
            }
        }
    }
    merged
}

/// The shards' images whose files say they are to be turned for display, added up: how many,
/// and the first in the full case order (a shard's first row mapped through its positions).
fn merge_turned(parts: &[Part]) -> Option<TurnedImages> {
    let mut merged: Option<TurnedImages> = None;
    for p in parts {
        let Some(t) = p
            .manifest
            .inference
            .as_ref()
            .and_then(|i| i.turned_images.as_ref())
        else {
            continue;
        };
        // A row past the shard's cases (a manifest edited by hand, or none) counts as its last.
        let row = t
            .first_row
            .and_then(|r| usize::try_from(r).ok())
            .unwrap_or(usize::MAX);
        let at = p
            .shard
            .positions
            .get(row)
            .or(p.shard.positions.last())
            .copied()
            .unwrap_or(0);
        match &mut merged {
            None => {
                merged = Some(TurnedImages {
                    first_row: Some(at),
                    ..t.clone()
                });
            }
            Some(sum) => {
                sum.count += t.count;
                if Some(at) < sum.first_row {
                    sum.first_case.clone_from(&t.first_case);
                    sum.first_exif = t.first_exif;
                    sum.first_row = Some(at);
                }
            }
        }
    }
    merged
}

/// The merged candidates' warnings about turned images: each shard's (its own count and first
/// case) gives way to the run's, for every candidate whose preprocessing takes the images as
/// stored, first among its warnings as in a run.
fn warn_turned(
    mut candidates: Vec<CandidateRecord>,
    parts: &[Part],
    suite: &Suite,
    turned: Option<&TurnedImages>,
    total: u64,
) -> Vec<CandidateRecord> {
    let shard_texts: Vec<String> = parts
        .iter()
        .filter_map(|p| {
            let t = p.manifest.inference.as_ref()?.turned_images.as_ref()?;
            Some(t.warning(p.shard.positions.len()))
        })
        .collect();
    for c in &mut candidates {
        c.warnings.retain(|w| !shard_texts.contains(w));
        let ignores = suite
            .candidates
            .iter()
            .any(|s| s.name == c.name && s.preprocess.exif_orientation == ExifOrientation::Ignore);
        if let Some(t) = turned
            && ignores
            && !c.outcome.is_failed()
        {
            c.warnings.insert(0, t.warning(total as usize));
        }
    }
    candidates
}

/// Every shard's measurements, each labelled with its shard (measured on its own machine).
fn merge_performance(parts: &[Part]) -> Result<BenchReport, PipelineError> {
    let mut merged: Option<BenchReport> = None;
    for p in parts {
        let mut bench: BenchReport = parse_json(&p.dir, PERFORMANCE, &p.performance)?;
        let index = p.shard.shard.index;
        for r in &mut bench.results {
            r.profile = format!("{} (shard {index})", r.profile);
        }
        match &mut merged {
            None => merged = Some(bench),
            Some(m) => m.results.extend(bench.results),
        }
    }
    merged.ok_or_else(|| refuse("no partial bundles given".into()))
}

/// Merges the partial bundles of `options.parts` into `options.out`.
///
/// # Errors
///
/// [`PipelineError::Input`] naming the part and the reason when the parts are not the
/// complete, consistent, unchanged shards of one run; a bundle write failure.
pub fn merge(options: &MergeOptions, observer: &dyn Observer) -> Result<RunOutcome, PipelineError> {
    let started_at = now_rfc3339();
    // The merged bundle would replace that part's files, or add files its manifest does not
    // list.
    if let Some(part) = options
        .parts
        .iter()
        .find(|p| harness_evidence::bundle::within(&options.out, p))
    {
        let is = if options
            .out
            .canonicalize()
            .is_ok_and(|o| part.canonicalize().is_ok_and(|p| p == o))
        {
            "is the part"
        } else {
            "is inside the part"
        };
        return Err(refuse(format!(
            "--out {} {is} {}: write the merged bundle to another folder",
            options.out.display(),
            part.display()
        )));
    }
    // Every part is verified (each file hashed against its manifest) and read, in parallel:
    // with a hundred shards that is most of what a merge reads.
    observer.info(&format!(
        "verifying {} partial bundle(s)",
        options.parts.len()
    ));
    let parts: Vec<Part> = options
        .parts
        .par_iter()
        .map(|dir| read_part(dir, &options.public_keys))
        .collect::<Vec<_>>()
        .into_iter()
        // The first bad part in the order given, whatever the threads' timing.
        .collect::<Result<_, _>>()?;
    let parts = check_parts(parts)?;
    let first = &parts[0].manifest;
    let suite_bytes = parts[0].suite.clone();
    let suite_path = parts[0].dir.join(SUITE_COPY);
    let suite_text = std::str::from_utf8(&suite_bytes)
        .map_err(|e| refuse(format!("{}: not UTF-8: {e}", suite_path.display())))?;
    let suite = Suite::parse(suite_text, &suite_path)?;
    let requested = Requested {
        suite: suite
            .acceptance
            .criteria()
            .map_err(|e| refuse(format!("{}: {e}", suite_path.display())))?,
        command_line: options.extra_criteria.clone(),
    };
    let settings = first.evaluation.clone();
    let (criteria, warnings) = Gate::for_task(&requested.all(), settings.task, &settings.targets())
        .map_err(|e| refuse(format!("{}: {e}", suite_path.display())))?;
    for w in warnings {
        observer.warning(&w);
    }
    // As in a run: a criterion the merged evaluation can never give is a mistake in the command,
    // refused before any work rather than failed after it.
    if let Some(why) = criteria.unavailable(
        &settings.options(),
        &settings.groups,
        settings.cluster.is_some(),
    ) {
        return Err(refuse(format!(
            "{}: [acceptance] or the command line: {why}",
            suite_path.display()
        )));
    }
    let signer = crate::read_signer(options.sign_key.as_deref())?;

    let predictions = merge_predictions(&parts)?;
    let mut bundle = BundleWriter::create(&options.out)?;
    observer.info(&format!(
        "merging {} shards into {}",
        parts.len(),
        options.out.display()
    ));
    crate::observer::earlier_bundle(&bundle, observer);
    // Computed from the merged bytes by the code a run uses: byte-identical metrics.json. The
    // statistics run while the merged predictions are written and hashed.
    let path = options.out.join(PREDICTIONS);
    let failed = |e: EvaluateError| PipelineError::Metrics(e.to_string());
    let compute = || -> Result<_, PipelineError> {
        Ok(if settings.scores.is_empty() {
            (None, None, Vec::new(), None)
        } else if settings.task.is_binary() {
            let (r, t) = metrics_of(&predictions, &path, &settings)?;
            let json = metrics_json(&r);
            (Some(Metrics::Binary(r)), Some(t), Vec::new(), Some(json))
        } else {
            let metrics = evaluate_predictions(&predictions, &path, &settings).map_err(failed)?;
            let json = metrics.to_json();
            let curves = render::target_curves(&predictions, &path, &settings).map_err(failed)?;
            (Some(metrics), None, curves, Some(json))
        })
    };
    let (written, computed) = std::thread::scope(|scope| {
        let statistics = scope.spawn(compute);
        let written = bundle.write(PREDICTIONS, &predictions);
        (written, statistics.join())
    });
    written?;
    let (report, table, target_curves, json) = match computed {
        Ok(result) => result?,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    if let Some(json) = json {
        bundle.write(METRICS, &json)?;
    }

    let total = parts[0].shard.total_cases;
    let agreements = merge_agreements(&parts);
    let checked: u64 = parts
        .iter()
        .map(|p| p.agreement["cases_checked"].as_u64().unwrap_or(0))
        .sum();
    let seed = suite.metrics.seed;
    let sampling = sampling_text(checked as usize, total as usize, seed);
    bundle.write(
        AGREEMENT,
        &pretty(&serde_json::json!({
            "tolerance": suite.inference.agreement_tolerance,
            "cases_checked": checked,
            "cases_total": total,
            "sampling": sampling,
            "candidates": agreements,
        })),
    )?;
    let bench = merge_performance(&parts)?;
    bundle.write(PERFORMANCE, &pretty(&bench))?;
    let mut pins = Vec::with_capacity(parts.len());
    for p in &parts {
        let index = p.shard.shard.index;
        let dir = format!("shards/part-{index}");
        bundle.write(&format!("{dir}/{MANIFEST}"), &p.manifest_bytes)?;
        // The shard's positions, pinned by its manifest: `verify` checks the merged rows at
        // them against the shard's predictions.csv hash.
        bundle.write(&format!("{dir}/{SHARD_FILE}"), &p.shard_bytes)?;
        if let Some(signature) = &p.signature {
            bundle.write(&format!("{dir}/{SIGNATURE}"), signature)?;
        }
        bundle.write(&format!("{dir}/performance.json"), &p.performance)?;
        pins.push(ShardPin {
            index,
            cases: p.shard.positions.len() as u64,
            source: p.shard.shard.source.clone(),
            manifest_sha256: harness_data::registry::sha256_hex(&p.manifest_bytes),
        });
    }

    let turned = merge_turned(&parts);
    let candidates = warn_turned(
        merge_candidates(&parts),
        &parts,
        &suite,
        turned.as_ref(),
        total,
    );
    let tool = options.tool.clone().unwrap_or_else(crate::default_tool);
    let inference = first.inference.clone().map(|mut i| {
        i.agreement_cases = checked;
        i.agreement_sampling = sampling.clone();
        i.turned_images = turned;
        i
    });
    let machine: harness_measure::Machine = bench.machine.clone();
    let probabilities: Vec<Option<Vec<f64>>> = candidates
        .iter()
        .map(|c| {
            let t = table.as_ref()?;
            let k = t.score_names.iter().position(|n| *n == c.name)?;
            Some(t.scores[k].clone())
        })
        .collect();
    let labels = table.as_ref().map(|t| t.labels.clone()).unwrap_or_default();
    let gate = report
        .as_ref()
        .map(|r| criteria.check(r))
        .unwrap_or_default();
    {
        let with_probs: Vec<(&CandidateRecord, Option<&Vec<f64>>)> = candidates
            .iter()
            .zip(&probabilities)
            .map(|(c, p)| (c, p.as_ref()))
            .collect();
        let not_measured: Vec<(String, String)> = Vec::new();
        let input = render::build(render::Parts {
            suite: &suite,
            dataset: &first.dataset,
            tool: &tool,
            date: &started_at,
            machine: &machine,
            labels: &labels,
            candidates: &with_probs,
            eval: report.as_ref().and_then(Metrics::binary),
            findings: report.as_ref().and_then(Metrics::multilabel),
            classes: report.as_ref().and_then(Metrics::multiclass),
            target_curves,
            agreements: &agreements,
            bench: &bench,
            not_measured: &not_measured,
            inference: inference.as_ref().map(|i| harness_report::InferenceInfo {
                engine: i.engine.clone(),
                device: i.device,
                fallback_reason: i.fallback_reason.clone(),
                agreement_cases: checked,
                total_cases: total,
                agreement_seed: seed,
            }),
            criteria: &requested,
            gate: &gate,
        });
        let rendered = harness_report::render(&input);
        bundle.write("report.html", rendered.html.as_bytes())?;
        bundle.write("summary.md", rendered.markdown.as_bytes())?;
        for fig in &rendered.figures {
            if let Ok(svg) = &fig.svg {
                bundle.write(&format!("figures/{}", fig.file_name()), svg.as_bytes())?;
            }
        }
    }
    bundle.write(SUITE_COPY, &suite_bytes)?;
    let earliest = parts
        .iter()
        .map(|p| p.manifest.started_at.as_str())
        .min()
        .unwrap_or(&started_at)
        .to_string();
    let manifest = Manifest {
        format: first.format.clone(),
        complete: true,
        tool,
        suite: first.suite.clone(),
        // Each shard checked the pin itself; its manifest (under `shards/`) says how.
        dataset: DatasetRecord {
            check: None,
            ..first.dataset.clone()
        },
        candidates: candidates.clone(),
        evaluation: settings,
        primary_metric: first.primary_metric,
        primary_backend: first.primary_backend.clone(),
        inference,
        machine: first.machine.clone(),
        shard: None,
        shards: pins,
        site: None,
        acceptance: Acceptance::record(&requested, &gate),
        started_at: earliest,
        finished_at: now_rfc3339(),
        files: Default::default(),
    };
    bundle.finish(manifest, signer.as_ref())?;
    Ok(RunOutcome {
        out_dir: options.out.clone(),
        eval: report,
        gate,
        candidates,
    })
}
