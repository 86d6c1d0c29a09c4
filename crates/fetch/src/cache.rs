//! The resumable page cache. A page is two small files written in place, each with a single
//! create: its body (`<key>.<page>.json`, exactly the bytes the API sent, so the transform reads
//! it as it is) and then its commit marker (`<key>.<page>.next`: the redacted next link or
//! `none`, then an end line). A page counts only once its marker is complete, so a page killed
//! half way is fetched again. No temporary file and no rename: a page costs two file creations.
//! URLs are stored redacted; files are 0600 in a 0700 folder.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::FetchError;

/// What the marker of a chain's last page holds instead of a link.
const NO_NEXT: &str = "none";
/// The marker's last line: a marker without it was cut short and does not count.
const MARKER_END: &str = "\nend\n";
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

    /// Page `page` of chain `key`, when its body and its complete marker are stored.
    pub(crate) fn load(&self, key: &str, page: u32) -> Result<Option<CachedPage>, FetchError> {
        let marker_path = self.file(key, page, "next");
        let marker = match fs::read_to_string(&marker_path) {
            Ok(marker) => marker,
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::InvalidData) => {
                return Ok(None);
            }
            Err(source) => {
                return Err(FetchError::Cache {
                    path: marker_path,
                    source,
                });
            }
        };
        let Some(next) = marker.strip_suffix(MARKER_END) else {
            return Ok(None);
        };
        let path = self.file(key, page, "json");
        if !path.is_file() {
            return Ok(None);
        }
        Ok(Some(CachedPage {
            path,
            next: (next != NO_NEXT).then(|| next.to_owned()),
        }))
    }

    /// Where page `page` of chain `key` is (or will be) stored.
    pub(crate) fn page_path(&self, key: &str, page: u32) -> PathBuf {
        self.file(key, page, "json")
    }

    /// Stores a page body, then its marker (the redacted next link): the marker commits it.
    pub(crate) fn store(
        &self,
        key: &str,
        page: u32,
        body: &[u8],
        redacted_next: Option<&str>,
    ) -> Result<PathBuf, FetchError> {
        let path = self.file(key, page, "json");
        write_private(&path, body)?;
        let next = redacted_next.unwrap_or(NO_NEXT);
        // A link never holds a newline (URLs escape it); one that did would not round-trip.
        let marker = format!("{}{MARKER_END}", next.replace('\n', "%0A"));
        write_private(&self.file(key, page, "next"), marker.as_bytes())?;
        Ok(path)
    }

    /// Forgets a stored page (its body no longer validates): it will be fetched again.
    pub(crate) fn discard(&self, key: &str, page: u32) -> Result<(), FetchError> {
        let marker = self.file(key, page, "next");
        match fs::remove_file(&marker) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(FetchError::Cache {
                path: marker,
                source: e,
            }),
            _ => Ok(()),
        }
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

/// Writes `bytes` to `path` (created 0600, or truncated) in place. Readers only trust it once a
/// marker written after it says so. No fsync: the cache guards against interrupted runs, not
/// power loss, and a sync per page would cap throughput.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), FetchError> {
    // A new file rather than a truncated one: ext4 flushes a file truncated and rewritten when
    // it is closed (auto_da_alloc), which costs milliseconds per page.
    let create = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
    };
    let file = match create() {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            fs::remove_file(path).and_then(|()| create())
        }
        other => other,
    };
    file.and_then(|mut file| file.write_all(bytes))
        .map_err(|source| FetchError::Cache {
            path: path.to_owned(),
            source,
        })
}

/// Writes a 0600 temporary file beside `path` and renames it into place.
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
        // The body file holds exactly the body.
        assert_eq!(fs::read(&path).unwrap(), b"{}");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert!(
            fs::read_dir(&dir)
                .unwrap()
                .all(|e| mode(&e.unwrap().path()) == 0o600)
        );
        assert!(!cache.is_split("k"));
        cache.mark_split("k").unwrap();
        assert!(cache.is_split("k"));
        // Two files per page, no temporary file left behind.
        let names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 5, "{names:?}");
        assert!(names.iter().all(|n| !n.ends_with(TEMP_SUFFIX)));
    }

    #[test]
    fn a_page_without_its_complete_marker_does_not_count_and_temp_files_go() {
        let root = tempfile::tempdir().unwrap();
        let cache = PageCache::open(root.path()).unwrap();
        // Killed after the body, before the marker.
        write_private(&cache.file("k", 0, "json"), b"{}").unwrap();
        assert_eq!(cache.load("k", 0).unwrap(), None);
        // Killed while writing the marker: a cut marker does not count either.
        write_private(&cache.file("k", 0, "next"), b"http://h/?page=").unwrap();
        assert_eq!(cache.load("k", 0).unwrap(), None);
        // Fetched again: the rewrite commits it.
        cache.store("k", 0, b"{}", None).unwrap();
        assert_eq!(cache.load("k", 0).unwrap().unwrap().next, None);
        cache.discard("k", 0).unwrap();
        assert_eq!(cache.load("k", 0).unwrap(), None);
        cache.discard("k", 0).unwrap();
        let temp = root.path().join("k.split.0123.tmp");
        fs::write(&temp, b"half").unwrap();
        PageCache::open(root.path()).unwrap();
        assert!(!temp.exists());
    }

    #[test]
    fn a_shorter_rewrite_leaves_no_stale_bytes() {
        let root = tempfile::tempdir().unwrap();
        let cache = PageCache::open(root.path()).unwrap();
        cache
            .store("k", 0, b"{\"long\": true}", Some("http://h/?a=1&b=2"))
            .unwrap();
        let path = cache.store("k", 0, b"{}", Some("http://h/")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"{}");
        assert_eq!(
            cache.load("k", 0).unwrap().unwrap().next.as_deref(),
            Some("http://h/")
        );
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
