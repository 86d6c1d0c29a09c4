//! The SQL of a GeoPackage 1.2 as GDAL writes it: the required metadata tables, each layer's
//! feature table, and the R-tree and feature-count triggers that keep the index and
//! `gpkg_ogr_contents` right when QGIS or ArcGIS edit the file later.

use model::{FieldKind, GeometryType, Schema};

/// `PRAGMA application_id`: `GPKG` in ASCII.
pub(crate) const APPLICATION_ID: u32 = 0x4750_4B47;
/// `PRAGMA user_version`: GeoPackage 1.2.0, the version GDAL writes by default and every
/// reader opens without a warning.
pub(crate) const USER_VERSION: u32 = 10200;
/// The geometry column of every layer (GDAL's default name).
pub(crate) const GEOMETRY_COLUMN: &str = "geom";
/// The feature id column of every layer (GDAL's default name).
pub(crate) const FID_COLUMN: &str = "fid";

/// The WKT of EPSG:4326 as GDAL stores it.
const WGS84_WKT: &str = "GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,\
298.257223563,AUTHORITY[\"EPSG\",\"7030\"]],AUTHORITY[\"EPSG\",\"6326\"]],PRIMEM[\"Greenwich\",0,\
AUTHORITY[\"EPSG\",\"8901\"]],UNIT[\"degree\",0.0174532925199433,AUTHORITY[\"EPSG\",\"9122\"]],\
AXIS[\"Latitude\",NORTH],AXIS[\"Longitude\",EAST],AUTHORITY[\"EPSG\",\"4326\"]]";

/// The metadata tables of a new file (GeoPackage 1.2 clauses 1.1.2, 1.1.3, 2.1.5, F.1 and
/// F.2), the three required spatial reference systems, and GDAL's `gpkg_ogr_contents`.
pub(crate) fn metadata_tables() -> String {
    format!(
        "CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER NOT NULL \
         PRIMARY KEY, organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL, \
         definition TEXT NOT NULL, description TEXT);
         INSERT INTO gpkg_spatial_ref_sys VALUES ('Undefined cartesian SRS', -1, 'NONE', -1, \
         'undefined', 'undefined cartesian coordinate reference system');
         INSERT INTO gpkg_spatial_ref_sys VALUES ('Undefined geographic SRS', 0, 'NONE', 0, \
         'undefined', 'undefined geographic coordinate reference system');
         INSERT INTO gpkg_spatial_ref_sys VALUES ('WGS 84 geodetic', 4326, 'EPSG', 4326, \
         '{WGS84_WKT}', 'longitude/latitude coordinates in decimal degrees on the WGS 84 \
         spheroid');
         CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT \
         NULL, identifier TEXT UNIQUE, description TEXT DEFAULT '', last_change DATETIME NOT \
         NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), min_x DOUBLE, min_y DOUBLE, \
         max_x DOUBLE, max_y DOUBLE, srs_id INTEGER, CONSTRAINT fk_gc_r_srs_id FOREIGN KEY \
         (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
         CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT \
         NULL, geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, \
         m TINYINT NOT NULL, CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name), \
         CONSTRAINT uk_gc_table_name UNIQUE (table_name), CONSTRAINT fk_gc_tn FOREIGN KEY \
         (table_name) REFERENCES gpkg_contents(table_name), CONSTRAINT fk_gc_srs FOREIGN KEY \
         (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
         CREATE TABLE gpkg_extensions (table_name TEXT, column_name TEXT, extension_name TEXT \
         NOT NULL, definition TEXT NOT NULL, scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE \
         (table_name, column_name, extension_name));
         CREATE TABLE gpkg_data_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL, \
         name TEXT, title TEXT, description TEXT, mime_type TEXT, constraint_name TEXT, \
         CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name), CONSTRAINT gdc_tn UNIQUE \
         (table_name, name));
         CREATE TABLE gpkg_data_column_constraints (constraint_name TEXT NOT NULL, \
         constraint_type TEXT NOT NULL, value TEXT, min NUMERIC, min_is_inclusive BOOLEAN, \
         max NUMERIC, max_is_inclusive BOOLEAN, description TEXT, CONSTRAINT gdcc_ntv UNIQUE \
         (constraint_name, constraint_type, value));
         INSERT INTO gpkg_extensions VALUES ('gpkg_data_columns', NULL, 'gpkg_schema', \
         'http://www.geopackage.org/spec120/#extension_schema', 'read-write');
         INSERT INTO gpkg_extensions VALUES ('gpkg_data_column_constraints', NULL, \
         'gpkg_schema', 'http://www.geopackage.org/spec120/#extension_schema', 'read-write');
         CREATE TABLE gpkg_ogr_contents (table_name TEXT NOT NULL PRIMARY KEY, feature_count \
         INTEGER DEFAULT NULL);"
    )
}

