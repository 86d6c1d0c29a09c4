//! The Esri Shapefile writer: byte-level headers, round trips through the `shapefile` crate's
//! reader, truncation and rejection reports, part splitting, and GDAL's `ogrinfo` on the output.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use model::{Feature, Format, Image, Resource, Schema, Sequence};
use shapefile::Shape;
use shapefile::dbase::{self, FieldValue};
use write::{SinkSummary, Truncation, WriteOptions, Written};

fn write_shapefile(
    dir: &Path,
    resource: Resource,
    features: &[Feature],
    max_part_bytes: u64,
) -> (Vec<Written>, SinkSummary) {
    let options = WriteOptions {
        shapefile_max_part_bytes: max_part_bytes,
        ..WriteOptions::default()
    };
    common::write_layer(Format::Shapefile, dir, resource, features, &options)
}

fn write_default(dir: &Path, resource: Resource, features: &[Feature]) -> SinkSummary {
    write_shapefile(
        dir,
        resource,
        features,
        WriteOptions::default().shapefile_max_part_bytes,
    )
    .1
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn le_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(bytes[at..at + 2].try_into().unwrap())
}

fn le_f64(bytes: &[u8], at: usize) -> f64 {
    f64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// Every shape and record of a written shapefile, through the `shapefile` crate's reader.
fn read_back(shp: &Path) -> Vec<(Shape, dbase::Record)> {
    shapefile::read(shp).unwrap()
}

fn text(record: &dbase::Record, dbf_name: &str) -> Option<String> {
    match record.get(dbf_name) {
        Some(FieldValue::Character(value)) => value.clone(),
        other => panic!("{dbf_name}: {other:?}"),
    }
}

fn number(record: &dbase::Record, dbf_name: &str) -> Option<f64> {
    match record.get(dbf_name) {
        Some(FieldValue::Numeric(value)) => *value,
        other => panic!("{dbf_name}: {other:?}"),
    }
}

#[test]
fn headers_are_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let features = common::features(Resource::Images);
    let n = features.len();
    let summary = write_default(dir.path(), Resource::Images, &features);
    assert_eq!(summary.features, n as u64);

    let shp = std::fs::read(dir.path().join("images.shp")).unwrap();
    let shx = std::fs::read(dir.path().join("images.shx")).unwrap();
    for (file, len) in [(&shp, 100 + 28 * n), (&shx, 100 + 8 * n)] {
        assert_eq!(file.len(), len);
        assert_eq!(be_u32(file, 0), 9994);
        assert_eq!(be_u32(file, 24) as usize * 2, len);
        assert_eq!(le_u32(file, 28), 1000);
        assert_eq!(le_u32(file, 32), 1, "Point");
        let xs: Vec<f64> = common::images().iter().map(|i| i.lon).collect();
        let ys: Vec<f64> = common::images().iter().map(|i| i.lat).collect();
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(
            [
                le_f64(file, 36),
                le_f64(file, 44),
                le_f64(file, 52),
                le_f64(file, 60)
            ],
            [min(&xs), min(&ys), max(&xs), max(&ys)]
        );
    }
    // Records: numbered from 1, 10 words of content; the index points at them.
    for i in 0..n {
        let at = 100 + 28 * i;
        assert_eq!(be_u32(&shp, at), i as u32 + 1);
        assert_eq!(be_u32(&shp, at + 4), 10);
        assert_eq!(le_u32(&shp, at + 8), 1);
        assert_eq!(be_u32(&shx, 100 + 8 * i) as usize * 2, at);
        assert_eq!(be_u32(&shx, 100 + 8 * i + 4), 10);
    }
    assert_eq!(le_f64(&shp, 112), 16.432976);

    let dbf = std::fs::read(dir.path().join("images.dbf")).unwrap();
    let fields = Schema::of(Resource::Images).fields;
    let header_len = 32 + 32 * fields.len() + 1;
    let record_len = 1 + fields.iter().map(|f| usize::from(f.width)).sum::<usize>();
    assert_eq!(dbf[0], 0x03);
    assert!(
        dbf[1] >= 125 && (1..=12).contains(&dbf[2]),
        "last update {:?}",
        &dbf[1..4]
    );
    assert_eq!(le_u32(&dbf, 4) as usize, n);
    assert_eq!(usize::from(le_u16(&dbf, 8)), header_len);
    assert_eq!(usize::from(le_u16(&dbf, 10)), record_len);
    assert_eq!(dbf[29], 0x00, "language driver: the .cpg says UTF-8");
    assert_eq!(dbf[header_len - 1], 0x0D);
    assert_eq!(dbf.len(), header_len + n * record_len + 1);
    assert_eq!(dbf.last(), Some(&0x1A));
    let descriptor = |i: usize| &dbf[32 + 32 * i..64 + 32 * i];
    let types: Vec<(String, u8, u8, u8)> = (0..fields.len())
        .map(|i| {
            let d = descriptor(i);
            let name = String::from_utf8(d[..11].to_vec()).unwrap();
            (name.trim_end_matches('\0').to_owned(), d[11], d[16], d[17])
        })
        .collect();
    assert_eq!(types[0], ("key".to_owned(), b'C', 40, 0));
    assert_eq!(types[1], ("ca".to_owned(), b'N', 12, 6));
    assert_eq!(types[4], ("captured".to_owned(), b'C', 24, 0));
    assert_eq!(types[5], ("pano".to_owned(), b'C', 1, 0));
    assert_eq!(types[8], ("username".to_owned(), b'C', 80, 0));
    // First record: not deleted, key left-aligned, ca right-aligned with 6 decimals.
    let row = &dbf[header_len..header_len + record_len];
    assert_eq!(row[0], b' ');
    assert!(row[1..].starts_with(b"G_SIwxNcioYeutZuA8Rurw "));
    assert_eq!(&row[41..53], b"  329.948200");

    let prj = std::fs::read_to_string(dir.path().join("images.prj")).unwrap();
    assert_eq!(prj.len(), 145);
    assert!(prj.starts_with("GEOGCS[\"GCS_WGS_1984\",DATUM[\"D_WGS_1984\""));
    assert_eq!(
        std::fs::read(dir.path().join("images.cpg")).unwrap(),
        b"UTF-8"
    );

    let listed: Vec<(PathBuf, u64)> = ["shp", "shx", "dbf", "prj", "cpg"]
        .iter()
        .map(|ext| {
            let name = PathBuf::from(format!("images.{ext}"));
            let size = std::fs::metadata(dir.path().join(&name)).unwrap().len();
            (name, size)
        })
        .collect();
    assert_eq!(summary.files, listed);
    assert_eq!(summary.format, Some(Format::Shapefile));
}

