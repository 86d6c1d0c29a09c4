//! Resume bookkeeping of one chain: the pages an interrupted run stored are reused in order
//! until the first one missing or unusable; from there the chain goes to the network, and its
//! log keeps only the bytes of the pages reused. Pure.

use crate::cache::CachedPage;

/// Where a chain's walk stands against the pages stored for it.
pub(super) struct Resume {
    stored: std::vec::IntoIter<CachedPage>,
    /// The end of the last page reused: the log is cut here before appending.
    kept_until: u64,
}

impl Resume {
    /// A walk over the pages `load_chain` found (page order from 0).
    pub(super) fn new(stored: Vec<CachedPage>) -> Resume {
        Resume {
            stored: stored.into_iter(),
            kept_until: 0,
        }
    }

    /// The next stored page to try, while the walk is still on stored ground.
    pub(super) fn next_stored(&mut self) -> Option<CachedPage> {
        self.stored.next()
    }

    /// `page` (the last one [`Resume::next_stored`] gave) is reused: appending goes after it.
    pub(super) fn reused(&mut self, page: &CachedPage) {
        self.kept_until = page.end;
    }

    /// The walk leaves stored ground (a page is missing or unusable): nothing stored after
    /// it is trusted. Returns how many bytes of the log to keep.
    pub(super) fn leave(&mut self) -> u64 {
        self.stored = Vec::new().into_iter();
        self.kept_until
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::PageCache;

    /// Three stored pages of chain `k`.
    fn stored() -> (tempfile::TempDir, Vec<CachedPage>) {
        let dir = tempfile::tempdir().unwrap();
        let cache = PageCache::open(dir.path()).unwrap();
        let mut log = cache.chain_log("k", 0).unwrap();
        for page in 0..3 {
            log.append(page, b"{\"data\":[]}", 0, Some("http://h/?after=x"))
                .unwrap();
        }
        let pages = cache.load_chain("k").unwrap();
        assert_eq!(pages.len(), 3);
        (dir, pages)
    }

    #[test]
    fn a_walk_reuses_in_order_and_keeps_the_bytes_up_to_the_last_page_reused() {
        let (_dir, pages) = stored();
        let mut resume = Resume::new(pages.clone());
        let first = resume.next_stored().unwrap();
        assert_eq!(first, pages[0]);
        resume.reused(&first);
        let second = resume.next_stored().unwrap();
        assert_eq!(second, pages[1]);
        // The second page does not check out: only the first one's bytes stay.
        assert_eq!(resume.leave(), pages[0].end);
        assert_eq!(resume.next_stored(), None, "nothing after a gap is trusted");
        assert_eq!(resume.leave(), pages[0].end);
    }

    #[test]
    fn a_fresh_chain_keeps_nothing_and_a_complete_one_keeps_everything() {
        let mut fresh = Resume::new(Vec::new());
        assert_eq!(fresh.next_stored(), None);
        assert_eq!(fresh.leave(), 0);
        let (_dir, pages) = stored();
        let mut resume = Resume::new(pages.clone());
        while let Some(page) = resume.next_stored() {
            resume.reused(&page);
        }
        assert_eq!(resume.leave(), pages[2].end);
    }
}
