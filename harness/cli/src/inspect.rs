//! `harness inspect FILE`: what the harness sees in an image file, and the decoded array as
//! NumPy for checking it against another decoder.

use anyhow::{Context, Result};
use clap::Args;
use harness_data::images::{ImageSource, ReadLimits, read_image, write_npy};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
#[command(
    about = "Show what the harness decodes from an image file (PNG, JPEG, DICOM, NumPy) and optionally save it as .npy",
    long_about = "Show what the harness decodes from one image file: its format, size, channels, value \
        range and, for DICOM, the photometric interpretation, bits, signedness, rescale slope and \
        intercept and the stored window. With --npy the decoded array is written as float32: \
        (rows, cols) for grey, (rows, cols, 3) for colour; DICOM values are after the Modality LUT \
        (rescale), before any VOI window or MONOCHROME1 inversion, so they can be compared with \
        pydicom's `apply_modality_lut(ds.pixel_array, ds)`.\n\n\
        A file the harness cannot decode gets a message naming the file and the reason, exit 2.",
    after_help = "Examples:\n  \
        harness inspect data/dicom-samples/ct.dcm\n  \
        harness inspect scan.dcm --npy scan.npy --json"
)]
pub struct InspectArgs {
    /// The image file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Write the decoded array here as a NumPy .npy file (float32).
    #[arg(long, value_name = "OUT.npy")]
    npy: Option<PathBuf>,
    /// Print the description as JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// What `inspect` reports.
#[derive(Serialize)]
struct Description {
    file: String,
    format: ImageSource,
    rows: u32,
    columns: u32,
    channels: u8,
    min: f32,
    max: f32,
    mean: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    dicom: Option<harness_data::images::DicomInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    npy: Option<String>,
}

pub fn run(args: InspectArgs) -> Result<ExitCode> {
    let image = read_image(&args.file, &ReadLimits::default())?;
    let (min, max) = image
        .pixels
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let mean = image.pixels.iter().map(|&v| f64::from(v)).sum::<f64>() / image.pixels.len() as f64;
    if let Some(out) = &args.npy {
        write_npy(out, &image).map_err(anyhow::Error::msg)?;
    }
    let d = Description {
        file: args.file.display().to_string(),
        format: image.source,
        rows: image.height,
        columns: image.width,
        channels: image.channels,
        min,
        max,
        mean,
        dicom: image.dicom.clone(),
        npy: args.npy.as_ref().map(|p| p.display().to_string()),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&d).context("serialising the description")?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = format!(
        "{}\n  format: {:?}\n  size: {} rows x {} columns, {} channel(s)\n  values: min {}, max {}, mean {:.4}\n",
        d.file, d.format, d.rows, d.columns, d.channels, d.min, d.max, d.mean
    );
    if let Some(info) = &d.dicom {
        text.push_str(&format!(
            "  DICOM: transfer syntax {}; {}, {} bits stored of {} allocated, {}; rescale slope {} intercept {} (applied); window {}\n",
            info.transfer_syntax,
            info.photometric_interpretation,
            info.bits_stored,
            info.bits_allocated,
            if info.signed { "signed" } else { "unsigned" },
            info.rescale_slope,
            info.rescale_intercept,
            info.window.map_or_else(
                || "none".to_string(),
                |w| format!(
                    "center {} width {} (recorded, not applied)",
                    w.center, w.width
                )
            ),
        ));
    }
    if let Some(p) = &d.npy {
        text.push_str(&format!("  written: {p} (float32)\n"));
    }
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
