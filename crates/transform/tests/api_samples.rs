//! Every recorded API response in `tests/fixtures` (real Mapillary data, CC BY-SA 4.0) goes
//! through the transformer with the outcome checked.
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::path::{Path, PathBuf};

use model::{Image, Sequence};
use transform::{Record, TransformConfig, TransformError, Transformer};

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

#[derive(Debug, Default)]
struct Output {
    images: Vec<Image>,
    sequences: Vec<Sequence>,
}

impl Output {
    fn keys(&self) -> Vec<&str> {
        let images = self.images.iter().map(|i| i.key.as_str());
        images
            .chain(self.sequences.iter().map(|s| s.key.as_str()))
            .collect()
    }
}

/// Reads a v3 fixture both as a page and as a streamed file; both must agree.
fn v3(name: &str) -> Result<Output, TransformError> {
    let path = fixture(&format!("v3/{name}"));
    let mut page = Output::default();
    let as_page = Transformer::new(TransformConfig::default())
        .v3_page(&std::fs::read(&path).unwrap(), &mut |r| {
            collect(&mut page, r)
        });
    let mut file = Output::default();
    let as_file = Transformer::new(TransformConfig::default()).read_geojson(
        File::open(&path).unwrap(),
        &path,
        &mut |r| collect(&mut file, r),
    );
    assert_eq!(as_page.is_ok(), as_file.is_ok(), "{name}");
    assert_eq!(page.images, file.images, "{name}");
    assert_eq!(page.sequences, file.sequences, "{name}");
    as_page.map(|()| page)
}

fn collect(output: &mut Output, record: Record) {
    match record {
        Record::Image(i) => output.images.push(i),
        Record::Sequence(s) => output.sequences.push(s),
        Record::MapFeature(m) => panic!("an image page holds no map features: {m:?}"),
    }
}

