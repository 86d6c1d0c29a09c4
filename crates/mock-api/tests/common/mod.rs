//! A tiny HTTP/1.1 client over `std::net::TcpStream` and the geometry the tests' truths need.
//! Independent of the mock's own code on purpose.
#![allow(clippy::unwrap_used, dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use serde_json::Value;

/// One response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The target (path and query) of the `Link` header's `rel` URL, checking it is absolute
    /// on this server.
    pub fn link(&self, addr: SocketAddr, rel: &str) -> Option<String> {
        let link = self.header("link")?;
        let wanted = format!("rel=\"{rel}\"");
        let part = link.split(", <").find(|p| p.ends_with(&wanted))?;
        let url = part.trim_start_matches('<').split('>').next().unwrap();
        let prefix = format!("http://{addr}");
        assert!(url.starts_with(&prefix), "{url} is not on {prefix}");
        Some(url[prefix.len()..].to_owned())
    }
}

/// Reads one response from a stream positioned at its start.
pub fn read_reply(stream: &mut impl Read) -> Reply {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "EOF inside the head");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let mut lines = head.trim_end().split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_owned(), v.trim().to_owned())
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap();
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).unwrap();
    Reply {
        status,
        headers,
        body,
    }
}

/// GET `target` on a fresh connection with extra header lines.
pub fn get_with(addr: SocketAddr, target: &str, headers: &[&str]) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\n");
    for h in headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    request.push_str("Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    read_reply(&mut stream)
}

pub fn get(addr: SocketAddr, target: &str) -> Reply {
    get_with(addr, target, &[])
}

/// Sends raw bytes and reads until the server closes: the bytes, or the error (a reset).
pub fn raw(addr: SocketAddr, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr)?;
    stream.write_all(request)?;
    let mut out = Vec::new();
    stream.read_to_end(&mut out)?;
    Ok(out)
}

/// Follows a v3 `Link` chain from `target`; returns every page's features.
pub fn follow_v3(addr: SocketAddr, target: &str) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut next = Some(target.to_owned());
    while let Some(target) = next {
        let reply = get(addr, &target);
        assert_eq!(
            reply.status,
            200,
            "{target}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        assert!(reply.link(addr, "first").is_some());
        pages.push(reply.json()["features"].as_array().unwrap().clone());
        next = reply.link(addr, "next");
        assert!(pages.len() < 10_000, "endless Link chain");
    }
    pages
}

pub const R: f64 = 6_371_008.8;

pub fn haversine(a: [f64; 2], b: [f64; 2]) -> f64 {
    let (p1, p2) = (a[1].to_radians(), b[1].to_radians());
    let h = ((p2 - p1) / 2.0).sin().powi(2)
        + p1.cos() * p2.cos() * ((b[0] - a[0]).to_radians() / 2.0).sin().powi(2);
    2.0 * R * h.sqrt().asin()
}

pub fn bearing(from: [f64; 2], to: [f64; 2]) -> f64 {
    let (p1, p2) = (from[1].to_radians(), to[1].to_radians());
    let dl = (to[0] - from[0]).to_radians();
    let y = dl.sin() * p2.cos();
    let x = p1.cos() * p2.sin() - p1.sin() * p2.cos() * dl.cos();
    y.atan2(x).to_degrees().rem_euclid(360.0)
}

pub fn in_bbox(b: [f64; 4], lon: f64, lat: f64) -> bool {
    lon >= b[0] && lon <= b[2] && lat >= b[1] && lat <= b[3]
}

pub const MONTANA: [f64; 4] = [-113.98937, 46.85699, -113.98002, 46.86501];
pub const CSU: [f64; 4] = [
    -105.0960087776184,
    40.567301351105996,
    -105.07731914520264,
    40.57799340275122,
];
pub const UW: [f64; 2] = [-122.3079, 47.6537];
/// 2016-03-28 and 2017-03-28 in ms.
pub const TUTORIAL_YEAR: (i64, i64) = (1_459_123_200_000, 1_490_659_200_000);
