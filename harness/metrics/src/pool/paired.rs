//! Round 2: the paired DeLong test, exact from the sites' sums over their own cases.

use super::*;

// ---------------------------------------------------------------------------------------------
// Round 2: the paired DeLong test
// ---------------------------------------------------------------------------------------------

pub(super) const REQUEST_DISCLOSURE: &str = "Sent by the coordinator to every site for the paired comparisons: each model's pooled count table (the number of positive and negative cases at each distinct score over all the sites' cases together) and pooled AUROC. A site that subtracts its own table learns the score distribution by class of all the other sites together (of the other site, when there are only two). It holds no per-site table, no levels and nothing per case.";

const SUMS_DISCLOSURE: &str = "Sent by a site to the coordinator: for each pair of models, the site's numbers of positive and negative cases and six sums over its cases of products of centred DeLong placements (each case's placement among the pooled cases of the other class, minus the pooled AUROC), over its positives and over its negatives. It reveals how the two models' rankings co-vary at this site, summed over its cases; where the site has a single positive (or negative) case, that case's placements under both models. A site cannot check that a request is the honest pooled table beyond its own cases fitting it: answer a trusted coordinator, once per evaluation.";

/// The coordinator's round-2 message to every site (JSON format [`REQUEST_FORMAT`]).
///
/// ```json
/// {"format": "harness-paired-request/1", "score_decimals": 1,
///  "disclosure": "Sent by the coordinator to every site for the paired comparisons: ...",
///  "models": {"a": {"table": [[0.2, 0, 3], [0.5, 0, 1], [0.7, 3, 1], [0.9, 2, 0]], "auroc": 0.94},
///             "b": {"table": [[0.1, 0, 1], [0.3, 0, 1], [0.4, 1, 2], [0.6, 1, 0], [0.8, 3, 1]],
///                   "auroc": 0.82}},
///  "pairs": [["a", "b"]]}
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedRequest {
    /// Always [`REQUEST_FORMAT`].
    pub format: String,
    /// The sites' common score grid ([`SiteSummary::score_decimals`]): sites round their scores
    /// to it before placing them in the tables.
    pub score_decimals: Option<u32>,
    /// In plain language, what this request reveals to the sites.
    pub disclosure: String,
    /// Per model, in the sites' order: its pooled table and AUROC.
    pub models: IndexMap<String, RequestModel>,
    /// The pairs of models to compare: every pair (i < j) in model order.
    pub pairs: Vec<[String; 2]>,
}

/// One model in a [`PairedRequest`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestModel {
    /// The pooled table: the sum of every site's `all` table of the model.
    pub table: CountTable,
    /// The pooled AUROC θ the placements are centred on; `null` when the pooled cases have one
    /// class (the paired test is then undefined and the sums are all 0).
    pub auroc: Option<f64>,
}

/// A site's round-2 answer (JSON format [`SUMS_FORMAT`]).
///
/// ```json
/// {"format": "harness-paired-sums/2", "site": "A", "request_sha256": "sha256:9f2c…",
///  "disclosure": "Sent by a site to the coordinator: for each pair of models, ...",
///  "pairs": [{"a": "a", "b": "b", "m": 3, "n": 3,
///             "s10": [0.006799999999999994, 0.013200000000000019, 0.0024000000000000063],
///             "s01": [0.06480000000000001, 0.07120000000000004, -0.02759999999999999]}]}
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedSiteSums {
    /// Always [`SUMS_FORMAT`].
    pub format: String,
    /// The site's name, as in its [`SiteSummary`].
    pub site: String,
    /// The request answered: its [`request_digest`]. (Empty when absent: a file of format 1,
    /// which had none, is then refused by its format.)
    #[serde(default)]
    pub request_sha256: String,
    /// In plain language, what these sums reveal.
    pub disclosure: String,
    /// One entry per pair of the request, in its order.
    pub pairs: Vec<PairSums>,
}

/// One pair's sums at one site: [`PairedSums`] with the models' names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairSums {
    /// Model A of the pair.
    pub a: String,
    /// Model B of the pair.
    pub b: String,
    /// The site's number of positives.
    pub m: u64,
    /// The site's number of negatives.
    pub n: u64,
    /// Over the site's positives: [Σ(V10_A − θ_A)², Σ(V10_B − θ_B)², Σ(V10_A − θ_A)(V10_B − θ_B)],
    /// V10 being a positive's placement among the pooled negatives.
    pub s10: [f64; 3],
    /// Over the site's negatives: the same with V01, a negative's placement among the pooled
    /// positives.
    pub s01: [f64; 3],
}

