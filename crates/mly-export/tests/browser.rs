//! The map page in a real browser: headless Chromium, driven over the DevTools protocol, opens
//! the demo export's `index.html` from disk (`file://`, no server, no network), and the test
//! reads the number of features drawn per layer from the page and compares it with the
//! manifest and the job's areas, clicks an image and finds its key in the popup. Screenshots go
//! to `target/browser-test/` (`index.png`, `index-popup.png`).
//!
//! Without `chromium` the test prints a loud SKIPPED line; with `MLY_REQUIRE_INTEROP=1` (CI) a
//! missing browser fails.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket, stream::MaybeTlsStream};

/// A headless Chromium and one page of it, attached with a flat DevTools session.
struct Browser {
    child: Child,
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    /// Exceptions the page threw (`Runtime.exceptionThrown`), as text.
    exceptions: Vec<String>,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn launch(width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-extensions",
                "--remote-debugging-port=0",
                &format!("--user-data-dir={}", profile.path().display()),
                &format!("--window-size={width},{height}"),
                "about:blank",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Chromium prints where its DevTools endpoint listens on stderr.
        let stderr = child.stderr.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = sender.send(url.trim().to_owned());
                }
            }
        });
        let url = receiver
            .recv_timeout(Duration::from_secs(60))
            .expect("chromium did not print its DevTools address within 60 s");
        let (socket, _) = tungstenite::connect(url.as_str()).unwrap();
        let mut browser = Browser {
            child,
            socket,
            session: String::new(),
            next_id: 0,
            exceptions: Vec::new(),
            _profile: profile,
        };
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"}));
        let attached = browser.call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_owned();
        browser.call("Runtime.enable", json!({}));
        browser.call("Page.enable", json!({}));
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
        browser
    }

    /// Sends one command (to the page once attached) and returns its result; events that
    /// arrive meanwhile are looked at for exceptions.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .unwrap();
        loop {
            let Message::Text(text) = self.socket.read().unwrap() else {
                continue;
            };
            let reply: Value = serde_json::from_str(&text).unwrap();
            if reply["method"] == "Runtime.exceptionThrown" {
                self.exceptions
                    .push(reply["params"]["exceptionDetails"].to_string());
            }
            if reply["id"] == id {
                assert!(reply["error"].is_null(), "{method}: {reply}");
                return reply["result"].clone();
            }
        }
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value.
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(
            result["exceptionDetails"].is_null(),
            "{expression}: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    /// Polls `expression` until it is `true`.
    fn wait_for(&mut self, expression: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.eval(expression) != json!(true) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the canvas has drawn what the last change asked for (two animation frames).
    fn settle(&mut self) {
        self.eval(
            "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))",
        );
    }

    fn screenshot(&mut self, path: &Path) {
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let png = data_encoding::BASE64
            .decode(shot["data"].as_str().unwrap().as_bytes())
            .unwrap();
        assert_eq!(&png[1..4], b"PNG");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    fn click(&mut self, [x, y]: [f64; 2]) {
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the screenshots go: `target/browser-test/`.
fn artefacts() -> PathBuf {
    common::workspace().join("target/browser-test")
}

/// An image of the export whose nearest other image is over 3 m away (a click hits only it),
/// as (key, lon, lat).
fn isolated_image(dir: &Path) -> (String, f64, f64) {
    let images = common::geojson_features(&dir.join("images.geojson"), "key");
    let positions: Vec<(String, f64, f64)> = images
        .iter()
        .map(|(key, f)| {
            let c = &f["geometry"]["coordinates"];
            (key.clone(), c[0].as_f64().unwrap(), c[1].as_f64().unwrap())
        })
        .collect();
    positions
        .iter()
        .find(|(key, lon, lat)| {
            positions.iter().all(|(other, olon, olat)| {
                other == key || common::truth::haversine_m([*lon, *lat], [*olon, *olat]) > 3.0
            })
        })
        .cloned()
        .expect("the demo has an isolated image")
}

#[test]
fn the_map_page_draws_every_layer_and_a_click_shows_the_key() {
    if !common::require_tool("chromium") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = common::export_demo(tmp.path());
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let mut expected: BTreeMap<String, u64> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let name = l["resource"].as_str().unwrap().to_owned();
            (name, l["features"].as_u64().unwrap())
        })
        .collect();
    let job: toml::Table = toml::from_str(
        &std::fs::read_to_string(common::workspace().join("jobs/demo.toml")).unwrap(),
    )
    .unwrap();
    expected.insert(
        "areas".to_owned(),
        job["areas"].as_array().unwrap().len() as u64,
    );
    assert!(expected.values().all(|&n| n > 0), "{expected:?}");

    let mut browser = Browser::launch(1200, 900);
    let url = url::Url::from_file_path(dir.join("index.html")).unwrap();
    browser.call("Page.navigate", json!({"url": url.as_str()}));
    browser.wait_for(
        "document.body !== null && document.body.getAttribute('data-map-ready') === 'true'",
        "the map",
    );
    browser.settle();
    let drawn: BTreeMap<String, u64> = serde_json::from_value(browser.eval(
        "Object.fromEntries(Object.entries(mlyMap.layers)\
         .map(([name, group]) => [name, group.getLayers().length]))",
    ))
    .unwrap();
    assert_eq!(drawn, expected, "features drawn per layer vs manifest.json");
    let canvases = browser.eval("document.querySelectorAll('#map canvas').length");
    assert_eq!(canvases, json!(1), "every layer on one canvas");
    let status = browser.eval("document.getElementById('map-status').textContent");
    assert!(
        status
            .as_str()
            .unwrap()
            .contains(&format!("images: {}", expected["images"])),
        "{status}"
    );
    browser.screenshot(&artefacts().join("index.png"));

    let (key, lon, lat) = isolated_image(&dir);
    browser.eval(&format!(
        "mlyMap.map.setView([{lat}, {lon}], 19, {{animate: false}}); true"
    ));
    browser.settle();
    let point: [f64; 2] = serde_json::from_value(browser.eval(&format!(
        "(() => {{ const p = mlyMap.map.latLngToContainerPoint([{lat}, {lon}]); \
         const r = mlyMap.map.getContainer().getBoundingClientRect(); \
         return [p.x + r.left, p.y + r.top]; }})()"
    )))
    .unwrap();
    browser.click(point);
    browser.wait_for(
        "document.querySelector('.leaflet-popup-content') !== null",
        "the popup",
    );
    let popup = browser.eval("document.querySelector('.leaflet-popup-content').textContent");
    let popup = popup.as_str().unwrap();
    assert!(popup.starts_with("images"), "{popup}");
    assert!(popup.contains(&format!("key{key}")), "{popup}");
    browser.settle();
    browser.screenshot(&artefacts().join("index-popup.png"));
    assert!(browser.exceptions.is_empty(), "{:?}", browser.exceptions);
}
