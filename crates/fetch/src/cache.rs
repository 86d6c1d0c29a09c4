//! The resumable page cache: one append-only log per chain (`<key>.pages`). Each record is a
//! header line `page<TAB>N<TAB>LEN<TAB>ITEMS<TAB>CRC<TAB>NEXT` (ITEMS: the item count the
//! body validated with on arrival; CRC: the body's CRC-32 in hex; NEXT: the redacted next link
//! or `none`), the body exactly as the API sent it (LEN bytes), and an end line. A record counts
//! only when it is complete, so a run killed half way through a page fetches that page again;
//! the next run cuts the incomplete tail off before appending. Only validated bodies are
//! stored, so a resumed page is not parsed again: its CRC proves it is the body that validated
//! (a torn or corrupted record is fetched again). Appending to one file per chain instead of
//! creating files per page keeps the file system off the fetch's critical path (creating two
//! files per page halved throughput on this project's ext4). URLs are stored redacted; files
//! are 0600 in a 0700 folder.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{BufRead, BufReader, ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::FetchError;

/// What a record's header holds instead of a link on a chain's last page.
const NO_NEXT: &str = "none";
/// A record's last bytes: without them it was cut short and does not count.
const RECORD_END: &[u8] = b"\nend\n";
const TEMP_SUFFIX: &str = ".tmp";

/// One fetched page: a stretch of a chain's log file. [`PageRef::read`] gives its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRef {
    /// The chain's log file.
    pub path: PathBuf,
    /// Where the body starts.
    pub offset: u64,
    /// The body's length in bytes.
    pub len: u64,
}

impl PageRef {
    /// The page body, exactly as the API sent it.
    pub fn read(&self) -> std::io::Result<Vec<u8>> {
        let mut file = File::open(&self.path)?;
        file.seek(SeekFrom::Start(self.offset))?;
        let mut body = vec![0; usize::try_from(self.len).unwrap_or(usize::MAX)];
        file.read_exact(&mut body)?;
        Ok(body)
    }
}

/// A complete page found in a chain's log.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CachedPage {
    pub(crate) page: PageRef,
    /// Items on the page, as counted when it validated on arrival.
    pub(crate) items: usize,
    /// The body's CRC-32 when it was stored.
    checksum: u32,
    /// The redacted next URL, if any.
    pub(crate) next: Option<String>,
    /// Where the record ends: appending after this page starts here.
    pub(crate) end: u64,
}

impl CachedPage {
    /// True when the body on disk is still the one stored (its CRC-32 matches).
    pub(crate) fn is_intact(&self) -> bool {
        self.page
            .read()
            .is_ok_and(|body| crc32fast::hash(&body) == self.checksum)
    }
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

