//! Running a scenario against an engine: the [`Workload`] abstraction, warm-up, the three
//! LoadGen scenarios and the seeded Poisson arrival schedule.
//!
//! Timing uses `std::time::Instant` (monotonic). The scenario loops are written against a small
//! clock trait so tests can drive them with a simulated clock and assert exact query counts
//! instead of timings.

use std::time::{Duration, Instant};

use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};

use crate::report::{ScenarioResult, ServerSummary, Status};
use crate::settings::{Scenario, Settings};
use crate::stats::{self, ns_to_ms};

/// One engine, ready to run: inputs are prepared by the caller before timing starts, so a call
/// measures inference only. `run(batch_size)` performs one query of `batch_size` samples and
/// blocks until its outputs are available. An error stops the scenario (the result is
/// `status: failed` with the message, keeping what was measured).
pub trait Workload {
    fn run(&mut self, batch_size: usize) -> Result<(), String>;
}

impl<F: FnMut(usize) -> Result<(), String>> Workload for F {
    fn run(&mut self, batch_size: usize) -> Result<(), String> {
        self(batch_size)
    }
}

/// Time since the start of a measurement, and waiting for a point in it.
pub(crate) trait Clock {
    fn now(&self) -> Duration;
    fn sleep_until(&self, t: Duration);
}

/// The real monotonic clock.
struct MonotonicClock(Instant);

impl Clock for MonotonicClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }

    fn sleep_until(&self, t: Duration) {
        // Sleep most of the wait, then yield-spin the last millisecond: OS sleeps overshoot by
        // tens of microseconds, which would otherwise be added to every Server latency.
        loop {
            let now = self.now();
            if now >= t {
                return;
            }
            let left = t - now;
            if left > Duration::from_millis(2) {
                std::thread::sleep(left - Duration::from_millis(1));
            } else {
                std::thread::yield_now();
            }
        }
    }
}

/// One draw from the exponential distribution with rate `rate` (mean `1 / rate`) by inversion,
/// `−ln(U) / rate` with `U` uniform on `(0, 1]` built from the top 53 bits of one 64-bit output
/// (`U = (k + 1) / 2^53`, so `ln U` is always finite). LoadGen draws Server inter-arrival times
/// from `std::exponential_distribution(target_qps)` (`ScheduleDistribution<Server>` in
/// `loadgen/loadgen.cc`): a Poisson arrival process.
pub fn exponential_draw<R: Rng + ?Sized>(rng: &mut R, rate: f64) -> f64 {
    let k = rng.next_u64() >> 11;
    let u = (k + 1) as f64 * (1.0 / (1u64 << 53) as f64);
    -u.ln() / rate
}

/// Scheduled arrival offsets of a Poisson process at `rate` queries per second: the first query
/// at 0 (as in LoadGen's `GenerateQueries`), then cumulative exponential gaps from a
/// xoshiro256++ stream seeded with `seed`. Infinite; bit-identical for equal seeds.
pub struct ArrivalSchedule {
    rng: Xoshiro256PlusPlus,
    rate: f64,
    next_s: f64,
}

impl ArrivalSchedule {
    pub fn new(seed: u64, rate: f64) -> Self {
        ArrivalSchedule {
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            rate,
            next_s: 0.0,
        }
    }
}

impl Iterator for ArrivalSchedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let at = Duration::from_secs_f64(self.next_s);
        self.next_s += exponential_draw(&mut self.rng, self.rate);
        Some(at)
    }
}

