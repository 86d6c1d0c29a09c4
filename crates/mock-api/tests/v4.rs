//! v4 over real HTTP: fields, limits, paging, image_ids, auth and the error envelope.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeSet, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;

use common::{MONTANA, Reply, TUTORIAL_YEAR, get, get_with, in_bbox};
use mock_api::{ACCESS_TOKEN, MockConfig, MockServer, World};
use serde_json::Value;

const AUTH: &str = "Authorization: OAuth MLY|mock|token";
/// Every field the mock serves.
const ALL_FIELDS: &str = "id,geometry,captured_at,compass_angle,sequence,creator,make,model,\
    is_pano,computed_geometry,computed_compass_angle";

fn montana_bbox() -> String {
    let b = MONTANA;
    format!("{},{},{},{}", b[0], b[1], b[2], b[3])
}

fn v4(addr: SocketAddr, target: &str) -> Reply {
    get_with(addr, target, &[AUTH])
}

fn data(reply: &Reply) -> Vec<Value> {
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()["data"].as_array().unwrap().clone()
}

fn key_set(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A JSON value's shape: its kind, and for objects and arrays the shapes inside (an array by
/// the shape of its first item).
fn shape(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(n) if n.is_f64() => "float".into(),
        Value::Number(_) => "integer".into(),
        Value::String(_) => "string".into(),
        Value::Array(items) => format!("[{}]", items.first().map_or("".into(), shape)),
        Value::Object(members) => {
            let inner: Vec<String> = members
                .iter()
                .map(|(k, v)| format!("{k}: {}", shape(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

/// Follows `paging.next`; returns the ids in order.
fn follow(addr: SocketAddr, target: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut next = Some(target.to_owned());
    while let Some(target) = next {
        let reply = v4(addr, &target);
        ids.extend(
            data(&reply)
                .iter()
                .map(|d| d["id"].as_str().unwrap().to_owned()),
        );
        next = reply.json()["paging"]["next"].as_str().map(|url| {
            let prefix = format!("http://{addr}");
            assert!(url.starts_with(&prefix), "{url}");
            url[prefix.len()..].to_owned()
        });
        assert!(ids.len() < 100_000);
    }
    ids
}

#[test]
fn fields_select_what_comes_back_and_none_values_are_absent() {
    let world = World::demo();
    let server = MockServer::start_blocking(MockConfig::default(), 0).unwrap();
    let addr = server.addr();
    let items = data(&v4(
        addr,
        &format!("/images?bbox={}&fields={ALL_FIELDS}", montana_bbox()),
    ));
    let truth: Vec<_> = world
        .images()
        .filter(|i| in_bbox(MONTANA, i.lon, i.lat))
        .collect();
    assert_eq!(items.len(), truth.len());
    let (mut saw_missing_make, mut saw_unplaced) = (false, false);
    for item in &items {
        let image = truth.iter().find(|i| item["id"] == i.key.as_str()).unwrap();
        assert_eq!(item["geometry"]["coordinates"][0].as_f64(), Some(image.lon));
        assert_eq!(item["captured_at"].as_i64(), Some(image.captured_at_ms));
        assert_eq!(item["compass_angle"].as_f64(), image.ca);
        assert_eq!(item["sequence"], image.sequence_key.as_str());
        assert_eq!(item["creator"]["id"], image.user_key.as_str());
        assert_eq!(item["creator"]["username"], image.username.as_str());
        assert_eq!(item["make"].as_str(), image.camera_make.as_deref());
        assert_eq!(item["model"].as_str(), image.camera_model.as_deref());
        assert_eq!(item["is_pano"].as_bool(), Some(image.pano));
        assert_eq!(item["computed_compass_angle"].as_f64(), image.computed_ca);
        match image.computed_position {
            Some(p) => assert_eq!(
                item["computed_geometry"],
                serde_json::json!({"type": "Point", "coordinates": p})
            ),
            None => {
                assert!(item.get("computed_geometry").is_none());
                saw_unplaced = true;
            }
        }
        if image.camera_make.is_none() {
            assert!(item.get("make").is_none());
            saw_missing_make = true;
        }
    }
    assert!(saw_missing_make && saw_unplaced);
    let ids_only = data(&v4(addr, &format!("/images?bbox={}", montana_bbox())));
    assert!(
        ids_only
            .iter()
            .all(|i| key_set(i) == BTreeSet::from(["id".to_owned()]))
    );
    let some = data(&v4(
        addr,
        &format!("/images?bbox={}&fields=id,captured_at", montana_bbox()),
    ));
    assert_eq!(
        key_set(&some[0]),
        BTreeSet::from(["id".to_owned(), "captured_at".to_owned()])
    );
}

#[test]
fn the_error_envelope_reports_bad_fields_big_boxes_and_missing_filters() {
    let server = MockServer::start_blocking(MockConfig::default(), 0).unwrap();
    let addr = server.addr();
    let fixture = fixture("josm-application_request_limit_reached.json");
    let bbox = montana_bbox();
    for (target, message) in [
        // What the live API answers the old client's field list: not an Image field.
        (
            format!("/images?bbox={bbox}&fields={ALL_FIELDS},organization_id"),
            Some("Tried accessing nonexisting field (organization_id) on node type (Image)"),
        ),
        // Search parameters are no fields either.
        (
            format!("/images?bbox={bbox}&fields=id,creator_username"),
            Some("Tried accessing nonexisting field (creator_username) on node type (Image)"),
        ),
        (
            format!("/images?bbox={bbox}&fields=id,thumb_256_url"),
            Some(
                "Field (thumb_256_url) of node type (Image) is documented but not served by \
                 the mock API",
            ),
        ),
        (
            format!("/images?bbox={bbox}&per_page=10"),
            Some("Tried using nonexisting parameter (per_page) on this endpoint"),
        ),
        (
            format!("/images?bbox={bbox}&camera_type=fisheye"),
            Some("Parameter (camera_type) is documented but not served by the mock API"),
        ),
        (
            "/image_ids?sequence_id=x&fields=id".to_owned(),
            Some("Tried using nonexisting parameter (fields) on this endpoint"),
        ),
        ("/images?bbox=-114.1,46.8,-113.9,46.9".to_owned(), None),
        ("/images?fields=id".to_owned(), None),
        ("/images?bbox=1,2,3".to_owned(), None),
        (format!("/images?bbox={bbox}&limit=0"), None),
        ("/image_ids".to_owned(), None),
    ] {
        let reply = v4(addr, &target);
        assert_eq!(reply.status, 400, "{target}");
        let body = reply.json();
        assert_eq!(
            key_set(&body["error"]),
            key_set(&fixture["error"]),
            "{target}"
        );
        assert_eq!(body["error"]["code"], 100);
        assert_eq!(body["error"]["type"], "MLYApiException");
        assert_eq!(body["error"]["is_transient"], false);
        if let Some(message) = message {
            assert_eq!(body["error"]["message"], message, "{target}");
        }
    }
    // Just under the area limit is fine.
    let reply = v4(addr, "/images?bbox=-114.0,46.8,-113.9,46.8999");
    assert_eq!(reply.status, 200);
}

#[test]
fn served_fields_have_the_recorded_entities_shapes() {
    let server = MockServer::start_blocking(MockConfig::default(), 0).unwrap();
    let items = data(&v4(
        server.addr(),
        &format!("/images?bbox={}&fields={ALL_FIELDS}", montana_bbox()),
    ));
    // An image with every field, as in the recordings.
    let full = items
        .iter()
        .find(|i| key_set(i).len() == ALL_FIELDS.split(',').count())
        .unwrap();
    let mut compared = 0;
    for name in ["josm-148137757289079.json", "josm-338231874314914.json"] {
        let recorded = fixture(name);
        for field in ALL_FIELDS.split(',') {
            if let Some(value) = recorded.get(field) {
                assert_eq!(shape(&full[field]), shape(value), "{name}: {field}");
                compared += 1;
            }
        }
    }
    // id, geometry, captured_at, compass_angle, sequence and the two computed fields.
    assert_eq!(compared, 2 * 7);
}

#[test]
fn bbox_search_returns_at_most_limit_without_paging() {
    let config = MockConfig {
        v4_max_limit: 50,
        ..MockConfig::default()
    };
    let server = MockServer::start_blocking(config, 0).unwrap();
    let addr = server.addr();
    for (limit, expected) in [("&limit=10", 10), ("", 50), ("&limit=5000", 50)] {
        let reply = v4(addr, &format!("/images?bbox={}{limit}", montana_bbox()));
        assert_eq!(data(&reply).len(), expected, "{limit}");
        assert!(reply.json().get("paging").is_none(), "{limit}");
    }
}

#[test]
fn creator_username_pages_through_every_image_of_the_user() {
    let world = World::demo();
    let server = MockServer::start_blocking(MockConfig::default(), 0).unwrap();
    let name = "O'Brien, \"Bob\"";
    let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
    let ids = follow(
        server.addr(),
        &format!("/images?creator_username={encoded}&limit=100"),
    );
    let truth: HashSet<&str> = world
        .images()
        .filter(|i| i.username == name)
        .map(|i| i.key.as_str())
        .collect();
    assert!(truth.len() > 100, "the test needs several pages");
    assert_eq!(ids.len(), truth.len());
    assert_eq!(
        ids.iter().map(String::as_str).collect::<HashSet<_>>(),
        truth
    );
    // With dates (ISO) and is_pano.
    let ids = follow(
        server.addr(),
        "/images?creator_username=chrisbeddow&start_captured_at=2016-03-28T00:00:00Z\
         &end_captured_at=2017-03-28&is_pano=false&limit=100",
    );
    let truth: HashSet<&str> = world
        .images()
        .filter(|i| {
            i.username == "chrisbeddow"
                && !i.pano
                && (TUTORIAL_YEAR.0..TUTORIAL_YEAR.1).contains(&i.captured_at_ms)
        })
        .map(|i| i.key.as_str())
        .collect();
    assert!(!truth.is_empty());
    assert_eq!(
        ids.iter().map(String::as_str).collect::<HashSet<_>>(),
        truth
    );
}

#[test]
fn sequence_id_pages_in_capture_order_and_image_ids_agree() {
    let world = World::demo();
    let server = MockServer::start_blocking(MockConfig::default(), 0).unwrap();
    let sequence = world
        .sequences
        .iter()
        .find(|s| s.images.len() > 30)
        .unwrap();
    let expected: Vec<&str> = sequence.images.iter().map(|i| i.key.as_str()).collect();
    let paged = follow(
        server.addr(),
        &format!(
            "/images?sequence_id={}&limit=7&fields=id,sequence",
            sequence.key
        ),
    );
    assert_eq!(paged, expected);
    let ids = v4(
        server.addr(),
        &format!("/image_ids?sequence_id={}", sequence.key),
    );
    let ids: Vec<String> = data(&ids)
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, expected);
    let unknown = v4(server.addr(), "/image_ids?sequence_id=nope");
    assert!(data(&unknown).is_empty());
}

#[test]
fn make_model_and_organization_filter_exactly() {
    let world = World::demo();
    let server = MockServer::start_blocking(MockConfig::default(), 0).unwrap();
    let org = world
        .images()
        .find_map(|i| i.organization_key.clone())
        .unwrap();
    let image = world
        .images()
        .find(|i| i.organization_key.as_ref() == Some(&org))
        .unwrap();
    let creator: String = url::form_urlencoded::byte_serialize(image.username.as_bytes()).collect();
    let make: String = url::form_urlencoded::byte_serialize(
        image.camera_make.as_deref().unwrap_or("Apple").as_bytes(),
    )
    .collect();
    let ids = follow(
        server.addr(),
        &format!("/images?creator_username={creator}&organization_id={org}&make={make}"),
    );
    let truth: HashSet<&str> = world
        .images()
        .filter(|i| {
            i.username == image.username
                && i.organization_key.as_ref() == Some(&org)
                && i.camera_make.as_deref() == Some(image.camera_make.as_deref().unwrap_or("Apple"))
        })
        .map(|i| i.key.as_str())
        .collect();
    assert_eq!(
        ids.iter().map(String::as_str).collect::<HashSet<_>>(),
        truth
    );
}

#[test]
fn a_wrong_or_missing_token_is_refused_with_code_190() {
    let config = MockConfig {
        world: Arc::new(World::dense([0.0, 0.0], 100, 1)),
        ..MockConfig::default()
    };
    let server = MockServer::start_blocking(config, 0).unwrap();
    let addr = server.addr();
    for reply in [
        get(addr, "/images?bbox=-0.01,-0.01,0.01,0.01"),
        get_with(
            addr,
            "/images?bbox=-0.01,-0.01,0.01,0.01",
            &["Authorization: OAuth MLY|wrong"],
        ),
        get(addr, "/image_ids?sequence_id=x&access_token=MLY%7Cwrong"),
        get_with(
            addr,
            "/image_ids?sequence_id=x",
            &[&format!("Authorization: Basic {ACCESS_TOKEN}")],
        ),
    ] {
        assert_eq!(reply.status, 401);
        let error = &reply.json()["error"];
        let recorded = fixture("josm-internal_server_error.json");
        assert_eq!(key_set(error), key_set(&recorded["error"]));
        for member in ["code", "type", "message", "error_data"] {
            assert_eq!(error[member], recorded["error"][member], "{member}");
        }
    }
    let by_param = get(
        addr,
        "/images?bbox=-0.01,-0.01,0.01,0.01&access_token=MLY%7Cmock%7Ctoken",
    );
    assert_eq!(data(&by_param).len(), 100);
}
