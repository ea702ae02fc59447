//! Decode throughput of image files, as `harness run` reads them (one read, one decode per
//! file), for ci/bench_dicom.py:
//!
//!     decode_files --threads N FILE...     # N = 0: every core (rayon's default pool)
//!
//! Prints one JSON line: files, seconds, images per second, threads, sum of all samples (so the
//! work cannot be optimised away and two runs can be compared).

use std::path::PathBuf;
use std::time::Instant;

use harness_data::images::{ReadLimits, decode_image, read_file};
use rayon::prelude::*;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut threads = 0usize;
    let mut files = Vec::new();
    while let Some(a) = args.next() {
        if a == "--threads" {
            threads = args
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| fail("--threads takes a number (0 = every core)"));
        } else {
            files.push(PathBuf::from(a));
        }
    }
    if files.is_empty() {
        fail("usage: decode_files [--threads N] FILE...");
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap_or_else(|e| fail(&e.to_string()));
    let limits = ReadLimits::default();
    let start = Instant::now();
    let sums: Result<Vec<f64>, String> = pool.install(|| {
        files
            .par_iter()
            .map(|f| {
                let bytes = read_file(f, &limits).map_err(|e| e.to_string())?;
                let image = decode_image(f, &bytes, &limits).map_err(|e| e.to_string())?;
                Ok(image.pixels.iter().map(|&v| f64::from(v)).sum())
            })
            .collect()
    });
    let seconds = start.elapsed().as_secs_f64();
    let sums = sums.unwrap_or_else(|e| fail(&e));
    println!(
        "{{\"files\": {}, \"seconds\": {seconds:.6}, \"images_per_s\": {:.3}, \"threads\": {}, \"checksum\": {}}}",
        files.len(),
        files.len() as f64 / seconds,
        pool.current_num_threads(),
        sums.iter().sum::<f64>()
    );
}

fn fail(message: &str) -> ! {
    eprintln!("decode_files: {message}");
    std::process::exit(2)
}
