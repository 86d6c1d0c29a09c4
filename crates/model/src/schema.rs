//! Output schemas, declared once per resource, and the [`Feature`] every writer takes.

use crate::Resource;

/// `[lon, lat]` in WGS 84 degrees (RFC 7946 order).
pub type Position = [f64; 2];

/// A feature's geometry.
#[derive(Debug, Clone, PartialEq)]
pub enum Geometry {
    /// A single position.
    Point(Position),
    /// Vertices in order. May hold fewer than two distinct positions: the shapefile writer
    /// rejects those (a polyline needs two), every other format writes them as they are.
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
}

const KEY_WIDTH: u8 = 40;
const NAME_WIDTH: u8 = 80;

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

use FieldKind::{Bool, Float, Id, Integer, Text, Timestamp};

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
        "v3 `organization_key`; v4 `organization_id`",
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
    link_field: None,
    link_text_field: None,
    coords_after: Some(0),
};

static SEQUENCES: Schema = Schema {
    resource: Resource::Sequences,
    geometry: GeometryType::LineString,
    fields: SEQUENCE_FIELDS,
    name_field: 0,
    time_field: Some(2),
    type_field: None,
    link_field: None,
    link_text_field: None,
    coords_after: None,
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
};

impl Schema {
    /// The declared schema of a resource.
    pub fn of(resource: Resource) -> &'static Schema {
        match resource {
            Resource::Images => &IMAGES,
            Resource::Sequences => &SEQUENCES,
            Resource::SequencePoints => &SEQUENCE_POINTS,
            Resource::MapFeatures => &crate::map_feature::MAP_FEATURES,
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
