//! The coordinator of a federated evaluation (`harness pool`): the sites' files read and checked
//! before anything is pooled, and the two rounds run on them.
//!
//! A site sends a bare summary (`harness eval --aggregates-only --json`), taken as given, or a
//! site bundle (`harness run --site NAME --aggregates-only`), verified first (every file's
//! SHA-256 against its manifest, its signature against the signers' keys). Bundles pooled
//! together must have run one suite, its dataset aside — the same models under the same names,
//! the same statistics' settings and criteria — on different data ([`read_sites`]). The rounds
//! ([`Rounds`]: binary, or multi-label finding by finding) are the protocol of
//! `harness_metrics::pool`, which also says what each message reveals; the report of the pooled
//! results is [`crate::pooled`]. The `harness` binary parses the arguments, prints and writes
//! the files.

use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use harness_evidence::manifest::{CandidateRecord, MANIFEST, Manifest};
use harness_evidence::{Suite, check_input};
use harness_metrics::EvalOptions;
use harness_metrics::pool::{
    PairedRequest, PairedSiteSums, PoolError, SiteSummary, paired_request, pool, pool_paired_json,
};
use harness_metrics::pool_findings::{
    FindingsPairedRequest, FindingsPairedSums, FindingsSiteSummary, findings_paired_request,
    pool_findings, pool_findings_paired,
};
use harness_report::{ReportInput, SiteAnswer};
use indexmap::IndexMap;
use rayon::prelude::*;

use crate::pooled::{DescribedSite, PooledSite, SiteRun, site_run_warnings};
use crate::{SITE_FILE, SUITE_COPY, SUMS_FILE};

/// Why sites could not be pooled.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    /// A file the coordinator was given that cannot be used: a site's summary or answer that
    /// is unreadable, not valid JSON of its kind, not a site summary, of another kind than the
    /// first site's or in a site bundle that does not verify; a round-2 request that cannot be
    /// read or parsed (the message names the file, or the request's kind).
    #[error("{0}")]
    Unusable(String),
    /// Site bundles that cannot be pooled together: a candidate that is another model at
    /// another site, the same data twice, suites that differ in what changes a pooled figure.
    #[error("{0}")]
    Incompatible(String),
    /// A criterion of the sites' suite that the pooled results can never give.
    #[error("{0}")]
    Criterion(String),
    /// The pooling itself (the message names the site, model and table).
    #[error(transparent)]
    Pool(Box<PoolError>),
    /// Round 2 failed with this request.
    #[error("round 2 with the request {}", request.display())]
    Round2 {
        request: PathBuf,
        #[source]
        source: Box<CoordinatorError>,
    },
}

impl From<PoolError> for CoordinatorError {
    fn from(e: PoolError) -> Self {
        CoordinatorError::Pool(Box::new(e))
    }
}

fn unusable(message: String) -> CoordinatorError {
    CoordinatorError::Unusable(message)
}

/// The site bundle `path` names: the folder itself, or the folder of a file its manifest lists
/// (`site-a/site.json` is read as the bundle `site-a`); `None` for a bare file.
#[must_use]
pub fn bundle_of(path: &Path) -> Option<PathBuf> {
    if path.is_dir() {
        return Some(path.to_path_buf());
    }
    let dir = path.parent()?;
    let name = path.file_name()?.to_str()?;
    let bytes = std::fs::read(dir.join(MANIFEST)).ok()?;
    let manifest: Manifest = serde_json::from_slice(&bytes).ok()?;
    manifest.files.contains_key(name).then(|| dir.to_path_buf())
}

/// What a site bundle holds beside its summary: its manifest and the suite the site ran.
pub struct SiteBundle {
    pub manifest: Manifest,
    pub suite: Suite,
}

/// A site's file as read: its value, its bundle (`None` for a bare file) and the SHA-256 of
/// the bytes parsed.
pub struct SiteFile<T> {
    pub value: T,
    pub bundle: Option<SiteBundle>,
    pub sha256: String,
}

