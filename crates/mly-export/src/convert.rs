//! `convert`: saved API responses (v3 GeoJSON FeatureCollections) to every format, offline,
//! with the same transform and writers as `run`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use model::{Format, Resource};
use transform::{TransformConfig, Transformer};
use write::{ExportDir, LayerSummary, WriteError, WriteOptions};

use crate::pipeline::{Pipeline, PipelineError};
use crate::report::{ResourceLine, resource_lines};

/// What to convert.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// GeoJSON inputs.
    pub inputs: Vec<PathBuf>,
    /// The output folder (replaced atomically).
    pub out: PathBuf,
    /// The formats.
    pub formats: Vec<Format>,
    /// Writer options.
    pub write: WriteOptions,
}

/// What a conversion did.
#[derive(Debug)]
pub struct ConvertSummary {
    /// Per resource.
    pub resources: Vec<(Resource, ResourceLine)>,
    /// Input problems (a file that is not a FeatureCollection, bad features): the good features
    /// were still written, and the command exits non-zero.
    pub problems: Vec<String>,
    /// Count of all input problems (the list is capped).
    pub problems_total: u64,
    /// The output folder.
    pub output: PathBuf,
    /// Seconds.
    pub seconds: f64,
}

/// Converts the inputs. Errors are about the output; input problems are in the summary.
pub fn convert(options: &ConvertOptions) -> Result<ConvertSummary, WriteError> {
    let started = Instant::now();
    let started_at = jiff::Timestamp::now();
    let (parent, name) = split_out(&options.out);
    let export = ExportDir::create(&parent, &name)?;
    let mut transformer = Transformer::new(TransformConfig::default());
    let mut pipeline = Pipeline::new(&export, &options.formats, &options.write, None, None);
    pipeline.open(&[
        Resource::Images,
        Resource::Sequences,
        Resource::SequencePoints,
    ])?;
    let mut file_problems = Vec::new();
    // The transform lists a rejected feature by its key (or `<file>#<index>` when it has none);
    // the user also needs to know which input it came from.
    let mut feature_problems = Vec::new();
    for input in &options.inputs {
        let file = match File::open(input) {
            Ok(f) => f,
            Err(e) => {
                file_problems.push(format!("{}: cannot read: {e}", input.display()));
                continue;
            }
        };
        let listed_before = transformer.report().rejected.len();
        // The reader buffers by itself: a BufReader would only copy every byte once more.
        match transformer.read_geojson(file, input, &mut pipeline) {
            Ok(()) => {}
            // Every transform error names the file.
            Err(PipelineError::Transform(e)) => file_problems.push(e.to_string()),
            Err(PipelineError::Write(e)) => return Err(e),
        }
        feature_problems.extend(
            transformer.report().rejected[listed_before..]
                .iter()
                .map(feature_problem),
        );
    }
    let mut layers = pipeline.finish()?;
    export.update_sizes(&mut layers)?;
    let report = transformer.report();
    let mut problems = file_problems.clone();
    problems.extend(feature_problems);
    let problems_total = file_problems.len() as u64 + report.rejected_total;
    let resources = resource_lines(&layers, report).collect();
    let manifest = manifest(options, &layers, report, &file_problems, started_at);
    let output = export.commit(&manifest)?;
    Ok(ConvertSummary {
        resources,
        problems,
        problems_total,
        output,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn manifest(
    options: &ConvertOptions,
    layers: &[LayerSummary],
    report: &transform::TransformReport,
    file_problems: &[String],
    started_at: jiff::Timestamp,
) -> serde_json::Value {
    serde_json::json!({
        "tool": concat!("mly-export ", env!("CARGO_PKG_VERSION")),
        "command": "convert",
        "inputs": options.inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "started_at": started_at.to_string(),
        "finished_at": jiff::Timestamp::now().to_string(),
        "layers": layers,
        "transform": report,
        "input_errors": file_problems,
    })
}

/// One rejected feature of an input, as `FILE: feature #INDEX (RESOURCE): REASON`, with the
/// key after the resource when the feature had one.
fn feature_problem(rejection: &transform::Rejection) -> String {
    let resource = rejection.resource.stem();
    let what = match &rejection.key {
        Some(key) => format!("{resource} {key}"),
        None => resource.to_owned(),
    };
    let index = rejection
        .index
        .map_or_else(String::new, |index| format!(" #{index}"));
    format!(
        "{}: feature{index} ({what}): {}",
        rejection.source, rejection.reason
    )
}

/// `--out DIR` as (parent, name) for [`ExportDir`].
fn split_out(out: &Path) -> (PathBuf, String) {
    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .unwrap_or_default();
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    (parent, name)
}
