//! The keys already seen, for dedupe: the one structure that grows with the export.

use std::hash::{BuildHasher, RandomState};

/// The table is cut into this many shards (by the fingerprint's top bits), each growing on its
/// own. One hash table doubles: for a moment it holds the old and the new table (three times
/// the keys' bytes), and the allocator keeps the freed tables' pages: the peak was about 48
/// bytes a key. A shard's growth copies a sixty-fourth of the table, and 64 shards cost nothing
/// to speak of for a one-feature input.
const SHARD_BITS: u32 = 6;
/// A shard grows by a quarter when it would pass this load (numerator, denominator), so it is
/// always 68–85% full once it holds more than a few pages of keys: 19–24 bytes per key.
const MAX_LOAD: (usize, usize) = (17, 20);
/// Slots per page of a shard's table (4 KiB).
///
/// Why pages: the shards grow at about the same time (the keys spread evenly), and a growing
/// shard's freed table is smaller than any table allocated after it, so the allocator could
/// not reuse it and kept it until its purge, long after: 1,000,000 images held the last
/// growth's freed tables (16 MB) on top of the new ones. Pages of one size are reused at once
/// by the next shard's growth.
const PAGE_SLOTS: usize = 256;
/// The value of a slot that holds no key.
const EMPTY: u128 = u128::MAX;

/// Keys as 128-bit fingerprints in flat open-addressing tables: 16 bytes per slot whatever the
/// key's length, no pointer to chase. A randomly seeded 128-bit XXH3 makes a false duplicate
/// practically impossible (about n² / 2¹²⁹) and keeps crafted keys from degrading the table.
#[derive(Debug)]
pub(crate) struct SeenKeys {
    /// Empty until the first key, then `1 << SHARD_BITS` shards.
    shards: Vec<Shard>,
    seed: u64,
}

impl Default for SeenKeys {
    fn default() -> SeenKeys {
        SeenKeys {
            shards: Vec::new(),
            // The standard library's per-process random keys, as a seed.
            seed: RandomState::new().hash_one(0_u8),
        }
    }
}

impl SeenKeys {
    /// True when `key` was not seen before (and is now).
    pub fn insert(&mut self, key: &str) -> bool {
        let fingerprint = xxhash_rust::xxh3::xxh3_128_with_seed(key.as_bytes(), self.seed);
        if self.shards.is_empty() {
            self.shards.resize_with(1 << SHARD_BITS, Shard::default);
        }
        let shard = (fingerprint >> (128 - SHARD_BITS)) as usize;
        // The one fingerprint that is EMPTY counts as the same key as EMPTY - 1.
        self.shards[shard].insert(fingerprint.min(EMPTY - 1))
    }

    /// Bytes held by the tables' slots.
    #[cfg(test)]
    fn slot_bytes(&self) -> usize {
        let slots: usize = self.shards.iter().map(Shard::slots).sum();
        slots * size_of::<u128>()
    }
}

/// Linear probing from the slot the fingerprint's low half picks, over the slots of all the
/// shard's pages in turn.
#[derive(Debug, Default)]
struct Shard {
    pages: Vec<Box<[u128; PAGE_SLOTS]>>,
    len: usize,
}

impl Shard {
    fn slots(&self) -> usize {
        self.pages.len() * PAGE_SLOTS
    }

    fn insert(&mut self, fingerprint: u128) -> bool {
        let (load, of) = MAX_LOAD;
        if (self.len + 1) * of > self.slots() * load {
            self.grow();
        }
        match self.probe(fingerprint) {
            Probe::Found => false,
            Probe::Vacant(slot) => {
                self.pages[slot / PAGE_SLOTS][slot % PAGE_SLOTS] = fingerprint;
                self.len += 1;
                true
            }
        }
    }

    fn probe(&self, fingerprint: u128) -> Probe {
        let n = self.slots();
        // Multiply-shift maps the low 64 bits onto any table size, not only powers of two.
        let mut slot = ((u128::from(fingerprint as u64) * n as u128) >> 64) as usize;
        loop {
            match self.pages[slot / PAGE_SLOTS][slot % PAGE_SLOTS] {
                EMPTY => return Probe::Vacant(slot),
                f if f == fingerprint => return Probe::Found,
                _ => slot = if slot + 1 == n { 0 } else { slot + 1 },
            }
        }
    }

    fn grow(&mut self) {
        let pages = (self.pages.len() + self.pages.len() / 4).max(self.pages.len() + 1);
        let old = std::mem::replace(&mut self.pages, (0..pages).map(|_| empty_page()).collect());
        for page in old {
            for &fingerprint in page.iter().filter(|&&f| f != EMPTY) {
                if let Probe::Vacant(slot) = self.probe(fingerprint) {
                    self.pages[slot / PAGE_SLOTS][slot % PAGE_SLOTS] = fingerprint;
                }
            }
            // Each old page is freed as soon as its keys moved: the next page allocated
            // anywhere reuses it.
        }
    }
}

/// A page of empty slots. Filled, not zeroed: fresh zeroed memory from the OS is first mapped
/// to the shared zero page, which a probe's read mapped and the insert's write then replaced,
/// and replacing a mapped page costs a TLB shootdown of every core (about 4% of a
/// 1,000,000-image convert's CPU). A fill writes each page once, a plain fault.
fn empty_page() -> Box<[u128; PAGE_SLOTS]> {
    Box::new([EMPTY; PAGE_SLOTS])
}

enum Probe {
    Found,
    Vacant(usize),
}

#[cfg(test)]
mod tests {
    use super::SeenKeys;

    #[test]
    fn remembers_keys() {
        let mut seen = SeenKeys::default();
        assert!(seen.insert("a"));
        assert!(seen.insert("b"));
        assert!(!seen.insert("a"));
        assert!(seen.insert(""));
        assert!(!seen.insert(""));
        assert!((0..10_000).all(|i| seen.insert(&format!("k{i}"))));
        assert!((0..10_000).all(|i| !seen.insert(&format!("k{i}"))));
    }

    #[test]
    fn growing_keeps_every_key_in_at_most_24_bytes_each() {
        let mut seen = SeenKeys::default();
        let n = 300_000;
        assert!((0..n).all(|i| seen.insert(&format!("key-{i}"))));
        assert!((0..n).all(|i| !seen.insert(&format!("key-{i}"))));
        let per_key = seen.slot_bytes() as f64 / f64::from(n);
        assert!(
            (18.0..=24.0).contains(&per_key),
            "{per_key:.1} bytes per key"
        );
    }
}