/// A site's file, or `file` of a site bundle (`harness run --site`, named by its folder or by a
/// file in it): the bundle is verified first (every file's sha256 against its manifest; its
/// signature against `keys`, a signed bundle refused without any: [`check_input`]) and the
/// file is read as that manifest pins it. A bare file is refused when `keys` are given: it has
/// no signature to check.
///
/// # Errors
/// [`CoordinatorError::Unusable`], naming the file.
pub fn read_site_file<T: serde::de::DeserializeOwned>(
    path: &Path,
    file: &str,
    keys: &[VerifyingKey],
) -> Result<SiteFile<T>, CoordinatorError> {
    let Some(dir) = bundle_of(path) else {
        if !keys.is_empty() {
            return Err(unusable(format!(
                "{}: a bare file carries no signature to check against --public-key: give the site's bundle folder",
                path.display()
            )));
        }
        let bytes = std::fs::read(path)
            .map_err(|e| unusable(format!("{}: cannot read: {e}", path.display())))?;
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| unusable(format!("{}: not valid: {e}", path.display())))?;
        return Ok(SiteFile {
            value,
            bundle: None,
            sha256: harness_data::registry::sha256_hex(&bytes),
        });
    };
    let bundle = check_input(&dir, keys, &[file]).map_err(|problem| {
        unusable(format!(
            "{}: the site bundle does not verify: {problem}",
            dir.display()
        ))
    })?;
    let bytes = bundle.read(file).map_err(unusable)?;
    let value = serde_json::from_slice(&bytes)
        .map_err(|e| unusable(format!("{}: not valid: {e}", dir.join(file).display())))?;
    let sha256 = bundle.manifest().files[file].clone();
    let suite_path = dir.join(SUITE_COPY);
    let suite_bytes = bundle.read(SUITE_COPY).map_err(unusable)?;
    let suite = std::str::from_utf8(&suite_bytes)
        .map_err(|e| e.to_string())
        .and_then(|text| Suite::parse(text, &suite_path).map_err(|e| e.to_string()))
        .map_err(|e| unusable(format!("{}: the site's suite: {e}", suite_path.display())))?;
    Ok(SiteFile {
        value,
        bundle: Some(SiteBundle {
            manifest: bundle.manifest().clone(),
            suite,
        }),
        sha256,
    })
}

/// The `format` of a site file, read on its own.
#[derive(serde::Deserialize)]
struct Format {
    /// Empty when the file has none: not a site file.
    #[serde(default)]
    format: String,
}

/// The `format` a site's summary declares (`path` as [`read_site_file`] takes it): which
/// protocol its sites follow.
///
/// # Errors
/// [`CoordinatorError::Unusable`] when it cannot be read or has no `format` (not a site file).
pub fn site_format(path: &Path, keys: &[VerifyingKey]) -> Result<String, CoordinatorError> {
    let format = read_site_file::<Format>(path, SITE_FILE, keys)?
        .value
        .format;
    if format.is_empty() {
        return Err(not_a_site_file(path));
    }
    Ok(format)
}

/// The error for a JSON file without a `format` field, which every site file has.
fn not_a_site_file(path: &Path) -> CoordinatorError {
    unusable(format!(
        "{}: not a site summary (it has no \"format\" field; an `eval` or `pool` results file?): give the summaries `harness eval --aggregates-only --site NAME --json` or `harness run --site NAME --aggregates-only` wrote",
        path.display()
    ))
}

/// The sites' summaries as pooled, each with the SHA-256 of the bytes it was parsed from.
pub struct Sites<T> {
    pub summaries: Vec<T>,
    pub sha256: Vec<String>,
    /// Per site, whether its data are synthetic as its bundle's manifest says (`None`: a bare
    /// summary).
    pub synthetic: Vec<Option<bool>>,
    /// The candidates the sites evaluated, their model files pinned (the same at every site);
    /// `None` unless every site sent a bundle.
    pub models: Option<Vec<CandidateRecord>>,
    /// The suite the site bundles ran (the same at every one, its dataset aside); `None` for
    /// bare summaries.
    pub suite: Option<Suite>,
    /// What the site bundles' suites differ in that changes no pooled figure, and what the
    /// sites' runs warned of a candidate ([`site_run_warnings`]): to be said as the sites are
    /// read, and kept among the pooled results' warnings (their JSON and report).
    pub notes: Vec<String>,
    /// Bare summaries given beside site bundles, in words (nothing verifies them, nor checks
    /// their models, dataset pin and suite): to be said, not kept with the results.
    pub bare_beside_bundles: Option<String>,
}

