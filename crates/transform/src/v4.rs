//! v4 `{"data": [...]}` pages to records, and a sequence assembled from its images.

use model::{Image, Resource, Sequence};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::TransformError;
use crate::candidate::{Normal, Reject, position_problem};
use crate::json::{Id, RawGeometry};
use crate::link;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    data: Option<Vec<&'a RawValue>>,
    #[serde(default)]
    error: Option<ApiErrorBody>,
}

#[derive(Deserialize)]
struct ApiErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<i64>,
}

#[derive(Deserialize)]
struct V4Image<'a> {
    #[serde(default)]
    id: Option<Id>,
    #[serde(borrow, default)]
    geometry: Option<RawGeometry<'a>>,
    #[serde(default)]
    captured_at: Option<i64>,
    #[serde(default)]
    compass_angle: Option<f64>,
    #[serde(default)]
    make: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    is_pano: Option<bool>,
    #[serde(default)]
    creator: Option<Creator>,
    #[serde(default)]
    sequence: Option<Id>,
    #[serde(borrow, default)]
    computed_geometry: Option<RawGeometry<'a>>,
    #[serde(default)]
    computed_compass_angle: Option<f64>,
}

#[derive(Deserialize)]
struct Creator {
    #[serde(default)]
    id: Option<Id>,
    #[serde(default)]
    username: Option<String>,
}

/// The items of a page, each still unparsed so that one bad item is only that item's problem.
pub(crate) fn page_items<'a>(
    body: &'a [u8],
    source_name: &str,
) -> Result<Vec<&'a RawValue>, TransformError> {
    let envelope: Envelope<'_> =
        serde_json::from_slice(body).map_err(|e| TransformError::NotJson {
            source_name: source_name.to_owned(),
            line: e.line() as u64,
            column: e.column() as u64,
            message: e.to_string(),
        })?;
    match (envelope.error, envelope.data) {
        (Some(error), _) => Err(TransformError::ApiError {
            source_name: source_name.to_owned(),
            message: error.message.unwrap_or_default(),
            code: error.code,
        }),
        (None, Some(data)) => Ok(data),
        (None, None) => Err(TransformError::NotV4Response {
            source_name: source_name.to_owned(),
            found: "neither `data` nor `error`".into(),
        }),
    }
}

/// One image entity to a record. Missing fields are `None`; only a missing id or position stops
/// it.
pub(crate) fn image(item: &str) -> Result<Normal<Image>, Reject> {
    let reject = |key: Option<String>, reason: String| Reject {
        resource: Resource::Images,
        key,
        reason,
    };
    let raw: V4Image<'_> =
        serde_json::from_str(item).map_err(|e| reject(None, format!("not a v4 image: {e}")))?;
    let key = raw.id.map(|id| id.0);
    let [lon, lat] = match &raw.geometry {
        None => return Err(reject(key, "missing geometry".into())),
        Some(g) if g.kind == "Point" => g.point().map_err(|r| reject(key.clone(), r))?,
        Some(g) => {
            let reason = format!("geometry of type `{}` (expected Point)", g.kind);
            return Err(reject(key, reason));
        }
    };
    let (user_key, username) = raw
        .creator
        .map_or((None, None), |c| (c.id.map(|id| id.0), c.username));
    let mut warnings = Vec::new();
    // The computed position is extra information: a bad one is left empty, never the image.
    let computed_position = raw.computed_geometry.and_then(|g| {
        let position = match &*g.kind {
            "Point" => g.point(),
            kind => Err(format!("geometry of type `{kind}` (expected Point)")),
        }
        .and_then(|p| position_problem(p).map_or(Ok(p), Err));
        position
            .map_err(|reason| warnings.push(format!("computed_geometry left empty: {reason}")))
            .ok()
    });
    let key = key.unwrap_or_default();
    Ok(Normal {
        record: Image {
            url: link::v4_image(&key),
            key,
            lon,
            lat,
            ca: raw.compass_angle,
            camera_make: raw.make,
            camera_model: raw.model,
            captured_at: raw.captured_at.map(model::format_epoch_ms),
            pano: raw.is_pano,
            sequence_key: raw.sequence.map(|id| id.0),
            user_key,
            username,
            // No Image field carries the organisation (`organization_id` is only a filter).
            organization_key: None,
            computed_position,
            computed_ca: raw.computed_compass_angle,
            extra: Vec::new(),
        },
        captured_ms: raw.captured_at,
        warnings,
        username: None,
    })
}

