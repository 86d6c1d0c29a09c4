//! The job file rules, end to end through `parse`.

use std::num::NonZeroU32;
use std::path::Path;

use model::{Api, Area, Format};

use super::{JobError, JobErrors, parse};

fn errors(text: &str) -> Vec<JobError> {
    parse(Path::new("job.toml"), text).unwrap_err().errors
}

#[test]
fn the_issue_example_parses() {
    let job = parse(
        Path::new("job.toml"),
        r#"
name = "montana-campus"
api = "v3"
resources = ["images", "sequences"]
formats = ["geojson", "shapefile", "gpx", "csv"]
usernames = ["chrisbeddow", "gyllen"]
userkeys = ["KtBC-RdGZ5_HU6J4Hhvnmw"]

[[areas]]
name = "campus"
bbox = [-113.98937, 46.85699, -113.98002, 46.86501]

[[areas]]
name = "uw"
closeto = [-122.3079, 47.6537]
radius = 200

[[date_ranges]]
start = "2016-03-28"
end = "2017-03-28"
"#,
    )
    .unwrap();
    assert_eq!(job.name, "montana-campus");
    assert_eq!(job.formats, Format::DEFAULT.to_vec());
    assert_eq!(job.usernames, ["chrisbeddow", "gyllen"]);
    assert_eq!(
        job.areas[1].area,
        Area::Closeto {
            center: [-122.3079, 47.6537],
            radius_m: 200.0
        }
    );
    assert_eq!(job.date_ranges[0].range.start_ms, 1_459_123_200_000);
    assert_eq!(job.date_ranges[0].range.end_ms, 1_490_659_200_000);
    assert_eq!(job.date_ranges[0].label, "2016-03-28..2017-03-28");
}

#[test]
fn defaults_apply() {
    let job = parse(
        Path::new("j.toml"),
        "name = \"x\"\n[[areas]]\ncloseto = [1, 2]\n",
    )
    .unwrap();
    assert_eq!(job.api, Api::V3);
    assert!(job.images && job.sequences);
    assert_eq!(job.areas[0].name, "area-1");
    assert_eq!(
        job.areas[0].area,
        Area::Closeto {
            center: [1.0, 2.0],
            radius_m: 100.0
        }
    );
    assert_eq!(job.lookat_tolerance_deg, 30.0);
}

#[test]
fn every_problem_is_reported_at_once_with_line_column_and_key() {
    let errs = errors(
        r#"name = "../etc"
api = "v5"
formats = ["geojson", "kml"]
resources = ["images", "photos"]
colour = "red"
client_id = "abc"

[[areas]]
bbox = [10, 0, 5, 1]
closeto = [1, 2]

[[areas]]
closeto = [200, 2]
radius = -5

[[areas]]
bbox = [0, 95, 1, 96]

[[date_ranges]]
start = "2017-01-01"
end = "2016-01-01"
"#,
    );
    let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "name",
            "api",
            "formats",
            "resources",
            "colour",
            "client_id",
            "areas[1].closeto",
            "areas[2].closeto",
            "areas[2].radius",
            "areas[3].bbox",
            "areas[3].bbox",
            "date_ranges[1].end"
        ],
        "{errs:#?}"
    );
    assert_eq!((errs[1].line, errs[1].column), (2, 7));
    assert!(errs[5].message.contains("MAPILLARY_CLIENT_ID"));
    assert!(errs[7].message.contains("longitude 200"));
    assert!(errs[11].message.contains("must be after start"));
}

#[test]
fn bbox_min_greater_than_max_is_named() {
    let errs = errors("name = \"x\"\n[[areas]]\nbbox = [10, 0, 5, 1]\n");
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].key, "areas[1].bbox");
    assert_eq!((errs[0].line, errs[0].column), (3, 8));
    assert!(
        errs[0]
            .message
            .contains("minx (10) must be less than maxx (5)")
    );
}

#[test]
fn missing_and_empty_areas_are_errors() {
    assert_eq!(errors("name = \"x\"\n")[0].key, "areas");
    assert!(
        errors("name = \"x\"\nareas = []\n")[0]
            .message
            .contains("empty")
    );
    assert_eq!(errors("[[areas]]\nbbox = [0, 0, 1, 1]\n")[0].key, "name");
}

#[test]
fn a_pasted_v4_token_is_refused_wherever_it_is() {
    let errs =
        errors("name = \"x\"\nusernames = [\"MLY|123|abc\"]\n[[areas]]\nbbox = [0, 0, 1, 1]\n");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].message.contains("MAPILLARY_ACCESS_TOKEN"));
}

#[test]
fn unknown_keys_suggest_the_right_one() {
    let errs = errors("name = \"x\"\nusername = [\"a\"]\n[[areas]]\nbox = [0, 0, 1, 1]\n");
    assert_eq!(errs[0].message, "unknown key; did you mean `usernames`?");
    let typo = errs.iter().find(|e| e.key == "areas[1].box").unwrap();
    assert_eq!(typo.message, "unknown key; did you mean `bbox`?");
    assert_eq!((typo.line, typo.column), (4, 1));
}