/// `"name"`, with any `"` doubled.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'`, with any `'` doubled.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The SQLite type that says what a field holds (GeoPackage 1.2 table 1).
fn column_type(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Id | FieldKind::Text => "TEXT",
        FieldKind::Timestamp => "DATETIME",
        FieldKind::Integer => "INTEGER",
        FieldKind::Float => "REAL",
        FieldKind::Bool => "BOOLEAN",
    }
}

fn geometry_type_name(geometry: GeometryType) -> &'static str {
    match geometry {
        GeometryType::Point => "POINT",
        GeometryType::LineString => "LINESTRING",
    }
}

/// Creates the layer's feature table (the fid, the geometry, every field, then the vertex
/// arrays as JSON text) and registers it, its geometry column and its JSON columns.
pub(crate) fn create_layer(table: &str, schema: &Schema) -> String {
    let t = quote(table);
    let geometry = geometry_type_name(schema.geometry);
    let mut columns = vec![
        format!(
            "{} INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL",
            quote(FID_COLUMN)
        ),
        format!("{} {geometry}", quote(GEOMETRY_COLUMN)),
    ];
    columns.extend(
        schema
            .fields
            .iter()
            .map(|f| format!("{} {}", quote(f.name), column_type(f.kind))),
    );
    columns.extend(
        schema
            .vertex_arrays
            .iter()
            .map(|a| format!("{} TEXT", quote(a))),
    );
    let lit = literal(table);
    let mut sql = format!(
        "CREATE TABLE {t} ({});
         INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) \
         VALUES ({lit}, 'features', {lit}, 4326);
         INSERT INTO gpkg_geometry_columns VALUES ({lit}, {}, '{geometry}', 4326, 0, 0);",
        columns.join(", "),
        literal(GEOMETRY_COLUMN),
    );
    for array in schema.vertex_arrays {
        sql += &format!(
            "INSERT INTO gpkg_data_columns (table_name, column_name, mime_type) \
             VALUES ({lit}, {}, 'application/json');",
            literal(array)
        );
    }
    sql
}

/// The layer's insert: the geometry, the fields, then the vertex arrays (the fid is assigned).
pub(crate) fn insert(table: &str, schema: &Schema) -> String {
    let names: Vec<String> = std::iter::once(GEOMETRY_COLUMN)
        .chain(schema.fields.iter().map(|f| f.name))
        .chain(schema.vertex_arrays.iter().copied())
        .map(quote)
        .collect();
    let marks = vec!["?"; names.len()].join(", ");
    format!(
        "INSERT INTO {} ({}) VALUES ({marks})",
        quote(table),
        names.join(", ")
    )
}

/// The layer's extent in `gpkg_contents` (parameters: min_x, min_y, max_x, max_y, table).
pub(crate) const SET_EXTENT: &str = "UPDATE gpkg_contents SET min_x = ?1, min_y = ?2, \
    max_x = ?3, max_y = ?4 WHERE table_name = ?5";

