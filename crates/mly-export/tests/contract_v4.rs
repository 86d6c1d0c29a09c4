//! The v4 contract (issue 13): the client asks only for fields of the documented Image node;
//! the mock refuses every other name with the live API's own error; and every recorded v4
//! response (tests/fixtures/v4, real Mapillary data) parses into the same records as the
//! mock's answer for the same images, fetched by the real client over HTTP.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;

use fetch::{FetchConfig, NoReporter, Query, QueryResource, Secret};
use mock_api::{ACCESS_TOKEN, MockConfig, MockImage, MockSequence, MockServer, MockUser, World};
use model::{Api, Area, DateRange, Image, Sequence};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use transform::{Record, TransformConfig, Transformer};

/// The Image node's fields, the complete list of the API documentation (`detections` is a
/// connection). Written down here, independently of the client and of the mock.
const DOCUMENTED_FIELDS: [&str; 29] = [
    "id",
    "altitude",
    "atomic_scale",
    "camera_parameters",
    "camera_type",
    "captured_at",
    "compass_angle",
    "computed_altitude",
    "computed_compass_angle",
    "computed_geometry",
    "computed_rotation",
    "creator",
    "exif_orientation",
    "geometry",
    "height",
    "is_pano",
    "make",
    "model",
    "thumb_256_url",
    "thumb_1024_url",
    "thumb_2048_url",
    "thumb_original_url",
    "merge_cc",
    "mesh",
    "quality_score",
    "sequence",
    "sfm_cluster",
    "width",
    "detections",
];

/// `/images` search parameters that are no Image fields.
const PARAMETERS_ONLY: [&str; 7] = [
    "organization_id",
    "sequence_id",
    "creator_username",
    "start_captured_at",
    "end_captured_at",
    "bbox",
    "limit",
];

/// What the client asked for before issue 13, refused by the live API.
const OLD_CLIENT_FIELDS: &str =
    "id,geometry,captured_at,compass_angle,sequence,creator,make,model,is_pano,organization_id";

/// The recorded image entities and the sequence both belong to.
const RECORDED_IMAGES: [&str; 2] = ["josm-148137757289079.json", "josm-338231874314914.json"];
const RECORDED_SEQUENCE: &str = "7nfcwfvjdtphz7yj6zat6a";

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/v4")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// One GET with the mock's token on a fresh connection: status and JSON body.
fn get(addr: SocketAddr, target: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: OAuth {ACCESS_TOKEN}\r\n\
         Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    let text = String::from_utf8(reply).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap())
}

fn v4_config(base: &str, cache: &Path) -> FetchConfig {
    FetchConfig::new(
        Api::V4,
        base.parse().unwrap(),
        Secret::new(ACCESS_TOKEN.to_owned()),
        cache.to_owned(),
    )
}

/// The `fields=` of every request the client plans for image and sequence queries with every
/// filter a job can set.
fn client_fields() -> BTreeSet<String> {
    let tmp = tempfile::tempdir().unwrap();
    let config = v4_config("https://graph.mapillary.com", tmp.path());
    let area = Area::Bbox([-113.99, 46.85, -113.98, 46.86]);
    let mut images = Query::new("images", QueryResource::Images, area);
    images.usernames = vec!["chrisbeddow".into()];
    images.pano = Some(false);
    images.date_range = Some(DateRange {
        start_ms: 1_459_123_200_000,
        end_ms: 1_490_659_200_000,
    });
    let sequences = Query::new("sequences", QueryResource::Sequences, area);
    let plan = fetch::plan(&config, &[images, sequences]);
    let lines = plan.lines();
    assert!(lines.len() >= 2, "{lines:?}");
    let mut fields = BTreeSet::new();
    for line in &lines {
        let (_, rest) = line
            .split_once("fields=")
            .unwrap_or_else(|| panic!("no fields in {line}"));
        let list = rest.split(['&', ' ']).next().unwrap();
        fields.extend(list.split(',').map(str::to_owned));
    }
    fields
}

#[test]
fn the_client_asks_only_for_documented_image_fields() {
    let fields = client_fields();
    for field in &fields {
        assert!(
            DOCUMENTED_FIELDS.contains(&field.as_str()),
            "the client asks for `{field}`, which is not an Image field"
        );
        assert!(!PARAMETERS_ONLY.contains(&field.as_str()), "{field}");
    }
    // What the exported columns need, and nothing the live API refuses.
    for needed in [
        "id",
        "geometry",
        "captured_at",
        "compass_angle",
        "sequence",
        "creator",
        "make",
        "model",
        "is_pano",
        "computed_geometry",
        "computed_compass_angle",
    ] {
        assert!(
            fields.contains(needed),
            "{needed} is not asked for: {fields:?}"
        );
    }
}