impl PairSums {
    /// The sums, to be added over sites.
    pub fn sums(&self) -> PairedSums {
        PairedSums {
            m: self.m,
            n: self.n,
            s10: self.s10,
            s01: self.s01,
        }
    }
}

/// Each model's pooled table — the sum of the sites' `all` tables — in the sites' model order
/// (after checking the summaries as [`pool`] does): what a report draws each model's ROC
/// curve and reliability from.
///
/// # Errors
/// As [`pool`].
pub fn pooled_tables(sites: &[SiteSummary]) -> Result<IndexMap<String, CountTable>, PoolError> {
    let checked = Sites::new(sites)?;
    Ok(checked
        .models
        .iter()
        .enumerate()
        .map(|(k, &name)| {
            let groups = checked.merged_all(k).to_vec();
            (name.to_string(), CountTable { groups })
        })
        .collect())
}

/// Round 2 at the coordinator: the request to send to every site (after checking the summaries
/// as [`pool`] does): each model's pooled table and AUROC, and every pair i < j of models.
///
/// # Errors
/// As [`pool`].
pub fn paired_request(sites: &[SiteSummary]) -> Result<PairedRequest, PoolError> {
    Ok(Sites::new(sites)?.request())
}

/// What ties a round-2 answer to the request it answers: `sha256:<hex>` of the request in
/// `serde_json`'s compact form (the form `harness pool --request-out` writes; a request
/// re-spaced on its way has the same digest). The coordinator computes it over the request it
/// pools with, so an answer to an older or another request is refused instead of being added
/// in.
pub fn request_digest(request: &impl Serialize) -> String {
    use sha2::{Digest, Sha256};
    /// Feeds what `serde_json` writes to the hash, nothing kept.
    struct Hashing(Sha256);
    impl std::io::Write for Hashing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut w = Hashing(Sha256::new());
    // Writing to a hash cannot fail, and a request serialises (plain data, string keys).
    let _ = serde_json::to_writer(&mut w, request);
    sha256_text(w.0.finalize().as_slice())
}

/// [`request_digest`] of a request whose compact JSON `text` already is (checked by the
/// caller), without writing it again.
fn digest_of_compact(text: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    sha256_text(Sha256::digest(text).as_slice())
}

