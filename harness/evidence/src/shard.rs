//! Shards: one run's cases split over several processes or machines (a
//! Slurm job array, a Kubernetes Indexed Job), merged back into one bundle by
//! `harness merge` (`harness_pipeline::merge`).
//!
//! The partition is a pure function of the case index (pinned by the dataset's
//! hash) and the shard count: the units are the patients when the dataset
//! declares a patient (cluster) column — a patient is never split — and the
//! single cases otherwise; units are taken in order of first appearance and
//! dealt round-robin, so shard sizes differ by at most one unit. Each partial
//! bundle records its cases' positions in the full index (`shard.json`), which
//! is all `harness merge` (`harness_pipeline::merge`) needs to restore the original order.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

/// The file of a partial bundle that lists its cases' positions in the full index.
pub const SHARD_FILE: &str = "shard.json";
/// The format of [`SHARD_FILE`].
pub const SHARD_FORMAT: &str = "harness-shard/1";

/// Where the shard's index and count came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardSource {
    /// `--shard I/N` on the command line.
    Flag,
    /// A Slurm job array: `SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_MIN`, `SLURM_ARRAY_TASK_COUNT`.
    Slurm,
    /// A Kubernetes Indexed Job: `JOB_COMPLETION_INDEX` and `HARNESS_SHARD_COUNT`.
    Kubernetes,
}

/// Shard `index` of `count` (1-based), and where that came from. Read from a manifest or a
/// `shard.json` it is checked as `--shard` is (a count of 0, or an index outside 1..=count,
/// is refused), so that no bundle's file can make [`Shard::positions`] divide by zero.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawShard")]
pub struct Shard {
    /// 1 ..= `count`.
    pub index: u32,
    pub count: u32,
    pub source: ShardSource,
    /// The environment variables read, as `NAME=value`, for `--shard auto`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<String>,
}

/// A [`Shard`] as written, before its checks.
#[derive(Deserialize)]
struct RawShard {
    index: u32,
    count: u32,
    source: ShardSource,
    #[serde(default)]
    environment: Vec<String>,
}

impl TryFrom<RawShard> for Shard {
    type Error = String;

    fn try_from(raw: RawShard) -> Result<Shard, String> {
        Shard::new(raw.index, raw.count, raw.source, raw.environment)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shard {} of {}", self.index, self.count)?;
        match self.source {
            ShardSource::Flag => Ok(()),
            ShardSource::Slurm => write!(f, " (Slurm job array: {})", self.environment.join(", ")),
            ShardSource::Kubernetes => write!(
                f,
                " (Kubernetes Indexed Job: {})",
                self.environment.join(", ")
            ),
        }
    }
}

/// Most shards a run may be split into.
pub const MAX_SHARDS: u32 = 100_000;

impl Shard {
    /// Parses `I/N` (1 ≤ I ≤ N) or `auto`, which reads the scheduler's environment through `env`
    /// (pass `|k| std::env::var(k).ok()`): Slurm's job array variables first, then a Kubernetes
    /// Indexed Job's `JOB_COMPLETION_INDEX` with `HARNESS_SHARD_COUNT`.
    ///
    /// # Errors
    /// A message naming the value or the variable at fault.
    pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Shard, String> {
        if text == "auto" {
            return from_environment(&env);
        }
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| format!("--shard '{text}': expected I/N (e.g. 2/3) or auto"))?;
        let num = |s: &str, what: &str| {
            s.trim().parse::<u32>().map_err(|_| {
                format!(
                    "--shard '{text}': {what} '{s}' is not a whole number (expected I/N, e.g. 2/3)"
                )
            })
        };
        Self::new(num(i, "I")?, num(n, "N")?, ShardSource::Flag, Vec::new())
            .map_err(|e| format!("--shard '{text}': {e}"))
    }

    fn new(
        index: u32,
        count: u32,
        source: ShardSource,
        environment: Vec<String>,
    ) -> Result<Shard, String> {
        if count == 0 || count > MAX_SHARDS {
            return Err(format!(
                "the shard count {count} is outside 1..={MAX_SHARDS}"
            ));
        }
        if index == 0 || index > count {
            return Err(format!(
                "the shard index {index} is outside 1..={count} (shards count from 1)"
            ));
        }
        Ok(Shard {
            index,
            count,
            source,
            environment,
        })
    }

    /// Positions (in the full case index, ascending) of this shard's cases. `units[case]` is the
    /// case's patient id when the dataset declares a patient column; `None` makes every case
    /// its own unit.
    #[must_use]
    pub fn positions(&self, n_cases: usize, units: Option<&[String]>) -> Vec<usize> {
        let (index, count) = (self.index as usize - 1, self.count as usize);
        match units {
            None => (index..n_cases).step_by(count).collect(),
            Some(units) => {
                let mut unit_of: HashMap<&str, usize> = HashMap::new();
                (0..n_cases.min(units.len()))
                    .filter(|&case| {
                        let next = unit_of.len();
                        let unit = *unit_of.entry(units[case].as_str()).or_insert(next);
                        unit % count == index
                    })
                    .collect()
            }
        }
    }
}