#[test]
fn a_client_asking_for_a_field_outside_the_list_fails_against_the_mock() {
    let server = MockServer::start_blocking(MockConfig::default(), 0).unwrap();
    let addr = server.addr();
    let bbox = "-113.98937,46.85699,-113.98002,46.86501";
    let recorded = fixture("josm-application_request_limit_reached.json");
    let refused = |field: &str, target: String| {
        let (status, body) = get(addr, &target);
        assert_eq!(status, 400, "{target}: {body}");
        let error = &body["error"];
        assert_eq!(
            error["message"],
            format!("Tried accessing nonexisting field ({field}) on node type (Image)"),
            "{target}"
        );
        assert_eq!(error["code"], 100);
        assert_eq!(error["type"], "MLYApiException");
        assert_eq!(error["is_transient"], false);
        // The envelope of the API's recorded errors, member for member.
        let members = |v: &Value| {
            v.as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(members(error), members(&recorded["error"]));
    };
    // The request the client made before: the whole request fails.
    refused(
        "organization_id",
        format!("/images?bbox={bbox}&fields={OLD_CLIENT_FIELDS}&limit=2000"),
    );
    // Every search parameter and a few believable names are no fields either.
    for field in PARAMETERS_ONLY
        .into_iter()
        .chain(["organization_key", "user_key", "ca", "url"])
    {
        refused(field, format!("/images?bbox={bbox}&fields=id,{field}"));
    }
    // No documented field is called nonexisting (the mock serves it or says it does not).
    for field in DOCUMENTED_FIELDS {
        let (status, body) = get(addr, &format!("/images?bbox={bbox}&fields=id,{field}"));
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            status == 200 || message.contains("not served by the mock"),
            "{field}: {status} {body}"
        );
    }
    // Today's client fields are served.
    let fields: Vec<String> = client_fields().into_iter().collect();
    let (status, body) = get(
        addr,
        &format!("/images?bbox={bbox}&fields={}&limit=2000", fields.join(",")),
    );
    assert_eq!(status, 200, "{body}");
    assert!(!body["data"].as_array().unwrap().is_empty());
}

/// A mock world holding exactly the recorded images, with their recorded values.
fn world_of_the_recordings() -> World {
    let user = MockUser {
        key: "104214208486349".into(),
        username: "vorpalblade".into(),
    };
    let images: Vec<MockImage> = RECORDED_IMAGES
        .iter()
        .map(|name| {
            let r = fixture(name);
            let point = |v: &Value| [v[0].as_f64().unwrap(), v[1].as_f64().unwrap()];
            let [lon, lat] = point(&r["geometry"]["coordinates"]);
            MockImage {
                key: r["id"].as_str().unwrap().to_owned(),
                lon,
                lat,
                ca: r["compass_angle"].as_f64(),
                captured_at_ms: r["captured_at"].as_i64().unwrap(),
                camera_make: None,
                camera_model: None,
                pano: false,
                sequence_key: r["sequence"].as_str().unwrap().to_owned(),
                user_key: user.key.clone(),
                username: user.username.clone(),
                organization_key: None,
                computed_position: Some(point(&r["computed_geometry"]["coordinates"])),
                computed_ca: r["computed_compass_angle"].as_f64(),
            }
        })
        .collect();
    World {
        sequences: vec![MockSequence {
            key: RECORDED_SEQUENCE.into(),
            user_key: user.key.clone(),
            camera_make: None,
            pano: false,
            created_at_ms: 0,
            images,
            broken_coordinate_properties: false,
        }],
        users: vec![user],
        map_features: Vec::new(),
    }
}

/// Images and sequences out of a transformer.
#[derive(Debug, Default)]
struct Records {
    images: Vec<Image>,
    sequences: Vec<Sequence>,
}

impl Records {
    fn sink(&mut self) -> impl FnMut(Record) + '_ {
        |record| match record {
            Record::Image(i) => self.images.push(i),
            Record::Sequence(s) => self.sequences.push(s),
            Record::MapFeature(m) => panic!("an image page holds no map features: {m:?}"),
        }
    }

    /// The recordings carry no `creator` and no `is_pano`: the mock's values of those go.
    fn without_creator_and_pano(mut self) -> Records {
        for image in &mut self.images {
            (image.user_key, image.username, image.pano) = (None, None, None);
        }
        for sequence in &mut self.sequences {
            (sequence.user_key, sequence.pano) = (None, None);
        }
        self
    }
}

