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
                    if s.meets_bound {
                        "met"
                    } else if s.percentile_within_bound && !s.early_stopping_met {
                        // The observed percentile is within the bound, but LoadGen's early
                        // stopping cannot confirm it from this many queries.
                        "undetermined (within, not confirmed by early stopping)"
                    } else {
                        "NOT met"
                    },
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

    /// The server bound: met, not met, or — within it but not confirmed by early stopping —
    /// undetermined, never "NOT met".
    #[test]
    fn the_server_bound_reads_met_not_met_or_undetermined() {
        let verdict = |within: bool, confirmed: bool| {
            let mut report = BenchReport::new(Machine::capture(), Settings::quick());
            let mut r = ScenarioResult::unavailable("tract", "cpu-1thread", "");
            r.server = Some(harness_measure::ServerSummary {
                target_qps: 10.0,
                achieved_qps: Some(10.0),
                latency_bound_ms: 100.0,
                meets_bound: within && confirmed,
                scheduled_qps: Some(10.0),
                percentile: 0.99,
                percentile_ms: Some(if within { 3.0 } else { 300.0 }),
                percentile_within_bound: within,
                early_stopping_met: confirmed,
            });
            report.results = vec![r];
            bench_table(&report)
        };
        let met = verdict(true, true);
        assert!(
            met.contains("met (100 ms @ 10 qps)") && !met.contains("NOT met"),
            "{met}"
        );
        assert!(verdict(false, false).contains("NOT met"));
        let t = verdict(true, false);
        assert!(t.contains("undetermined") && !t.contains("NOT met"), "{t}");
    }
}
