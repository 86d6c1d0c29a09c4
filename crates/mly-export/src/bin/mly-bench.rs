//! `mly-bench`: the benchmark harness behind `make bench` (input generators, fetch throughput
//! against the mock API, hot-path timings). Not installed for users.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use model::{Format, Image, Resource, Sequence};
use tokio_util::sync::CancellationToken;

/// The same allocator as `mly-export`, so the timings are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    mly_export::no_transparent_huge_pages();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("gen-images") => count_and_path(&args).and_then(|(n, p)| gen_images(n, &p)),
        Some("gen-sequences") => count_and_path(&args).and_then(|(n, p)| gen_sequences(n, &p)),
        Some("fetch-throughput") => fetch_throughput(&args[1..]),
        Some("hot") => hot_paths(),
        Some("requests") => requests_table(&args[1..]),
        _ => Err(anyhow::anyhow!(
            "usage: mly-bench gen-images N FILE | gen-sequences N FILE | \
             fetch-throughput [--latency-ms 50] [--concurrency 1,8,64] | hot | \
             requests MANIFEST..."
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn count_and_path(args: &[String]) -> Result<(usize, PathBuf)> {
    match (args.get(1), args.get(2)) {
        (Some(n), Some(p)) => Ok((n.parse().context("N must be a number")?, PathBuf::from(p))),
        _ => bail!("expected N FILE"),
    }
}

/// A deterministic pseudo-random sequence (SplitMix64), so inputs are the same every run.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn key(&mut self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut v = self.next();
        let mut w = self.next();
        (0..22)
            .map(|i| {
                let source = if i < 11 { &mut v } else { &mut w };
                let c = ALPHABET[(*source & 63) as usize] as char;
                *source >>= 6;
                c
            })
            .collect()
    }
}

const USERS: &[(&str, &str)] = &[
    ("natfoot", "KtBC-RdGZ5_HU6J4Hhvnmw"),
    ("chrisbeddow", "2BJl04nvnfW1y2GNaj7x5w"),
    ("東京マッパー", "Qm9uam91ci1tYXBwZXJzXw"),
    ("gyllen", "hYZH6voFh0VpQ-G3iz1TOQ"),
];
const MAKES: &[&str] = &["samsung", "Apple", "GoPro", "Essential Products"];

fn random_image(mix: &mut Mix, seq: &str) -> Image {
    let (username, user_key) = USERS[(mix.next() % USERS.len() as u64) as usize];
    Image {
        key: mix.key(),
        lon: -114.2 + mix.unit() * 0.5,
        lat: 46.7 + mix.unit() * 0.4,
        ca: Some(mix.unit() * 360.0),
        camera_make: Some(MAKES[(mix.next() % MAKES.len() as u64) as usize].to_owned()),
        camera_model: Some("SM-G930F".to_owned()),
        captured_at: Some(model::format_epoch_ms(
            1_400_000_000_000 + (mix.next() % 200_000_000_000) as i64,
        )),
        pano: Some(mix.next().is_multiple_of(10)),
        sequence_key: Some(seq.to_owned()),
        user_key: Some(user_key.to_owned()),
        username: Some(username.to_owned()),
        ..Image::default()
    }
}

/// Writes a v3-shaped FeatureCollection by hand (the API's property names and order) rather
/// than with `write`'s GeoJSON sink, so the benchmark input does not depend on the code under test.
fn gen_images(n: usize, path: &Path) -> Result<()> {
    let mut mix = Mix(42);
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    w.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")?;
    let mut seq = mix.key();
    for i in 0..n {
        if i % 50 == 0 {
            seq = mix.key();
        }
        let image = random_image(&mut mix, &seq);
        if i > 0 {
            w.write_all(b",\n")?;
        }
        let properties = serde_json::json!({
            "ca": image.ca,
            "camera_make": image.camera_make,
            "camera_model": image.camera_model,
            "captured_at": image.captured_at,
            "key": image.key,
            "pano": image.pano,
            "sequence_key": image.sequence_key,
            "user_key": image.user_key,
            "username": image.username,
        });
        write!(
            w,
            "{{\"type\":\"Feature\",\"properties\":{properties},\"geometry\":{{\"type\":\"Point\",\"coordinates\":[{},{}]}}}}",
            image.lon, image.lat
        )?;
    }
    w.write_all(b"\n]}\n")?;
    w.flush()?;
    eprintln!("wrote {n} images to {}", path.display());
    Ok(())
}

