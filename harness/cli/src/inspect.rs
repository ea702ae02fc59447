//! `harness inspect FILE`: what the harness sees in an image file, and the decoded array as
//! NumPy for checking it against another decoder.

use anyhow::{Context, Result};
use clap::Args;
use harness_data::images::{
    DicomInfo, FrameSelect, ImageSource, NpyData, Orientation, ReadLimits, SelectError, TiffPages,
    common_attributes, decode_dicom_frames, decode_image, decode_npz_split, is_dicom, is_tiff,
    read_file, write_npy_array,
};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
#[command(
    about = "Show what the harness decodes from an image file (PNG, JPEG, TIFF, DICOM, NumPy) and optionally save it as .npy",
    long_about = "Show what the harness decodes from one image file: its format, size, channels, frames, \
        value range and, for DICOM, the transfer syntax, photometric interpretation, bits, \
        signedness, planar configuration, rescale slope and intercept and the stored window.\n\n\
        With --npy the decoded array is written as a NumPy file: float32 (float64 for 32-bit DICOM \
        samples, which float32 would round), (rows, cols) for grey and (rows, cols, 3) for colour; \
        with --frame all the frames form a first axis. DICOM values are after the Modality LUT \
        (rescale), before any VOI window or MONOCHROME1 inversion; YBR colour is converted to RGB \
        and PALETTE COLOR goes through its LUT. They compare with pydicom's \
        `apply_modality_lut(ds.pixel_array, ds)` (or `apply_color_lut` for palette colour).\n\n\
        Frames count from 0; the default is frame 0, with a note when the file has more. A \
        multi-page TIFF's pages are its frames (reduced-resolution copies such as a thumbnail \
        are not pages), as a dataset's `frames` setting counts them.\n\n\
        A file the harness cannot decode (not an image, truncated, malformed, an unsupported \
        kind) gets a message naming the file and the reason, exit 2.",
    after_help = "Examples:\n  \
        harness inspect data/dicom-samples/ct.dcm\n  \
        harness inspect cine.dcm --frame middle --npy middle.npy\n  \
        harness inspect cine.dcm --frame all --npy frames.npy --json\n  \
        harness inspect pneumoniamnist.npz --split test --frame 17"
)]
pub struct InspectArgs {
    /// The image file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Write the decoded array here as a NumPy .npy file.
    #[arg(long, value_name = "OUT.npy")]
    npy: Option<PathBuf>,
    /// Which frame of a multi-frame file: its index (from 0), `middle`, or `all`. For a
    /// multi-page TIFF, its pages; for a MedMNIST-style .npz archive, the images of the split.
    #[arg(long, value_name = "N|middle|all", default_value = "0", value_parser = parse_frame)]
    frame: FrameSelect,
    /// The split of a MedMNIST-style .npz archive to read (`<split>_images`).
    #[arg(long, value_name = "train|val|test", default_value = "test")]
    split: String,
    /// Print the description as JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn parse_frame(s: &str) -> Result<FrameSelect, String> {
    match s {
        "all" => Ok(FrameSelect::All),
        "middle" => Ok(FrameSelect::Middle),
        n => n.parse::<u32>().map(FrameSelect::Index).map_err(|_| {
            format!("'{n}' is not a frame: give an index counted from 0, `middle` or `all`")
        }),
    }
}

/// What `inspect` reports.
#[derive(Serialize)]
struct Description {
    file: String,
    format: ImageSource,
    rows: u32,
    columns: u32,
    channels: u8,
    /// Bits per sample of a PNG, JPEG or TIFF (8 or 16): what a preprocessing `scale` multiplies.
    #[serde(skip_serializing_if = "Option::is_none")]
    bits_per_sample: Option<u8>,
    /// The EXIF Orientation tag's value (2-8) where the file says to turn the image for
    /// display; not applied to the values.
    #[serde(skip_serializing_if = "Option::is_none")]
    exif_orientation: Option<u8>,
    /// Frames in the file.
    frames: u32,
    /// The frames decoded, counted from 0.
    decoded_frames: Vec<u32>,
    min: f64,
    max: f64,
    mean: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    dicom: Option<DicomInfo>,
    /// Header attributes a dataset could declare as `dicom_subgroups` (shown, never stored).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subgroup_attributes: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    npy: Option<String>,
    /// `float32` or `float64`.
    #[serde(skip_serializing_if = "Option::is_none")]
    npy_dtype: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
}

/// The decoded frames of any input, in one layout.
struct Decoded {
    format: ImageSource,
    rows: u32,
    columns: u32,
    channels: u8,
    sample_bits: Option<u8>,
    total_frames: u32,
    frames: Vec<(u32, Vec<f64>)>,
    dicom: Option<DicomInfo>,
    /// What the file's Orientation tag says (PNG, JPEG: EXIF; TIFF: its own).
    orientation: Orientation,
}