/// Runs `scenario` on `workload` and returns its result, never panicking on engine failure.
///
/// * `single-stream`: batch-1 queries back to back, each timed from issue to completion.
/// * `offline`: batches of `batch_size` back to back until both the minimum duration and the
///   minimum *sample* count are met; throughput is samples over the span from the first issue
///   to the last completion (LoadGen: `sample_count / max_latency`), latencies are per batch.
/// * `server`: batch-1 queries arriving on the seeded [`ArrivalSchedule`] at
///   `settings.target_qps`, served one at a time in arrival order; latency is completion minus
///   *scheduled* arrival, so queueing counts (LoadGen measures from `scheduled_time`). Queries
///   are generated while the last scheduled time is below `min_duration` or fewer than
///   `min_query_count` were issued (LoadGen's `GenerateQueries` rule).
///
/// Single-stream and server always issue one sample per query, as in LoadGen; for them
/// `batch_size` is ignored and the result records 1. Warm-up queries (same batch size) run
/// first and are excluded. The result has the scenario's figures and empty labels (`backend`,
/// `profile`, `model`, …), which the caller fills in (see [`ScenarioResult::labelled`]).
///
/// `progress`, when given, is told the fraction done: the smaller of
/// elapsed/`min_duration` and queries/`min_query_count`.
pub fn measure(
    workload: &mut dyn Workload,
    scenario: Scenario,
    batch_size: usize,
    settings: &Settings,
    progress: Option<&dyn Progress>,
) -> ScenarioResult {
    let clock = MonotonicClock(Instant::now());
    measure_with_clock(workload, scenario, batch_size, settings, progress, &clock)
}

/// What a scenario loop measured.
#[derive(Default)]
struct Measured {
    latencies_ns: Vec<u64>,
    queries: u64,
    samples: u64,
    duration: Duration,
    warmup_queries: u64,
    failure: Option<String>,
    capped: bool,
    /// Server: scheduled offset of the last issued query.
    last_scheduled: Duration,
}

/// Receives the progress of a measurement (the library draws nothing itself).
pub trait Progress {
    /// `fraction` done, in [0, 1], and a short status such as "single-stream: 120 measured".
    fn update(&self, fraction: f64, status: &str);
}

struct Ticker<'a> {
    sink: Option<&'a dyn Progress>,
    last: Option<Duration>,
}

impl Ticker<'_> {
    fn update(
        &mut self,
        settings: &Settings,
        label: &str,
        elapsed: Duration,
        count: u64,
        force: bool,
    ) {
        let Some(sink) = self.sink else { return };
        // Redraw at most every 100 ms of measured time: cheap loops stay cheap.
        if !force
            && self
                .last
                .is_some_and(|l| elapsed < l + Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(elapsed);
        let by_time = if settings.min_duration.is_zero() {
            1.0
        } else {
            elapsed.as_secs_f64() / settings.min_duration.as_secs_f64()
        };
        let by_count = if settings.min_query_count == 0 {
            1.0
        } else {
            count as f64 / settings.min_query_count as f64
        };
        let frac = by_time.min(by_count).clamp(0.0, 1.0);
        sink.update(frac, &format!("{label}: {count} measured"));
    }
}

pub(crate) fn measure_with_clock(
    workload: &mut dyn Workload,
    scenario: Scenario,
    batch_size: usize,
    settings: &Settings,
    progress: Option<&dyn Progress>,
    clock: &dyn Clock,
) -> ScenarioResult {
    let batch = match scenario {
        Scenario::Offline => batch_size,
        Scenario::SingleStream | Scenario::Server => 1,
    };
    let mut result = ScenarioResult::empty(scenario, batch);
    if batch == 0 {
        result.status = Status::Failed;
        result.reason = Some("batch_size must be at least 1".into());
        return result;
    }
    if let Err(e) = settings.validate() {
        result.status = Status::Failed;
        result.reason = Some(format!("invalid settings: {e}"));
        return result;
    }
    if let Some(sink) = progress {
        sink.update(0.0, &format!("{scenario}: warm-up"));
    }
    let mut prog = Ticker {
        sink: progress,
        last: None,
    };

    let mut m = Measured::default();
    // Warm-up: until both its count and its duration are met, within the safety cap.
    let warm_start = clock.now();
    loop {
        let elapsed = clock.now() - warm_start;
        let done =
            m.warmup_queries >= settings.warmup_queries && elapsed >= settings.warmup_duration;
        if done || elapsed >= settings.max_duration {
            break;
        }
        if let Err(e) = workload.run(batch) {
            m.failure = Some(format!(
                "warm-up query {} failed: {e}",
                m.warmup_queries + 1
            ));
            break;
        }
        m.warmup_queries += 1;
    }

    if m.failure.is_none() {
        let label = scenario.name();
        match scenario {
            Scenario::SingleStream | Scenario::Offline => closed_loop(
                workload, batch, scenario, settings, clock, &mut prog, label, &mut m,
            ),
            Scenario::Server => server_loop(workload, settings, clock, &mut prog, label, &mut m),
        }
    }
    finish(result, scenario, settings, m)
}

