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
        ..TransformConfig::default()
    }
}

/// What `check` prints: the job in words, every query with its filters, which filters the
/// tool applies itself, and the initial cells.
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
            "  then one /images?sequence_id= request per sequence found (whole sequences)"
        );
    }
    out
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
