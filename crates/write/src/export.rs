//! The export folder: everything is written into `<out>/.<name>.partial-<pid>-<nanos>/` and
//! replaces `<out>/<name>/` in one atomic exchange once complete, so readers see the old export or
//! the new one, never a mix.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use model::{Format, Resource};

use rustix::fs::{CWD, RenameFlags, renameat_with};
use rustix::io::Errno;

use crate::formats::gpkg::{GeoPackage, GpkgSink};
use crate::formats::open_sink;
use crate::manifest::{MANIFEST_FILE, write_manifest};
use crate::sink::{FeatureSink, WriteOptions};
use crate::{LayerSummary, LayerWriter, WriteError};

/// A folder being filled with one export, to be committed as `<out>/<name>`.
///
/// Dropping it without [`ExportDir::commit`] deletes the temporary folder and leaves any
/// previous export untouched. Nothing else in `out` is ever deleted: only this tool's own
/// `.<name>.partial-*` and `.<name>.old-*` folders left behind by killed runs.
#[derive(Debug)]
pub struct ExportDir {
    out: PathBuf,
    name: String,
    temp: PathBuf,
    /// `<name>.gpkg`, shared by the layers that write it; created by the first.
    geopackage: Mutex<Option<Arc<GeoPackage>>>,
    /// Set once `temp` no longer holds this export's files.
    done: bool,
}

impl ExportDir {
    /// Checks `name` (1-64 characters of `A-Z a-z 0-9 _ -`), creates `out` if missing, refuses
    /// an existing `<out>/<name>` that is not a previous export (a symlink, a file, a folder
    /// without `manifest.json`), cleans up what killed runs left, and creates the temporary
    /// folder.
    pub fn create(out: &Path, name: &str) -> Result<ExportDir, WriteError> {
        let valid = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(WriteError::BadName {
                name: name.to_owned(),
            });
        }
        fs::create_dir_all(out).map_err(|source| io_error(out, source))?;
        recover_leftovers(out, name)?;
        let target = out.join(name);
        ensure_replaceable(&target)?;
        let temp = out.join(format!(".{name}.partial-{}", unique_suffix()));
        fs::create_dir(&temp).map_err(|source| io_error(&temp, source))?;
        Ok(ExportDir {
            out: out.to_owned(),
            name: name.to_owned(),
            temp,
            geopackage: Mutex::new(None),
            done: false,
        })
    }

    /// Starts writing `resource`'s layer in every format into this folder, like
    /// [`LayerWriter::new`], except that every layer's GeoPackage table goes into the one
    /// `<name>.gpkg` of the export. Finish every layer before [`ExportDir::commit`].
    pub fn layer_writer(
        &self,
        resource: Resource,
        formats: &[Format],
        options: &WriteOptions,
    ) -> Result<LayerWriter, WriteError> {
        LayerWriter::start(&self.temp, resource, formats, |format| match format {
            Format::GeoPackage => {
                let sink: Box<dyn FeatureSink> =
                    Box::new(GpkgSink::new(self.geopackage()?, resource));
                Ok(sink)
            }
            other => open_sink(other, &self.temp, resource, options),
        })
    }

    /// Re-reads the size of every file the finished `layers` list: a file several layers share
    /// (the GeoPackage) went on growing after the first of them finished. Call it once every
    /// layer is finished, before the manifest is made.
    pub fn update_sizes(&self, layers: &mut [LayerSummary]) -> Result<(), WriteError> {
        let outputs = layers.iter_mut().flat_map(|layer| layer.outputs.iter_mut());
        for (name, bytes) in outputs.flat_map(|output| output.files.iter_mut()) {
            let path = self.temp.join(&*name);
            *bytes = fs::metadata(&path)
                .map_err(|source| io_error(&path, source))?
                .len();
        }
        Ok(())
    }

    /// The export's GeoPackage, created on first use.
    fn geopackage(&self) -> Result<Arc<GeoPackage>, WriteError> {
        let mut slot = self
            .geopackage
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(file) = slot.as_ref() {
            return Ok(Arc::clone(file));
        }
        let file = GeoPackage::create(&self.temp, &self.name)?;
        *slot = Some(Arc::clone(&file));
        Ok(file)
    }

    /// The temporary folder to write the export's files into.
    pub fn path(&self) -> &Path {
        &self.temp
    }

    /// Closes the GeoPackage (an unfinished layer is an error), writes `manifest.json`, makes
    /// every file durable, and puts the folder in place of
    /// `<out>/<name>` (atomically exchanged with a previous export, which is then deleted).
    /// Returns `<out>/<name>`.
    pub fn commit(mut self, manifest: &serde_json::Value) -> Result<PathBuf, WriteError> {
        let geopackage = self
            .geopackage
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(file) = geopackage.take() {
            file.close()?;
        }
        write_manifest(&self.temp, manifest)?;
        sync_tree(&self.temp)?;
        let target = self.out.join(&self.name);
        let previous_exists = match fs::symlink_metadata(&target) {
            Ok(_) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(source) => return Err(io_error(&target, source)),
        };
        if previous_exists {
            // Checked again: the folder may have changed since `create`.
            ensure_replaceable(&target)?;
            self.replace(&target)?;
        } else {
            fs::rename(&self.temp, &target).map_err(|source| io_error(&target, source))?;
            self.done = true;
        }
        sync_dir(&self.out)?;
        Ok(target)
    }

    /// Swaps the finished folder with the previous export and deletes the previous one.
    fn replace(&mut self, target: &Path) -> Result<(), WriteError> {
        match renameat_with(CWD, self.temp.as_path(), CWD, target, RenameFlags::EXCHANGE) {
            Ok(()) => {
                // `temp` now holds the previous export.
                self.done = true;
                remove_quietly(&self.temp);
                Ok(())
            }
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
                // No RENAME_EXCHANGE on this file system: move the old export aside, move the
                // new one in. A run killed in between is repaired by the next `create`.
                let aside = self
                    .out
                    .join(format!(".{}.old-{}", self.name, unique_suffix()));
                fs::rename(target, &aside).map_err(|source| io_error(target, source))?;
                if let Err(source) = fs::rename(&self.temp, target) {
                    // Best effort: if this fails too, the next `create` moves it back.
                    let _ = fs::rename(&aside, target);
                    return Err(io_error(target, source));
                }
                self.done = true;
                remove_quietly(&aside);
                Ok(())
            }
            Err(errno) => Err(io_error(target, errno.into())),
        }
    }
}

