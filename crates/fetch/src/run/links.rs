//! Next links: refused off the API's origin, re-based onto today's origin when resumed from the
//! cache, and given (v3) or stripped of (v4) the token in the query. Pure.

use model::Api;
use url::Url;

use crate::{FetchError, Secret};

/// A cached next link on today's API origin: it was checked against the origin of the run
/// that stored it, and the same API may now answer elsewhere (`--mock` picks a new port).
pub(super) fn rebase(base: &Url, mut url: Url) -> Url {
    // Setting the parts of one valid http(s) URL onto another cannot fail.
    let _ = url.set_scheme(base.scheme());
    let _ = url.set_host(base.host_str());
    let _ = url.set_port(base.port());
    url
}

/// Refuses a next link away from the API's origin (it would carry the token elsewhere) and
/// makes sure it authenticates. `from` is the request that returned it.
pub(super) fn check_next(
    api: Api,
    base: &Url,
    token: &Secret,
    from: &Url,
    next: Url,
) -> Result<Url, FetchError> {
    let same_origin = next.scheme() == base.scheme()
        && next.host_str() == base.host_str()
        && next.port_or_known_default() == base.port_or_known_default();
    if !same_origin {
        return Err(FetchError::ForeignNextLink {
            url: token.redact_text(from.as_str()),
            next: token.redact_text(next.as_str()),
            base: token.redact_text(base.as_str()),
        });
    }
    Ok(authorize(api, token, next))
}

/// v3: `client_id` set to the token (a cached link holds `***`); v4: no `access_token` (the
/// header carries it).
pub(super) fn authorize(api: Api, token: &Secret, url: Url) -> Url {
    let (param, token) = match api {
        Api::V3 => ("client_id", Some(token.expose())),
        Api::V4 => ("access_token", None),
    };
    let current: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let present: Vec<&str> = current
        .iter()
        .filter(|(k, _)| k == param)
        .map(|(_, v)| v.as_str())
        .collect();
    if present == token.into_iter().collect::<Vec<_>>() {
        // Already right: keep the server's URL byte for byte.
        return url;
    }
    let mut url = url;
    {
        let mut query = url.query_pairs_mut();
        query.clear();
        for (k, v) in current.iter().filter(|(k, _)| k != param) {
            query.append_pair(k, v);
        }
        if let Some(token) = token {
            query.append_pair(param, token);
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn token() -> Secret {
        Secret::new("SECRET-ID".into())
    }

    #[test]
    fn rebase_moves_a_link_to_todays_origin_and_keeps_path_and_query() {
        let base = url("http://127.0.0.1:4321/v3");
        let cached = url("http://127.0.0.1:9999/v3/images?page=2&client_id=***");
        assert_eq!(
            rebase(&base, cached).as_str(),
            "http://127.0.0.1:4321/v3/images?page=2&client_id=***"
        );
        let https = url("https://a.mapillary.com/v3");
        assert_eq!(
            rebase(&https, url("http://127.0.0.1:1/v3/x?a=1")).as_str(),
            "https://a.mapillary.com/v3/x?a=1"
        );
    }

    #[test]
    fn v3_links_get_the_token_and_a_right_link_is_kept_byte_for_byte() {
        let masked = url("https://a.mapillary.com/v3/images?client_id=***&b=%2C1&page=2");
        assert_eq!(
            authorize(Api::V3, &token(), masked).as_str(),
            "https://a.mapillary.com/v3/images?b=%2C1&page=2&client_id=SECRET-ID"
        );
        // Unusual but valid escaping the server chose stays as sent.
        let right = "https://a.mapillary.com/v3/images?b=,1&client_id=SECRET-ID";
        assert_eq!(authorize(Api::V3, &token(), url(right)).as_str(), right);
        let missing = url("https://a.mapillary.com/v3/images?page=2");
        assert_eq!(
            authorize(Api::V3, &token(), missing).as_str(),
            "https://a.mapillary.com/v3/images?page=2&client_id=SECRET-ID"
        );
    }

    #[test]
    fn v4_links_lose_any_access_token() {
        let echoed = url("https://graph.mapillary.com/images?access_token=MLY%7Cx&after=abc");
        assert_eq!(
            authorize(Api::V4, &token(), echoed).as_str(),
            "https://graph.mapillary.com/images?after=abc"
        );
        let clean = "https://graph.mapillary.com/images?after=abc&limit=2";
        assert_eq!(authorize(Api::V4, &token(), url(clean)).as_str(), clean);
    }

    #[test]
    fn a_link_off_the_origin_is_refused_with_every_url_redacted() {
        let base = url("https://a.mapillary.com/v3");
        let from = url("https://a.mapillary.com/v3/images?client_id=SECRET-ID");
        for foreign in [
            "https://evil.example/v3/images?client_id=SECRET-ID",
            "http://a.mapillary.com/v3/images",
            "https://a.mapillary.com:8443/v3/images",
        ] {
            let error = check_next(Api::V3, &base, &token(), &from, url(foreign)).unwrap_err();
            let FetchError::ForeignNextLink { url, next, .. } = &error else {
                panic!("{error:?}");
            };
            assert!(!error.to_string().contains("SECRET-ID"), "{error}");
            assert!(url.contains("client_id=***"), "{url}");
            assert!(!next.contains("SECRET"), "{next}");
        }
        let same = url("https://a.mapillary.com:443/v3/images?page=2");
        assert_eq!(
            check_next(Api::V3, &base, &token(), &from, same)
                .unwrap()
                .as_str(),
            "https://a.mapillary.com/v3/images?page=2&client_id=SECRET-ID"
        );
    }
}
