//! File output that never leaves a half-written file behind.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Writes `bytes` to `path` through a temporary file in the same folder and an atomic rename:
/// on any error the destination is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_all_atomic(&[(path, bytes)])
}

/// Writes several files as [`write_atomic`] does, every one completely written to its
/// temporary file before any is renamed into place: an error while writing leaves every
/// destination untouched.
pub fn write_all_atomic(files: &[(&Path, &[u8])]) -> Result<()> {
    let mut written = Vec::with_capacity(files.len());
    for &(path, bytes) in files {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| {
            format!(
                "cannot write {}: cannot create a file in {}",
                path.display(),
                dir.display()
            )
        })?;
        tmp.write_all(bytes)
            .and_then(|()| tmp.as_file().sync_all())
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push((tmp, path));
    }
    for (tmp, path) in written {
        tmp.persist(path)
            .map_err(|e| e.error)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
