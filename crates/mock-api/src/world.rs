//! The synthetic world the mock serves: users, sequences and their images, generated
//! deterministically from a seed so that every test sees the same data.

use std::collections::HashSet;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::geo::{bearing_deg, haversine_m, offset};

mod map_features;

pub use map_features::{DEMO_CAMPUS_BBOX, DENSE_SPOT_FEATURES, MockMapFeature};

/// Everything the mock knows. v3 and v4 both describe this one world.
#[derive(Debug, Clone, PartialEq)]
pub struct World {
    /// The contributors.
    pub users: Vec<MockUser>,
    /// The sequences, each holding its images in capture order.
    pub sequences: Vec<MockSequence>,
    /// The map features (v4 `/map_features`), in the order the mock serves them.
    pub map_features: Vec<MockMapFeature>,
}

/// A contributor.
#[derive(Debug, Clone, PartialEq)]
pub struct MockUser {
    /// The v3 user key, also the v4 creator id.
    pub key: String,
    /// The username (may hold quotes, commas, non-Latin letters or a spreadsheet formula).
    pub username: String,
}

/// One sequence: a walk or drive by one user.
#[derive(Debug, Clone, PartialEq)]
pub struct MockSequence {
    /// The v3 sequence key, also the v4 sequence id.
    pub key: String,
    /// The capturing user's key.
    pub user_key: String,
    /// The camera make, if the camera reported one.
    pub camera_make: Option<String>,
    /// Panorama sequence or not.
    pub pano: bool,
    /// Upload time, ms since the epoch.
    pub created_at_ms: i64,
    /// The images in capture order (`captured_at_ms` strictly increasing).
    pub images: Vec<MockImage>,
    /// When true, v3 serves `coordinateProperties.cas` one entry shorter than the coordinates.
    pub broken_coordinate_properties: bool,
}

/// One image.
#[derive(Debug, Clone, PartialEq)]
pub struct MockImage {
    /// The v3 image key, also the v4 image id.
    pub key: String,
    /// Longitude, WGS 84.
    pub lon: f64,
    /// Latitude, WGS 84.
    pub lat: f64,
    /// Camera angle in degrees clockwise from north.
    pub ca: Option<f64>,
    /// Capture time, ms since the epoch.
    pub captured_at_ms: i64,
    /// Camera make (the sequence's).
    pub camera_make: Option<String>,
    /// Camera model.
    pub camera_model: Option<String>,
    /// Panorama or not (the sequence's).
    pub pano: bool,
    /// The sequence's key.
    pub sequence_key: String,
    /// The capturing user's key.
    pub user_key: String,
    /// The capturing user's name.
    pub username: String,
    /// The organisation's key, for the few images uploaded on behalf of one. v3 serves it as
    /// `organization_key`; v4 only filters by it (`organization_id` is no Image field).
    pub organization_key: Option<String>,
    /// v4 `computed_geometry`: where structure from motion placed the image, a few metres
    /// from its GPS position; `None` for images it could not place.
    pub computed_position: Option<[f64; 2]>,
    /// v4 `computed_compass_angle`; `None` where `computed_position` is.
    pub computed_ca: Option<f64>,
}

/// How [`World::generate`] builds a world.
#[derive(Debug, Clone, PartialEq)]
pub struct WorldConfig {
    /// The PRNG seed: the same config always gives the same world.
    pub seed: u64,
    /// Where the imagery is.
    pub clusters: Vec<Cluster>,
    /// Add the real-data oddities to the first cluster: a sequence captured at the epoch
    /// (1970-01-01T00:00:00Z), a single-image sequence, a sequence whose images share one
    /// position and one with repeated consecutive positions; and the seed tutorial's example
    /// (a walk from the cluster's centre by the first user, chrisbeddow, captured between
    /// 2016-03-28 and 2017-03-28).
    pub quirks: bool,
    /// Give one sequence inconsistent v3 `coordinateProperties` (see
    /// [`MockSequence::broken_coordinate_properties`]).
    pub broken_coordinate_properties: bool,
}

/// A patch of imagery: sequences start in a disc and wander inside (a little beyond) it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// The disc's centre, `[lon, lat]`.
    pub center: [f64; 2],
    /// The disc's radius in metres. Paths may stray about 10% beyond it.
    pub radius_m: f64,
    /// No image lies closer than this to the centre (the tutorial's "no images within 100 m").
    pub empty_within_m: f64,
    /// How many images the cluster holds.
    pub images: usize,
}

