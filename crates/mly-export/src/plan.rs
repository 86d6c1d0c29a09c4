//! From a validated job to the stages' configurations: the fetch queries and the transform's
//! client-side filters. Pure: `check` prints what this builds without touching the network.

use std::fmt::Write as _;

use fetch::{FetchConfig, Query, QueryResource};
use model::Api;
use transform::{LookAt, TransformConfig};

use crate::job::Job;

/// The API queries a job needs: areas × date ranges for images, areas for sequences (the
/// sequences endpoint takes no dates; the transform enforces them), areas for map features
/// (with `object_values`; the tool applies the dates). A v4 job that wants only sequences
/// still queries images: v4 finds sequences through their images.
pub fn queries(job: &Job) -> Vec<Query> {
    let mut queries = Vec::new();
    let wants_images = job.images || (job.api == Api::V4 && job.sequences);
    for area in &job.areas {
        if wants_images {
            let ranges: Vec<_> = if job.date_ranges.is_empty() {
                vec![None]
            } else {
                job.date_ranges.iter().map(Some).collect()
            };
            for range in ranges {
                let label = match range {
                    Some(r) => format!("{}/images/{}", area.name, r.label),
                    None => format!("{}/images", area.name),
                };
                queries.push(query(job, label, QueryResource::Images, area.area, range));
            }
        }
        if job.sequences && job.api == Api::V3 {
            queries.push(query(
                job,
                format!("{}/sequences", area.name),
                QueryResource::Sequences,
                area.area,
                None,
            ));
        }
        if job.map_features {
            let mut q = query(
                job,
                format!("{}/map_features", area.name),
                QueryResource::MapFeatures,
                area.area,
                None,
            );
            q.object_values = job.map_feature_keys.object_values.clone();
            queries.push(q);
        }
    }
    queries
}

fn query(
    job: &Job,
    label: String,
    resource: QueryResource,
    area: model::Area,
    range: Option<&crate::job::JobDateRange>,
) -> Query {
    Query {
        label,
        resource,
        area,
        date_range: range.map(|r| r.range),
        usernames: job.usernames.clone(),
        userkeys: job.userkeys.clone(),
        pano: job.pano,
        lookat: job.lookat,
        object_values: Vec::new(),
    }
}

/// The transform's filters. `resolved_userkeys` are the v3 users endpoint's keys for the job's
/// usernames (sequences carry only a user key).
pub fn transform_config(job: &Job, resolved_userkeys: &[String]) -> TransformConfig {
    let mut userkeys = job.userkeys.clone();
    userkeys.extend(resolved_userkeys.iter().cloned());
    userkeys.sort();
    userkeys.dedup();
    TransformConfig {
        api: job.api,
        areas: job.areas.iter().map(|a| a.area).collect(),
        usernames: job.usernames.clone(),
        userkeys,
        date_ranges: job.date_ranges.iter().map(|r| r.range).collect(),
        pano: job.pano,
        // v3 applies `lookat` itself, by its own rule; only v4 needs the client to.
        lookat: match (job.api, job.lookat) {
            (Api::V4, Some(target)) => Some(LookAt {
                target,
                tolerance_deg: job.lookat_tolerance_deg,
            }),
            _ => None,
        },
        object_values: job.map_feature_keys.object_values.clone(),
        object_types: job.map_feature_keys.object_types.clone(),
        sequences_from_images: job.api == Api::V4 && job.sequences && !job.whole_sequences,
        ..TransformConfig::default()
    }
}

