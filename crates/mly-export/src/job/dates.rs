//! `[[date_ranges]]`: dates and RFC 3339 times, parsed to epoch milliseconds by the same rules
//! as the records' timestamps (`model::parse_date_or_timestamp_ms`).

use std::ops::Range;

use model::DateRange;
use toml::de::{DeTable, DeValue};

use super::checker::Checker;
use super::types::JobDateRange;

const DATE_KEYS: &[&str] = &["start", "end"];

impl Checker<'_> {
    pub(super) fn date_ranges(&mut self, table: &DeTable<'_>) -> Option<Vec<JobDateRange>> {
        let Some(v) = table.get("date_ranges") else {
            return Some(Vec::new());
        };
        let items = self.tables(v, "date_ranges")?;
        let mut out = Vec::new();
        let mut ok = true;
        for (i, (span, item)) in items.into_iter().enumerate() {
            let key = format!("date_ranges[{}]", i + 1);
            self.unknown_keys(item, &format!("{key}."), DATE_KEYS);
            let start = self.instant(item, &key, "start", span.clone());
            let end = self.instant(item, &key, "end", span);
            match (start, end) {
                (Some((s, s_text)), Some((e, e_text))) => {
                    if e <= s {
                        self.error(
                            item["end"].span(),
                            &format!("{key}.end"),
                            format!(
                                "end ({e_text}) must be after start ({s_text}); end is exclusive"
                            ),
                        );
                        ok = false;
                    } else {
                        out.push(JobDateRange {
                            range: DateRange {
                                start_ms: s,
                                end_ms: e,
                            },
                            label: format!("{s_text}..{e_text}"),
                        });
                    }
                }
                _ => ok = false,
            }
        }
        ok.then_some(out)
    }

    pub(super) fn instant(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
        which: &str,
        span: Range<usize>,
    ) -> Option<(i64, String)> {
        let full = format!("{key}.{which}");
        let Some(v) = table.get(which) else {
            self.error(
                span,
                &full,
                "missing; expected a date like \"2016-03-28\" or an RFC 3339 time".into(),
            );
            return None;
        };
        let text = match v.get_ref() {
            DeValue::String(s) => s.to_string(),
            DeValue::Datetime(d) => d.to_string(),
            _ => {
                self.error(
                    v.span(),
                    &full,
                    "expected a date like \"2016-03-28\" or an RFC 3339 time".into(),
                );
                return None;
            }
        };
        match model::parse_date_or_timestamp_ms(&text) {
            Some(ms) => Some((ms, text)),
            None => {
                self.error(
                    v.span(),
                    &full,
                    format!(
                        "\"{text}\" is not a date; expected \"2016-03-28\" or an RFC 3339 time \
                         like \"2016-03-28T12:00:00Z\""
                    ),
                );
                None
            }
        }
    }
}
