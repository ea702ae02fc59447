//! Preprocessing declared as data: how decoded images become one input tensor.
//!
//! Steps, in this order, per image:
//! 0. orientation: with `exif_orientation = "apply"`, a PNG, JPEG or TIFF carrying an EXIF
//!    Orientation tag is turned upright as the tag says (as PIL's `ImageOps.exif_transpose`);
//!    by default the pixels are taken as stored, as PIL's `Image.open` and torchvision read
//!    them;
//! 1. intensity: the DICOM VOI window when one is declared *and* the image is
//!    DICOM ([`Image::windowed`], values in `[0, 1]`), otherwise `x * scale`;
//! 2. channels: grey is replicated to RGB/BGR, RGB becomes grey by ITU-R
//!    BT.601 luma `0.299 R + 0.587 G + 0.114 B` (as Pillow's `convert("L")`),
//!    RGB becomes BGR by swapping;
//! 3. resize to `size` (see [`ResizeFilter`]);
//! 4. `(x - mean[c]) / std[c]`;
//! 5. write in the declared [`Layout`].

use harness_data::images::{Image, ImageSource, Orientation, Window};
use serde::{Deserialize, Serialize};

use crate::{BackendError, Batch};

/// How a model wants its input built. Deserialise it from a model profile, e.g.
///
/// ```toml
/// size = [224, 224]
/// channels = 3
/// channel_order = "rgb"
/// scale = 0.00392156862745098   # 1/255
/// mean = [0.485, 0.456, 0.406]
/// std = [0.229, 0.224, 0.225]
/// layout = "nchw"
/// resize = "bilinear"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preprocess {
    /// Output size `[height, width]` in pixels.
    pub size: [u32; 2],
    /// Channels the model takes: 1 or 3.
    pub channels: u8,
    /// Channel meaning; must agree with `channels` (`gray` for 1, `rgb`/`bgr` for 3).
    pub channel_order: ChannelOrder,
    /// Multiplier applied to raw intensities (e.g. `1/255`) when no window applies.
    #[serde(default = "one")]
    pub scale: f32,
    /// Subtracted per channel after resizing: empty (0), one value, or one per channel.
    #[serde(default)]
    pub mean: Vec<f32>,
    /// Divisor per channel after subtracting `mean`: empty (1), one value, or one per channel.
    #[serde(default)]
    pub std: Vec<f32>,
    /// Tensor layout.
    #[serde(default)]
    pub layout: Layout,
    /// DICOM VOI window (applied to DICOM images only, instead of `scale`).
    #[serde(default)]
    pub window: Option<Window>,
    /// Resampling filter.
    #[serde(default)]
    pub resize: ResizeFilter,
    /// Whether images are turned upright as their EXIF Orientation tag says, first (left out
    /// of the suite's written form when `ignore`, the default).
    #[serde(default, skip_serializing_if = "ExifOrientation::is_ignore")]
    pub exif_orientation: ExifOrientation,
}

/// What a preprocessing does with a PNG's or JPEG's EXIF Orientation tag (a camera's or a
/// photo app's "rotate 90° to display", common in clinical photographs: dermatology, wounds,
/// eyes). Which one a model needs is how its training pipeline read the images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExifOrientation {
    /// The pixels as stored, the tag ignored: PIL's `Image.open`, torchvision's `read_image`
    /// and `decode_jpeg` by default, OpenCV's `imread` with `IMREAD_IGNORE_ORIENTATION`.
    #[default]
    Ignore,
    /// Turned upright as the tag says: PIL's `ImageOps.exif_transpose`, OpenCV's `imread`
    /// by default, torchvision's `decode_jpeg(..., apply_exif_orientation=True)`.
    Apply,
}

impl ExifOrientation {
    fn is_ignore(&self) -> bool {
        *self == ExifOrientation::Ignore
    }
}

fn one() -> f32 {
    1.0
}

/// What the model's channels mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelOrder {
    /// One grey channel.
    Gray,
    /// Red, green, blue.
    Rgb,
    /// Blue, green, red (OpenCV-trained models).
    Bgr,
}

