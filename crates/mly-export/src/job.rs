//! Job files: parsing and validation, pure (no network, no files but the job itself).
//!
//! The TOML is walked by hand over `toml`'s spanned tree instead of `serde` so that *every*
//! problem is reported at once, each with its line, column, key and what would be right.

use std::fmt;
use std::num::NonZeroU32;
use std::ops::Range;
use std::path::{Path, PathBuf};

use model::{Api, Area, DateRange, Format};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::limits::{self, Span};

mod map_features;

pub use map_features::{MapFeatureKeys, OBJECT_TYPES};

/// A validated job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The file it came from.
    pub source: PathBuf,
    /// `name`: the output folder's name.
    pub name: String,
    /// `api`.
    pub api: Api,
    /// `resources` contains `images`.
    pub images: bool,
    /// `resources` contains `sequences` (sequence points come with them).
    pub sequences: bool,
    /// `resources` contains `map_features` (v4 only).
    pub map_features: bool,
    /// `object_values`, `object_types`.
    pub map_feature_keys: MapFeatureKeys,
    /// `formats`, in the order of [`Format::ALL`] ([`Format::DEFAULT`] when the job names none).
    pub formats: Vec<Format>,
    /// `usernames`.
    pub usernames: Vec<String>,
    /// `userkeys`.
    pub userkeys: Vec<String>,
    /// `[[areas]]`.
    pub areas: Vec<JobArea>,
    /// `[[date_ranges]]`.
    pub date_ranges: Vec<JobDateRange>,
    /// `lookat = [lon, lat]`.
    pub lookat: Option<[f64; 2]>,
    /// `lookat_tolerance` in degrees (default 30).
    pub lookat_tolerance_deg: f64,
    /// `pano`: `true` panoramas only, `false` none.
    pub pano: Option<bool>,
    /// `whole_sequences` (v4): fetch each sequence's images whole (`true`, the default), or
    /// build each sequence from the images already fetched inside the areas (`false`).
    pub whole_sequences: bool,
    /// `max_attempts` per request (the `--max-attempts` flag wins).
    pub max_attempts: Option<NonZeroU32>,
    /// `requests_per_second` (the `--requests-per-second` flag wins).
    pub requests_per_second: Option<f64>,
    /// `max_rate_limit_wait_secs` (the `--max-rate-limit-wait-secs` flag wins).
    pub max_rate_limit_wait: Option<std::time::Duration>,
}

/// One `[[areas]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct JobArea {
    /// `name` (default `area-N`, counting from 1).
    pub name: String,
    /// The box or circle.
    pub area: Area,
}

/// One `[[date_ranges]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct JobDateRange {
    /// `start <= captured_at < end`.
    pub range: DateRange,
    /// `start..end` as written, for plans and labels.
    pub label: String,
}

/// The default `lookat_tolerance`.
pub const DEFAULT_LOOKAT_TOLERANCE_DEG: f64 = 30.0;

/// Every problem found in one job file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct JobErrors {
    /// The job file.
    pub path: PathBuf,
    /// The problems, in file order.
    pub errors: Vec<JobError>,
}

impl fmt::Display for JobErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        writeln!(
            f,
            "{}: {n} problem{} in the job file",
            self.path.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for error in &self.errors {
            if error.line == 0 {
                // Not a place in the file (it could not be read at all).
                writeln!(f, "{}: {}", self.path.display(), error.message)?;
            } else {
                write!(f, "{}:{error}", self.path.display())?;
            }
        }
        Ok(())
    }
}

