//! Scenarios and run-length settings, modelled on LoadGen's `TestSettings`
//! (`loadgen/test_settings.h`) and the official values in `loadgen/mlperf.conf`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// LoadGen scenario (`mlperf::TestScenario`), restricted to the three this harness runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// One single-sample query at a time; the next is issued when the previous completes.
    /// Result: a latency percentile (90th) with its early-stopping estimate.
    SingleStream,
    /// Throughput: batches issued back to back. Result: samples per second.
    Offline,
    /// Poisson arrivals at a target rate, served in arrival order. Result: whether the 99th
    /// percentile latency (queueing included) meets the bound.
    Server,
}

impl Scenario {
    /// All scenarios, in a fixed order.
    pub const ALL: [Scenario; 3] = [Scenario::SingleStream, Scenario::Offline, Scenario::Server];

    /// The kebab-case name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::SingleStream => "single-stream",
            Scenario::Offline => "offline",
            Scenario::Server => "server",
        }
    }
}

impl std::str::FromStr for Scenario {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scenario::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!("unknown scenario '{s}'; expected one of: single-stream, offline, server")
            })
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How long a scenario runs and what it targets.
///
/// As in LoadGen, a run continues until **both** `min_duration` and `min_query_count` are met,
/// and stops early if `max_duration` is reached (LoadGen's `max_duration_ms`, whose default
/// 0 means no limit; here it is a safety cap). In the Offline scenario `min_query_count` counts
/// samples, not batches (LoadGen maps `min_query_count` to the minimum sample count there, as
/// `mlperf.conf` notes). Durations serialise as seconds (`*_s`), the bound as milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Minimum measured duration. Default 10 s, which is LoadGen's `TestSettings` default;
    /// an official MLPerf run uses 600 s (`*.SingleStream.min_duration = 600000` in
    /// `mlperf.conf`), far too long for routine use here.
    #[serde(rename = "min_duration_s", with = "secs")]
    pub min_duration: Duration,
    /// Minimum measured queries (samples in Offline). Default 1024, MLPerf's SingleStream
    /// minimum, which also exceeds the 662 queries early stopping needs for a 99th-percentile
    /// estimate.
    pub min_query_count: u64,
    /// Safety cap on the measured phase (and, separately, on the warm-up). Default 600 s.
    #[serde(rename = "max_duration_s", with = "secs")]
    pub max_duration: Duration,
    /// Warm-up queries run and discarded before measuring. Default 10. LoadGen has no warm-up
    /// (systems under test warm up on their own); engines here allocate and autotune lazily, so
    /// the first queries are excluded.
    pub warmup_queries: u64,
    /// Minimum warm-up duration (the warm-up lasts until both its count and duration are met).
    /// Default 1 s, so CPU clocks and caches settle.
    #[serde(rename = "warmup_duration_s", with = "secs")]
    pub warmup_duration: Duration,
    /// Server scenario: mean arrival rate in queries per second. Default 10: LoadGen's default
    /// is 1, which with 1024 queries would take 17 minutes.
    pub target_qps: f64,
    /// Server scenario: latency bound for the 99th percentile. Default 100 ms, LoadGen's
    /// `server_target_latency_ns` default (MLPerf sets it per model, e.g. 15 ms for ResNet-50).
    #[serde(rename = "latency_bound_ms", with = "millis")]
    pub latency_bound: Duration,
    /// Seed of the Server arrival schedule (xoshiro256++). Default: the `schedule_rng_seed` of
    /// `mlperf.conf`. The schedule is reproducible within this tool, not identical to
    /// LoadGen's (which draws from `std::mt19937`).
    pub seed: u64,
    /// Percentile reported for single-stream (LoadGen `single_stream_target_latency_percentile`,
    /// 0.90).
    pub single_stream_percentile: f64,
    /// Percentile the Server bound applies to (LoadGen `server_target_latency_percentile`, 0.99).
    pub server_percentile: f64,
}

/// `schedule_rng_seed` from `loadgen/mlperf.conf`.
pub const MLPERF_SCHEDULE_SEED: u64 = 18_209_322_760_996_052_031;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            min_duration: Duration::from_secs(10),
            min_query_count: 1024,
            max_duration: Duration::from_secs(600),
            warmup_queries: 10,
            warmup_duration: Duration::from_secs(1),
            target_qps: 10.0,
            latency_bound: Duration::from_millis(100),
            seed: MLPERF_SCHEDULE_SEED,
            single_stream_percentile: 0.90,
            server_percentile: 0.99,
        }
    }
}

impl Settings {
    /// A short preset for CI and tests: 64 queries (the minimum for a 90th-percentile
    /// early-stopping estimate), 0.5 s, a 30 s cap, 2 warm-up queries and no warm-up duration.
    pub fn quick() -> Self {
        Settings {
            min_duration: Duration::from_millis(500),
            min_query_count: 64,
            max_duration: Duration::from_secs(30),
            warmup_queries: 2,
            warmup_duration: Duration::ZERO,
            ..Settings::default()
        }
    }

    /// Checks the values a run relies on; the error names the setting and its value.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_duration.is_zero() {
            return Err("max_duration_s must be greater than 0".into());
        }
        if !(self.target_qps.is_finite() && self.target_qps > 0.0) {
            return Err(format!(
                "target_qps must be a positive number, got {}",
                self.target_qps
            ));
        }
        for (key, p) in [
            ("single_stream_percentile", self.single_stream_percentile),
            ("server_percentile", self.server_percentile),
        ] {
            if !(p > 0.0 && p < 1.0) {
                return Err(format!("{key} must be strictly between 0 and 1, got {p}"));
            }
        }
        Ok(())
    }
}

/// `Duration` as (fractional) seconds in JSON.
mod secs {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v)
            .map_err(|e| D::Error::custom(format!("invalid duration {v} s: {e}")))
    }
}

/// `Duration` as (fractional) milliseconds in JSON.
mod millis {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1e3)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v / 1e3)
            .map_err(|e| D::Error::custom(format!("invalid duration {v} ms: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_validate() {
        let s = Settings::default();
        let json = serde_json::to_string(&s).unwrap();
        assert!(
            json.contains("\"min_duration_s\":10.0") && json.contains("\"latency_bound_ms\":100.0")
        );
        let back: Settings = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        assert!(s.validate().is_ok() && Settings::quick().validate().is_ok());
        let bad = Settings {
            target_qps: 0.0,
            ..Settings::quick()
        };
        assert!(bad.validate().unwrap_err().contains("target_qps"));
        let bad = Settings {
            server_percentile: 1.0,
            ..Settings::quick()
        };
        assert!(bad.validate().unwrap_err().contains("server_percentile"));
        let neg = json.replace("\"min_duration_s\":10.0", "\"min_duration_s\":-1.0");
        assert!(serde_json::from_str::<Settings>(&neg).is_err());
    }

    #[test]
    fn scenario_names() {
        assert_eq!(
            serde_json::to_string(&Scenario::SingleStream).unwrap(),
            "\"single-stream\""
        );
        assert_eq!("server".parse(), Ok(Scenario::Server));
        assert_eq!("single-stream".parse(), Ok(Scenario::SingleStream));
        assert!(
            "Server"
                .parse::<Scenario>()
                .unwrap_err()
                .contains("single-stream")
        );
        assert_eq!(Scenario::Offline.to_string(), "offline");
    }
}