/// A v4 image entity as the one item of an `/images` page.
fn v4_page(name: &str) -> Vec<u8> {
    let entity = std::fs::read_to_string(fixture(&format!("v4/{name}"))).unwrap();
    format!(r#"{{"data": [{entity}]}}"#).into_bytes()
}

#[test]
fn every_fixture_has_a_test() {
    let tested = [
        "v3/josm-images_LwrHXqFRN_pszCopTKHF_Q.geojson",
        "v3/josm-searchImages.json",
        "v3/josm-searchSequences.json",
        "v3/josm-searchSequencesTicket20211Area1.geojson",
        "v3/josm-sequence.json",
        "v3/pymapillary-get_pagnation_resources_example.json",
        "v3/pymapillary-search_images_example.json",
        "v3/pymapillary-search_sequences_example.json",
        "v3/pymapillary-search_users_example.json",
        "v3/pymapillary-sequence-293-images.json",
        "v4/josm-104214208486349.json",
        "v4/josm-148137757289079.json",
        "v4/josm-338231874314914.json",
        "v4/josm-application_request_limit_reached.json",
        "v4/josm-image_ids-7nfcwfvjdtphz7yj6zat6a.json",
        "v4/josm-internal_server_error.json",
    ];
    for dir in ["v3", "v4"] {
        for entry in std::fs::read_dir(fixture(dir)).unwrap() {
            let name = format!("{dir}/{}", entry.unwrap().file_name().to_string_lossy());
            assert!(tested.contains(&name.as_str()), "{name} has no test");
        }
    }
}

#[test]
fn v3_image_searches() {
    let out = v3("josm-searchImages.json").unwrap();
    assert_eq!(
        out.keys(),
        ["_yA5uXuSNugmsK5VucU6Bg", "nmF-Wq4EvVTgAUmBicSCCg"]
    );
    let first = &out.images[0];
    assert_eq!(
        (first.lon, first.lat),
        (2.215628000000038, 48.90262200000001)
    );
    assert_eq!(first.ca, Some(232.73019999999997));
    assert_eq!(
        first.captured_at.as_deref(),
        Some("2017-04-10T05:51:30.334Z")
    );
    assert_eq!(first.pano, Some(false));
    assert_eq!(first.username.as_deref(), Some("xtyou"));
    assert!(first.extra.is_empty());

    let out = v3("pymapillary-search_images_example.json").unwrap();
    assert_eq!(out.keys(), ["G_SIwxNcioYeutZuA8Rurw"]);
    assert_eq!(
        out.images[0].sequence_key.as_deref(),
        Some("LMlIPUNhaj24h_q9v4ArNw")
    );
}

#[test]
fn v3_single_image_feature_keeps_unknown_properties() {
    let out = v3("josm-images_LwrHXqFRN_pszCopTKHF_Q.geojson").unwrap();
    assert_eq!(out.keys(), ["LwrHXqFRN_pszCopTKHF_Q"]);
    let image = &out.images[0];
    assert_eq!(image.camera_model.as_deref(), Some("iPhone5,4"));
    assert_eq!(
        image.extra,
        vec![("quality_score".to_owned(), serde_json::json!(4))]
    );
}

#[test]
fn v3_sequence_searches() {
    let out = v3("josm-searchSequences.json").unwrap();
    assert_eq!(out.keys(), ["LMlIPUNhaj24h_q9v4ArNw"]);
    let s = &out.sequences[0];
    assert_eq!(s.coordinates.len(), 4);
    assert!(s.vertex_properties_match());
    assert_eq!(s.image_keys[3].as_deref(), Some("G_SIwxNcioYeutZuA8Rurw"));
    assert_eq!(s.created_at.as_deref(), Some("2016-03-17T10:47:53.106Z"));

    let out = v3("josm-searchSequencesTicket20211Area1.geojson").unwrap();
    assert_eq!(out.keys(), ["yqly53hefz24ylz79bwc5x"]);
    let s = &out.sequences[0];
    assert_eq!(s.camera_make.as_deref(), Some("Essential Products"));
    assert_eq!(s.cas[4], Some(253.5));
    assert_eq!(
        s.extra,
        vec![("username".to_owned(), serde_json::json!("vorpalblade"))]
    );

    let out = v3("josm-sequence.json").unwrap();
    assert_eq!(out.keys(), ["cHBf9e8n0pG8O0ZVQHGFBQ"]);
    assert_eq!(out.sequences[0].coordinates.len(), 2);

    let out = v3("pymapillary-search_sequences_example.json").unwrap();
    assert_eq!(out.keys(), ["udwRBHv1iQIt-O7kUS4FAA"]);
    let s = &out.sequences[0];
    assert_eq!((s.pano, s.camera_make.as_deref()), (None, None));
    let names: Vec<_> = s.extra.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["starred", "username"]);
}

#[test]
fn v3_epoch_zero_capture_time_survives() {
    let out = v3("pymapillary-get_pagnation_resources_example.json").unwrap();
    assert_eq!(out.keys(), ["HvI_VQeMa4rp1IYzbj4jQw"]);
    let s = &out.sequences[0];
    assert_eq!(s.coordinates.len(), 868);
    assert!(s.vertex_properties_match());
    assert_eq!(s.captured_at.as_deref(), Some("1970-01-01T00:00:00.000Z"));
    assert_eq!(s.created_at.as_deref(), Some("2018-07-03T18:18:57.764Z"));
}

#[test]
fn v3_sequence_with_repeated_vertices_explodes_to_every_vertex() {
    let out = v3("pymapillary-sequence-293-images.json").unwrap();
    assert_eq!(out.keys(), ["nntwXcD2QLuJ_w3dTcXi0Q"]);
    let s = &out.sequences[0];
    assert_eq!(s.coordinates.len(), 293);
    let repeated = s.coordinates.windows(2).filter(|w| w[0] == w[1]).count();
    assert_eq!(repeated, 23);
    assert_eq!(s.coordinates[2], s.coordinates[3]);
    let points: Vec<_> = s.explode().collect();
    assert_eq!(points.len(), 293);
    assert_eq!(points[292].idx, 292);
    assert_eq!(
        points[292].image_key.as_deref(),
        Some("yYZPDSuNQGsgCEzkb_2voQ")
    );
    assert_eq!((s.pano, s.camera_make.as_deref()), (None, None));
}

#[test]
fn v3_users_response_is_not_a_collection() {
    assert!(matches!(
        v3("pymapillary-search_users_example.json"),
        Err(TransformError::NotFeatureCollection { .. })
    ));
}

