//! Normalised records: what `transform` makes of either API's responses.

use crate::schema::{COORDINATE_PROPERTIES, Feature, Geometry, Position, Value};

/// One image point, normalised from v3 or v4.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Image {
    /// v3 `key`, v4 `id`.
    pub key: String,
    /// Longitude, WGS 84.
    pub lon: f64,
    /// Latitude, WGS 84.
    pub lat: f64,
    /// Camera angle in degrees.
    pub ca: Option<f64>,
    /// Camera make.
    pub camera_make: Option<String>,
    /// Camera model.
    pub camera_model: Option<String>,
    /// Capture time, ISO 8601 UTC with milliseconds (`2016-01-17T13:05:47.540Z`).
    pub captured_at: Option<String>,
    /// Panorama or not.
    pub pano: Option<bool>,
    /// The sequence the image belongs to.
    pub sequence_key: Option<String>,
    /// The capturing user's key (v4 creator id).
    pub user_key: Option<String>,
    /// The capturing user's name.
    pub username: Option<String>,
    /// The organisation's key, when the API sends one (v3 only: no v4 Image field carries it).
    pub organization_key: Option<String>,
    /// The position structure from motion computed (v4 `computed_geometry`), beside the GPS
    /// position that stays the geometry.
    pub computed_position: Option<Position>,
    /// The camera angle structure from motion computed (v4 `computed_compass_angle`).
    pub computed_ca: Option<f64>,
    /// The image's page in the Mapillary viewer.
    pub url: Option<String>,
    /// Any other property the API sent, sorted by name (GeoJSON output only).
    pub extra: Vec<(String, serde_json::Value)>,
}

impl Image {
    /// An image with a key and position and no other property.
    pub fn new(key: impl Into<String>, lon: f64, lat: f64) -> Image {
        Image {
            key: key.into(),
            lon,
            lat,
            ..Image::default()
        }
    }

    /// The image as a feature of [`crate::Schema::of`]`(Resource::Images)`.
    pub fn to_feature(&self) -> Feature {
        self.clone().into_feature()
    }

    /// [`Image::to_feature`] without copying the strings (the streaming path).
    pub fn into_feature(self) -> Feature {
        Feature {
            geometry: Geometry::Point([self.lon, self.lat]),
            values: vec![
                Value::Text(self.key.clone()),
                float(self.ca),
                text(self.camera_make),
                text(self.camera_model),
                text(self.captured_at),
                boolean(self.pano),
                text(self.sequence_key),
                text(self.user_key),
                text(self.username),
                text(self.organization_key),
                float(self.computed_position.map(|[lon, _]| lon)),
                float(self.computed_position.map(|[_, lat]| lat)),
                float(self.computed_ca),
                text(self.url),
            ],
            id: self.key,
            extra: self.extra,
        }
    }
}

/// One sequence line with its per-vertex properties.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sequence {
    /// The sequence key.
    pub key: String,
    /// Vertices in order.
    pub coordinates: Vec<Position>,
    /// `coordinateProperties.cas`: one camera angle per vertex (may disagree in length with
    /// `coordinates` in bad data; [`Sequence::explode`] then pads with nulls).
    pub cas: Vec<Option<f64>>,
    /// `coordinateProperties.image_keys`: one image key per vertex.
    pub image_keys: Vec<Option<String>>,
    /// Camera make.
    pub camera_make: Option<String>,
    /// Capture time of the first image, ISO 8601 UTC.
    pub captured_at: Option<String>,
    /// Upload time (v3 only), ISO 8601 UTC.
    pub created_at: Option<String>,
    /// Panorama or not.
    pub pano: Option<bool>,
    /// The capturing user's key.
    pub user_key: Option<String>,
    /// The sequence's first image in the Mapillary viewer.
    pub url: Option<String>,
    /// Any other property the API sent, sorted by name (GeoJSON output only).
    pub extra: Vec<(String, serde_json::Value)>,
}

impl Sequence {
    /// True when `cas` and `image_keys` have exactly one entry per vertex.
    pub fn vertex_properties_match(&self) -> bool {
        self.cas.len() == self.coordinates.len() && self.image_keys.len() == self.coordinates.len()
    }

