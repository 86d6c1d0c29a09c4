//! The `.dbf` attribute table: dBASE III (version byte `0x03`), one fixed-width record per shape.
//!
//! Text, ids, timestamps and booleans are `C(width)` fields, numbers `N(width,decimals)`; the
//! language driver byte stays `0x00` and readers take the encoding from the `.cpg` (`UTF-8`).

use std::io::Write;

use model::{Field, FieldKind, Value};

use crate::sink::Truncation;

/// The byte that ends the field descriptors.
const HEADER_TERMINATOR: u8 = 0x0D;
/// The byte after the last record.
pub(super) const END_OF_FILE: u8 = 0x1A;
/// A DBF field name holds at most this many bytes (an 11th byte is its NUL).
const NAME_BYTES: usize = 10;

/// Encodes the header and records of one table layout.
pub(super) struct DbfTable {
    fields: &'static [Field],
    record_bytes: usize,
    /// Reused for numbers rendered as text, so no record allocates.
    scratch: Vec<u8>,
}

impl DbfTable {
    /// A table with one column per declared field.
    pub(super) fn new(fields: &'static [Field]) -> DbfTable {
        let record_bytes = 1 + fields.iter().map(|f| usize::from(f.width)).sum::<usize>();
        DbfTable {
            fields,
            record_bytes,
            scratch: Vec::with_capacity(32),
        }
    }

    /// Bytes per record, the deletion flag included.
    pub(super) fn record_bytes(&self) -> usize {
        self.record_bytes
    }

    /// Bytes of the header, terminator included.
    pub(super) fn header_bytes(&self) -> usize {
        32 + 32 * self.fields.len() + 1
    }

    /// The header of a table of `records` records last updated on `date` (`[year - 1900, month,
    /// day]`). Layouts are the model's declared schemas, whose sizes fit the 16-bit fields.
    pub(super) fn header(&self, records: u32, date: [u8; 3]) -> Vec<u8> {
        let mut h = Vec::with_capacity(self.header_bytes());
        h.push(0x03);
        h.extend_from_slice(&date);
        h.extend_from_slice(&records.to_le_bytes());
        h.extend_from_slice(&saturating_u16(self.header_bytes()).to_le_bytes());
        h.extend_from_slice(&saturating_u16(self.record_bytes).to_le_bytes());
        h.resize(32, 0);
        for field in self.fields {
            let mut name = [0u8; 11];
            let bytes = field.dbf_name.as_bytes();
            let len = bytes.len().min(NAME_BYTES);
            name[..len].copy_from_slice(&bytes[..len]);
            h.extend_from_slice(&name);
            h.push(match field.kind {
                FieldKind::Integer | FieldKind::Float => b'N',
                FieldKind::Id | FieldKind::Text | FieldKind::Timestamp | FieldKind::Bool => b'C',
            });
            h.extend_from_slice(&[0; 4]);
            h.push(field.width);
            h.push(field.decimals);
            h.extend_from_slice(&[0; 14]);
        }
        h.push(HEADER_TERMINATOR);
        h
    }

    /// Replaces `out` with the record of `values` (one per field, in order) and returns the
    /// values that did not fit. Text is cut on a UTF-8 boundary; a number that does not fit its
    /// width (or a non-number in a numeric field) is left blank, never cut.
    pub(super) fn encode(&mut self, values: &[Value], out: &mut Vec<u8>) -> Vec<Truncation> {
        let mut cut = Vec::new();
        out.clear();
        out.push(b' ');
        for (field, value) in self.fields.iter().zip(values) {
            let width = usize::from(field.width);
            let fitted = match field.kind {
                FieldKind::Integer | FieldKind::Float => self.put_number(field, value, out),
                FieldKind::Id | FieldKind::Text | FieldKind::Timestamp | FieldKind::Bool => {
                    self.put_text(width, value, out)
                }
            };
            if let Err((original_bytes, kept_bytes)) = fitted {
                cut.push(Truncation {
                    field: field.name,
                    original_bytes,
                    kept_bytes,
                });
            }
        }
        cut
    }