/// The demo world's contributors, quirky names included.
const USERNAMES: [&str; 8] = [
    "chrisbeddow",
    "gyllen",
    "natfoot",
    "東京マッパー",
    "O'Brien, \"Bob\"",
    "=HYPERLINK(1)",
    "maning",
    "vorpalblade",
];

/// Camera (make, model) pairs, missing values and a make with a quote and a comma included.
const CAMERAS: [(Option<&str>, Option<&str>); 8] = [
    (Some("Apple"), Some("iPhone5,4")),
    (Some("Apple"), Some("iPhone 8")),
    (Some("Essential Products"), Some("PH-1")),
    (Some("GoPro"), Some("HERO5 Black")),
    (Some("SAMSUNG"), Some("SM-G930F")),
    (None, None),
    (Some("Foo, \"Bar\" Inc."), Some("Cam \"X\", rev 2")),
    (Some("RICOH"), None),
];

/// The URL-safe base64 alphabet Mapillary's 22-character keys are drawn from.
const KEY_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const KEY_LEN: usize = 22;

/// 2014-01-01 and 2022-01-01: capture times spread over 2014..2021.
const CAPTURE_SPAN_MS: (i64, i64) = (1_388_534_400_000, 1_640_995_200_000);
/// 2016-03-28 .. 2017-03-28, the tutorial's date range, which gets a good share of captures.
const TUTORIAL_YEAR_MS: (i64, i64) = (1_459_123_200_000, 1_490_659_200_000);
const TUTORIAL_YEAR_SHARE: f64 = 0.4;
/// The share of images structure from motion could not place (no computed values).
const UNPLACED_SHARE: f64 = 0.08;
/// Computed positions lie up to this far from the GPS ones.
const MAX_COMPUTED_OFFSET_M: f64 = 4.0;
/// Computed positions carry 10 decimals, like the API's.
const COMPUTED_SCALE: f64 = 1e10;

const MIN_SEQUENCE_LEN: usize = 5;
const MAX_SEQUENCE_LEN: usize = 120;
/// Paths may stray this far beyond a cluster's radius before they turn back.
const STRAY_FACTOR: f64 = 1.1;
/// Positions carry 7 decimals (about 1 cm), like the API's.
const COORDINATE_SCALE: f64 = 1e7;

impl World {
    /// The world `jobs/demo.toml` and the seed tutorial's example jobs target: about 3,000
    /// images at the University of Montana, the University of Washington (none within 100 m of
    /// the tutorial's point) and Colorado State University, with every quirk of real data.
    pub fn demo() -> World {
        World::generate(&WorldConfig::demo())
    }

    /// Builds the world a config describes; the same config gives an equal world.
    pub fn generate(config: &WorldConfig) -> World {
        let mut generator = Generator {
            rng: SmallRng::seed_from_u64(config.seed),
            used_keys: HashSet::new(),
        };
        let users: Vec<MockUser> = USERNAMES
            .iter()
            .map(|name| MockUser {
                key: generator.key(),
                username: (*name).to_owned(),
            })
            .collect();
        let organizations = [generator.key(), generator.key()];
        let mut sequences = Vec::new();
        let mut cluster_sequences = Vec::with_capacity(config.clusters.len());
        for (cluster_idx, cluster) in config.clusters.iter().enumerate() {
            let first_sequence = sequences.len();
            let mut remaining = cluster.images;
            while remaining > 0 {
                let shape = if config.quirks && cluster_idx == 0 {
                    Shape::quirk(sequences.len())
                } else {
                    Shape::Walk
                };
                let len = generator.sequence_len(shape, remaining);
                remaining -= len;
                let user = if shape == Shape::TutorialWalk {
                    &users[0]
                } else {
                    &users[generator.rng.random_range(0..users.len())]
                };
                let organization = generator
                    .rng
                    .random_bool(0.1)
                    .then(|| organizations[generator.rng.random_range(0..2)].clone());
                let mut sequence = generator.sequence(cluster, shape, len, user, organization);
                sequence.broken_coordinate_properties =
                    config.broken_coordinate_properties && sequences.is_empty();
                sequences.push(sequence);
            }
            cluster_sequences.push(first_sequence..sequences.len());
        }
        place_computed(&mut sequences, config.seed);
        let map_features = map_features::generate(config, &sequences, &cluster_sequences);
        World {
            users,
            sequences,
            map_features,
        }
    }