/// SingleStream and Offline: issue the next query as soon as the previous one completes.
#[allow(clippy::too_many_arguments)]
fn closed_loop(
    workload: &mut dyn Workload,
    batch: usize,
    scenario: Scenario,
    settings: &Settings,
    clock: &dyn Clock,
    prog: &mut Ticker<'_>,
    label: &str,
    m: &mut Measured,
) {
    let start = clock.now();
    loop {
        let elapsed = clock.now() - start;
        // Offline counts samples against min_query_count; SingleStream counts queries (= samples).
        let count = if scenario == Scenario::Offline {
            m.samples
        } else {
            m.queries
        };
        if count >= settings.min_query_count && elapsed >= settings.min_duration {
            break;
        }
        if elapsed >= settings.max_duration {
            m.capped = true;
            break;
        }
        let issued = clock.now();
        let outcome = workload.run(batch);
        let done = clock.now();
        if let Err(e) = outcome {
            m.failure = Some(format!("query {} failed: {e}", m.queries + 1));
            break;
        }
        m.latencies_ns.push(as_ns(done - issued));
        m.queries += 1;
        m.samples += batch as u64;
        m.duration = done - start;
        prog.update(settings, label, done - start, count + batch as u64, false);
    }
    let count = if scenario == Scenario::Offline {
        m.samples
    } else {
        m.queries
    };
    prog.update(settings, label, m.duration, count, true);
}

/// Server: one worker serving Poisson arrivals in order; latency from scheduled arrival.
fn server_loop(
    workload: &mut dyn Workload,
    settings: &Settings,
    clock: &dyn Clock,
    prog: &mut Ticker<'_>,
    label: &str,
    m: &mut Measured,
) {
    let start = clock.now();
    for at in ArrivalSchedule::new(settings.seed, settings.target_qps) {
        // LoadGen keeps generating while the previous query's scheduled time is below the
        // minimum duration or too few queries were generated.
        if m.queries > 0
            && m.queries >= settings.min_query_count
            && m.last_scheduled >= settings.min_duration
        {
            break;
        }
        if clock.now() - start >= settings.max_duration {
            m.capped = true;
            break;
        }
        let arrival = start + at;
        clock.sleep_until(arrival);
        let outcome = workload.run(1);
        let done = clock.now();
        if let Err(e) = outcome {
            m.failure = Some(format!("query {} failed: {e}", m.queries + 1));
            break;
        }
        m.latencies_ns.push(as_ns(done.saturating_sub(arrival)));
        m.queries += 1;
        m.samples += 1;
        m.last_scheduled = at;
        m.duration = done - start;
        prog.update(settings, label, done - start, m.queries, false);
    }
    prog.update(settings, label, m.duration, m.queries, true);
}