#[test]
fn toml_syntax_errors_keep_their_position() {
    let errs = errors("name = \"x\nfoo");
    assert_eq!(errs.len(), 1);
    let (line, column) = (errs[0].line, errs[0].column);
    assert!(line >= 1 && column >= 1);
    let shown = JobErrors {
        path: "j.toml".into(),
        errors: errs,
    }
    .to_string();
    assert!(shown.starts_with("j.toml: 1 problem"), "{shown}");
    assert!(
        shown.contains(&format!("j.toml:{line}:{column}: ")),
        "{shown}"
    );
    assert!(shown.contains('^'), "{shown}");
}

#[test]
fn a_bad_api_or_area_name_hides_no_later_error() {
    let errs = errors(
        "name = \"x\"\napi = 3\nformats = [\"kml\"]\n[[areas]]\nname = 5\nbbox = [0, 0, 200, 1]\n[[areas]]\nname = \"a b\"\ncloseto = [1, 2]\nradius = 0\n",
    );
    let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "api",
            "formats",
            "areas[1].name",
            "areas[1].bbox",
            "areas[2].name",
            "areas[2].radius"
        ],
        "{errs:#?}"
    );
    assert!(errs[0].message.contains("expected \"v3\" or \"v4\""));
    // Every bad entry of a list is named, not only the first.
    let errs = errors(
        "name = \"x\"\nusernames = [\"\", \"a,b\"]\nformats = [1, \"csv\", 2]\n[[areas]]\nbbox = [\"w\", 0, \"e\", 1]\n",
    );
    assert_eq!(errs.len(), 6, "{errs:#?}");
}

#[test]
fn numbers_the_run_cannot_hold_are_refused_with_their_range() {
    let errs = errors(
        "name = \"x\"\nrequests_per_second = 1e-30\nmax_attempts = 0\nlookat = [0, 0]\nlookat_tolerance = 1e-320\n[[areas]]\ncloseto = [1, 2]\nradius = 1e300\n",
    );
    let shown: Vec<(&str, &str)> = errs
        .iter()
        .map(|e| (e.key.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(
        shown,
        [
            (
                "requests_per_second",
                "1e-30 is out of range; expected 0.001 to 1000000 requests per second"
            ),
            ("max_attempts", "0 is out of range; expected 1 to 100"),
            (
                "areas[1].radius",
                "1e300 is out of range; expected 0.01 to 10000000 metres"
            ),
        ],
    );
    // A subnormal tolerance is a real angle: the code holds it.
    let job = parse(
        Path::new("j.toml"),
        "name = \"x\"\nrequests_per_second = 0.001\nmax_attempts = 100\n[[areas]]\ncloseto = [1, 2]\nradius = 1e7\n",
    )
    .unwrap();
    assert_eq!(job.requests_per_second, Some(0.001));
    assert_eq!(job.max_attempts, NonZeroU32::new(100));
}

#[test]
fn dates_accept_rfc3339_and_toml_dates() {
    let job = parse(
        Path::new("j.toml"),
        "name = \"x\"\n[[areas]]\nbbox = [0, 0, 1, 1]\n[[date_ranges]]\nstart = 2016-03-28\nend = \"2016-03-28T12:00:00+02:00\"\n",
    )
    .unwrap();
    assert_eq!(job.date_ranges[0].range.start_ms, 1_459_123_200_000);
    assert_eq!(
        job.date_ranges[0].range.end_ms,
        1_459_123_200_000 + 10 * 3_600_000
    );
}

#[test]
fn lookat_pano_and_run_options() {
    let job = parse(
        Path::new("j.toml"),
        "name = \"x\"\nlookat = [-122.3, 47.6]\nlookat_tolerance = 45\npano = false\nmax_attempts = 3\nrequests_per_second = 40\n[[areas]]\nbbox = [0, 0, 1, 1]\n",
    )
    .unwrap();
    assert_eq!(job.lookat, Some([-122.3, 47.6]));
    assert_eq!(job.lookat_tolerance_deg, 45.0);
    assert_eq!(job.pano, Some(false));
    assert_eq!(job.max_attempts, NonZeroU32::new(3));
    assert_eq!(job.requests_per_second, Some(40.0));
    assert_eq!(job.max_rate_limit_wait, None);
    let waits = parse(
        Path::new("w.toml"),
        "name = \"x\"\nmax_rate_limit_wait_secs = 120\n[[areas]]\nbbox = [0, 0, 1, 1]\n",
    )
    .unwrap();
    assert_eq!(
        waits.max_rate_limit_wait,
        Some(std::time::Duration::from_secs(120))
    );
    for bad in ["-1", "1e9", "\"long\""] {
        let text = format!(
            "name = \"x\"\nmax_rate_limit_wait_secs = {bad}\n[[areas]]\nbbox = [0, 0, 1, 1]\n"
        );
        let errors = parse(Path::new("w.toml"), &text).unwrap_err().to_string();
        assert!(errors.contains("max_rate_limit_wait_secs"), "{errors}");
    }
    let errs = errors(
        "name = \"x\"\npano = \"yes\"\nlookat_tolerance = 0\n[[areas]]\nbbox = [0, 0, 1, 1]\n",
    );
    assert_eq!(errs.len(), 3, "{errs:#?}");
}