    /// Writes a `C(width)` value, left-aligned; `Err((original, kept))` lengths when it was cut.
    fn put_text(
        &mut self,
        width: usize,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<(), (usize, usize)> {
        let text: &[u8] = match value {
            Value::Null => b"",
            Value::Text(s) => s.as_bytes(),
            Value::Bool(true) => b"T",
            Value::Bool(false) => b"F",
            Value::Int(n) => format_int(*n, &mut self.scratch),
            Value::Float(x) => {
                self.scratch.clear();
                if x.is_finite() && write!(self.scratch, "{x}").is_err() {
                    self.scratch.clear();
                }
                &self.scratch
            }
        };
        let end = utf8_floor(text, width);
        out.extend_from_slice(&text[..end]);
        pad(out, width - end);
        if end < text.len() {
            Err((text.len(), end))
        } else {
            Ok(())
        }
    }

    /// Writes an `N(width,decimals)` value, right-aligned; `Err((original, 0))` lengths when it
    /// had to be left blank.
    fn put_number(
        &mut self,
        field: &Field,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<(), (usize, usize)> {
        let width = usize::from(field.width);
        let decimals = usize::from(field.decimals);
        let digits: &[u8] = match value {
            Value::Null => b"",
            // A non-finite float has no DBF spelling: blank, like a null.
            Value::Float(x) if !x.is_finite() => b"",
            Value::Float(x) => {
                self.scratch.clear();
                if write!(self.scratch, "{x:.decimals$}").is_err() {
                    self.scratch.clear();
                }
                &self.scratch
            }
            Value::Int(n) => {
                format_int(*n, &mut self.scratch);
                if decimals > 0 {
                    self.scratch.push(b'.');
                    self.scratch.resize(self.scratch.len() + decimals, b'0');
                }
                &self.scratch
            }
            Value::Text(s) => {
                pad(out, width);
                return Err((s.len(), 0));
            }
            Value::Bool(_) => {
                pad(out, width);
                return Err((1, 0));
            }
        };
        if digits.len() > width {
            pad(out, width);
            return Err((digits.len(), 0));
        }
        pad(out, width - digits.len());
        out.extend_from_slice(digits);
        Ok(())
    }
}

/// Today as a DBF last-update date, `[year - 1900, month, day]` (UTC).
pub(super) fn today() -> [u8; 3] {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    // `YYYY-MM-DDThh:mm:ss.sssZ`: reuse the model's calendar rather than a second copy of it.
    let iso = model::format_epoch_ms(ms);
    let part = |range: std::ops::Range<usize>| {
        iso.get(range)
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(0)
    };
    let year = part(0..4).saturating_sub(1900).min(255);
    [year as u8, part(5..7) as u8, part(8..10) as u8]
}

/// Writes `n` in decimal into `buf` (cleared first) and returns it.
fn format_int(n: i64, buf: &mut Vec<u8>) -> &[u8] {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    buf.clear();
    if n < 0 {
        buf.push(b'-');
    }
    buf.extend_from_slice(&digits[at..]);
    buf
}

/// The largest length `<= max` that does not end inside a UTF-8 character of `text`.
fn utf8_floor(text: &[u8], max: usize) -> usize {
    if text.len() <= max {
        return text.len();
    }
    let mut end = max;
    // Continuation bytes are `0b10xx_xxxx`: a cut before one splits a character.
    while end > 0 && text[end] & 0xC0 == 0x80 {
        end -= 1;
    }
    end
}

fn pad(out: &mut Vec<u8>, spaces: usize) {
    out.resize(out.len() + spaces, b' ');
}

fn saturating_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{Resource, Schema};

    #[test]
    fn every_declared_schema_fits_a_dbf() {
        for resource in Resource::ALL {
            let fields = Schema::of(resource).fields;
            let table = DbfTable::new(fields);
            assert!(table.record_bytes() <= usize::from(u16::MAX));
            assert!(table.header_bytes() <= usize::from(u16::MAX));
            for field in fields {
                assert!(field.dbf_name.len() <= NAME_BYTES && field.dbf_name.is_ascii());
            }
        }
    }

    #[test]
    fn numbers_are_right_aligned_and_never_cut() {
        let fields = Schema::of(Resource::SequencePoints).fields; // seq_key, idx N(9), image_key, ca N(12,6)
        let idx = 1 + usize::from(fields[0].width);
        let mut table = DbfTable::new(fields);
        let mut out = Vec::new();
        let values = [
            Value::Null,
            Value::Int(-42),
            Value::Null,
            Value::Float(329.948_200_000_000_04),
        ];
        assert!(table.encode(&values, &mut out).is_empty());
        assert_eq!(&out[idx..idx + 9], b"      -42");
        assert_eq!(&out[out.len() - 12..], b"  329.948200");

        let too_wide = [
            Value::Null,
            Value::Int(1_234_567_890),
            Value::Null,
            Value::Float(f64::NAN),
        ];
        let cut = table.encode(&too_wide, &mut out);
        assert_eq!(
            cut,
            vec![Truncation {
                field: "idx",
                original_bytes: 10,
                kept_bytes: 0
            }]
        );
        assert_eq!(&out[idx..idx + 9], b"         ");
        assert_eq!(&out[out.len() - 12..], b"            ");
    }

    #[test]
    fn text_is_cut_on_a_character_boundary() {
        // "aé" is three bytes: 65 would end inside the 22nd "é".
        assert_eq!(utf8_floor("aé".repeat(40).as_bytes(), 65), 64);
        assert_eq!(utf8_floor("aé".repeat(40).as_bytes(), 64), 64);
        assert_eq!(utf8_floor("東京".as_bytes(), 4), 3);
        assert_eq!(utf8_floor(b"abc", 64), 3);
    }

    #[test]
    fn today_is_a_plausible_date() {
        let [year, month, day] = today();
        assert!(year >= 125, "{year}");
        assert!((1..=12).contains(&month) && (1..=31).contains(&day));
    }
}
