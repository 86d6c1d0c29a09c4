//! A streaming walk over a GeoJSON FeatureCollection of any size.
//!
//! The input is read into a refillable buffer; the top-level object is walked member by member.
//! Each element of `features` is first offered to the handler as everything buffered from its
//! start: parsing straight from the buffer needs no second pass. Only when that fails (the
//! element is cut off by the buffer's end, or invalid) is the element delimited by string- and
//! escape-aware bracket matching and handed over exactly. Only the current element is ever held,
//! so memory stays at the size of the largest feature.

use std::io::{ErrorKind, Read};
use std::ops::Range;
use std::path::Path;

use serde::de::IgnoredAny;

use crate::TransformError;
use crate::brackets::Brackets;
use crate::json::Key;

/// A single feature (or any skipped member) larger than this is refused, not buffered.
pub(crate) const MAX_FEATURE_BYTES: usize = 64 << 20;

const DEFAULT_BUFFER: usize = 1 << 20;

/// Where the bytes come from, for error messages.
pub(crate) struct Source<'a> {
    /// A path, or `v3 page N`.
    pub name: &'a str,
    /// The path reported by [`TransformError::Io`].
    pub path: &'a Path,
}

/// Whether the walk goes on after an element: a handler whose receiver stopped (a sink's
/// error, a closed channel) ends it at once, and keeps the reason itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Halt {
    Continue,
    Stop,
}

/// What receives the elements of `features`, with their 0-based index.
pub(crate) trait FeatureHandler {
    /// Parses and handles the element at the start of `bytes`, which may be cut off. Returns
    /// the bytes it used, or `None` when it could not parse it and did nothing.
    fn prefix(&mut self, bytes: &[u8], index: u64) -> Option<(usize, Halt)>;
    /// Handles `bytes`, exactly one element, valid or not.
    fn whole(&mut self, bytes: &[u8], index: u64) -> Halt;
}

/// Walks a FeatureCollection (or a single Feature, which counts as feature 0) and hands each
/// element of `features` to `handler`. `size_hint` sizes the buffer for small inputs. A
/// handler's [`Halt::Stop`] ends the walk at once with `Ok`.
pub(crate) fn walk_features<R: Read>(
    reader: R,
    source: &Source<'_>,
    size_hint: Option<usize>,
    handler: &mut dyn FeatureHandler,
) -> Result<(), TransformError> {
    let capacity = size_hint.map_or(DEFAULT_BUFFER, |n| n.clamp(64, DEFAULT_BUFFER));
    let mut scanner = Scanner::new(reader, capacity);
    let mut index = 0;
    match scanner.walk(handler, &mut index) {
        Ok(Halt::Continue | Halt::Stop) => Ok(()),
        Err(e) => Err(scanner.to_error(e, source, index)),
    }
}

/// What stopped the walk, before it is given a source and a position.
#[derive(Debug)]
enum ScanError {
    Io(std::io::Error),
    /// A syntax error at an absolute byte offset.
    Syntax(String, u64),
    TooLarge,
    NotCollection(String),
    Api(String),
}

struct Scanner<R> {
    reader: R,
    buf: Vec<u8>,
    /// Absolute offset of `buf[0]`.
    base: u64,
    pos: usize,
    end: usize,
    eof: bool,
    /// The start of the top-level object, kept while it may turn out to be a single Feature.
    keep_top: Option<u64>,
    /// The start of the value being delimited.
    keep_value: Option<u64>,
    /// Newlines in the bytes already dropped, and the offset just after the last one.
    lines_dropped: u64,
    line_start: u64,
}

impl<R: Read> Scanner<R> {
    fn new(reader: R, capacity: usize) -> Scanner<R> {
        Scanner {
            reader,
            buf: vec![0; capacity],
            base: 0,
            pos: 0,
            end: 0,
            eof: false,
            keep_top: None,
            keep_value: None,
            lines_dropped: 0,
            line_start: 0,
        }
    }

    fn abs(&self, index: usize) -> u64 {
        self.base + index as u64
    }

