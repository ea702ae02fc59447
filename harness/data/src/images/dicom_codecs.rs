//! Frames of encapsulated DICOM pixel data decoded here rather than through
//! `dicom-pixeldata`'s adapters, where those differ from what DICOM (and pydicom) define:
//!
//! - **JPEG** baseline, extended (8-bit) and lossless (2–16 bit) with `jpeg-decoder`, with no
//!   colour transform inside the decoder: the DICOM Photometric Interpretation says what the
//!   samples are (PS3.5 8.2.1). YBR_FULL(_422) is converted to RGB afterwards exactly as pydicom
//!   does; RGB is converted only where the stream itself says it holds YCbCr (a JFIF marker or
//!   an Adobe APP14 marker with transform 1), as libjpeg does. The adapter applies
//!   `jpeg-decoder`'s own guess, which turns an untransformed RGB stream into false colours.
//!   Grey JPEG of every precision (8- and 12-bit DCT, 2–16-bit lossless) goes through
//!   libjpeg-turbo 3 ([`decode_jpeg_grey`]): `jpeg-decoder` has no 12-bit DCT.
//! - **RLE Lossless** (PS3.5 Annex G) for every bit depth: the adapter refuses 32-bit samples.
//!
//! Frames are found in the pixel sequence by [`frame_bytes`] (one fragment per frame, or the
//! Basic Offset Table, or all fragments for a single frame).

/// The compressed bytes of frame `k` of a pixel sequence.
pub(super) fn frame_bytes(
    fragments: &[impl AsRef<[u8]>],
    offset_table: &[u32],
    frames: u32,
    k: u32,
) -> Result<Vec<u8>, String> {
    let k = k as usize;
    if frames == 1 {
        return Ok(fragments
            .iter()
            .flat_map(|f| f.as_ref().iter().copied())
            .collect());
    }
    if fragments.len() == frames as usize {
        return Ok(fragments[k].as_ref().to_vec());
    }
    if offset_table.len() != frames as usize {
        return Err(format!(
            "{} fragments for {frames} frames and no usable Basic Offset Table ({} entries)",
            fragments.len(),
            offset_table.len()
        ));
    }
    // Offsets count from the first fragment's item tag; each item is an 8-byte header + data.
    let (start, end) = (
        u64::from(offset_table[k]),
        offset_table.get(k + 1).map_or(u64::MAX, |&o| u64::from(o)),
    );
    let mut position = 0u64;
    let mut out = Vec::new();
    for f in fragments {
        if position >= start && position < end {
            out.extend_from_slice(f.as_ref());
        }
        position += 8 + f.as_ref().len() as u64;
    }
    if out.is_empty() {
        return Err(format!(
            "the Basic Offset Table points frame {k} at byte {start}, past the fragments"
        ));
    }
    Ok(out)
}

/// Markers of a JPEG stream that say whether its three components are YCbCr.
fn stream_says_ycbcr(jpeg: &[u8]) -> bool {
    let mut i = 2; // after SOI
    while i + 4 <= jpeg.len() && jpeg[i] == 0xFF {
        let marker = jpeg[i + 1];
        if marker == 0xDA {
            break; // start of scan: no more markers of interest
        }
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        let body = &jpeg[(i + 4).min(jpeg.len())..(i + 2 + len).min(jpeg.len())];
        if marker == 0xE0 && body.starts_with(b"JFIF\0") {
            return true;
        }
        if marker == 0xEE && body.starts_with(b"Adobe") && body.len() >= 12 {
            return body[11] == 1;
        }
        i += 2 + len;
    }
    false
}

/// What a JPEG frame decoded to: samples (interleaved) and whether they are still YCbCr.
pub(super) struct JpegFrame {
    pub samples: Vec<f64>,
    pub ycbcr: bool,
}

