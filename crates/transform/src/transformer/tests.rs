use super::*;
use crate::{LookAt, TransformError};
use model::{Area, DateRange, Resource};

fn point(key: &str, lon: f64, lat: f64, properties: &str) -> String {
    format!(
        r#"{{"type":"Feature","geometry":{{"type":"Point","coordinates":[{lon},{lat}]}},
        "properties":{{"key":"{key}"{properties}}}}}"#
    )
}

fn page(features: &[String]) -> Vec<u8> {
    format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        features.join(",")
    )
    .into_bytes()
}

fn v3_keys(transformer: &mut Transformer, body: &[u8]) -> Vec<String> {
    let mut keys = Vec::new();
    transformer
        .v3_page(body, &mut |record| match record {
            Record::Image(i) => keys.push(i.key),
            Record::Sequence(s) => keys.push(s.key),
            Record::MapFeature(m) => panic!("a v3 page holds no map features: {m:?}"),
        })
        .unwrap();
    keys
}

fn filtered(counts: &crate::Counts, reason: &str) -> u64 {
    counts.filtered.get(reason).copied().unwrap_or(0)
}

#[test]
fn rejects_then_dedupes_then_filters() {
    let config = TransformConfig {
        areas: vec![Area::Bbox([0.0, 0.0, 10.0, 10.0])],
        ..TransformConfig::default()
    };
    let mut t = Transformer::new(config);
    let body = page(&[
        point("a", 1.0, 1.0, ""),
        point("far", 20.0, 1.0, ""),
        point("far", 20.0, 1.0, ""),
        point("a", 2.0, 2.0, ""),
        point("", 1.0, 1.0, ""),
        point("bad", 200.0, 1.0, ""),
    ]);
    assert_eq!(v3_keys(&mut t, &body), ["a"]);
    let report = t.report();
    let images = &report.images;
    assert_eq!(images.received, 6);
    assert_eq!(images.rejected, 2);
    // The second "far" is a duplicate, not a second filtered record.
    assert_eq!(images.duplicates, 2);
    assert_eq!(filtered(images, "outside area"), 1);
    assert_eq!(images.accepted, 1);
    assert_eq!(report.rejected_total, 2);
    assert_eq!(report.rejected[0].id(), "v3 page 1#4");
    assert_eq!(report.rejected[1].id(), "bad");
}

