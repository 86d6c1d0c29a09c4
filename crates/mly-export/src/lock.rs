//! One run per job and output folder at a time: an exclusive OS lock (`flock`) on
//! `<out>/.mly-cache/<job>.lock`, taken before the run touches the export or the page cache.
//!
//! The kernel releases the lock when its file is closed, so it goes with the process however
//! the process ends (normal exit, error, Ctrl+C, `kill -9`, a crash): a file left behind by a
//! killed run holds no lock and the next run takes it at once. The file outlives the job's
//! cache folder (which a completed run deletes) and is never deleted: removing it while another
//! run waits on it would let a third run lock a new file beside the waiting one. It holds the
//! holder's process id, only for the message of a run that finds it held.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

/// A held job lock; dropping it releases the lock.
#[derive(Debug)]
pub struct JobLock {
    // Held for its open file description: closing it releases the flock.
    _file: File,
}

/// Another process holds the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The lock file.
    pub path: PathBuf,
    /// The holder's process id, as it wrote it (unknown while it is still writing it).
    pub pid: Option<u32>,
}

/// `<out>/.mly-cache/<job>.lock`.
pub fn lock_path(out: &Path, job: &str) -> PathBuf {
    out.join(".mly-cache").join(format!("{job}.lock"))
}

/// Takes the lock of `job` in `out` if no other process holds it (creating the file, 0600 in
/// a 0700 folder, as the page cache), and writes this process's id into it.
pub fn try_lock(out: &Path, job: &str) -> io::Result<Result<JobLock, Held>> {
    let path = lock_path(out, job);
    if let Some(dir) = path.parent() {
        DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => {
            let mut text = String::new();
            // A holder that is still writing its id leaves it unknown: only for the message.
            let _ = file.read_to_string(&mut text);
            let pid = text.trim().parse().ok();
            return Ok(Err(Held { path, pid }));
        }
        Err(e) => return Err(e.into()),
    }
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    writeln!(file, "{}", std::process::id())?;
    Ok(Ok(JobLock { _file: file }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_job_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let first = try_lock(dir.path(), "demo").unwrap().unwrap();
        // flock locks belong to the open file: a second open in this process conflicts too.
        let held = try_lock(dir.path(), "demo").unwrap().unwrap_err();
        assert_eq!(held.path, dir.path().join(".mly-cache/demo.lock"));
        assert_eq!(held.pid, Some(std::process::id()));
        assert!(try_lock(dir.path(), "other").unwrap().is_ok());
        drop(first);
        assert!(try_lock(dir.path(), "demo").unwrap().is_ok());
    }
}
