//! Output schemas, declared once per resource, and the [`Feature`] every writer takes.

use crate::Resource;

/// `[lon, lat]` in WGS 84 degrees (RFC 7946 order).
pub type Position = [f64; 2];

/// A feature's geometry.
#[derive(Debug, Clone, PartialEq)]
pub enum Geometry {
    /// A single position.
    Point(Position),
    /// Vertices in order, at least one. May hold fewer than two distinct positions: every
    /// format writes those too (where a format's line needs two positions, a one-vertex line
    /// repeats its position).
    LineString(Vec<Position>),
}

/// The geometry type a layer declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeometryType {
    /// Points.
    Point,
    /// Lines.
    LineString,
}

/// The kind of an attribute, which decides its type in every format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A key or id: DBF `C(width)`. Never altered by any writer (users join on it).
    Id,
    /// Free text (names, camera makes): DBF `C(width)`; CSV guards it against formula injection.
    Text,
    /// ISO 8601 UTC text (`2016-01-17T13:05:47.540Z`): DBF `C(24)`; GPX `<time>`.
    Timestamp,
    /// A whole number: DBF `N(width,0)`.
    Integer,
    /// A real number: DBF `N(width,decimals)`.
    Float,
    /// A boolean: DBF `C(1)` holding `T`/`F` (readable by ArcGIS and GDAL alike).
    Bool,
}

/// One declared attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The property name in GeoJSON, CSV headers and GPX extensions.
    pub name: &'static str,
    /// The DBF column name (at most 10 ASCII characters).
    pub dbf_name: &'static str,
    /// The kind of value.
    pub kind: FieldKind,
    /// The DBF width in bytes.
    pub width: u8,
    /// The DBF decimal count (floats only).
    pub decimals: u8,
    /// Where the value comes from, for the README's field table.
    pub source: &'static str,
}

/// A resource's declared layout: geometry type and attribute list, fixed before any record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schema {
    /// The resource this schema belongs to.
    pub resource: Resource,
    /// The geometry every feature of the layer has.
    pub geometry: GeometryType,
    /// The attributes, in output order.
    pub fields: &'static [Field],
    /// The field used as the feature's name (GPX `<name>`).
    pub name_field: usize,
    /// The field used as the feature's time (GPX `<time>`), if any.
    pub time_field: Option<usize>,
    /// The field used as the feature's kind (GPX `<type>`), if any.
    pub type_field: Option<usize>,
    /// The field holding the feature's web link (GPX `<link href>`), if any.
    pub link_field: Option<usize>,
    /// The field used as the link's text (GPX `<link><text>`), if any.
    pub link_text_field: Option<usize>,
    /// For point layers in CSV: the `lon`,`lat` columns come right after this field.
    pub coords_after: Option<usize>,
    /// Per-vertex arrays a line feature carries in its [`COORDINATE_PROPERTIES`] extra
    /// property. GeoJSON keeps them there; GeoPackage stores each as a JSON array column after
    /// the fields; a DBF or CSV cell cannot hold them (that is what `sequence_points` is for).
    pub vertex_arrays: &'static [&'static str],
}

/// The [`Feature::extra`] property that holds a line's per-vertex arrays (GeoJSON's
/// `coordinateProperties`, as the v3 API sent them).
pub const COORDINATE_PROPERTIES: &str = "coordinateProperties";

const KEY_WIDTH: u8 = 40;
const NAME_WIDTH: u8 = 80;
/// A viewer link: the 36-byte `https://www.mapillary.com/app/?pKey=` plus an id of up to 44
/// characters (v4 ids have about 20 digits, v3 keys 22 characters).
const URL_WIDTH: u8 = 80;

pub(crate) const fn field(
    name: &'static str,
    dbf_name: &'static str,
    kind: FieldKind,
    source: &'static str,
) -> Field {
    let (width, decimals) = match kind {
        FieldKind::Id => (KEY_WIDTH, 0),
        FieldKind::Text => (NAME_WIDTH, 0),
        FieldKind::Timestamp => (24, 0),
        FieldKind::Integer => (9, 0),
        FieldKind::Float => (12, 6),
        FieldKind::Bool => (1, 0),
    };
    Field {
        name,
        dbf_name,
        kind,
        width,
        decimals,
        source,
    }
}