    /// Reads more input, dropping what no one holds any more. False at the end of input.
    fn refill(&mut self) -> Result<bool, ScanError> {
        if self.eof {
            return Ok(false);
        }
        let end_abs = self.abs(self.end);
        if self
            .keep_value
            .is_some_and(|v| end_abs - v > MAX_FEATURE_BYTES as u64)
        {
            return Err(ScanError::TooLarge);
        }
        if self
            .keep_top
            .is_some_and(|t| end_abs - t > MAX_FEATURE_BYTES as u64)
        {
            // Too large to be parsed as a single Feature: stop holding it.
            self.keep_top = None;
        }
        let keep = [self.keep_top, self.keep_value]
            .into_iter()
            .flatten()
            .fold(self.abs(self.pos), u64::min);
        let cut = (keep - self.base) as usize;
        if cut > 0 {
            let dropped = &self.buf[..cut];
            if let Some(last) = dropped.iter().rposition(|&b| b == b'\n') {
                self.lines_dropped += bytecount_newlines(dropped);
                self.line_start = self.abs(last + 1);
            }
            self.buf.copy_within(cut..self.end, 0);
            self.end -= cut;
            self.pos -= cut;
            self.base += cut as u64;
        }
        if self.end == self.buf.len() {
            // The checks above keep what is held under the cap, so this size always has room.
            let grown = (self.buf.len() * 2).min(MAX_FEATURE_BYTES + DEFAULT_BUFFER);
            self.buf.resize(grown, 0);
        }
        loop {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(ScanError::Io(e)),
            }
        }
    }

    /// The next byte that is not whitespace, not consumed.
    fn peek(&mut self) -> Result<Option<u8>, ScanError> {
        loop {
            while self.pos < self.end {
                match self.buf[self.pos] {
                    b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                    b => return Ok(Some(b)),
                }
            }
            if !self.refill()? {
                return Ok(None);
            }
        }
    }

    fn syntax(&self, message: impl Into<String>) -> ScanError {
        ScanError::Syntax(message.into(), self.abs(self.pos))
    }

    fn expect(&mut self, want: u8, message: &str) -> Result<(), ScanError> {
        match self.peek()? {
            Some(b) if b == want => {
                self.pos += 1;
                Ok(())
            }
            _ => Err(self.syntax(message)),
        }
    }

    /// Delimits the next value; its bytes are `buf[range]` until the next read.
    fn value(&mut self) -> Result<Range<usize>, ScanError> {
        match self.peek()? {
            None => return Err(self.syntax("unexpected end of input")),
            Some(b'}' | b']' | b',' | b':') => return Err(self.syntax("expected a value")),
            Some(_) => {}
        }
        let start = self.abs(self.pos);
        self.keep_value = Some(start);
        let delimited = self.delimit();
        self.keep_value = None;
        delimited?;
        Ok((start - self.base) as usize..self.pos)
    }

    fn delimit(&mut self) -> Result<(), ScanError> {
        if !matches!(self.buf[self.pos], b'{' | b'[' | b'"') {
            // A number or literal ends at a delimiter (or at the end of input); the parser
            // checks it later.
            loop {
                while self.pos < self.end {
                    if matches!(
                        self.buf[self.pos],
                        b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'
                    ) {
                        return Ok(());
                    }
                    self.pos += 1;
                }
                if !self.refill()? {
                    return Ok(());
                }
            }
        }
        let mut state = Brackets::default();
        loop {
            let scanned = state.scan(&self.buf[self.pos..self.end]);
            match scanned {
                Some(used) => {
                    self.pos += used;
                    return Ok(());
                }
                None => self.pos = self.end,
            }
            if !self.refill()? {
                return Err(self.syntax("unexpected end of input inside a value"));
            }
        }
    }

    fn walk(
        &mut self,
        handler: &mut dyn FeatureHandler,
        index: &mut u64,
    ) -> Result<Halt, ScanError> {
        // A UTF-8 byte order mark is tolerated (some Windows tools write one).
        if self.peek()? == Some(0xEF) {
            self.expect(0xEF, "expected a JSON object")?;
            self.expect(0xBB, "expected a byte order mark")?;
            self.expect(0xBF, "expected a byte order mark")?;
        }
        match self.peek()? {
            Some(b'{') => {}
            Some(b'[') => return Err(ScanError::NotCollection("a JSON array".into())),
            Some(b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
                let range = self.value()?;
                return match serde_json::from_slice::<IgnoredAny>(&self.buf[range.clone()]) {
                    Ok(_) => Err(ScanError::NotCollection("a JSON scalar".into())),
                    Err(e) => Err(ScanError::Syntax(e.to_string(), self.abs(range.start))),
                };
            }
            None => return Err(self.syntax("empty input")),
            Some(_) => return Err(self.syntax("expected a JSON object")),
        }
        let top = self.abs(self.pos);
        self.keep_top = Some(top);
        self.pos += 1;
        let mut kind: Option<String> = None;
        let mut message: Option<String> = None;
        let mut saw_features = false;
        if self.peek()? == Some(b'}') {
            self.pos += 1;
        } else {
            loop {
                if self.peek()? != Some(b'"') {
                    return Err(self.syntax("expected a member name"));
                }
                let range = self.value()?;
                let name: Key<'_> = serde_json::from_slice(&self.buf[range.clone()])
                    .map_err(|e| ScanError::Syntax(e.to_string(), self.abs(range.start)))?;
                let is_features = name.0 == "features";
                let is_type = name.0 == "type";
                let is_message = name.0 == "message";
                self.expect(b':', "expected `:`")?;
                if is_features && self.peek()? == Some(b'[') {
                    saw_features = true;
                    self.keep_top = None;
                    if self.features(handler, index)? == Halt::Stop {
                        return Ok(Halt::Stop);
                    }
                } else {
                    let range = self.value()?;
                    let bytes = &self.buf[range.clone()];
                    if let Err(e) = serde_json::from_slice::<IgnoredAny>(bytes) {
                        return Err(ScanError::Syntax(e.to_string(), self.abs(range.start)));
                    }
                    if is_type {
                        kind = serde_json::from_slice::<Key<'_>>(bytes)
                            .ok()
                            .map(|k| k.0.into_owned());
                    } else if is_message {
                        message = serde_json::from_slice::<Key<'_>>(bytes)
                            .ok()
                            .map(|k| k.0.into_owned());
                    }
                }
                match self.peek()? {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.syntax("expected `,` or `}`")),
                }
            }
        }
        if self.peek()?.is_some() {
            return Err(self.syntax("trailing characters after the top-level object"));
        }
        if saw_features {
            return Ok(Halt::Continue);
        }
        match (kind.as_deref(), self.keep_top, message) {
            (Some("Feature"), Some(top), _) => {
                let start = (top - self.base) as usize;
                Ok(handler.whole(&self.buf[start..self.pos], 0))
            }
            (Some("Feature"), None, _) => Err(ScanError::TooLarge),
            (Some(other), _, _) => Err(ScanError::NotCollection(format!("type is `{other}`"))),
            // A v3 error body: `{"message": "..."}`.
            (None, _, Some(message)) => Err(ScanError::Api(message)),
            (None, _, None) => Err(ScanError::NotCollection(
                "no `features` array and no `type`".into(),
            )),
        }
    }

    fn features(
        &mut self,
        handler: &mut dyn FeatureHandler,
        index: &mut u64,
    ) -> Result<Halt, ScanError> {
        self.expect(b'[', "expected `[`")?;
        if self.peek()? == Some(b']') {
            self.pos += 1;
            return Ok(Halt::Continue);
        }
        loop {
            if self.peek()?.is_none() {
                return Err(self.syntax("unexpected end of input in `features`"));
            }
            let halt = match handler.prefix(&self.buf[self.pos..self.end], *index) {
                Some((used, halt)) => {
                    self.pos += used;
                    halt
                }
                None => {
                    let range = self.value()?;
                    handler.whole(&self.buf[range], *index)
                }
            };
            *index += 1;
            if halt == Halt::Stop {
                return Ok(Halt::Stop);
            }
            match self.peek()? {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Halt::Continue);
                }
                _ => return Err(self.syntax("expected `,` or `]` after a feature")),
            }
        }
    }

    /// 1-based line and byte column of an absolute offset that is still in the buffer.
    fn line_column(&self, offset: u64) -> (u64, u64) {
        let index = (offset.saturating_sub(self.base) as usize).min(self.end);
        let before = &self.buf[..index];
        let line = self.lines_dropped + bytecount_newlines(before) + 1;
        let column = match before.iter().rposition(|&b| b == b'\n') {
            Some(last) => (index - last) as u64,
            None => offset.saturating_sub(self.line_start) + 1,
        };
        (line, column)
    }

    fn to_error(&self, error: ScanError, source: &Source<'_>, index: u64) -> TransformError {
        let source_name = source.name.to_owned();
        match error {
            ScanError::Io(e) => TransformError::Io {
                path: source.path.to_path_buf(),
                source: e,
            },
            ScanError::Syntax(message, offset) => {
                let (line, column) = self.line_column(offset);
                TransformError::NotJson {
                    source_name,
                    line,
                    column,
                    message,
                }
            }
            ScanError::TooLarge => TransformError::FeatureTooLarge {
                source_name,
                index,
                limit_bytes: MAX_FEATURE_BYTES,
            },
            ScanError::NotCollection(found) => {
                TransformError::NotFeatureCollection { source_name, found }
            }
            ScanError::Api(message) => TransformError::ApiError {
                source_name,
                message,
                code: None,
            },
        }
    }
}

