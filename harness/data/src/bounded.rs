//! Reading a whole file into memory under a size limit, in one read, so that its bytes can
//! be hashed and then parsed or decoded without opening the file again.

use std::io::Read;
use std::path::Path;

/// Why [`read_at_most`] returned no bytes.
#[derive(Debug, thiserror::Error)]
pub enum BoundedReadError {
    /// The file could not be opened or read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The file has more than the limit: `bytes` as its size said, or as read when it
    /// `grew` past the limit while it was read.
    #[error("{bytes} bytes, more than the limit")]
    TooLarge { bytes: u64, grew: bool },
}

/// The whole content of `path`, refusing a file larger than `max_bytes` before allocating for
/// it (and one that grows past it while it is read).
///
/// # Errors
///
/// [`BoundedReadError`].
pub fn read_at_most(path: &Path, max_bytes: u64) -> Result<Vec<u8>, BoundedReadError> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    if size > max_bytes {
        return Err(BoundedReadError::TooLarge {
            bytes: size,
            grew: false,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // `take` guards against a file that grows while it is read.
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(BoundedReadError::TooLarge {
            bytes: bytes.len() as u64,
            grew: true,
        });
    }
    Ok(bytes)
}