    /// A world of `images` images around `center`, unevenly dense: 70% in a 40 m disc 120 m
    /// east and 80 m north of `center`, the rest spread over 800 m. A query over it with a
    /// small result cap needs several levels of quadrant splitting.
    pub fn dense(center: [f64; 2], images: usize, seed: u64) -> World {
        let tight = images * 7 / 10;
        let tight_center = offset(offset(center, 120.0, 90.0), 80.0, 0.0);
        World::generate(&WorldConfig {
            seed,
            clusters: vec![
                Cluster {
                    center: tight_center,
                    radius_m: 40.0,
                    empty_within_m: 0.0,
                    images: tight,
                },
                Cluster {
                    center,
                    radius_m: 800.0,
                    empty_within_m: 0.0,
                    images: images - tight,
                },
            ],
            quirks: false,
            broken_coordinate_properties: false,
        })
    }

    /// Every image, sequence by sequence, in capture order within each sequence.
    pub fn images(&self) -> impl Iterator<Item = &MockImage> {
        self.sequences.iter().flat_map(|s| s.images.iter())
    }

    /// The user with this key.
    pub fn user(&self, key: &str) -> Option<&MockUser> {
        self.users.iter().find(|u| u.key == key)
    }
}

impl WorldConfig {
    /// The config of [`World::demo`].
    pub fn demo() -> WorldConfig {
        WorldConfig {
            seed: 20_160_328,
            clusters: vec![
                // University of Montana: bbox [-113.98937, 46.85699, -113.98002, 46.86501].
                Cluster {
                    center: [-113.984695, 46.861],
                    radius_m: 420.0,
                    empty_within_m: 0.0,
                    images: 1500,
                },
                // University of Washington, the tutorial's closeto point.
                Cluster {
                    center: [-122.3079, 47.6537],
                    radius_m: 400.0,
                    empty_within_m: 100.0,
                    images: 800,
                },
                // Colorado State University, the tutorial's sequence bbox.
                Cluster {
                    center: [-105.086_659, 40.572_647],
                    radius_m: 650.0,
                    empty_within_m: 0.0,
                    images: 700,
                },
            ],
            quirks: true,
            broken_coordinate_properties: false,
        }
    }
}

/// The path a sequence takes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    /// A wandering path, images 5-15 m apart.
    Walk,
    /// A walk captured at the epoch (a real-data quirk).
    EpochWalk,
    /// A walk where some images repeat the previous position exactly.
    StutteringWalk,
    /// A walk from the cluster's centre captured in the tutorial's year.
    TutorialWalk,
    /// One image.
    Single,
    /// Every image at one position (a camera left running while standing still).
    Still,
}

impl Shape {
    /// The quirk shapes of a quirky cluster's first sequences, then plain walks.
    fn quirk(sequence_idx: usize) -> Shape {
        match sequence_idx {
            0 => Shape::EpochWalk,
            1 => Shape::Single,
            2 => Shape::Still,
            3 => Shape::StutteringWalk,
            4 => Shape::TutorialWalk,
            _ => Shape::Walk,
        }
    }
}

struct Generator {
    rng: SmallRng,
    used_keys: HashSet<String>,
}

impl Generator {
    /// A fresh 22-character key, unique in the world.
    fn key(&mut self) -> String {
        loop {
            let key: String = (0..KEY_LEN)
                .map(|_| char::from(KEY_ALPHABET[self.rng.random_range(0..KEY_ALPHABET.len())]))
                .collect();
            if self.used_keys.insert(key.clone()) {
                return key;
            }
        }
    }

    /// The image count of the next sequence; never leaves a remainder too short for a walk.
    fn sequence_len(&mut self, shape: Shape, remaining: usize) -> usize {
        let len = match shape {
            Shape::Single => 1,
            Shape::Still => 10,
            _ => self.rng.random_range(MIN_SEQUENCE_LEN..=MAX_SEQUENCE_LEN),
        };
        let is_walk = matches!(shape, Shape::Walk | Shape::TutorialWalk);
        if remaining.saturating_sub(len) < MIN_SEQUENCE_LEN && is_walk {
            remaining
        } else {
            len.min(remaining)
        }
    }

    fn capture_start_ms(&mut self) -> i64 {
        let (start, end) = if self.rng.random_bool(TUTORIAL_YEAR_SHARE) {
            TUTORIAL_YEAR_MS
        } else {
            CAPTURE_SPAN_MS
        };
        self.rng.random_range(start..end)
    }