/// `field` with its own DBF width and decimals.
const fn sized(field: Field, width: u8, decimals: u8) -> Field {
    Field {
        width,
        decimals,
        ..field
    }
}

use FieldKind::{Bool, Float, Id, Integer, Text, Timestamp};

/// The link field of images and sequences: an id-like value no writer alters.
const fn url_field(source: &'static str) -> Field {
    sized(field("url", "url", Id, source), URL_WIDTH, 0)
}

/// A computed coordinate: 9 decimals (0.1 mm) in DBF, full precision elsewhere.
const fn coordinate_field(
    name: &'static str,
    dbf_name: &'static str,
    source: &'static str,
) -> Field {
    sized(field(name, dbf_name, Float, source), 15, 9)
}

const IMAGE_FIELDS: &[Field] = &[
    field("key", "key", Id, "v3 `key`; v4 `id`"),
    field("ca", "ca", Float, "v3 `ca`; v4 `compass_angle`"),
    field(
        "camera_make",
        "cam_make",
        Text,
        "v3 `camera_make`; v4 `make`",
    ),
    field(
        "camera_model",
        "cam_model",
        Text,
        "v3 `camera_model`; v4 `model`",
    ),
    field(
        "captured_at",
        "captured",
        Timestamp,
        "v3 `captured_at`; v4 `captured_at` (ms) as ISO 8601 UTC",
    ),
    field("pano", "pano", Bool, "v3 `pano`; v4 `is_pano`"),
    field(
        "sequence_key",
        "seq_key",
        Id,
        "v3 `sequence_key`; v4 `sequence`",
    ),
    field("user_key", "user_key", Id, "v3 `user_key`; v4 `creator.id`"),
    field(
        "username",
        "username",
        Text,
        "v3 `username`; v4 `creator.username`",
    ),
    field(
        "organization_key",
        "org_key",
        Id,
        "v3 `organization_key`; v4 none (empty: no Image field carries it)",
    ),
    coordinate_field(
        "computed_lon",
        "cmp_lon",
        "v3 none (empty); v4 `computed_geometry` longitude",
    ),
    coordinate_field(
        "computed_lat",
        "cmp_lat",
        "v3 none (empty); v4 `computed_geometry` latitude",
    ),
    field(
        "computed_ca",
        "cmp_ca",
        Float,
        "v3 none (empty); v4 `computed_compass_angle`",
    ),
    url_field(
        "v3 `https://www.mapillary.com/map/im/<key>`; v4 `https://www.mapillary.com/app/?pKey=<id>`",
    ),
];

const SEQUENCE_FIELDS: &[Field] = &[
    field("key", "key", Id, "v3 `key`; v4 the images' `sequence`"),
    field(
        "camera_make",
        "cam_make",
        Text,
        "v3 `camera_make`; v4 first image's `make`",
    ),
    field(
        "captured_at",
        "captured",
        Timestamp,
        "v3 `captured_at`; v4 first image's `captured_at`",
    ),
    field(
        "created_at",
        "created",
        Timestamp,
        "v3 `created_at`; v4 not available (empty)",
    ),
    field(
        "pano",
        "pano",
        Bool,
        "v3 `pano`; v4 first image's `is_pano`",
    ),
    field(
        "user_key",
        "user_key",
        Id,
        "v3 `user_key`; v4 first image's `creator.id`",
    ),
    url_field("the first image's `url` (v3 link form for v3 keys)"),
];

const SEQUENCE_POINT_FIELDS: &[Field] = &[
    field("seq_key", "seq_key", Id, "the sequence's `key`"),
    field("idx", "idx", Integer, "vertex index, from 0"),
    field(
        "image_key",
        "image_key",
        Id,
        "`coordinateProperties.image_keys[idx]` (v4: image `id`)",
    ),
    field(
        "ca",
        "ca",
        Float,
        "`coordinateProperties.cas[idx]` (v4: `compass_angle`)",
    ),
];

