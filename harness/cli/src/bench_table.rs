//! The terminal table of `harness bench`: one row per result with the headline figure of its
//! scenario. (The JSON schema lives in `harness-measure`; only the drawing is here.)

use harness_measure::{BenchReport, Status};
use tabled::builder::Builder;
use tabled::settings::Style;

fn fmt_opt(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "–".to_string(), |v| format!("{v:.digits$}"))
}

/// A plain-text table of the results for the terminal: one row per result with the headline
/// figure of its scenario (single-stream: the early-stopping p90 estimate; server: whether the
/// p99 bound is met; offline: samples/s).
pub fn bench_table(report: &BenchReport) -> String {
    let mut b = Builder::default();
    b.push_record([
        "model",
        "backend",
        "profile",
        "scenario",
        "batch",
        "queries",
        "throughput/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "early-stop est. ms",
        "server bound",
        "status",
    ]);
    for r in &report.results {
        let lat = r.latency_ms.as_ref();
        let es = r.early_stopping.as_ref();
        let status = match (&r.status, &r.reason) {
            (Status::Ok, Some(_)) => "ok (see reason)".to_string(),
            (s, Some(why)) => format!("{s}: {why}"),
            (s, None) => s.to_string(),
        };
        b.push_record([
            r.model.clone().unwrap_or_else(|| "–".into()),
            r.backend.clone(),
            r.profile.clone(),
            r.scenario.map_or_else(|| "–".into(), |s| s.to_string()),
            r.batch_size.map_or_else(|| "–".into(), |b| b.to_string()),
            r.queries.to_string(),
            fmt_opt(r.throughput_per_s, 1),
            fmt_opt(lat.map(|l| l.p50), 3),
            fmt_opt(lat.map(|l| l.p90), 3),
            fmt_opt(lat.map(|l| l.p99), 3),
            match es {
                Some(e) => format!(
                    "p{:.0}: {}",
                    e.percentile * 100.0,
                    fmt_opt(e.estimate_ms, 3)
                ),
                None => "–".into(),
            },
            match &r.server {
                Some(s) => format!(
                    "{} ({:.0} ms @ {} qps)",
                    if s.meets_bound { "met" } else { "NOT met" },
                    s.latency_bound_ms,
                    s.target_qps
                ),
                None => "–".into(),
            },
            status,
        ]);
    }
    let mut table = b.build();
    table.with(Style::modern());
    table.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_measure::{Machine, ScenarioResult, Settings};

    #[test]
    fn failed_and_unavailable_rows_say_why() {
        let mut report = BenchReport::new(Machine::capture(), Settings::quick());
        let mut failed =
            ScenarioResult::failed("tract", "cpu-1thread", "warm-up query 1 failed: CUDA error");
        failed.model = Some("fake".into());
        let mut missing = ScenarioResult::unavailable("ort", "gpu", "no CUDA device");
        missing.model = Some("fake".into());
        report.results = vec![failed, missing];
        let table = bench_table(&report);
        assert!(table.contains("unavailable: no CUDA device"), "{table}");
        assert!(
            table.contains("failed: warm-up query 1 failed: CUDA error"),
            "{table}"
        );
        assert_eq!(table.lines().filter(|l| l.contains("fake")).count(), 2);
    }
}