/// What `check` prints: the job in words, every query with its filters, which filters the
/// tool applies itself, the initial cells, and the estimated cost.
pub fn describe(job: &Job, config: &FetchConfig) -> String {
    let queries = queries(job);
    let plan = fetch::plan(config, &queries);
    let mut out = String::new();
    let mut resources = Vec::new();
    if job.images {
        resources.push("images");
    }
    if job.sequences {
        resources.extend(["sequences", "sequence_points"]);
    }
    if job.map_features {
        resources.push("map_features");
    }
    let resources = resources.join(", ");
    let formats: Vec<_> = job.formats.iter().map(|f| f.as_str()).collect();
    let _ = writeln!(out, "job {} ({}): OK", job.name, job.source.display());
    let _ = writeln!(out, "  api:       {}", job.api.as_str());
    let _ = writeln!(out, "  resources: {resources}");
    let _ = writeln!(out, "  formats:   {}", formats.join(", "));
    let _ = writeln!(out, "  queries:   {}", queries.len());
    for q in &queries {
        let _ = writeln!(out, "    - {}", q.label);
    }
    let _ = writeln!(out, "  filters applied by the tool (client side):");
    for line in client_side_filters(job) {
        let _ = writeln!(out, "    - {line}");
    }
    let _ = writeln!(
        out,
        "  initial requests (cells): {}{}",
        plan.cells(),
        if job.api == Api::V4 {
            " (v4 bbox cells under 0.01 square degrees; a full cell is split further)"
        } else {
            " (a query that reaches the 10,000-item cap is split into quadrants)"
        }
    );
    for line in plan.lines() {
        let _ = writeln!(out, "    {line}");
    }
    if job.api == Api::V4 && job.sequences {
        let _ = writeln!(
            out,
            "{}",
            if job.whole_sequences {
                "  then one /images?sequence_id= request per sequence found (whole sequences)"
            } else {
                "  sequences: lines through the images inside the areas (whole_sequences = false; \
                 no request per sequence)"
            }
        );
    }
    write_estimate(&mut out, job, config, &queries);
    out
}

/// Requests per minute the API publishes as an app's quota: v4 search, 10,000/min.
const V4_SEARCH_QUOTA_PER_MIN: f64 = 10_000.0;
/// v3 (retired in 2021) published no quota that survives; assumed the same as v4 search.
const V3_ASSUMED_QUOTA_PER_MIN: f64 = 10_000.0;

/// The rate the estimate assumes, requests per second, and where it comes from.
fn estimate_rate(job: &Job, config: &FetchConfig) -> (f64, &'static str) {
    match (config.requests_per_second, job.api) {
        (Some(rate), _) => (rate, "the job's requests_per_second"),
        (None, Api::V4) => (
            V4_SEARCH_QUOTA_PER_MIN / 60.0,
            "the v4 search quota, 10,000 requests/min per app",
        ),
        (None, Api::V3) => (
            V3_ASSUMED_QUOTA_PER_MIN / 60.0,
            "no v3 quota is published; assumed 10,000 requests/min like v4 search",
        ),
    }
}

/// The cost lines of `check`: per query its initial cells and a lower bound of its requests
/// (each cell is at least one request), then the job's total and its time at the rate of
/// [`estimate_rate`]. Splits, further pages and retries only add to it.
fn write_estimate(out: &mut String, job: &Job, config: &FetchConfig, queries: &[Query]) {
    let _ = writeln!(
        out,
        "  estimate (lower bounds: every initial cell is at least one request; splits, further \
         pages and retries add more):"
    );
    let mut requests: u64 = 0;
    for query in queries {
        let cells = fetch::plan(config, std::slice::from_ref(query)).cells() as u64;
        requests = requests.saturating_add(cells);
        let _ = writeln!(
            out,
            "    {}: {cells} initial cell{}, at least {cells} request{}",
            query.label,
            plural(cells),
            plural(cells)
        );
    }
    if job.api == Api::V3 && !job.usernames.is_empty() {
        requests += 1;
        let _ = writeln!(out, "    users: 1 request (/users resolves the usernames)");
    }
    if job.api == Api::V4 && job.sequences && job.whole_sequences {
        let _ = writeln!(
            out,
            "    sequences: one more request per sequence found (not known before the run)"
        );
    }
    let (rate, source) = estimate_rate(job, config);
    let _ = writeln!(
        out,
        "    total: at least {requests} request{}, about {} at {} requests/s ({source})",
        plural(requests),
        human_duration(requests as f64 / rate),
        round_rate(rate)
    );
}

