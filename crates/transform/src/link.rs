//! Links into the Mapillary web viewer, one form per API's keys.

/// The viewer page of a v4 image id: `https://www.mapillary.com/app/?pKey=<id>`.
pub(crate) fn v4_image(id: &str) -> Option<String> {
    link("https://www.mapillary.com/app/?pKey=", id)
}

/// The viewer page of a v3 image key: `https://www.mapillary.com/map/im/<key>`.
pub(crate) fn v3_image(key: &str) -> Option<String> {
    link("https://www.mapillary.com/map/im/", key)
}

/// `base` and `key`, with every byte of `key` outside RFC 3986's unreserved set
/// percent-encoded so that a key from a user's file still makes a valid URL (Mapillary's own
/// keys and ids pass unchanged). `None` for an empty key.
fn link(base: &str, key: &str) -> Option<String> {
    if key.is_empty() {
        return None;
    }
    let mut url = String::with_capacity(base.len() + key.len());
    url.push_str(base);
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            url.push(char::from(byte));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            url.push('%');
            url.push(char::from(HEX[usize::from(byte >> 4)]));
            url.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_of_both_apis_and_odd_keys() {
        assert_eq!(
            v4_image("148137757289079").as_deref(),
            Some("https://www.mapillary.com/app/?pKey=148137757289079")
        );
        assert_eq!(
            v3_image("LwrHXqFRN_pszCopTKHF_Q").as_deref(),
            Some("https://www.mapillary.com/map/im/LwrHXqFRN_pszCopTKHF_Q")
        );
        assert_eq!(
            v3_image("=a b/é").as_deref(),
            Some("https://www.mapillary.com/map/im/%3Da%20b%2F%C3%A9")
        );
        assert_eq!(v4_image(""), None);
    }
}
