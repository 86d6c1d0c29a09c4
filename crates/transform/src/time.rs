//! A small strict RFC 3339 parser: v3 timestamps become milliseconds since the epoch, which
//! `model::format_epoch_ms` turns back into the one ISO 8601 form every output uses.

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (0 to 9 fraction digits, truncated to
/// milliseconds) into milliseconds since the Unix epoch. Anything else is `None`.
pub(crate) fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (hour, minute, second) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        // 60 is a leap second: it is counted into the next minute.
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let count = i - start;
        if count == 0 || count > 9 {
            return None;
        }
        let kept = count.min(3);
        millis = digits(&b[start..start + kept])? * 10_i64.pow(3 - kept as u32);
    }
    let offset_minutes = match &b[i..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?);
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            if *sign == b'-' { -minutes } else { minutes }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some(
        days * 86_400_000
            + hour * 3_600_000
            + (minute - offset_minutes) * 60_000
            + second * 1000
            + millis,
    )
}

/// The value of a run of ASCII digits.
fn digits(bytes: &[u8]) -> Option<i64> {
    bytes.iter().try_fold(0_i64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_rfc3339_ms;
    use model::format_epoch_ms;

    fn iso(text: &str) -> Option<String> {
        parse_rfc3339_ms(text).map(format_epoch_ms)
    }

    #[test]
    fn parses_the_api_form_and_offsets() {
        assert_eq!(
            iso("2016-01-17T13:05:47.540Z").as_deref(),
            Some("2016-01-17T13:05:47.540Z")
        );
        assert_eq!(
            iso("2016-01-17T14:05:47.54+01:00").as_deref(),
            Some("2016-01-17T13:05:47.540Z")
        );
        assert_eq!(
            iso("2016-01-17T00:05:47-00:30").as_deref(),
            Some("2016-01-17T00:35:47.000Z")
        );
        assert_eq!(
            iso("1970-01-01T00:00:00.000Z").as_deref(),
            Some("1970-01-01T00:00:00.000Z")
        );
        assert_eq!(
            iso("2000-02-29t23:59:59.123456789z").as_deref(),
            Some("2000-02-29T23:59:59.123Z")
        );
        assert_eq!(
            iso("2016-12-31T23:59:60Z").as_deref(),
            Some("2017-01-01T00:00:00.000Z")
        );
        assert_eq!(parse_rfc3339_ms("1969-12-31T23:59:59.999Z"), Some(-1));
    }

    #[test]
    fn rejects_what_is_not_rfc_3339() {
        for bad in [
            "",
            "2016-01-17",
            "2016-01-17 13:05:47Z",
            "2016-01-17T13:05:47",
            "2016-01-17T13:05:47.Z",
            "2016-01-17T13:05:47.1234567890Z",
            "2016-13-17T13:05:47Z",
            "2015-02-29T13:05:47Z",
            "2016-01-17T24:05:47Z",
            "2016-01-17T13:05:47+0100",
            "2016-01-17T13:05:47+24:00",
            "2016-01-17T13:05:47ZZ",
            "２016-01-17T13:05:47Z",
            "1453035947540",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }
}
