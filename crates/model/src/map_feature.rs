//! Map features: the objects Mapillary detected in the imagery (traffic signs, point objects),
//! a layer of their own with its declared schema.

use crate::record::text;
use crate::schema::{Feature, Geometry, Value};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Resource, Schema};

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