fn as_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn finish(
    mut r: ScenarioResult,
    scenario: Scenario,
    settings: &Settings,
    m: Measured,
) -> ScenarioResult {
    let mut sorted = m.latencies_ns;
    sorted.sort_unstable();
    r.queries = m.queries;
    r.samples = m.samples;
    r.duration_s = m.duration.as_secs_f64();
    r.warmup_queries = m.warmup_queries;
    if m.samples > 0 && !m.duration.is_zero() {
        r.throughput_per_s = Some(m.samples as f64 / m.duration.as_secs_f64());
    } else {
        r.throughput_reason = Some(if m.samples == 0 {
            "no query completed".into()
        } else {
            "measured duration is zero".into()
        });
    }
    r.latency_ms = stats::summarize(&sorted);
    if r.latency_ms.is_none() {
        r.latency_reason = Some("no query completed".into());
    }
    r.latency_cdf = stats::latency_cdf(&sorted);

    let count = if scenario == Scenario::Offline {
        m.samples
    } else {
        m.queries
    };
    r.min_queries_met = count >= settings.min_query_count;
    r.min_duration_met = match scenario {
        // LoadGen: Server checks the final query's scheduled time against min_duration.
        Scenario::Server => m.queries > 0 && m.last_scheduled >= settings.min_duration,
        _ => m.duration >= settings.min_duration,
    };
    r.max_duration_reached = m.capped;

    let bound_ns = as_ns(settings.latency_bound);
    match scenario {
        Scenario::SingleStream => {
            r.early_stopping =
                stats::single_stream_early_stopping(&sorted, settings.single_stream_percentile);
        }
        Scenario::Server => {
            let es = stats::server_early_stopping(&sorted, settings.server_percentile, bound_ns);
            let plain = stats::percentile(&sorted, settings.server_percentile);
            let within = plain.is_some_and(|x| x <= bound_ns);
            let es_met = es.as_ref().is_some_and(|e| e.satisfied);
            let n = m.queries;
            let rate = |span: Duration| {
                (n > 1 && !span.is_zero()).then(|| (n - 1) as f64 / span.as_secs_f64())
            };
            r.server = Some(ServerSummary {
                target_qps: settings.target_qps,
                // LoadGen "completed samples per second": (n − 1) / time of the last completion.
                achieved_qps: rate(m.duration),
                latency_bound_ms: ns_to_ms(bound_ns),
                meets_bound: within && es_met,
                // LoadGen "scheduled samples per second": (n − 1) / last scheduled time.
                scheduled_qps: rate(m.last_scheduled),
                percentile: settings.server_percentile,
                percentile_ms: plain.map(ns_to_ms),
                percentile_within_bound: within,
                early_stopping_met: es_met,
            });
            r.early_stopping = es;
        }
        Scenario::Offline => {}
    }

    match m.failure {
        Some(reason) => {
            r.status = Status::Failed;
            r.reason = Some(reason);
        }
        None => {
            r.status = Status::Ok;
            if m.capped {
                r.reason = Some(format!(
                    "max_duration ({} s) reached before the minimum duration and count were both met; \
                     {} queries measured",
                    settings.max_duration.as_secs_f64(),
                    m.queries
                ));
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    /// Simulated clock: time moves only when a fake workload or a sleep moves it.
    #[derive(Clone, Default)]
    struct FakeClock(Rc<Cell<Duration>>);

    impl FakeClock {
        fn advance(&self, d: Duration) {
            self.0.set(self.0.get() + d);
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> Duration {
            self.0.get()
        }
        fn sleep_until(&self, t: Duration) {
            if t > self.0.get() {
                self.0.set(t);
            }
        }
    }

    /// A workload that takes `service` simulated time per query and counts its calls.
    struct FakeWork {
        clock: FakeClock,
        service: Duration,
        calls: u64,
        batches: Vec<usize>,
        fail_at: Option<u64>,
    }

    impl FakeWork {
        fn new(clock: &FakeClock, service_ms: u64) -> Self {
            FakeWork {
                clock: clock.clone(),
                service: Duration::from_millis(service_ms),
                calls: 0,
                batches: Vec::new(),
                fail_at: None,
            }
        }
    }

    impl Workload for FakeWork {
        fn run(&mut self, batch_size: usize) -> Result<(), String> {
            self.calls += 1;
            self.batches.push(batch_size);
            if self.fail_at == Some(self.calls) {
                return Err("out of memory".into());
            }
            self.clock.advance(self.service);
            Ok(())
        }
    }

    fn settings(min_ms: u64, min_q: u64, warm: u64) -> Settings {
        Settings {
            min_duration: Duration::from_millis(min_ms),
            min_query_count: min_q,
            max_duration: Duration::from_secs(100),
            warmup_queries: warm,
            warmup_duration: Duration::ZERO,
            ..Settings::default()
        }
    }

    #[test]
    fn exponential_draw_mean_and_reproducibility() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let n = 200_000;
        let mean: f64 = (0..n).map(|_| exponential_draw(&mut rng, 4.0)).sum::<f64>() / n as f64;
        // Mean 0.25, standard error 0.25 / √200000 ≈ 0.00056; allow ±0.01 (about 18 SE).
        assert!((mean - 0.25).abs() < 0.01, "mean {mean}");
        let a: Vec<Duration> = ArrivalSchedule::new(42, 10.0).take(1000).collect();
        let b: Vec<Duration> = ArrivalSchedule::new(42, 10.0).take(1000).collect();
        let c: Vec<Duration> = ArrivalSchedule::new(43, 10.0).take(1000).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a[0], Duration::ZERO);
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn single_stream_stops_when_both_minimums_are_met() {
        // 10 ms queries, min 1 s and 20 queries: the duration binds, 100 queries.
        let clock = FakeClock::default();
        let mut w = FakeWork::new(&clock, 10);
        let r = measure_with_clock(
            &mut w,
            Scenario::SingleStream,
            8,
            &settings(1000, 20, 5),
            None,
            &clock,
        );
        assert_eq!(r.status, Status::Ok);
        assert_eq!((r.queries, r.samples, r.warmup_queries), (100, 100, 5));
        assert_eq!(w.calls, 105); // warm-up excluded from the counts
        assert!(w.batches.iter().all(|&b| b == 1)); // single-stream ignores batch_size
        assert_eq!(r.batch_size, Some(1));
        assert!(r.min_duration_met && r.min_queries_met && !r.max_duration_reached);
        let l = r.latency_ms.unwrap();
        assert_eq!((l.p50, l.p99, l.max), (10.0, 10.0, 10.0));
        assert_eq!(r.throughput_per_s, Some(100.0));
        let es = r.early_stopping.unwrap();
        assert!(es.satisfied && es.estimate_ms == Some(10.0));

        // Same queries, min 0.1 s and 64 queries: the count binds.
        let clock = FakeClock::default();
        let mut w = FakeWork::new(&clock, 10);
        let r = measure_with_clock(
            &mut w,
            Scenario::SingleStream,
            1,
            &settings(100, 64, 0),
            None,
            &clock,
        );
        assert_eq!((r.queries, w.calls), (64, 64));
    }

    #[test]
    fn max_duration_caps_the_run() {
        let clock = FakeClock::default();
        let mut w = FakeWork::new(&clock, 10);
        let s = Settings {
            max_duration: Duration::from_millis(250),
            ..settings(1000, 1000, 0)
        };
        let r = measure_with_clock(&mut w, Scenario::SingleStream, 1, &s, None, &clock);
        assert_eq!(r.status, Status::Ok);
        assert_eq!(r.queries, 25);
        assert!(r.max_duration_reached && !r.min_queries_met && !r.min_duration_met);
        assert!(r.reason.unwrap().contains("max_duration"));
        let es = r.early_stopping.unwrap();
        assert!(!es.satisfied && es.estimate_ms.is_none() && es.estimate_reason.is_some());
    }

    #[test]
    fn offline_counts_samples_against_the_minimum() {
        // Batches of 8 taking 20 ms; min 100 samples and 0.1 s → 13 batches (104 samples) since
        // the count binds after the duration (5 batches).
        let clock = FakeClock::default();
        let mut w = FakeWork::new(&clock, 20);
        let r = measure_with_clock(
            &mut w,
            Scenario::Offline,
            8,
            &settings(100, 100, 2),
            None,
            &clock,
        );
        assert_eq!((r.queries, r.samples, r.batch_size), (13, 104, Some(8)));
        assert_eq!(w.calls, 15);
        assert!(w.batches.iter().all(|&b| b == 8));
        assert_eq!(r.throughput_per_s, Some(104.0 / 0.26));
        assert!(r.early_stopping.is_none() && r.server.is_none());
    }

    #[test]
    fn failing_workload_keeps_partial_results() {
        let clock = FakeClock::default();
        let mut w = FakeWork::new(&clock, 5);
        w.fail_at = Some(3 + 40); // 3 warm-up, then 42 good queries
        let r = measure_with_clock(
            &mut w,
            Scenario::SingleStream,
            1,
            &settings(1000, 100, 3),
            None,
            &clock,
        );
        assert_eq!(r.status, Status::Failed);
        assert_eq!(r.queries, 39);
        assert!(
            r.reason
                .as_deref()
                .unwrap()
                .contains("query 40 failed: out of memory")
        );
        assert!(r.latency_ms.is_some() && !r.latency_cdf.is_empty());

        let clock = FakeClock::default();
        let mut w = FakeWork::new(&clock, 5);
        w.fail_at = Some(2);
        let r = measure_with_clock(
            &mut w,
            Scenario::Offline,
            4,
            &settings(10, 10, 3),
            None,
            &clock,
        );
        assert_eq!(r.status, Status::Failed);
        assert!(
            r.reason
                .as_deref()
                .unwrap()
                .starts_with("warm-up query 2 failed")
        );
        assert_eq!(r.queries, 0);
        assert!(r.latency_ms.is_none() && r.throughput_per_s.is_none());
        assert!(r.latency_reason.is_some() && r.throughput_reason.is_some());
    }

    #[test]
    fn invalid_inputs_fail_cleanly() {
        let clock = FakeClock::default();
        let mut w = FakeWork::new(&clock, 5);
        let r = measure_with_clock(
            &mut w,
            Scenario::Offline,
            0,
            &settings(10, 10, 0),
            None,
            &clock,
        );
        assert_eq!(r.status, Status::Failed);
        let bad = Settings {
            target_qps: f64::NAN,
            ..settings(10, 10, 0)
        };
        let r = measure_with_clock(&mut w, Scenario::Server, 1, &bad, None, &clock);
        assert!(r.reason.unwrap().contains("target_qps"));
        assert_eq!(w.calls, 0);
    }

    #[test]
    fn server_latency_includes_queueing_from_the_schedule() {
        let s = Settings {
            target_qps: 50.0,
            seed: 9,
            ..settings(2000, 150, 1)
        };
        let clock = FakeClock::default();
        let mut w = FakeWork::new(&clock, 15);
        let r = measure_with_clock(&mut w, Scenario::Server, 4, &s, None, &clock);
        assert_eq!(r.status, Status::Ok);

        // Replay the same schedule by hand: completion = max(previous completion, arrival) + S.
        // Warm-up (1 query of 15 ms) happens before the measured start.
        let service = Duration::from_millis(15);
        let start = service;
        let mut done = start;
        let mut expected = Vec::new();
        let mut last = Duration::ZERO;
        for at in ArrivalSchedule::new(9, 50.0) {
            if !expected.is_empty()
                && expected.len() as u64 >= 150
                && last >= Duration::from_secs(2)
            {
                break;
            }
            let arrival = start + at;
            done = done.max(arrival) + service;
            expected.push(as_ns(done - arrival));
            last = at;
        }
        assert_eq!(r.queries, expected.len() as u64);
        expected.sort_unstable();
        let l = r.latency_ms.as_ref().unwrap();
        assert_eq!(l.max, ns_to_ms(*expected.last().unwrap()));
        assert_eq!(l.p99, ns_to_ms(stats::percentile(&expected, 0.99).unwrap()));
        assert!(l.max > 15.0); // some queries queued behind others at 50 QPS × 15 ms
        assert_eq!(l.min, 15.0);
        let sv = r.server.as_ref().unwrap();
        assert_eq!(
            sv.meets_bound,
            sv.percentile_within_bound && sv.early_stopping_met
        );
        assert!(r.min_duration_met && r.min_queries_met);
        assert!(w.batches.iter().all(|&b| b == 1));
    }

    #[test]
    fn server_overload_fails_the_bound() {
        // 100 QPS offered, 30 ms per query: the queue grows and latency passes 100 ms.
        let s = Settings {
            target_qps: 100.0,
            ..settings(1000, 100, 0)
        };
        let clock = FakeClock::default();
        let mut w = FakeWork::new(&clock, 30);
        let r = measure_with_clock(&mut w, Scenario::Server, 1, &s, None, &clock);
        let sv = r.server.unwrap();
        assert!(!sv.meets_bound && !sv.percentile_within_bound && !sv.early_stopping_met);
        let es = r.early_stopping.unwrap();
        assert!(es.overlatency_queries.unwrap() > 0 && !es.satisfied);
    }

    #[test]
    fn closures_are_workloads_and_progress_is_driven() {
        let mut n = 0_u64;
        let mut f = |b: usize| -> Result<(), String> {
            n += b as u64;
            Ok(())
        };
        let s = Settings {
            min_duration: Duration::ZERO,
            min_query_count: 30,
            warmup_queries: 4,
            ..Settings::quick()
        };
        struct Last(std::cell::Cell<f64>);
        impl Progress for Last {
            fn update(&self, fraction: f64, _: &str) {
                self.0.set(fraction);
            }
        }
        let bar = Last(std::cell::Cell::new(-1.0));
        let r = measure(&mut f, Scenario::SingleStream, 1, &s, Some(&bar));
        assert_eq!(r.queries, 30);
        assert_eq!(bar.0.get(), 1.0);
        assert_eq!(n, 34);
    }
}
