//! What a refresh brought: every export keeps a fingerprint per image, sequence and map feature
//! (`fingerprints.tsv`), and the next run compares against it (`changes.tsv` and the manifest).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::hash::Hasher;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use model::{Feature, Geometry, Resource, Value};
use serde::Serialize;
use write::WriteError;

/// The fingerprints file in each export.
pub const FINGERPRINTS_FILE: &str = "fingerprints.tsv";
/// The changed keys, written when there was a previous export.
pub const CHANGES_FILE: &str = "changes.tsv";

/// Key → content fingerprint, per tracked resource (images, sequences and map features;
/// sequence points follow their sequence).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Fingerprints {
    by_resource: BTreeMap<Resource, HashMap<String, u64>>,
}

impl Fingerprints {
    /// Records one written feature.
    pub fn add(&mut self, resource: Resource, feature: &Feature) {
        if resource == Resource::SequencePoints {
            return;
        }
        self.by_resource
            .entry(resource)
            .or_default()
            .insert(feature.id.clone(), fingerprint(feature));
    }

    fn get(&self, resource: Resource) -> Option<&HashMap<String, u64>> {
        self.by_resource.get(&resource)
    }
}

/// Counts of one resource's changes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ChangeCounts {
    /// New keys.
    pub added: u64,
    /// Keys gone.
    pub removed: u64,
    /// Same key, different content.
    pub changed: u64,
}

/// The comparison with the previous export.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Changes {
    /// Per resource.
    pub counts: BTreeMap<Resource, ChangeCounts>,
    /// `(change, resource, key)`, sorted.
    #[serde(skip)]
    pub keys: Vec<(&'static str, Resource, String)>,
}

/// Compares the new export with the previous one.
pub fn diff(previous: &Fingerprints, current: &Fingerprints) -> Changes {
    let mut changes = Changes::default();
    let empty = HashMap::new();
    for resource in [Resource::Images, Resource::Sequences, Resource::MapFeatures] {
        // A resource neither export has (an images-only job) has no changes to report.
        if previous.get(resource).is_none() && current.get(resource).is_none() {
            continue;
        }
        let old = previous.get(resource).unwrap_or(&empty);
        let new = current.get(resource).unwrap_or(&empty);
        let counts = changes.counts.entry(resource).or_default();
        for (key, print) in new {
            match old.get(key) {
                None => {
                    counts.added += 1;
                    changes.keys.push(("added", resource, key.clone()));
                }
                Some(p) if p != print => {
                    counts.changed += 1;
                    changes.keys.push(("changed", resource, key.clone()));
                }
                Some(_) => {}
            }
        }
        for key in old.keys().filter(|k| !new.contains_key(*k)) {
            counts.removed += 1;
            changes.keys.push(("removed", resource, key.clone()));
        }
    }
    changes.keys.sort();
    changes
}

/// Reads the previous export's fingerprints; `None` when there is no previous export (or it
/// predates fingerprints).
pub fn read_previous(out: &Path, name: &str) -> Result<Option<Fingerprints>, WriteError> {
    let path = out.join(name).join(FINGERPRINTS_FILE);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(WriteError::Io { path, source }),
    };
    let mut prints = Fingerprints::default();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|source| WriteError::Io {
            path: path.clone(),
            source,
        })?;
        let mut cols = line.split('\t');
        let (Some(resource), Some(key), Some(print)) = (cols.next(), cols.next(), cols.next())
        else {
            continue;
        };
        let resource = match Resource::parse(resource) {
            Some(r) if r != Resource::SequencePoints => r,
            _ => continue,
        };
        if let Ok(print) = u64::from_str_radix(print, 16) {
            prints
                .by_resource
                .entry(resource)
                .or_default()
                .insert(key.to_owned(), print);
        }
    }
    Ok(Some(prints))
}