    fn log_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.pages"))
    }

    fn split_marker(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.split"))
    }

    /// The complete pages of chain `key`, in page order from 0 (stopping at the first gap or
    /// incomplete record).
    pub(crate) fn load_chain(&self, key: &str) -> Result<Vec<CachedPage>, FetchError> {
        let path = self.log_path(key);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(FetchError::Cache { path, source }),
        };
        let mut reader = BufReader::new(file);
        let mut pages = Vec::new();
        let mut at = 0u64;
        while let Some(page) = read_record(&mut reader, &path, at, pages.len() as u32) {
            at = page.end;
            pages.push(page);
        }
        Ok(pages)
    }

    /// Opens chain `key`'s log for appending after its first `keep` bytes (the end of the
    /// last page kept); whatever followed is cut off.
    pub(crate) fn chain_log(&self, key: &str, keep: u64) -> Result<ChainLog, FetchError> {
        let path = self.log_path(key);
        let opened = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .and_then(|file| {
                file.set_len(keep)?;
                Ok(file)
            });
        match opened {
            Ok(mut file) => match file.seek(SeekFrom::Start(keep)) {
                Ok(_) => Ok(ChainLog {
                    path,
                    file,
                    len: keep,
                }),
                Err(source) => Err(FetchError::Cache { path, source }),
            },
            Err(source) => Err(FetchError::Cache { path, source }),
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

/// Reads the record starting at `at`, if it is complete and is page `page`.
fn read_record(
    reader: &mut BufReader<File>,
    path: &Path,
    at: u64,
    page: u32,
) -> Option<CachedPage> {
    let mut header = Vec::new();
    let header_len = reader.read_until(b'\n', &mut header).ok()?;
    let header = std::str::from_utf8(header.strip_suffix(b"\n")?).ok()?;
    let mut fields = header.split('\t');
    let (Some("page"), Some(n), Some(len), Some(items), Some(checksum), Some(next), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return None;
    };
    if n.parse::<u32>().ok()? != page {
        return None;
    }
    let len: u64 = len.parse().ok()?;
    let items: usize = items.parse().ok()?;
    let checksum = u32::from_str_radix(checksum, 16).ok()?;
    let offset = at + header_len as u64;
    reader.seek_relative(i64::try_from(len).ok()?).ok()?;
    let mut end = [0u8; RECORD_END.len()];
    reader.read_exact(&mut end).ok()?;
    (end == RECORD_END).then(|| CachedPage {
        page: PageRef {
            path: path.to_owned(),
            offset,
            len,
        },
        items,
        checksum,
        next: (next != NO_NEXT).then(|| next.to_owned()),
        end: offset + len + RECORD_END.len() as u64,
    })
}

/// A chain's log, open for appending pages in order.
pub(crate) struct ChainLog {
    path: PathBuf,
    file: File,
    len: u64,
}

impl ChainLog {
    /// Appends page `page`: its validated body, the item count it validated with and the
    /// redacted next link. No fsync: the cache guards against interrupted runs, not power loss,
    /// and a sync per page would cap throughput.
    pub(crate) fn append(
        &mut self,
        page: u32,
        body: &[u8],
        items: usize,
        redacted_next: Option<&str>,
    ) -> Result<PageRef, FetchError> {
        // A link never holds a tab or newline (URLs escape them); one that did would not parse.
        let next = redacted_next
            .unwrap_or(NO_NEXT)
            .replace('\t', "%09")
            .replace('\n', "%0A");
        let header = format!(
            "page\t{page}\t{}\t{items}\t{:08x}\t{next}\n",
            body.len(),
            crc32fast::hash(body)
        );
        let mut record = Vec::with_capacity(header.len() + body.len() + RECORD_END.len());
        record.extend_from_slice(header.as_bytes());
        record.extend_from_slice(body);
        record.extend_from_slice(RECORD_END);
        self.file
            .write_all(&record)
            .map_err(|source| FetchError::Cache {
                path: self.path.clone(),
                source,
            })?;
        let offset = self.len + header.len() as u64;
        self.len += record.len() as u64;
        Ok(PageRef {
            path: self.path.clone(),
            offset,
            len: body.len() as u64,
        })
    }
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

    fn cache() -> (tempfile::TempDir, PageCache) {
        let dir = tempfile::tempdir().unwrap();
        let cache = PageCache::open(&dir.path().join("job")).unwrap();
        (dir, cache)
    }

    #[test]
    fn pages_round_trip_with_private_permissions() {
        let (dir, cache) = cache();
        let mut log = cache.chain_log("k", 0).unwrap();
        let first = log
            .append(0, b"{\"features\":[]}", 0, Some("http://h/?client_id=***"))
            .unwrap();
        let second = log.append(1, b"[1,\n2]", 2, None).unwrap();
        assert_eq!(first.read().unwrap(), b"{\"features\":[]}");
        assert_eq!(second.read().unwrap(), b"[1,\n2]");
        let pages = cache.load_chain("k").unwrap();
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[0].page, first);
        assert_eq!(pages[0].next.as_deref(), Some("http://h/?client_id=***"));
        assert_eq!(pages[1].page, second);
        assert_eq!(pages[1].next, None);
        let folder = dir.path().join("job");
        assert_eq!(
            fs::metadata(&folder).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let log_mode = fs::metadata(&first.path).unwrap().permissions().mode();
        assert_eq!(log_mode & 0o777, 0o600);
        assert!(cache.load_chain("other").unwrap().is_empty());
    }

    #[test]
    fn an_incomplete_record_does_not_count_and_is_cut_off_before_appending() {
        let (_dir, cache) = cache();
        let mut log = cache.chain_log("k", 0).unwrap();
        log.append(0, b"first", 1, None).unwrap();
        log.append(1, b"second", 1, None).unwrap();
        let path = cache.log_path("k");
        // Kill in the middle of the second record: its end line is missing.
        let full = fs::read(&path).unwrap();
        fs::write(&path, &full[..full.len() - 3]).unwrap();
        let pages = cache.load_chain("k").unwrap();
        assert_eq!(pages.len(), 1);
        let mut log = cache.chain_log("k", pages[0].end).unwrap();
        let again = log.append(1, b"SECOND", 1, None).unwrap();
        let pages = cache.load_chain("k").unwrap();
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[1].page, again);
        assert_eq!(again.read().unwrap(), b"SECOND");
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            pages[1].end,
            "no stale bytes after the last record"
        );
    }

    #[test]
    fn a_stored_page_keeps_its_item_count_and_a_changed_byte_is_detected() {
        let (_dir, cache) = cache();
        let mut log = cache.chain_log("k", 0).unwrap();
        log.append(0, b"{\"data\":[1,2,3]}", 3, None).unwrap();
        log.append(1, b"{\"data\":[4]}", 1, None).unwrap();
        let pages = cache.load_chain("k").unwrap();
        assert_eq!(pages.iter().map(|p| p.items).collect::<Vec<_>>(), [3, 1]);
        assert!(pages.iter().all(CachedPage::is_intact));
        // Same length, one byte flipped: the record is complete but not the body stored.
        let path = cache.log_path("k");
        let mut bytes = fs::read(&path).unwrap();
        let at = usize::try_from(pages[1].page.offset).unwrap() + 9;
        bytes[at] = b'5';
        fs::write(&path, &bytes).unwrap();
        let pages = cache.load_chain("k").unwrap();
        assert_eq!(pages.len(), 2);
        assert!(pages[0].is_intact());
        assert!(!pages[1].is_intact());
    }

    #[test]
    fn temporary_files_of_a_killed_run_go() {
        let (dir, cache) = cache();
        cache.mark_split("k").unwrap();
        let temp = dir
            .path()
            .join("job")
            .join(format!("k.split.1{TEMP_SUFFIX}"));
        fs::write(&temp, b"x").unwrap();
        let cache = PageCache::open(&dir.path().join("job")).unwrap();
        assert!(!temp.exists());
        assert!(cache.is_split("k"));
    }

    #[test]
    fn remove_cache_tolerates_a_missing_folder() {
        let dir = tempfile::tempdir().unwrap();
        remove_cache(&dir.path().join("nothing")).unwrap();
        let (dir, cache) = cache();
        cache.chain_log("k", 0).unwrap();
        remove_cache(&dir.path().join("job")).unwrap();
        assert!(!dir.path().join("job").exists());
    }
}
