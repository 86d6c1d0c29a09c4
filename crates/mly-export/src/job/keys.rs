//! Each top-level key's rule: `name`, `api`, `resources`, `formats`, the user lists, `lookat`,
//! `pano`, `whole_sequences` and the run options; `Checker::job` puts a job together.

use std::num::NonZeroU32;
use std::ops::Range;
use std::path::Path;

use model::{Api, Format};
use toml::de::{DeTable, DeValue};

use super::checker::{Checker, list_is_empty};
use super::types::{DEFAULT_LOOKAT_TOLERANCE_DEG, Job};
use crate::limits;

const TOP_KEYS: &[&str] = &[
    "name",
    "api",
    "resources",
    "formats",
    "usernames",
    "userkeys",
    "areas",
    "date_ranges",
    "lookat",
    "lookat_tolerance",
    "pano",
    "whole_sequences",
    "max_attempts",
    "requests_per_second",
    "max_rate_limit_wait_secs",
    "object_values",
    "object_types",
];

impl Checker<'_> {
    pub(super) fn job(
        &mut self,
        path: &Path,
        table: &DeTable<'_>,
        span: Range<usize>,
    ) -> Option<Job> {
        self.unknown_keys(table, "", TOP_KEYS);
        self.tokens_in_values(table, "");
        let name = self.name(table, span.clone());
        let api = match table.get("api") {
            None => Some(Api::V3),
            Some(v) => match v.get_ref() {
                DeValue::String(s) if s == "v3" => Some(Api::V3),
                DeValue::String(s) if s == "v4" => Some(Api::V4),
                other => {
                    let shown = match other {
                        DeValue::String(s) => format!("unknown API \"{s}\""),
                        _ => "expected a string".to_owned(),
                    };
                    self.error(
                        v.span(),
                        "api",
                        format!("{shown}; expected \"v3\" or \"v4\""),
                    );
                    None
                }
            },
        };
        let (images, sequences, map_features) = self.resources(table);
        let map_feature_keys = self.map_feature_keys(table, api, map_features);
        let formats = self.formats(table);
        let usernames = self.strings(table, "usernames");
        let userkeys = self.strings(table, "userkeys");
        let areas = self.areas(table, span);
        let date_ranges = self.date_ranges(table);
        let lookat = table.get("lookat").and_then(|v| self.position(v, "lookat"));
        let lookat_tolerance_deg = table
            .get("lookat_tolerance")
            .and_then(|v| self.number_in(v, "lookat_tolerance", limits::LOOKAT_TOLERANCE_DEG))
            .unwrap_or(DEFAULT_LOOKAT_TOLERANCE_DEG);
        if table.contains_key("lookat_tolerance") && !table.contains_key("lookat") {
            let v = &table["lookat_tolerance"];
            self.error(
                v.span(),
                "lookat_tolerance",
                "has no effect without `lookat = [lon, lat]`".into(),
            );
        }
        let pano = table.get("pano").and_then(|v| match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.error(
                    v.span(),
                    "pano",
                    "expected true (panoramas only) or false (no panoramas)".into(),
                );
                None
            }
        });
        let whole_sequences = match table.get("whole_sequences").map(|v| (v, v.get_ref())) {
            None => true,
            Some((_, DeValue::Boolean(true))) => true,
            Some((v, DeValue::Boolean(false))) if api == Some(Api::V3) => {
                self.error(
                    v.span(),
                    "whole_sequences",
                    "v3 sequences always come whole from /sequences; `false` needs api = \"v4\""
                        .into(),
                );
                true
            }
            Some((_, DeValue::Boolean(false))) => false,
            Some((v, _)) => {
                self.error(
                    v.span(),
                    "whole_sequences",
                    "expected true (fetch each sequence whole) or false (lines through the \
                     images inside the areas)"
                        .into(),
                );
                true
            }
        };
        let max_attempts = table.get("max_attempts").and_then(|v| {
            let n = self.integer(v, "max_attempts")?;
            let range = limits::MAX_ATTEMPTS;
            let attempts = u64::try_from(n)
                .ok()
                .filter(|n| range.contains(n))
                .and_then(|n| NonZeroU32::new(u32::try_from(n).ok()?));
            if attempts.is_none() {
                self.error(
                    v.span(),
                    "max_attempts",
                    format!(
                        "{n} is out of range; expected {} to {}",
                        range.start(),
                        range.end()
                    ),
                );
            }
            attempts
        });
        let max_rate_limit_wait = table
            .get("max_rate_limit_wait_secs")
            .and_then(|v| {
                self.number_in(
                    v,
                    "max_rate_limit_wait_secs",
                    limits::MAX_RATE_LIMIT_WAIT_SECS,
                )
            })
            .map(std::time::Duration::from_secs_f64);
        let requests_per_second = table
            .get("requests_per_second")
            .and_then(|v| self.number_in(v, "requests_per_second", limits::REQUESTS_PER_SECOND));
        Some(Job {
            source: path.to_owned(),
            name: name?,
            api: api?,
            images,
            sequences,
            map_features,
            map_feature_keys: map_feature_keys?,
            formats: formats?,
            usernames: usernames?,
            userkeys: userkeys?,
            areas: areas?,
            date_ranges: date_ranges?,
            lookat,
            lookat_tolerance_deg,
            pano,
            whole_sequences,
            max_attempts,
            requests_per_second,
            max_rate_limit_wait,
        })
    }

    pub(super) fn name(&mut self, table: &DeTable<'_>, span: Range<usize>) -> Option<String> {
        let Some(v) = table.get("name") else {
            self.error(
                span.start..span.start,
                "name",
                "missing; every job needs `name = \"...\"` (letters, digits, - and _), \
                 the name of its output folder"
                    .into(),
            );
            return None;
        };
        let name = self.string(v, "name")?;
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            self.error(
                v.span(),
                "name",
                format!(
                    "\"{name}\" is not a valid name; use 1 to 64 letters, digits, - and _ \
                     (no `/`, `..` or spaces: it names the output folder)"
                ),
            );
            return None;
        }
        Some(name.to_owned())
    }

    /// `(images, sequences, map_features)`.
    pub(super) fn resources(&mut self, table: &DeTable<'_>) -> (bool, bool, bool) {
        let Some(v) = table.get("resources") else {
            return (true, true, false);
        };
        let Some(list) = self.string_list(v, "resources") else {
            return (true, true, false);
        };
        let (mut images, mut sequences, mut map_features) = (false, false, false);
        for (span, item) in list {
            match item.as_str() {
                "images" => images = true,
                "sequences" => sequences = true,
                "map_features" => map_features = true,
                other => self.error(
                    span,
                    "resources",
                    format!(
                        "unknown resource \"{other}\"; expected \"images\", \"sequences\" or \
                         \"map_features\" (sequence points come with sequences)"
                    ),
                ),
            }
        }
        if !images && !sequences && !map_features {
            self.error(
                v.span(),
                "resources",
                "is empty; list \"images\", \"sequences\", \"map_features\" or several".into(),
            );
        }
        (images, sequences, map_features)
    }

    pub(super) fn formats(&mut self, table: &DeTable<'_>) -> Option<Vec<Format>> {
        let Some(v) = table.get("formats") else {
            return Some(Format::DEFAULT.to_vec());
        };
        let list = self.string_list(v, "formats")?;
        let mut formats = Vec::new();
        let mut ok = true;
        for (span, item) in list {
            match Format::parse(&item) {
                Some(f) => formats.push(f),
                None => {
                    ok = false;
                    self.error(
                        span,
                        "formats",
                        format!(
                            "unknown format \"{item}\"; expected \"geojson\", \"shapefile\", \
                             \"gpx\", \"csv\" or \"gpkg\""
                        ),
                    );
                }
            }
        }
        if list_is_empty(v) {
            self.error(
                v.span(),
                "formats",
                "is empty; list at least one format".into(),
            );
            ok = false;
        }
        formats.sort();
        formats.dedup();
        ok.then_some(formats)
    }

    pub(super) fn strings(&mut self, table: &DeTable<'_>, key: &str) -> Option<Vec<String>> {
        let Some(v) = table.get(key) else {
            return Some(Vec::new());
        };
        let list = self.string_list(v, key)?;
        let mut out = Vec::new();
        let mut ok = true;
        for (span, item) in list {
            if item.trim().is_empty() || item.contains(',') {
                self.error(
                    span,
                    key,
                    format!("\"{item}\" is not a valid entry (empty, or contains a comma)"),
                );
                ok = false;
            }
            out.push(item);
        }
        ok.then_some(out)
    }
}
