//! Map features: the objects Mapillary detected in the imagery (traffic signs, point objects),
//! a layer of their own with its declared schema.

use crate::schema::{Feature, Field, FieldKind, Geometry, GeometryType, Schema, Value, field};
use crate::{Resource, record::text};

/// One map feature, normalised from v4 `/map_features`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MapFeature {
    /// v4 `id` (text).
    pub id: String,
    /// Longitude, WGS 84.
    pub lon: f64,
    /// Latitude, WGS 84.
    pub lat: f64,
    /// `object_type`: `traffic_sign` or `point` (any text the API sends is kept).
    pub object_type: Option<String>,
    /// `object_value`: what it is, e.g. `regulatory--stop--g1`, `object--fire-hydrant`.
    pub object_value: Option<String>,
    /// `first_seen_at`, ISO 8601 UTC with milliseconds.
    pub first_seen_at: Option<String>,
    /// `last_seen_at`, ISO 8601 UTC with milliseconds.
    pub last_seen_at: Option<String>,
}

impl MapFeature {
    /// A map feature with an id and position and no other property.
    pub fn new(id: impl Into<String>, lon: f64, lat: f64) -> MapFeature {
        MapFeature {
            id: id.into(),
            lon,
            lat,
            ..MapFeature::default()
        }
    }

    /// The viewer link: the `lat`/`lng`/`z` form of the seed, so the link opens at the feature
    /// even where the viewer ignores `mapFeature`.
    pub fn url(&self) -> String {
        format!(
            "https://www.mapillary.com/app/?lat={}&lng={}&z=19&focus=map&mapFeature={}",
            self.lat, self.lon, self.id
        )
    }

    /// The map feature as a feature of [`Schema::of`]`(Resource::MapFeatures)`.
    pub fn into_feature(self) -> Feature {
        let url = self.url();
        Feature {
            geometry: Geometry::Point([self.lon, self.lat]),
            values: vec![
                Value::Text(self.id.clone()),
                text(self.object_type),
                text(self.object_value),
                text(self.first_seen_at),
                text(self.last_seen_at),
                Value::Text(url),
            ],
            id: self.id,
            extra: Vec::new(),
        }
    }
}

use FieldKind::{Id, Text, Timestamp};

/// The viewer link with 7-decimal coordinates and a 20-digit id is about 110 bytes: the DBF's
/// widest text field leaves room for any id.
const URL_WIDTH: u8 = 254;

const MAP_FEATURE_FIELDS: &[Field] = &[
    field("id", "id", Id, "v4 `id`"),
    field("object_type", "obj_type", Text, "v4 `object_type`"),
    field("object_value", "obj_value", Text, "v4 `object_value`"),
    field(
        "first_seen_at",
        "first_seen",
        Timestamp,
        "v4 `first_seen_at` (ms or ISO 8601) as ISO 8601 UTC",
    ),
    field(
        "last_seen_at",
        "last_seen",
        Timestamp,
        "v4 `last_seen_at` (ms or ISO 8601) as ISO 8601 UTC",
    ),
    Field {
        width: URL_WIDTH,
        // A link is id-like: no writer alters it.
        ..field(
            "url",
            "url",
            Id,
            "the viewer at the feature: `https://www.mapillary.com/app/?lat=..&lng=..&z=19&focus=map&mapFeature=<id>`",
        )
    },
];

pub(crate) static MAP_FEATURES: Schema = Schema {
    resource: Resource::MapFeatures,
    geometry: GeometryType::Point,
    fields: MAP_FEATURE_FIELDS,
    name_field: 2,
    time_field: Some(4),
    type_field: Some(1),
    // GDAL types a GPX extension by its first values: a numeric id would become a 32-bit
    // integer and overflow. As the link's text it stays text.
    link_field: Some(5),
    link_text_field: Some(0),
    coords_after: Some(0),
    vertex_arrays: &[],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_follows_the_schema_and_links_to_the_viewer() {
        let mut m = MapFeature::new("1234", -113.98, 46.86);
        m.object_value = Some("regulatory--stop--g1".into());
        let schema = Schema::of(Resource::MapFeatures);
        let feature = m.into_feature();
        assert_eq!(feature.values.len(), schema.fields.len());
        assert_eq!(feature.id, "1234");
        assert_eq!(
            feature.values[schema.name_field],
            Value::Text("regulatory--stop--g1".into())
        );
        assert_eq!(
            feature.values[5],
            Value::Text(
                "https://www.mapillary.com/app/?lat=46.86&lng=-113.98&z=19&focus=map&mapFeature=1234"
                    .into()
            )
        );
        assert!(schema.fields.iter().all(|f| f.dbf_name.len() <= 10));
    }
}
