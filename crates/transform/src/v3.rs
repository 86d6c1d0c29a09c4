//! v3 features (and user GeoJSON, which has the same shape) to records.

use model::{Image, Resource, Sequence};
use serde::Deserialize;
use serde_json::Value;

use crate::candidate::{Normal, Reject};
use crate::json::{self, Properties, RawGeometry};
use crate::link;

/// One v3 feature, of either resource.
#[derive(Debug)]
pub(crate) enum V3Record {
    Image(Normal<Image>),
    Sequence(Normal<Sequence>),
}

#[derive(Deserialize)]
struct RawFeature<'a> {
    #[serde(borrow, default)]
    geometry: Option<RawGeometry<'a>>,
    #[serde(borrow, default)]
    properties: Option<Properties<'a>>,
}

/// Parses the element at the start of `bytes` (which may go on with more input) and the number
/// of bytes it took; `None` when it does not parse as a feature there.
pub(crate) fn feature_prefix(bytes: &[u8]) -> Option<(Result<V3Record, Reject>, usize)> {
    let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<RawFeature<'_>>();
    match stream.next() {
        Some(Ok(raw)) => Some((normalise(raw), stream.byte_offset())),
        _ => None,
    }
}

/// Parses exactly one element of a FeatureCollection: a Point is an image, a LineString a
/// sequence.
pub(crate) fn feature(bytes: &[u8]) -> Result<V3Record, Reject> {
    parsed(serde_json::from_slice(bytes))
}

/// [`feature`] on text already checked to be UTF-8: serde_json then skips checking each
/// string again (3% of a 1,000,000-image convert's CPU went to those checks).
pub(crate) fn feature_text(text: &str) -> Result<V3Record, Reject> {
    parsed(serde_json::from_str(text))
}

fn parsed(raw: serde_json::Result<RawFeature<'_>>) -> Result<V3Record, Reject> {
    let raw = raw.map_err(|e| Reject {
        resource: Resource::Images,
        key: None,
        reason: format!("not a GeoJSON feature: {e}"),
    })?;
    normalise(raw)
}

fn normalise(raw: RawFeature<'_>) -> Result<V3Record, Reject> {
    let mut properties = raw.properties.unwrap_or_default();
    let resource = match raw.geometry.as_ref().map(|g| &*g.kind) {
        Some("LineString") => Resource::Sequences,
        Some("Point") => Resource::Images,
        _ if properties.has("coordinateProperties") => Resource::Sequences,
        _ => Resource::Images,
    };
    let reject = |key: Option<String>, reason: String| Reject {
        resource,
        key,
        reason,
    };
    let key = properties
        .take_key()
        .map_err(|reason| reject(None, reason))?;
    let Some(geometry) = raw.geometry else {
        return Err(reject(key, "missing geometry".into()));
    };
    match (resource, &*geometry.kind) {
        (Resource::Images, "Point") => {
            let [lon, lat] = geometry.point().map_err(|r| reject(key.clone(), r))?;
            image(key, lon, lat, properties).map(V3Record::Image)
        }
        (Resource::Sequences, "LineString") => {
            let coordinates = geometry.line().map_err(|r| reject(key.clone(), r))?;
            sequence(key, coordinates, properties).map(V3Record::Sequence)
        }
        (_, kind) => Err(reject(
            key,
            format!("geometry of type `{kind}` (expected Point or LineString)"),
        )),
    }
}

fn image(
    key: Option<String>,
    lon: f64,
    lat: f64,
    properties: Properties<'_>,
) -> Result<Normal<Image>, Reject> {
    let mut image = Image::new(key.unwrap_or_default(), lon, lat);
    let mut warnings = Vec::new();
    match fill_image(&mut image, properties, &mut warnings) {
        Ok(captured_ms) => Ok(Normal {
            record: image,
            captured_ms,
            warnings,
            username: None,
        }),
        Err(reason) => Err(Reject {
            resource: Resource::Images,
            key: Some(image.key),
            reason,
        }),
    }
}