/// Tensor memory layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Layout {
    /// `[N, C, H, W]` (PyTorch).
    #[default]
    #[serde(rename = "nchw", alias = "NCHW")]
    Nchw,
    /// `[N, H, W, C]` (TensorFlow/Keras).
    #[serde(rename = "nhwc", alias = "NHWC")]
    Nhwc,
}

/// Resampling filter, both with pixel centres at half-integer coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResizeFilter {
    /// Bilinear interpolation from the 2×2 neighbourhood of source coordinate
    /// `(dst + 0.5) * in / out - 0.5`, clamped to the image: OpenCV
    /// `INTER_LINEAR` and PyTorch `interpolate(mode="bilinear",
    /// align_corners=False, antialias=False)`. No antialiasing when shrinking.
    #[default]
    Bilinear,
    /// The source pixel `floor((dst + 0.5) * in / out)`: Pillow `NEAREST`
    /// and PyTorch `interpolate(mode="nearest-exact")`.
    Nearest,
}

impl Preprocess {
    /// Checks that the declaration is self-consistent.
    ///
    /// # Errors
    ///
    /// [`BackendError::Preprocess`] naming the field at fault.
    pub fn validate(&self) -> Result<(), BackendError> {
        let err = |m: String| Err(BackendError::Preprocess(m));
        if self.size[0] == 0 || self.size[1] == 0 {
            return err(format!(
                "size {:?}: height and width must be at least 1",
                self.size
            ));
        }
        let c = usize::from(self.channels);
        match (self.channels, self.channel_order) {
            (1, ChannelOrder::Gray) | (3, ChannelOrder::Rgb | ChannelOrder::Bgr) => {}
            (ch, order) => {
                return err(format!(
                    "channels = {ch} with channel_order = {order:?}; expected 1 with gray, or 3 with rgb or bgr"
                ));
            }
        }
        if !self.scale.is_finite() {
            return err(format!("scale {} is not finite", self.scale));
        }
        for (name, v) in [("mean", &self.mean), ("std", &self.std)] {
            if !(v.is_empty() || v.len() == 1 || v.len() == c) {
                return err(format!(
                    "{name} has {} values; expected 0, 1 or {c} (one per channel)",
                    v.len()
                ));
            }
            if let Some(x) = v.iter().find(|x| !x.is_finite()) {
                return err(format!("{name} value {x} is not finite"));
            }
        }
        if let Some(x) = self.std.iter().find(|&&x| x == 0.0) {
            return err(format!("std value {x} would divide by zero"));
        }
        if let Some(w) = self.window {
            w.check()
                .map_err(|e| BackendError::Preprocess(e.to_string()))?;
        }
        Ok(())
    }

    /// The shape of one preprocessed case, without the batch dimension: `[C, H, W]` for
    /// NCHW, `[H, W, C]` for NHWC.
    #[must_use]
    pub fn case_shape(&self) -> Vec<usize> {
        let (h, w, c) = (
            self.size[0] as usize,
            self.size[1] as usize,
            usize::from(self.channels),
        );
        match self.layout {
            Layout::Nchw => vec![c, h, w],
            Layout::Nhwc => vec![h, w, c],
        }
    }

    fn per_channel(values: &[f32], c: usize, default: f32) -> Vec<f32> {
        match values.len() {
            0 => vec![default; c],
            1 => vec![values[0]; c],
            _ => values.to_vec(),
        }
    }
}

