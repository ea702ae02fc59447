//! The TIFF reader (`harness_data::images`: the page walk over the chain of image directories,
//! the header rewrite that points the decoder at a later page, and the `image` and `tiff`
//! crates' decoding with every codec: LZW, Deflate, PackBits, JPEG, CCITT): arbitrary bytes as a
//! `.tif` file, read as one image, as its second page and as its middle page. It must return an
//! image or an error naming the file, never panic or loop; sizes are capped so that a header
//! claiming a huge image is refused before anything is allocated.
#![no_main]

use std::path::Path;

use harness_data::images::{FrameSelect, ReadLimits, decode_image_frame, tiff_pages};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.tif");
    let limits = ReadLimits {
        max_width: 2048,
        max_height: 2048,
        max_bytes: 64 << 20,
    };
    let pages = tiff_pages(path, data);
    if let Err(e) = &pages {
        assert!(
            e.to_string().contains("fuzz.tif"),
            "error names the file: {e}"
        );
    }
    for select in [
        FrameSelect::Only,
        FrameSelect::Middle,
        FrameSelect::Index(1),
    ] {
        harness_fuzz::check_image(&decode_image_frame(path, data, &limits, select), "fuzz.tif");
    }
});
