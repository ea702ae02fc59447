//! Running one candidate over a reference set on one backend: preprocess in
//! batches (as the suite declares), run, and turn raw outputs into one
//! probability per case. Any failure — load, inference, NaN/inf, a wrong
//! shape, a probability outside [0, 1] — is returned as a message naming the
//! candidate's problem, so the caller records the candidate as failed and goes
//! on with the others.

use harness_backends::{Backend, LoadOptions, OutputSpec, Preprocess, interpret, to_tensor};
use harness_data::images::Image;
use std::path::Path;

/// Probabilities for every image, in order.
pub fn predict(
    backend: &dyn Backend,
    model: &Path,
    options: &LoadOptions,
    preprocess: &Preprocess,
    output: &OutputSpec,
    images: &[Image],
    batch_size: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<f64>, String> {
    let mut loaded = backend.load(model, options).map_err(|e| e.to_string())?;
    let mut probs = Vec::with_capacity(images.len());
    for (i, chunk) in images.chunks(batch_size.max(1)).enumerate() {
        let first = i * batch_size.max(1);
        let batch = to_tensor(preprocess, chunk).map_err(|e| format!("cases {first}..{}: {e}", first + chunk.len()))?;
        let raw = loaded.run(&batch).map_err(|e| e.to_string())?;
        let p = interpret(output, &raw).map_err(|e| format!("cases {first}..{}: {e}", first + chunk.len()))?;
        if p.len() != chunk.len() {
            return Err(format!("the model returned {} probabilities for a batch of {}", p.len(), chunk.len()));
        }
        probs.extend(p);
        progress(chunk.len() as u64);
    }
    Ok(probs)
}