/// Decodes one colour JPEG frame of `rows` × `cols` × 3 without colour transform.
pub(super) fn decode_jpeg(
    jpeg: &[u8],
    rows: u32,
    cols: u32,
    photometric: &str,
) -> Result<JpegFrame, String> {
    let mut decoder = jpeg_decoder::Decoder::new(jpeg);
    // `RGB` interleaves the three components untouched (`None` does not interleave).
    decoder.set_color_transform(jpeg_decoder::ColorTransform::RGB);
    // The decoder is a third-party parser of untrusted bytes: a panic inside it is a decode
    // error of this file, not a crash of the run.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decoder.decode().map(|d| (d, decoder.info()))
    }))
    .map_err(|_| "the JPEG decoder failed on this stream (internal error)".to_string())?
    .map_err(|e| format!("JPEG: {e}"))?;
    let (data, info) = decoded;
    let info = info.ok_or("JPEG: no frame header")?;
    if u32::from(info.width) != cols || u32::from(info.height) != rows {
        return Err(format!(
            "JPEG frame is {}x{}, the DICOM header says {cols}x{rows}",
            info.width, info.height
        ));
    }
    let n = rows as usize * cols as usize * 3;
    if info.pixel_format != jpeg_decoder::PixelFormat::RGB24 {
        return Err(format!(
            "JPEG stream holds {:?} pixels; the DICOM header says 3 samples per pixel",
            info.pixel_format
        ));
    }
    let samples: Vec<f64> = data.iter().map(|&b| f64::from(b)).collect();
    if samples.len() != n {
        return Err(format!(
            "JPEG frame decoded to {} samples; {n} expected",
            samples.len()
        ));
    }
    let ycbcr = match photometric {
        "YBR_FULL" | "YBR_FULL_422" => true,
        _ => stream_says_ycbcr(jpeg),
    };
    Ok(JpegFrame { samples, ycbcr })
}

/// A TurboJPEG decompressor, destroyed on drop.
struct Turbo(turbojpeg_sys::tjhandle);

impl Drop for Turbo {
    fn drop(&mut self) {
        // SAFETY: the handle came from tj3Init, is not null, and is destroyed exactly once.
        unsafe { turbojpeg_sys::tj3Destroy(self.0) }
    }
}

impl Turbo {
    fn new() -> Result<Self, String> {
        // SAFETY: tj3Init has no preconditions; a null result is checked.
        let handle =
            unsafe { turbojpeg_sys::tj3Init(turbojpeg_sys::TJINIT_TJINIT_DECOMPRESS as i32) };
        if handle.is_null() {
            return Err("libjpeg-turbo could not create a decompressor".into());
        }
        Ok(Self(handle))
    }

    fn error(&self) -> String {
        // SAFETY: the handle is valid; tj3GetErrorStr returns a NUL-terminated string owned by
        // the library (valid until the next call on this handle), copied out at once.
        let text = unsafe { std::ffi::CStr::from_ptr(turbojpeg_sys::tj3GetErrorStr(self.0)) };
        format!("JPEG: {}", text.to_string_lossy().trim())
    }

    fn get(&self, param: turbojpeg_sys::TJPARAM) -> i32 {
        // SAFETY: the handle is valid; tj3Get reads one integer parameter.
        unsafe { turbojpeg_sys::tj3Get(self.0, param as i32) }
    }
}