fn random_sequence(mix: &mut Mix) -> Sequence {
    let vertices = 2 + (mix.next() % 29) as usize;
    let (mut lon, mut lat) = (-114.2 + mix.unit() * 0.5, 46.7 + mix.unit() * 0.4);
    let mut coordinates = Vec::with_capacity(vertices);
    let mut cas = Vec::with_capacity(vertices);
    let mut image_keys = Vec::with_capacity(vertices);
    for _ in 0..vertices {
        lon += (mix.unit() - 0.5) * 0.0002;
        lat += (mix.unit() - 0.5) * 0.0002;
        coordinates.push([lon, lat]);
        cas.push(Some(mix.unit() * 360.0));
        image_keys.push(Some(mix.key()));
    }
    let (_, user_key) = USERS[(mix.next() % USERS.len() as u64) as usize];
    Sequence {
        key: mix.key(),
        coordinates,
        cas,
        image_keys,
        camera_make: Some("GoPro".to_owned()),
        captured_at: Some(model::format_epoch_ms(
            1_400_000_000_000 + (mix.next() % 200_000_000_000) as i64,
        )),
        created_at: Some(model::format_epoch_ms(1_700_000_000_000)),
        pano: Some(false),
        user_key: Some(user_key.to_owned()),
        ..Sequence::default()
    }
}

fn gen_sequences(n: usize, path: &Path) -> Result<()> {
    let mut mix = Mix(7);
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    w.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")?;
    for i in 0..n {
        let s = random_sequence(&mut mix);
        if i > 0 {
            w.write_all(b",\n")?;
        }
        let feature = serde_json::json!({
            "type": "Feature",
            "properties": {
                "camera_make": s.camera_make,
                "captured_at": s.captured_at,
                "coordinateProperties": {"cas": s.cas, "image_keys": s.image_keys},
                "created_at": s.created_at,
                "key": s.key,
                "pano": s.pano,
                "user_key": s.user_key,
            },
            "geometry": {"type": "LineString", "coordinates": s.coordinates},
        });
        serde_json::to_writer(&mut w, &feature)?;
    }
    w.write_all(b"\n]}\n")?;
    w.flush()?;
    eprintln!("wrote {n} sequences to {}", path.display());
    Ok(())
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

/// Pages per second against the mock with a fixed latency, one large area, by concurrency.
fn fetch_throughput(args: &[String]) -> Result<()> {
    let latency_ms: u64 = flag(args, "--latency-ms").unwrap_or("50").parse()?;
    let levels: Vec<usize> = flag(args, "--concurrency")
        .unwrap_or("1,4,8,16,32,64")
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let runtime = tokio::runtime::Runtime::new()?;
    // One large area (0.4° × 0.4°) holding 64,000 images in an 8 × 8 grid of patches: the plan
    // walks its cells' Link chains in parallel.
    let clusters = (0..64)
        .map(|i| mock_api::Cluster {
            center: [
                -114.175 + 0.05 * f64::from(i % 8),
                46.725 + 0.05 * f64::from(i / 8),
            ],
            radius_m: 1_500.0,
            empty_within_m: 0.0,
            images: 1_000,
        })
        .collect();
    let world = Arc::new(mock_api::World::generate(&mock_api::WorldConfig {
        seed: 3,
        clusters,
        quirks: false,
        broken_coordinate_properties: false,
    }));
    println!(
        "fetch throughput: mock API, {latency_ms} ms latency per request, one large area \
         (after one untimed warm-up pass)"
    );
    println!(
        "{:>12} {:>8} {:>10} {:>12} {:>12} {:>8}",
        "concurrency", "pages", "seconds", "pages/s", "target/s", "ratio"
    );
    let latency = Duration::from_millis(latency_ms);
    // Warm-up: the first run of a process also pays for fresh heap pages and connections.
    let warm_up = levels.iter().copied().max().unwrap_or(1);
    timed_fetch(&runtime, &world, latency, warm_up)?;
    for concurrency in levels {
        let (pages, secs) = timed_fetch(&runtime, &world, latency, concurrency)?;
        let rate = pages as f64 / secs;
        let target = concurrency as f64 / latency.as_secs_f64();
        println!(
            "{concurrency:>12} {pages:>8} {secs:>10.2} {rate:>12.1} {target:>12.1} {:>7.0}%",
            100.0 * rate / target
        );
    }
    Ok(())
}

/// Fetches the whole large area from a fresh mock with `latency` at `concurrency`, with an
/// empty cache: the requests made and the seconds they took.
fn timed_fetch(
    runtime: &tokio::runtime::Runtime,
    world: &Arc<mock_api::World>,
    latency: Duration,
    concurrency: usize,
) -> Result<(u64, f64)> {
    let config = mock_api::MockConfig {
        world: Arc::clone(world),
        faults: mock_api::FaultConfig {
            latency,
            ..mock_api::FaultConfig::default()
        },
        ..mock_api::MockConfig::default()
    };
    runtime.block_on(async {
        let server = mock_api::MockServer::start(config, 0).await?;
        let cache = tempfile::tempdir()?;
        let mut fetch_config = fetch::FetchConfig::new(
            model::Api::V3,
            url::Url::parse(&server.v3_url())?,
            fetch::Secret::new(mock_api::CLIENT_ID.to_owned()),
            cache.path().to_owned(),
        );
        fetch_config.concurrency = NonZeroUsize::new(concurrency).unwrap_or(NonZeroUsize::MIN);
        fetch_config.per_page = 100;
        let query = fetch::Query::new(
            "bench",
            fetch::QueryResource::Images,
            model::Area::Bbox([-114.2, 46.7, -113.8, 47.1]),
        );
        let plan = fetch::plan(&fetch_config, &[query]);
        let started = Instant::now();
        let fetched = fetch::fetch(
            &fetch_config,
            &plan,
            &fetch::NoReporter,
            &CancellationToken::new(),
        )
        .await?;
        let secs = started.elapsed().as_secs_f64();
        server.shutdown();
        Ok((fetched.stats.requests, secs))
    })
}

/// Hot paths in isolation: one format's writer fed 200,000 ready features, and the parser.
fn hot_paths() -> Result<()> {
    const N: usize = 200_000;
    let dir = tempfile::tempdir()?;
    let mut mix = Mix(9);
    let features: Vec<_> = (0..N)
        .map(|_| random_image(&mut mix, "seq").to_feature())
        .collect();
    println!("hot paths, {N} image features each:");
    for format in Format::ALL {
        let started = Instant::now();
        let mut sink = write::open_sink(
            format,
            dir.path(),
            Resource::Images,
            &write::WriteOptions::default(),
        )?;
        sink.begin(model::Schema::of(Resource::Images))?;
        for feature in &features {
            sink.write(feature)?;
        }
        sink.finish()?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "  write {:<10} {:>8.3} s {:>12.0} features/s",
            format.as_str(),
            secs,
            N as f64 / secs
        );
    }
    let input = dir.path().join("images.geojson");
    let bytes = std::fs::metadata(&input)?.len();
    let started = Instant::now();
    let mut transformer = transform::Transformer::new(transform::TransformConfig::default());
    let mut count = 0usize;
    transformer.read_geojson(
        std::io::BufReader::new(File::open(&input)?),
        &input,
        &mut |_| count += 1,
    )?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "  parse geojson    {secs:>8.3} s {:>12.0} features/s ({:.0} MB/s)",
        count as f64 / secs,
        bytes as f64 / secs / 1e6
    );
    Ok(())
}