/// `sha256:<hex>`.
fn sha256_text(hash: &[u8]) -> String {
    let mut hex = String::with_capacity(7 + 64);
    hex.push_str("sha256:");
    for b in hash {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

/// True when two non-negative scores are at most [`ULP_SLACK`] ulps apart.
fn near(a: f64, b: f64) -> bool {
    a.to_bits().abs_diff(b.to_bits()) <= ULP_SLACK
}

/// The row of `table` holding score `s`: the row with exactly this score, or else the only row
/// within [`ULP_SLACK`] ulps of it (a JSON reader may have moved a score by an ulp or two on
/// its way to the coordinator and back). `None` when there is none, or more than one.
fn find_row(table: &[TieGroup], s: f64) -> Option<usize> {
    let k = match table.binary_search_by(|g| g.value.total_cmp(&s)) {
        Ok(k) => return Some(k),
        Err(k) => k,
    };
    let below = table[..k]
        .iter()
        .rev()
        .take_while(|g| near(g.value, s))
        .count();
    let above = table[k..].iter().take_while(|g| near(g.value, s)).count();
    match (below, above) {
        (1, 0) => Some(k - 1),
        (0, 1) => Some(k),
        _ => None,
    }
}

/// Checks a request's own consistency; `site` is who checks. Returns the pooled (m, n).
fn check_request(request: &PairedRequest, site: Option<&str>) -> Result<(u64, u64), PoolError> {
    let err = |reason: String| PoolError::Request {
        site: site.map(str::to_string),
        reason,
    };
    if request.format != REQUEST_FORMAT {
        return Err(PoolError::Format {
            site: match site {
                Some(s) => format!("site '{s}': the paired request"),
                None => "the paired request".to_string(),
            },
            expected: REQUEST_FORMAT.to_string(),
            found: request.format.clone(),
        });
    }
    if let Some(d) = request.score_decimals.filter(|&d| d > MAX_SCORE_DECIMALS) {
        return Err(err(format!(
            "a grid of {d} decimals is finer than {MAX_SCORE_DECIMALS}"
        )));
    }
    let mut classes = None;
    for (name, model) in &request.models {
        if let Some(reason) = off_grid(&model.table, request.score_decimals) {
            return Err(err(format!("model '{name}': {reason}")));
        }
        // The AUROC depends on the order of the scores only, so a reader's drift cannot move it;
        // the request's copy may have drifted by an ulp through JSON.
        let auroc = AucCounts::from_groups(model.table.groups()).auroc();
        let agrees = match (auroc, model.auroc) {
            (Some(a), Some(b)) => (a - b).abs() <= 1e-12,
            (a, b) => a == b,
        };
        if !agrees {
            return Err(err(format!(
                "model '{name}': the AUROC is given as {:?} but its table gives {auroc:?}",
                model.auroc
            )));
        }
        let counts = model.table.class_counts();
        if *classes.get_or_insert(counts) != counts {
            return Err(err(format!(
                "model '{name}': its table has (positives, negatives) = {counts:?}, another model's {:?}",
                classes.unwrap_or_default()
            )));
        }
    }
    for [a, b] in &request.pairs {
        if a == b || !request.models.contains_key(a) || !request.models.contains_key(b) {
            return Err(err(format!(
                "pair ['{a}', '{b}'] does not name two models of the request"
            )));
        }
    }
    Ok(classes.unwrap_or_default())
}

/// Round 2 at a site: places each of the site's cases in the request's pooled tables (after
/// rounding to its grid) and sums, per pair, the centred placement products over its positives
/// and its negatives ([`PairedSums`]), with the same placements as `evaluate`
/// ([`TiePlacements`]).
///
/// # Errors
/// [`PoolError::Request`] for a malformed request (an AUROC that is not its table's, a pair
/// naming unknown models); [`PoolError::Input`] for invalid cases; [`PoolError::Stale`] when
/// the site lacks a model of the request, or a score is not in the pooled table, or more cases
/// share a score than the pooled table holds: the site's data changed between the rounds.
pub fn paired_site_sums(
    input: &EvalInput,
    site: &str,
    request: &PairedRequest,
    request_sha256: &str,
) -> Result<PairedSiteSums, PoolError> {
    let (pooled_m, pooled_n) = check_request(request, Some(site))?;
    input.validate().map_err(|e| PoolError::Input {
        site: site.to_string(),
        reason: e.to_string(),
    })?;
    check_names(input, site)?;
    let labels = input.labels;
    let defined = pooled_m > 0 && pooled_n > 0;
    let used: HashSet<&str> = request.pairs.iter().flatten().map(String::as_str).collect();
    // Each used model's centred placement (V − θ) per case: 0 when the test is undefined.
    let mut centred: HashMap<&str, Vec<f64>> = HashMap::new();
    for (name, model) in &request.models {
        if !used.contains(name.as_str()) {
            continue;
        }
        let stale = |reason: String| PoolError::Stale {
            site: site.to_string(),
            model: name.clone(),
            reason,
        };
        let Some(&(_, scores)) = input.models.iter().find(|(n, _)| *n == name) else {
            return Err(PoolError::Request {
                site: Some(site.to_string()),
                reason: format!(
                    "it asks for model '{name}', which is not among the models given here ({}): answer with every model of the site's summary",
                    input
                        .models
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        };
        let table = model.table.groups();
        let places: Vec<GroupPlacement> = if defined {
            TiePlacements::new(table).collect()
        } else {
            Vec::new()
        };
        // θ from the table, as the coordinator computes it (checked against the request's).
        let theta = AucCounts::from_groups(table).auroc().unwrap_or(0.0);
        let mut seen = vec![(0u64, 0u64); table.len()];
        let mut v = Vec::with_capacity(labels.len());
        for (case, (&y, &s)) in labels.iter().zip(scores).enumerate() {
            let s = match request.score_decimals {
                Some(d) => round_to_grid(s, d),
                None => s + 0.0,
            };
            let Some(k) = find_row(table, s) else {
                return Err(stale(format!(
                    "the score {s} of case {case} is not in the pooled table (nor within {ULP_SLACK} ulps of exactly one of its scores)"
                )));
            };
            let (count, held) = if y {
                seen[k].0 += 1;
                (seen[k].0, table[k].pos)
            } else {
                seen[k].1 += 1;
                (seen[k].1, table[k].neg)
            };
            if count > held {
                let class = if y { "positives" } else { "negatives" };
                return Err(stale(format!(
                    "the site has at least {count} {class} with score {s}, the pooled table {held}"
                )));
            }
            v.push(match places.get(k) {
                Some(p) if y => p.v10 - theta,
                Some(p) => p.v01 - theta,
                None => 0.0,
            });
        }
        centred.insert(name, v);
    }
    let mut pairs = Vec::with_capacity(request.pairs.len());
    for [a, b] in &request.pairs {
        let (Some(va), Some(vb)) = (centred.get(a.as_str()), centred.get(b.as_str())) else {
            continue; // not reached: every used model was placed above
        };
        let mut sums = PairedSums::default();
        for ((&y, &da), &db) in labels.iter().zip(va).zip(vb) {
            sums.push(y, da, db);
        }
        pairs.push(PairSums {
            a: a.clone(),
            b: b.clone(),
            m: sums.m,
            n: sums.n,
            s10: sums.s10,
            s01: sums.s01,
        });
    }
    Ok(PairedSiteSums {
        format: SUMS_FORMAT.to_string(),
        site: site.to_string(),
        request_sha256: request_sha256.to_string(),
        disclosure: SUMS_DISCLOSURE.to_string(),
        pairs,
    })
}

/// Round 2 at the coordinator: as [`pool`], with the paired comparisons computed exactly from
/// the sites' sums (added over sites, then [`PairedSums::finish`]ed as `evaluate` does).
///
/// # Errors
/// As [`pool`]; [`PoolError::Request`] when `request` is not the one [`paired_request`] makes
/// of `sites`; [`PoolError::MissingSums`] when a site did not answer; [`PoolError::Sums`] when a
/// site answered twice, an answer comes from no pooled site, answers another request (its
/// `request_sha256` is not `request_sha256`) or other pairs, or counts
/// other numbers of positives and negatives than its summary.
pub fn pool_paired(
    sites: &[SiteSummary],
    request: &PairedRequest,
    request_sha256: &str,
    sums: &[PairedSiteSums],
    opts: &EvalOptions,
) -> Result<EvalReport, PoolError> {
    let checked = Sites::new(sites)?;
    check_request(request, None)?;
    matches_request(request, &checked.request())?;
    let totals = site_totals(&checked, request_sha256, sums)?;
    pooled_report(&checked, opts, Some(&totals))
}

/// [`pool_paired`] with the request as the JSON text the sites were sent. With exact scores
/// a request is as large as the pooled data; when its bytes are those of the request made
/// again from `sites` (`serde_json`'s compact form, as `harness pool --request-out` writes it,
/// trailing whitespace aside) it is accepted without being parsed, else it is parsed and
/// checked as [`pool_paired`] checks it. Checked, as in [`pool_paired`], before the sites'
/// sums and before any figure is computed.
///
/// # Errors
/// As [`pool_paired`]; [`PoolError::Request`] when the text is not a paired request.
pub fn pool_paired_json(
    sites: &[SiteSummary],
    request: &[u8],
    sums: &[PairedSiteSums],
    opts: &EvalOptions,
) -> Result<EvalReport, PoolError> {
    let checked = Sites::new(sites)?;
    let expected = checked.request();
    let digest = if written_as(&expected, request.trim_ascii_end()) {
        digest_of_compact(request.trim_ascii_end())
    } else {
        let request: PairedRequest =
            serde_json::from_slice(request).map_err(|e| PoolError::Request {
                site: None,
                reason: format!("not a paired request: {e}"),
            })?;
        check_request(&request, None)?;
        matches_request(&request, &expected)?;
        request_digest(&request)
    };
    let totals = site_totals(&checked, &digest, sums)?;
    pooled_report(&checked, opts, Some(&totals))
}

/// True when `text` is exactly `value` in `serde_json`'s compact form, compared as it is
/// written (nothing allocated: a request is as large as the pooled data).
fn written_as(value: &impl Serialize, text: &[u8]) -> bool {
    /// A writer that checks what it is given against the bytes still expected.
    struct Against<'t> {
        rest: &'t [u8],
        same: bool,
    }
    impl std::io::Write for Against<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            match self.rest.strip_prefix(buf) {
                Some(rest) if self.same => self.rest = rest,
                _ => self.same = false,
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut w = Against {
        rest: text,
        same: true,
    };
    serde_json::to_writer(&mut w, value).is_ok() && w.same && w.rest.is_empty()
}

/// That `request` is the one made from the summaries (`expected`): the same grid, models,
/// tables (counts exactly, scores up to a JSON reader's drift, see the module doc) and pairs.
fn matches_request(request: &PairedRequest, expected: &PairedRequest) -> Result<(), PoolError> {
    let mismatch = |reason: String| {
        Err(PoolError::Request {
            site: None,
            reason: format!("{reason}: it was not made from these site summaries"),
        })
    };
    if request.score_decimals != expected.score_decimals {
        return mismatch(format!(
            "it has {}, the summaries {}",
            describe_grid(request.score_decimals),
            describe_grid(expected.score_decimals)
        ));
    }
    if !request.models.keys().eq(expected.models.keys()) {
        return mismatch(format!(
            "it names the models {:?}, the summaries {:?}",
            request.models.keys().collect::<Vec<_>>(),
            expected.models.keys().collect::<Vec<_>>()
        ));
    }
    for ((name, got), want) in request.models.iter().zip(expected.models.values()) {
        let (g, w) = (got.table.groups(), want.table.groups());
        let same = g.len() == w.len()
            && g.iter()
                .zip(w)
                .all(|(a, b)| (a.pos, a.neg) == (b.pos, b.neg) && near(a.value, b.value));
        if !same {
            return mismatch(format!("model '{name}': its pooled table differs"));
        }
    }
    if request.pairs != expected.pairs {
        return mismatch(format!(
            "it asks for the pairs {:?}, the summaries call for {:?}",
            request.pairs, expected.pairs
        ));
    }
    Ok(())
}

/// The sites' round-2 sums added up, pair by pair, after checking that every pooled site
/// answered once, this request (`request_sha256`), for the pairs the summaries call for, over
/// the cases of its summary.
fn site_totals(
    checked: &Sites,
    request_sha256: &str,
    sums: &[PairedSiteSums],
) -> Result<Vec<PairedSums>, PoolError> {
    let sites = checked.sites;
    let pairs = checked.pairs();
    let mut answers: HashMap<&str, &PairedSiteSums> = HashMap::new();
    for s in sums {
        if s.format != SUMS_FORMAT {
            return Err(PoolError::Format {
                site: format!("site '{}': paired sums", s.site),
                expected: SUMS_FORMAT.to_string(),
                found: s.format.clone(),
            });
        }
        if !sites.iter().any(|x| x.site == s.site) {
            return Err(PoolError::Sums {
                site: s.site.clone(),
                reason: "no pooled site has this name".to_string(),
            });
        }
        if answers.insert(&s.site, s).is_some() {
            return Err(PoolError::Sums {
                site: s.site.clone(),
                reason: "the site answered twice".to_string(),
            });
        }
    }
    let mut totals = vec![PairedSums::default(); pairs.len()];
    for summary in sites {
        let site = &summary.site;
        let Some(answer) = answers.get(site.as_str()) else {
            return Err(PoolError::MissingSums { site: site.clone() });
        };
        let bad = |reason: String| PoolError::Sums {
            site: site.clone(),
            reason,
        };
        if answer.request_sha256 != request_sha256 {
            return Err(bad(format!(
                "it answers another request ({}), not this one ({request_sha256}), or the request was altered on its way: send the site this request and pool its new answer",
                answer.request_sha256
            )));
        }
        let names: Vec<[&str; 2]> = answer
            .pairs
            .iter()
            .map(|p| [p.a.as_str(), p.b.as_str()])
            .collect();
        let wanted: Vec<[&str; 2]> = pairs
            .iter()
            .map(|[a, b]| [a.as_str(), b.as_str()])
            .collect();
        if names != wanted {
            return Err(bad(format!(
                "it answers the pairs {names:?}, the request asks for {wanted:?}"
            )));
        }
        for (p, total) in answer.pairs.iter().zip(totals.iter_mut()) {
            if (p.m, p.n) != (summary.positives, summary.negatives) {
                return Err(bad(format!(
                    "pair {} vs {} counts {} positives and {} negatives, its summary {} and {}: the site's cases changed between the rounds",
                    p.a, p.b, p.m, p.n, summary.positives, summary.negatives
                )));
            }
            let squares = [p.s10[0], p.s10[1], p.s01[0], p.s01[1]];
            if p.s10.iter().chain(&p.s01).any(|v| !v.is_finite())
                || squares.iter().any(|&v| v < 0.0)
            {
                return Err(bad(format!(
                    "pair {} vs {}: the sums {:?} and {:?} are not finite, or a sum of squares is negative",
                    p.a, p.b, p.s10, p.s01
                )));
            }
            *total += p.sums();
        }
    }
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;
    /// The round-2 fast path takes a request only when its bytes are exactly the compact JSON
    /// of the one made again.
    #[test]
    fn written_as_is_byte_equality_with_the_compact_json() {
        let value = serde_json::json!({"a": [0.1, 1], "b": "x"});
        assert!(written_as(&value, br#"{"a":[0.1,1],"b":"x"}"#));
        for other in [
            &br#"{"a":[0.1,1],"b":"x"} "#[..],
            br#"{"a":[0.1,1],"b":"y"}"#,
            br#"{"a":[0.1,1],"b":"x"#,
            br#"{"a": [0.1,1],"b":"x"}"#,
            b"",
        ] {
            assert!(
                !written_as(&value, other),
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }
}