fn from_environment(env: &impl Fn(&str) -> Option<String>) -> Result<Shard, String> {
    let read = |name: &str| -> Result<Option<(i64, String)>, String> {
        match env(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .map(|n| Some((n, format!("{name}={v}"))))
                .map_err(|_| format!("--shard auto: {name}='{v}' is not a whole number")),
        }
    };
    let to_u32 = |v: i64, what: &str| {
        u32::try_from(v).map_err(|_| format!("--shard auto: {what} {v} is out of range"))
    };
    if let Some((id, id_text)) = read("SLURM_ARRAY_TASK_ID")? {
        let (Some((min, min_text)), Some((count, count_text))) = (
            read("SLURM_ARRAY_TASK_MIN")?,
            read("SLURM_ARRAY_TASK_COUNT")?,
        ) else {
            return Err(
                "--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_MIN or SLURM_ARRAY_TASK_COUNT is not (submit with sbatch --array)"
                    .into(),
            );
        };
        // A stepped array (--array=1-9:3) numbers its tasks 1, 4, 7: refused in every task,
        // not only in those whose id runs past the count.
        if let Some((step, _)) = read("SLURM_ARRAY_TASK_STEP")?.filter(|&(s, _)| s != 1) {
            return Err(format!(
                "--shard auto: the job array has a step of {step} (SLURM_ARRAY_TASK_STEP); shards need consecutive ids: submit with --array=1-{count}"
            ));
        }
        // A list array (--array=1,3,5) sets no step, but its ids span more than its count:
        // refused in every task too (task 3 would otherwise run as shard 3 of 3).
        if let Some((max, _)) = read("SLURM_ARRAY_TASK_MAX")?
            && max - min + 1 != count
        {
            return Err(format!(
                "--shard auto: the job array's ids run from {min} to {max} (SLURM_ARRAY_TASK_MIN/MAX) over {count} tasks (SLURM_ARRAY_TASK_COUNT): shards need consecutive ids: submit with --array=1-{count}"
            ));
        }
        let index = to_u32(
            id - min + 1,
            "SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN + 1",
        )?;
        let count = to_u32(count, "SLURM_ARRAY_TASK_COUNT")?;
        return Shard::new(
            index,
            count,
            ShardSource::Slurm,
            vec![id_text, min_text, count_text],
        )
        .map_err(|e| {
            format!(
                "--shard auto: {e}; the array's ids must be consecutive (e.g. --array=1-{count}, no step)"
            )
        });
    }
    if let Some((k, k_text)) = read("JOB_COMPLETION_INDEX")? {
        let Some((count, count_text)) = read("HARNESS_SHARD_COUNT")? else {
            return Err(
                "--shard auto: JOB_COMPLETION_INDEX is set but HARNESS_SHARD_COUNT is not: set it to the Job's completions"
                    .into(),
            );
        };
        let index = to_u32(k + 1, "JOB_COMPLETION_INDEX + 1")?;
        let count = to_u32(count, "HARNESS_SHARD_COUNT")?;
        return Shard::new(
            index,
            count,
            ShardSource::Kubernetes,
            vec![k_text, count_text],
        )
        .map_err(|e| format!("--shard auto: {e}"));
    }
    Err("--shard auto: no scheduler found in the environment (neither SLURM_ARRAY_TASK_ID of a Slurm job array nor JOB_COMPLETION_INDEX of a Kubernetes Indexed Job); pass --shard I/N".into())
}

