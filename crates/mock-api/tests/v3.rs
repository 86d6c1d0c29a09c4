//! v3 over real HTTP: filters, pagination, the cap, errors, wire shapes.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeSet, HashSet};
use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;

use common::{
    CSU, MONTANA, TUTORIAL_YEAR, UW, bearing, follow_v3, get, get_with, haversine, in_bbox, raw,
    read_reply,
};
use mock_api::{CLIENT_ID, MockConfig, MockImage, MockServer, World};
use serde_json::Value;

/// Which images a query should return.
type Truth = Box<dyn Fn(&MockImage) -> bool>;

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn bbox_param(b: [f64; 4]) -> String {
    format!("{},{},{},{}", b[0], b[1], b[2], b[3])
}

fn keys_of(pages: &[Vec<Value>]) -> Vec<String> {
    pages
        .iter()
        .flatten()
        .map(|f| f["properties"]["key"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn link_chains_return_every_match_once_for_every_filter() {
    let world = World::demo();
    let server = MockServer::start_blocking(MockConfig::default(), 0).unwrap();
    let addr = server.addr();
    let users = &world.users;
    let key_of = |name: &str| &users.iter().find(|u| u.username == name).unwrap().key;
    let natfoot = key_of("natfoot").clone();
    let cases: Vec<(String, Truth)> = vec![
        (
            format!("bbox={}", bbox_param(MONTANA)),
            Box::new(|i| in_bbox(MONTANA, i.lon, i.lat)),
        ),
        (
            "closeto=-122.3079,47.6537&radius=200".to_owned(),
            Box::new(|i| haversine(UW, [i.lon, i.lat]) <= 200.0),
        ),
        (
            "closeto=-113.984695,46.861".to_owned(),
            Box::new(|i| haversine([-113.984695, 46.861], [i.lon, i.lat]) <= 100.0),
        ),
        (
            format!(
                "bbox={}&start_time=2016-03-28&end_time=2017-03-28T00:00:00Z",
                bbox_param(MONTANA)
            ),
            Box::new(|i| {
                in_bbox(MONTANA, i.lon, i.lat)
                    && (TUTORIAL_YEAR.0..TUTORIAL_YEAR.1).contains(&i.captured_at_ms)
            }),
        ),
        (
            format!(
                "usernames=chrisbeddow,{}&userkeys={natfoot}",
                enc("東京マッパー")
            ),
            Box::new(move |i| {
                ["chrisbeddow", "東京マッパー", "natfoot"].contains(&i.username.as_str())
            }),
        ),
        (
            format!("bbox={}&pano=true", bbox_param(CSU)),
            Box::new(|i| in_bbox(CSU, i.lon, i.lat) && i.pano),
        ),
        (
            "start_time=1970-01-01&end_time=1970-01-02".to_owned(),
            Box::new(|i| i.captured_at_ms < 86_400_000),
        ),
        (
            "pano=false&closeto=-122.3079,47.6537&radius=300".to_owned(),
            Box::new(|i| !i.pano && haversine(UW, [i.lon, i.lat]) <= 300.0),
        ),
        (
            "closeto=-122.3079,47.6537&radius=400&lookat=-122.3079,47.6537".to_owned(),
            Box::new(|i| {
                let p = [i.lon, i.lat];
                haversine(UW, p) <= 400.0
                    && (i.pano
                        || i.ca.is_some_and(|ca| {
                            let d = (bearing(p, UW) - ca).rem_euclid(360.0);
                            d.min(360.0 - d) <= 30.0
                        }))
            }),
        ),
    ];
    for (query, truth) in cases {
        let target = format!("/v3/images?client_id={CLIENT_ID}&per_page=97&{query}");
        let pages = follow_v3(addr, &target);
        let keys = keys_of(&pages);
        let unique: HashSet<&String> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len(), "{query}: a key came twice");
        let expected: HashSet<&String> = world
            .images()
            .filter(|i| truth(i))
            .map(|i| &i.key)
            .collect();
        assert!(!expected.is_empty(), "{query}: the test needs matches");
        assert_eq!(unique, expected, "{query}");
        assert_eq!(pages.len(), expected.len().div_ceil(97), "{query}");
        let times: Vec<&str> = pages
            .iter()
            .flatten()
            .map(|f| f["properties"]["captured_at"].as_str().unwrap())
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "{query}: not in capture order"
        );
    }
}

#[test]
fn default_radius_is_100_m_and_the_tutorials_point_has_nothing_that_close() {
    let server = MockServer::start_blocking(MockConfig::default(), 0).unwrap();
    let pages = follow_v3(
        server.addr(),
        &format!("/v3/images?client_id={CLIENT_ID}&closeto=-122.3079,47.6537"),
    );
    assert_eq!(pages.len(), 1);
    assert!(pages[0].is_empty());
}

#[test]
fn image_features_carry_the_worlds_values() {
    let world = World::demo();
    let server = MockServer::start_blocking(MockConfig::default(), 0).unwrap();
    let pages = follow_v3(
        server.addr(),
        &format!("/v3/images?client_id={CLIENT_ID}&per_page=1000"),
    );
    let features: Vec<&Value> = pages.iter().flatten().collect();
    assert_eq!(features.len(), world.images().count());
    let epoch = features
        .iter()
        .find(|f| f["properties"]["captured_at"] == "1970-01-01T00:00:00.000Z")
        .unwrap();
    let key = epoch["properties"]["key"].as_str().unwrap();
    let image = world.images().find(|i| i.key == key).unwrap();
    assert_eq!(
        epoch["geometry"]["coordinates"][0].as_f64(),
        Some(image.lon)
    );
    assert_eq!(
        epoch["geometry"]["coordinates"][1].as_f64(),
        Some(image.lat)
    );
    assert_eq!(epoch["properties"]["ca"].as_f64(), image.ca);
    let no_ca = features
        .iter()
        .filter(|f| f["properties"].get("ca").is_none())
        .count();
    assert_eq!(no_ca, world.images().filter(|i| i.ca.is_none()).count());
    let quoted = features
        .iter()
        .find(|f| f["properties"]["username"] == "O'Brien, \"Bob\"");
    assert!(quoted.is_some());
}

#[test]
fn result_cap_cuts_a_query_to_its_first_matches() {
    let world = World::dense([-113.98, 46.86], 5000, 3);
    let config = MockConfig {
        world: Arc::new(world),
        result_cap: 500,
        ..MockConfig::default()
    };
    let server = MockServer::start_blocking(config, 0).unwrap();
    let all = follow_v3(
        server.addr(),
        &format!("/v3/images?client_id={CLIENT_ID}&per_page=200"),
    );
    let sizes: Vec<usize> = all.iter().map(Vec::len).collect();
    assert_eq!(sizes, [200, 200, 100]);
    // The same first 500 whatever the page size.
    let again = follow_v3(
        server.addr(),
        &format!("/v3/images?client_id={CLIENT_ID}&per_page=1000"),
    );
    assert_eq!(keys_of(&all), keys_of(&again));
    let sequences = follow_v3(
        server.addr(),
        &format!("/v3/sequences?client_id={CLIENT_ID}&per_page=1000"),
    );
    assert!(sequences[0].len() <= 500);
}

#[test]
fn per_page_defaults_to_200_and_refuses_over_1000() {
    let server = MockServer::start_blocking(MockConfig::default(), 0).unwrap();
    let addr = server.addr();
    let first = get(addr, &format!("/v3/images?client_id={CLIENT_ID}"));
    assert_eq!(first.json()["features"].as_array().unwrap().len(), 200);
    assert!(first.link(addr, "prev").is_none());
    let second = get(addr, &first.link(addr, "next").unwrap());
    assert!(second.link(addr, "prev").is_some());
    assert!(
        second
            .link(addr, "next")
            .unwrap()
            .contains(&format!("client_id={CLIENT_ID}"))
    );
    let max = get(
        addr,
        &format!("/v3/images?client_id={CLIENT_ID}&per_page=1000"),
    );
    assert_eq!(max.json()["features"].as_array().unwrap().len(), 1000);
    for bad in ["per_page=1001", "per_page=0", "per_page=ten"] {
        let reply = get(addr, &format!("/v3/images?client_id={CLIENT_ID}&{bad}"));
        assert_eq!(reply.status, 400, "{bad}");
        assert!(
            reply.json()["message"]
                .as_str()
                .unwrap()
                .contains("per_page")
        );
    }
}

#[test]
fn bad_parameters_get_400_naming_the_parameter() {
    let server = MockServer::start_blocking(MockConfig::default(), 0).unwrap();
    for (query, param) in [
        ("bbox=1,2,3", "bbox"),
        ("bbox=3,0,1,1", "bbox"),
        ("bbox=a,b,c,d", "bbox"),
        ("closeto=1", "closeto"),
        ("closeto=1,2&radius=far", "radius"),
        ("lookat=x,y", "lookat"),
        ("start_time=yesterday", "start_time"),
        ("end_time=2017-02-30", "end_time"),
        ("pano=maybe", "pano"),
        ("page=0", "page"),
    ] {
        let reply = get(
            server.addr(),
            &format!("/v3/images?client_id={CLIENT_ID}&{query}"),
        );
        assert_eq!(reply.status, 400, "{query}");
        let message = reply.json()["message"].as_str().unwrap().to_owned();
        assert!(
            message.contains(&format!("`{param}`")),
            "{query}: {message}"
        );
    }
}

#[test]
fn sequences_filter_by_area_and_userkeys_only() {
    let world = World::demo();
    let server = MockServer::start_blocking(MockConfig::default(), 0).unwrap();
    let addr = server.addr();
    let base = format!(
        "/v3/sequences?client_id={CLIENT_ID}&bbox={}",
        bbox_param(CSU)
    );
    let plain = follow_v3(addr, &base);
    let ignoring = follow_v3(
        addr,
        &format!(
            "{base}&usernames=nobody&start_time=2030-01-01&end_time=2031-01-01&pano=true&lookat=0,0"
        ),
    );
    assert_eq!(keys_of(&plain), keys_of(&ignoring));
    let expected: BTreeSet<&str> = world
        .sequences
        .iter()
        .filter(|s| s.images.iter().any(|i| in_bbox(CSU, i.lon, i.lat)))
        .map(|s| s.key.as_str())
        .collect();
    let got: BTreeSet<String> = keys_of(&plain).into_iter().collect();
    assert_eq!(
        got.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        expected
    );
    let features: Vec<&Value> = plain.iter().flatten().collect();
    let mut clipped_would_differ = false;
    for f in &features {
        let coords = f["geometry"]["coordinates"].as_array().unwrap();
        let props = &f["properties"]["coordinateProperties"];
        assert_eq!(props["cas"].as_array().unwrap().len(), coords.len());
        assert_eq!(props["image_keys"].as_array().unwrap().len(), coords.len());
        clipped_would_differ |= coords
            .iter()
            .any(|c| !in_bbox(CSU, c[0].as_f64().unwrap(), c[1].as_f64().unwrap()));
    }
    assert!(clipped_would_differ, "sequences come back whole");
    let user = &world.sequences[0].user_key;
    let by_user = keys_of(&follow_v3(
        addr,
        &format!("/v3/sequences?client_id={CLIENT_ID}&userkeys={user}&per_page=1000"),
    ));
    let expected: Vec<&str> = {
        let mut v: Vec<&str> = world
            .sequences
            .iter()
            .filter(|s| &s.user_key == user)
            .map(|s| s.key.as_str())
            .collect();
        v.sort();
        v
    };
    assert_eq!(by_user, expected);
}

#[test]
fn broken_coordinate_properties_serve_one_ca_short() {
    let world = World::generate(&mock_api::WorldConfig {
        broken_coordinate_properties: true,
        ..mock_api::WorldConfig::demo()
    });
    let broken = world
        .sequences
        .iter()
        .find(|s| s.broken_coordinate_properties)
        .unwrap()
        .clone();
    let config = MockConfig {
        world: Arc::new(world),
        ..MockConfig::default()
    };
    let server = MockServer::start_blocking(config, 0).unwrap();
    let pages = follow_v3(
        server.addr(),
        &format!("/v3/sequences?client_id={CLIENT_ID}&per_page=1000"),
    );
    let f = pages
        .iter()
        .flatten()
        .find(|f| f["properties"]["key"] == broken.key.as_str())
        .unwrap();
    let cas = f["properties"]["coordinateProperties"]["cas"]
        .as_array()
        .unwrap();
    assert_eq!(cas.len() + 1, broken.images.len());
    assert_eq!(
        f["geometry"]["coordinates"].as_array().unwrap().len(),
        broken.images.len()
    );
}

#[test]
fn users_endpoint_returns_a_plain_array() {
    let world = World::demo();
    let server = MockServer::start_blocking(MockConfig::default(), 0).unwrap();
    let reply = get(
        server.addr(),
        &format!(
            "/v3/users?client_id={CLIENT_ID}&usernames=chrisbeddow,nobody,{}",
            enc("東京マッパー")
        ),
    );
    assert_eq!(reply.status, 200);
    let users = reply.json();
    let users = users.as_array().unwrap();
    assert_eq!(users.len(), 2);
    let chris = users
        .iter()
        .find(|u| u["username"] == "chrisbeddow")
        .unwrap();
    let truth = world
        .users
        .iter()
        .find(|u| u.username == "chrisbeddow")
        .unwrap();
    assert_eq!(chris["key"], truth.key.as_str());
    let empty = get(
        server.addr(),
        &format!("/v3/users?client_id={CLIENT_ID}&usernames=nobody"),
    );
    assert_eq!(empty.json(), serde_json::json!([]));
}

#[test]
fn wire_shapes_match_recorded_responses() {
    let read = |name: &str| -> Value {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let key_set =
        |v: &Value| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };
    let server = MockServer::start_blocking(MockConfig::default(), 0).unwrap();
    let addr = server.addr();

    let real_image = read("pymapillary-search_images_example.json");
    let images = get(
        addr,
        &format!("/v3/images?client_id={CLIENT_ID}&per_page=1000"),
    )
    .json();
    let ours = images["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["properties"].as_object().unwrap().len() == 9)
        .unwrap()
        .clone();
    assert_eq!(key_set(&ours), key_set(&real_image["features"][0]));
    assert_eq!(
        key_set(&ours["properties"]),
        key_set(&real_image["features"][0]["properties"])
    );

    let real_sequence = read("josm-searchSequencesTicket20211Area1.geojson");
    let sequences = get(
        addr,
        &format!(
            "/v3/sequences?client_id={CLIENT_ID}&bbox={}",
            bbox_param(CSU)
        ),
    )
    .json();
    let ours = sequences["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["properties"].get("camera_make").is_some())
        .unwrap()
        .clone();
    let mut real_props = key_set(&real_sequence["features"][0]["properties"]);
    real_props.remove("username"); // the contract leaves it out
    assert_eq!(key_set(&ours["properties"]), real_props);

    let real_users = read("pymapillary-search_users_example.json");
    let users = get(
        addr,
        &format!("/v3/users?client_id={CLIENT_ID}&usernames=gyllen"),
    )
    .json();
    assert_eq!(key_set(&users[0]), key_set(&real_users[0]));
}

#[test]
fn client_id_is_required() {
    let server = MockServer::start_blocking(MockConfig::default(), 0).unwrap();
    for target in [
        "/v3/images?bbox=0,0,1,1".to_owned(),
        "/v3/sequences?client_id=wrong".to_owned(),
        "/v3/users?usernames=gyllen&client_id=".to_owned(),
    ] {
        let reply = get(server.addr(), &target);
        assert_eq!(reply.status, 401, "{target}");
        assert!(reply.json()["message"].is_string());
    }
}

#[test]
fn unknown_paths_methods_and_garbage_are_refused_and_the_server_lives_on() {
    let server = MockServer::start_blocking(MockConfig::default(), 0).unwrap();
    let addr = server.addr();
    assert_eq!(
        get(addr, &format!("/v3/nothing?client_id={CLIENT_ID}")).status,
        404
    );
    let post = raw(
        addr,
        format!("POST /v3/images?client_id={CLIENT_ID} HTTP/1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}").as_bytes(),
    )
    .unwrap();
    assert!(
        post.starts_with(b"HTTP/1.1 405 "),
        "{}",
        String::from_utf8_lossy(&post)
    );
    for garbage in [
        &b"\x00\x01\x02 nonsense\r\n\r\n"[..],
        b"GET /v3/images HTTP/9.9\r\n\r\n",
        &[
            b"GET / HTTP/1.1\r\nX: ".as_slice(),
            &[b'a'; 70_000],
            b"\r\n\r\n",
        ]
        .concat(),
    ] {
        let reply = raw(addr, garbage).unwrap();
        assert!(
            reply.starts_with(b"HTTP/1.1 400 "),
            "{}",
            String::from_utf8_lossy(&reply)
        );
    }
    assert_eq!(
        get(
            addr,
            &format!("/v3/users?client_id={CLIENT_ID}&usernames=x")
        )
        .status,
        200
    );
    let stats = server.stats();
    assert_eq!(stats.requests_to("malformed"), 3);
    assert_eq!(stats.requests_to("other"), 1);
    assert_eq!(stats.requests, 6);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let server = MockServer::start_blocking(MockConfig::default(), 0).unwrap();
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    for per_page in [1, 2, 3] {
        write!(
            stream,
            "GET /v3/images?client_id={CLIENT_ID}&per_page={per_page} HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        .unwrap();
        let reply = read_reply(&mut stream);
        assert_eq!(reply.json()["features"].as_array().unwrap().len(), per_page);
        assert!(reply.header("connection").is_none());
    }
    let close = get_with(
        server.addr(),
        &format!("/v3/users?client_id={CLIENT_ID}&usernames=x"),
        &[],
    );
    assert_eq!(close.header("connection"), Some("close"));
    assert_eq!(server.stats().requests_to("/v3/images"), 3);
}
