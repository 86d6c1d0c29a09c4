//! The run's final summary (stderr, index.html) and its manifest.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fetch::FetchStats;
use model::Resource;
use serde_json::json;
use transform::TransformReport;
use write::LayerSummary;

use crate::changes::Changes;
use crate::job::Job;

/// One resource's line in the summary.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct ResourceLine {
    /// Features written.
    pub exported: u64,
    /// Duplicates removed by key.
    pub duplicates: u64,
    /// Left out by a filter, by reason.
    pub filtered: BTreeMap<String, u64>,
    /// Rejected records (bad data) and features a format could not hold.
    pub rejected: u64,
    /// The rejections by reason (from the listed ones; the manifest has each key).
    pub rejected_reasons: BTreeMap<String, u64>,
    /// Values cut to fit a format (DBF widths).
    pub truncated: u64,
}

/// What a run did, for people (stderr, index.html) and for the manifest.
///
/// It holds each stage's account once: the layers' and the transform's reports as they are,
/// the fetch's counters. Every count per resource and the merged warnings are derived from
/// them when asked for ([`RunSummary::resources`], [`RunSummary::warnings`]), so the
/// manifest's `summary` (kept for the scripts that read `summary.requests` and the like) can
/// never disagree with its `layers` and `transform`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The job's name.
    pub job: String,
    /// What each layer wrote.
    pub layers: Vec<LayerSummary>,
    /// What the transform saw.
    pub transform: TransformReport,
    /// HTTP requests made (retries and rate-limited ones included).
    pub requests: u64,
    /// Retries of faults (5xx, timeouts, broken bodies).
    pub retries: u64,
    /// Rate-limit answers (each request was sent again after a pause).
    pub rate_limited: u64,
    /// Seconds the run paused for rate limits.
    pub rate_limit_wait_seconds: f64,
    /// Cap splits.
    pub splits: u64,
    /// Pages read, and how many of them came from an interrupted run's cache.
    pub pages: u64,
    /// Pages re-used from the cache.
    pub pages_from_cache: u64,
    /// Seconds, wall clock.
    pub seconds: f64,
    /// The export folder.
    pub output: PathBuf,
    /// The comparison with the previous export, when there was one.
    pub changes: Option<Changes>,
    /// The fetch's warnings (unknown usernames...); the transform's are in `transform`.
    pub fetch_warnings: Vec<String>,
}

/// The manifest's `summary`: the run's counters, with the per-resource lines and warnings
/// derived from the stages' reports.
#[derive(serde::Serialize)]
struct SummaryView<'a> {
    job: &'a str,
    resources: BTreeMap<Resource, ResourceLine>,
    requests: u64,
    retries: u64,
    rate_limited: u64,
    rate_limit_wait_seconds: f64,
    splits: u64,
    pages: u64,
    pages_from_cache: u64,
    seconds: f64,
    output: &'a Path,
    changes: &'a Option<Changes>,
    warnings: Vec<String>,
}

impl serde::Serialize for RunSummary {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SummaryView {
            job: &self.job,
            resources: self.resources(),
            requests: self.requests,
            retries: self.retries,
            rate_limited: self.rate_limited,
            rate_limit_wait_seconds: self.rate_limit_wait_seconds,
            splits: self.splits,
            pages: self.pages,
            pages_from_cache: self.pages_from_cache,
            seconds: self.seconds,
            output: &self.output,
            changes: &self.changes,
            warnings: self.warnings().collect(),
        }
        .serialize(serializer)
    }
}

impl RunSummary {
    /// Gathers the stages' reports.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        job: &Job,
        layers: Vec<LayerSummary>,
        transform: TransformReport,
        fetch: &FetchStats,
        fetch_warnings: Vec<String>,
        changes: Option<Changes>,
        elapsed: Duration,
        output: PathBuf,
    ) -> RunSummary {
        RunSummary {
            job: job.name.clone(),
            layers,
            transform,
            requests: fetch.requests,
            retries: fetch.retries,
            rate_limited: fetch.rate_limited,
            rate_limit_wait_seconds: fetch.rate_limit_wait.as_secs_f64(),
            splits: fetch.splits,
            pages: fetch.pages,
            pages_from_cache: fetch.pages_from_cache,
            seconds: elapsed.as_secs_f64(),
            output,
            changes,
            fetch_warnings,
        }
    }

    /// Each layer's line: what the writers did, and what the transform did before them.
    pub fn resources(&self) -> BTreeMap<Resource, ResourceLine> {
        resource_lines(&self.layers, &self.transform).collect()
    }

    /// The fetch's warnings, then the transform's.
    pub fn warnings(&self) -> impl Iterator<Item = String> + '_ {
        let transform = self
            .transform
            .warnings
            .iter()
            .map(|w| format!("{} {}: {}", w.resource.stem(), w.id, w.message));
        self.fetch_warnings.iter().cloned().chain(transform)
    }

    /// `(label, value)` rows for index.html.
    pub fn table_rows(&self) -> Vec<(String, String)> {
        let mut rows = Vec::new();
        for (resource, line) in &self.resources() {
            rows.push((resource.stem().to_owned(), line.describe()));
        }
        rows.push((
            "requests".into(),
            format!(
                "{} ({} retries, {} splits)",
                self.requests, self.retries, self.splits
            ),
        ));
        if self.rate_limited > 0 {
            rows.push(("rate limits".into(), self.describe_rate_limits()));
        }
        rows.push(("time".into(), format!("{:.1} s", self.seconds)));
        if let Some(changes) = &self.changes {
            rows.push(("changes".into(), describe_changes(changes)));
        }
        rows
    }
}