/// What the previous run of `job` into `out` cost, from its manifest: `last run: N requests in
/// T`, or `None` when there is no previous export. A manifest that cannot be read says so.
pub fn last_run(job: &Job, out: &std::path::Path) -> Option<String> {
    let manifest = match write::read_previous_manifest(out, &job.name) {
        Ok(manifest) => manifest?,
        Err(e) => return Some(format!("  last run: unknown ({e})")),
    };
    let summary = &manifest["summary"];
    let (Some(requests), Some(seconds)) =
        (summary["requests"].as_u64(), summary["seconds"].as_f64())
    else {
        return Some(format!(
            "  last run: unknown ({} has no summary.requests and summary.seconds)",
            out.join(&job.name).join("manifest.json").display()
        ));
    };
    let cached = summary["pages_from_cache"].as_u64().unwrap_or(0);
    let resumed = if cached > 0 {
        format!(
            ", plus {cached} page{} fetched before it resumed",
            plural(cached)
        )
    } else {
        String::new()
    };
    let finished = manifest["finished_at"].as_str().unwrap_or("unknown time");
    Some(format!(
        "  last run: {requests} request{} in {}{resumed} (finished {finished}, {})",
        plural(requests),
        human_duration(seconds),
        out.join(&job.name).display()
    ))
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A rate without spurious decimals: `166.7`, `2`.
fn round_rate(rate: f64) -> String {
    let rounded = (rate * 10.0).round() / 10.0;
    format!("{rounded}")
}

/// `0.04 s`, `12.0 s`, `3 min 20 s`, `2 h 05 min`.
fn human_duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "an unknown time".to_owned();
    }
    if seconds < 1.0 {
        return format!("{seconds:.2} s");
    }
    if seconds < 60.0 {
        return format!("{seconds:.1} s");
    }
    let whole = seconds.round() as u64;
    if whole < 3600 {
        format!("{} min {:02} s", whole / 60, whole % 60)
    } else {
        format!("{} h {:02} min", whole / 3600, whole % 3600 / 60)
    }
}

const LOOKAT_NOT_FOR_SEQUENCES: &str =
    "sequences: lookat does not apply (it is an image filter; whole sequences are kept)";

fn client_side_filters(job: &Job) -> Vec<String> {
    let mut lines = vec![
        "dedupe by key across areas, date ranges, cells and pages".to_owned(),
        "images: inside at least one area (the API may return points just outside)".to_owned(),
    ];
    if job.map_features {
        lines.extend(map_feature_filters(job));
    }
    let users = !job.usernames.is_empty() || !job.userkeys.is_empty();
    match job.api {
        Api::V3 => {
            if job.sequences {
                if users {
                    lines.push(
                        "sequences: users (usernames are resolved to userkeys via /users)".into(),
                    );
                }
                if !job.date_ranges.is_empty() {
                    lines.push("sequences: date ranges (the sequences endpoint has none)".into());
                }
                if job.pano.is_some() {
                    lines.push("sequences: pano (the sequences endpoint has none)".into());
                }
                if job.lookat.is_some() {
                    lines.push(LOOKAT_NOT_FOR_SEQUENCES.into());
                }
            }
            if users || !job.date_ranges.is_empty() || job.pano.is_some() {
                lines.push("images: users, dates and pano re-checked after the API".into());
            }
        }
        Api::V4 => {
            if !job.userkeys.is_empty() {
                lines.push("userkeys (creator ids): v4 has no such search filter".into());
            }
            if let Some([lon, lat]) = job.lookat {
                lines.push(format!(
                    "lookat [{lon}, {lat}]: bearing to the place within ±{}° of the compass \
                     angle, panoramas always",
                    job.lookat_tolerance_deg
                ));
            }
            if job.sequences && (!job.date_ranges.is_empty() || users || job.pano.is_some()) {
                lines.push("sequences: users, dates and pano checked on the whole sequence".into());
            }
            if job.sequences && job.lookat.is_some() {
                lines.push(LOOKAT_NOT_FOR_SEQUENCES.into());
            }
        }
    }
    lines
}