/// Every site's summary, parsed in parallel (with exact scores a summary is about as large as
/// the site's data). A file that does not parse but is of another kind than the first site's
/// (`first_format`: binary, multi-label or multi-class) is refused saying so; so are site
/// bundles that disagree on their models or share their data.
///
/// # Errors
/// [`CoordinatorError::Unusable`] (a file) or [`CoordinatorError::Incompatible`] (bundles).
pub fn read_sites<T: serde::de::DeserializeOwned + Send>(
    paths: &[PathBuf],
    first_format: &str,
    keys: &[VerifyingKey],
) -> Result<Sites<T>, CoordinatorError> {
    let read: Vec<SiteFile<T>> = paths
        .par_iter()
        .map(|p| {
            read_site_file(p, SITE_FILE, keys).map_err(|e| {
                match read_site_file::<Format>(p, SITE_FILE, keys) {
                    Ok(f) if f.value.format.is_empty() => not_a_site_file(p),
                    Ok(f) if f.value.format != first_format => unusable(format!(
                        "{}: a '{}' summary, but the first site's ({}) is '{first_format}': pool the sites of one evaluation (all binary, all multi-label or all multi-class) together",
                        p.display(),
                        f.value.format,
                        paths[0].display()
                    )),
                    _ => e,
                }
            })
        })
        .collect::<Result<_, _>>()?;
    let mut summaries = Vec::with_capacity(read.len());
    let mut bundles: Vec<(&PathBuf, SiteBundle)> = Vec::new();
    let mut sha256 = Vec::with_capacity(read.len());
    let mut synthetic = Vec::with_capacity(read.len());
    for (p, file) in paths.iter().zip(read) {
        summaries.push(file.value);
        synthetic.push(file.bundle.as_ref().map(|b| b.manifest.dataset.synthetic));
        bundles.extend(file.bundle.map(|b| (p, b)));
        sha256.push(file.sha256);
    }
    let mut notes = check_bundle_pins(&bundles)?;
    let names: Vec<String> = bundles
        .iter()
        .map(|(p, b)| {
            b.manifest
                .site
                .clone()
                .unwrap_or_else(|| p.display().to_string())
        })
        .collect();
    let runs: Vec<SiteRun> = bundles
        .iter()
        .zip(&names)
        .map(|((_, b), name)| SiteRun {
            name,
            manifest: &b.manifest,
        })
        .collect();
    notes.extend(site_run_warnings(&runs));
    let bare_beside_bundles = (!bundles.is_empty() && bundles.len() < paths.len()).then(|| {
        let bare: Vec<String> = paths
            .iter()
            .filter(|p| !bundles.iter().any(|(b, _)| b == p))
            .map(|p| p.display().to_string())
            .collect();
        let one = bare.len() == 1;
        format!(
            "{} {} bare summar{} beside site bundles: nothing verifies {}, and its models, dataset pin and suite are not checked against the bundles'; pool every site's bundle folder",
            bare.join(", "),
            if one { "is a" } else { "are" },
            if one { "y" } else { "ies" },
            if one { "it" } else { "them" }
        )
    });
    // The models are known only where every site sent a bundle that pins them.
    let models = (bundles.len() == paths.len())
        .then(|| bundles.first().map(|(_, b)| b.manifest.candidates.clone()))
        .flatten();
    let suite = bundles.into_iter().next().map(|(_, b)| b.suite);
    Ok(Sites {
        summaries,
        sha256,
        synthetic,
        models,
        suite,
        notes,
        bare_beside_bundles,
    })
}

impl<T> Sites<T> {
    /// The pooled results' warnings but the notes already said as the sites were read.
    pub fn unsaid<'w>(&'w self, warnings: &'w [String]) -> impl Iterator<Item = &'w String> {
        warnings.iter().filter(|w| !self.notes.contains(w))
    }

