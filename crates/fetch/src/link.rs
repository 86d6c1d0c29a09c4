//! The `Link` response header (RFC 8288), as far as pagination needs it.

/// The target of the first link whose `rel` includes `next`, as written (it may be relative).
///
/// Follows RFC 8288: comma-separated `<target>; param=value` entries, `rel` values being
/// space-separated relation types compared case-insensitively, quoted values with `\` escapes,
/// only the first `rel` of an entry counting. Commas inside `<...>` belong to the target (v3
/// next links carry `bbox=a,b,c,d`). Malformed input gives `None`, never a panic.
///
/// ```
/// let header = r#"<https://a.mapillary.com/v3/images?bbox=1,2,3,4&page=1>; rel="first", <https://a.mapillary.com/v3/images?bbox=1,2,3,4&page=2>; rel="next""#;
/// assert_eq!(
///     fetch::parse_link_next(header).as_deref(),
///     Some("https://a.mapillary.com/v3/images?bbox=1,2,3,4&page=2")
/// );
/// assert_eq!(fetch::parse_link_next(r#"<https://x/>; rel="prev""#), None);
/// ```
pub fn parse_link_next(header: &str) -> Option<String> {
    let mut rest = header;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        if rest.is_empty() {
            return None;
        }
        let inner = rest.strip_prefix('<')?;
        let end = inner.find('>')?;
        let target = &inner[..end];
        rest = &inner[end + 1..];
        let mut rel: Option<String> = None;
        while let Some(after) = rest.trim_start().strip_prefix(';') {
            let (name, value, after_param) = parse_param(after.trim_start())?;
            rest = after_param;
            if rel.is_none() && name.eq_ignore_ascii_case("rel") {
                rel = Some(value);
            }
        }
        let is_next = rel.is_some_and(|rel| {
            rel.split_ascii_whitespace()
                .any(|relation| relation.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.to_owned());
        }
        rest = rest.trim_start();
        if !rest.is_empty() && !rest.starts_with(',') {
            return None;
        }
    }
}

/// One `name[=value]` parameter: its name, its (unquoted) value and the text after it.
fn parse_param(text: &str) -> Option<(&str, String, &str)> {
    let name_end = text
        .find(|c: char| matches!(c, '=' | ';' | ',') || c.is_whitespace())
        .unwrap_or(text.len());
    let name = &text[..name_end];
    let rest = text[name_end..].trim_start();
    let Some(value_text) = rest.strip_prefix('=') else {
        return Some((name, String::new(), rest));
    };
    let value_text = value_text.trim_start();
    if let Some(quoted) = value_text.strip_prefix('"') {
        let mut value = String::new();
        let mut escaped = false;
        for (at, c) in quoted.char_indices() {
            match c {
                _ if escaped => {
                    value.push(c);
                    escaped = false;
                }
                '\\' => escaped = true,
                '"' => return Some((name, value, &quoted[at + 1..])),
                _ => value.push(c),
            }
        }
        None
    } else {
        let end = value_text
            .find(|c: char| matches!(c, ';' | ',') || c.is_whitespace())
            .unwrap_or(value_text.len());
        Some((name, value_text[..end].to_owned(), &value_text[end..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finds_next_among_other_relations() {
        let header =
            "<http://h/a?p=1>; rel=first, <http://h/a?p=3>; rel=\"prev next\"; title=\"x, y\"";
        assert_eq!(parse_link_next(header).as_deref(), Some("http://h/a?p=3"));
        assert_eq!(
            parse_link_next("<u1>;rel=\"NEXT\"").as_deref(),
            Some("u1"),
            "relation types are case-insensitive"
        );
        assert_eq!(
            parse_link_next("<u1>; rel=prev; rel=next"),
            None,
            "only the first rel counts"
        );
        assert_eq!(
            parse_link_next("<u1>; title=\"a\\\"b\"; rel=next").as_deref(),
            Some("u1")
        );
    }

    #[test]
    fn malformed_headers_give_none() {
        for header in [
            "",
            "http://h/a; rel=next",
            "<http://h/a; rel=next",
            "<u>; rel=\"next",
            "<u> junk, <v>; rel=next",
        ] {
            assert_eq!(parse_link_next(header), None, "{header}");
        }
    }

    fn relation() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["first", "prev", "last", "next", "prev next", "NeXt"])
    }

    proptest! {
        #[test]
        fn never_panics(header in "\\PC*") {
            let _ = parse_link_next(&header);
        }

        #[test]
        fn round_trips_the_first_next(
            links in prop::collection::vec(("[^<>\\s]{0,40}", relation(), any::<bool>()), 0..6),
        ) {
            let header = links
                .iter()
                .map(|(target, rel, quoted)| {
                    if *quoted || rel.contains(' ') {
                        format!("<{target}>; rel=\"{rel}\"")
                    } else {
                        format!("<{target}>;rel={rel}")
                    }
                })
                .collect::<Vec<_>>()
                .join(", ");
            let expected = links
                .iter()
                .find(|(_, rel, _)| rel.to_ascii_lowercase().split(' ').any(|r| r == "next"))
                .map(|(target, _, _)| target.clone());
            prop_assert_eq!(parse_link_next(&header), expected);
        }
    }
}
