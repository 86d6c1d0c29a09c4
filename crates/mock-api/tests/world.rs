//! The generated worlds: determinism, the demo world's places and quirks, the dense world.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;

use common::{CSU, MONTANA, TUTORIAL_YEAR, UW, haversine, in_bbox};
use mock_api::{MockImage, World, WorldConfig};

#[test]
fn one_seed_gives_one_world_and_another_seed_another() {
    assert_eq!(World::demo(), World::demo());
    let a = World::dense([10.0, 50.0], 2000, 7);
    assert_eq!(a, World::dense([10.0, 50.0], 2000, 7));
    assert_ne!(a, World::dense([10.0, 50.0], 2000, 8));
}

#[test]
fn demo_world_has_the_tutorials_places_and_sizes() {
    let world = World::demo();
    let images: Vec<&MockImage> = world.images().collect();
    assert!((2900..=3100).contains(&images.len()), "{}", images.len());
    let montana = images
        .iter()
        .filter(|i| in_bbox(MONTANA, i.lon, i.lat))
        .count();
    let csu = images.iter().filter(|i| in_bbox(CSU, i.lon, i.lat)).count();
    let uw_400 = images
        .iter()
        .filter(|i| haversine(UW, [i.lon, i.lat]) <= 450.0)
        .count();
    assert!((1000..=1500).contains(&montana), "{montana}");
    assert!((500..=700).contains(&csu), "{csu}");
    assert_eq!(uw_400, 800);
    // The tutorial found nothing within 100 m of its point, then something within 200 m.
    let uw_100 = images
        .iter()
        .filter(|i| haversine(UW, [i.lon, i.lat]) <= 100.0)
        .count();
    let uw_200 = images
        .iter()
        .filter(|i| haversine(UW, [i.lon, i.lat]) <= 200.0)
        .count();
    assert_eq!(uw_100, 0);
    assert!(uw_200 > 50, "{uw_200}");
    // Sequences are not clipped: some start in the Montana box and leave it.
    assert!(world.sequences.iter().any(|s| {
        in_bbox(MONTANA, s.images[0].lon, s.images[0].lat)
            && s.images.iter().any(|i| !in_bbox(MONTANA, i.lon, i.lat))
    }));
    // The montana-campus job (chrisbeddow, 2016-03-28..2017-03-28) finds images.
    let chris = world
        .users
        .iter()
        .find(|u| u.username == "chrisbeddow")
        .unwrap();
    let job_hits = images
        .iter()
        .filter(|i| {
            i.user_key == chris.key
                && in_bbox(MONTANA, i.lon, i.lat)
                && (TUTORIAL_YEAR.0..TUTORIAL_YEAR.1).contains(&i.captured_at_ms)
        })
        .count();
    assert!(job_hits > 0);
}