fn bytecount_newlines(bytes: &[u8]) -> u64 {
    // Summing small chunks in u8 lanes lets the compiler vectorise the count.
    bytes
        .chunks(128)
        .map(|chunk| u64::from(chunk.iter().map(|&b| u8::from(b == b'\n')).sum::<u8>()))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the elements; parses a prefix only when it is a complete `{...}` without
    /// nesting (enough to exercise both paths).
    #[derive(Default)]
    struct Recorder(Vec<(String, u64)>);

    impl FeatureHandler for Recorder {
        fn prefix(&mut self, bytes: &[u8], index: u64) -> Option<(usize, Halt)> {
            let end = bytes.iter().position(|&b| b == b'}')? + 1;
            let element = &bytes[..end];
            (element.starts_with(b"{") && !element[1..].iter().any(|b| b"{[\"\\".contains(b)))
                .then(|| (end, self.whole(element, index)))
        }

        fn whole(&mut self, bytes: &[u8], index: u64) -> Halt {
            self.0
                .push((String::from_utf8_lossy(bytes).into_owned(), index));
            Halt::Continue
        }
    }

    fn collect(input: &[u8], capacity: usize) -> Result<Vec<(String, u64)>, TransformError> {
        let mut recorder = Recorder::default();
        let source = Source {
            name: "test.geojson",
            path: Path::new("test.geojson"),
        };
        walk_features(input, &source, Some(capacity), &mut recorder)?;
        Ok(recorder.0)
    }

    #[test]
    fn finds_every_feature_whatever_the_buffer_size() {
        let input = br#"{"bbox": [1, 2, 3, 4], "type": "FeatureCollection", "features": [
            {"a": "x}]\"{"}, {"b": [[1, 2], [3, 4]]},{"c":{}}, {"d": 1}
        ], "name": "n"}"#;
        for capacity in [64, 100, 1 << 20] {
            let seen = collect(input, capacity).unwrap();
            assert_eq!(
                seen,
                vec![
                    (r#"{"a": "x}]\"{"}"#.to_owned(), 0),
                    (r#"{"b": [[1, 2], [3, 4]]}"#.to_owned(), 1),
                    (r#"{"c":{}}"#.to_owned(), 2),
                    (r#"{"d": 1}"#.to_owned(), 3),
                ]
            );
        }
    }

    #[test]
    fn empty_features_and_a_single_feature() {
        assert!(
            collect(br#"{"features": [], "type": "FeatureCollection"}"#, 64)
                .unwrap()
                .is_empty()
        );
        let single = br#"{"type": "Feature", "properties": {"key": "k"}, "geometry": null}"#;
        assert_eq!(
            collect(single, 64).unwrap(),
            vec![(String::from_utf8_lossy(single).into_owned(), 0)]
        );
    }

    #[test]
    fn reports_what_is_not_a_collection() {
        let not_collection = |input: &[u8]| {
            matches!(
                collect(input, 64),
                Err(TransformError::NotFeatureCollection { .. })
            )
        };
        assert!(not_collection(b"[1, 2]"));
        assert!(not_collection(b"  42 "));
        assert!(not_collection(
            br#"{"type": "Point", "coordinates": [1, 2]}"#
        ));
        assert!(not_collection(b"{}"));
        assert!(matches!(
            collect(br#"{"message": "Not authorized"}"#, 64),
            Err(TransformError::ApiError { message, .. }) if message == "Not authorized"
        ));
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let input = b"{\"features\": [\n  {\"a\": 1},\n  {\"b\": 2}\n  {\"c\": 3}]}";
        for capacity in [64, 1 << 20] {
            match collect(input, capacity) {
                Err(TransformError::NotJson { line, column, .. }) => {
                    assert_eq!((line, column), (4, 3));
                }
                other => panic!("{other:?}"),
            }
        }
        let truncated = br#"{"features": [{"a": "b"#;
        assert!(matches!(
            collect(truncated, 64),
            Err(TransformError::NotJson { line: 1, .. })
        ));
        assert!(matches!(
            collect(b"{\"features\": []} x", 64),
            Err(TransformError::NotJson { column: 18, .. })
        ));
        assert!(matches!(
            collect(b"", 64),
            Err(TransformError::NotJson { .. })
        ));
    }

    #[test]
    fn a_feature_over_the_cap_is_an_error() {
        // A stream of one endless string: refused at the cap, never buffered whole.
        let endless = b"{\"features\": [\"".chain(std::io::repeat(b'a'));
        let source = Source {
            name: "big",
            path: Path::new("big"),
        };
        let result = walk_features(endless, &source, None, &mut Recorder::default());
        assert!(matches!(
            result,
            Err(TransformError::FeatureTooLarge { index: 0, .. })
        ));
    }
}