/// One problem at one place.
#[derive(Debug, Clone, PartialEq)]
pub struct JobError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// The key, dotted (`areas[2].bbox`); empty for the whole file.
    pub key: String,
    /// What is wrong and what would be right.
    pub message: String,
    /// The source line, for the caret display.
    pub source_line: String,
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = if self.key.is_empty() {
            String::new()
        } else {
            format!(" {}:", self.key)
        };
        writeln!(f, "{}:{}:{key} {}", self.line, self.column, self.message)?;
        if !self.source_line.is_empty() {
            writeln!(f, "    | {}", self.source_line)?;
            writeln!(f, "    | {}^", " ".repeat(self.column.saturating_sub(1)))?;
        }
        Ok(())
    }
}

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
const AREA_KEYS: &[&str] = &["name", "bbox", "closeto", "radius"];
const DATE_KEYS: &[&str] = &["start", "end"];
const SECRET_KEYS: &[&str] = &[
    "client_id",
    "access_token",
    "token",
    "mapillary_client_id",
    "mapillary_access_token",
];

/// Reads and validates a job file.
pub fn load(path: &Path) -> Result<Job, JobErrors> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text),
        Err(e) => Err(JobErrors {
            path: path.to_owned(),
            errors: vec![JobError {
                line: 0,
                column: 0,
                key: String::new(),
                message: format!("cannot read the job file: {e}"),
                source_line: String::new(),
            }],
        }),
    }
}

/// Validates a job file's text; `path` names it in errors.
pub fn parse(path: &Path, text: &str) -> Result<Job, JobErrors> {
    let mut checker = Checker {
        text,
        errors: Vec::new(),
    };
    let job = match DeTable::parse(text) {
        Ok(table) => checker.job(path, table.get_ref(), table.span()),
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            checker.error(span, "", e.message().trim_end().to_owned());
            None
        }
    };
    checker.errors.sort_by_key(|e| (e.line, e.column));
    match job {
        Some(job) if checker.errors.is_empty() => Ok(job),
        _ => Err(JobErrors {
            path: path.to_owned(),
            errors: checker.errors,
        }),
    }
}

type Value<'i> = Spanned<DeValue<'i>>;

struct Checker<'t> {
    text: &'t str,
    errors: Vec<JobError>,
}

