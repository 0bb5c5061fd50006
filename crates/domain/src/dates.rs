//! The range of dates and times the service accepts anywhere (bodies, query strings, cursors).
//!
//! chrono parses years from -262144 to +262143; PostgreSQL stores dates from 4713 BC and
//! timestamps up to 294276 AD, and refuses what lies outside with an error that would surface
//! as a 500. Nothing an optical store records lies outside 1900-01-01..=2200-12-31, so every
//! date and time is checked against that range before it reaches SQL, and each field may
//! narrow it further (a date of birth or a test date is not in the future).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};

/// The earliest date accepted: 1900-01-01.
pub const EARLIEST: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

/// The latest date accepted: 2200-12-31.
pub const LATEST: NaiveDate = match NaiveDate::from_ymd_opt(2200, 12, 31) {
    Some(d) => d,
    None => NaiveDate::MAX,
};

/// The message of a date or time outside [`EARLIEST`]..=[`LATEST`].
pub const OUT_OF_RANGE: &str = "must be between 1900-01-01 and 2200-12-31";

/// A date inside the accepted range.
pub fn date(value: NaiveDate) -> Result<NaiveDate, String> {
    if (EARLIEST..=LATEST).contains(&value) {
        Ok(value)
    } else {
        Err(OUT_OF_RANGE.into())
    }
}

/// A time (UTC) whose date is inside the accepted range.
pub fn time(value: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    date(value.date_naive()).map(|_| value)
}

/// The business day `now` falls in, in the chain's time zone `offset`, and when it began:
/// the dashboard's "today" and the start of its 30-day window.
pub fn business_day(offset: FixedOffset, now: DateTime<Utc>) -> (NaiveDate, DateTime<Utc>) {
    let today = now.with_timezone(&offset).date_naive();
    let start = offset
        .from_local_datetime(&today.and_time(NaiveTime::MIN))
        .single()
        .map_or(now, |t| t.with_timezone(&Utc));
    (today, start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    fn the_range_is_1900_to_2200() {
        assert!(date(d("1900-01-01")).is_ok());
        assert!(date(d("2200-12-31")).is_ok());
        assert!(date(d("1899-12-31")).is_err());
        assert!(date(d("2201-01-01")).is_err());
        assert!(date(d("0000-01-01")).is_err());
        assert!(date(NaiveDate::MAX).is_err());
        let t: DateTime<Utc> = "-5000-01-01T00:00:00Z".parse().expect("time");
        assert!(time(t).is_err());
        let t: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("time");
        assert_eq!(time(t), Ok(t));
    }

    #[test]
    fn a_business_day_begins_at_local_midnight() {
        let india = FixedOffset::east_opt(5 * 3600 + 30 * 60).unwrap();
        let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
        let (today, start) = business_day(india, at("2026-12-06T20:00:00Z"));
        assert_eq!(today, NaiveDate::from_ymd_opt(2026, 12, 7).unwrap());
        assert_eq!(start, at("2026-12-06T18:30:00Z"));
        let (today, start) = business_day(india, at("2026-12-06T18:29:59Z"));
        assert_eq!(today, NaiveDate::from_ymd_opt(2026, 12, 6).unwrap());
        assert_eq!(start, at("2026-12-05T18:30:00Z"));
    }
}