    fn sequence(
        &mut self,
        cluster: &Cluster,
        shape: Shape,
        len: usize,
        user: &MockUser,
        organization_key: Option<String>,
    ) -> MockSequence {
        let key = self.key();
        let (make, model) = CAMERAS[self.rng.random_range(0..CAMERAS.len())];
        let pano = self.rng.random_bool(0.1);
        let mut captured_at_ms = match shape {
            Shape::EpochWalk => 0,
            Shape::TutorialWalk => self
                .rng
                .random_range(TUTORIAL_YEAR_MS.0..TUTORIAL_YEAR_MS.1),
            _ => self.capture_start_ms(),
        };
        let path = self.path(cluster, shape, len);
        let mut images = Vec::with_capacity(len);
        for (position, heading) in path {
            let ca = (!self.rng.random_bool(0.005))
                .then(|| (heading + self.rng.random_range(-8.0..8.0)).rem_euclid(360.0));
            images.push(MockImage {
                key: self.key(),
                lon: position[0],
                lat: position[1],
                ca,
                captured_at_ms,
                camera_make: make.map(str::to_owned),
                camera_model: model.map(str::to_owned),
                pano,
                sequence_key: key.clone(),
                user_key: user.key.clone(),
                username: user.username.clone(),
                organization_key: organization_key.clone(),
                computed_position: None,
                computed_ca: None,
            });
            captured_at_ms += self.rng.random_range(2_000..=4_000);
        }
        // Uploaded between an hour and a month after the last capture.
        let created_at_ms = captured_at_ms.max(CAPTURE_SPAN_MS.0)
            + self.rng.random_range(3_600_000..30 * 86_400_000);
        MockSequence {
            key,
            user_key: user.key.clone(),
            camera_make: make.map(str::to_owned),
            pano,
            created_at_ms,
            images,
            broken_coordinate_properties: false,
        }
    }

    /// `len` (position, heading) pairs of a path in the cluster.
    fn path(&mut self, cluster: &Cluster, shape: Shape, len: usize) -> Vec<([f64; 2], f64)> {
        // One metre of margin so that rounding never brings a point into the empty disc.
        let keep_out = cluster.empty_within_m + 1.0;
        let outer = cluster.radius_m.max(keep_out);
        let r = (self.rng.random_range(0.0..=1.0) * (outer.powi(2) - keep_out.powi(2))
            + keep_out.powi(2))
        .sqrt();
        let mut position = if shape == Shape::TutorialWalk {
            cluster.center
        } else {
            offset(cluster.center, r, self.rng.random_range(0.0..360.0))
        };
        let mut heading: f64 = self.rng.random_range(0.0..360.0);
        let mut path = Vec::with_capacity(len);
        for idx in 0..len {
            path.push((round_position(position), heading));
            let stutter = shape == Shape::StutteringWalk && idx % 4 == 2;
            if shape == Shape::Still || stutter {
                continue;
            }
            heading += self.rng.random_range(-25.0..25.0);
            let step = self.rng.random_range(5.0..=15.0);
            let next = offset(position, step, heading);
            let from_center = haversine_m(cluster.center, next);
            if from_center > outer * STRAY_FACTOR {
                heading =
                    bearing_deg(position, cluster.center) + self.rng.random_range(-30.0..30.0);
            } else if from_center < keep_out {
                heading =
                    bearing_deg(cluster.center, position) + self.rng.random_range(-30.0..30.0);
            }
            heading = heading.rem_euclid(360.0);
            position = offset(position, step, heading);
        }
        path
    }
}

fn round_position(p: [f64; 2]) -> [f64; 2] {
    p.map(|v| (v * COORDINATE_SCALE).round() / COORDINATE_SCALE)
}

/// Gives most images a computed position and angle near their own. A generator of its own
/// (from `seed`) so that the rest of the world is what it was before computed values existed.
fn place_computed(sequences: &mut [MockSequence], seed: u64) {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5f6d_5f63_6f6d_7075);
    for image in sequences.iter_mut().flat_map(|s| s.images.iter_mut()) {
        if rng.random_bool(UNPLACED_SHARE) {
            continue;
        }
        let moved = offset(
            [image.lon, image.lat],
            rng.random_range(0.0..MAX_COMPUTED_OFFSET_M),
            rng.random_range(0.0..360.0),
        );
        image.computed_position =
            Some(moved.map(|v| (v * COMPUTED_SCALE).round() / COMPUTED_SCALE));
        // Structure from motion finds an angle even where the camera reported none.
        let reported = image.ca.unwrap_or_else(|| rng.random_range(0.0..360.0));
        image.computed_ca = Some((reported + rng.random_range(-6.0..6.0)).rem_euclid(360.0));
    }
}
