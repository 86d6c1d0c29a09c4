//! `manifest.json`: written last into the export folder; its presence marks a folder as an
//! mly-export output (the only kind [`crate::ExportDir`] will ever replace).

use std::io::Write;
use std::path::Path;

use crate::WriteError;

/// The manifest's file name inside an export folder.
pub(crate) const MANIFEST_FILE: &str = "manifest.json";

/// Writes `manifest` pretty-printed, with a trailing newline, to `<dir>/manifest.json`.
pub(crate) fn write_manifest(dir: &Path, manifest: &serde_json::Value) -> Result<(), WriteError> {
    let path = dir.join(MANIFEST_FILE);
    let mut bytes = serde_json::to_vec_pretty(manifest).map_err(|source| WriteError::Manifest {
        path: path.clone(),
        source,
    })?;
    bytes.push(b'\n');
    std::fs::File::create(&path)
        .and_then(|mut file| file.write_all(&bytes))
        .map_err(|source| WriteError::Io { path, source })
}

/// The manifest of the export `<out>/<name>` a previous run committed, or `None` when there is
/// none (no folder, or no `manifest.json` in it).
pub fn read_previous_manifest(
    out: &Path,
    name: &str,
) -> Result<Option<serde_json::Value>, WriteError> {
    let path = out.join(name).join(MANIFEST_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(WriteError::Io { path, source }),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| WriteError::Manifest { path, source })
}