/// Builds one input tensor from `images` as declared by `p` (steps in the module doc).
///
/// # Errors
///
/// [`BackendError::Preprocess`] for an invalid declaration, no images, an
/// image whose pixel count does not match its dimensions, or a non-finite result.
pub fn to_tensor(p: &Preprocess, images: &[Image]) -> Result<Batch, BackendError> {
    p.validate()?;
    if images.is_empty() {
        return Err(BackendError::Preprocess(
            "no images to put in the batch".into(),
        ));
    }
    let (h, w, c) = (
        p.size[0] as usize,
        p.size[1] as usize,
        usize::from(p.channels),
    );
    let per_image = h * w * c;
    let mean = Preprocess::per_channel(&p.mean, c, 0.0);
    let std = Preprocess::per_channel(&p.std, c, 1.0);
    // Filled in order, value by value: no zeroing of a buffer that is then overwritten.
    let mut data = Vec::with_capacity(images.len() * per_image);
    for (k, image) in images.iter().enumerate() {
        let err = |m: String| BackendError::Preprocess(format!("image {k}: {m}"));
        let expected = image.width as usize * image.height as usize * usize::from(image.channels);
        if image.pixels.len() != expected || !matches!(image.channels, 1 | 3) || expected == 0 {
            return Err(err(format!(
                "{} values for a {}x{}x{} image",
                image.pixels.len(),
                image.height,
                image.width,
                image.channels
            )));
        }
        let upright;
        let image = if p.exif_orientation == ExifOrientation::Apply
            && image.orientation != Orientation::NoTransforms
        {
            upright = oriented(image);
            &upright
        } else {
            image
        };
        // Steps 1-3 fused: the resize reads each source value it needs through `value`,
        // which applies the intensity transform and the channel conversion to that pixel
        // with the same f32 operations, in the same order, as transforming the whole image
        // first would. The values are identical; no full-size intermediate is made. A grey
        // image for a 3-channel model is resized once and replicated while normalising.
        let (ih, iw) = (image.height as usize, image.width as usize);
        let src = image.pixels.as_slice();
        let replicate = image.channels == 1 && c == 3;
        let (rc, order) = if replicate {
            (1, ChannelOrder::Gray)
        } else {
            (c, p.channel_order)
        };
        let resized = match p.window {
            Some(window) if image.source == ImageSource::Dicom => {
                window.check().map_err(|e| err(e.to_string()))?;
                let invert = image
                    .dicom
                    .as_ref()
                    .is_some_and(harness_data::DicomInfo::is_monochrome1);
                let f = move |x: f32| {
                    let y = window.apply(x);
                    if invert { 1.0 - y } else { y }
                };
                sample_resized(src, image.channels, order, f, ih, iw, rc, h, w, p.resize)
            }
            _ => {
                let scale = p.scale;
                sample_resized(
                    src,
                    image.channels,
                    order,
                    move |x: f32| x * scale,
                    ih,
                    iw,
                    rc,
                    h,
                    w,
                    p.resize,
                )
            }
        };
        // `resized` is HWC with `rc` channels; normalise into the requested layout, a plane
        // or a pixel at a time (no division by `c` per value: it cost more than the
        // arithmetic), then check that every value is finite.
        let plane = h * w;
        let value = |pixel: usize, ch: usize| resized[pixel * rc + if rc == 1 { 0 } else { ch }];
        let base = data.len();
        match p.layout {
            Layout::Nchw => {
                for ch in 0..c {
                    let (m, sd) = (mean[ch], std[ch]);
                    if rc == 1 {
                        data.extend(resized.iter().map(|&v| (v - m) / sd));
                    } else {
                        data.extend((0..plane).map(|pixel| (value(pixel, ch) - m) / sd));
                    }
                }
            }
            Layout::Nhwc => {
                for pixel in 0..plane {
                    data.extend((0..c).map(|ch| (value(pixel, ch) - mean[ch]) / std[ch]));
                }
            }
        }
        let out = &data[base..];
        debug_assert_eq!(out.len(), per_image);
        if !out.iter().all(|x| x.is_finite()) {
            // The first offending value in pixel, then channel, order.
            for pixel in 0..plane {
                for ch in 0..c {
                    let x = match p.layout {
                        Layout::Nhwc => out[pixel * c + ch],
                        Layout::Nchw => out[ch * plane + pixel],
                    };
                    if !x.is_finite() {
                        return Err(err(format!(
                            "value {x} at pixel {pixel} channel {ch} is not finite"
                        )));
                    }
                }
            }
        }
    }
    let mut shape = vec![images.len()];
    shape.extend(p.case_shape());
    Ok(Batch { shape, data })
}