impl Checker<'_> {
    fn error(&mut self, span: Range<usize>, key: &str, message: String) {
        let start = span.start.min(self.text.len());
        let before = &self.text[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = self.text[line_start..start].chars().count() + 1;
        let source_line = self.text[line_start..]
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
        self.errors.push(JobError {
            line,
            column,
            key: key.to_owned(),
            message,
            source_line,
        });
    }

    fn job(&mut self, path: &Path, table: &DeTable<'_>, span: Range<usize>) -> Option<Job> {
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

    fn unknown_keys(&mut self, table: &DeTable<'_>, prefix: &str, known: &[&str]) {
        for (key, value) in table.iter() {
            let k: &str = key.get_ref();
            if known.contains(&k) {
                continue;
            }
            let full = format!("{prefix}{k}");
            let message = if SECRET_KEYS.contains(&k.to_ascii_lowercase().as_str()) {
                "tokens never go in a job file: set MAPILLARY_CLIENT_ID (v3) or \
                 MAPILLARY_ACCESS_TOKEN (v4) in the environment instead"
                    .to_owned()
            } else {
                match closest(k, known) {
                    Some(s) => format!("unknown key; did you mean `{s}`?"),
                    None => format!("unknown key; expected one of: {}", known.join(", ")),
                }
            };
            let span = if value.span().start < key.span().start {
                value.span()
            } else {
                key.span()
            };
            self.error(span, &full, message);
        }
    }

    /// A v4 token pasted as a value (`MLY|...`) is an error wherever it is: job files get shared.
    fn tokens_in_values(&mut self, table: &DeTable<'_>, prefix: &str) {
        for (key, value) in table.iter() {
            let full = format!("{prefix}{}", key.get_ref());
            self.tokens_in_value(value, &full);
        }
    }

    fn tokens_in_value(&mut self, value: &Value<'_>, key: &str) {
        match value.get_ref() {
            DeValue::String(s) if s.starts_with("MLY|") => self.error(
                value.span(),
                key,
                "this looks like an access token; tokens never go in a job file: set \
                 MAPILLARY_ACCESS_TOKEN in the environment instead"
                    .into(),
            ),
            DeValue::Array(items) => {
                for item in items {
                    self.tokens_in_value(item, key);
                }
            }
            DeValue::Table(t) => self.tokens_in_values(t, &format!("{key}.")),
            _ => {}
        }
    }

    fn name(&mut self, table: &DeTable<'_>, span: Range<usize>) -> Option<String> {
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
    fn resources(&mut self, table: &DeTable<'_>) -> (bool, bool, bool) {
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

    fn formats(&mut self, table: &DeTable<'_>) -> Option<Vec<Format>> {
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

    fn strings(&mut self, table: &DeTable<'_>, key: &str) -> Option<Vec<String>> {
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

    fn areas(&mut self, table: &DeTable<'_>, span: Range<usize>) -> Option<Vec<JobArea>> {
        let Some(v) = table.get("areas") else {
            self.error(
                span.start..span.start,
                "areas",
                "missing; add at least one [[areas]] with `bbox = [minx, miny, maxx, maxy]` \
                 or `closeto = [lon, lat]`"
                    .into(),
            );
            return None;
        };
        let items = self.tables(v, "areas")?;
        if items.is_empty() {
            self.error(v.span(), "areas", "is empty; add at least one area".into());
            return None;
        }
        let mut areas: Vec<JobArea> = Vec::new();
        let mut ok = true;
        for (i, (item_span, item)) in items.into_iter().enumerate() {
            let key = format!("areas[{}]", i + 1);
            match self.area(&key, i, item_span.clone(), item) {
                Some(a) if areas.iter().any(|b| b.name == a.name) => {
                    self.error(
                        item_span,
                        &format!("{key}.name"),
                        format!(
                            "\"{}\" is used by an earlier area; names must differ",
                            a.name
                        ),
                    );
                    ok = false;
                }
                Some(a) => areas.push(a),
                None => ok = false,
            }
        }
        ok.then_some(areas)
    }

    fn area(
        &mut self,
        key: &str,
        index: usize,
        span: Range<usize>,
        table: &DeTable<'_>,
    ) -> Option<JobArea> {
        self.unknown_keys(table, &format!("{key}."), AREA_KEYS);
        let name = match table.get("name") {
            None => Some(format!("area-{}", index + 1)),
            Some(v) => match self.string(v, &format!("{key}.name")) {
                Some(n)
                    if !n.is_empty()
                        && n.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
                {
                    Some(n.to_owned())
                }
                Some(n) => {
                    self.error(
                        v.span(),
                        &format!("{key}.name"),
                        format!("\"{n}\" is not valid; use letters, digits, - and _"),
                    );
                    None
                }
                None => None,
            },
        };
        let area = match (table.get("bbox"), table.get("closeto")) {
            (Some(_), Some(c)) => {
                self.error(
                    c.span(),
                    &format!("{key}.closeto"),
                    "an area has either `bbox` or `closeto`, not both; split it into two \
                     [[areas]]"
                        .into(),
                );
                None
            }
            (None, None) => {
                self.error(
                    span,
                    key,
                    "needs `bbox = [minx, miny, maxx, maxy]` or `closeto = [lon, lat]`".into(),
                );
                None
            }
            (Some(b), None) => {
                if let Some(r) = table.get("radius") {
                    self.error(
                        r.span(),
                        &format!("{key}.radius"),
                        "`radius` goes with `closeto`, not with `bbox`".into(),
                    );
                }
                self.bbox(b, &format!("{key}.bbox")).map(Area::Bbox)
            }
            (None, Some(c)) => {
                let center = self.position(c, &format!("{key}.closeto"));
                let radius_m = match table.get("radius") {
                    None => Some(100.0),
                    Some(r) => self.number_in(r, &format!("{key}.radius"), limits::RADIUS_M),
                };
                Some(Area::Closeto {
                    center: center?,
                    radius_m: radius_m?,
                })
            }
        };
        Some(JobArea {
            name: name?,
            area: area?,
        })
    }

    fn bbox(&mut self, v: &Value<'_>, key: &str) -> Option<[f64; 4]> {
        let nums = self.numbers(v, key, 4, "[minx, miny, maxx, maxy]")?;
        let b = [nums[0], nums[1], nums[2], nums[3]];
        let mut ok = self.lon_lat(v, key, b[0], b[1]);
        ok &= self.lon_lat(v, key, b[2], b[3]);
        if ok && b[0] >= b[2] {
            self.error(
                v.span(),
                key,
                format!(
                    "minx ({}) must be less than maxx ({}); expected [minx, miny, maxx, maxy]",
                    b[0], b[2]
                ),
            );
            ok = false;
        }
        if ok && b[1] >= b[3] {
            self.error(
                v.span(),
                key,
                format!(
                    "miny ({}) must be less than maxy ({}); expected [minx, miny, maxx, maxy]",
                    b[1], b[3]
                ),
            );
            ok = false;
        }
        ok.then_some(b)
    }

    fn position(&mut self, v: &Value<'_>, key: &str) -> Option<[f64; 2]> {
        let nums = self.numbers(v, key, 2, "[lon, lat]")?;
        self.lon_lat(v, key, nums[0], nums[1])
            .then_some([nums[0], nums[1]])
    }

    fn lon_lat(&mut self, v: &Value<'_>, key: &str, lon: f64, lat: f64) -> bool {
        let mut ok = true;
        if !(-180.0..=180.0).contains(&lon) {
            self.error(
                v.span(),
                key,
                format!("longitude {lon} is out of range; expected -180 to 180 (lon comes first)"),
            );
            ok = false;
        }
        if !(-90.0..=90.0).contains(&lat) {
            self.error(
                v.span(),
                key,
                format!("latitude {lat} is out of range; expected -90 to 90 (lat comes second)"),
            );
            ok = false;
        }
        ok
    }

    fn date_ranges(&mut self, table: &DeTable<'_>) -> Option<Vec<JobDateRange>> {
        let Some(v) = table.get("date_ranges") else {
            return Some(Vec::new());
        };
        let items = self.tables(v, "date_ranges")?;
        let mut out = Vec::new();
        let mut ok = true;
        for (i, (span, item)) in items.into_iter().enumerate() {
            let key = format!("date_ranges[{}]", i + 1);
            self.unknown_keys(item, &format!("{key}."), DATE_KEYS);
            let start = self.instant(item, &key, "start", span.clone());
            let end = self.instant(item, &key, "end", span);
            match (start, end) {
                (Some((s, s_text)), Some((e, e_text))) => {
                    if e <= s {
                        self.error(
                            item["end"].span(),
                            &format!("{key}.end"),
                            format!(
                                "end ({e_text}) must be after start ({s_text}); end is exclusive"
                            ),
                        );
                        ok = false;
                    } else {
                        out.push(JobDateRange {
                            range: DateRange {
                                start_ms: s,
                                end_ms: e,
                            },
                            label: format!("{s_text}..{e_text}"),
                        });
                    }
                }
                _ => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn instant(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
        which: &str,
        span: Range<usize>,
    ) -> Option<(i64, String)> {
        let full = format!("{key}.{which}");
        let Some(v) = table.get(which) else {
            self.error(
                span,
                &full,
                "missing; expected a date like \"2016-03-28\" or an RFC 3339 time".into(),
            );
            return None;
        };
        let text = match v.get_ref() {
            DeValue::String(s) => s.to_string(),
            DeValue::Datetime(d) => d.to_string(),
            _ => {
                self.error(
                    v.span(),
                    &full,
                    "expected a date like \"2016-03-28\" or an RFC 3339 time".into(),
                );
                return None;
            }
        };
        match parse_instant(&text) {
            Some(ms) => Some((ms, text)),
            None => {
                self.error(
                    v.span(),
                    &full,
                    format!(
                        "\"{text}\" is not a date; expected \"2016-03-28\" or an RFC 3339 time \
                         like \"2016-03-28T12:00:00Z\""
                    ),
                );
                None
            }
        }
    }

    fn string<'v>(&mut self, v: &'v Value<'_>, key: &str) -> Option<&'v str> {
        match v.get_ref() {
            DeValue::String(s) => Some(s),
            _ => {
                self.error(v.span(), key, "expected a string".into());
                None
            }
        }
    }

    fn string_list(&mut self, v: &Value<'_>, key: &str) -> Option<Vec<(Range<usize>, String)>> {
        let DeValue::Array(items) = v.get_ref() else {
            self.error(
                v.span(),
                key,
                "expected a list of strings, like [\"a\", \"b\"]".into(),
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            match item.get_ref() {
                DeValue::String(s) => out.push((item.span(), s.to_string())),
                _ => {
                    self.error(item.span(), key, "expected a string".into());
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn tables<'v, 'i>(
        &mut self,
        v: &'v Value<'i>,
        key: &str,
    ) -> Option<Vec<(Range<usize>, &'v DeTable<'i>)>> {
        let DeValue::Array(items) = v.get_ref() else {
            self.error(v.span(), key, format!("expected [[{key}]] tables"));
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            match item.get_ref() {
                DeValue::Table(t) => out.push((item.span(), t)),
                _ => {
                    self.error(item.span(), key, format!("expected [[{key}]] tables"));
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn numbers(&mut self, v: &Value<'_>, key: &str, n: usize, shape: &str) -> Option<Vec<f64>> {
        let items = match v.get_ref() {
            DeValue::Array(items) if items.len() == n => items,
            _ => {
                self.error(v.span(), key, format!("expected {n} numbers: {shape}"));
                return None;
            }
        };
        // Every item is checked, so two bad coordinates are two errors.
        let out: Vec<Option<f64>> = items.iter().map(|item| self.number(item, key)).collect();
        out.into_iter().collect()
    }

    fn number(&mut self, v: &Value<'_>, key: &str) -> Option<f64> {
        let parsed = match v.get_ref() {
            // A decimal integer too large for i64 is still a number (to be range-checked).
            DeValue::Integer(i) => parse_integer(i.as_str(), i.radix())
                .map(|i| i as f64)
                .or_else(|| (i.radix() == 10).then(|| i.as_str().replace('_', "").parse().ok())?),
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            _ => None,
        };
        match parsed {
            Some(x) if x.is_finite() => Some(x),
            _ => {
                self.error(v.span(), key, "expected a finite number".into());
                None
            }
        }
    }

    /// A finite number inside `span`.
    fn number_in(&mut self, v: &Value<'_>, key: &str, span: Span) -> Option<f64> {
        let x = self.number(v, key)?;
        let written = self.text.get(v.span()).unwrap_or_default().trim();
        match span.check(x, written) {
            Ok(x) => Some(x),
            Err(message) => {
                self.error(v.span(), key, message);
                None
            }
        }
    }

    fn integer(&mut self, v: &Value<'_>, key: &str) -> Option<i64> {
        let parsed = match v.get_ref() {
            DeValue::Integer(i) => parse_integer(i.as_str(), i.radix()),
            _ => None,
        };
        if parsed.is_none() {
            self.error(v.span(), key, "expected a whole number".into());
        }
        parsed
    }
}

fn list_is_empty(v: &Value<'_>) -> bool {
    matches!(v.get_ref(), DeValue::Array(items) if items.is_empty())
}

fn parse_integer(text: &str, radix: u32) -> Option<i64> {
    let digits = text.replace('_', "");
    let digits = digits
        .trim_start_matches("0x")
        .trim_start_matches("0o")
        .trim_start_matches("0b");
    i64::from_str_radix(digits, radix).ok()
}

/// A date (`2016-03-28`, midnight UTC) or an RFC 3339 time, as ms since the epoch.
pub fn parse_instant(text: &str) -> Option<i64> {
    if text.len() == 10
        && let Ok(date) = text.parse::<jiff::civil::Date>()
    {
        return date
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp().as_millisecond());
    }
    text.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

/// The known key closest to `key` by edit distance, when it is close enough to be a typo.
fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
