//! Crash-safe file writes, the one implementation every crate uses: the bytes go to a
//! temporary file in the destination's folder, are flushed to disk, and the file is renamed
//! over the destination, so a reader (or a run killed half-way) never sees a half-written file.
//! The temporary file has a unique name, so concurrent writers never share one.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically with the permissions of an ordinary new file
/// (`rw-rw-rw-` less the umask), as a report or a bundle file should have.
///
/// # Errors
/// Creating, writing, syncing or renaming the temporary file; the temporary file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with_mode(path, bytes, 0o666)
}

/// As [`write_atomic`], but readable only by the owner (`rw-------`) from the moment the file
/// exists: for secret keys.
///
/// # Errors
/// As [`write_atomic`].
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with_mode(path, bytes, 0o600)
}

fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    // This process's own stdout or stderr (`--json /dev/stdout`, whatever it is redirected to:
    // a terminal, a pipe, a file the shell truncated or appends to) is written as the process
    // writes it, through the open stream, in order with what it prints; another open
    // descriptor, appended to.
    match open_descriptor(path) {
        Some(1) => return write_stream(&mut std::io::stdout().lock(), bytes),
        Some(2) => return write_stream(&mut std::io::stderr().lock(), bytes),
        Some(_) => {
            let mut f = std::fs::OpenOptions::new().append(true).open(path)?;
            return write_stream(&mut f, bytes);
        }
        None => {}
    }
    // A device or a pipe (a FIFO) is written into as it is: renaming a file over it would
    // replace it. A link is written through: the file it points to is replaced, atomically,
    // and the link stays.
    if let Ok(meta) = std::fs::metadata(path)
        && !meta.is_file()
        && !meta.is_dir()
    {
        let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
        return write_stream(&mut f, bytes);
    }
    let target = through_links(path)?;
    let path = target.as_path();
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if path.file_name().is_none() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{}: not a file path", path.display()),
        ));
    }
    let mut builder = tempfile::Builder::new();
    builder.prefix(".harness-").suffix(".tmp");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(mode));
    #[cfg(not(unix))]
    let _ = mode;
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn write_stream(w: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    w.write_all(bytes)?;
    w.flush()
}

/// The descriptor N when `path`, or a link on the way from it, is one of this process's open
/// descriptors (`/dev/stdout`, `/dev/stderr`, `/dev/fd/N`, `/proc/self/fd/N`).
fn open_descriptor(path: &Path) -> Option<u32> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        let text = p.to_str()?;
        let n = match text {
            "/dev/stdout" => Some(1),
            "/dev/stderr" => Some(2),
            _ => ["/dev/fd/", "/proc/self/fd/"]
                .iter()
                .find_map(|prefix| text.strip_prefix(prefix)?.parse().ok()),
        };
        if n.is_some() {
            return n;
        }
        let meta = std::fs::symlink_metadata(&p).ok()?;
        if !meta.file_type().is_symlink() {
            return None;
        }
        let to = std::fs::read_link(&p).ok()?;
        p = match p.parent() {
            Some(dir) if to.is_relative() => dir.join(to),
            _ => to,
        };
    }
    None
}

/// Where `path` leads once its symbolic links are followed (itself when it is none; the
/// missing file a dangling link names).
fn through_links(path: &Path) -> std::io::Result<std::path::PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(std::io::Error::other(format!(
        "{}: too many levels of symbolic links",
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from("a.txt")]);
        assert!(write_atomic(&dir.path().join("missing/a.txt"), b"x").is_err());
    }

    /// A link is written through (the file it points to replaced, the link kept, dangling or
    /// not), and a pipe is written into, not replaced by a file.
    #[cfg(unix)]
    #[test]
    fn links_are_written_through_and_pipes_into() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let (target, link) = (dir.path().join("target.json"), dir.path().join("link.json"));
        std::fs::write(&target, b"old").unwrap();
        symlink("target.json", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        let dangling = dir.path().join("dangling.json");
        symlink("sub/../made.json", &dangling).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        write_atomic(&dangling, b"made").unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("made.json")).unwrap(),
            b"made"
        );
        assert!(
            std::fs::symlink_metadata(&dangling)
                .unwrap()
                .file_type()
                .is_symlink()
        );

        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("SKIPPED the pipe: no mkfifo");
            return;
        }
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        write_atomic(&fifo, b"through the pipe").unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        assert!(!std::fs::metadata(&fifo).unwrap().is_file(), "still a pipe");
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_never_readable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key");
        write_private(&p, b"secret").unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let q = dir.path().join("report");
        write_atomic(&q, b"public").unwrap();
        let mode = std::fs::metadata(&q).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666 & !umask(), "{mode:o}");
    }

    #[cfg(unix)]
    fn umask() -> u32 {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("probe");
        std::fs::write(&p, b"").unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        0o666 & !mode
    }
}
