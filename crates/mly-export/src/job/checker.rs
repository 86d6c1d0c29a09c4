//! The walk over `toml`'s spanned tree: the `Checker` that collects every error with its place,
//! and the readers of single values (string, list, tables, numbers) the key rules share.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::errors::JobError;
use crate::limits::Span;

pub(super) type Value<'i> = Spanned<DeValue<'i>>;

pub(super) struct Checker<'t> {
    pub(super) text: &'t str,
    pub(super) errors: Vec<JobError>,
}

impl Checker<'_> {
    pub(super) fn error(&mut self, span: Range<usize>, key: &str, message: String) {
        let start = span.start.min(self.text.len());
        let before = &self.text[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = self.text[line_start..start].chars().count() + 1;
        let source_line = self.text[line_start..]
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
        self.errors.push(JobError {
            line,
            column,
            key: key.to_owned(),
            message,
            source_line,
        });
    }

    pub(super) fn string<'v>(&mut self, v: &'v Value<'_>, key: &str) -> Option<&'v str> {
        match v.get_ref() {
            DeValue::String(s) => Some(s),
            _ => {
                self.error(v.span(), key, "expected a string".into());
                None
            }
        }
    }

    pub(super) fn string_list(
        &mut self,
        v: &Value<'_>,
        key: &str,
    ) -> Option<Vec<(Range<usize>, String)>> {
        let DeValue::Array(items) = v.get_ref() else {
            self.error(
                v.span(),
                key,
                "expected a list of strings, like [\"a\", \"b\"]".into(),
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            match item.get_ref() {
                DeValue::String(s) => out.push((item.span(), s.to_string())),
                _ => {
                    self.error(item.span(), key, "expected a string".into());
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    pub(super) fn tables<'v, 'i>(
        &mut self,
        v: &'v Value<'i>,
        key: &str,
    ) -> Option<Vec<(Range<usize>, &'v DeTable<'i>)>> {
        let DeValue::Array(items) = v.get_ref() else {
            self.error(v.span(), key, format!("expected [[{key}]] tables"));
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            match item.get_ref() {
                DeValue::Table(t) => out.push((item.span(), t)),
                _ => {
                    self.error(item.span(), key, format!("expected [[{key}]] tables"));
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    pub(super) fn numbers(
        &mut self,
        v: &Value<'_>,
        key: &str,
        n: usize,
        shape: &str,
    ) -> Option<Vec<f64>> {
        let items = match v.get_ref() {
            DeValue::Array(items) if items.len() == n => items,
            _ => {
                self.error(v.span(), key, format!("expected {n} numbers: {shape}"));
                return None;
            }
        };
        // Every item is checked, so two bad coordinates are two errors.
        let out: Vec<Option<f64>> = items.iter().map(|item| self.number(item, key)).collect();
        out.into_iter().collect()
    }

    pub(super) fn number(&mut self, v: &Value<'_>, key: &str) -> Option<f64> {
        let parsed = match v.get_ref() {
            // A decimal integer too large for i64 is still a number (to be range-checked).
            DeValue::Integer(i) => parse_integer(i.as_str(), i.radix())
                .map(|i| i as f64)
                .or_else(|| (i.radix() == 10).then(|| i.as_str().replace('_', "").parse().ok())?),
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            _ => None,
        };
        match parsed {
            Some(x) if x.is_finite() => Some(x),
            _ => {
                self.error(v.span(), key, "expected a finite number".into());
                None
            }
        }
    }

    /// A finite number inside `span`.
    pub(super) fn number_in(&mut self, v: &Value<'_>, key: &str, span: Span) -> Option<f64> {
        let x = self.number(v, key)?;
        let written = self.text.get(v.span()).unwrap_or_default().trim();
        match span.check(x, written) {
            Ok(x) => Some(x),
            Err(message) => {
                self.error(v.span(), key, message);
                None
            }
        }
    }

    pub(super) fn integer(&mut self, v: &Value<'_>, key: &str) -> Option<i64> {
        let parsed = match v.get_ref() {
            DeValue::Integer(i) => parse_integer(i.as_str(), i.radix()),
            _ => None,
        };
        if parsed.is_none() {
            self.error(v.span(), key, "expected a whole number".into());
        }
        parsed
    }
}

pub(super) fn list_is_empty(v: &Value<'_>) -> bool {
    matches!(v.get_ref(), DeValue::Array(items) if items.is_empty())
}

pub(super) fn parse_integer(text: &str, radix: u32) -> Option<i64> {
    let digits = text.replace('_', "");
    let digits = digits
        .trim_start_matches("0x")
        .trim_start_matches("0o")
        .trim_start_matches("0b");
    i64::from_str_radix(digits, radix).ok()
}