#[test]
fn images_round_trip_through_the_shapefile_crate() {
    let dir = tempfile::tempdir().unwrap();
    let images = common::images();
    let features: Vec<Feature> = images.iter().map(Image::to_feature).collect();
    write_default(dir.path(), Resource::Images, &features);

    let read = read_back(&dir.path().join("images.shp"));
    assert_eq!(read.len(), images.len());
    for (image, (shape, record)) in images.iter().zip(&read) {
        let Shape::Point(p) = shape else {
            panic!("{}", shape.shapetype())
        };
        assert_eq!((p.x, p.y), (image.lon, image.lat));
        assert_eq!(text(record, "key").as_ref(), Some(&image.key));
        assert_eq!(text(record, "username"), image.username);
        assert_eq!(text(record, "captured"), image.captured_at);
        assert_eq!(text(record, "cam_model"), image.camera_model);
        let pano = image.pano.map(|b| if b { "T" } else { "F" }.to_owned());
        assert_eq!(text(record, "pano"), pano);
        let ca = number(record, "ca");
        match image.ca {
            Some(ca_in) => assert!((ca.unwrap() - ca_in).abs() < 5e-7, "{ca:?}"),
            None => assert_eq!(ca, None),
        }
    }
    assert_eq!(text(&read[1].1, "username").unwrap(), "東京マッパー");
}