fn decode(args: &InspectArgs) -> Result<Decoded> {
    let limits = ReadLimits::default();
    let bytes = read_file(&args.file, &limits)?;
    if is_dicom(&args.file, &bytes) {
        let d = decode_dicom_frames(&args.file, &bytes, &limits, args.frame)?;
        return Ok(Decoded {
            format: ImageSource::Dicom,
            rows: d.rows,
            columns: d.columns,
            channels: d.channels,
            sample_bits: None,
            total_frames: d.info.frames,
            frames: d.frames,
            dicom: Some(d.info),
            orientation: Orientation::NoTransforms,
        });
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return decode_npz(args, &bytes, &limits);
    }
    if is_tiff(&bytes) {
        return decode_tiff_pages(args, &bytes, &limits);
    }
    // One frame: frame 0 (`--frame all` and `middle` name it too).
    args.frame
        .indices(1)
        .map_err(|e| anyhow::anyhow!("{}: {}", args.file.display(), e.reason("frame")))?;
    let image = decode_image(&args.file, &bytes, &limits)?;
    Ok(Decoded {
        format: image.source,
        rows: image.height,
        columns: image.width,
        channels: image.channels,
        sample_bits: image.sample_bits,
        total_frames: 1,
        frames: vec![(0, image.pixels.iter().map(|&v| f64::from(v)).collect())],
        dicom: image.dicom,
        orientation: image.orientation,
    })
}

/// A TIFF: its pages are the frames (each decoded as a run decodes it, which pages of
/// another size than the first cannot join with --frame all).
fn decode_tiff_pages(args: &InspectArgs, bytes: &[u8], limits: &ReadLimits) -> Result<Decoded> {
    let tiff = TiffPages::read(&args.file, bytes)?;
    let n = tiff.count();
    let wanted = tiff.select(args.frame)?;
    let mut frames = Vec::with_capacity(wanted.len());
    let mut first = None;
    for k in wanted {
        let image = tiff.decode(k, limits)?;
        let shape = (image.height, image.width, image.channels);
        let (rows, columns, channels, ..) = *first.get_or_insert((
            shape.0,
            shape.1,
            shape.2,
            image.sample_bits,
            image.orientation,
        ));
        if shape != (rows, columns, channels) {
            anyhow::bail!(
                "{}: page {k} is {} x {} with {} channel(s), page {} is {rows} x {columns} with {channels}: --frame all joins pages of one size only (--frame N shows one)",
                args.file.display(),
                shape.0,
                shape.1,
                shape.2,
                frames.first().map_or(0, |(j, _)| *j)
            );
        }
        frames.push((k, image.pixels.iter().map(|&v| f64::from(v)).collect()));
    }
    let (rows, columns, channels, sample_bits, orientation) =
        first.unwrap_or((0, 0, 1, None, Orientation::NoTransforms));
    Ok(Decoded {
        format: ImageSource::Tiff,
        rows,
        columns,
        channels,
        sample_bits,
        total_frames: n,
        frames,
        dicom: None,
        orientation,
    })
}

/// A MedMNIST-style archive: the images of `--split` are the frames.
fn decode_npz(args: &InspectArgs, bytes: &[u8], limits: &ReadLimits) -> Result<Decoded> {
    let cases = decode_npz_split(&args.file, bytes, &args.split, limits)?;
    let n = cases.images.len();
    if n == 0 {
        anyhow::bail!(
            "{}: split '{}' holds no images",
            args.file.display(),
            args.split
        );
    }
    let wanted = args
        .frame
        .indices(u32::try_from(n).unwrap_or(u32::MAX))
        .map_err(|e| match e {
            SelectError::OutOfRange { index, .. } => anyhow::anyhow!(
                "{}: image {index} asked for, but split '{}' has {n} images, counted from 0",
                args.file.display(),
                args.split
            ),
            other => anyhow::anyhow!("{}: {}", args.file.display(), other.reason("image")),
        })?;
    let mut frames = Vec::with_capacity(wanted.len());
    let mut shape = (0, 0, 1);
    for i in wanted {
        let image = cases.images.image(i as usize)?;
        shape = (image.height, image.width, image.channels);
        frames.push((i, image.pixels.iter().map(|&v| f64::from(v)).collect()));
    }
    Ok(Decoded {
        format: ImageSource::Npy,
        rows: shape.0,
        columns: shape.1,
        channels: shape.2,
        sample_bits: None,
        total_frames: n as u32,
        frames,
        dicom: None,
        orientation: Orientation::NoTransforms,
    })
}

