//! Borrowing JSON shapes shared by the v3 and v4 parsers, and the checked conversions of
//! property values into record fields.

use std::borrow::Cow;
use std::fmt;

use model::Position;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// A JSON string that borrows from the input when it has no escapes.
pub(crate) struct Key<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Key<'a>, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v))
            }
        }
        deserializer.deserialize_str(KeyVisitor).map(Key)
    }
}

/// An id the API sends as a string or as a number (v4 ids are both, depending on the endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Id(pub String);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Id, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an id (string or integer)")
            }
            fn visit_str<E>(self, v: &str) -> Result<Id, E> {
                Ok(Id(v.to_owned()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

/// A GeoJSON geometry whose coordinates are parsed once its type is known.
#[derive(Deserialize)]
pub(crate) struct RawGeometry<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(borrow, default)]
    pub coordinates: Option<&'a RawValue>,
}

impl RawGeometry<'_> {
    fn coordinates<'s, T: Deserialize<'s>>(&'s self) -> Result<T, String> {
        let raw = self
            .coordinates
            .ok_or_else(|| format!("{} geometry without coordinates", self.kind))?;
        serde_json::from_str(raw.get()).map_err(|e| format!("bad {} coordinates: {e}", self.kind))
    }

    /// The position of a `Point`.
    pub fn point(&self) -> Result<Position, String> {
        self.coordinates::<Pos>().map(|p| p.0)
    }

    /// The vertices of a `LineString`.
    pub fn line(&self) -> Result<Vec<Position>, String> {
        let positions: Vec<Pos> = self.coordinates()?;
        Ok(positions.into_iter().map(|p| p.0).collect())
    }
}

/// A GeoJSON position: at least two numbers; an altitude or more is ignored.
struct Pos(Position);

impl<'de> Deserialize<'de> for Pos {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Pos, D::Error> {
        struct PosVisitor;
        impl<'de> Visitor<'de> for PosVisitor {
            type Value = Pos;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a position [lon, lat]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Pos, A::Error> {
                let lon: f64 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let lat: f64 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Pos([lon, lat]))
            }
        }
        deserializer.deserialize_seq(PosVisitor)
    }
}

/// A feature's `properties` in input order, names borrowed, values parsed.
#[derive(Default)]
pub(crate) struct Properties<'a>(pub Vec<(Cow<'a, str>, Value)>);

impl<'de: 'a, 'a> Deserialize<'de> for Properties<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Properties<'a>, D::Error> {
        struct PropertiesVisitor;
        impl<'de> Visitor<'de> for PropertiesVisitor {
            type Value = Properties<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of properties")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Properties::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(12));
                while let Some(Key(name)) = map.next_key()? {
                    fields.push((name, map.next_value()?));
                }
                Ok(Properties(fields))
            }
        }
        deserializer.deserialize_any(PropertiesVisitor)
    }
}

impl Properties<'_> {
    /// The value of `key` as an id, leaving it out of the other properties.
    pub fn take_key(&mut self) -> Result<Option<String>, String> {
        match self.0.iter().rposition(|(name, _)| name == "key") {
            Some(i) => {
                let (_, value) = self.0.remove(i);
                self.0.retain(|(name, _)| name != "key");
                id_text("key", value)
            }
            None => Ok(None),
        }
    }

    /// Whether a property of this name exists.
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }
}

/// Sorts extra properties by name; with repeated names the last one wins, as in serde_json.
pub(crate) fn sorted_extra(mut extra: Vec<(String, Value)>) -> Vec<(String, Value)> {
    extra.sort_by(|a, b| a.0.cmp(&b.0));
    extra.dedup_by(|later, earlier| {
        let same = later.0 == earlier.0;
        if same {
            std::mem::swap(&mut later.1, &mut earlier.1);
        }
        same
    });
    extra
}

pub(crate) fn text(name: &str, value: Value) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        other => Err(wrong_type(name, "text", &other)),
    }
}

/// Ids are text, but a number is taken as its decimal spelling.
pub(crate) fn id_text(name: &str, value: Value) -> Result<Option<String>, String> {
    match value {
        Value::Number(n) if n.is_u64() || n.is_i64() => Ok(Some(n.to_string())),
        other => text(name, other),
    }
}

pub(crate) fn number(name: &str, value: Value) -> Result<Option<f64>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(n.as_f64()),
        other => Err(wrong_type(name, "a number", &other)),
    }
}

pub(crate) fn boolean(name: &str, value: Value) -> Result<Option<bool>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        other => Err(wrong_type(name, "a boolean", &other)),
    }
}

fn wrong_type(name: &str, expected: &str, found: &Value) -> String {
    let found = match found {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    format!("property `{name}` is {found}, expected {expected}")
}