/// A sequence from its images: ordered by capture time then id, one vertex per distinct id;
/// the line's own properties are the first image's. `None` without images.
pub(crate) fn sequence(mut images: Vec<Normal<Image>>) -> Option<Normal<Sequence>> {
    // Images without a time go last: their place in the line is unknown.
    images.sort_by(|a, b| {
        let time = |n: &Normal<Image>| n.captured_ms.unwrap_or(i64::MAX);
        time(a)
            .cmp(&time(b))
            .then_with(|| a.record.key.cmp(&b.record.key))
    });
    images.dedup_by(|later, earlier| later.record.key == earlier.record.key);
    let key = images
        .iter()
        .find_map(|n| n.record.sequence_key.clone())
        .unwrap_or_default();
    let first = images.first()?;
    let mut warnings = Vec::new();
    if let Some(other) = images
        .iter()
        .filter_map(|n| n.record.sequence_key.as_deref())
        .find(|k| *k != key)
    {
        warnings.push(format!(
            "images of sequence {key} also name sequence {other}"
        ));
    }
    let mut sequence = Sequence {
        key,
        camera_make: first.record.camera_make.clone(),
        captured_at: first.record.captured_at.clone(),
        pano: first.record.pano,
        user_key: first.record.user_key.clone(),
        url: link::v4_image(&first.record.key),
        ..Sequence::default()
    };
    let captured_ms = first.captured_ms;
    let username = first.record.username.clone();
    for n in images {
        sequence.coordinates.push([n.record.lon, n.record.lat]);
        sequence.cas.push(n.record.ca);
        sequence.image_keys.push(Some(n.record.key));
    }
    Some(Normal {
        record: sequence,
        captured_ms,
        warnings,
        username,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(body: &str) -> Vec<Box<RawValue>> {
        page_items(body.as_bytes(), "page")
            .unwrap()
            .into_iter()
            .map(|r| r.to_owned())
            .collect()
    }

    #[test]
    fn image_fields_map_and_missing_ones_are_none() {
        let page = items(
            r#"{"data":[{"id":123,"geometry":{"type":"Point","coordinates":[1.5,2.5]},
            "captured_at":0,"compass_angle":90.0,"make":"m","model":"x","is_pano":true,
            "creator":{"id":"7","username":"u"},"sequence":"s",
            "computed_geometry":{"type":"Point","coordinates":[1.25,2.75]},
            "computed_compass_angle":91.5},
            {"id":"only","geometry":{"type":"Point","coordinates":[0,0]}},
            {"id":"9","geometry":{"type":"Point","coordinates":[0,0]},
            "computed_geometry":{"type":"Point","coordinates":[0,91]}}]}"#,
        );
        let full = image(page[0].get()).unwrap().record;
        assert_eq!(full.key, "123");
        assert_eq!((full.lon, full.lat), (1.5, 2.5));
        assert_eq!(
            full.captured_at.as_deref(),
            Some("1970-01-01T00:00:00.000Z")
        );
        assert_eq!(full.ca, Some(90.0));
        assert_eq!(full.camera_make.as_deref(), Some("m"));
        assert_eq!(full.camera_model.as_deref(), Some("x"));
        assert_eq!(full.pano, Some(true));
        assert_eq!(full.user_key.as_deref(), Some("7"));
        assert_eq!(full.username.as_deref(), Some("u"));
        assert_eq!(full.sequence_key.as_deref(), Some("s"));
        assert_eq!(full.organization_key, None);
        assert_eq!(full.computed_position, Some([1.25, 2.75]));
        assert_eq!(full.computed_ca, Some(91.5));
        assert_eq!(
            full.url.as_deref(),
            Some("https://www.mapillary.com/app/?pKey=123")
        );
        let bare = image(page[1].get()).unwrap().record;
        assert_eq!(
            bare,
            model::Image {
                url: Some("https://www.mapillary.com/app/?pKey=only".into()),
                ..model::Image::new("only", 0.0, 0.0)
            }
        );
        // A computed position off the globe is left empty and said so; the image stays.
        let odd = image(page[2].get()).unwrap();
        assert_eq!(odd.record.computed_position, None);
        assert_eq!(odd.warnings.len(), 1, "{:?}", odd.warnings);
        assert!(odd.warnings[0].starts_with("computed_geometry left empty: position [0, 91]"));
    }

    #[test]
    fn error_bodies_and_other_json() {
        let error = page_items(
            br#"{"error":{"message":"Invalid OAuth 2.0 Access Token","code":190}}"#,
            "p",
        );
        assert!(matches!(
            error,
            Err(TransformError::ApiError { code: Some(190), ref message, .. }) if message.starts_with("Invalid")
        ));
        assert!(matches!(
            page_items(br#"{"paging":{}}"#, "p"),
            Err(TransformError::NotV4Response { .. })
        ));
        assert!(matches!(
            page_items(b"{\n\"data\": [,]}", "p"),
            Err(TransformError::NotJson { line: 2, .. })
        ));
    }

    #[test]
    fn sequence_orders_by_time_then_id_and_dedupes() {
        let page = items(
            r#"{"data":[
            {"id":"b","sequence":"s","captured_at":2,"compass_angle":2,"geometry":{"type":"Point","coordinates":[2,0]}},
            {"id":"a","sequence":"s","captured_at":2,"geometry":{"type":"Point","coordinates":[1,0]}},
            {"id":"c","sequence":"s","captured_at":1,"make":"first","geometry":{"type":"Point","coordinates":[0,0]}},
            {"id":"a","sequence":"s","captured_at":2,"geometry":{"type":"Point","coordinates":[1,0]}}]}"#,
        );
        let images = page.iter().map(|i| image(i.get()).unwrap()).collect();
        let s = sequence(images).unwrap();
        assert_eq!(s.captured_ms, Some(1));
        let s = s.record;
        assert_eq!(s.key, "s");
        assert_eq!(s.coordinates, vec![[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]);
        assert_eq!(
            s.image_keys,
            vec![Some("c".into()), Some("a".into()), Some("b".into())]
        );
        assert_eq!(s.cas, vec![None, None, Some(2.0)]);
        assert_eq!(s.camera_make.as_deref(), Some("first"));
        assert_eq!(s.captured_at.as_deref(), Some("1970-01-01T00:00:00.001Z"));
        assert_eq!(s.created_at, None);
        assert_eq!(
            s.url.as_deref(),
            Some("https://www.mapillary.com/app/?pKey=c")
        );
        assert!(sequence(Vec::new()).is_none());
    }
}
