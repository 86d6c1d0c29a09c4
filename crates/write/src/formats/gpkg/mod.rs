//! OGC GeoPackage 1.2: one SQLite file holding every layer of an export, one table per layer.
//!
//! Several layers share one file while each layer's formats run on threads of their own (and
//! `run` writes `sequences` and `sequence_points` at the same time). So a [`GeoPackage`] is one
//! SQLite connection behind a mutex, shared by the [`GpkgSink`] of every layer: each sink inserts
//! its own rows through its own prepared statement, in one transaction that stays open while any
//! layer is being written. Memory stays flat: rows are inserted as they come, SQLite's page cache
//! has a fixed size.
//!
//! A layer's `finish` records its extent and exact count, builds its R-tree in one pass over the
//! finished table (faster than growing it row by row) and creates the triggers GDAL creates, so
//! that edits in QGIS keep the index and the count right. The file is complete once its last
//! layer is finished; [`GeoPackage::close`] checks that and closes it before the export folder is
//! published.

mod binary;
mod rtree;
mod sql;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use model::{COORDINATE_PROPERTIES, Feature, Format, Resource, Schema, Value};
use rusqlite::Connection;
use rusqlite::types::{ToSqlOutput, ValueRef};

use crate::WriteError;
use crate::sink::{self, FeatureSink, SinkSummary, Written};
use binary::Extent;

/// SQLite's page cache for the bulk write and the R-tree build, in KiB: fixed, whatever the
/// number of features.
pub(crate) const CACHE_KIB: u32 = 64 * 1024;

/// One `.gpkg` file being written, shared by the sinks of its layers.
pub(crate) struct GeoPackage {
    path: PathBuf,
    db: Mutex<Database>,
}

impl std::fmt::Debug for GeoPackage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoPackage")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

struct Database {
    conn: Connection,
    /// Layers begun and not yet finished: the bulk transaction is open while there are any.
    open_layers: usize,
}

impl GeoPackage {
    /// Creates `<dir>/<name>.gpkg` (replacing a file of that name) with the metadata tables.
    pub(crate) fn create(dir: &Path, name: &str) -> Result<Arc<GeoPackage>, WriteError> {
        let path = dir.join(format!("{name}.gpkg"));
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(WriteError::Io { path, source }),
        }
        let created = Connection::open(&path).and_then(|conn| {
            // No rollback journal and no fsync while writing: the file lives in the export's
            // temporary folder and is published only by the folder's atomic rename after
            // `finish` (which fsyncs every file first). A crash before that leaves nothing a
            // reader sees, and no `-journal` or `-wal` file is ever created beside it.
            conn.query_row("PRAGMA journal_mode = OFF", [], |_| Ok(()))?;
            conn.execute_batch(&format!(
                "PRAGMA synchronous = OFF;
                 PRAGMA locking_mode = EXCLUSIVE;
                 PRAGMA cache_size = -{CACHE_KIB};
                 PRAGMA application_id = {};
                 PRAGMA user_version = {};",
                sql::APPLICATION_ID,
                sql::USER_VERSION
            ))?;
            binary::register_functions(&conn)?;
            conn.execute_batch(&format!("BEGIN; {} COMMIT;", sql::metadata_tables()))?;
            Ok(conn)
        });
        match created {
            Ok(conn) => Ok(Arc::new(GeoPackage {
                path,
                db: Mutex::new(Database {
                    conn,
                    open_layers: 0,
                }),
            })),
            Err(source) => Err(WriteError::GeoPackage { path, source }),
        }
    }

    /// The connection. A layer thread that panicked while holding it fails its own layer (and
    /// so the export, which is then discarded); the others may go on.
    fn lock(&self) -> MutexGuard<'_, Database> {
        self.db.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn error(&self, source: rusqlite::Error) -> WriteError {
        WriteError::GeoPackage {
            path: self.path.clone(),
            source,
        }
    }

    /// Closes the file once every layer is finished; a layer still open is an error.
    pub(crate) fn close(self: Arc<Self>) -> Result<(), WriteError> {
        let path = self.path.clone();
        let unfinished = || WriteError::SinkOrder {
            path: path.clone(),
            problem: "a GeoPackage layer was not finished",
        };
        let file = Arc::try_unwrap(self).map_err(|_| unfinished())?;
        let db = file.db.into_inner().unwrap_or_else(PoisonError::into_inner);
        if db.open_layers > 0 {
            return Err(unfinished());
        }
        db.conn
            .close()
            .map_err(|(_, source)| WriteError::GeoPackage {
                path: path.clone(),
                source,
            })
    }
}

/// One layer's table in a [`GeoPackage`].
pub(crate) struct GpkgSink {
    file: Arc<GeoPackage>,
    table: &'static str,
    schema: Option<&'static Schema>,
    insert: String,
    rtree: rtree::Names,
    /// The staging insert of each row's envelope (see [`rtree`]).
    stage: String,
    /// The geometry blob being encoded, reused.
    blob: Vec<u8>,
    /// A vertex array's JSON, reused.
    json: Vec<u8>,
    extent: Option<Extent>,
    features: u64,
    /// Rows with a non-empty geometry: the R-tree's entries.
    indexed: u64,
}

