//! The keys already seen, for dedupe: the one structure that grows with the export.

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

/// Keys as 128-bit fingerprints: 16 bytes per key whatever its length, no pointer to chase
/// when the table grows (a million keys take about 32 MB instead of about 100 MB as Strings).
/// Two independently, randomly keyed SipHashes make a false duplicate practically impossible
/// (about n² / 2¹²⁹) and keep crafted keys from degrading the table.
#[derive(Debug, Default)]
pub(crate) struct SeenKeys {
    fingerprints: HashSet<u128, BuildHasherDefault<LowBits>>,
    hashers: [RandomState; 2],
}

impl SeenKeys {
    /// True when `key` was not seen before (and is now).
    pub fn insert(&mut self, key: &str) -> bool {
        let [high, low] = &self.hashers;
        let fingerprint = (u128::from(high.hash_one(key)) << 64) | u128::from(low.hash_one(key));
        self.fingerprints.insert(fingerprint)
    }
}

/// The fingerprint is already a random hash: the table takes its low half as it is.
#[derive(Debug, Default)]
struct LowBits(u64);

impl Hasher for LowBits {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u128(&mut self, value: u128) {
        self.0 = value as u64;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u128 fingerprints are hashed here; this keeps the trait's contract anyway.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
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
}