    /// Each summary with the SHA-256 of the bytes it was parsed from (`site.json` of a site
    /// bundle: the manifest's pin), its round-2 answer among `answers`, and whether its bundle
    /// says its data are synthetic.
    #[must_use]
    pub fn pooled_sites<'r>(&'r self, answers: &Answers) -> Vec<PooledSite<'r, T>>
    where
        T: DescribedSite,
    {
        self.summaries
            .iter()
            .zip(&self.sha256)
            .zip(&self.synthetic)
            .map(|((summary, sha), synthetic)| PooledSite {
                summary,
                file_sha256: sha.clone(),
                paired: answers
                    .iter()
                    .find(|(site, _)| site == summary.name())
                    .map(|(_, a)| a.clone()),
                synthetic: *synthetic,
            })
            .collect()
    }

    /// The report input's candidates with the model files the site bundles pinned (the same
    /// bytes at every site), where every site sent a bundle (a bare summary names its models
    /// only, so where one site sent one, what that site scored with is not known).
    #[must_use]
    pub fn with_model_pins(&self, mut input: ReportInput) -> ReportInput {
        let Some(models) = &self.models else {
            return input;
        };
        for c in &mut input.candidates {
            if let Some(r) = models.iter().find(|r| r.name == c.name) {
                c.model_file = format!("{} (scored at each site)", r.model.path);
                c.model_sha256 = r.model.sha256.clone();
            }
        }
        input
    }
}

/// Site bundles (`harness run --site`, verified as they are read) pooled together must have
/// run the same models under the same names — a candidate's model file the same bytes at
/// every site, preprocessed and read out alike — with the same statistics' settings and
/// acceptance criteria, on different data (the same dataset twice would count its cases
/// twice). Checked from their manifests and suites (each site's suite names its own dataset);
/// a summary given as a bare JSON file names its models only, and the coordinator has to know
/// them to be the same. Returns what the suites differ in that changes no pooled figure.
fn check_bundle_pins(bundles: &[(&PathBuf, SiteBundle)]) -> Result<Vec<String>, CoordinatorError> {
    use std::collections::HashMap;
    let mut models: HashMap<String, (String, &PathBuf)> = HashMap::new();
    let mut data: HashMap<String, &PathBuf> = HashMap::new();
    for &(path, ref site) in bundles {
        let m = &site.manifest;
        for c in &m.candidates {
            let (sha, first) = models
                .entry(c.name.clone())
                .or_insert((c.model.sha256.clone(), path));
            if *sha != c.model.sha256 {
                return Err(CoordinatorError::Incompatible(format!(
                    "{} and {}: candidate '{}' is another model at each site (model sha256 {} and {}): pool sites that evaluated the same models",
                    first.display(),
                    path.display(),
                    c.name,
                    sha,
                    c.model.sha256
                )));
            }
        }
        if let Some(first) = data.insert(m.dataset.digest.clone(), path) {
            return Err(CoordinatorError::Incompatible(format!(
                "{} and {}: both evaluated dataset '{}' ({}): its cases would be counted twice",
                first.display(),
                path.display(),
                m.dataset.name,
                m.dataset.digest
            )));
        }
    }
    let Some((first_path, first)) = bundles.first() else {
        return Ok(Vec::new());
    };
    let first = suite_parts(&first.suite);
    for &(path, ref site) in &bundles[1..] {
        for (what, value) in suite_parts(&site.suite) {
            if let Some((_, other)) = first.iter().find(|(w, _)| *w == what)
                && *other != value
            {
                return Err(CoordinatorError::Incompatible(format!(
                    "{} and {}: their suites differ in {what} ({other} and {value}): pool sites that ran one suite (its dataset aside)",
                    first_path.display(),
                    path.display()
                )));
            }
        }
    }
    // What may differ without changing a pooled figure, but says the sites did not run one
    // suite file: said, not refused.
    let noted = |suite: &Suite| {
        [
            ("name", suite.name.clone()),
            ("version", suite.version.clone()),
            (
                "[inference] primary_backend",
                suite.inference.primary_backend.to_string(),
            ),
            ("[inference] device", suite.inference.device.to_string()),
        ]
    };
    let parts: Vec<_> = bundles.iter().map(|(_, site)| noted(&site.suite)).collect();
    let mut differ: Vec<String> = Vec::new();
    for (k, (what, _)) in parts[0].iter().enumerate() {
        let values: std::collections::BTreeSet<&String> = parts.iter().map(|p| &p[k].1).collect();
        if values.len() > 1 {
            let listed: Vec<String> = values.into_iter().map(|v| format!("'{v}'")).collect();
            differ.push(format!("{what} ({})", listed.join(", ")));
        }
    }
    if differ.is_empty() {
        return Ok(Vec::new());
    }
    let engines = if differ.iter().any(|d| d.starts_with("[inference]")) {
        " (the scores of different engines or devices agree only within the suites' agreement_tolerance)"
    } else {
        ""
    };
    Ok(vec![format!(
        "the site bundles' suites differ in {}: their models, settings and criteria are the same, so the pooled figures are those of one suite, but the sites did not all run the same suite file{engines}",
        differ.join("; ")
    )])
}

