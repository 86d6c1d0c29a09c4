#![allow(clippy::unwrap_used)]
//! Round trips: what each writer wrote, read back by an independent reader (the `geojson`, `csv`
//! and `gpx` crates, quick-xml for GPX extensions), equals its input.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use model::{Feature, Format, Geometry, Image, Resource, Schema, Value};
use proptest::prelude::*;
use quick_xml::events::Event;
use write::{WriteOptions, Written};

/// A value as the GeoJSON writer must have written it.
fn json_of(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Text(s) => s.clone().into(),
        Value::Int(i) => (*i).into(),
        Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
        }
        Value::Bool(b) => (*b).into(),
    }
}

/// A value as the CSV writer must have written it with `csv_raw_text`.
fn csv_of(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Text(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
    }
}

/// Text as GPX must hold it: characters XML 1.0 forbids are U+FFFD.
fn xml_safe(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => '\u{fffd}',
            _ => c,
        })
        .collect()
}

fn check_geojson(path: &Path, schema: &Schema, features: &[Feature]) {
    let text = std::fs::read_to_string(path).unwrap();
    let collection: geojson::FeatureCollection = text.parse().unwrap();
    assert_eq!(collection.features.len(), features.len());
    for (read, feature) in collection.features.iter().zip(features) {
        let properties = read.properties.as_ref().unwrap();
        let mut expected: Vec<(&str, serde_json::Value)> = schema
            .fields
            .iter()
            .zip(&feature.values)
            .map(|(field, value)| (field.name, json_of(value)))
            .collect();
        expected.extend(feature.extra.iter().map(|(k, v)| (k.as_str(), v.clone())));
        let actual: Vec<(&str, serde_json::Value)> = properties
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        assert_eq!(actual, expected);
        let geometry = read.geometry.as_ref().unwrap();
        match (&geometry.value, &feature.geometry) {
            (geojson::GeometryValue::Point { coordinates }, Geometry::Point(p)) => {
                assert_eq!(coordinates.as_slice(), p.as_slice());
            }
            (geojson::GeometryValue::LineString { coordinates }, Geometry::LineString(line)) => {
                let read: Vec<&[f64]> = coordinates.iter().map(|p| p.as_slice()).collect();
                // RFC 7946: two or more positions; a one-vertex line has its position twice.
                let line = common::written_line(line);
                let line: Vec<&[f64]> = line.iter().map(|p| p.as_slice()).collect();
                assert_eq!(read, line);
            }
            other => panic!("unexpected geometry {other:?}"),
        }
    }
}

fn check_csv(path: &Path, schema: &Schema, features: &[Feature]) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), features.len());
    for (row, feature) in rows.iter().zip(features) {
        let cell = |name: &str| &row[headers.iter().position(|h| h == name).unwrap()];
        for (field, value) in schema.fields.iter().zip(&feature.values) {
            assert_eq!(cell(field.name), csv_of(value), "field {}", field.name);
        }
        match &feature.geometry {
            Geometry::Point([lon, lat]) => {
                assert_eq!(cell("lon").parse::<f64>().unwrap(), *lon);
                assert_eq!(cell("lat").parse::<f64>().unwrap(), *lat);
            }
            Geometry::LineString(line) => {
                let wkt = cell("WKT");
                let body = wkt
                    .strip_prefix("LINESTRING (")
                    .and_then(|s| s.strip_suffix(')'))
                    .unwrap();
                let read: Vec<[f64; 2]> = body
                    .split(", ")
                    .map(|p| {
                        let (lon, lat) = p.split_once(' ').unwrap();
                        [lon.parse().unwrap(), lat.parse().unwrap()]
                    })
                    .collect();
                assert_eq!(read, common::written_line(line));
            }
        }
    }
    assert_eq!(
        headers.len(),
        schema.fields.len() + if schema.coords_after.is_some() { 2 } else { 1 }
    );
}