/// Sets the image's fields from its properties; returns `captured_at` in milliseconds. The
/// v3 API sends no `computed_*` or `url`: they are read for files this tool exported, so that
/// converting one again keeps them (a v4 link stays a v4 link).
fn fill_image(
    image: &mut Image,
    properties: Properties<'_>,
    warnings: &mut Vec<String>,
) -> Result<Option<i64>, String> {
    let mut captured_at = None;
    let (mut computed_lon, mut computed_lat) = (None, None);
    let mut extra = Vec::new();
    for (name, value) in properties.0 {
        match &*name {
            "ca" => image.ca = json::number(&name, value)?,
            "camera_make" => image.camera_make = json::text(&name, value)?,
            "camera_model" => image.camera_model = json::text(&name, value)?,
            "captured_at" => captured_at = json::text(&name, value)?,
            "pano" => image.pano = json::boolean(&name, value)?,
            "sequence_key" => image.sequence_key = json::id_text(&name, value)?,
            "user_key" => image.user_key = json::id_text(&name, value)?,
            "username" => image.username = json::text(&name, value)?,
            "organization_key" => image.organization_key = json::id_text(&name, value)?,
            "computed_lon" => computed_lon = json::number(&name, value)?,
            "computed_lat" => computed_lat = json::number(&name, value)?,
            "computed_ca" => image.computed_ca = json::number(&name, value)?,
            "url" => image.url = json::text(&name, value)?,
            _ => extra.push((name.into_owned(), value)),
        }
    }
    image.computed_position = computed_lon.zip(computed_lat).map(|(lon, lat)| [lon, lat]);
    if image.computed_position.is_none() && (computed_lon.is_some() || computed_lat.is_some()) {
        warnings.push("computed_lon and computed_lat come in pairs: both left empty".into());
    }
    if image.url.is_none() {
        image.url = link::v3_image(&image.key);
    }
    image.extra = json::sorted_extra(extra);
    let captured_ms;
    (image.captured_at, captured_ms) = timestamp("captured_at", captured_at, warnings);
    Ok(captured_ms)
}

fn sequence(
    key: Option<String>,
    coordinates: Vec<model::Position>,
    properties: Properties<'_>,
) -> Result<Normal<Sequence>, Reject> {
    let mut sequence = Sequence {
        key: key.unwrap_or_default(),
        coordinates,
        ..Sequence::default()
    };
    let mut warnings = Vec::new();
    match fill_sequence(&mut sequence, properties, &mut warnings) {
        Ok(captured_ms) => Ok(Normal {
            record: sequence,
            captured_ms,
            warnings,
            username: None,
        }),
        Err(reason) => Err(Reject {
            resource: Resource::Sequences,
            key: Some(sequence.key),
            reason,
        }),
    }
}

/// Sets the sequence's fields from its properties; returns `captured_at` in milliseconds.
fn fill_sequence(
    sequence: &mut Sequence,
    properties: Properties<'_>,
    warnings: &mut Vec<String>,
) -> Result<Option<i64>, String> {
    let (mut captured_at, mut created_at) = (None, None);
    let mut extra = Vec::new();
    for (name, value) in properties.0 {
        match &*name {
            "camera_make" => sequence.camera_make = json::text(&name, value)?,
            "captured_at" => captured_at = json::text(&name, value)?,
            "created_at" => created_at = json::text(&name, value)?,
            "pano" => sequence.pano = json::boolean(&name, value)?,
            "user_key" => sequence.user_key = json::id_text(&name, value)?,
            "coordinateProperties" => {
                (sequence.cas, sequence.image_keys) = coordinate_properties(value)?;
            }
            "url" => sequence.url = json::text(&name, value)?,
            _ => extra.push((name.into_owned(), value)),
        }
    }
    if sequence.url.is_none() {
        sequence.url = sequence
            .image_keys
            .first()
            .and_then(|key| link::v3_image(key.as_deref()?));
    }
    sequence.extra = json::sorted_extra(extra);
    let captured_ms;
    (sequence.captured_at, captured_ms) = timestamp("captured_at", captured_at, warnings);
    (sequence.created_at, _) = timestamp("created_at", created_at, warnings);
    Ok(captured_ms)
}

