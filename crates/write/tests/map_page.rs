//! The map page's files: `index.html` (escaped, loading only files beside it and OpenStreetMap
//! tiles), `map-data.js` (every feature, rounded, fields by name; a deterministic sample past
//! the limit) and the bundled Leaflet. The page in a real browser is tested in
//! `crates/mly-export/tests/browser.rs`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

use model::{Area, Image, Resource, Sequence};
use serde_json::Value;
use write::{MAP_DATA_FILE, MAX_MAP_POSITIONS, MapPage};

/// `map-data.js` as JSON (it is `window.MLY_MAP_DATA = {...};` after a comment line).
fn map_data(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join(MAP_DATA_FILE)).unwrap();
    let json = text
        .split_once("window.MLY_MAP_DATA = ")
        .unwrap()
        .1
        .trim_end()
        .strip_suffix(';')
        .unwrap();
    serde_json::from_str(json).unwrap()
}

fn layer<'a>(data: &'a Value, name: &str) -> &'a Value {
    data["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("no layer {name}"))
}

fn areas() -> Vec<(String, Area)> {
    vec![
        ("box".to_owned(), Area::Bbox([5.0, 45.0, 6.0, 46.0])),
        (
            "circle <1>".to_owned(),
            Area::Closeto {
                center: [5.5, 45.5],
                radius_m: 300.0,
            },
        ),
    ]
}

#[test]
fn index_html_escapes_and_loads_only_files_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![
        ("images".to_owned(), "3".to_owned()),
        ("user <b>".to_owned(), "東京マッパー & co".to_owned()),
    ];
    let page = MapPage::create(dir.path(), &areas(), &[Resource::Images]).unwrap();
    page.finish("job \"<x>\" & y", &rows).unwrap();
    // The page links the static preview, which the export writes beside it.
    write::Preview::new(&[]).write(dir.path(), "p").unwrap();
    let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    assert!(
        html.contains("<title>job &quot;&lt;x&gt;&quot; &amp; y</title>"),
        "{html}"
    );
    assert!(html.contains("<tr><th>images</th><td>3</td></tr>"));
    assert!(html.contains("<tr><th>user &lt;b&gt;</th><td>東京マッパー &amp; co</td></tr>"));
    // Scripts and styles come from beside the page; the only remote address is the basemap's.
    for attribute in ["src=\"", "href=\""] {
        for reference in html.split(attribute).skip(1) {
            let target = &reference[..reference.find('"').unwrap()];
            if !target.starts_with("https://") {
                assert!(dir.path().join(target).is_file(), "{target} is missing");
            }
        }
    }
    for url in html.split("https://").skip(1) {
        assert!(
            url.starts_with("tile.openstreetmap.org/") || url.starts_with("www.openstreetmap.org/"),
            "{url}"
        );
    }
    assert!(!html.contains("fetch("), "file:// pages may not fetch");
    // Leaflet is written byte for byte, with its licence.
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/leaflet");
    for file in ["leaflet.js", "leaflet.css", "LICENSE", "images/layers.png"] {
        assert_eq!(
            std::fs::read(dir.path().join("leaflet").join(file)).unwrap(),
            std::fs::read(assets.join(file)).unwrap(),
            "{file}"
        );
    }
}

#[test]
fn map_data_holds_every_feature_rounded_with_its_fields() {
    let dir = tempfile::tempdir().unwrap();
    let resources = [
        Resource::Images,
        Resource::Sequences,
        Resource::SequencePoints,
    ];
    let mut page = MapPage::create(dir.path(), &areas(), &resources).unwrap();
    let mut image = Image::new("img \"1\"", 5.123_456_789, 45.5);
    image.username = Some("東京マッパー".into());
    page.add(Resource::Images, &image.to_feature()).unwrap();
    page.add(
        Resource::Images,
        &Image::new("nan", f64::NAN, 45.0).to_feature(),
    )
    .unwrap();
    let line = Sequence {
        key: "s1".into(),
        coordinates: vec![[5.1, 45.1], [5.2, 45.2], [f64::INFINITY, 45.3]],
        ..Sequence::default()
    };
    page.add(Resource::Sequences, &line.to_feature()).unwrap();
    page.finish("t", &[]).unwrap();

    let data = map_data(dir.path());
    assert_eq!(data["sampled"], false);
    assert_eq!(data["limit"], MAX_MAP_POSITIONS);
    let names: Vec<&str> = data["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    // Drawn bottom to top: areas, lines, points with images topmost.
    assert_eq!(names, ["areas", "sequences", "sequence_points", "images"]);

    let areas = layer(&data, "areas");
    assert_eq!(areas["drawn"], 2);
    assert_eq!(areas["features"][1][1], "circle <1>");
    assert_eq!(areas["features"][0][0].as_array().unwrap().len(), 10);

    let images = layer(&data, "images");
    assert_eq!(
        (images["total"].as_u64(), images["drawn"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(images["fields"][0], "key");
    let feature = &images["features"][0];
    assert_eq!(feature[0], serde_json::json!([5.1234568, 45.5]));
    assert_eq!(feature[1], "img \"1\"");
    let username = images["fields"]
        .as_array()
        .unwrap()
        .iter()
        .position(|f| f == "username")
        .unwrap();
    assert_eq!(feature[username + 1], "東京マッパー");

    let sequences = layer(&data, "sequences");
    assert_eq!(sequences["geometry"], "LineString");
    assert_eq!(
        sequences["features"][0][0],
        serde_json::json!([5.1, 45.1, 5.2, 45.2])
    );
    // A declared layer with nothing in it is still listed.
    assert_eq!(layer(&data, "sequence_points")["total"], 0);
    // The spools are gone.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// The keys drawn by a page of `count` images added in order, or in reverse order.
fn drawn_keys(count: u32, reverse: bool) -> (Value, BTreeSet<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut page = MapPage::create(dir.path(), &[], &[Resource::Images]).unwrap();
    let mut order: Vec<u32> = (0..count).collect();
    if reverse {
        order.reverse();
    }
    for i in order {
        let lon = f64::from(i % 1000) * 1e-4;
        let lat = f64::from(i / 1000) * 1e-4;
        page.add(
            Resource::Images,
            &Image::new(format!("i{i}"), lon, lat).to_feature(),
        )
        .unwrap();
    }
    page.finish("big", &[]).unwrap();
    let data = map_data(dir.path());
    let images = layer(&data, "images").clone();
    let keys = images["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f[1].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(data["sampled"], true);
    (images, keys)
}

#[test]
fn past_the_limit_the_same_sample_is_drawn_whatever_the_order() {
    let count = 250_000;
    let (images, forward) = drawn_keys(count, false);
    let (_, backward) = drawn_keys(count, true);
    assert_eq!(images["total"], count);
    let drawn = images["drawn"].as_u64().unwrap();
    assert_eq!(drawn, forward.len() as u64);
    // One position per point: the sample fills the budget exactly (no two keys share a hash).
    assert_eq!(drawn, MAX_MAP_POSITIONS);
    assert_eq!(forward, backward, "the sample depends on the keys only");
}
