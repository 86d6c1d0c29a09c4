//! The API token and the redaction every URL goes through before it is logged, cached or shown.

use std::borrow::Cow;
use std::fmt;

/// The query parameters whose values are credentials.
const SECRET_PARAMS: [&str; 2] = ["client_id=", "access_token="];

/// What a redacted value reads as.
pub(crate) const REDACTED: &str = "***";

/// An API credential (v3 client id or v4 access token). It never prints: `Debug` and `Display`
/// both show `***`, and there is no public getter.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The credential itself, for the request that needs it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// The spellings the value can take in a response: as is, and percent-encoded with
    /// upper- or lower-case hex digits (`MLY%7C...`, `MLY%7c...`), without repeats.
    fn spellings(&self) -> Vec<Vec<u8>> {
        let mut spellings = vec![self.0.as_bytes().to_vec()];
        for hex in [b"0123456789ABCDEF", b"0123456789abcdef"] {
            let mut encoded = Vec::with_capacity(self.0.len() * 3);
            for &b in self.0.as_bytes() {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                    encoded.push(b);
                } else {
                    encoded.extend([b'%', hex[usize::from(b >> 4)], hex[usize::from(b & 15)]]);
                }
            }
            if !spellings.contains(&encoded) {
                spellings.push(encoded);
            }
        }
        spellings
    }

    /// `bytes` with every occurrence of the credential's value (see [`Secret::spellings`])
    /// replaced by `***`: what a hostile or careless server echoes never reaches a log, an
    /// error, the cache or an export. An empty credential masks nothing.
    pub(crate) fn mask_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let mut out = Cow::Borrowed(bytes);
        if self.0.is_empty() {
            return out;
        }
        for spelling in self.spellings() {
            if let Some(replaced) = replace_all(&out, &spelling, REDACTED.as_bytes()) {
                out = Cow::Owned(replaced);
            }
        }
        out
    }

    /// `text` through [`redact`] and with the credential's value masked wherever it appears.
    pub(crate) fn redact_text(&self, text: &str) -> String {
        let redacted = redact(text);
        // Replacing a whole UTF-8 string inside UTF-8 text keeps it UTF-8.
        String::from_utf8_lossy(&self.mask_bytes(redacted.as_bytes())).into_owned()
    }
}

/// `haystack` with every (non-overlapping) `needle` replaced by `with`; `None` when there is
/// none.
fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Option<Vec<u8>> {
    let first = *needle.first()?;
    let mut out = Vec::new();
    let mut found = false;
    let mut pos = 0;
    while let Some(offset) = haystack[pos..].iter().position(|&b| b == first) {
        let at = pos + offset;
        if haystack[at..].starts_with(needle) {
            found = true;
            out.extend_from_slice(&haystack[pos..at]);
            out.extend_from_slice(with);
            pos = at + needle.len();
        } else {
            out.extend_from_slice(&haystack[pos..=at]);
            pos = at + 1;
        }
    }
    out.extend_from_slice(&haystack[pos..]);
    found.then_some(out)
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Replaces the values of `client_id=` and `access_token=` (any case) with `***`.
///
/// Works on any text (URLs, `Link` headers, error messages): a value runs up to the next `&`,
/// `#`, `;`, `,`, `<`, `>`, quote or whitespace. Idempotent.
///
/// ```
/// assert_eq!(
///     fetch::redact("https://a.mapillary.com/v3/images?client_id=abc&per_page=10"),
///     "https://a.mapillary.com/v3/images?client_id=***&per_page=10"
/// );
/// ```
pub fn redact(url: &str) -> String {
    let lower = url.to_ascii_lowercase();
    let mut out = String::with_capacity(url.len());
    let mut pos = 0;
    while pos < url.len() {
        let next_param = SECRET_PARAMS
            .iter()
            .filter_map(|param| lower[pos..].find(param).map(|at| (pos + at, param.len())))
            .min();
        let Some((at, len)) = next_param else {
            break;
        };
        let value_start = at + len;
        let value_end = url[value_start..]
            .find(ends_value)
            .map_or(url.len(), |end| value_start + end);
        out.push_str(&url[pos..value_start]);
        out.push_str(REDACTED);
        pos = value_end;
    }
    out.push_str(&url[pos..]);
    out
}

fn ends_value(c: char) -> bool {
    matches!(c, '&' | '#' | ';' | ',' | '<' | '>' | '"' | '\'') || c.is_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn secret_never_prints() {
        let secret = Secret::new("MLY|123|abc".into());
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(secret.expose(), "MLY|123|abc");
    }

    #[test]
    fn redacts_both_parameters_everywhere() {
        assert_eq!(
            redact("<http://h/v3/images?bbox=1,2,3,4&client_id=abc>; rel=\"next\""),
            "<http://h/v3/images?bbox=1,2,3,4&client_id=***>; rel=\"next\""
        );
        assert_eq!(
            redact("GET http://h/x?access_token=MLY%7C1%7C2#frag failed"),
            "GET http://h/x?access_token=***#frag failed"
        );
        assert_eq!(
            redact("?CLIENT_ID=a&Client_Id=b"),
            "?CLIENT_ID=***&Client_Id=***"
        );
        assert_eq!(redact("client_id="), "client_id=***");
        assert_eq!(redact("no secrets"), "no secrets");
    }

    #[test]
    fn masks_the_value_wherever_it_appears() {
        let secret = Secret::new("MLY|123|abc".into());
        assert_eq!(
            secret.redact_text(
                "Authorization: OAuth MLY|123|abc; Bearer MLY|123|abc <http://h/x?t=MLY%7C123%7Cabc&u=MLY%7c123%7cabc&access_token=zz>"
            ),
            "Authorization: OAuth ***; Bearer *** <http://h/x?t=***&u=***&access_token=***>"
        );
        assert_eq!(
            &*secret.mask_bytes(br#"{"next":"http://h/?a=MLY|123|abc"}"#),
            br#"{"next":"http://h/?a=***"}"#
        );
        let untouched = secret.mask_bytes(b"MLY|123|ab MLY|");
        assert!(matches!(untouched, Cow::Borrowed(b"MLY|123|ab MLY|")));
        assert_eq!(&*Secret::new(String::new()).mask_bytes(b"abc"), b"abc");
        assert_eq!(Secret::new("plain-id".into()).spellings().len(), 1);
    }

    proptest! {
        #[test]
        fn a_masked_value_is_gone(
            token in "[A-Za-z0-9|%_.-]{1,24}",
            parts in proptest::collection::vec("\\PC{0,12}", 1..5),
        ) {
            let secret = Secret::new(token.clone());
            let text = parts.join(&token);
            let masked = secret.redact_text(&text);
            prop_assert!(!masked.contains(&token), "{masked}");
        }

        #[test]
        fn redact_never_panics_and_is_idempotent(s in "\\PC*") {
            let once = redact(&s);
            prop_assert_eq!(redact(&once), once);
        }

        #[test]
        fn redacted_token_is_gone(
            prefix in "[a-z:/.0-9]{0,20}",
            token in "[A-Z][A-Za-z0-9|%_.-]{7,39}",
            rest in "(&[a-z]{1,5}=[a-z0-9,]{0,8}){0,3}",
        ) {
            let url = format!("http://h/{prefix}?a=1&client_id={token}{rest}");
            let redacted = redact(&url);
            prop_assert_eq!(&redacted, &format!("http://h/{prefix}?a=1&client_id=***{rest}"));
            prop_assert!(!redacted.contains(&token));
        }
    }
}
