//! The words every crate of the harness shares, kept apart so that a crate that only needs to
//! *name* a device or an outcome (measurement, evidence, the report) does not compile the
//! inference engines: [`Device`] (where a model runs), [`Status`] (how a step ended) and
//! [`Outcome`] (a status with its reason, as the evidence bundle records it).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// The host CPU.
    #[default]
    Cpu,
    /// An NVIDIA GPU through CUDA (ONNX Runtime's CUDA execution provider only).
    Cuda,
}

impl Device {
    /// The name used in suites, profiles and JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a step (a candidate, an engine, a measurement, a check) ended, without the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Done as asked.
    Ok,
    /// Tried and failed.
    Failed,
    /// Not tried: the engine or device does not exist on this machine.
    Unavailable,
    /// Not tried, by choice or because something it needs was missing.
    Skipped,
}

impl Status {
    /// Every status, in a fixed order.
    pub const ALL: [Status; 4] = [Self::Ok, Self::Failed, Self::Unavailable, Self::Skipped];

    /// The name used in JSON: `ok`, `failed`, `unavailable`, `skipped`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Unavailable => "unavailable",
            Self::Skipped => "skipped",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is none of [`Status::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStatus(pub String);

impl fmt::Display for UnknownStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown status '{}': expected ok, failed, unavailable or skipped",
            self.0
        )
    }
}

impl std::error::Error for UnknownStatus {}

impl FromStr for Status {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

/// How a step ended, with the reason wherever it did not simply succeed.
///
/// Serialised as the fields `status` and `reason` of the record that holds it
/// (`#[serde(flatten)]`), so `{"status": "ok"}` or `{"status": "failed", "reason": "…"}`:
/// the JSON that bundles written before this type existed already hold. A record that names a
/// status without a reason reads with an empty reason; an unknown status is an error, never a
/// silent "failed".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    /// Done as asked.
    Ok,
    /// Tried and failed, and why.
    Failed {
        #[serde(default)]
        reason: String,
    },
    /// The engine or device does not exist on this machine, and why.
    Unavailable {
        #[serde(default)]
        reason: String,
    },
    /// Not tried, and why.
    Skipped {
        #[serde(default)]
        reason: String,
    },
}

impl Outcome {
    /// A failure with its reason.
    pub fn failed(reason: impl Into<String>) -> Self {
        Self::Failed {
            reason: reason.into(),
        }
    }

    /// Unavailable here, with the reason.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self::Unavailable {
            reason: reason.into(),
        }
    }

    /// Skipped, with the reason.
    pub fn skipped(reason: impl Into<String>) -> Self {
        Self::Skipped {
            reason: reason.into(),
        }
    }

    /// The status without the reason.
    #[must_use]
    pub fn status(&self) -> Status {
        match self {
            Self::Ok => Status::Ok,
            Self::Failed { .. } => Status::Failed,
            Self::Unavailable { .. } => Status::Unavailable,
            Self::Skipped { .. } => Status::Skipped,
        }
    }

    /// The reason, for every outcome but [`Outcome::Ok`].
    #[must_use]
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Ok => None,
            Self::Failed { reason } | Self::Unavailable { reason } | Self::Skipped { reason } => {
                Some(reason)
            }
        }
    }

    /// True for [`Outcome::Ok`].
    #[must_use]
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok)
    }

    /// True for [`Outcome::Failed`].
    #[must_use]
    pub fn is_failed(&self) -> bool {
        matches!(self, Self::Failed { .. })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason() {
            Some(r) if !r.is_empty() => write!(f, "{}: {r}", self.status()),
            _ => f.write_str(self.status().as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Record {
        name: String,
        #[serde(flatten)]
        outcome: Outcome,
    }

    #[test]
    fn outcome_json_is_the_status_and_reason_fields_of_its_record() {
        let ok = Record {
            name: "a".into(),
            outcome: Outcome::Ok,
        };
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"name":"a","status":"ok"}"#
        );
        let failed = Record {
            name: "b".into(),
            outcome: Outcome::failed("shape mismatch"),
        };
        let text = serde_json::to_string(&failed).unwrap();
        assert_eq!(
            text,
            r#"{"name":"b","status":"failed","reason":"shape mismatch"}"#
        );
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), failed);
        for o in [
            Outcome::Ok,
            Outcome::failed("x"),
            Outcome::unavailable("no CUDA"),
            Outcome::skipped("not asked"),
        ] {
            let r = Record {
                name: "c".into(),
                outcome: o,
            };
            let back: Record = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
            assert_eq!(back, r);
        }
    }

    #[test]
    fn unknown_status_is_an_error_not_a_failure() {
        let e = serde_json::from_str::<Record>(r#"{"name":"a","status":"okay"}"#);
        assert!(e.is_err(), "{e:?}");
        assert_eq!("okay".parse::<Status>(), Err(UnknownStatus("okay".into())));
        assert_eq!("unavailable".parse::<Status>(), Ok(Status::Unavailable));
    }

    #[test]
    fn a_failure_recorded_without_a_reason_still_reads() {
        let r: Record = serde_json::from_str(r#"{"name":"a","status":"failed"}"#).unwrap();
        assert_eq!(r.outcome, Outcome::failed(""));
        assert_eq!(r.outcome.status(), Status::Failed);
    }
}