/// Decodes one grey JPEG frame (baseline, extended 8/12-bit, lossless 2–16-bit) with
/// libjpeg-turbo to `rows × cols` samples.
pub(super) fn decode_jpeg_grey(jpeg: &[u8], rows: u32, cols: u32) -> Result<Vec<f64>, String> {
    let turbo = Turbo::new()?;
    // SAFETY: the pointer and length describe `jpeg`, which outlives the call.
    if unsafe { turbojpeg_sys::tj3DecompressHeader(turbo.0, jpeg.as_ptr(), jpeg.len() as _) } != 0 {
        return Err(turbo.error());
    }
    let (width, height) = (
        turbo.get(turbojpeg_sys::TJPARAM_TJPARAM_JPEGWIDTH),
        turbo.get(turbojpeg_sys::TJPARAM_TJPARAM_JPEGHEIGHT),
    );
    if i64::from(width) != i64::from(cols) || i64::from(height) != i64::from(rows) {
        return Err(format!(
            "JPEG frame is {width}x{height}, the DICOM header says {cols}x{rows}"
        ));
    }
    let n = rows as usize * cols as usize;
    match turbo.get(turbojpeg_sys::TJPARAM_TJPARAM_PRECISION) {
        2..=8 => decompress(&turbo, jpeg, n, turbojpeg_sys::tj3Decompress8),
        9..=12 => decompress(&turbo, jpeg, n, turbojpeg_sys::tj3Decompress12),
        13..=16 => decompress(&turbo, jpeg, n, turbojpeg_sys::tj3Decompress16),
        other => Err(format!("JPEG sample precision {other}")),
    }
}

/// A `tj3Decompress8/12/16` function: samples of type `T` (u8, i16, u16).
type Decompress<T> = unsafe extern "C" fn(
    turbojpeg_sys::tjhandle,
    *const u8,
    turbojpeg_sys::size_t,
    *mut T,
    std::ffi::c_int,
    std::ffi::c_int,
) -> std::ffi::c_int;

/// Runs one of TurboJPEG's decompress functions into `n` grey samples of its type.
fn decompress<T: Copy + Default + Into<f64>>(
    turbo: &Turbo,
    jpeg: &[u8],
    n: usize,
    function: Decompress<T>,
) -> Result<Vec<f64>, String> {
    let mut out = vec![T::default(); n];
    // SAFETY: the handle has read this stream's header, which says the image is rows × cols
    // (checked by the caller: n = rows × cols) at the precision `function` takes; the source
    // is `jpeg` (pointer and length); the destination holds n samples of T, one channel
    // (TJPF_GRAY), and pitch 0 means tightly packed rows, so n samples are written at most.
    let status = unsafe {
        function(
            turbo.0,
            jpeg.as_ptr(),
            jpeg.len() as _,
            out.as_mut_ptr(),
            0,
            turbojpeg_sys::TJPF_TJPF_GRAY,
        )
    };
    if status != 0 {
        return Err(turbo.error());
    }
    Ok(out.into_iter().map(Into::into).collect())
}

/// Decodes one RLE Lossless frame (PS3.5 Annex G) to interleaved samples of `bits_allocated`
/// (8, 16 or 32) bits, unsigned; the caller applies the pixel representation.
pub(super) fn decode_rle(
    frame: &[u8],
    rows: u32,
    cols: u32,
    samples_per_pixel: u16,
    bits_allocated: u16,
) -> Result<Vec<u64>, String> {
    if !matches!(bits_allocated, 8 | 16 | 32) {
        return Err(format!("RLE with {bits_allocated} bits allocated"));
    }
    let pixels = rows as usize * cols as usize;
    let bytes_per_sample = usize::from(bits_allocated / 8);
    let spp = usize::from(samples_per_pixel);
    let segments_expected = spp * bytes_per_sample;
    if frame.len() < 64 {
        return Err(format!(
            "RLE frame of {} bytes is shorter than its 64-byte header",
            frame.len()
        ));
    }
    let word = |i: usize| u32::from_le_bytes([frame[i], frame[i + 1], frame[i + 2], frame[i + 3]]);
    let segments = word(0) as usize;
    if segments != segments_expected {
        return Err(format!(
            "RLE frame has {segments} segments; {segments_expected} expected for \
             {samples_per_pixel} sample(s) of {bits_allocated} bits"
        ));
    }
    let offsets: Vec<usize> = (0..segments).map(|s| word(4 + 4 * s) as usize).collect();
    let mut out = vec![0u64; pixels * spp];
    for (s, &start) in offsets.iter().enumerate() {
        let end = offsets.get(s + 1).copied().unwrap_or(frame.len());
        if start < 64 || start > end || end > frame.len() {
            return Err(format!(
                "RLE segment {s} spans bytes {start}..{end} of a {}-byte frame",
                frame.len()
            ));
        }
        let bytes =
            unpack_bits(&frame[start..end], pixels).map_err(|e| format!("RLE segment {s}: {e}"))?;
        // Segment s holds byte (s % bytes_per_sample) of channel s / bytes_per_sample, the
        // most significant byte first.
        let (channel, byte) = (s / bytes_per_sample, s % bytes_per_sample);
        let shift = 8 * (bytes_per_sample - 1 - byte);
        for (p, &b) in bytes.iter().enumerate() {
            out[p * spp + channel] |= u64::from(b) << shift;
        }
    }
    Ok(out)
}