#[test]
fn demo_world_keys_users_and_times_look_real() {
    let world = World::demo();
    let is_key = |k: &str| {
        k.len() == 22
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let mut keys = HashSet::new();
    for user in &world.users {
        assert!(is_key(&user.key));
        assert!(keys.insert(user.key.clone()));
    }
    for sequence in &world.sequences {
        assert!(is_key(&sequence.key) && keys.insert(sequence.key.clone()));
        assert!(!sequence.broken_coordinate_properties);
        let user = world.user(&sequence.user_key).unwrap();
        for pair in sequence.images.windows(2) {
            assert!(pair[0].captured_at_ms < pair[1].captured_at_ms);
        }
        for image in &sequence.images {
            assert!(is_key(&image.key) && keys.insert(image.key.clone()));
            assert_eq!(image.sequence_key, sequence.key);
            assert_eq!(image.user_key, sequence.user_key);
            assert_eq!(image.username, user.username);
            assert_eq!(image.camera_make, sequence.camera_make);
            assert_eq!(image.pano, sequence.pano);
        }
    }
    let names: Vec<&str> = world.users.iter().map(|u| u.username.as_str()).collect();
    for name in [
        "chrisbeddow",
        "gyllen",
        "natfoot",
        "東京マッパー",
        "O'Brien, \"Bob\"",
        "=HYPERLINK(1)",
    ] {
        assert!(names.contains(&name), "{name}");
    }
    assert!((7..=10).contains(&names.len()));
    let years: HashSet<i64> = world
        .images()
        .map(|i| i.captured_at_ms / 31_556_952_000 + 1970)
        .collect();
    for year in 2014..=2021 {
        assert!(years.contains(&year), "no capture in {year}");
    }
    let in_tutorial_year = world
        .images()
        .filter(|i| (TUTORIAL_YEAR.0..TUTORIAL_YEAR.1).contains(&i.captured_at_ms))
        .count();
    assert!(
        in_tutorial_year * 4 > world.images().count(),
        "{in_tutorial_year}"
    );
}

#[test]
fn demo_world_has_every_real_data_quirk() {
    let world = World::demo();
    let seqs = &world.sequences;
    let epoch = seqs
        .iter()
        .filter(|s| s.images[0].captured_at_ms == 0)
        .count();
    assert_eq!(epoch, 1, "one sequence captured at 1970-01-01T00:00:00Z");
    let makes: HashSet<Option<&str>> = seqs.iter().map(|s| s.camera_make.as_deref()).collect();
    for make in [None, Some("Essential Products"), Some("Foo, \"Bar\" Inc.")] {
        assert!(makes.contains(&make), "{make:?}");
    }
    let with_model = world.images().filter(|i| i.camera_model.is_some()).count();
    assert!(
        with_model * 3 > world.images().count() * 2,
        "camera_model on most"
    );
    let with_org = seqs
        .iter()
        .filter(|s| s.images[0].organization_key.is_some())
        .count();
    assert!((1..seqs.len() / 4).contains(&with_org), "{with_org}");
    assert!(seqs.iter().any(|s| s.pano));
    let no_ca = world.images().filter(|i| i.ca.is_none()).count();
    assert!((1..=60).contains(&no_ca), "{no_ca}");
    // ca as long floats, roughly along the direction of travel.
    assert!(
        world
            .images()
            .any(|i| i.ca.is_some_and(|ca| ca.fract().to_string().len() > 12))
    );
    let along = seqs
        .iter()
        .flat_map(|s| s.images.windows(2))
        .filter(|w| (w[0].lon, w[0].lat) != (w[1].lon, w[1].lat))
        .filter_map(|w| {
            let travel = common::bearing([w[0].lon, w[0].lat], [w[1].lon, w[1].lat]);
            w[0].ca
                .map(|ca| ((ca - travel + 540.0) % 360.0 - 180.0).abs() < 45.0)
        })
        .fold((0, 0), |(yes, all), ok| (yes + usize::from(ok), all + 1));
    assert!(along.0 * 10 > along.1 * 8, "{along:?}");
    let position = |i: &MockImage| (i.lon.to_bits(), i.lat.to_bits());
    assert!(seqs.iter().any(|s| {
        s.images
            .windows(2)
            .any(|w| position(&w[0]) == position(&w[1]))
            && s.images.iter().map(position).collect::<HashSet<_>>().len() > 1
    }));
    assert_eq!(seqs.iter().filter(|s| s.images.len() == 1).count(), 1);
    assert!(
        seqs.iter().any(|s| s.images.len() > 1
            && s.images.iter().map(position).collect::<HashSet<_>>().len() == 1)
    );
    for s in seqs.iter().filter(|s| s.images.len() > 1) {
        assert!((5..=120).contains(&s.images.len()), "{}", s.images.len());
    }
}

#[test]
fn steps_are_five_to_fifteen_metres_and_two_to_four_seconds() {
    let world = World::demo();
    for pair in world.sequences.iter().flat_map(|s| s.images.windows(2)) {
        let d = haversine([pair[0].lon, pair[0].lat], [pair[1].lon, pair[1].lat]);
        assert!(d == 0.0 || (4.9..=15.1).contains(&d), "{d}");
        let dt = pair[1].captured_at_ms - pair[0].captured_at_ms;
        assert!((2000..=4000).contains(&dt), "{dt}");
    }
}

#[test]
fn most_images_have_computed_values_near_their_own_and_some_none() {
    let world = World::demo();
    let images: Vec<&MockImage> = world.images().collect();
    let placed: Vec<&&MockImage> = images
        .iter()
        .filter(|i| i.computed_position.is_some())
        .collect();
    let share = placed.len() as f64 / images.len() as f64;
    assert!((0.85..0.97).contains(&share), "{share}");
    // Both or neither.
    assert!(
        images
            .iter()
            .all(|i| i.computed_position.is_some() == i.computed_ca.is_some())
    );
    for image in placed {
        let moved = haversine([image.lon, image.lat], image.computed_position.unwrap());
        assert!(moved < 4.01, "{} moved {moved} m", image.key);
        assert_ne!(image.computed_position, Some([image.lon, image.lat]));
        let computed = image.computed_ca.unwrap();
        assert!((0.0..360.0).contains(&computed));
        if let Some(ca) = image.ca {
            let d = (computed - ca).rem_euclid(360.0);
            assert!(d.min(360.0 - d) <= 6.0, "{ca} vs {computed}");
        }
    }
    // Some images without a reported angle still got a computed one.
    assert!(
        images
            .iter()
            .any(|i| i.ca.is_none() && i.computed_ca.is_some())
    );
}

#[test]
fn config_can_break_one_sequences_coordinate_properties() {
    let world = World::generate(&WorldConfig {
        broken_coordinate_properties: true,
        ..WorldConfig::demo()
    });
    assert_eq!(
        world
            .sequences
            .iter()
            .filter(|s| s.broken_coordinate_properties)
            .count(),
        1
    );
}

/// How many levels of quadrant splitting a box needs until every cell holds at most `cap`.
fn split_depth(points: &[[f64; 2]], b: [f64; 4], cap: usize) -> usize {
    let inside: Vec<[f64; 2]> = points
        .iter()
        .copied()
        .filter(|p| in_bbox(b, p[0], p[1]))
        .collect();
    if inside.len() <= cap {
        return 0;
    }
    let (mx, my) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
    [
        [b[0], b[1], mx, my],
        [mx, b[1], b[2], my],
        [b[0], my, mx, b[3]],
        [mx, my, b[2], b[3]],
    ]
    .into_iter()
    .map(|q| 1 + split_depth(&inside, q, cap))
    .max()
    .unwrap()
}

#[test]
fn dense_world_needs_two_levels_of_splitting_at_a_small_cap() {
    let center = [-113.98, 46.86];
    let world = World::dense(center, 5000, 1);
    let points: Vec<[f64; 2]> = world.images().map(|i| [i.lon, i.lat]).collect();
    assert_eq!(points.len(), 5000);
    let b = [
        center[0] - 0.02,
        center[1] - 0.02,
        center[0] + 0.02,
        center[1] + 0.02,
    ];
    assert_eq!(
        points.iter().filter(|p| in_bbox(b, p[0], p[1])).count(),
        5000
    );
    let depth = split_depth(&points, b, 500);
    assert!(depth >= 2, "{depth}");
    // Unevenly dense: most images in a small part of the area.
    let near = points
        .iter()
        .filter(|p| haversine(center, **p) <= 250.0)
        .count();
    assert!(near > 3000, "{near}");
}