type VertexProperties = (Vec<Option<f64>>, Vec<Option<String>>);

/// `coordinateProperties.cas` and `.image_keys`; other members are not carried.
fn coordinate_properties(value: Value) -> Result<VertexProperties, String> {
    let Value::Object(mut members) = value else {
        return match value {
            Value::Null => Ok((Vec::new(), Vec::new())),
            _ => Err("property `coordinateProperties` is not an object".into()),
        };
    };
    let cas = match members.remove("cas") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| json::number(&format!("coordinateProperties.cas[{i}]"), v))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("`coordinateProperties.cas` is not an array".into()),
    };
    let image_keys = match members.remove("image_keys") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| json::id_text(&format!("coordinateProperties.image_keys[{i}]"), v))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("`coordinateProperties.image_keys` is not an array".into()),
    };
    Ok((cas, image_keys))
}

/// An RFC 3339 time as ISO 8601 UTC with milliseconds; anything else is kept verbatim, with a
/// warning.
fn timestamp(
    name: &str,
    value: Option<String>,
    warnings: &mut Vec<String>,
) -> (Option<String>, Option<i64>) {
    let Some(text) = value else {
        return (None, None);
    };
    match model::parse_timestamp_ms(&text) {
        // The API's own form is already canonical: keep it rather than format it again.
        Some(ms) if is_canonical(&text) => (Some(text), Some(ms)),
        Some(ms) => (Some(model::format_epoch_ms(ms)), Some(ms)),
        None => {
            warnings.push(format!(
                "{name} `{text}` is not an RFC 3339 time; kept as is"
            ));
            (Some(text), None)
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (given that it parses), except a leap second, which
/// `format_epoch_ms` spells as the next minute.
fn is_canonical(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 24 && b[10] == b'T' && b[19] == b'.' && b[23] == b'Z' && &b[17..19] != b"60"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_of(json: &str) -> Normal<Image> {
        match feature(json.as_bytes()) {
            Ok(V3Record::Image(image)) => image,
            other => panic!("{other:?}"),
        }
    }

    fn reason_of(json: &str) -> (Resource, Option<String>, String) {
        match feature(json.as_bytes()) {
            Err(r) => (r.resource, r.key, r.reason),
            Ok(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn image_properties_and_extras() {
        let image = image_of(
            r#"{"type":"Feature","properties":{"zeta":[1],"key":"k","ca":12.5,"pano":null,
            "captured_at":"2016-03-14T14:44:53.86+01:00","quality_score":4,"username":"u"},
            "geometry":{"type":"Point","coordinates":[16.4,7.2,100]}}"#,
        );
        let i = &image.record;
        assert_eq!((i.key.as_str(), i.lon, i.lat), ("k", 16.4, 7.2));
        assert_eq!(i.ca, Some(12.5));
        assert_eq!(i.pano, None);
        assert_eq!(i.captured_at.as_deref(), Some("2016-03-14T13:44:53.860Z"));
        assert_eq!(image.captured_ms, Some(1_457_963_093_860));
        assert_eq!(i.username.as_deref(), Some("u"));
        let names: Vec<_> = i.extra.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["quality_score", "zeta"]);
        assert_eq!(i.extra[1].1, serde_json::json!([1]));
        assert_eq!(i.url.as_deref(), Some("https://www.mapillary.com/map/im/k"));
        assert_eq!((i.computed_position, i.computed_ca), (None, None));
        assert!(image.warnings.is_empty());
    }

    #[test]
    fn an_exported_image_keeps_its_link_and_computed_values() {
        let image = image_of(
            r#"{"properties":{"key":"1","url":"https://www.mapillary.com/app/?pKey=1",
            "computed_lon":1.5,"computed_lat":2.5,"computed_ca":null},
            "geometry":{"type":"Point","coordinates":[1,2]}}"#,
        );
        let i = &image.record;
        assert_eq!(
            i.url.as_deref(),
            Some("https://www.mapillary.com/app/?pKey=1")
        );
        assert_eq!(
            (i.computed_position, i.computed_ca),
            (Some([1.5, 2.5]), None)
        );
        assert!(i.extra.is_empty());
        let half = image_of(
            r#"{"properties":{"key":"1","computed_lon":1.5},
            "geometry":{"type":"Point","coordinates":[1,2]}}"#,
        );
        assert_eq!(half.record.computed_position, None);
        assert_eq!(half.warnings.len(), 1);
    }

    #[test]
    fn bad_captured_at_is_kept_with_a_warning() {
        let image = image_of(
            r#"{"properties":{"key":"k","captured_at":"yesterday"},
            "geometry":{"type":"Point","coordinates":[1,2]}}"#,
        );
        assert_eq!(image.record.captured_at.as_deref(), Some("yesterday"));
        assert_eq!(image.captured_ms, None);
        assert_eq!(image.warnings.len(), 1);
    }

    #[test]
    fn sequence_with_coordinate_properties() {
        let json = r#"{"geometry":{"coordinates":[[1,2],[3,4]],"type":"LineString"},
            "properties":{"key":"s","username":"u","created_at":"2016-03-17T10:47:53.106Z",
            "coordinateProperties":{"cas":[10,null],"image_keys":["a","b"]}}}"#;
        let Ok(V3Record::Sequence(s)) = feature(json.as_bytes()) else {
            panic!("not a sequence")
        };
        let s = s.record;
        assert_eq!(s.key, "s");
        assert_eq!(s.coordinates, vec![[1.0, 2.0], [3.0, 4.0]]);
        assert_eq!(s.cas, vec![Some(10.0), None]);
        assert_eq!(s.image_keys, vec![Some("a".into()), Some("b".into())]);
        assert_eq!(s.created_at.as_deref(), Some("2016-03-17T10:47:53.106Z"));
        assert_eq!(s.extra, vec![("username".into(), serde_json::json!("u"))]);
        assert_eq!(s.url.as_deref(), Some("https://www.mapillary.com/map/im/a"));
    }

    #[test]
    fn rejections_name_the_resource_key_and_reason() {
        let (resource, key, reason) = reason_of(
            r#"{"properties":{"key":"k"},"geometry":{"type":"Polygon","coordinates":[]}}"#,
        );
        assert_eq!((resource, key.as_deref()), (Resource::Images, Some("k")));
        assert!(reason.contains("Polygon"), "{reason}");
        let (resource, key, reason) =
            reason_of(r#"{"properties":{"key":"s","coordinateProperties":{}},"geometry":null}"#);
        assert_eq!((resource, key.as_deref()), (Resource::Sequences, Some("s")));
        assert_eq!(reason, "missing geometry");
        let (_, _, reason) = reason_of(
            r#"{"properties":{"key":"k","ca":"north"},"geometry":{"type":"Point","coordinates":[1,2]}}"#,
        );
        assert_eq!(reason, "property `ca` is text, expected a number");
        let (_, _, reason) = reason_of(
            r#"{"properties":{"key":"k"},"geometry":{"type":"Point","coordinates":[1]}}"#,
        );
        assert!(reason.starts_with("bad Point coordinates"), "{reason}");
        let (_, key, reason) = reason_of("[1, 2]");
        assert_eq!(key, None);
        assert!(reason.starts_with("not a GeoJSON feature"), "{reason}");
    }
}
