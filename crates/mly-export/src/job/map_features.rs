//! The map feature keys of a job file: `object_values`, `object_types`, and the rule that map
//! features are v4 only.

use model::Api;
use toml::de::DeTable;

use super::checker::Checker;

/// The `object_types` a job may list (what the API documents).
pub const OBJECT_TYPES: [&str; 2] = ["traffic_sign", "point"];

/// What a job says about map features.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MapFeatureKeys {
    /// `object_values`: only these values (sent to the API and re-checked); empty: all.
    pub object_values: Vec<String>,
    /// `object_types`: only these types (checked by the tool); empty: both.
    pub object_types: Vec<String>,
}

impl Checker<'_> {
    /// Checks the map feature keys; `wanted` is whether `resources` lists `map_features`.
    pub(super) fn map_feature_keys(
        &mut self,
        table: &DeTable<'_>,
        api: Option<Api>,
        wanted: bool,
    ) -> Option<MapFeatureKeys> {
        if wanted && api == Some(Api::V3) {
            let span = table.get("resources").map_or(0..0, |v| v.span());
            self.error(
                span,
                "resources",
                "\"map_features\" needs `api = \"v4\"`: the v3 API has no map features".into(),
            );
        }
        for key in ["object_values", "object_types"] {
            if let Some(v) = table.get(key).filter(|_| !wanted) {
                self.error(
                    v.span(),
                    key,
                    "has no effect without \"map_features\" in `resources`".into(),
                );
            }
        }
        let object_values = self.strings(table, "object_values");
        let object_types = self.strings(table, "object_types");
        if let (Some(types), Some(v)) = (&object_types, table.get("object_types")) {
            for t in types.iter().filter(|t| !OBJECT_TYPES.contains(&t.as_str())) {
                self.error(
                    v.span(),
                    "object_types",
                    format!("unknown object type \"{t}\"; expected \"traffic_sign\" or \"point\""),
                );
            }
        }
        Some(MapFeatureKeys {
            object_values: object_values?,
            object_types: object_types?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::job::parse;

    #[test]
    fn map_features_need_v4_and_their_keys_need_them() {
        let job = parse(
            Path::new("j.toml"),
            "name = \"x\"\napi = \"v4\"\nresources = [\"map_features\"]\nobject_values = [\"regulatory--stop--g1\"]\nobject_types = [\"traffic_sign\"]\n[[areas]]\nbbox = [0, 0, 0.1, 0.1]\n",
        )
        .unwrap();
        assert!(job.map_features && !job.images && !job.sequences);
        assert_eq!(job.map_feature_keys.object_values, ["regulatory--stop--g1"]);
        assert_eq!(job.map_feature_keys.object_types, ["traffic_sign"]);

        let errors = parse(
            Path::new("j.toml"),
            "name = \"x\"\nresources = [\"map_features\"]\n[[areas]]\nbbox = [0, 0, 0.1, 0.1]\n",
        )
        .unwrap_err()
        .errors;
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(errors[0].key, "resources");
        assert!(errors[0].message.contains("api = \"v4\""));

        let errors = parse(
            Path::new("j.toml"),
            "name = \"x\"\napi = \"v4\"\nresources = [\"images\"]\nobject_values = [\"a\"]\nobject_types = [\"sign\"]\n[[areas]]\nbbox = [0, 0, 0.1, 0.1]\n",
        )
        .unwrap_err()
        .errors;
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["object_values", "object_types", "object_types"]);
        assert!(errors[2].message.contains("unknown object type \"sign\""));
    }
}
