//! Query-string parameters and their typed readings, each refusing bad values by name.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

use crate::error::RequestError;

/// The decoded query parameters of one request, in their order.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub(crate) fn parse(query: &str) -> Params {
        Params {
            pairs: url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        }
    }

    /// The first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every parameter's name, in order (repeated names repeated).
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(n, _)| n.as_str())
    }

    /// The query string with `name` set to `value` (every other parameter kept, in order).
    pub(crate) fn with(&self, name: &str, value: &str) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (n, v) in self.pairs.iter().filter(|(n, _)| n != name) {
            query.append_pair(n, v);
        }
        query.append_pair(name, value);
        query.finish()
    }

    /// A comma-separated list (empty items dropped).
    pub(crate) fn list(&self, name: &str) -> Option<Vec<&str>> {
        self.get(name)
            .map(|v| v.split(',').filter(|s| !s.is_empty()).collect())
    }

    fn bad(&self, param: &'static str, reason: &'static str) -> RequestError {
        RequestError::BadParameter {
            param,
            value: self.get(param).unwrap_or_default().to_owned(),
            reason,
        }
    }

    fn numbers<const N: usize>(
        &self,
        param: &'static str,
        reason: &'static str,
    ) -> Result<Option<[f64; N]>, RequestError> {
        let Some(value) = self.get(param) else {
            return Ok(None);
        };
        let bad = || self.bad(param, reason);
        let parsed: Vec<f64> = value
            .split(',')
            .map(|s| s.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        parsed.try_into().map(Some).map_err(|_| bad())
    }

    /// `minx,miny,maxx,maxy` with min <= max.
    pub(crate) fn bbox(&self, param: &'static str) -> Result<Option<[f64; 4]>, RequestError> {
        let bbox = self.numbers::<4>(param, "expected minx,miny,maxx,maxy")?;
        if let Some(b) = bbox
            && (b[0] > b[2] || b[1] > b[3])
        {
            return Err(self.bad(param, "min is greater than max"));
        }
        Ok(bbox)
    }

    /// `lon,lat`.
    pub(crate) fn point(&self, param: &'static str) -> Result<Option<[f64; 2]>, RequestError> {
        self.numbers::<2>(param, "expected lon,lat")
    }

    /// A non-negative number.
    pub(crate) fn distance(&self, param: &'static str) -> Result<Option<f64>, RequestError> {
        let reason = "expected a non-negative number";
        match self.numbers::<1>(param, reason)? {
            Some([v]) if v < 0.0 => Err(self.bad(param, reason)),
            other => Ok(other.map(|[v]| v)),
        }
    }

    /// A whole number in `1..=max`.
    pub(crate) fn count(
        &self,
        param: &'static str,
        max: usize,
        reason: &'static str,
    ) -> Result<Option<usize>, RequestError> {
        let Some(value) = self.get(param) else {
            return Ok(None);
        };
        match value.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(Some(n)),
            _ => Err(self.bad(param, reason)),
        }
    }

    /// `true` or `false`.
    pub(crate) fn boolean(&self, param: &'static str) -> Result<Option<bool>, RequestError> {
        match self.get(param) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(self.bad(param, "expected true or false")),
        }
    }

    /// A date (`2016-03-28`, midnight UTC) or an RFC 3339 time, as ms since the epoch. A
    /// date-time without an offset is taken as UTC.
    pub(crate) fn time_ms(&self, param: &'static str) -> Result<Option<i64>, RequestError> {
        let Some(value) = self.get(param) else {
            return Ok(None);
        };
        let timestamp = value.parse::<Timestamp>().ok().or_else(|| {
            let datetime = value.parse::<DateTime>().ok().or_else(|| {
                value
                    .parse::<Date>()
                    .ok()
                    .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
            })?;
            TimeZone::UTC.to_timestamp(datetime).ok()
        });
        match timestamp {
            Some(t) => Ok(Some(t.as_millisecond())),
            None => Err(self.bad(param, "expected a date (2016-03-28) or an RFC 3339 time")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_typed_values_and_names_bad_ones() {
        let p = Params::parse(
            "bbox=1,2,3,4&closeto=5,6&radius=-1&start_time=2016-03-28&end_time=2017-03-28T12:00:00.5Z&pano=yes&per_page=1001",
        );
        assert_eq!(p.bbox("bbox").unwrap(), Some([1.0, 2.0, 3.0, 4.0]));
        assert_eq!(p.point("closeto").unwrap(), Some([5.0, 6.0]));
        assert_eq!(p.time_ms("start_time").unwrap(), Some(1_459_123_200_000));
        assert_eq!(p.time_ms("end_time").unwrap(), Some(1_490_702_400_500));
        for err in [
            p.distance("radius").unwrap_err(),
            p.boolean("pano").unwrap_err(),
            p.count("per_page", 1000, "1..=1000").unwrap_err(),
        ] {
            assert!(matches!(err, RequestError::BadParameter { .. }), "{err}");
        }
        assert_eq!(p.distance("nothing").unwrap(), None);
    }

    #[test]
    fn refuses_inverted_and_short_boxes() {
        for query in [
            "bbox=3,2,1,4",
            "bbox=1,2,3",
            "bbox=1,2,3,x",
            "bbox=1,2,3,4,5",
        ] {
            let err = Params::parse(query).bbox("bbox").unwrap_err();
            assert!(err.to_string().contains("`bbox`"), "{err}");
        }
        assert!(Params::parse("t=2016-13-01").time_ms("t").is_err());
    }

    #[test]
    fn rebuilds_the_query_with_one_parameter_replaced() {
        let p = Params::parse("client_id=a%7Cb&page=2&usernames=O%27Brien");
        assert_eq!(
            p.with("page", "3"),
            "client_id=a%7Cb&usernames=O%27Brien&page=3"
        );
    }
}
