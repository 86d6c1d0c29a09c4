//! v4 `/map_features` pages: the same steps as images (reject, dedupe by id, filter, accept)
//! with the map features' own filters.

use model::{MapFeature, Resource};
use serde::Deserialize;

use super::Transformer;
use crate::candidate::{At, Normal, Reject, position_problem};
use crate::json::{Id, RawGeometry};
use model::parse_timestamp_ms as parse_rfc3339_ms;

#[derive(Deserialize)]
struct V4MapFeature<'a> {
    #[serde(default)]
    id: Option<Id>,
    #[serde(borrow, default)]
    geometry: Option<RawGeometry<'a>>,
    #[serde(default)]
    object_type: Option<String>,
    #[serde(default)]
    object_value: Option<String>,
    #[serde(default)]
    first_seen_at: Option<serde_json::Value>,
    #[serde(default)]
    last_seen_at: Option<serde_json::Value>,
}

/// A map feature on its way through the checks, with its sighting times in milliseconds.
#[derive(Debug)]
pub(crate) struct ParsedMapFeature {
    normal: Normal<MapFeature>,
    first_ms: Option<i64>,
    last_ms: Option<i64>,
}

impl Transformer {
    /// The map features' checks: a position on the globe, then dedupe by `id` and the filters.
    pub(super) fn take_map_feature(
        &mut self,
        parsed: ParsedMapFeature,
        at: At<'_>,
    ) -> Option<MapFeature> {
        let record = &parsed.normal.record;
        if let Some(reason) = map_feature_problem(record) {
            let key = record.id.clone();
            self.reject_keyed(Resource::MapFeatures, key, reason, at);
            return None;
        }
        let filtered_by = self.map_feature_filter(&parsed);
        self.dedupe_and_filter(Resource::MapFeatures, parsed.normal, |m| &m.id, filtered_by)
    }

    fn map_feature_filter(&self, parsed: &ParsedMapFeature) -> Option<&'static str> {
        let m = &parsed.normal.record;
        let config = &self.config;
        let listed = |list: &[String], value: &Option<String>| {
            list.is_empty() || value.as_ref().is_some_and(|v| list.contains(v))
        };
        if !config.areas.is_empty() && !config.areas.iter().any(|a| a.contains(m.lon, m.lat)) {
            Some("outside area")
        } else if !listed(&config.object_values, &m.object_value) {
            Some("object value")
        } else if !listed(&config.object_types, &m.object_type) {
            Some("object type")
        } else if !self.seen_during_a_range(parsed.first_ms, parsed.last_ms) {
            Some("date")
        } else {
            None
        }
    }

    /// Seen during a range: first seen before its end and last seen at or after its start. A
    /// missing time is taken from the other (one sighting); with neither it is unknown.
    fn seen_during_a_range(&self, first_ms: Option<i64>, last_ms: Option<i64>) -> bool {
        let ranges = &self.config.date_ranges;
        if ranges.is_empty() {
            return true;
        }
        let (Some(first), Some(last)) = (first_ms.or(last_ms), last_ms.or(first_ms)) else {
            return false;
        };
        ranges
            .iter()
            .any(|r| first < r.end_ms && last >= r.start_ms)
    }
}

/// One item of a `/map_features` page to a candidate.
pub(crate) fn parse_map_feature(item: &str) -> Result<ParsedMapFeature, Reject> {
    let reject = |key: Option<String>, reason: String| Reject {
        resource: Resource::MapFeatures,
        key,
        reason,
    };
    let raw: V4MapFeature<'_> = serde_json::from_str(item)
        .map_err(|e| reject(None, format!("not a v4 map feature: {e}")))?;
    let id = raw.id.map(|id| id.0);
    let [lon, lat] = match &raw.geometry {
        None => return Err(reject(id, "missing geometry".into())),
        Some(g) if g.kind == "Point" => g.point().map_err(|r| reject(id.clone(), r))?,
        Some(g) => {
            let reason = format!("geometry of type `{}` (expected Point)", g.kind);
            return Err(reject(id, reason));
        }
    };
    let mut warnings = Vec::new();
    let (first_seen_at, first_ms) = timestamp("first_seen_at", raw.first_seen_at, &mut warnings);
    let (last_seen_at, last_ms) = timestamp("last_seen_at", raw.last_seen_at, &mut warnings);
    Ok(ParsedMapFeature {
        normal: Normal {
            record: MapFeature {
                id: id.unwrap_or_default(),
                lon,
                lat,
                object_type: raw.object_type,
                object_value: raw.object_value,
                first_seen_at,
                last_seen_at,
            },
            captured_ms: None,
            warnings,
            username: None,
        },
        first_ms,
        last_ms,
    })
}

/// A time sent as epoch milliseconds or as ISO 8601 text, as ISO 8601 UTC with milliseconds
/// and as milliseconds. Text that is no time is kept as it came, with a warning.
fn timestamp(
    name: &str,
    value: Option<serde_json::Value>,
    warnings: &mut Vec<String>,
) -> (Option<String>, Option<i64>) {
    let ms = match &value {
        None | Some(serde_json::Value::Null) => return (None, None),
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        Some(serde_json::Value::String(s)) => iso_ms(s),
        Some(_) => None,
    };
    match (ms, value) {
        (Some(ms), _) => (Some(model::format_epoch_ms(ms)), Some(ms)),
        (None, Some(serde_json::Value::String(s))) => {
            warnings.push(format!("{name} {s:?} is not a time; kept as it came"));
            (Some(s), None)
        }
        (None, other) => {
            let text = other.map(|v| v.to_string());
            warnings.push(format!("{name} {text:?} is not a time; left empty"));
            (None, None)
        }
    }
}

