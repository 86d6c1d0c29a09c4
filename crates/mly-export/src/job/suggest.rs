//! Keys the job should not have: unknown ones (with the known key a typo most likely meant)
//! and tokens, which never go in a job file.

use toml::de::{DeTable, DeValue};

use super::checker::{Checker, Value};

const SECRET_KEYS: &[&str] = &[
    "client_id",
    "access_token",
    "token",
    "mapillary_client_id",
    "mapillary_access_token",
];

impl Checker<'_> {
    pub(super) fn unknown_keys(&mut self, table: &DeTable<'_>, prefix: &str, known: &[&str]) {
        for (key, value) in table.iter() {
            let k: &str = key.get_ref();
            if known.contains(&k) {
                continue;
            }
            let full = format!("{prefix}{k}");
            let message = if SECRET_KEYS.contains(&k.to_ascii_lowercase().as_str()) {
                "tokens never go in a job file: set MAPILLARY_CLIENT_ID (v3) or \
                 MAPILLARY_ACCESS_TOKEN (v4) in the environment instead"
                    .to_owned()
            } else {
                match closest(k, known) {
                    Some(s) => format!("unknown key; did you mean `{s}`?"),
                    None => format!("unknown key; expected one of: {}", known.join(", ")),
                }
            };
            let span = if value.span().start < key.span().start {
                value.span()
            } else {
                key.span()
            };
            self.error(span, &full, message);
        }
    }

    /// A v4 token pasted as a value (`MLY|...`) is an error wherever it is: job files get shared.
    pub(super) fn tokens_in_values(&mut self, table: &DeTable<'_>, prefix: &str) {
        for (key, value) in table.iter() {
            let full = format!("{prefix}{}", key.get_ref());
            self.tokens_in_value(value, &full);
        }
    }

    pub(super) fn tokens_in_value(&mut self, value: &Value<'_>, key: &str) {
        match value.get_ref() {
            DeValue::String(s) if s.starts_with("MLY|") => self.error(
                value.span(),
                key,
                "this looks like an access token; tokens never go in a job file: set \
                 MAPILLARY_ACCESS_TOKEN in the environment instead"
                    .into(),
            ),
            DeValue::Array(items) => {
                for item in items {
                    self.tokens_in_value(item, key);
                }
            }
            DeValue::Table(t) => self.tokens_in_values(t, &format!("{key}.")),
            _ => {}
        }
    }
}

/// The known key closest to `key` by Levenshtein distance, when it is close enough to be a typo.
pub(super) fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (strsim::levenshtein(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| k)
}