#[test]
fn sequences_round_trip_and_degenerate_lines_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let real = common::real_sequence();
    let line = |coordinates: Vec<[f64; 2]>, key: &str| Sequence {
        key: key.to_owned(),
        coordinates,
        ..Sequence::default()
    };
    let sequences = [
        real.clone(),
        // A polyline part needs two points: the one position twice.
        line(vec![[13.4, 52.5]], "one"),
        // A camera that stood still: a zero-length line, its vertices as they are.
        line(vec![[13.4, 52.5], [13.4, 52.5], [13.4, 52.5]], "same"),
        line(vec![], "empty"),
        // Repeated consecutive vertices are real data: kept.
        line(vec![[1.0, 2.0], [1.0, 2.0], [1.5, 2.5]], "repeats"),
    ];
    let features: Vec<Feature> = sequences.iter().map(Sequence::to_feature).collect();
    let (written, summary) = write_shapefile(dir.path(), Resource::Sequences, &features, u64::MAX);
    assert_eq!(
        written,
        [
            Written::Complete,
            Written::Complete,
            Written::Complete,
            Written::Rejected("is a line without positions".into()),
            Written::Complete
        ]
    );
    assert_eq!(summary.features, 4);

    let shp = std::fs::read(dir.path().join("sequences.shp")).unwrap();
    assert_eq!(le_u32(&shp, 32), 3, "PolyLine");
    let read = read_back(&dir.path().join("sequences.shp"));
    let kept: Vec<&Sequence> = [0, 1, 2, 4].iter().map(|&i| &sequences[i]).collect();
    assert_eq!(read.len(), kept.len());
    for (sequence, (shape, record)) in kept.iter().zip(&read) {
        let Shape::Polyline(polyline) = shape else {
            panic!("{}", shape.shapetype())
        };
        assert_eq!(polyline.parts().len(), 1);
        let points: Vec<[f64; 2]> = polyline.parts()[0].iter().map(|p| [p.x, p.y]).collect();
        assert_eq!(points, common::written_line(&sequence.coordinates));
        assert_eq!(text(record, "key").as_ref(), Some(&sequence.key));
    }
    assert_eq!(
        text(&read[0].1, "captured").unwrap(),
        "2019-07-21T14:56:25.559Z"
    );
}

#[test]
fn long_text_is_cut_on_a_character_boundary_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let name = "東".repeat(100); // 300 bytes into an 80-byte field: 26 characters fit
    let image = Image {
        username: Some(name.clone()),
        ..Image::new("k", 1.0, 2.0)
    };
    let (written, _) = write_shapefile(
        dir.path(),
        Resource::Images,
        &[image.to_feature()],
        u64::MAX,
    );
    assert_eq!(
        written,
        [Written::Truncated(vec![Truncation {
            field: "username",
            original_bytes: 300,
            kept_bytes: 78
        }])]
    );
    let read = read_back(&dir.path().join("images.shp"));
    assert_eq!(text(&read[0].1, "username").unwrap(), "東".repeat(26));
}

#[test]
fn a_number_too_wide_is_left_blank_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let image = Image {
        ca: Some(123_456.5), // "123456.500000" is 13 bytes in an N(12,6) field
        ..Image::new("k", 1.0, 2.0)
    };
    let (written, _) = write_shapefile(
        dir.path(),
        Resource::Images,
        &[image.to_feature()],
        u64::MAX,
    );
    assert_eq!(
        written,
        [Written::Truncated(vec![Truncation {
            field: "ca",
            original_bytes: 13,
            kept_bytes: 0
        }])]
    );
    assert_eq!(
        number(&read_back(&dir.path().join("images.shp"))[0].1, "ca"),
        None
    );
}

#[test]
fn parts_split_before_the_limit_and_each_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let first = common::sequence_points()[0].clone();
    let points: Vec<Feature> = (0..7)
        .map(|i| {
            let mut point = first.clone();
            point.idx = i;
            point.lon += f64::from(i);
            point.to_feature()
        })
        .collect();
    // sequence_points.dbf: a 161-byte header and 102-byte records; two records and the end
    // byte (366) fit in 400, a third would not.
    let max = 400;
    let (written, summary) = write_shapefile(dir.path(), Resource::SequencePoints, &points, max);
    assert!(written.iter().all(|w| *w == Written::Complete));
    assert_eq!(summary.features, 7);
    assert_eq!(summary.files.len(), 4 * 5);

    let stems = [
        "sequence_points",
        "sequence_points_2",
        "sequence_points_3",
        "sequence_points_4",
    ];
    let mut idx = Vec::new();
    for (part, stem) in stems.iter().enumerate() {
        let names: Vec<PathBuf> = summary.files[part * 5..part * 5 + 5]
            .iter()
            .map(|(name, _)| name.clone())
            .collect();
        let expected: Vec<PathBuf> = ["shp", "shx", "dbf", "prj", "cpg"]
            .iter()
            .map(|ext| PathBuf::from(format!("{stem}.{ext}")))
            .collect();
        assert_eq!(names, expected);
        for (name, size) in &summary.files[part * 5..part * 5 + 5] {
            assert_eq!(
                std::fs::metadata(dir.path().join(name)).unwrap().len(),
                *size
            );
            assert!(*size <= max, "{name:?} is {size} bytes");
        }
        let read = read_back(&dir.path().join(format!("{stem}.shp")));
        assert_eq!(read.len(), if part < 3 { 2 } else { 1 });
        for (shape, record) in read {
            let Shape::Point(p) = shape else {
                panic!("{}", shape.shapetype())
            };
            let i = number(&record, "idx").unwrap();
            assert_eq!(p.x, first.lon + i);
            idx.push(i);
        }
    }
    assert_eq!(idx, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert!(!dir.path().join("sequence_points_5.shp").exists());
}