/// RFC 3339, or ISO 8601 with the basic offset the Graph API writes (`2019-03-02T11:22:33+0000`).
fn iso_ms(text: &str) -> Option<i64> {
    parse_rfc3339_ms(text).or_else(|| {
        let split = text.len().checked_sub(5)?;
        let (time, offset) = (text.get(..split)?, text.get(split..)?);
        let basic =
            offset.starts_with(['+', '-']) && offset[1..].bytes().all(|b| b.is_ascii_digit());
        basic
            .then(|| parse_rfc3339_ms(&format!("{time}{}:{}", &offset[..3], &offset[3..])))
            .flatten()
    })
}

fn map_feature_problem(m: &MapFeature) -> Option<String> {
    if m.id.is_empty() {
        return Some("missing or empty id".into());
    }
    position_problem([m.lon, m.lat])
}

#[cfg(test)]
mod tests {
    use model::{Area, DateRange};

    use crate::{TransformConfig, Transformer};

    fn ids(t: &mut Transformer, body: &str) -> Vec<model::MapFeature> {
        let mut out = Vec::new();
        t.v4_map_features_page(body.as_bytes(), &mut |r| {
            if let crate::Record::MapFeature(m) = r {
                out.push(m);
            }
        })
        .unwrap();
        out
    }

    #[test]
    fn times_in_either_form_and_missing_fields_are_empty() {
        let mut t = Transformer::new(TransformConfig::default());
        let out = ids(
            &mut t,
            r#"{"data":[
            {"id":"1","geometry":{"type":"Point","coordinates":[1,2]},"object_type":"traffic_sign",
             "object_value":"regulatory--stop--g1","first_seen_at":1453035947540,
             "last_seen_at":"2019-03-02T11:22:33+0000"},
            {"id":2,"geometry":{"type":"Point","coordinates":[1,2]},"last_seen_at":"2019-03-02T11:22:33.5Z"},
            {"id":"3","geometry":{"type":"Point","coordinates":[1,2]},"first_seen_at":"soon"},
            {"id":"1","geometry":{"type":"Point","coordinates":[1,2]}},
            {"geometry":{"type":"Point","coordinates":[1,2]}},
            {"id":"5"}]}"#,
        );
        assert_eq!(out.len(), 3);
        assert_eq!(
            out[0].first_seen_at.as_deref(),
            Some("2016-01-17T13:05:47.540Z")
        );
        assert_eq!(
            out[0].last_seen_at.as_deref(),
            Some("2019-03-02T11:22:33.000Z")
        );
        assert_eq!(out[1].id, "2");
        assert_eq!(out[1].object_type, None);
        assert_eq!(
            out[1].last_seen_at.as_deref(),
            Some("2019-03-02T11:22:33.500Z")
        );
        assert_eq!(out[2].first_seen_at.as_deref(), Some("soon"));
        let report = t.report();
        assert_eq!(report.map_features.duplicates, 1);
        assert_eq!(report.map_features.rejected, 2);
        assert_eq!(report.map_features.accepted, 3);
        assert_eq!(report.warnings_total, 1);
    }

    #[test]
    fn filters_by_area_value_type_and_sighting_dates() {
        let config = TransformConfig {
            areas: vec![Area::Bbox([0.0, 0.0, 10.0, 10.0])],
            object_values: vec!["a".into(), "b".into()],
            object_types: vec!["point".into()],
            date_ranges: vec![DateRange {
                start_ms: 1_000,
                end_ms: 2_000,
            }],
            ..TransformConfig::default()
        };
        let mut t = Transformer::new(config);
        let f = |id: &str, lon: f64, value: &str, kind: &str, first: &str, last: &str| {
            format!(
                r#"{{"id":"{id}","geometry":{{"type":"Point","coordinates":[{lon},1]}},"object_value":"{value}","object_type":"{kind}"{first}{last}}}"#
            )
        };
        let (first, last) = (
            |ms: i64| format!(r#","first_seen_at":{ms}"#),
            |ms: i64| format!(r#","last_seen_at":{ms}"#),
        );
        let body = format!(
            r#"{{"data":[{}]}}"#,
            [
                f("in", 1.0, "a", "point", &first(500), &last(1_000)),
                f("edge", 10.0, "b", "point", &first(1_999), &last(5_000)),
                f("only-last", 1.0, "a", "point", "", &last(1_500)),
                f("far", 11.0, "a", "point", &first(1_500), &last(1_500)),
                f("value", 1.0, "c", "point", &first(1_500), &last(1_500)),
                f(
                    "type",
                    1.0,
                    "a",
                    "traffic_sign",
                    &first(1_500),
                    &last(1_500)
                ),
                f("ended", 1.0, "a", "point", &first(100), &last(999)),
                f("later", 1.0, "a", "point", &first(2_000), &last(3_000)),
                f("never", 1.0, "a", "point", "", ""),
            ]
            .join(",")
        );
        let kept: Vec<String> = ids(&mut t, &body).into_iter().map(|m| m.id).collect();
        assert_eq!(kept, ["in", "edge", "only-last"]);
        let counts = &t.report().map_features;
        assert_eq!(counts.filtered["outside area"], 1);
        assert_eq!(counts.filtered["object value"], 1);
        assert_eq!(counts.filtered["object type"], 1);
        assert_eq!(counts.filtered["date"], 3);
    }
}
