//! Measures `read_geojson` on a generated FeatureCollection of v3-style images:
//! `cargo run --release -p transform --example parse_speed [images]` (default 1,000,000), or
//! `... --example parse_speed FILE.geojson` to time an existing file (kept). Prints the time,
//! throughput and the process's peak resident memory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use transform::{Record, TransformConfig, Transformer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let argument = std::env::args().nth(1);
    if let Some(path) = argument.as_deref().filter(|a| a.parse::<usize>().is_err()) {
        return time_parse(Path::new(path));
    }
    let count = argument.map_or(Ok(1_000_000), |n| n.parse())?;
    let path = std::env::temp_dir().join(format!("transform-parse-speed-{count}.geojson"));
    let mut out = BufWriter::new(File::create(&path)?);
    out.write_all(b"{\"type\": \"FeatureCollection\", \"features\": [\n")?;
    for i in 0..count {
        let separator = if i + 1 < count { "," } else { "" };
        let (lon, lat) = (
            -122.0 + (i % 1000) as f64 * 1e-4,
            47.0 + (i / 1000) as f64 * 1e-4,
        );
        writeln!(
            out,
            r#"{{"type": "Feature", "properties": {{"ca": {ca}, "camera_make": "Apple", "camera_model": "iPhone5,4", "captured_at": "2016-03-14T13:44:53.860Z", "key": "k{i:021}", "pano": false, "sequence_key": "LMlIPUNhaj24h_q9v4ArNw", "user_key": "AGfe-07BEJX0-kxpu9J3rA", "username": "pierregeo", "quality_score": 4}}, "geometry": {{"type": "Point", "coordinates": [{lon:.7}, {lat:.7}]}}}}{separator}"#,
            ca = (i % 3600) as f64 / 10.0
        )?;
    }
    out.write_all(b"]}\n")?;
    out.into_inner()?.sync_all()?;
    let timed = time_parse(&path);
    std::fs::remove_file(&path)?;
    timed
}

fn time_parse(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let bytes = std::fs::metadata(path)?.len();

    let started = Instant::now();
    let mut transformer = Transformer::new(TransformConfig::default());
    let mut images = 0_u64;
    transformer.read_geojson(File::open(path)?, path, &mut |record| {
        if let Record::Image(_) = record {
            images += 1;
        }
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(str::to_owned)
        })
        .unwrap_or_default();
    println!(
        "{images} images, {:.0} MB in {seconds:.3} s ({:.0} MB/s); {peak}",
        bytes as f64 / 1e6,
        bytes as f64 / seconds / 1e6
    );
    Ok(())
}
