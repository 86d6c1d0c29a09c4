//! v4 `/map_features` over real HTTP: the documented fields only, unknown fields and parameters
//! refused with the API's error, `limit` strict, `object_values`, both timestamp forms, and a
//! world with a dense spot and features on the demo box's edges.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;

use common::{Reply, get_with, in_bbox};
use mock_api::{DEMO_CAMPUS_BBOX, DENSE_SPOT_FEATURES, MockConfig, MockServer, World};
use serde_json::Value;

const AUTH: &str = "Authorization: OAuth MLY|mock|token";
const FIELDS: &str = "id,geometry,object_value,object_type,first_seen_at,last_seen_at,images";

fn campus() -> String {
    let b = DEMO_CAMPUS_BBOX;
    format!("{},{},{},{}", b[0], b[1], b[2], b[3])
}

fn get(addr: SocketAddr, query: &str) -> Reply {
    get_with(addr, &format!("/map_features?{query}"), &[AUTH])
}

fn error(reply: &Reply) -> (u16, i64, String) {
    let body = reply.json();
    (
        reply.status,
        body["error"]["code"].as_i64().unwrap(),
        body["error"]["message"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn serves_the_documented_fields_and_refuses_everything_else() {
    let server = MockServer::start_blocking(MockConfig::default(), 0).unwrap();
    let addr = server.addr();
    let reply = get(
        addr,
        &format!("bbox={}&fields={FIELDS}&limit=2000", campus()),
    );
    assert_eq!(reply.status, 200);
    let data = reply.json()["data"].as_array().unwrap().clone();
    // The dense spot alone holds more than the limit: the cell is full.
    assert_eq!(data.len(), 2000);
    let b = DEMO_CAMPUS_BBOX;
    let mut ms = 0;
    let mut text = BTreeSet::new();
    for f in &data {
        let c = &f["geometry"]["coordinates"];
        assert!(in_bbox(b, c[0].as_f64().unwrap(), c[1].as_f64().unwrap()));
        assert!(f["id"].is_string() && f["object_value"].is_string());
        assert!(f["images"]["data"].as_array().unwrap().len() <= 3);
        for t in [&f["first_seen_at"], &f["last_seen_at"]] {
            match t {
                Value::Number(_) => ms += 1,
                Value::String(s) => {
                    text.insert(&s[s.len() - 5..] == "+0000");
                }
                _ => {}
            }
        }
    }
    assert!(ms > 0 && text.len() == 2, "{ms} {text:?}");
    // Only `id` unless listed.
    let bare = get(addr, &format!("bbox={}&limit=3", campus())).json();
    assert_eq!(bare["data"][0].as_object().unwrap().len(), 1);

    for (query, message) in [
        (
            format!("bbox={}&fields=id,captured_at", campus()),
            "Tried accessing nonexisting field (captured_at) on node type (MapFeature)",
        ),
        (
            format!("bbox={}&start_captured_at=2016-01-01", campus()),
            "Tried using nonexisting parameter (start_captured_at) on this endpoint",
        ),
        (
            format!("bbox={}&limit=2001", campus()),
            "invalid value for parameter `limit`: \"2001\" (expected a whole number from 1 to the maximum)",
        ),
        ("fields=id".to_owned(), "missing parameter: bbox"),
        (
            "bbox=0,0,0.2,0.2".to_owned(),
            "bbox area 0.04000000000000001 sq deg is too large: must be under 0.01 sq deg",
        ),
    ] {
        assert_eq!(
            error(&get(addr, &query)),
            (400, 100, message.to_owned()),
            "{query}"
        );
    }
    let anonymous = get_with(addr, &format!("/map_features?bbox={}", campus()), &[]);
    assert_eq!(error(&anonymous).1, 190);
    assert_eq!(server.stats().requests_to("/map_features"), 8);
}

#[test]
fn object_values_select_and_the_world_has_what_the_tests_need() {
    let world = World::demo();
    let server = MockServer::start_blocking(MockConfig::default(), 0).unwrap();
    let reply = get(
        server.addr(),
        &format!(
            "bbox={}&fields=id,object_value&object_values=regulatory--stop--g1,object--fire-hydrant",
            campus()
        ),
    );
    let got: BTreeSet<String> = reply.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect();
    let b = DEMO_CAMPUS_BBOX;
    let want: BTreeSet<String> = world
        .map_features
        .iter()
        .filter(|f| in_bbox(b, f.lon, f.lat))
        .filter(|f| {
            ["regulatory--stop--g1", "object--fire-hydrant"].contains(&f.object_value.as_str())
        })
        .map(|f| f.id.clone())
        .collect();
    assert!(want.len() > 10);
    assert_eq!(got, want);

    // Both types, several values, missing fields, features on the box's edges, the dense spot.
    let types: BTreeSet<_> = world
        .map_features
        .iter()
        .filter_map(|f| f.object_type.as_deref())
        .collect();
    assert_eq!(types, BTreeSet::from(["point", "traffic_sign"]));
    let values: BTreeSet<_> = world
        .map_features
        .iter()
        .map(|f| f.object_value.as_str())
        .collect();
    assert_eq!(values.len(), 10);
    assert!(world.map_features.iter().any(|f| f.object_type.is_none()));
    assert!(
        world
            .map_features
            .iter()
            .any(|f| f.first_seen_at_ms.is_none())
    );
    assert!(
        world
            .map_features
            .iter()
            .any(|f| f.last_seen_at_ms.is_none())
    );
    let on_edge = world
        .map_features
        .iter()
        .filter(|f| f.lon == b[0] || f.lon == b[2] || f.lat == b[1] || f.lat == b[3])
        .count();
    assert!(on_edge >= 8, "{on_edge}");
    let in_box = world
        .map_features
        .iter()
        .filter(|f| in_bbox(b, f.lon, f.lat))
        .count();
    assert!(in_box > DENSE_SPOT_FEATURES);
    // The same seed gives the same features; ids are unique.
    assert_eq!(world.map_features, World::demo().map_features);
    let ids: BTreeSet<_> = world.map_features.iter().map(|f| &f.id).collect();
    assert_eq!(ids.len(), world.map_features.len());
}