/// What every site's suite must say alike, each part named and as JSON: its `[metrics]`, its
/// `[acceptance]`, and each candidate's preprocessing and output.
fn suite_parts(suite: &Suite) -> Vec<(String, serde_json::Value)> {
    fn json<T: serde::Serialize>(value: &T) -> serde_json::Value {
        serde_json::to_value(value).unwrap_or_default()
    }
    let mut parts = vec![
        ("[metrics]".to_string(), json(&suite.metrics)),
        ("[acceptance]".to_string(), json(&suite.acceptance)),
    ];
    for c in &suite.candidates {
        parts.push((
            format!("candidate '{}' (its preprocess and output)", c.name),
            serde_json::json!([json(&c.preprocess), json(&c.output)]),
        ));
    }
    parts
}

/// Subgroup levels that look alike across the sites (`F` at one, `f` at another; a blank and
/// `NA`), which are pooled apart, in words (as `eval` says it of one file). `sites` gives each
/// site's grouping columns and their levels (`None` where a site has none).
pub fn look_alike_across<'s, T: 's>(
    sites: impl Iterator<Item = Option<&'s IndexMap<String, IndexMap<String, T>>>>,
) -> Vec<String> {
    let mut by_grouping: IndexMap<&str, std::collections::BTreeSet<&str>> = IndexMap::new();
    for groups in sites.flatten() {
        for (grouping, levels) in groups {
            by_grouping
                .entry(grouping.as_str())
                .or_default()
                .extend(levels.keys().map(String::as_str));
        }
    }
    by_grouping
        .into_iter()
        .filter_map(|(grouping, levels)| harness_data::look_alike_levels(grouping, levels))
        .map(|w| format!("over the sites' summaries, {w}"))
        .collect()
}

/// The suite's acceptance criteria, but for a patient-clustered one: pooled tables can never
/// give it (the patient column stays at the sites), and the sites' runs accepted the suite, so
/// it is left out, with a warning to say, rather than leave the sites' evidence unusable.
/// `unavailable(c, clustered)` gives a criterion's key and why it cannot be given, with or
/// without a patient column. Returns the criteria kept and the warnings.
///
/// # Errors
/// [`CoordinatorError::Criterion`] for any other criterion the pooled results cannot give (the
/// warnings of the criteria before it are then not returned: the command stops there).
pub fn applicable<C>(
    suite: Vec<C>,
    unavailable: impl Fn(&C, bool) -> Option<(String, String)>,
) -> Result<(Vec<C>, Vec<String>), CoordinatorError> {
    let mut kept = Vec::with_capacity(suite.len());
    let mut warnings = Vec::new();
    for c in suite {
        match unavailable(&c, false) {
            None => kept.push(c),
            Some((key, why)) if unavailable(&c, true).is_none() => warnings.push(format!(
                "the suite's [acceptance] criterion {key} is not applied: {why} (pooled site summaries hold no patient column)"
            )),
            Some((key, why)) => {
                return Err(CoordinatorError::Criterion(format!(
                    "the suite's [acceptance] criterion {key}: {why}; the pooled results cannot give it"
                )));
            }
        }
    }
    Ok((kept, warnings))
}