static IMAGES: Schema = Schema {
    resource: Resource::Images,
    geometry: GeometryType::Point,
    fields: IMAGE_FIELDS,
    name_field: 0,
    time_field: Some(4),
    type_field: None,
    link_field: Some(13),
    link_text_field: None,
    coords_after: Some(0),
    vertex_arrays: &[],
};

static SEQUENCES: Schema = Schema {
    resource: Resource::Sequences,
    geometry: GeometryType::LineString,
    fields: SEQUENCE_FIELDS,
    name_field: 0,
    time_field: Some(2),
    type_field: None,
    link_field: Some(6),
    link_text_field: None,
    coords_after: None,
    vertex_arrays: &["image_keys", "cas"],
};

static SEQUENCE_POINTS: Schema = Schema {
    resource: Resource::SequencePoints,
    geometry: GeometryType::Point,
    fields: SEQUENCE_POINT_FIELDS,
    name_field: 2,
    time_field: None,
    type_field: None,
    link_field: None,
    link_text_field: None,
    coords_after: Some(2),
    vertex_arrays: &[],
};

/// The viewer link with 7-decimal coordinates and a 20-digit id is about 110 bytes: the DBF's
/// widest text field leaves room for any id.
const MAP_FEATURE_URL_WIDTH: u8 = 254;

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
        width: MAP_FEATURE_URL_WIDTH,
        // A link is id-like: no writer alters it.
        ..field(
            "url",
            "url",
            Id,
            "the viewer at the feature: `https://www.mapillary.com/app/?lat=..&lng=..&z=19&focus=map&mapFeature=<id>`",
        )
    },
];

static MAP_FEATURES: Schema = Schema {
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

impl Schema {
    /// The declared schema of a resource.
    pub fn of(resource: Resource) -> &'static Schema {
        match resource {
            Resource::Images => &IMAGES,
            Resource::Sequences => &SEQUENCES,
            Resource::SequencePoints => &SEQUENCE_POINTS,
            Resource::MapFeatures => &MAP_FEATURES,
        }
    }

    /// The index of the field called `name`.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }
}

/// An attribute value. `Null` is an absent value: empty in CSV and DBF, `null` in GeoJSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Absent.
    Null,
    /// Text, ids and timestamps.
    Text(String),
    /// Whole numbers.
    Int(i64),
    /// Real numbers.
    Float(f64),
    /// Booleans.
    Bool(bool),
}

impl Value {
    /// The text, if this is a text value.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// One output feature: geometry plus values in the order of its [`Schema::fields`].
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    /// A stable identity for reports (image key, sequence key, `seq_key/idx`).
    pub id: String,
    /// The geometry.
    pub geometry: Geometry,
    /// One value per declared field.
    pub values: Vec<Value>,
    /// Further properties the API sent (sorted by name). Only GeoJSON carries them: other
    /// formats have fixed columns. Sequences keep their `coordinateProperties` here.
    pub extra: Vec<(String, serde_json::Value)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_fields_point_at_their_columns() {
        let name = |schema: &Schema, idx: Option<usize>| idx.map(|i| schema.fields[i].name);
        let images = Schema::of(Resource::Images);
        assert_eq!(name(images, Some(images.name_field)), Some("key"));
        assert_eq!(name(images, images.time_field), Some("captured_at"));
        assert_eq!(name(images, images.link_field), Some("url"));
        let sequences = Schema::of(Resource::Sequences);
        assert_eq!(name(sequences, sequences.time_field), Some("captured_at"));
        assert_eq!(name(sequences, sequences.link_field), Some("url"));
        let points = Schema::of(Resource::SequencePoints);
        assert_eq!(name(points, Some(points.name_field)), Some("image_key"));
        assert_eq!(points.link_field, None);
        for schema in [images, sequences, points] {
            assert!(schema.fields.iter().all(|f| f.dbf_name.len() <= 10));
        }
    }
}