/// What `check` says about map features: what the tool applies and what does not apply.
fn map_feature_filters(job: &Job) -> Vec<String> {
    let keys = &job.map_feature_keys;
    let mut lines =
        vec!["map_features: dedupe by id; inside at least one area (re-checked)".to_owned()];
    if !keys.object_values.is_empty() {
        lines.push(format!(
            "map_features: object_values {} (sent to the API and re-checked)",
            keys.object_values.join(", ")
        ));
    }
    if !keys.object_types.is_empty() {
        lines.push(format!(
            "map_features: object_types {} (the API has no such filter)",
            keys.object_types.join(", ")
        ));
    }
    if !job.date_ranges.is_empty() {
        lines.push(
            "map_features: date ranges: seen during a range (first_seen_at before its end, \
             last_seen_at at or after its start)"
                .into(),
        );
    }
    let mut not_applying = Vec::new();
    if !job.usernames.is_empty() {
        not_applying.push("usernames");
    }
    if !job.userkeys.is_empty() {
        not_applying.push("userkeys");
    }
    if job.pano.is_some() {
        not_applying.push("pano");
    }
    if job.lookat.is_some() {
        not_applying.push("lookat");
    }
    if !not_applying.is_empty() {
        lines.push(format!(
            "map_features: {} do not apply (image filters; every map feature in the areas is kept)",
            not_applying.join(", ")
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn describe_toml(toml: &str) -> String {
        let job = crate::job::parse(std::path::Path::new("t.toml"), toml).unwrap_or_else(|e| {
            panic!("{e}");
        });
        let mut config = FetchConfig::new(
            job.api,
            url::Url::parse("http://127.0.0.1:1/").unwrap_or_else(|e| panic!("{e}")),
            fetch::Secret::new(String::new()),
            std::path::PathBuf::from("cache"),
        );
        config.requests_per_second = job.requests_per_second;
        describe(&job, &config)
    }

    #[test]
    fn a_large_v4_area_costs_one_request_per_cell_at_the_published_quota() {
        // 1 x 1 degree in cells under 0.01 square degrees: at least 100 of them.
        let text = describe_toml(
            "name = \"big\"\napi = \"v4\"\nresources = [\"images\"]\n\
             [[areas]]\nname = \"a\"\nbbox = [10.0, 45.0, 11.0, 46.0]\n",
        );
        let cells: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("  initial requests (cells): "))
            .and_then(|l| l.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{text}"));
        assert!(cells >= 100, "{text}");
        let total = format!(
            "    total: at least {cells} requests, about {} at 166.7 requests/s (the v4 search \
             quota, 10,000 requests/min per app)",
            human_duration(cells as f64 * 60.0 / 10_000.0)
        );
        assert!(text.contains(&total), "{text}");
        assert!(text.contains(&format!(
            "    a/images: {cells} initial cells, at least {cells} requests"
        )));
    }

    #[test]
    fn the_jobs_rate_wins_over_the_quota() {
        let text = describe_toml(
            "name = \"slow\"\napi = \"v3\"\nresources = [\"images\"]\nusernames = [\"u\"]\n\
             requests_per_second = 0.5\n[[areas]]\nname = \"a\"\nbbox = [10.0, 45.0, 10.01, 45.01]\n",
        );
        // One cell and the /users lookup, two seconds apart.
        assert!(
            text.contains("    total: at least 2 requests, about 4.0 s at 0.5 requests/s (the job's requests_per_second)"),
            "{text}"
        );
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human_duration(0.024), "0.02 s");
        assert_eq!(human_duration(12.0), "12.0 s");
        assert_eq!(human_duration(200.0), "3 min 20 s");
        assert_eq!(human_duration(7500.0), "2 h 05 min");
        assert_eq!(human_duration(f64::NAN), "an unknown time");
    }
}