    /// One point per vertex, in vertex order. Missing per-vertex entries become nulls, so a
    /// sequence with inconsistent `coordinateProperties` still yields every vertex.
    pub fn explode(&self) -> impl Iterator<Item = SequencePoint> + '_ {
        self.coordinates
            .iter()
            .enumerate()
            .map(|(idx, &[lon, lat])| SequencePoint {
                seq_key: self.key.clone(),
                idx: idx as u32,
                image_key: self.image_keys.get(idx).cloned().flatten(),
                ca: self.cas.get(idx).copied().flatten(),
                lon,
                lat,
            })
    }

    /// The sequence as a feature of [`crate::Schema::of`]`(Resource::Sequences)`; its
    /// `coordinateProperties` go to [`Feature::extra`].
    pub fn to_feature(&self) -> Feature {
        self.clone().into_feature()
    }

    /// [`Sequence::to_feature`] without copying the vertices and strings (the streaming path:
    /// explode first, then hand the line over).
    pub fn into_feature(self) -> Feature {
        let coordinate_properties = serde_json::json!({
            "cas": self.cas,
            "image_keys": self.image_keys,
        });
        let mut extra = self.extra;
        extra.push((COORDINATE_PROPERTIES.to_owned(), coordinate_properties));
        extra.sort_by(|a, b| a.0.cmp(&b.0));
        Feature {
            id: self.key.clone(),
            geometry: Geometry::LineString(self.coordinates),
            values: vec![
                Value::Text(self.key),
                text(self.camera_make),
                text(self.captured_at),
                text(self.created_at),
                boolean(self.pano),
                text(self.user_key),
                text(self.url),
            ],
            extra,
        }
    }
}

/// One vertex of a sequence, exploded.
#[derive(Debug, Clone, PartialEq)]
pub struct SequencePoint {
    /// The sequence's key.
    pub seq_key: String,
    /// The vertex index, from 0.
    pub idx: u32,
    /// The image at this vertex.
    pub image_key: Option<String>,
    /// The camera angle at this vertex.
    pub ca: Option<f64>,
    /// Longitude.
    pub lon: f64,
    /// Latitude.
    pub lat: f64,
}

impl SequencePoint {
    /// The point as a feature of [`crate::Schema::of`]`(Resource::SequencePoints)`.
    pub fn to_feature(&self) -> Feature {
        self.clone().into_feature()
    }

    /// [`SequencePoint::to_feature`] without copying the strings (the streaming path).
    pub fn into_feature(self) -> Feature {
        Feature {
            id: format!("{}/{}", self.seq_key, self.idx),
            geometry: Geometry::Point([self.lon, self.lat]),
            values: vec![
                Value::Text(self.seq_key),
                Value::Int(i64::from(self.idx)),
                text(self.image_key),
                float(self.ca),
            ],
            extra: Vec::new(),
        }
    }
}

pub(crate) fn text(value: Option<String>) -> Value {
    value.map_or(Value::Null, Value::Text)
}

fn float(value: Option<f64>) -> Value {
    value.map_or(Value::Null, Value::Float)
}

fn boolean(value: Option<bool>) -> Value {
    value.map_or(Value::Null, Value::Bool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explode_pads_missing_vertex_properties_with_nulls() {
        let sequence = Sequence {
            key: "s".into(),
            coordinates: vec![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
            cas: vec![Some(10.0), Some(20.0)],
            image_keys: vec![Some("a".into()), Some("b".into()), Some("c".into())],
            ..Sequence::default()
        };
        assert!(!sequence.vertex_properties_match());
        let points: Vec<_> = sequence.explode().collect();
        assert_eq!(points.len(), 3);
        assert_eq!(points[2].idx, 2);
        assert_eq!(points[2].ca, None);
        assert_eq!(points[2].image_key.as_deref(), Some("c"));
        assert_eq!(points[1].lon, 3.0);
    }

    #[test]
    fn sequence_feature_keeps_coordinate_properties() {
        let sequence = Sequence {
            key: "s".into(),
            coordinates: vec![[1.0, 2.0]],
            cas: vec![Some(1.5)],
            image_keys: vec![Some("a".into())],
            ..Sequence::default()
        };
        let feature = sequence.to_feature();
        assert_eq!(feature.extra[0].0, "coordinateProperties");
        assert_eq!(
            feature.extra[0].1,
            serde_json::json!({"cas": [1.5], "image_keys": ["a"]})
        );
    }
}
