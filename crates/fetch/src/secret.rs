//! The API token and the redaction every URL goes through before it is logged, cached or shown.

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

    proptest! {
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