/// PackBits (PS3.5 G.3.1), exactly `len` bytes out; padding after them is ignored.
fn unpack_bits(src: &[u8], len: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(len);
    let mut i = 0;
    while out.len() < len && i < src.len() {
        let n = src[i] as i8;
        i += 1;
        match n {
            0..=127 => {
                let count = n as usize + 1;
                let run = src
                    .get(i..i + count)
                    .ok_or("a literal run goes past the segment's end")?;
                out.extend_from_slice(run);
                i += count;
            }
            -127..=-1 => {
                let b = *src
                    .get(i)
                    .ok_or("a repeat run goes past the segment's end")?;
                out.extend(std::iter::repeat_n(b, 1 + (-i32::from(n)) as usize));
                i += 1;
            }
            -128 => {}
        }
    }
    if out.len() < len {
        return Err(format!("decoded {} bytes; {len} expected", out.len()));
    }
    out.truncate(len);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packbits_literal_repeat_and_noop() {
        // literal "ab", repeat 'c' 3 times, no-op, literal "d"
        let src = [1, b'a', b'b', 0xFE, b'c', 0x80, 0, b'd'];
        assert_eq!(unpack_bits(&src, 6).unwrap(), b"abcccd");
        assert!(unpack_bits(&src, 7).is_err());
        assert!(unpack_bits(&[5, b'a'], 6).is_err());
    }

    #[test]
    fn rle_sixteen_bit_segments_are_most_significant_first() {
        // 1x2 image, 16-bit grey: values 0x0102, 0x0304.
        let mut frame = vec![0u8; 64];
        frame[0] = 2;
        let seg0 = [1u8, 0x01, 0x03];
        let seg1 = [1u8, 0x02, 0x04];
        frame[4] = 64;
        frame[8] = 64 + seg0.len() as u8;
        frame.extend_from_slice(&seg0);
        frame.extend_from_slice(&seg1);
        assert_eq!(
            decode_rle(&frame, 1, 2, 1, 16).unwrap(),
            vec![0x0102, 0x0304]
        );
        assert!(
            decode_rle(&frame, 1, 2, 1, 8).is_err(),
            "segment count checked"
        );
        assert!(
            decode_rle(&frame[..40], 1, 2, 1, 16).is_err(),
            "short header"
        );
    }

    #[test]
    fn frames_by_fragment_or_offset_table() {
        let frags = [vec![1u8, 2], vec![3u8], vec![4u8, 5, 6]];
        assert_eq!(
            frame_bytes(&frags, &[], 1, 0).unwrap(),
            vec![1, 2, 3, 4, 5, 6]
        );
        assert_eq!(frame_bytes(&frags, &[], 3, 1).unwrap(), vec![3]);
        // Two frames: fragments 0+1 (offset 0), fragment 2 (offset 8+2+8+1 = 19).
        assert_eq!(frame_bytes(&frags, &[0, 19], 2, 1).unwrap(), vec![4, 5, 6]);
        assert_eq!(frame_bytes(&frags, &[0, 19], 2, 0).unwrap(), vec![1, 2, 3]);
        assert!(frame_bytes(&frags, &[], 2, 0).is_err());
    }
}
