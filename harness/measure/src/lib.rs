//! Performance measurement following MLPerf LoadGen rules: SingleStream, Offline and Server
//! scenarios, percentiles with early stopping, hardware profiles, machine capture.
//!
//! The reference is MLPerf Inference LoadGen (`loadgen/` in
//! [mlcommons/inference](https://github.com/mlcommons/inference)): its scenarios
//! (`test_settings.h`), percentile rule and early-stopping estimate (`results.cc`,
//! `early_stopping.cc`) and run-length rules were read from the source and re-implemented here,
//! so that "p90", "early-stopping estimate" and "meets the p99 bound" mean what MLPerf users
//! expect. Differences are documented where they occur (a warm-up phase, a safety cap on
//! duration, shorter default durations, batches back to back in Offline).
//!
//! The engine is abstract: anything implementing [`Workload`] (closures included) can be
//! measured with [`measure`]. The crate knows nothing about models or backends.
//!
//! * [`stats`]: percentiles, early stopping, latency summaries and CDFs;
//! * [`settings`]: [`Scenario`] and [`Settings`];
//! * [`run`]: [`Workload`], [`measure`], the seeded Poisson schedule;
//! * [`profile`]: hardware profiles (`cpu-1thread`, `cpu-all`, `cpu-<N>threads`, `gpu`);
//! * [`machine`]: CPU/memory/OS/GPU capture;
//! * [`report`]: the JSON schema ([`BenchReport`], [`ScenarioResult`]).

pub mod machine;
pub mod profile;
pub mod report;
pub mod run;
pub mod settings;
pub mod stats;

pub use machine::{Gpu, Machine};
pub use profile::{Device, KNOWN_PROFILES, Profile, ProfileError, profile};
pub use report::{BenchReport, RunLabels, ScenarioResult, ServerSummary, Status};
pub use run::{ArrivalSchedule, Progress, Workload, exponential_draw, measure};
pub use settings::{Scenario, Settings};
pub use stats::{EarlyStopping, LatencySummary};

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn assert_no_nan(v: &serde_json::Value) {
        match v {
            serde_json::Value::Number(n) => assert!(n.as_f64().is_some_and(f64::is_finite)),
            serde_json::Value::Array(a) => a.iter().for_each(assert_no_nan),
            serde_json::Value::Object(o) => o.values().for_each(assert_no_nan),
            _ => {}
        }
    }

    #[test]
    fn report_schema_field_order_and_no_nan() {
        let settings = Settings {
            min_duration: Duration::ZERO,
            min_query_count: 70,
            ..Settings::quick()
        };
        let mut report = BenchReport::new(Machine::capture(), settings.clone());
        let cpu = profile("cpu-1thread").unwrap();
        let labels = RunLabels {
            model: Some("toy".into()),
            model_sha256: Some("ab".repeat(32)),
            backend_version: Some("1.0".into()),
            ..RunLabels::new("fake", &cpu)
        };
        let mut work = |_b: usize| -> Result<(), String> { Ok(()) };
        for scenario in [Scenario::SingleStream, Scenario::Offline, Scenario::Server] {
            let s = Settings {
                target_qps: 2000.0,
                ..settings.clone()
            };
            report
                .results
                .push(measure(&mut work, scenario, 4, &s, None).labelled(&labels));
        }
        let mut failing = |_b: usize| -> Result<(), String> { Err("CUDA error".into()) };
        report
            .results
            .push(measure(&mut failing, Scenario::Offline, 2, &settings, None).labelled(&labels));
        report.results.push(ScenarioResult::unavailable(
            "ort-cuda",
            "gpu",
            "no CUDA device",
        ));

        let json = serde_json::to_value(&report).unwrap();
        assert_no_nan(&json);
        let text = serde_json::to_string(&report).unwrap();
        let back: BenchReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back.results.len(), 5);

        let fields: Vec<&str> = json["results"][0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        // serde_json without preserve_order sorts keys, so check membership, then the order of
        // the serialised text.
        let required = [
            "model",
            "model_sha256",
            "backend",
            "backend_version",
            "profile",
            "scenario",
            "batch_size",
            "threads",
            "queries",
            "samples",
            "duration_s",
            "throughput_per_s",
            "latency_ms",
            "early_stopping",
            "server",
            "latency_cdf",
            "status",
            "reason",
        ];
        for f in required {
            assert!(fields.contains(&f), "missing {f}");
        }
        let first = &text[text.find("\"results\":[{").unwrap()..];
        let positions: Vec<usize> = required
            .iter()
            .map(|f| first.find(&format!("\"{f}\":")).unwrap())
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "field order {positions:?}"
        );

        let r = &json["results"];
        assert_eq!(r[0]["scenario"], "single-stream");
        assert_eq!(r[0]["status"], "ok");
        assert_eq!(r[0]["threads"], 1);
        assert!(r[0]["early_stopping"]["satisfied"].as_bool().unwrap());
        assert!(r[1]["early_stopping"].is_null() && r[1]["server"].is_null());
        assert_eq!(r[1]["samples"], 72); // 18 batches of 4 ≥ 70 samples
        assert!(r[2]["server"]["meets_bound"].is_boolean());
        assert_eq!(r[3]["status"], "failed");
        assert!(r[3]["throughput_per_s"].is_null() && r[3]["throughput_reason"].is_string());
        assert_eq!(r[4]["status"], "unavailable");
        assert!(r[4]["scenario"].is_null());
    }
}
