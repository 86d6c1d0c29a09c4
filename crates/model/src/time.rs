//! The one timestamp codec of the stages, on `jiff`: API timestamps (RFC 3339) to milliseconds
//! since the Unix epoch, and milliseconds back to the one ISO 8601 UTC form every output uses.
//!
//! `jiff` does the calendar (month lengths, leap years) and the printing. Its parser also takes
//! ISO 8601 / Temporal forms that RFC 3339 refuses (a space for `T`, no seconds, `+0100`) and
//! clamps a leap second to `:59`, so [`scan`] keeps the text to RFC 3339's grammar first and
//! hands `jiff` the numbers.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// Formats milliseconds since the Unix epoch as ISO 8601 UTC with milliseconds, the v3 API's
/// `captured_at` form: `2016-01-17T13:05:47.540Z`. An instant beyond the years -9999 to 9999
/// (no camera's) is written as its number of milliseconds.
///
/// ```
/// assert_eq!(model::format_epoch_ms(1_453_035_947_540), "2016-01-17T13:05:47.540Z");
/// assert_eq!(model::format_epoch_ms(0), "1970-01-01T00:00:00.000Z");
/// ```
pub fn format_epoch_ms(ms: i64) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(t) => format!("{t:.3}"),
        Err(_) => ms.to_string(),
    }
}

/// Parses an RFC 3339 time, `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (0 to 9 fraction
/// digits, truncated to milliseconds; `t` and `z` in either case), into milliseconds since the
/// Unix epoch. A leap second (`:60`) counts into the next minute. Anything else is `None`.
///
/// ```
/// assert_eq!(model::parse_timestamp_ms("2016-01-17T14:05:47.54+01:00"), Some(1_453_035_947_540));
/// assert_eq!(model::parse_timestamp_ms("2016-01-17 13:05:47Z"), None);
/// ```
pub fn parse_timestamp_ms(text: &str) -> Option<i64> {
    let w = scan(text)?;
    let offset_minutes = match w.offset {
        Offset::Utc { .. } => 0,
        Offset::Fixed { hours, .. } if hours > 23 => return None,
        Offset::Fixed {
            negative,
            hours,
            minutes,
        } => {
            let m = i64::from(hours) * 60 + i64::from(minutes);
            if negative { -m } else { m }
        }
        Offset::None => return None,
    };
    if w.fraction_digits > 9 {
        return None;
    }
    Some(w.utc_ms(60)? - offset_minutes * 60_000)
}

/// A date (`2016-03-28`, midnight UTC) or an RFC 3339 time ([`parse_timestamp_ms`]), as
/// milliseconds since the Unix epoch: what a job's date range may say.
///
/// ```
/// assert_eq!(model::parse_date_or_timestamp_ms("2016-03-28"), Some(1_459_123_200_000));
/// ```
pub fn parse_date_or_timestamp_ms(text: &str) -> Option<i64> {
    if text.len() == 10
        && let Ok(date) = text.parse::<jiff::civil::Date>()
    {
        return TimeZone::UTC
            .to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
            .ok()
            .map(|t| t.as_millisecond());
    }
    parse_timestamp_ms(text)
}

/// True when `s` is an `xsd:dateTime` (`YYYY-MM-DDThh:mm:ss[.f+][Z|±hh:mm]`, a real calendar
/// date, year 0001 or later, upper-case `T` and `Z`), as GPX's `<time>` requires.
///
/// ```
/// assert!(model::is_xsd_date_time("2019-07-21T14:56:25.5+02:00"));
/// assert!(!model::is_xsd_date_time("2019-02-29T00:00:00Z"));
/// ```
pub fn is_xsd_date_time(s: &str) -> bool {
    let Some(w) = scan(s) else {
        return false;
    };
    let offset_ok = match w.offset {
        Offset::None | Offset::Utc { lower: false } => true,
        Offset::Utc { lower: true } => false,
        Offset::Fixed { hours, .. } => hours <= 14,
    };
    offset_ok && !w.lower_t && w.year != 0 && w.utc_ms(59).is_some()
}

/// An RFC 3339 / `xsd:dateTime` text taken apart, before any calendar check.
struct Written {
    year: i16,
    month: i8,
    day: i8,
    hour: i8,
    minute: i8,
    second: i8,
    /// The first three fraction digits, as milliseconds.
    millis: i64,
    fraction_digits: usize,
    lower_t: bool,
    offset: Offset,
}

enum Offset {
    None,
    Utc {
        lower: bool,
    },
    /// `±hh:mm` (two digits each, minutes at most 59).
    Fixed {
        negative: bool,
        hours: u8,
        minutes: u8,
    },
}

impl Written {
    /// The civil time as UTC milliseconds, when it is a real date and time with at most
    /// `max_second` seconds (60 counts into the next minute).
    fn utc_ms(&self, max_second: i8) -> Option<i64> {
        if self.second > max_second {
            return None;
        }
        let leap = self.second == 60;
        let civil = DateTime::new(
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            if leap { 59 } else { self.second },
            0,
        )
        .ok()?;
        // From the civil epoch rather than through `Timestamp`, whose range stops a day short
        // of the calendar's (it leaves room for any offset).
        let since_epoch = civil.duration_since(DateTime::constant(1970, 1, 1, 0, 0, 0, 0));
        let ms = i64::try_from(since_epoch.as_millis()).ok()?;
        Some(ms + self.millis + if leap { 1000 } else { 0 })
    }
}

