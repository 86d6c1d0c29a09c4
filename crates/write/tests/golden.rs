#![allow(clippy::unwrap_used)]
//! Golden tests: every text writer's exact bytes for every layer of the fixtures, compared with
//! the checked-in files in `tests/golden/`. `UPDATE_GOLDEN=1 cargo test -p write --test golden`
//! rewrites them (review the diff before committing).

mod common;

use std::path::Path;

use model::{Format, Resource};
use write::{WriteOptions, Written};

fn check_golden(format: Format, resource: Resource) -> Vec<Written> {
    let dir = tempfile::tempdir().unwrap();
    let features = common::features(resource);
    let (written, summary) = common::write_layer(
        format,
        dir.path(),
        resource,
        &features,
        &WriteOptions::default(),
    );
    let file = format!("{}.{}", resource.stem(), common::extension(format));
    let actual = std::fs::read(dir.path().join(&file)).unwrap();
    assert_eq!(
        summary.files,
        vec![(file.clone().into(), actual.len() as u64)]
    );
    let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(&file);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &actual).unwrap();
    }
    let expected = std::fs::read(&golden).unwrap();
    assert!(
        actual == expected,
        "{file} differs from its golden file:\n{}",
        String::from_utf8_lossy(&actual)
    );
    written
}

#[test]
fn geojson_golden() {
    for resource in Resource::ALL {
        let written = check_golden(Format::GeoJson, resource);
        assert!(written.iter().all(|w| *w == Written::Complete));
    }
}

#[test]
fn csv_golden() {
    for resource in Resource::ALL {
        let written = check_golden(Format::Csv, resource);
        assert!(written.iter().all(|w| *w == Written::Complete));
    }
}

#[test]
fn gpx_golden() {
    let written = check_golden(Format::Gpx, Resource::Images);
    // The control character in the third image's organization_key is the only replacement.
    assert_eq!(written[..2], [Written::Complete, Written::Complete]);
    assert_eq!(
        written[2],
        Written::Replaced(vec![write::Replacement {
            field: "organization_key",
            chars: 1
        }])
    );
    for resource in [
        Resource::Sequences,
        Resource::SequencePoints,
        Resource::MapFeatures,
    ] {
        let written = check_golden(Format::Gpx, resource);
        assert!(written.iter().all(|w| *w == Written::Complete));
    }
}

#[test]
fn csv_formula_guard_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let features = common::features(Resource::Images);
    let options = WriteOptions {
        csv_raw_text: true,
        ..WriteOptions::default()
    };
    common::write_layer(
        Format::Csv,
        dir.path(),
        Resource::Images,
        &features,
        &options,
    );
    let text = std::fs::read_to_string(dir.path().join("images.csv")).unwrap();
    assert!(
        text.contains("\r\n=HYPERLINK(1),-179.5,89.999999,0.1,,"),
        "{text}"
    );
    assert!(
        text.contains(
            ",=HYPERLINK(1),,=HYPERLINK(1),bell\u{7},-179.5,90,,\"https://example.org/?a=1&b=\"\"<x>\"\"\"\r\n"
        ),
        "{text}"
    );
    assert!(!text.contains(",'"), "{text}");
}
