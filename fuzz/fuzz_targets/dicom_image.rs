//! The DICOM reader (`harness_data::images`: parsing, native unpacking, the JPEG, JPEG-LS,
//! JPEG 2000 and RLE frame codecs, colour conversion, palettes, frames): arbitrary bytes as a
//! `.dcm` file, read as one image, as every frame, and as the middle frame. It must return an
//! image or an error naming the file, never panic; sizes are capped so that a header claiming a
//! huge image is refused before anything is allocated.
#![no_main]

use std::path::Path;

use harness_data::images::{FrameSelect, ReadLimits, decode_dicom_frames, decode_image_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.dcm");
    let limits = ReadLimits {
        max_width: 2048,
        max_height: 2048,
        max_bytes: 64 << 20,
    };
    for select in [
        FrameSelect::Only,
        FrameSelect::Middle,
        FrameSelect::Index(1),
    ] {
        harness_fuzz::check_image(&decode_image_frame(path, data, &limits, select), "fuzz.dcm");
    }
    if let Ok(frames) = decode_dicom_frames(path, data, &limits, FrameSelect::All) {
        let n = frames.rows as usize * frames.columns as usize * usize::from(frames.channels);
        assert_eq!(
            frames.frames.len() as u32,
            frames.info.frames,
            "every frame decoded"
        );
        assert!(
            frames.frames.iter().all(|(_, v)| v.len() == n),
            "every frame complete"
        );
    }
});