/// Writes `fingerprints.tsv` (always) and `changes.tsv` (when there was a previous export),
/// sorted so the same data gives the same bytes.
pub fn write_files(
    dir: &Path,
    current: &Fingerprints,
    changes: Option<&Changes>,
) -> Result<(), WriteError> {
    let path = dir.join(FINGERPRINTS_FILE);
    write_lines(&path, |w| {
        for (resource, prints) in &current.by_resource {
            let mut rows: Vec<_> = prints.iter().collect();
            rows.sort();
            for (key, print) in rows {
                writeln!(w, "{}\t{key}\t{print:016x}", resource.stem())?;
            }
        }
        Ok(())
    })?;
    if let Some(changes) = changes {
        write_lines(&dir.join(CHANGES_FILE), |w| {
            writeln!(w, "change\tresource\tkey")?;
            for (change, resource, key) in &changes.keys {
                writeln!(w, "{change}\t{}\t{key}", resource.stem())?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

fn write_lines(
    path: &Path,
    body: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<(), WriteError> {
    let io = |source| WriteError::Io {
        path: path.to_owned(),
        source,
    };
    let mut w = BufWriter::new(File::create(path).map_err(io)?);
    body(&mut w).map_err(io)?;
    w.flush().map_err(io)
}

/// A stable 64-bit content hash (FNV-1a: the same bytes give the same value in every build).
fn fingerprint(feature: &Feature) -> u64 {
    let mut h = Fnv1a::default();
    let mut coord = |p: &[f64; 2]| {
        h.write_u64(p[0].to_bits());
        h.write_u64(p[1].to_bits());
    };
    match &feature.geometry {
        Geometry::Point(p) => coord(p),
        Geometry::LineString(ps) => ps.iter().for_each(&mut coord),
    }
    for value in &feature.values {
        match value {
            Value::Null => h.write_u8(0),
            Value::Text(s) => {
                h.write_u8(1);
                h.write(s.as_bytes());
                h.write_u8(0xff);
            }
            Value::Int(i) => {
                h.write_u8(2);
                h.write_i64(*i);
            }
            Value::Float(f) => {
                h.write_u8(3);
                h.write_u64(f.to_bits());
            }
            Value::Bool(b) => h.write_u8(4 + u8::from(*b)),
        }
    }
    for (key, value) in &feature.extra {
        h.write(key.as_bytes());
        h.write(value.to_string().as_bytes());
    }
    h.finish()
}

struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::Image;

    fn prints(images: &[Image]) -> Fingerprints {
        let mut p = Fingerprints::default();
        for image in images {
            p.add(Resource::Images, &image.to_feature());
        }
        p
    }

    #[test]
    fn diff_counts_added_removed_changed() {
        let a = Image::new("a", 1.0, 2.0);
        let b = Image::new("b", 1.0, 2.0);
        let mut b2 = b.clone();
        b2.username = Some("x".into());
        let c = Image::new("c", 1.0, 2.0);
        let changes = diff(&prints(&[a.clone(), b]), &prints(&[b2, c]));
        assert_eq!(
            changes.counts[&Resource::Images],
            ChangeCounts {
                added: 1,
                removed: 1,
                changed: 1
            }
        );
        assert_eq!(
            changes.keys,
            [
                ("added", Resource::Images, "c".to_owned()),
                ("changed", Resource::Images, "b".to_owned()),
                ("removed", Resource::Images, "a".to_owned()),
            ]
        );
        assert!(
            diff(&prints(std::slice::from_ref(&a)), &prints(&[a]))
                .keys
                .is_empty()
        );
    }

    #[test]
    fn fingerprints_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let export = dir.path().join("job");
        std::fs::create_dir(&export).unwrap();
        let current = prints(&[Image::new("a", 1.0, 2.0), Image::new("b", 3.0, 4.0)]);
        write_files(&export, &current, None).unwrap();
        let back = read_previous(dir.path(), "job").unwrap().unwrap();
        assert_eq!(back, current);
        assert!(read_previous(dir.path(), "other").unwrap().is_none());
    }
}