/// Takes `YYYY-MM-DDThh:mm:ss[.f+][Z|±hh:mm]` apart (ASCII digits only; any number of fraction
/// digits, at least one); `None` when the text does not have that shape.
fn scan(text: &str) -> Option<Written> {
    let b = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        b.get(range)?.iter().try_fold(0_i64, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && at(13, b':') && at(16, b':')) {
        return None;
    }
    let lower_t = match b.get(10) {
        Some(b'T') => false,
        Some(b't') => true,
        _ => return None,
    };
    let small = |range| number(range).and_then(|n| i8::try_from(n).ok());
    let year = i16::try_from(number(0..4)?).ok()?;
    let (month, day, hour, minute, second) = (
        small(5..7)?,
        small(8..10)?,
        small(11..13)?,
        small(14..16)?,
        small(17..19)?,
    );
    let mut rest = &b[19..];
    let (mut millis, mut fraction_digits) = (0, 0);
    if let [b'.', tail @ ..] = rest {
        fraction_digits = tail.iter().take_while(|d| d.is_ascii_digit()).count();
        if fraction_digits == 0 {
            return None;
        }
        let kept = fraction_digits.min(3);
        millis = number(20..20 + kept)? * 10_i64.pow(3 - kept as u32);
        rest = &tail[fraction_digits..];
    }
    let offset = match rest {
        [] => Offset::None,
        [b'Z'] => Offset::Utc { lower: false },
        [b'z'] => Offset::Utc { lower: true },
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (
                number(b.len() - 5..b.len() - 3)?,
                number(b.len() - 2..b.len())?,
            );
            if m > 59 {
                return None;
            }
            Offset::Fixed {
                negative: *sign == b'-',
                hours: u8::try_from(h).ok()?,
                minutes: u8::try_from(m).ok()?,
            }
        }
        _ => return None,
    };
    Some(Written {
        year,
        month,
        day,
        hour,
        minute,
        second,
        millis,
        fraction_digits,
        lower_t,
        offset,
    })
}

#[cfg(test)]
mod tests {
    use super::{
        format_epoch_ms, is_xsd_date_time, parse_date_or_timestamp_ms, parse_timestamp_ms,
    };

    fn iso(text: &str) -> Option<String> {
        parse_timestamp_ms(text).map(format_epoch_ms)
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(
            format_epoch_ms(1_563_721_048_460),
            "2019-07-21T14:57:28.460Z"
        );
        assert_eq!(format_epoch_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_epoch_ms(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            format_epoch_ms(1_453_035_947_000),
            "2016-01-17T13:05:47.000Z"
        );
        assert_eq!(format_epoch_ms(i64::MAX), i64::MAX.to_string());
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
        assert_eq!(parse_timestamp_ms("1969-12-31T23:59:59.999Z"), Some(-1));
        assert_eq!(parse_timestamp_ms("1969-12-31T23:59:59.9999Z"), Some(-1));
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
            assert_eq!(parse_timestamp_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn job_dates_are_dates_or_the_same_rfc_3339() {
        assert_eq!(
            parse_date_or_timestamp_ms("2016-03-28"),
            Some(1_459_123_200_000)
        );
        assert_eq!(
            parse_date_or_timestamp_ms("2016-03-28T12:00:00+02:00"),
            Some(1_459_123_200_000 + 10 * 3_600_000)
        );
        for bad in [
            "2016-02-30",
            "2016-03-28 12:00:00Z",
            "2016-03-28T12:00Z",
            "march",
        ] {
            assert_eq!(parse_date_or_timestamp_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn recognises_xsd_date_times() {
        for good in [
            "2016-01-17T13:05:47.540Z",
            "1970-01-01T00:00:00.000Z",
            "2000-02-29T23:59:59",
            "2019-07-21T14:56:25.5+02:00",
            "2019-07-21T14:56:25+14:30",
        ] {
            assert!(is_xsd_date_time(good), "{good}");
        }
        for bad in [
            "",
            "2016-01-17",
            "2016-01-17 13:05:47Z",
            "2019-02-29T00:00:00Z",
            "2016-13-01T00:00:00Z",
            "2016-01-17T24:00:00Z",
            "2016-01-17T13:05:47.Z",
            "2016-01-17T13:05:47ZZ",
            "0000-01-01T00:00:00Z",
            "2016-01-17T13:05:47+2:00",
            "2016-01-17T13:05:47+15:00",
            "2016-01-17T13:05:47z",
            "2016-01-17t13:05:47Z",
            "2016-12-31T23:59:60Z",
            "２０１６-01-17T13:05:47Z",
        ] {
            assert!(!is_xsd_date_time(bad), "{bad}");
        }
    }
}
