//! Parse speed of a generated 200,000-row, 7-column table (~9 MB).
//! Run: `cargo bench -p harness-data`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use harness_data::{EvalSpec, parse_eval_csv};
use std::hint::black_box;
use std::path::Path;

fn parse(c: &mut Criterion) {
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
    let mut g = c.benchmark_group("parse_eval_csv");
    g.sample_size(20);
    g.throughput(Throughput::Bytes(csv.len() as u64));
    g.bench_function("200k rows, 2 scores, 3 groups", |b| {
        b.iter(|| parse_eval_csv(black_box(csv.as_bytes()), Path::new("gen.csv"), &spec).unwrap())
    });
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