/// The sites' round-2 answers pooled, by site name.
pub type Answers = Vec<(String, SiteAnswer)>;

/// One federated protocol at the coordinator: binary site summaries, or multi-label ones (the
/// binary protocol finding by finding).
pub trait Rounds {
    type Site: serde::de::DeserializeOwned + Send + Sync;
    type Request: serde::Serialize + serde::de::DeserializeOwned;
    type Sums: serde::de::DeserializeOwned + Send;
    type Report;
    /// The round-2 request for the sites.
    ///
    /// # Errors
    /// Summaries that cannot be pooled.
    fn request(sites: &[Self::Site]) -> Result<Self::Request, CoordinatorError>;
    /// What a request holds, for the message that it was written.
    fn describe(request: &Self::Request) -> String;
    /// A site's name and a line on what it sent in round 1.
    fn site(site: &Self::Site) -> (&str, String);
    /// What each site sent in round 2.
    const PAIRED_SUMS: &'static str;
    /// A round-2 answer's site and what it reveals, in its own words.
    fn answer(sums: &Self::Sums) -> (&str, String);
    /// Round 1's results.
    ///
    /// # Errors
    /// Summaries that cannot be pooled.
    fn pool(sites: &[Self::Site], opts: &EvalOptions) -> Result<Self::Report, CoordinatorError>;
    /// Round 2's results, from the request's JSON text.
    ///
    /// # Errors
    /// A request or answers that are not those of these summaries.
    fn pool_paired(
        sites: &[Self::Site],
        request: &[u8],
        sums: &[Self::Sums],
        opts: &EvalOptions,
    ) -> Result<Self::Report, CoordinatorError>;
}

/// Binary site summaries.
pub struct Binary;

impl Rounds for Binary {
    type Site = SiteSummary;
    type Request = PairedRequest;
    type Sums = PairedSiteSums;
    type Report = harness_metrics::EvalReport;
    fn request(sites: &[SiteSummary]) -> Result<PairedRequest, CoordinatorError> {
        Ok(paired_request(sites)?)
    }
    fn describe(request: &PairedRequest) -> String {
        format!(
            "{} pair(s) of models; what it reveals: {}",
            request.pairs.len(),
            request.disclosure
        )
    }
    fn site(s: &SiteSummary) -> (&str, String) {
        let line = format!(
            "{} cases ({} positive), {} model(s), {}: {}",
            s.n,
            s.positives,
            s.models.len(),
            grid(s.score_decimals),
            s.disclosure
        );
        (&s.site, line)
    }
    const PAIRED_SUMS: &'static str = "six sums and two counts per pair of models";
    fn answer(sums: &PairedSiteSums) -> (&str, String) {
        (&sums.site, sums.disclosure.clone())
    }
    fn pool(sites: &[SiteSummary], opts: &EvalOptions) -> Result<Self::Report, CoordinatorError> {
        Ok(pool(sites, opts)?)
    }
    fn pool_paired(
        sites: &[SiteSummary],
        request: &[u8],
        sums: &[PairedSiteSums],
        opts: &EvalOptions,
    ) -> Result<Self::Report, CoordinatorError> {
        // Taken without parsing when it is the request these summaries make (see the function).
        Ok(pool_paired_json(sites, request, sums, opts)?)
    }
}

/// Multi-label site summaries: the binary protocol finding by finding.
pub struct Findings;