/// `shard.json` of a partial bundle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardFile {
    pub format: String,
    pub shard: Shard,
    /// What the partition dealt out: `"patient column '<col>'"` or `"cases"`.
    pub unit: String,
    /// Cases of the full (unsharded) index.
    pub total_cases: u64,
    /// This shard's cases: their positions (0-based) in the full index, ascending, in the order
    /// of its `predictions.csv`.
    pub positions: Vec<u64>,
    /// The bit depth of its images' samples (8 or 16), where the format says (PNG, JPEG, TIFF): one
    /// run refuses a dataset of two depths, and `harness merge` shards of two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_bits: Option<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shard read from a bundle's file is checked as `--shard` is: a count of 0 would divide
    /// by zero when its cases are dealt, an index of 0 would underflow.
    #[test]
    fn a_shard_read_from_a_file_is_checked() {
        let read = |json: &str| serde_json::from_str::<Shard>(json);
        let ok = read(r#"{"index": 2, "count": 3, "source": "flag"}"#).unwrap();
        assert_eq!(ok.positions(7, None), vec![1, 4]);
        for (json, why) in [
            (
                r#"{"index": 1, "count": 0, "source": "flag"}"#,
                "count 0 is outside",
            ),
            (
                r#"{"index": 0, "count": 3, "source": "flag"}"#,
                "index 0 is outside",
            ),
            (
                r#"{"index": 4, "count": 3, "source": "flag"}"#,
                "index 4 is outside",
            ),
        ] {
            let e = read(json).unwrap_err().to_string();
            assert!(e.contains(why), "{json}: {e}");
        }
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn flag_and_environment() {
        let s = Shard::parse("2/3", env(&[])).unwrap();
        assert_eq!((s.index, s.count, s.source), (2, 3, ShardSource::Flag));
        for bad in ["0/3", "4/3", "1/0", "x/3", "3", "1/-2"] {
            assert!(Shard::parse(bad, env(&[])).is_err(), "{bad}");
        }
        // Slurm: an array 5-7 is three tasks; task 6 is the second.
        let s = Shard::parse(
            "auto",
            env(&[
                ("SLURM_ARRAY_TASK_ID", "6"),
                ("SLURM_ARRAY_TASK_MIN", "5"),
                ("SLURM_ARRAY_TASK_COUNT", "3"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (s.index, s.count, s.source.clone()),
            (2, 3, ShardSource::Slurm)
        );
        assert!(s.to_string().contains("SLURM_ARRAY_TASK_ID=6"));
        let s = Shard::parse(
            "auto",
            env(&[("JOB_COMPLETION_INDEX", "0"), ("HARNESS_SHARD_COUNT", "4")]),
        )
        .unwrap();
        assert_eq!(
            (s.index, s.count, s.source),
            (1, 4, ShardSource::Kubernetes)
        );
        let e = Shard::parse("auto", env(&[("JOB_COMPLETION_INDEX", "0")])).unwrap_err();
        assert!(e.contains("HARNESS_SHARD_COUNT"), "{e}");
        let e = Shard::parse("auto", env(&[])).unwrap_err();
        assert!(e.contains("no scheduler"), "{e}");
        // A stepped array (1,3,5) has ids beyond the count: refused, not silently wrong.
        let e = Shard::parse(
            "auto",
            env(&[
                ("SLURM_ARRAY_TASK_ID", "5"),
                ("SLURM_ARRAY_TASK_MIN", "1"),
                ("SLURM_ARRAY_TASK_COUNT", "3"),
            ]),
        )
        .unwrap_err();
        assert!(e.contains("consecutive"), "{e}");
        // ... and so is its first task, whose id alone would fit; a step of 1 is no step.
        let stepped = |step: &'static str| {
            Shard::parse(
                "auto",
                env(&[
                    ("SLURM_ARRAY_TASK_ID", "1"),
                    ("SLURM_ARRAY_TASK_MIN", "1"),
                    ("SLURM_ARRAY_TASK_COUNT", "3"),
                    ("SLURM_ARRAY_TASK_STEP", step),
                ]),
            )
        };
        let e = stepped("2").unwrap_err();
        assert!(e.contains("step of 2") && e.contains("consecutive"), "{e}");
        assert_eq!(stepped("1").unwrap().index, 1);
        // A list array (--array=1,3,5) sets no step: its span gives it away, in task 3 too.
        let listed = |id: &'static str, max: &'static str| {
            Shard::parse(
                "auto",
                env(&[
                    ("SLURM_ARRAY_TASK_ID", id),
                    ("SLURM_ARRAY_TASK_MIN", "1"),
                    ("SLURM_ARRAY_TASK_MAX", max),
                    ("SLURM_ARRAY_TASK_COUNT", "3"),
                ]),
            )
        };
        let e = listed("3", "5").unwrap_err();
        assert!(
            e.contains("from 1 to 5") && e.contains("consecutive"),
            "{e}"
        );
        assert_eq!(listed("3", "3").unwrap().index, 3);
    }

    #[test]
    fn partitions_cover_every_case_once_and_never_split_a_patient() {
        let patients: Vec<String> = [0, 0, 1, 2, 1, 3, 3, 3, 4, 2, 5]
            .iter()
            .map(|p| format!("p{p}"))
            .collect();
        for count in 1..=7u32 {
            for units in [None, Some(patients.as_slice())] {
                let mut seen = vec![0u32; patients.len()];
                let mut owner: HashMap<&str, u32> = HashMap::new();
                for index in 1..=count {
                    let s = Shard::new(index, count, ShardSource::Flag, Vec::new()).unwrap();
                    let pos = s.positions(patients.len(), units);
                    assert!(pos.windows(2).all(|w| w[0] < w[1]), "ascending");
                    for p in pos {
                        seen[p] += 1;
                        if units.is_some() {
                            let o = *owner.entry(patients[p].as_str()).or_insert(index);
                            assert_eq!(o, index, "patient {} split", patients[p]);
                        }
                    }
                }
                assert!(seen.iter().all(|&k| k == 1), "{count}: {seen:?}");
            }
        }
        // Round-robin over cases: sizes differ by at most one.
        let sizes: Vec<usize> = (1..=3)
            .map(|i| {
                Shard::new(i, 3, ShardSource::Flag, Vec::new())
                    .unwrap()
                    .positions(10, None)
                    .len()
            })
            .collect();
        assert_eq!(sizes, vec![4, 3, 3]);
    }
}