/// After the bulk insert and the R-tree's bulk load (`rtree.rs`): the layer's exact
/// count, its R-tree's registration and the triggers GDAL creates, so that later edits keep the R-tree and
/// `gpkg_ogr_contents` right.
pub(crate) fn finish_layer(table: &str, features: u64) -> String {
    let t = quote(table);
    let lit = literal(table);
    let (g, i) = (quote(GEOMETRY_COLUMN), quote(FID_COLUMN));
    let rtree_name = format!("rtree_{table}_{GEOMETRY_COLUMN}");
    let rtree = quote(&rtree_name);
    let trigger = |suffix: &str| quote(&format!("{rtree_name}_{suffix}"));
    let envelope =
        format!("ST_MinX(NEW.{g}), ST_MaxX(NEW.{g}), ST_MinY(NEW.{g}), ST_MaxY(NEW.{g})");
    format!(
        "INSERT INTO gpkg_extensions VALUES ({lit}, {}, 'gpkg_rtree_index', \
         'http://www.geopackage.org/spec120/#extension_rtree', 'write-only');
         CREATE TRIGGER {insert} AFTER INSERT ON {t} \
         WHEN (NEW.{g} NOT NULL AND NOT ST_IsEmpty(NEW.{g})) BEGIN \
         INSERT OR REPLACE INTO {rtree} VALUES (NEW.{i}, {envelope}); END;
         CREATE TRIGGER {update1} AFTER UPDATE OF {g} ON {t} \
         WHEN OLD.{i} = NEW.{i} AND (NEW.{g} NOTNULL AND NOT ST_IsEmpty(NEW.{g})) BEGIN \
         INSERT OR REPLACE INTO {rtree} VALUES (NEW.{i}, {envelope}); END;
         CREATE TRIGGER {update2} AFTER UPDATE OF {g} ON {t} \
         WHEN OLD.{i} = NEW.{i} AND (NEW.{g} ISNULL OR ST_IsEmpty(NEW.{g})) BEGIN \
         DELETE FROM {rtree} WHERE id = OLD.{i}; END;
         CREATE TRIGGER {update3} AFTER UPDATE ON {t} \
         WHEN OLD.{i} != NEW.{i} AND (NEW.{g} NOTNULL AND NOT ST_IsEmpty(NEW.{g})) BEGIN \
         DELETE FROM {rtree} WHERE id = OLD.{i}; \
         INSERT OR REPLACE INTO {rtree} VALUES (NEW.{i}, {envelope}); END;
         CREATE TRIGGER {update4} AFTER UPDATE ON {t} \
         WHEN OLD.{i} != NEW.{i} AND (NEW.{g} ISNULL OR ST_IsEmpty(NEW.{g})) BEGIN \
         DELETE FROM {rtree} WHERE id IN (OLD.{i}, NEW.{i}); END;
         CREATE TRIGGER {delete} AFTER DELETE ON {t} WHEN OLD.{g} NOT NULL BEGIN \
         DELETE FROM {rtree} WHERE id = OLD.{i}; END;
         INSERT INTO gpkg_ogr_contents VALUES ({lit}, {features});
         CREATE TRIGGER {count_insert} AFTER INSERT ON {t} BEGIN UPDATE gpkg_ogr_contents \
         SET feature_count = feature_count + 1 WHERE lower(table_name) = lower({lit}); END;
         CREATE TRIGGER {count_delete} AFTER DELETE ON {t} BEGIN UPDATE gpkg_ogr_contents \
         SET feature_count = feature_count - 1 WHERE lower(table_name) = lower({lit}); END;",
        literal(GEOMETRY_COLUMN),
        insert = trigger("insert"),
        update1 = trigger("update1"),
        update2 = trigger("update2"),
        update3 = trigger("update3"),
        update4 = trigger("update4"),
        delete = trigger("delete"),
        count_insert = quote(&format!("trigger_insert_feature_count_{table}")),
        count_delete = quote(&format!("trigger_delete_feature_count_{table}")),
    )
}