impl Rounds for Findings {
    type Site = FindingsSiteSummary;
    type Request = FindingsPairedRequest;
    type Sums = FindingsPairedSums;
    type Report = harness_metrics::multilabel::MultilabelReport;
    fn request(sites: &[FindingsSiteSummary]) -> Result<FindingsPairedRequest, CoordinatorError> {
        Ok(findings_paired_request(sites)?)
    }
    fn describe(request: &FindingsPairedRequest) -> String {
        format!(
            "{} finding(s), each as a binary request of its own",
            request.findings.len()
        )
    }
    fn site(s: &FindingsSiteSummary) -> (&str, String) {
        let line = format!(
            "{} cases, {} finding(s), {}: {}",
            s.n,
            s.findings.len(),
            grid(s.score_decimals),
            s.disclosure
        );
        (&s.site, line)
    }
    const PAIRED_SUMS: &'static str = "six sums and two counts per pair of models and finding";
    fn answer(sums: &FindingsPairedSums) -> (&str, String) {
        let first = sums.findings.values().next();
        let said = first.map_or_else(String::new, |f| f.disclosure.clone());
        (
            &sums.site,
            format!("for each of {} finding(s): {said}", sums.findings.len()),
        )
    }
    fn pool(
        sites: &[FindingsSiteSummary],
        opts: &EvalOptions,
    ) -> Result<Self::Report, CoordinatorError> {
        Ok(pool_findings(sites, opts)?)
    }
    fn pool_paired(
        sites: &[FindingsSiteSummary],
        request: &[u8],
        sums: &[FindingsPairedSums],
        opts: &EvalOptions,
    ) -> Result<Self::Report, CoordinatorError> {
        let request: FindingsPairedRequest = serde_json::from_slice(request)
            .map_err(|e| unusable(format!("not a multi-label paired request: {e}")))?;
        let sha256 = harness_metrics::request_digest(&request);
        Ok(pool_findings_paired(sites, &request, &sha256, sums, opts)?)
    }
}

/// A summary's score grid in words.
fn grid(decimals: Option<u32>) -> String {
    match decimals {
        Some(d) => format!("scores rounded to {d} decimals"),
        None => "exact scores".to_string(),
    }
}

/// The coordinator's final round: round 1's results, or, given the round-2 request the sites
/// answered and their answers (`paired`: the request file and the answers' files or site
/// bundles, read as [`read_site_file`] reads them), round 2's, with each site's answer (its
/// name, what it reveals and the SHA-256 of the bytes pooled).
///
/// # Errors
/// An answer that cannot be read, or summaries that cannot be pooled; round 2's failures as
/// [`CoordinatorError::Round2`], naming the request.
pub fn pool_rounds<R: Rounds>(
    sites: &[R::Site],
    paired: Option<(&Path, &[PathBuf])>,
    opts: &EvalOptions,
    keys: &[VerifyingKey],
) -> Result<(R::Report, Answers), CoordinatorError> {
    let Some((request, sums)) = paired else {
        return Ok((R::pool(sites, opts)?, Answers::new()));
    };
    let text = std::fs::read(request)
        .map_err(|e| unusable(format!("{}: cannot read: {e}", request.display())))?;
    let read: Vec<SiteFile<R::Sums>> = sums
        .par_iter()
        .map(|p| read_site_file(p, SUMS_FILE, keys))
        .collect::<Result<_, _>>()?;
    let answers: Answers = read
        .iter()
        .map(|file| {
            let (site, disclosure) = R::answer(&file.value);
            let answer = SiteAnswer {
                sha256: file.sha256.clone(),
                disclosure,
            };
            (site.to_string(), answer)
        })
        .collect();
    let sums: Vec<R::Sums> = read.into_iter().map(|file| file.value).collect();
    let report =
        R::pool_paired(sites, &text, &sums, opts).map_err(|e| CoordinatorError::Round2 {
            request: request.to_path_buf(),
            source: Box::new(e),
        })?;
    Ok((report, answers))
}

#[cfg(test)]
mod tests {
    use super::applicable;

    /// A suite criterion that only a patient column would make available is left out (with a
    /// warning); one the pooled results can never give for another reason is refused; the rest
    /// are kept.
    #[test]
    fn only_patient_clustered_suite_criteria_are_left_out() {
        let unavailable = |c: &&str, clustered: bool| match *c {
            "clustered" if !clustered => Some((c.to_string(), "needs the patient column".into())),
            "gap.age" => Some((c.to_string(), "'age' is not a grouping column".into())),
            _ => None,
        };
        let (kept, warnings) = applicable(vec!["auroc", "clustered"], unavailable).unwrap();
        assert_eq!(kept, ["auroc"]);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("criterion clustered is not applied: needs the patient column"),
            "{warnings:?}"
        );
        let err = applicable(vec!["auroc", "gap.age"], unavailable)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("criterion gap.age: 'age' is not a grouping column"),
            "{err}"
        );
    }
}
