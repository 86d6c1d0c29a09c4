//! Property test: whatever the strings, coordinates and nulls, a shapefile read back with the
//! `shapefile` crate gives the input, up to what DBF itself cannot hold (padding spaces, the
//! difference between empty and absent, text over the field width: cut and reported).
#![allow(clippy::unwrap_used)]

mod common;

use model::{Feature, Format, Image, Resource, Schema, Value};
use proptest::prelude::*;
use shapefile::Shape;
use shapefile::dbase::FieldValue;
use write::{WriteOptions, Written};

prop_compose! {
    fn image()(
        key in "[A-Za-z0-9_-]{1,40}",
        lon in prop_oneof![Just(-180.0), Just(180.0), Just(0.0), -180.0..=180.0f64],
        lat in prop_oneof![Just(-90.0), Just(90.0), Just(0.0), -90.0..=90.0f64],
        ca in proptest::option::of(-999.0..999.0f64),
        camera_make in proptest::option::of(any::<String>()),
        username in proptest::option::of(any::<String>()),
        pano in proptest::option::of(any::<bool>()),
    ) -> Image {
        Image { ca, camera_make, username, pano, ..Image::new(key, lon, lat) }
    }
}

/// What a DBF text field can give back for `value` in a field of `width` bytes, as the
/// `dbase` reader returns it (it trims spaces on both sides; the file keeps leading ones).
fn dbf_text(value: &Value, width: usize) -> Option<String> {
    let Value::Text(s) = value else { return None };
    let mut end = s.len().min(width);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let kept = s[..end].trim_matches(' ');
    (!kept.is_empty()).then(|| kept.to_owned())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_images_round_trip_through_a_shapefile(images in proptest::collection::vec(image(), 1..8)) {
        let dir = tempfile::tempdir().unwrap();
        let schema = Schema::of(Resource::Images);
        let features: Vec<Feature> = images.iter().map(Image::to_feature).collect();
        let (written, summary) = common::write_layer(
            Format::Shapefile,
            dir.path(),
            Resource::Images,
            &features,
            &WriteOptions::default(),
        );
        prop_assert_eq!(summary.features, features.len() as u64);
        let read = shapefile::read(dir.path().join("images.shp")).unwrap();
        prop_assert_eq!(read.len(), features.len());
        for (((shape, record), feature), written) in read.iter().zip(&features).zip(&written) {
            let Shape::Point(point) = shape else { panic!("not a point") };
            let model::Geometry::Point([lon, lat]) = feature.geometry else { unreachable!() };
            prop_assert_eq!((point.x, point.y), (lon, lat));
            let cut: Vec<&str> = match written {
                Written::Truncated(cuts) => cuts.iter().map(|t| t.field).collect(),
                _ => Vec::new(),
            };
            for (field, value) in schema.fields.iter().zip(&feature.values) {
                let got = record.get(field.dbf_name).unwrap();
                match (field.kind, got) {
                    (model::FieldKind::Float, FieldValue::Numeric(n)) => {
                        let Value::Float(x) = value else {
                            prop_assert_eq!(n, &None);
                            continue;
                        };
                        prop_assert!((n.unwrap() - x).abs() < 1e-6, "{} {:?} {}", field.name, n, x);
                    }
                    (_, FieldValue::Character(text)) => {
                        let width = usize::from(field.width);
                        let expected = match value {
                            Value::Bool(b) => Some(if *b { "T" } else { "F" }.to_owned()),
                            other => dbf_text(other, width),
                        };
                        prop_assert_eq!(text, &expected, "field {}", field.name);
                        let over = matches!(value, Value::Text(s) if s.len() > width);
                        prop_assert_eq!(cut.contains(&field.name), over, "cut report of {}", field.name);
                    }
                    (kind, other) => prop_assert!(false, "{kind:?} read as {other:?}"),
                }
            }
        }
    }
}