/// `image` turned as its [`Image::orientation`] says (the EXIF transforms: flips, rotations by
/// quarter turns clockwise, and the two diagonal transposes), so that it shows upright.
fn oriented(image: &Image) -> Image {
    let (h, w, c) = (
        image.height as usize,
        image.width as usize,
        usize::from(image.channels),
    );
    // Where the pixel at (row, col) of the upright image is in the stored one.
    let swap = matches!(
        image.orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    );
    let (oh, ow) = if swap { (w, h) } else { (h, w) };
    let source = |r: usize, col: usize| -> (usize, usize) {
        match image.orientation {
            Orientation::NoTransforms => (r, col),
            Orientation::FlipHorizontal => (r, w - 1 - col),
            Orientation::Rotate180 => (h - 1 - r, w - 1 - col),
            Orientation::FlipVertical => (h - 1 - r, col),
            Orientation::Rotate90FlipH => (col, r),
            Orientation::Rotate90 => (h - 1 - col, r),
            Orientation::Rotate270FlipH => (h - 1 - col, w - 1 - r),
            Orientation::Rotate270 => (col, w - 1 - r),
        }
    };
    let mut pixels = Vec::with_capacity(image.pixels.len());
    for r in 0..oh {
        for col in 0..ow {
            let (sr, sc) = source(r, col);
            let at = (sr * w + sc) * c;
            pixels.extend_from_slice(&image.pixels[at..at + c]);
        }
    }
    Image {
        width: ow as u32,
        height: oh as u32,
        channels: image.channels,
        pixels,
        source: image.source,
        dicom: image.dicom.clone(),
        sample_bits: image.sample_bits,
        orientation: Orientation::NoTransforms,
    }
}

/// The model's `c` channels of source pixel `pix` (HWC, `from` channels), each through `f`:
/// grey is replicated, RGB becomes grey by BT.601 luma of the transformed values, RGB
/// becomes BGR by swapping.
#[inline]
fn converted<F: Fn(f32) -> f32>(
    src: &[f32],
    from: u8,
    to: ChannelOrder,
    f: &F,
    pix: usize,
    ch: usize,
) -> f32 {
    match (from, to) {
        (1, _) => f(src[pix]),
        (_, ChannelOrder::Gray) => {
            let px = &src[pix * 3..pix * 3 + 3];
            0.299 * f(px[0]) + 0.587 * f(px[1]) + 0.114 * f(px[2])
        }
        (_, ChannelOrder::Bgr) => f(src[pix * 3 + 2 - ch]),
        (_, ChannelOrder::Rgb) => f(src[pix * 3 + ch]),
    }
}

/// Source index and weight of the next index for one output coordinate.
fn bilinear_coord(dst: usize, in_len: usize, out_len: usize) -> (usize, usize, f32) {
    let s = ((dst as f64 + 0.5) * in_len as f64 / out_len as f64 - 0.5).max(0.0);
    let i0 = (s.floor() as usize).min(in_len - 1);
    let i1 = (i0 + 1).min(in_len - 1);
    let frac = if i1 == i0 {
        0.0
    } else {
        (s - i0 as f64) as f32
    };
    (i0, i1, frac)
}

fn nearest_coord(dst: usize, in_len: usize, out_len: usize) -> usize {
    (((dst as f64 + 0.5) * in_len as f64 / out_len as f64).floor() as usize).min(in_len - 1)
}

