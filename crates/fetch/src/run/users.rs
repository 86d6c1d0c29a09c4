//! v3 usernames: one `/users` lookup per session, then each query's user filter (its userkeys
//! and the keys its usernames resolved to), a query whose usernames all fail being skipped.

use std::sync::Arc;

use super::state::Run;
use super::walk::Outcome;
use crate::http::{V3User, parse_users};
use crate::plan::{Cell, Endpoint, PlannedQuery, SplitRule};
use crate::{FetchError, QueryResource};

/// Every query's v3 user filter once the usernames are resolved.
#[derive(Debug, Default, PartialEq)]
pub(super) struct UserFilters {
    /// Per query, in plan order: the userkeys to send (empty: no filter), or `None` when none
    /// of its usernames exist (dropping the filter would broaden it: it is skipped).
    pub(super) per_query: Vec<Option<Vec<String>>>,
    /// The keys the usernames resolved to.
    pub(super) resolved_userkeys: Vec<String>,
    /// Unknown usernames, then skipped queries.
    pub(super) warnings: Vec<String>,
}

/// The plan's usernames, sorted and distinct.
pub(super) fn usernames(queries: &[PlannedQuery]) -> Vec<String> {
    let mut usernames: Vec<String> = queries
        .iter()
        .flat_map(|q| q.usernames.iter().cloned())
        .collect();
    usernames.sort();
    usernames.dedup();
    usernames
}

/// The filters of `queries` given the users a lookup of `looked_up` found (pure).
pub(super) fn user_filters(
    queries: &[PlannedQuery],
    looked_up: &[String],
    users: &[V3User],
) -> UserFilters {
    let mut filters = UserFilters::default();
    for username in looked_up {
        if !users.iter().any(|u| &u.username == username) {
            filters
                .warnings
                .push(format!("unknown Mapillary username {username:?}"));
        }
    }
    let mut keys: Vec<String> = users.iter().map(|u| u.key.clone()).collect();
    keys.dedup();
    filters.resolved_userkeys = keys;
    for query in queries {
        let mut keys = query.userkeys.clone();
        for user in users
            .iter()
            .filter(|u| query.usernames.contains(&u.username))
        {
            if !keys.contains(&user.key) {
                keys.push(user.key.clone());
            }
        }
        if !query.usernames.is_empty() && keys.is_empty() {
            filters.warnings.push(format!(
                "{}: none of its usernames exist; skipped",
                query.label()
            ));
            filters.per_query.push(None);
        } else {
            filters.per_query.push(Some(keys));
        }
    }
    filters
}

impl Run {
    /// v3: one `/users` request for every (sorted, distinct) username of the plan.
    pub(super) async fn resolve_users(
        &self,
        usernames: &[String],
    ) -> Result<Vec<V3User>, FetchError> {
        let cell = Cell {
            label: "users".to_owned(),
            query: Arc::from("users"),
            resource: QueryResource::Images,
            endpoint: Endpoint::V3Users,
            area: None,
            params: vec![("usernames", usernames.join(","))],
            split: SplitRule::Never,
        };
        let Outcome::Pages(pages) = self.walk(&cell).await? else {
            return Ok(Vec::new());
        };
        let mut users = Vec::new();
        for page in pages {
            let body = page.read().map_err(|source| FetchError::Cache {
                path: page.path.clone(),
                source,
            })?;
            users.extend(parse_users(&body).map_err(|e| FetchError::Cache {
                path: page.path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })?);
        }
        Ok(users)
    }
}

#[cfg(test)]
mod tests {
    use model::{Api, Area};

    use super::*;
    use crate::{FetchConfig, Query, Secret};

    fn planned(queries: &[Query]) -> Vec<PlannedQuery> {
        let config = FetchConfig::new(
            Api::V3,
            "https://a.mapillary.com/v3".parse().unwrap(),
            Secret::new("id".into()),
            "cache".into(),
        );
        crate::plan(&config, queries).queries
    }

    fn user(key: &str, username: &str) -> V3User {
        V3User {
            key: key.into(),
            username: username.into(),
        }
    }

    #[test]
    fn usernames_resolve_per_query_and_a_query_of_unknown_users_is_skipped() {
        let area = |x: f64| Area::Bbox([x, 0.0, x + 0.01, 0.01]);
        let mut known = Query::new("known", QueryResource::Images, area(0.0));
        known.usernames = vec!["bob".into(), "ann".into(), "nobody".into()];
        known.userkeys = vec!["k0".into()];
        let mut unknown = Query::new("unknown", QueryResource::Images, area(1.0));
        unknown.usernames = vec!["nobody".into()];
        let open = Query::new("open", QueryResource::Images, area(2.0));
        let queries = planned(&[known, unknown, open]);
        let looked_up = usernames(&queries);
        assert_eq!(looked_up, ["ann", "bob", "nobody"]);
        let users = [user("ka", "ann"), user("kb", "bob")];
        let filters = user_filters(&queries, &looked_up, &users);
        assert_eq!(
            filters,
            UserFilters {
                per_query: vec![
                    Some(vec!["k0".into(), "ka".into(), "kb".into()]),
                    None,
                    Some(Vec::new()),
                ],
                resolved_userkeys: vec!["ka".into(), "kb".into()],
                warnings: vec![
                    "unknown Mapillary username \"nobody\"".into(),
                    "unknown: none of its usernames exist; skipped".into(),
                ],
            }
        );
    }

    #[test]
    fn without_usernames_nothing_is_looked_up_or_skipped() {
        let queries = planned(&[Query::new(
            "q",
            QueryResource::Sequences,
            Area::Bbox([0.0, 0.0, 0.01, 0.01]),
        )]);
        assert!(usernames(&queries).is_empty());
        let filters = user_filters(&queries, &[], &[]);
        assert_eq!(filters.per_query, [Some(Vec::new())]);
        assert!(filters.warnings.is_empty() && filters.resolved_userkeys.is_empty());
    }
}
