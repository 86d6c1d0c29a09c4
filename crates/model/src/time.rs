//! Timestamp formatting shared by the stages (no time-zone database needed: everything is UTC).

/// Formats milliseconds since the Unix epoch as ISO 8601 UTC with milliseconds, the v3 API's
/// `captured_at` form: `2016-01-17T13:05:47.540Z`.
///
/// ```
/// assert_eq!(model::format_epoch_ms(1_453_035_947_540), "2016-01-17T13:05:47.540Z");
/// assert_eq!(model::format_epoch_ms(0), "1970-01-01T00:00:00.000Z");
/// ```
pub fn format_epoch_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::format_epoch_ms;

    #[test]
    fn formats_known_instants() {
        assert_eq!(
            format_epoch_ms(1_563_721_048_460),
            "2019-07-21T14:57:28.460Z"
        );
        assert_eq!(format_epoch_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_epoch_ms(-1), "1969-12-31T23:59:59.999Z");
    }
}
