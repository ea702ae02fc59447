//! The dataset registry reader (`harness_data::registry::Registry::parse`, `datasets.toml`).
#![no_main]

use std::path::Path;

use harness_data::registry::{Registry, RegistryError};
use harness_fuzz::{check_contained, check_line_col};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The harness reads the file with read_to_string: non-UTF-8 bytes never get this far.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let root = Path::new("/fuzz-root");
    match Registry::parse(text, Path::new("datasets.toml"), root) {
        Ok(reg) => {
            for d in &reg.entries {
                check_contained(&d.entry.path);
                if let Some(labels) = &d.entry.labels {
                    check_contained(labels);
                }
                assert!(reg.location(d).starts_with(root));
                let pin = d.entry.pin();
                let want = if pin.algorithm() == "sha256" { 64 } else { 32 };
                assert!(
                    pin.hex().len() == want && pin.hex().bytes().all(|b| b.is_ascii_hexdigit()),
                    "bad pin {pin:?}"
                );
                assert_eq!(
                    reg.get(&d.name)
                        .expect("an entry is found by its name")
                        .line,
                    d.line
                );
                check_line_col(text, d.line, 1);
            }
            assert!(
                reg.get("no such dataset (fuzz)").is_err()
                    || reg
                        .entries
                        .iter()
                        .any(|d| d.name == "no such dataset (fuzz)")
            );
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with("datasets.toml"),
                "error does not name the file: {msg}"
            );
            if let RegistryError::Invalid { line, column, .. } = e {
                check_line_col(text, line, column);
            }
        }
    }
});