/// The converted image (see [`converted`]) resized to `oh` × `ow` × `c`, HWC. (A grey source
/// for a 3-channel model has three equal channels: [`to_tensor`] resizes it as one channel and
/// replicates it.)
#[allow(clippy::too_many_arguments)]
fn sample_resized<F: Fn(f32) -> f32>(
    src: &[f32],
    from: u8,
    to: ChannelOrder,
    f: F,
    ih: usize,
    iw: usize,
    c: usize,
    oh: usize,
    ow: usize,
    filter: ResizeFilter,
) -> Vec<f32> {
    if c == 1 && from == 1 && filter == ResizeFilter::Bilinear && !(ih == oh && iw == ow) {
        // The common case (grey images, grey or replicated-grey models), on row slices.
        let xs: Vec<(usize, usize, f32)> = (0..ow).map(|x| bilinear_coord(x, iw, ow)).collect();
        let mut out = Vec::with_capacity(oh * ow);
        for y in 0..oh {
            let (y0, y1, fy) = bilinear_coord(y, ih, oh);
            let (r0, r1) = (&src[y0 * iw..(y0 + 1) * iw], &src[y1 * iw..(y1 + 1) * iw]);
            out.extend(xs.iter().map(|&(x0, x1, fx)| {
                let top = f(r0[x0]) * (1.0 - fx) + f(r0[x1]) * fx;
                let bottom = f(r1[x0]) * (1.0 - fx) + f(r1[x1]) * fx;
                top * (1.0 - fy) + bottom * fy
            }));
        }
        return out;
    }
    let at = |y: usize, x: usize, ch: usize| converted(src, from, to, &f, y * iw + x, ch);
    let mut out = Vec::with_capacity(oh * ow * c);
    if ih == oh && iw == ow {
        for pix in 0..ih * iw {
            out.extend((0..c).map(|ch| converted(src, from, to, &f, pix, ch)));
        }
        return out;
    }
    match filter {
        ResizeFilter::Nearest => {
            let xs: Vec<usize> = (0..ow).map(|x| nearest_coord(x, iw, ow)).collect();
            for y in 0..oh {
                let sy = nearest_coord(y, ih, oh);
                for &sx in &xs {
                    out.extend((0..c).map(|ch| at(sy, sx, ch)));
                }
            }
        }
        ResizeFilter::Bilinear => {
            let xs: Vec<(usize, usize, f32)> = (0..ow).map(|x| bilinear_coord(x, iw, ow)).collect();
            for y in 0..oh {
                let (y0, y1, fy) = bilinear_coord(y, ih, oh);
                for &(x0, x1, fx) in &xs {
                    out.extend((0..c).map(|ch| {
                        let top = at(y0, x0, ch) * (1.0 - fx) + at(y0, x1, ch) * fx;
                        let bottom = at(y1, x0, ch) * (1.0 - fx) + at(y1, x1, ch) * fx;
                        top * (1.0 - fy) + bottom * fy
                    }));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_data::images::DicomInfo;

    fn gray(w: u32, h: u32, px: &[f32]) -> Image {
        Image::new(w, h, 1, px.to_vec(), ImageSource::Png).unwrap()
    }

    fn spec(h: u32, w: u32) -> Preprocess {
        Preprocess {
            size: [h, w],
            channels: 1,
            channel_order: ChannelOrder::Gray,
            scale: 1.0,
            mean: vec![],
            std: vec![],
            layout: Layout::Nchw,
            window: None,
            resize: ResizeFilter::Bilinear,
            exif_orientation: ExifOrientation::Ignore,
        }
    }

    fn assert_close(got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn bilinear_2x2_to_3x3_by_hand() {
        // Source rows 0,0.5,1 (clamped below 0 and above 1); same for columns.
        let b = to_tensor(&spec(3, 3), &[gray(2, 2, &[0.0, 10.0, 20.0, 30.0])]).unwrap();
        assert_eq!(b.shape, vec![1, 1, 3, 3]);
        assert_close(
            &b.data,
            &[0.0, 5.0, 10.0, 10.0, 15.0, 20.0, 20.0, 25.0, 30.0],
        );
    }

    #[test]
    fn bilinear_2x2_to_4x4_by_hand() {
        // Source coordinates -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
        let b = to_tensor(&spec(4, 4), &[gray(2, 2, &[0.0, 10.0, 20.0, 30.0])]).unwrap();
        let row = [0.0, 2.5, 7.5, 10.0];
        let want: Vec<f32> = [0.0, 5.0, 15.0, 20.0]
            .iter()
            .flat_map(|&r| row.iter().map(move |&c| r + c))
            .collect();
        assert_close(&b.data, &want);
    }

    #[test]
    fn bilinear_halving_averages_2x2_blocks() {
        let px: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let b = to_tensor(&spec(2, 2), &[gray(4, 4, &px)]).unwrap();
        // Block means: (0+1+4+5)/4 = 2.5, (2+3+6+7)/4 = 4.5, 10.5, 12.5.
        assert_close(&b.data, &[2.5, 4.5, 10.5, 12.5]);
    }

    #[test]
    fn nearest_3x3_to_2x2_picks_corners() {
        let mut p = spec(2, 2);
        p.resize = ResizeFilter::Nearest;
        let px: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let b = to_tensor(&p, &[gray(3, 3, &px)]).unwrap();
        // floor((d + 0.5) * 1.5) = 0, 2.
        assert_eq!(b.data, vec![1.0, 3.0, 7.0, 9.0]);
    }

    #[test]
    fn scale_then_normalise() {
        let mut p = spec(2, 1);
        p.scale = 0.5;
        p.mean = vec![1.0];
        p.std = vec![2.0];
        let b = to_tensor(&p, &[gray(1, 2, &[10.0, 4.0])]).unwrap();
        // (10 * 0.5 - 1) / 2 = 2, (4 * 0.5 - 1) / 2 = 0.5
        assert_eq!(b.data, vec![2.0, 0.5]);
    }

    fn rgb_2x1() -> Image {
        // Two pixels: (1, 2, 3) and (4, 5, 6).
        Image::new(
            2,
            1,
            3,
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            ImageSource::Png,
        )
        .unwrap()
    }

    fn rgb_spec(order: ChannelOrder, layout: Layout) -> Preprocess {
        Preprocess {
            channels: 3,
            channel_order: order,
            layout,
            mean: vec![0.0, 1.0, 2.0],
            std: vec![1.0, 1.0, 2.0],
            ..spec(1, 2)
        }
    }

    #[test]
    fn layouts_and_per_channel_normalisation() {
        let nhwc = to_tensor(&rgb_spec(ChannelOrder::Rgb, Layout::Nhwc), &[rgb_2x1()]).unwrap();
        assert_eq!(nhwc.shape, vec![1, 1, 2, 3]);
        // R - 0, G - 1, (B - 2) / 2
        assert_eq!(nhwc.data, vec![1.0, 1.0, 0.5, 4.0, 4.0, 2.0]);
        let nchw = to_tensor(&rgb_spec(ChannelOrder::Rgb, Layout::Nchw), &[rgb_2x1()]).unwrap();
        assert_eq!(nchw.shape, vec![1, 3, 1, 2]);
        assert_eq!(nchw.data, vec![1.0, 4.0, 1.0, 4.0, 0.5, 2.0]);
    }

    #[test]
    fn bgr_swaps_and_gray_replicates() {
        let bgr = to_tensor(&rgb_spec(ChannelOrder::Bgr, Layout::Nhwc), &[rgb_2x1()]).unwrap();
        // (3, 2, 1) and (6, 5, 4), then the same normalisation as above.
        assert_eq!(bgr.data, vec![3.0, 1.0, -0.5, 6.0, 4.0, 1.0]);
        let g = to_tensor(
            &rgb_spec(ChannelOrder::Rgb, Layout::Nhwc),
            &[gray(2, 1, &[7.0, 9.0])],
        )
        .unwrap();
        assert_eq!(g.data, vec![7.0, 6.0, 2.5, 9.0, 8.0, 3.5]);
    }

    #[test]
    fn gray_replicates_in_both_layouts_and_non_finite_values_are_named() {
        // A grey image resized as one channel and replicated: the same as an RGB image whose
        // three channels are that grey, in NCHW too.
        let px = [7.0, 9.0, 1.0, 4.0];
        let grey = gray(2, 2, &px);
        let rgb = Image::new(
            2,
            2,
            3,
            px.iter().flat_map(|&v| [v, v, v]).collect(),
            ImageSource::Png,
        )
        .unwrap();
        for layout in [Layout::Nchw, Layout::Nhwc] {
            let mut p = rgb_spec(ChannelOrder::Rgb, layout);
            p.size = [3, 3];
            let a = to_tensor(&p, std::slice::from_ref(&grey)).unwrap();
            let b = to_tensor(&p, std::slice::from_ref(&rgb)).unwrap();
            assert_eq!(a.data, b.data, "{layout:?}");
        }
        // A scale that overflows f32 at the second pixel: named by pixel and channel.
        let mut p = rgb_spec(ChannelOrder::Rgb, Layout::Nchw);
        p.scale = f32::MAX / 8.0;
        let e = to_tensor(&p, &[gray(2, 1, &[1.0, 9.0])]).unwrap_err();
        assert!(
            e.to_string()
                .contains("value inf at pixel 1 channel 0 is not finite"),
            "{e}"
        );
    }

    /// Every EXIF orientation turns the image as the `image` crate's own
    /// `DynamicImage::apply_orientation` does (an independent implementation: rotations and
    /// flips of its buffers), and only with `exif_orientation = "apply"`.
    #[test]
    fn exif_orientation_turns_the_image_upright_only_when_asked() {
        use image::{DynamicImage, Rgb32FImage};
        let (w, h) = (3u32, 2u32);
        let stored: Vec<f32> = (0..w * h * 3).map(|v| v as f32).collect();
        for code in 1..=8u8 {
            let orientation = Orientation::from_exif(code).unwrap();
            let mut img = Image::new(w, h, 3, stored.clone(), ImageSource::Jpeg).unwrap();
            img.orientation = orientation;
            let mut reference =
                DynamicImage::ImageRgb32F(Rgb32FImage::from_raw(w, h, stored.clone()).unwrap());
            reference.apply_orientation(orientation);
            let (rw, rh) = (reference.width(), reference.height());
            let mut p = rgb_spec(ChannelOrder::Rgb, Layout::Nhwc);
            p.mean = vec![];
            p.std = vec![];
            p.size = [rh, rw];
            p.exif_orientation = ExifOrientation::Apply;
            let upright = to_tensor(&p, std::slice::from_ref(&img)).unwrap();
            assert_eq!(
                upright.shape,
                vec![1, rh as usize, rw as usize, 3],
                "EXIF {code}"
            );
            assert_eq!(
                upright.data,
                reference.into_rgb32f().into_raw(),
                "EXIF {code} ({orientation:?})"
            );
            // Ignored by default: the pixels as stored (a turned image at the stored size).
            p.exif_orientation = ExifOrientation::Ignore;
            p.size = [h, w];
            assert_eq!(to_tensor(&p, &[img]).unwrap().data, stored, "EXIF {code}");
        }
        // The written suite leaves the default out; a suite reads "apply", "ignore" or
        // nothing (ignore), and refuses anything else.
        let mut p = spec(1, 1);
        assert!(!serde_json::to_string(&p).unwrap().contains("exif"));
        p.exif_orientation = ExifOrientation::Apply;
        assert!(
            serde_json::to_string(&p)
                .unwrap()
                .contains("\"exif_orientation\":\"apply\"")
        );
        let base = r#""size": [1, 1], "channels": 1, "channel_order": "gray""#;
        let read = |extra: &str| serde_json::from_str::<Preprocess>(&format!("{{{base}{extra}}}"));
        assert_eq!(read("").unwrap().exif_orientation, ExifOrientation::Ignore);
        for (text, want) in [
            ("ignore", ExifOrientation::Ignore),
            ("apply", ExifOrientation::Apply),
        ] {
            let got = read(&format!(r#", "exif_orientation": "{text}""#)).unwrap();
            assert_eq!(got.exif_orientation, want);
        }
        assert!(read(r#", "exif_orientation": "rotate""#).is_err());
        // A malformed image is refused, not turned (its pixels do not fill its size).
        let mut bad = Image::new(2, 1, 1, vec![1.0, 2.0], ImageSource::Jpeg).unwrap();
        bad.orientation = Orientation::Rotate90;
        bad.pixels.pop();
        let mut p = spec(2, 1);
        p.exif_orientation = ExifOrientation::Apply;
        assert!(to_tensor(&p, &[bad]).is_err());
    }

    #[test]
    fn rgb_to_gray_uses_bt601_luma() {
        let img = Image::new(1, 1, 3, vec![255.0, 0.0, 100.0], ImageSource::Jpeg).unwrap();
        let b = to_tensor(&spec(1, 1), &[img]).unwrap();
        assert_close(&b.data, &[0.299 * 255.0 + 0.114 * 100.0]);
    }

    fn dicom(photometric: &str, px: &[f32]) -> Image {
        let mut img = Image::new(px.len() as u32, 1, 1, px.to_vec(), ImageSource::Dicom).unwrap();
        img.dicom = Some(DicomInfo {
            rescale_slope: 1.0,
            rescale_intercept: -1024.0,
            window: None,
            photometric_interpretation: photometric.into(),
            bits_stored: 12,
            bits_allocated: 16,
            transfer_syntax: "1.2.840.10008.1.2.1".into(),
            signed: true,
            frames: 1,
            samples_per_pixel: 1,
            planar_configuration: 0,
        });
        img
    }

    #[test]
    fn window_applies_to_dicom_only_and_replaces_scale() {
        let mut p = spec(1, 3);
        p.scale = 100.0;
        // c = 40.5, w = 11: y = (x - 40) / 10 + 0.5 between 35 and 45.
        p.window = Some(Window {
            center: 40.5,
            width: 11.0,
        });
        let b = to_tensor(&p, &[dicom("MONOCHROME2", &[0.0, 40.0, 44.0])]).unwrap();
        assert_close(&b.data, &[0.0, 0.5, 0.9]);
        let inverted = to_tensor(&p, &[dicom("MONOCHROME1", &[0.0, 40.0, 44.0])]).unwrap();
        assert_close(&inverted.data, &[1.0, 0.5, 0.1]);
        let png = to_tensor(&p, &[gray(3, 1, &[0.0, 0.5, 1.0])]).unwrap();
        assert_close(&png.data, &[0.0, 50.0, 100.0]);
    }

    #[test]
    fn batch_of_several_images_in_order() {
        let b = to_tensor(
            &spec(1, 1),
            &[gray(1, 1, &[1.0]), gray(1, 1, &[2.0]), gray(1, 1, &[3.0])],
        )
        .unwrap();
        assert_eq!(b.shape, vec![3, 1, 1, 1]);
        assert_eq!(b.data, vec![1.0, 2.0, 3.0]);
        assert_eq!(b.len(), 3);
    }

    #[test]
    fn invalid_declarations_are_named() {
        let cases: Vec<(Preprocess, &str)> = vec![
            (
                Preprocess {
                    size: [0, 4],
                    ..spec(1, 1)
                },
                "size",
            ),
            (
                Preprocess {
                    channels: 3,
                    ..spec(1, 1)
                },
                "channel_order",
            ),
            (
                Preprocess {
                    std: vec![0.0],
                    ..spec(1, 1)
                },
                "divide by zero",
            ),
            (
                Preprocess {
                    mean: vec![0.0, 1.0],
                    ..spec(1, 1)
                },
                "mean has 2 values",
            ),
            (
                Preprocess {
                    scale: f32::NAN,
                    ..spec(1, 1)
                },
                "scale",
            ),
            (
                Preprocess {
                    window: Some(Window {
                        center: 0.0,
                        width: 0.0,
                    }),
                    ..spec(1, 1)
                },
                "width",
            ),
        ];
        for (p, needle) in cases {
            let err = to_tensor(&p, &[gray(1, 1, &[0.0])])
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
        assert!(to_tensor(&spec(1, 1), &[]).is_err());
    }

    #[test]
    fn deserialises_with_defaults_and_rejects_unknown_keys() {
        let p: Preprocess = serde_json::from_str(
            r#"{"size": [28, 28], "channels": 1, "channel_order": "gray", "scale": 0.5}"#,
        )
        .unwrap();
        assert_eq!(p.layout, Layout::Nchw);
        assert_eq!(p.resize, ResizeFilter::Bilinear);
        assert!(p.window.is_none() && p.mean.is_empty());
        let p: Preprocess = serde_json::from_str(
            r#"{"size": [2, 2], "channels": 3, "channel_order": "bgr", "layout": "NHWC", "resize": "nearest",
                "window": {"center": 40, "width": 400}}"#,
        )
        .unwrap();
        assert_eq!(
            (p.layout, p.resize, p.scale),
            (Layout::Nhwc, ResizeFilter::Nearest, 1.0)
        );
        let bad = serde_json::from_str::<Preprocess>(
            r#"{"size": [2, 2], "channels": 1, "channel_order": "gray", "sclae": 2}"#,
        );
        assert!(bad.unwrap_err().to_string().contains("sclae"));
    }
}