#[test]
fn v4_image_entities_normalise() {
    let mut t = Transformer::new(TransformConfig::default());
    let mut out = Output::default();
    for name in ["josm-148137757289079.json", "josm-338231874314914.json"] {
        t.v4_images_page(&v4_page(name), &mut |r| collect(&mut out, r))
            .unwrap();
    }
    assert_eq!(out.keys(), ["148137757289079", "338231874314914"]);
    let expected = Image {
        key: "148137757289079".into(),
        lon: -108.57076997222,
        lat: 39.065739,
        ca: Some(327.58),
        captured_at: Some("2019-07-21T14:57:28.460Z".into()),
        sequence_key: Some("7nfcwfvjdtphz7yj6zat6a".into()),
        computed_position: Some([-108.57077016445, 39.065738749246]),
        computed_ca: Some(359.18081230616),
        url: Some("https://www.mapillary.com/app/?pKey=148137757289079".into()),
        ..Image::default()
    };
    assert_eq!(out.images[0], expected);
    let ids: Vec<_> = t.accepted_sequence_ids().collect();
    assert_eq!(ids, ["7nfcwfvjdtphz7yj6zat6a"]);
}

#[test]
fn v4_sequence_from_its_images_follows_capture_order() {
    let mut t = Transformer::new(TransformConfig::default());
    // Later image on the first page: the order comes from captured_at, not from the pages.
    let pages = vec![
        v4_page("josm-338231874314914.json"),
        v4_page("josm-148137757289079.json"),
    ];
    let mut out = Output::default();
    t.v4_sequence(&pages, &mut |r| collect(&mut out, r))
        .unwrap();
    assert_eq!(out.keys(), ["7nfcwfvjdtphz7yj6zat6a"]);
    let s = &out.sequences[0];
    // The same relative order as the API's /image_ids listing of this sequence.
    let listing =
        std::fs::read_to_string(fixture("v4/josm-image_ids-7nfcwfvjdtphz7yj6zat6a.json")).unwrap();
    let position = |id: &str| listing.find(id).unwrap();
    let keys: Vec<_> = s.image_keys.iter().map(|k| k.as_deref().unwrap()).collect();
    assert_eq!(keys, ["148137757289079", "338231874314914"]);
    assert!(position(keys[0]) < position(keys[1]));
    assert_eq!(s.cas, vec![Some(327.58), Some(336.74)]);
    assert_eq!(s.captured_at.as_deref(), Some("2019-07-21T14:57:28.460Z"));
    assert_eq!(s.created_at, None);
}

#[test]
fn v4_id_listing_has_no_positions_and_is_rejected_item_by_item() {
    let mut t = Transformer::new(TransformConfig::default());
    let body = std::fs::read(fixture("v4/josm-image_ids-7nfcwfvjdtphz7yj6zat6a.json")).unwrap();
    let mut accepted = 0;
    t.v4_images_page(&body, &mut |_| accepted += 1).unwrap();
    assert_eq!(accepted, 0);
    let report = t.report();
    assert_eq!(report.images.received, 8);
    assert_eq!(report.images.rejected, 8);
    assert_eq!(report.rejected[0].id(), "148137757289079");
    assert_eq!(report.rejected[0].reason, "missing geometry");
}

#[test]
fn v4_error_bodies_and_other_entities() {
    let read = |name: &str| std::fs::read(fixture(&format!("v4/{name}"))).unwrap();
    let mut t = Transformer::new(TransformConfig::default());
    let limit = t.v4_images_page(
        &read("josm-application_request_limit_reached.json"),
        &mut |_| {},
    );
    assert!(matches!(
        limit,
        Err(TransformError::ApiError { code: Some(4), ref message, .. }) if message == "Application request limit reached"
    ));
    let token = t.v4_images_page(&read("josm-internal_server_error.json"), &mut |_| {});
    assert!(matches!(
        token,
        Err(TransformError::ApiError {
            code: Some(190),
            ..
        })
    ));
    let user = t.v4_images_page(&read("josm-104214208486349.json"), &mut |_| {});
    assert!(matches!(user, Err(TransformError::NotV4Response { .. })));
}