pub fn run(args: InspectArgs) -> Result<ExitCode> {
    let decoded = decode(&args)?;
    let values = || decoded.frames.iter().flat_map(|(_, v)| v.iter().copied());
    let (min, max) = values().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let count = decoded.frames.iter().map(|(_, v)| v.len()).sum::<usize>();
    let mean = values().sum::<f64>() / count.max(1) as f64;
    let mut notes = Vec::new();
    if decoded.total_frames > 1 && args.frame != FrameSelect::All {
        let what = if decoded.format == ImageSource::Dicom {
            format!("the file has {} frames", decoded.total_frames)
        } else if decoded.format == ImageSource::Tiff {
            format!("the file has {} pages", decoded.total_frames)
        } else {
            format!("split '{}' has {} images", args.split, decoded.total_frames)
        };
        notes.push(format!(
            "{what}; number {} was decoded (--frame N|middle|all for others)",
            decoded.frames[0].0
        ));
    }
    if decoded.orientation != Orientation::NoTransforms {
        notes.push(format!(
            "its {}Orientation tag ({}) says it is {}: the values are as stored, not turned, as PIL's Image.open reads them; a candidate's preprocess.exif_orientation = \"apply\" turns them upright",
            if decoded.format == ImageSource::Tiff {
                ""
            } else {
                "EXIF "
            },
            decoded.orientation.to_exif(),
            harness_data::images::turn_text(decoded.orientation)
        ));
    }
    let wide = decoded
        .dicom
        .as_ref()
        .is_some_and(|d| d.bits_allocated == 32);
    let npy_dtype = args
        .npy
        .as_ref()
        .map(|_| if wide { "float64" } else { "float32" });
    if let Some(out) = &args.npy {
        let mut shape = Vec::with_capacity(4);
        if args.frame == FrameSelect::All {
            shape.push(decoded.frames.len());
        }
        shape.extend([decoded.rows as usize, decoded.columns as usize]);
        if decoded.channels > 1 {
            shape.push(usize::from(decoded.channels));
        }
        let data = if wide {
            NpyData::F64(values().collect())
        } else {
            NpyData::F32(values().map(|v| v as f32).collect())
        };
        write_npy_array(out, &shape, data).map_err(anyhow::Error::msg)?;
    }
    let d = Description {
        file: args.file.display().to_string(),
        format: decoded.format,
        rows: decoded.rows,
        columns: decoded.columns,
        channels: decoded.channels,
        bits_per_sample: decoded.sample_bits,
        exif_orientation: (decoded.orientation != Orientation::NoTransforms)
            .then(|| decoded.orientation.to_exif()),
        frames: decoded.total_frames,
        decoded_frames: decoded.frames.iter().map(|(k, _)| *k).collect(),
        min,
        max,
        mean,
        subgroup_attributes: if decoded.dicom.is_some() {
            common_attributes(&args.file).unwrap_or_default()
        } else {
            Vec::new()
        },
        dicom: decoded.dicom.clone(),
        npy: args.npy.as_ref().map(|p| p.display().to_string()),
        npy_dtype,
        notes,
    };
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&d).context("serialising the description")?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = format!(
        "{}\n  format: {:?}{}\n  size: {} rows x {} columns, {} channel(s), {} frame(s); decoded: {}\n  values: min {}, max {}, mean {:.4}\n",
        d.file,
        d.format,
        d.bits_per_sample
            .map_or_else(String::new, |b| format!(", {b} bits per sample")),
        d.rows,
        d.columns,
        d.channels,
        d.frames,
        if d.decoded_frames.len() == d.frames as usize && d.frames > 1 {
            "all".to_string()
        } else {
            format!("frame {}", d.decoded_frames[0])
        },
        d.min,
        d.max,
        d.mean
    );
    if let Some(info) = &d.dicom {
        text.push_str(&format!(
            "  DICOM: transfer syntax {}; {}{}, {} bits stored of {} allocated, {}; rescale slope {} intercept {} (applied); window {}\n",
            info.transfer_syntax,
            info.photometric_interpretation,
            match info.photometric_interpretation.as_str() {
                "YBR_FULL" | "YBR_FULL_422" | "YBR_RCT" | "YBR_ICT" => " (decoded to RGB)",
                "PALETTE COLOR" => " (through its LUT to RGB)",
                _ => "",
            },
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
    if !d.subgroup_attributes.is_empty() {
        let listed: Vec<String> = d
            .subgroup_attributes
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        text.push_str(&format!(
            "  attributes usable as dicom_subgroups: {}\n",
            listed.join(", ")
        ));
    }
    if let Some(p) = &d.npy {
        text.push_str(&format!(
            "  written: {p} ({})\n",
            d.npy_dtype.unwrap_or("float32")
        ));
    }
    for note in &d.notes {
        text.push_str(&format!("  note: {note}\n"));
    }
    out!("{text}");
    Ok(ExitCode::SUCCESS)
}