impl GpkgSink {
    /// The sink of `resource`'s layer (table `resource.stem()`) in `file`.
    pub(crate) fn new(file: Arc<GeoPackage>, resource: Resource) -> GpkgSink {
        let table = resource.stem();
        let rtree = rtree::Names::of(table);
        GpkgSink {
            file,
            table,
            schema: None,
            insert: String::new(),
            stage: rtree.stage_insert(),
            rtree,
            blob: Vec::new(),
            json: Vec::new(),
            extent: None,
            features: 0,
            indexed: 0,
        }
    }
}

/// A field value as SQLite stores it: booleans as 0 and 1.
fn sql_value(value: &Value) -> ToSqlOutput<'_> {
    ToSqlOutput::Borrowed(match value {
        Value::Null => ValueRef::Null,
        Value::Text(s) => ValueRef::Text(s.as_bytes()),
        Value::Int(i) => ValueRef::Integer(*i),
        Value::Float(f) => ValueRef::Real(*f),
        Value::Bool(b) => ValueRef::Integer(i64::from(*b)),
    })
}

impl FeatureSink for GpkgSink {
    fn begin(&mut self, schema: &'static Schema) -> Result<(), WriteError> {
        sink::check_begin(&self.file.path, &mut self.schema, schema)?;
        let mut db = self.file.lock();
        let create = sql::create_layer(self.table, schema) + &self.rtree.create_stage();
        let begun = if db.open_layers == 0 {
            db.conn.execute_batch(&format!("BEGIN; {create}"))
        } else {
            db.conn.execute_batch(&create)
        };
        begun.map_err(|e| self.file.error(e))?;
        db.open_layers += 1;
        self.insert = sql::insert(self.table, schema);
        Ok(())
    }

    fn write(&mut self, feature: &Feature) -> Result<Written, WriteError> {
        let schema = match sink::admit(&self.file.path, self.schema, feature)? {
            Ok(schema) => schema,
            Err(rejected) => return Ok(rejected),
        };
        let envelope = binary::encode(&feature.geometry, &mut self.blob);
        if let Some(e) = envelope {
            self.extent = Some(self.extent.map_or(e, |all| all.union(e)));
        }
        let vertex_arrays = feature
            .extra
            .iter()
            .find(|(name, _)| name == COORDINATE_PROPERTIES)
            .map(|(_, value)| value);
        let file = &self.file;
        let db = file.lock();
        let inserted = (|| {
            let mut statement = db.conn.prepare_cached(&self.insert)?;
            statement.raw_bind_parameter(1, self.blob.as_slice())?;
            let mut at = 2;
            for value in &feature.values {
                statement.raw_bind_parameter(at, sql_value(value))?;
                at += 1;
            }
            for name in schema.vertex_arrays {
                match vertex_arrays.and_then(|arrays| arrays.get(name)) {
                    Some(array) => {
                        self.json.clear();
                        serde_json::to_writer(&mut self.json, array)
                            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
                        statement.raw_bind_parameter(
                            at,
                            ToSqlOutput::Borrowed(ValueRef::Text(&self.json)),
                        )?;
                    }
                    None => {
                        statement.raw_bind_parameter(at, ToSqlOutput::Borrowed(ValueRef::Null))?
                    }
                }
                at += 1;
            }
            statement.raw_execute()?;
            if let Some(e) = &envelope {
                let [minx, maxx, miny, maxy] = rtree::rounded(e);
                let key = rtree::hilbert_key(e);
                db.conn
                    .prepare_cached(&self.stage)?
                    .execute(rusqlite::params![
                        db.conn.last_insert_rowid(),
                        key,
                        minx,
                        maxx,
                        miny,
                        maxy
                    ])?;
            }
            Ok(())
        })();
        inserted.map_err(|e| file.error(e))?;
        self.features += 1;
        self.indexed += u64::from(envelope.is_some());
        Ok(Written::Complete)
    }

    fn finish(self: Box<Self>) -> Result<SinkSummary, WriteError> {
        sink::before_finish(&self.file.path, self.schema)?;
        let mut db = self.file.lock();
        let finished = (|| {
            if let Some(e) = self.extent {
                db.conn.execute(
                    sql::SET_EXTENT,
                    rusqlite::params![e.min_x, e.min_y, e.max_x, e.max_y, self.table],
                )?;
            }
            rtree::build(&db.conn, &self.rtree, self.indexed)?;
            db.conn
                .execute_batch(&sql::finish_layer(self.table, self.features))?;
            if db.open_layers == 1 {
                db.conn.execute_batch("COMMIT")?;
            }
            Ok(())
        })();
        finished.map_err(|e| self.file.error(e))?;
        db.open_layers -= 1;
        drop(db);
        let path = &self.file.path;
        let bytes = fs::metadata(path)
            .map_err(|source| WriteError::Io {
                path: path.clone(),
                source,
            })?
            .len();
        Ok(SinkSummary {
            format: Some(Format::GeoPackage),
            files: vec![(
                path.file_name().map(PathBuf::from).unwrap_or_default(),
                bytes,
            )],
            features: self.features,
        })
    }
}