fn transformer() -> Transformer {
    Transformer::new(TransformConfig {
        api: Api::V4,
        ..TransformConfig::default()
    })
}

/// The recordings, each as the one item of an `/images` page: images, and their sequence
/// assembled from those pages.
fn recorded_records() -> Records {
    let pages: Vec<Vec<u8>> = RECORDED_IMAGES
        .iter()
        .map(|name| serde_json::to_vec(&json!({ "data": [fixture(name)] })).unwrap())
        .collect();
    let mut records = Records::default();
    let mut t = transformer();
    for page in &pages {
        t.v4_images_page(page, &mut records.sink()).unwrap();
    }
    t.v4_sequence(&pages, &mut records.sink()).unwrap();
    assert!(t.report().rejected.is_empty(), "{:?}", t.report().rejected);
    records
}

/// The same images fetched from the mock by the real client: an area search, then the
/// sequence by id.
fn mock_records(server: &MockServer) -> Records {
    let tmp = tempfile::tempdir().unwrap();
    let config = v4_config(&server.v4_url(), tmp.path());
    let area = Area::Bbox([-108.5712, 39.0655, -108.5704, 39.0686]);
    let plan = fetch::plan(
        &config,
        &[Query::new("recorded", QueryResource::Images, area)],
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cancel = CancellationToken::new();
    let mut session = fetch::Session::start(&config).unwrap();
    let fetched = runtime
        .block_on(session.fetch(&plan, &NoReporter, &cancel))
        .unwrap();
    let sequences = runtime
        .block_on(session.fetch_v4_sequences(&[RECORDED_SEQUENCE.to_owned()], &NoReporter, &cancel))
        .unwrap();
    let mut records = Records::default();
    let mut t = transformer();
    for page in &fetched.images {
        t.v4_images_page(&page.read().unwrap(), &mut records.sink())
            .unwrap();
    }
    for group in &sequences {
        let pages: Vec<Vec<u8>> = group.iter().map(|p| p.read().unwrap()).collect();
        t.v4_sequence(&pages, &mut records.sink()).unwrap();
    }
    assert!(t.report().rejected.is_empty(), "{:?}", t.report().rejected);
    records
}

#[test]
fn recorded_v4_responses_parse_into_the_same_records_as_the_mocks() {
    let config = MockConfig {
        world: Arc::new(world_of_the_recordings()),
        ..MockConfig::default()
    };
    let server = MockServer::start_blocking(config, 0).unwrap();
    let recorded = recorded_records();
    let mocked = mock_records(&server);
    assert_eq!(recorded.images.len(), 2);
    assert_eq!(recorded.sequences.len(), 1);
    // What the recordings hold, read from the live API's bytes.
    let first = &recorded.images[0];
    assert_eq!(first.key, "148137757289079");
    assert_eq!(
        first.computed_position,
        Some([-108.57077016445, 39.065738749246])
    );
    assert_eq!(first.computed_ca, Some(359.18081230616));
    assert_eq!(
        first.url.as_deref(),
        Some("https://www.mapillary.com/app/?pKey=148137757289079")
    );
    assert_eq!(first.organization_key, None);
    assert_eq!((first.user_key.as_deref(), first.pano), (None, None));
    assert_eq!(
        recorded.sequences[0].url.as_deref(),
        Some("https://www.mapillary.com/app/?pKey=148137757289079")
    );
    // The mock's answer to the client, read by the same code, is the same records.
    let mocked = mocked.without_creator_and_pano();
    assert_eq!(mocked.images, recorded.images);
    assert_eq!(mocked.sequences, recorded.sequences);

    // `/image_ids`: the recorded listing's shape, and the mock's order is the recording's.
    let listing = fixture("josm-image_ids-7nfcwfvjdtphz7yj6zat6a.json");
    let (status, body) = get(
        server.addr(),
        &format!("/image_ids?sequence_id={RECORDED_SEQUENCE}"),
    );
    assert_eq!(status, 200);
    let ids = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                assert_eq!(item.as_object().unwrap().len(), 1, "{item}");
                item["id"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    let recorded_order = ids(&listing);
    let mock_order = ids(&body);
    assert_eq!(mock_order, ["148137757289079", "338231874314914"]);
    let position = |id: &String| recorded_order.iter().position(|r| r == id).unwrap();
    assert!(position(&mock_order[0]) < position(&mock_order[1]));
}