#[test]
fn user_date_and_pano_filters() {
    let config = TransformConfig {
        usernames: vec!["Alice".into()],
        userkeys: vec!["k-bob".into()],
        date_ranges: vec![DateRange {
            start_ms: 1_000,
            end_ms: 2_000,
        }],
        pano: Some(false),
        ..TransformConfig::default()
    };
    let mut t = Transformer::new(config);
    let in_range = r#","captured_at":"1970-01-01T00:00:01.500Z""#;
    let body = page(&[
        point(
            "ok-name",
            0.0,
            0.0,
            &format!(r#","username":"alice"{in_range}"#),
        ),
        point(
            "ok-key",
            0.0,
            0.0,
            &format!(r#","user_key":"k-bob"{in_range}"#),
        ),
        point(
            "other-user",
            0.0,
            0.0,
            &format!(r#","username":"carol"{in_range}"#),
        ),
        point(
            "too-late",
            0.0,
            0.0,
            r#","username":"alice","captured_at":"1970-01-01T00:00:02Z""#,
        ),
        point("no-date", 0.0, 0.0, r#","username":"alice""#),
        point(
            "pano",
            0.0,
            0.0,
            &format!(r#","username":"alice","pano":true{in_range}"#),
        ),
    ]);
    assert_eq!(v3_keys(&mut t, &body), ["ok-name", "ok-key"]);
    let images = &t.report().images;
    assert_eq!(filtered(images, "user"), 1);
    assert_eq!(filtered(images, "date"), 2);
    assert_eq!(filtered(images, "pano"), 1);
    assert_eq!(images.accepted, 2);
}

#[test]
fn v4_lookat_keeps_panoramas_and_images_facing_the_target() {
    let config = TransformConfig {
        api: model::Api::V4,
        lookat: Some(LookAt {
            target: [0.0, 1.0],
            tolerance_deg: 30.0,
        }),
        ..TransformConfig::default()
    };
    let mut t = Transformer::new(config);
    let image = |id: &str, extra: &str| {
        format!(
            r#"{{"id":"{id}","sequence":"s-{id}","geometry":{{"type":"Point","coordinates":[0,0]}}{extra}}}"#
        )
    };
    let body = format!(
        r#"{{"data":[{},{},{},{},{}]}}"#,
        image("north", r#","compass_angle":350"#),
        image("south", r#","compass_angle":180"#),
        image("pano", r#","is_pano":true"#),
        image("no-angle", ""),
        image("north", r#","compass_angle":10"#),
    );
    let mut keys = Vec::new();
    t.v4_images_page(body.as_bytes(), &mut |r| {
        if let Record::Image(i) = r {
            keys.push(i.key);
        }
    })
    .unwrap();
    assert_eq!(keys, ["north", "pano"]);
    assert_eq!(filtered(&t.report().images, "lookat"), 2);
    assert_eq!(t.report().images.duplicates, 1);
    // lookat does not apply to sequences: every image's sequence is fetched.
    let ids: Vec<_> = t.accepted_sequence_ids().collect();
    assert_eq!(ids, ["s-no-angle", "s-north", "s-pano", "s-south"]);
}

#[test]
fn sequences_check_vertices_users_and_warn_on_mismatch() {
    let config = TransformConfig {
        userkeys: vec!["u".into()],
        max_vertices: 3,
        ..TransformConfig::default()
    };
    let mut t = Transformer::new(config);
    let line = |key: &str, n: usize, properties: &str| {
        let coordinates = vec!["[1,1]"; n].join(",");
        format!(
            r#"{{"type":"Feature","geometry":{{"type":"LineString","coordinates":[{coordinates}]}},
            "properties":{{"key":"{key}"{properties}}}}}"#
        )
    };
    let body = page(&[
        line(
            "ok",
            3,
            r#","user_key":"u","coordinateProperties":{"cas":[1,2],"image_keys":["a","b","c"]}"#,
        ),
        line("long", 4, r#","user_key":"u""#),
        line("other", 2, r#","user_key":"x""#),
        line("empty", 0, r#","user_key":"u""#),
    ]);
    assert_eq!(v3_keys(&mut t, &body), ["ok"]);
    let report = t.report();
    assert_eq!(report.sequences.received, 4);
    assert_eq!(report.sequences.rejected, 2);
    assert_eq!(filtered(&report.sequences, "user"), 1);
    assert_eq!(report.warnings.len(), 1);
    assert_eq!(report.warnings[0].id, "ok");
    assert_eq!(report.warnings[0].resource, Resource::Sequences);
    assert_eq!(report.images.received, 0);
}

#[test]
fn v4_sequences_match_usernames_through_their_images() {
    let config = TransformConfig {
        api: model::Api::V4,
        usernames: vec!["Alice".into()],
        ..TransformConfig::default()
    };
    let mut t = Transformer::new(config);
    let page = |seq: &str, user: &str| {
        format!(
            r#"{{"data":[{{"id":"{seq}-1","sequence":"{seq}","captured_at":1,"creator":{{"id":"k-{user}","username":"{user}"}},"geometry":{{"type":"Point","coordinates":[1,0]}}}}]}}"#
        )
        .into_bytes()
    };
    let mut keys = Vec::new();
    for (seq, user) in [("s-alice", "alice"), ("s-bob", "bob")] {
        t.v4_sequence(&[page(seq, user)], &mut |r| {
            if let Record::Sequence(s) = r {
                keys.push(s.key);
            }
        })
        .unwrap();
    }
    assert_eq!(keys, ["s-alice"]);
    assert_eq!(filtered(&t.report().sequences, "user"), 1);
}

#[test]
fn v4_sequence_leaves_out_unplaceable_images() {
    let mut t = Transformer::new(TransformConfig::default());
    let pages = vec![
        br#"{"data":[{"id":"2","sequence":"s","captured_at":2,"geometry":{"type":"Point","coordinates":[2,0]}},
                    {"id":"x","sequence":"s","captured_at":3}]}"#
            .to_vec(),
        br#"{"data":[{"id":"1","sequence":"s","captured_at":1,"creator":{"id":"u"},"geometry":{"type":"Point","coordinates":[1,0]}}]}"#
            .to_vec(),
    ];
    let mut sequences = Vec::new();
    t.v4_sequence(&pages, &mut |r| {
        if let Record::Sequence(s) = r {
            sequences.push(s);
        }
    })
    .unwrap();
    assert_eq!(sequences.len(), 1);
    let s = &sequences[0];
    assert_eq!(s.image_keys, vec![Some("1".into()), Some("2".into())]);
    assert_eq!(s.user_key.as_deref(), Some("u"));
    assert_eq!(t.report().warnings_total, 1);
    t.v4_sequence(&[br#"{"data":[]}"#.to_vec()], &mut |_| {})
        .unwrap();
    assert_eq!(t.report().sequences.rejected, 1);
    let error = t.v4_sequence(
        &[br#"{"error":{"message":"limit","code":4}}"#.to_vec()],
        &mut |_| {},
    );
    assert!(matches!(
        error,
        Err(TransformError::ApiError { code: Some(4), .. })
    ));
}

#[test]
fn v4_sequences_from_images_are_lines_through_the_images_in_the_areas() {
    let config = TransformConfig {
        api: model::Api::V4,
        areas: vec![model::Area::Bbox([0.0, 0.0, 10.0, 10.0])],
        lookat: Some(crate::LookAt {
            target: [5.0, 90.0],
            tolerance_deg: 1.0,
        }),
        sequences_from_images: true,
        ..TransformConfig::default()
    };
    let mut t = Transformer::new(config);
    let image = |id: &str, seq: &str, time: i64, lon: f64| {
        format!(
            r#"{{"id":"{id}","sequence":"{seq}","captured_at":{time},"compass_angle":180,"creator":{{"id":"u"}},"geometry":{{"type":"Point","coordinates":[{lon},1]}}}}"#
        )
    };
    // Out of order, one image twice (overlapping cells), one outside the areas; every
    // image faces away from the lookat target, so no image is exported, yet the
    // sequences are (lookat does not apply to them).
    let pages = [
        vec![
            image("3", "s", 30, 3.0),
            image("1", "s", 10, 1.0),
            image("9", "t", 5, 9.0),
        ],
        vec![
            image("1", "s", 10, 1.0),
            image("2", "s", 20, 2.0),
            image("x", "s", 15, 11.0),
        ],
    ];
    for items in pages {
        let body = format!(r#"{{"data":[{}]}}"#, items.join(","));
        t.v4_images_page(body.as_bytes(), &mut |_| {
            panic!("lookat leaves every image out")
        })
        .unwrap();
    }
    let mut sequences = Vec::new();
    t.v4_sequences_from_images(&mut |r| {
        if let Record::Sequence(s) = r {
            sequences.push(s);
        }
    })
    .unwrap();
    let lines: Vec<_> = sequences
        .iter()
        .map(|s| (s.key.as_str(), s.image_keys.clone(), s.coordinates.clone()))
        .collect();
    let some = |ids: &[&str]| {
        ids.iter()
            .map(|id| Some((*id).to_owned()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        lines,
        [
            (
                "s",
                some(&["1", "2", "3"]),
                vec![[1.0, 1.0], [2.0, 1.0], [3.0, 1.0]]
            ),
            ("t", some(&["9"]), vec![[9.0, 1.0]]),
        ]
    );
    assert_eq!(t.report().sequences.accepted, 2);
    // Taken once: a second call builds nothing.
    t.v4_sequences_from_images(&mut |_| panic!("already built"))
        .unwrap();
}

#[test]
fn lists_are_capped_but_totals_are_exact() {
    let mut t = Transformer::new(TransformConfig::default());
    let body = page(&vec![point("", 0.0, 0.0, ""); crate::MAX_LISTED + 5]);
    assert!(v3_keys(&mut t, &body).is_empty());
    let report = t.report();
    assert_eq!(report.rejected.len(), crate::MAX_LISTED);
    assert_eq!(report.rejected_total, crate::MAX_LISTED as u64 + 5);
    assert_eq!(report.images.rejected, crate::MAX_LISTED as u64 + 5);
}

/// Fails on the `fail_at`-th record (0-based); counts what it was given.
struct FailingSink {
    fail_at: usize,
    keys: Vec<String>,
}

#[derive(Debug, PartialEq)]
enum SinkFailed {
    Stopped(usize),
    Transform(String),
}

impl From<TransformError> for SinkFailed {
    fn from(error: TransformError) -> SinkFailed {
        SinkFailed::Transform(error.to_string())
    }
}

impl RecordSink for FailingSink {
    type Error = SinkFailed;

    fn record(&mut self, record: Record) -> Result<(), SinkFailed> {
        if self.keys.len() == self.fail_at {
            return Err(SinkFailed::Stopped(self.fail_at));
        }
        match record {
            Record::Image(i) => self.keys.push(i.key),
            Record::Sequence(s) => self.keys.push(s.key),
            Record::MapFeature(m) => self.keys.push(m.id),
        }
        Ok(())
    }
}

#[test]
fn a_sink_error_stops_every_reader_at_once() {
    let features: Vec<String> = (0..5_000)
        .map(|i| point(&format!("k{i}"), 1.0, 1.0, r#","camera_make":"x""#))
        .collect();
    let body = page(&features);
    let v4_body = format!(
        r#"{{"data":[{}]}}"#,
        (0..10)
            .map(|i| format!(r#"{{"id":"{i}","geometry":{{"type":"Point","coordinates":[1,1]}}}}"#))
            .collect::<Vec<_>>()
            .join(",")
    );
    for reader in ["v3 page", "file", "v4 page"] {
        let mut t = Transformer::new(TransformConfig::default());
        let mut sink = FailingSink {
            fail_at: 3,
            keys: Vec::new(),
        };
        let result = match reader {
            "v3 page" => t.v3_page(&body, &mut sink),
            "file" => t.read_geojson(&body[..], Path::new("big.geojson"), &mut sink),
            _ => t.v4_images_page(v4_body.as_bytes(), &mut sink),
        };
        assert_eq!(result, Err(SinkFailed::Stopped(3)), "{reader}");
        assert_eq!(sink.keys.len(), 3, "{reader}");
        // The record the sink refused was the last one checked.
        assert_eq!(t.report().images.received, 4, "{reader}");
    }
}

#[test]
fn a_large_file_keeps_its_order_and_names_bad_features_by_index() {
    // Several chunks for the parsing threads, with bad features between them.
    let features: Vec<String> = (0..20_000)
        .map(|i| match i % 7_001 {
            0 if i > 0 => point("", 1.0, 1.0, ""),
            _ => point(&format!("k{i}"), 1.0, 1.0, r#","username":"u""#),
        })
        .collect();
    let body = page(&features);
    let mut t = Transformer::new(TransformConfig::default());
    let mut keys = Vec::new();
    t.read_geojson(&body[..], Path::new("big.geojson"), &mut |r| {
        if let Record::Image(i) = r {
            keys.push(i.key);
        }
    })
    .unwrap();
    let expected: Vec<String> = (0..20_000)
        .filter(|i| i % 7_001 != 0 || *i == 0)
        .map(|i| format!("k{i}"))
        .collect();
    assert_eq!(keys, expected);
    let at: Vec<String> = t.report().rejected.iter().map(|r| r.at()).collect();
    assert_eq!(at, ["big.geojson#7001", "big.geojson#14002"]);
}

#[test]
fn a_file_that_breaks_off_delivers_the_features_before_the_problem() {
    let features: Vec<String> = (0..3_000)
        .map(|i| point(&format!("k{i}"), 1.0, 1.0, ""))
        .collect();
    let mut body = page(&features);
    body.truncate(body.len() - 40);
    let mut t = Transformer::new(TransformConfig::default());
    let mut keys = 0;
    let error = t
        .read_geojson(&body[..], Path::new("cut.geojson"), &mut |_| keys += 1)
        .unwrap_err();
    assert!(matches!(error, TransformError::NotJson { .. }), "{error}");
    assert_eq!(keys, 2_999);
}
