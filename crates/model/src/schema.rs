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
    /// Free text or an id: DBF `C(width)`.
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
    /// For point layers in CSV: the `lon`,`lat` columns come right after this field.
    pub coords_after: Option<usize>,
}

const fn text(
    name: &'static str,
    dbf_name: &'static str,
    width: u8,
    source: &'static str,
) -> Field {
    Field {
        name,
        dbf_name,
        kind: FieldKind::Text,
        width,
        decimals: 0,
        source,
    }
}

const fn timestamp(name: &'static str, dbf_name: &'static str, source: &'static str) -> Field {
    Field {
        name,
        dbf_name,
        kind: FieldKind::Timestamp,
        width: 24,
        decimals: 0,
        source,
    }
}

const CA: Field = Field {
    name: "ca",
    dbf_name: "ca",
    kind: FieldKind::Float,
    width: 12,
    decimals: 6,
    source: "v3 `ca` / `cas[i]`; v4 `compass_angle`",
};

const PANO: Field = Field {
    name: "pano",
    dbf_name: "pano",
    kind: FieldKind::Bool,
    width: 1,
    decimals: 0,
    source: "v3 `pano`; v4 `is_pano`",
};

const KEY_WIDTH: u8 = 64;
const NAME_WIDTH: u8 = 100;

const IMAGE_FIELDS: &[Field] = &[
    text("key", "key", KEY_WIDTH, "v3 `key`; v4 `id`"),
    CA,
    text(
        "camera_make",
        "cam_make",
        NAME_WIDTH,
        "v3 `camera_make`; v4 `make`",
    ),
    text(
        "camera_model",
        "cam_model",
        NAME_WIDTH,
        "v3 `camera_model`; v4 `model`",
    ),
    timestamp(
        "captured_at",
        "captured",
        "v3 `captured_at`; v4 `captured_at` (ms) as ISO 8601 UTC",
    ),
    PANO,
    text(
        "sequence_key",
        "seq_key",
        KEY_WIDTH,
        "v3 `sequence_key`; v4 `sequence`",
    ),
    text(
        "user_key",
        "user_key",
        KEY_WIDTH,
        "v3 `user_key`; v4 `creator.id`",
    ),
    text(
        "username",
        "username",
        NAME_WIDTH,
        "v3 `username`; v4 `creator.username`",
    ),
    text(
        "organization_key",
        "org_key",
        KEY_WIDTH,
        "v3 `organization_key`; v4 `organization_id`",
    ),
];

const SEQUENCE_FIELDS: &[Field] = &[
    text(
        "key",
        "key",
        KEY_WIDTH,
        "v3 `key`; v4 the images' `sequence`",
    ),
    text(
        "camera_make",
        "cam_make",
        NAME_WIDTH,
        "v3 `camera_make`; v4 first image's `make`",
    ),
    timestamp(
        "captured_at",
        "captured",
        "v3 `captured_at`; v4 first image's `captured_at`",
    ),
    timestamp(
        "created_at",
        "created",
        "v3 `created_at`; v4 not available (empty)",
    ),
    PANO,
    text(
        "user_key",
        "user_key",
        KEY_WIDTH,
        "v3 `user_key`; v4 first image's `creator.id`",
    ),
];

const SEQUENCE_POINT_FIELDS: &[Field] = &[
    text("seq_key", "seq_key", KEY_WIDTH, "the sequence's `key`"),
    Field {
        name: "idx",
        dbf_name: "idx",
        kind: FieldKind::Integer,
        width: 9,
        decimals: 0,
        source: "vertex index, from 0",
    },
    text(
        "image_key",
        "image_key",
        KEY_WIDTH,
        "`coordinateProperties.image_keys[idx]`",
    ),
    CA,
];

static IMAGES: Schema = Schema {
    resource: Resource::Images,
    geometry: GeometryType::Point,
    fields: IMAGE_FIELDS,
    name_field: 0,
    time_field: Some(4),
    coords_after: Some(0),
};

static SEQUENCES: Schema = Schema {
    resource: Resource::Sequences,
    geometry: GeometryType::LineString,
    fields: SEQUENCE_FIELDS,
    name_field: 0,
    time_field: Some(2),
    coords_after: None,
};

static SEQUENCE_POINTS: Schema = Schema {
    resource: Resource::SequencePoints,
    geometry: GeometryType::Point,
    fields: SEQUENCE_POINT_FIELDS,
    name_field: 2,
    time_field: None,
    coords_after: Some(2),
};

impl Schema {
    /// The declared schema of a resource.
    pub fn of(resource: Resource) -> &'static Schema {
        match resource {
            Resource::Images => &IMAGES,
            Resource::Sequences => &SEQUENCES,
            Resource::SequencePoints => &SEQUENCE_POINTS,
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
