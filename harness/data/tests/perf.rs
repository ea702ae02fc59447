//! Parse-speed check on a generated 200,000-row, 7-column table (~9 MB).
//! Ignored by default (timing depends on the machine); run with
//! `cargo test -p harness-data --release --test perf -- --ignored --nocapture`.

use std::path::Path;
use std::time::Instant;

use harness_data::{EvalSpec, parse_eval_csv};

#[test]
#[ignore = "timing check; run explicitly in release"]
fn parse_200k_rows() {
    let rows = 200_000usize;
    let mut csv = String::from("case_id,label,score,score_b,sex,age_band,site\n");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..rows {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let a = (x % 1_000_000_000) as f64 / 1e9;
        let b = ((x >> 20) % 1_000_000_000) as f64 / 1e9;
        let sex = ["F", "M", ""][(x >> 40) as usize % 3];
        let age = ["18-39", "40-64", "65+"][(x >> 44) as usize % 3];
        csv.push_str(&format!(
            "{},{},{a:.9},{b:.9},{sex},{age},site_{:02}\n",
            i + 1,
            x & 1,
            (x >> 50) % 12
        ));
    }
    let scores = vec!["score".to_string(), "score_b".to_string()];
    let groups = vec![
        "sex".to_string(),
        "age_band".to_string(),
        "site".to_string(),
    ];
    let spec = EvalSpec {
        label: "label",
        scores: &scores,
        groups: &groups,
    };
    let mut best = f64::INFINITY;
    for _ in 0..10 {
        let t0 = Instant::now();
        let table = parse_eval_csv(csv.as_bytes(), Path::new("gen.csv"), &spec).unwrap();
        best = best.min(t0.elapsed().as_secs_f64());
        assert_eq!(table.labels.len(), rows);
        assert_eq!(table.groups[2].levels.len(), 12);
    }
    println!(
        "{} bytes, {rows} rows: best of 10 = {:.1} ms",
        csv.len(),
        best * 1e3
    );
}
