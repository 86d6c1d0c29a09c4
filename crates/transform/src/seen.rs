//! The keys already seen, for dedupe: the one structure that grows with the export.

use std::hash::{BuildHasher, RandomState};

/// The table is cut into this many shards (by the fingerprint's top bits), each growing on its
/// own. One hash table doubles: for a moment it holds the old and the new table (three times
/// the keys' bytes), and the allocator keeps the freed tables' pages: the peak was about 48
/// bytes a key. A shard's growth copies a sixty-fourth of the table, and 64 shards cost nothing
/// to speak of for a one-feature input.
const SHARD_BITS: u32 = 6;
/// A shard grows by a quarter when it would pass this load (numerator, denominator), so it is
/// always 68–85% full once it holds more than a few keys: 19–24 bytes per key.
const MAX_LOAD: (usize, usize) = (17, 20);
/// Slots of a shard's first table.
const MIN_SLOTS: usize = 16;

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
        // 0 marks an empty slot: the one fingerprint it would stand for shares a slot with 1.
        self.shards[shard].insert(fingerprint.max(1))
    }

    /// Bytes held by the tables' slots.
    #[cfg(test)]
    fn slot_bytes(&self) -> usize {
        let slots: usize = self.shards.iter().map(|s| s.slots.len()).sum();
        slots * size_of::<u128>()
    }
}

/// Linear probing from the slot the fingerprint's low half picks.
#[derive(Debug, Default)]
struct Shard {
    slots: Box<[u128]>,
    len: usize,
}

impl Shard {
    fn insert(&mut self, fingerprint: u128) -> bool {
        let (load, of) = MAX_LOAD;
        if (self.len + 1) * of > self.slots.len() * load {
            self.grow();
        }
        match self.probe(fingerprint) {
            Probe::Found => false,
            Probe::Vacant(slot) => {
                self.slots[slot] = fingerprint;
                self.len += 1;
                true
            }
        }
    }

    fn probe(&self, fingerprint: u128) -> Probe {
        let n = self.slots.len();
        // Multiply-shift maps the low 64 bits onto any table size, not only powers of two.
        let mut slot = ((u128::from(fingerprint as u64) * n as u128) >> 64) as usize;
        loop {
            match self.slots[slot] {
                0 => return Probe::Vacant(slot),
                f if f == fingerprint => return Probe::Found,
                _ => slot = if slot + 1 == n { 0 } else { slot + 1 },
            }
        }
    }

    fn grow(&mut self) {
        let slots = (self.slots.len() + self.slots.len() / 4).max(MIN_SLOTS);
        // Zeroed memory comes from the OS untouched: unused slots cost no resident memory.
        let old = std::mem::replace(&mut self.slots, vec![0; slots].into_boxed_slice());
        for &fingerprint in old.iter().filter(|&&f| f != 0) {
            if let Probe::Vacant(slot) = self.probe(fingerprint) {
                self.slots[slot] = fingerprint;
            }
        }
    }
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
