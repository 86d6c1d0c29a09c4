//! The resumable page cache: one file per page, written to a temporary name and renamed into
//! place, so a page exists completely or not at all. URLs are stored redacted.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::FetchError;

/// What the `.next` file of a chain's last page holds.
const NO_NEXT: &str = "none";
const TEMP_SUFFIX: &str = ".tmp";

/// A page found in the cache.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CachedPage {
    pub(crate) path: PathBuf,
    /// The redacted next URL, if any.
    pub(crate) next: Option<String>,
}

/// The cache folder of one job.
#[derive(Debug, Clone)]
pub(crate) struct PageCache {
    dir: PathBuf,
}

impl PageCache {
    /// Opens (creating, 0700) the folder and drops temporary files an interrupted run left.
    pub(crate) fn open(dir: &Path) -> Result<PageCache, FetchError> {
        let err = |source| FetchError::Cache {
            path: dir.to_owned(),
            source,
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(err)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(err)?;
        for entry in fs::read_dir(dir).map_err(err)? {
            let path = entry.map_err(err)?.path();
            if path.to_string_lossy().ends_with(TEMP_SUFFIX) {
                fs::remove_file(&path).map_err(|source| FetchError::Cache { path, source })?;
            }
        }
        Ok(PageCache {
            dir: dir.to_owned(),
        })
    }

    fn file(&self, key: &str, page: u32, extension: &str) -> PathBuf {
        self.dir.join(format!("{key}.{page}.{extension}"))
    }

    fn split_marker(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.split"))
    }

    /// Page `page` of chain `key`, when both its body and its next link are stored.
    pub(crate) fn load(&self, key: &str, page: u32) -> Result<Option<CachedPage>, FetchError> {
        let next_path = self.file(key, page, "next");
        let next = match fs::read_to_string(&next_path) {
            Ok(next) => next,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(FetchError::Cache {
                    path: next_path,
                    source,
                });
            }
        };
        let path = self.file(key, page, "json");
        if !path.is_file() {
            return Ok(None);
        }
        Ok(Some(CachedPage {
            path,
            next: (next != NO_NEXT).then_some(next),
        }))
    }

    /// Stores a page body, then its redacted next link: the link file is the commit marker.
    pub(crate) fn store(
        &self,
        key: &str,
        page: u32,
        body: &[u8],
        redacted_next: Option<&str>,
    ) -> Result<PathBuf, FetchError> {
        let path = self.file(key, page, "json");
        write_atomically(&path, body)?;
        let next = redacted_next.unwrap_or(NO_NEXT);
        write_atomically(&self.file(key, page, "next"), next.as_bytes())?;
        Ok(path)
    }

    /// True when chain `key` was split into quadrants on an earlier run.
    pub(crate) fn is_split(&self, key: &str) -> bool {
        self.split_marker(key).is_file()
    }

    /// Records that chain `key` was split.
    pub(crate) fn mark_split(&self, key: &str) -> Result<(), FetchError> {
        write_atomically(&self.split_marker(key), b"split")
    }
}

/// Writes a 0600 temporary file beside `path` and renames it into place. No fsync: the cache
/// guards against interrupted runs, not power loss, and a sync per page would cap throughput.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), FetchError> {
    let temp = PathBuf::from(format!(
        "{}.{:016x}{TEMP_SUFFIX}",
        path.display(),
        rand::random::<u64>()
    ));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .and_then(|mut file| file.write_all(bytes))
        .and_then(|()| fs::rename(&temp, path));
    written.map_err(|source| {
        // Best effort: the temporary file is removed on the next open anyway.
        let _ = fs::remove_file(&temp);
        FetchError::Cache {
            path: path.to_owned(),
            source,
        }
    })
}

/// Deletes a job's page cache (a missing folder is fine).
pub fn remove_cache(cache_dir: &Path) -> Result<(), FetchError> {
    match fs::remove_dir_all(cache_dir) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(FetchError::Cache {
            path: cache_dir.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_round_trip_with_private_permissions() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("job");
        let cache = PageCache::open(&dir).unwrap();
        assert_eq!(cache.load("k", 0).unwrap(), None);
        let path = cache
            .store("k", 0, b"{}", Some("http://h/?client_id=***"))
            .unwrap();
        cache.store("k", 1, b"[]", None).unwrap();
        assert_eq!(
            cache.load("k", 0).unwrap(),
            Some(CachedPage {
                path: path.clone(),
                next: Some("http://h/?client_id=***".into())
            })
        );
        assert_eq!(cache.load("k", 1).unwrap().unwrap().next, None);
        assert_eq!(fs::read(&path).unwrap(), b"{}");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&path), 0o600);
        assert!(!cache.is_split("k"));
        cache.mark_split("k").unwrap();
        assert!(cache.is_split("k"));
        // No temporary file is left behind.
        let names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 5, "{names:?}");
        assert!(names.iter().all(|n| !n.ends_with(TEMP_SUFFIX)));
    }

    #[test]
    fn a_body_without_its_next_file_does_not_count_and_temp_files_go() {
        let root = tempfile::tempdir().unwrap();
        let cache = PageCache::open(root.path()).unwrap();
        write_atomically(&cache.file("k", 0, "json"), b"{}").unwrap();
        assert_eq!(cache.load("k", 0).unwrap(), None);
        let temp = root.path().join("k.0.json.0123.tmp");
        fs::write(&temp, b"half").unwrap();
        PageCache::open(root.path()).unwrap();
        assert!(!temp.exists());
    }

    #[test]
    fn remove_cache_tolerates_a_missing_folder() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("job");
        remove_cache(&dir).unwrap();
        PageCache::open(&dir)
            .unwrap()
            .store("k", 0, b"{}", None)
            .unwrap();
        remove_cache(&dir).unwrap();
        assert!(!dir.exists());
    }
}