#[test]
fn an_empty_layer_keeps_its_shape_type() {
    for (resource, shape_type) in [
        (Resource::Images, 1),
        (Resource::Sequences, 3),
        (Resource::SequencePoints, 1),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let summary = write_default(dir.path(), resource, &[]);
        assert_eq!(summary.features, 0);
        assert_eq!(summary.files.len(), 5);
        let stem = resource.stem();
        for ext in ["shp", "shx"] {
            let file = std::fs::read(dir.path().join(format!("{stem}.{ext}"))).unwrap();
            assert_eq!(file.len(), 100);
            assert_eq!(be_u32(&file, 24), 50);
            assert_eq!(le_u32(&file, 32), shape_type, "{stem}.{ext}");
        }
        let dbf = std::fs::read(dir.path().join(format!("{stem}.dbf"))).unwrap();
        assert_eq!(le_u32(&dbf, 4), 0);
        assert!(read_back(&dir.path().join(format!("{stem}.shp"))).is_empty());
    }
}

#[test]
fn calls_out_of_order_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let options = WriteOptions::default();
    let feature = common::features(Resource::Images).remove(0);
    let mut sink =
        write::open_sink(Format::Shapefile, dir.path(), Resource::Images, &options).unwrap();
    let early = sink.write(&feature).unwrap_err();
    assert!(matches!(
        early,
        write::WriteError::SinkOrder {
            problem: "write called before begin",
            ..
        }
    ));
    sink.begin(Schema::of(Resource::Images)).unwrap();
    assert!(sink.begin(Schema::of(Resource::Images)).is_err());
    assert_eq!(sink.write(&feature).unwrap(), Written::Complete);
    assert_eq!(sink.finish().unwrap().features, 1);
    let unbegun =
        write::open_sink(Format::Shapefile, dir.path(), Resource::Sequences, &options).unwrap();
    assert!(unbegun.finish().is_err());
    assert!(!dir.path().join("sequences.shp").exists());
}

/// `ogrinfo -ro -al -so` on a shapefile: its summary, after checking it has no warning or error.
fn ogrinfo_summary(shp: &Path) -> String {
    let out = Command::new("ogrinfo")
        .args(["-ro", "-al", "-so"])
        .arg(shp)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for text in [&stdout, &stderr] {
        assert!(
            !text.contains("Warning") && !text.contains("ERROR"),
            "{}: {stdout}\n{stderr}",
            shp.display()
        );
    }
    stdout
}

#[test]
fn ogrinfo_reads_every_layer_exactly() {
    if !common::require_tool("ogrinfo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            Resource::Images,
            3,
            "Point",
            &[
                "key: String (40.0)",
                "ca: Real (12.6)",
                "username: String (80.0)",
                "pano: String (1.0)",
            ][..],
        ),
        (
            Resource::Sequences,
            3, // the one-vertex and the repeated-position fixtures included
            "Line String",
            &["key: String (40.0)", "captured: String (24.0)"][..],
        ),
        (
            Resource::SequencePoints,
            9,
            "Point",
            &[
                "seq_key: String (40.0)",
                "idx: Integer (9.0)",
                "ca: Real (12.6)",
            ][..],
        ),
    ];
    for (resource, count, geometry, fields) in cases {
        let features = common::features(resource);
        write_default(dir.path(), resource, &features);
        let info = ogrinfo_summary(&dir.path().join(format!("{}.shp", resource.stem())));
        assert!(
            info.contains(&format!("Feature Count: {count}\n")),
            "{info}"
        );
        assert!(info.contains(&format!("Geometry: {geometry}\n")), "{info}");
        assert!(info.contains("GEOGCRS[\"WGS 84\""), "{info}");
        for field in fields {
            assert!(info.contains(field), "{field} in {info}");
        }
    }
    // An empty layer and split parts are read without complaint too.
    let empty = tempfile::tempdir().unwrap();
    write_default(empty.path(), Resource::Sequences, &[]);
    let info = ogrinfo_summary(&empty.path().join("sequences.shp"));
    assert!(info.contains("Feature Count: 0\n") && info.contains("Geometry: Line String\n"));
    let parts = tempfile::tempdir().unwrap();
    let points = common::features(Resource::SequencePoints);
    write_shapefile(parts.path(), Resource::SequencePoints, &points, 400);
    let info = ogrinfo_summary(&parts.path().join("sequence_points_3.shp"));
    assert!(info.contains("Feature Count: 2\n"), "{info}");
}