/// Requests per 1,000 exported images from finished runs' manifests, beside the lower bound:
/// every exported feature in full pages (v3 `per_page` 1000; v4 `limit` 2000), plus, for v4
/// whole sequences, the one request each sequence needs.
fn requests_table(manifests: &[String]) -> Result<()> {
    println!(
        "{:<28} {:>8} {:>10} {:>9} {:>14} {:>12}",
        "job", "images", "sequences", "requests", "per 1k images", "lower bound"
    );
    for path in manifests {
        let text = std::fs::read_to_string(path).with_context(|| path.clone())?;
        let manifest: serde_json::Value =
            serde_json::from_str(&text).with_context(|| path.clone())?;
        let summary = &manifest["summary"];
        let exported = |resource: &str| summary["resources"][resource]["exported"].as_u64();
        let (Some(images), Some(requests)) = (exported("images"), summary["requests"].as_u64())
        else {
            bail!("{path}: no summary.requests or images count");
        };
        let sequences = exported("sequences").unwrap_or(0);
        let whole = manifest["whole_sequences"].as_bool().unwrap_or(true);
        let lower = match manifest["api"].as_str() {
            Some("v4") => images.div_ceil(2000) + if whole { sequences } else { 0 },
            _ => images.div_ceil(1000) + sequences.div_ceil(1000),
        };
        println!(
            "{:<28} {images:>8} {sequences:>10} {requests:>9} {:>14.1} {lower:>12}",
            manifest["job"].as_str().unwrap_or("?"),
            1000.0 * requests as f64 / images.max(1) as f64,
        );
    }
    Ok(())
}