impl RunSummary {
    fn describe_rate_limits(&self) -> String {
        format!(
            "{} rate-limit answers, {:.1} s waited",
            self.rate_limited, self.rate_limit_wait_seconds
        )
    }
}

/// Each layer's line, in the layers' order.
pub(crate) fn resource_lines<'a>(
    layers: &'a [LayerSummary],
    transform: &'a TransformReport,
) -> impl Iterator<Item = (Resource, ResourceLine)> + 'a {
    layers
        .iter()
        .map(|layer| (layer.resource, resource_line(layer, transform)))
}

/// A layer's line: what the writers did, and what the transform did before them (points have
/// no transform counts of their own).
fn resource_line(layer: &LayerSummary, transform: &TransformReport) -> ResourceLine {
    let counts = match layer.resource {
        Resource::Images => Some(&transform.images),
        Resource::Sequences => Some(&transform.sequences),
        Resource::MapFeatures => Some(&transform.map_features),
        Resource::SequencePoints => None,
    };
    let mut rejected_reasons = BTreeMap::new();
    for issue in &layer.rejected {
        let reason = format!("{} ({})", issue.reason, issue.format.as_str());
        *rejected_reasons.entry(reason).or_default() += 1;
    }
    for r in transform
        .rejected
        .iter()
        .filter(|r| r.resource == layer.resource)
    {
        *rejected_reasons.entry(r.reason.clone()).or_default() += 1;
    }
    ResourceLine {
        exported: layer.features,
        duplicates: counts.map_or(0, |c| c.duplicates),
        filtered: counts
            .map(|c| {
                c.filtered
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), *v))
                    .collect()
            })
            .unwrap_or_default(),
        rejected: layer.rejected_total + counts.map_or(0, |c| c.rejected),
        rejected_reasons,
        truncated: layer.truncated_total,
    }
}

impl ResourceLine {
    fn describe(&self) -> String {
        let mut s = format!("{} exported", self.exported);
        if self.duplicates > 0 {
            s += &format!(", {} duplicates removed", self.duplicates);
        }
        for (reason, n) in &self.filtered {
            s += &format!(", {n} filtered ({reason})");
        }
        if self.rejected > 0 {
            let reasons: Vec<String> = self
                .rejected_reasons
                .iter()
                .map(|(reason, n)| format!("{n} {reason}"))
                .collect();
            s += &format!(
                ", {} rejected: {} (keys in manifest.json)",
                self.rejected,
                reasons.join("; ")
            );
        }
        if self.truncated > 0 {
            s += &format!(", {} values cut to fit", self.truncated);
        }
        s
    }
}

fn describe_changes(changes: &Changes) -> String {
    changes
        .counts
        .iter()
        .map(|(r, c)| {
            format!(
                "{}: +{} added, -{} removed, ~{} changed",
                r.stem(),
                c.added,
                c.removed,
                c.changed
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: export complete in {:.1} s", self.job, self.seconds)?;
        for (resource, line) in &self.resources() {
            writeln!(f, "  {:<16} {}", resource.stem(), line.describe())?;
        }
        let cached = if self.pages_from_cache > 0 {
            format!(", {} pages resumed from cache", self.pages_from_cache)
        } else {
            String::new()
        };
        writeln!(
            f,
            "  {:<16} {} ({} retries, {} splits{cached})",
            "requests", self.requests, self.retries, self.splits
        )?;
        if self.rate_limited > 0 {
            writeln!(f, "  {:<16} {}", "rate limits", self.describe_rate_limits())?;
        }
        match &self.changes {
            Some(changes) => writeln!(
                f,
                "  {:<16} {} (keys in changes.tsv)",
                "since last run",
                describe_changes(changes)
            )?,
            None => writeln!(f, "  {:<16} first export of this job", "since last run")?,
        }
        let warnings = self.fetch_warnings.len() + self.transform.warnings.len();
        if warnings > 0 {
            writeln!(f, "  {:<16} {warnings} (see manifest.json)", "warnings")?;
        }
        write!(f, "  {:<16} {}", "output", self.output.display())
    }
}

/// Every area by name with its geometry; an area with the same geometry as an earlier one
/// names it in `same_as` (their requests were made once, for both).
fn areas(job: &Job) -> Vec<serde_json::Value> {
    job.areas
        .iter()
        .enumerate()
        .map(|(i, area)| {
            let mut entry = match area.area {
                model::Area::Bbox(bbox) => json!({ "name": area.name, "bbox": bbox }),
                model::Area::Closeto { center, radius_m } => {
                    json!({ "name": area.name, "closeto": center, "radius_m": radius_m })
                }
            };
            if let Some(first) = job.areas[..i].iter().find(|a| a.area == area.area) {
                entry["same_as"] = json!(first.name);
            }
            entry
        })
        .collect()
}

/// The manifest: job, API, time of run, per resource and format the files and feature counts,
/// and every feature that could not be written, with its key and reason.
pub fn manifest(job: &Job, summary: &RunSummary, started_at: jiff::Timestamp) -> serde_json::Value {
    json!({
        "tool": concat!("mly-export ", env!("CARGO_PKG_VERSION")),
        "job": job.name,
        "job_file": job.source.display().to_string(),
        "api": job.api.as_str(),
        "whole_sequences": job.whole_sequences,
        "areas": areas(job),
        "started_at": started_at.to_string(),
        "finished_at": jiff::Timestamp::now().to_string(),
        "summary": summary,
        "layers": summary.layers,
        "transform": summary.transform,
    })
}