impl Drop for ExportDir {
    fn drop(&mut self) {
        if !self.done {
            remove_quietly(&self.temp);
        }
    }
}

fn io_error(path: &Path, source: io::Error) -> WriteError {
    WriteError::Io {
        path: path.to_owned(),
        source,
    }
}

/// `<pid>-<nanoseconds since the epoch>`: unique per process and moment.
fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

/// Refuses to replace anything but a real folder holding a `manifest.json`.
fn ensure_replaceable(target: &Path) -> Result<(), WriteError> {
    let metadata = match fs::symlink_metadata(target) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(io_error(target, source)),
    };
    let is_export = metadata.is_dir()
        && fs::symlink_metadata(target.join(MANIFEST_FILE)).is_ok_and(|m| m.is_file());
    if is_export {
        Ok(())
    } else {
        Err(WriteError::NotAnExport {
            path: target.to_owned(),
        })
    }
}

/// Cleans up after killed runs of `name`: deletes `.<name>.partial-*` folders and puts back (or
/// deletes) `.<name>.old-*` folders, skipping those of processes still running.
fn recover_leftovers(out: &Path, name: &str) -> Result<(), WriteError> {
    let partial = format!(".{name}.partial-");
    let old = format!(".{name}.old-");
    let entries = fs::read_dir(out).map_err(|source| io_error(out, source))?;
    for entry in entries {
        let entry = entry.map_err(|source| io_error(out, source))?;
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let (suffix, is_old) = if let Some(s) = file_name.strip_prefix(&partial) {
            (s, false)
        } else if let Some(s) = file_name.strip_prefix(&old) {
            (s, true)
        } else {
            continue;
        };
        let path = entry.path();
        let is_dir = fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
        if !is_dir || owner_is_running(suffix) {
            continue;
        }
        let target = out.join(name);
        if is_old && fs::symlink_metadata(&target).is_err() {
            // Killed between moving the old export aside and moving the new one in.
            fs::rename(&path, &target).map_err(|source| io_error(&target, source))?;
        } else {
            fs::remove_dir_all(&path).map_err(|source| io_error(&path, source))?;
        }
    }
    Ok(())
}

/// True when the `<pid>-<nanos>` suffix names a process that still exists (Linux `/proc`).
fn owner_is_running(suffix: &str) -> bool {
    let Some(pid) = suffix
        .split('-')
        .next()
        .and_then(|pid| pid.parse::<u32>().ok())
    else {
        return false;
    };
    Path::new("/proc").join(pid.to_string()).exists()
}

/// fsyncs every file under `dir`, then the folders themselves.
fn sync_tree(dir: &Path) -> Result<(), WriteError> {
    let entries = fs::read_dir(dir).map_err(|source| io_error(dir, source))?;
    for entry in entries {
        let path = entry.map_err(|source| io_error(dir, source))?.path();
        let metadata = fs::symlink_metadata(&path).map_err(|source| io_error(&path, source))?;
        if metadata.is_dir() {
            sync_tree(&path)?;
        } else if metadata.is_file() {
            fs::File::open(&path)
                .and_then(|file| file.sync_all())
                .map_err(|source| io_error(&path, source))?;
        }
    }
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), WriteError> {
    fs::File::open(dir)
        .and_then(|file| file.sync_all())
        .map_err(|source| io_error(dir, source))
}

/// Deletes a folder of ours whose loss is harmless (the next `create` retries).
fn remove_quietly(path: &Path) {
    if let Err(error) = fs::remove_dir_all(path) {
        tracing::warn!(path = %path.display(), %error, "could not delete a temporary folder");
    }
}
