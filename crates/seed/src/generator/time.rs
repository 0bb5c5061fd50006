//! Time for the generator: Unix milliseconds, calendar conversions, the fast text forms that
//! COPY and the JSON columns take, and when orders happen (store hours in IST, busier weekends
//! and festive months, a growing chain).

use rand::Rng;

use super::rng::{GenRng, Weighted};

pub(crate) const MINUTE: i64 = 60_000;
pub(crate) const HOUR: i64 = 60 * MINUTE;
pub(crate) const DAY: i64 = 24 * HOUR;
/// India Standard Time is UTC+05:30 all year.
const IST: i64 = 5 * HOUR + 30 * MINUTE;

/// (year, month 1–12, day 1–31) of a day number (days since 1970-01-01).
pub(crate) fn civil(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The day number of a calendar date (inverse of [`civil`]).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The same day `months` later, clamped to the month's end (29 Feb + 24 months = 28 Feb).
pub(crate) fn add_months(days: i64, months: i64) -> i64 {
    let (y, m, d) = civil(days);
    let index = y * 12 + i64::from(m) - 1 + months;
    let (ny, nm) = (index.div_euclid(12), (index.rem_euclid(12) + 1) as u32);
    let next_first = if nm == 12 {
        days_from_civil(ny + 1, 1, 1)
    } else {
        days_from_civil(ny, nm + 1, 1)
    };
    let last = (next_first - days_from_civil(ny, nm, 1)) as u32;
    days_from_civil(ny, nm, d.min(last))
}

pub(crate) fn year_of(ms: i64) -> i64 {
    civil(ms.div_euclid(DAY)).0
}

/// The first day of `ms`'s month, as a day number.
pub(crate) fn month_start(ms: i64) -> i64 {
    let (y, m, _) = civil(ms.div_euclid(DAY));
    days_from_civil(y, m, 1)
}

fn push_2(buf: &mut Vec<u8>, v: u32) {
    buf.push(b'0' + (v / 10) as u8);
    buf.push(b'0' + (v % 10) as u8);
}

/// `YYYY-MM-DD`
pub(crate) fn push_date(buf: &mut Vec<u8>, days: i64) {
    let (y, m, d) = civil(days);
    let y = y as u32;
    push_2(buf, y / 100);
    push_2(buf, y % 100);
    buf.push(b'-');
    push_2(buf, m);
    buf.push(b'-');
    push_2(buf, d);
}

fn push_time(buf: &mut Vec<u8>, ms: i64) {
    let in_day = ms.rem_euclid(DAY);
    let secs = (in_day / 1000) as u32;
    push_2(buf, secs / 3600);
    buf.push(b':');
    push_2(buf, secs / 60 % 60);
    buf.push(b':');
    push_2(buf, secs % 60);
    buf.push(b'.');
    let millis = (in_day % 1000) as u32;
    buf.push(b'0' + (millis / 100) as u8);
    push_2(buf, millis % 100);
}

/// `YYYY-MM-DD HH:MM:SS.mmm+00`, PostgreSQL's own text form of a timestamptz in UTC.
pub(crate) fn push_timestamp(buf: &mut Vec<u8>, ms: i64) {
    push_date(buf, ms.div_euclid(DAY));
    buf.push(b' ');
    push_time(buf, ms);
    buf.extend_from_slice(b"+00");
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (RFC 3339), as the API writes timestamps inside JSON.
pub(crate) fn push_rfc3339(buf: &mut Vec<u8>, ms: i64) {
    push_date(buf, ms.div_euclid(DAY));
    buf.push(b'T');
    push_time(buf, ms);
    buf.push(b'Z');
}

/// When orders happen: a weighted table of the days in the window and an hourly curve of the
/// store day. The chain grows (the last month sells about twice the first), weekends and the
/// festive season (October–November) are busier.
pub(crate) struct OrderClock {
    first_day: i64,
    days: Weighted,
    hours: Weighted,
    now: i64,
}

/// Orders per local hour from 10:00 to 21:00 (stores close at 21:30).
const HOURLY: [f64; 12] = [0.5, 0.8, 1.0, 0.9, 0.8, 0.8, 0.9, 1.1, 1.3, 1.3, 1.0, 0.5];
const OPEN_LOCAL: i64 = 10 * HOUR;

impl OrderClock {
    /// Days from `first_day` through the day of `now` (Unix ms, the end of the window).
    pub(crate) fn new(first_day: i64, now: i64) -> Self {
        let last_day = now.div_euclid(DAY);
        let span = (last_day - first_day).max(1) as f64;
        let days = Weighted::new((first_day..=last_day).map(|day| {
            let growth = 1.0 + 1.1 * (day - first_day) as f64 / span;
            // 1970-01-01 was a Thursday: 2 and 3 are Saturday and Sunday.
            let weekday = match day.rem_euclid(7) {
                2 => 1.3,
                3 => 1.4,
                _ => 0.9,
            };
            let season = match civil(day).1 {
                10 | 11 => 1.25,
                5 | 6 => 1.1,
                1 | 2 => 0.9,
                _ => 1.0,
            };
            let open_fraction = if day == last_day {
                let local = now - day * DAY + IST - OPEN_LOCAL;
                (local as f64 / (11.5 * HOUR as f64)).clamp(0.0, 1.0)
            } else {
                1.0
            };
            growth * weekday * season * open_fraction
        }));
        Self {
            first_day,
            days,
            hours: Weighted::new(HOURLY),
            now,
        }
    }

    /// One order time in whole milliseconds, never after `now`.
    pub(crate) fn sample(&self, rng: &mut GenRng) -> i64 {
        for _ in 0..16 {
            let day = self.first_day + self.days.sample(rng) as i64;
            let hour = self.hours.sample(rng) as i64;
            let span = if hour == 11 { 30 * MINUTE } else { HOUR };
            let local = OPEN_LOCAL + hour * HOUR + rng.gen_range(0..span);
            let at = day * DAY + local - IST;
            if at <= self.now {
                return at;
            }
        }
        self.now - rng.gen_range(0..HOUR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::rng::{stream, Stream};

    fn text(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut buf = Vec::new();
        f(&mut buf);
        String::from_utf8(buf).expect("ascii")
    }

    #[test]
    fn calendar_round_trips_and_formats() {
        for days in [-1, 0, 11_016, 19_782, 20_513, 60_000] {
            let (y, m, d) = civil(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(
            text(|b| push_date(b, days_from_civil(2024, 2, 29))),
            "2024-02-29"
        );
        let ms = days_from_civil(2025, 3, 4) * DAY + 10 * HOUR + 22 * MINUTE + 33_045;
        assert_eq!(
            text(|b| push_timestamp(b, ms)),
            "2025-03-04 10:22:33.045+00"
        );
        assert_eq!(text(|b| push_rfc3339(b, ms)), "2025-03-04T10:22:33.045Z");
        assert_eq!(year_of(ms), 2025);
        assert_eq!(month_start(ms), days_from_civil(2025, 3, 1));
        let leap = days_from_civil(2024, 2, 29);
        assert_eq!(civil(add_months(leap, 24)), (2026, 2, 28));
        assert_eq!(
            civil(add_months(days_from_civil(2025, 11, 30), 3)),
            (2026, 2, 28)
        );
    }

    #[test]
    fn orders_fall_in_store_hours_and_never_after_now() {
        let now = days_from_civil(2026, 11, 24) * DAY + 9 * HOUR;
        let first = days_from_civil(2024, 11, 24);
        let clock = OrderClock::new(first, now);
        let mut rng = stream(1, Stream::OrderTimes);
        let (mut old, mut recent) = (0, 0);
        for _ in 0..20_000 {
            let at = clock.sample(&mut rng);
            assert!(at <= now && at >= first * DAY - IST);
            let local = (at + IST).rem_euclid(DAY);
            assert!(
                (10 * HOUR..21 * HOUR + 30 * MINUTE).contains(&local),
                "{local}"
            );
            if at < (first + 90) * DAY {
                old += 1;
            } else if at > now - 90 * DAY {
                recent += 1;
            }
        }
        assert!(recent > old * 3 / 2, "recent {recent} old {old}");
    }
}