/// Every `<wpt>`/`<trk>` of a GPX file as (tag, child element texts by local name).
fn gpx_elements(path: &Path) -> Vec<(String, BTreeMap<String, String>)> {
    let mut reader = quick_xml::Reader::from_file(path).unwrap();
    let mut buf = Vec::new();
    let mut items: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    let mut depth_names: Vec<String> = Vec::new();
    let mut text = String::new();
    loop {
        match reader.read_event_into(&mut buf).unwrap() {
            Event::Start(e) => {
                let name = e.name().as_ref().to_owned();
                if depth_names.len() == 1 {
                    items.push((name.clone(), BTreeMap::new()));
                }
                depth_names.push(name);
                text.clear();
            }
            // `<link href="..."/>`: its href, unescaped.
            Event::Empty(e) if depth_names.len() == 2 && e.name().as_ref() == "link" => {
                let href = e.try_get_attribute("href").unwrap().unwrap();
                let href = href
                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .unwrap()
                    .into_owned();
                items.last_mut().unwrap().1.insert("link".into(), href);
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                let name: &str = r.as_ref();
                let c = match name {
                    "amp" => "&".to_owned(),
                    "lt" => "<".to_owned(),
                    "gt" => ">".to_owned(),
                    "quot" => "\"".to_owned(),
                    "apos" => "'".to_owned(),
                    _ => r.resolve_char_ref().unwrap().unwrap().to_string(),
                };
                text.push_str(&c);
            }
            Event::End(_) => {
                let name = depth_names.pop().unwrap();
                // Direct children of wpt/trk and the mly: elements inside their <extensions>.
                let wanted = depth_names.len() == 2
                    || (depth_names.len() == 3 && depth_names[2] == "extensions");
                if wanted && name != "extensions" && name != "trkseg" {
                    items
                        .last_mut()
                        .unwrap()
                        .1
                        .insert(name, std::mem::take(&mut text));
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    items
}

/// What GPX must hold of `feature`: name, time (when valid), link and mly: extensions.
fn gpx_expected(
    schema: &Schema,
    feature: &Feature,
    time_written: bool,
) -> BTreeMap<String, String> {
    let mut expected = BTreeMap::new();
    for (i, (field, value)) in schema.fields.iter().zip(&feature.values).enumerate() {
        if *value == Value::Null {
            continue;
        }
        let text = xml_safe(&csv_of(value));
        let tag = if i == schema.name_field {
            "name".to_owned()
        } else if Some(i) == schema.time_field && time_written {
            "time".to_owned()
        } else if Some(i) == schema.link_field {
            "link".to_owned()
        } else {
            format!("mly:{}", field.name)
        };
        expected.insert(tag, text);
    }
    expected
}

#[test]
fn fixtures_round_trip_through_geojson_csv_and_gpx() {
    let options = WriteOptions {
        csv_raw_text: true,
        ..WriteOptions::default()
    };
    for resource in Resource::ALL {
        let dir = tempfile::tempdir().unwrap();
        let schema = Schema::of(resource);
        let features = common::features(resource);
        for format in [Format::GeoJson, Format::Csv, Format::Gpx] {
            common::write_layer(format, dir.path(), resource, &features, &options);
        }
        let path = |ext: &str| dir.path().join(format!("{}.{ext}", resource.stem()));
        check_geojson(&path("geojson"), schema, &features);
        check_csv(&path("csv"), schema, &features);

        let gpx = gpx::read(std::fs::File::open(path("gpx")).unwrap()).unwrap();
        match schema.geometry {
            model::GeometryType::Point => {
                assert_eq!(gpx.waypoints.len(), features.len());
                for (wpt, feature) in gpx.waypoints.iter().zip(&features) {
                    let Geometry::Point([lon, lat]) = feature.geometry else {
                        panic!()
                    };
                    let lon = if lon == 180.0 { -180.0 } else { lon };
                    assert_eq!((wpt.point().x(), wpt.point().y()), (lon, lat));
                    let name = feature.values[schema.name_field].as_text().map(xml_safe);
                    assert_eq!(wpt.name, name);
                }
            }
            model::GeometryType::LineString => {
                assert_eq!(gpx.tracks.len(), features.len());
                for (trk, feature) in gpx.tracks.iter().zip(&features) {
                    let Geometry::LineString(line) = &feature.geometry else {
                        panic!()
                    };
                    assert_eq!(trk.name.as_deref(), feature.values[0].as_text());
                    let points: Vec<[f64; 2]> = trk.segments[0]
                        .points
                        .iter()
                        .map(|p| [p.point().x(), p.point().y()])
                        .collect();
                    assert_eq!(&points, line);
                }
            }
        }
    }
}

#[test]
fn gpx_times_and_extensions_hold_every_value() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema::of(Resource::Images);
    let features = common::features(Resource::Images);
    common::write_layer(
        Format::Gpx,
        dir.path(),
        Resource::Images,
        &features,
        &WriteOptions::default(),
    );
    let read = gpx_elements(&dir.path().join("images.gpx"));
    assert_eq!(read.len(), 3);
    // The third image's 2019-02-29 is no date: it stays an extension, not a <time>.
    let valid_times = [true, true, false];
    for ((tag, children), (feature, time)) in read.iter().zip(features.iter().zip(valid_times)) {
        assert_eq!(tag, "wpt");
        assert_eq!(children, &gpx_expected(schema, feature, time));
    }
    let gpx = gpx::read(std::fs::File::open(dir.path().join("images.gpx")).unwrap()).unwrap();
    let time = gpx.waypoints[1].time.unwrap();
    assert_eq!(time.format().unwrap(), "1970-01-01T00:00:00.000000000Z");
}

#[test]
fn gpx_track_points_carry_image_keys_and_angles() {
    let dir = tempfile::tempdir().unwrap();
    let features = common::features(Resource::Sequences);
    common::write_layer(
        Format::Gpx,
        dir.path(),
        Resource::Sequences,
        &features,
        &WriteOptions::default(),
    );
    let text = std::fs::read_to_string(dir.path().join("sequences.gpx")).unwrap();
    let sequence = common::real_sequence();
    for (key, ca) in sequence.image_keys.iter().zip(&sequence.cas) {
        let trkpt = format!(
            "<extensions><mly:image_key>{}</mly:image_key><mly:ca>{}</mly:ca></extensions></trkpt>",
            key.as_deref().unwrap(),
            ca.unwrap()
        );
        assert!(text.contains(&trkpt), "{trkpt} missing");
    }
    // The one-vertex line has an image key and no angle.
    assert!(text.contains("<extensions><mly:image_key>only</mly:image_key></extensions></trkpt>"));
}

fn coordinate() -> impl Strategy<Value = [f64; 2]> {
    let lon = prop_oneof![Just(180.0), Just(-180.0), Just(0.0), -180.0..=180.0f64];
    let lat = prop_oneof![Just(90.0), Just(-90.0), Just(-0.0), -90.0..=90.0f64];
    (lon, lat).prop_map(|(lon, lat)| [lon, lat])
}

prop_compose! {
    fn image()(
        key in any::<String>(),
        [lon, lat] in coordinate(),
        ca in proptest::option::of(-1e9..1e9f64),
        camera_make in proptest::option::of(any::<String>()),
        username in proptest::option::of(any::<String>()),
        sequence_key in proptest::option::of("[a-zA-Z0-9_-]{0,22}"),
        pano in proptest::option::of(any::<bool>()),
    ) -> Image {
        Image { ca, camera_make, username, sequence_key, pano, ..Image::new(key, lon, lat) }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_images_round_trip(images in proptest::collection::vec(image(), 1..8)) {
        let dir = tempfile::tempdir().unwrap();
        let schema = Schema::of(Resource::Images);
        let features: Vec<Feature> = images.iter().map(Image::to_feature).collect();
        let options = WriteOptions { csv_raw_text: true, ..WriteOptions::default() };
        for format in [Format::GeoJson, Format::Csv, Format::Gpx] {
            let (written, _) =
                common::write_layer(format, dir.path(), Resource::Images, &features, &options);
            prop_assert!(written.iter().all(|w| !matches!(w, Written::Rejected(_))));
        }
        check_geojson(&dir.path().join("images.geojson"), schema, &features);
        check_csv(&dir.path().join("images.csv"), schema, &features);
        let read = gpx_elements(&dir.path().join("images.gpx"));
        prop_assert_eq!(read.len(), features.len());
        for ((_, children), feature) in read.iter().zip(&features) {
            prop_assert_eq!(children, &gpx_expected(schema, feature, false));
        }
    }
}
