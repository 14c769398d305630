//! Hybrid logical clock timestamps (SPEC §3).
//!
//! A [`Timestamp`] is wall-clock milliseconds since the Unix epoch plus a
//! logical counter (0..=999 999). It is written as RFC 3339 UTC with nine
//! fractional digits, `.mmmcccccc`: three digits of milliseconds, six of
//! counter. Read as an ordinary RFC 3339 instant, that is exactly
//! `ms * 1e6 + counter` nanoseconds, so any RFC 3339 reader sees a valid,
//! time-ordered instant, and any RFC 3339 input (any offset, any number of
//! fractional digits) reads back as a timestamp.
//!
//! # Clock rules
//! - [`Clock::now`] never goes backwards and never repeats: each stamp is
//!   greater than every stamp the clock issued or observed.
//! - [`Clock::observe`] adopts a remote stamp (from the server, which has
//!   already bounded it), so an edit made after seeing a value always beats it,
//!   however slow the local wall clock is.
//! - [`Clock::admit`] is the server's door for stamps from devices. A device
//!   clock set far in the future would otherwise win every conflict until the
//!   real time caught up, and drag every replica's clock forward with it.
//!
//! # Far-future bound
//! A stamp more than [`Clock::max_drift_ms`] (default
//! [`DEFAULT_MAX_DRIFT_MS`], 60 s) ahead of the admitting clock's wall time is
//! not trusted: `admit` *re-stamps* it with the admitting clock's own next
//! stamp, so the write counts as made when it arrived — it still beats every
//! value already stored, but any later write beats it. The server reports the
//! new stamp to the pushing client, which adopts it for its acknowledged
//! field. Stamps within the bound are adopted as they are, so ordinary skew of
//! a few seconds between devices changes nothing.
//!
//! Instants before 1970 read as the epoch itself (they sort before every stamp
//! fieldsync issues); instants after 9999-12-31 are rejected.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// Largest logical counter; one more moves the stamp to the next millisecond.
pub const MAX_COUNTER: u32 = 999_999;

/// Default bound on how far ahead of the admitting clock a stamp may be.
pub const DEFAULT_MAX_DRIFT_MS: u64 = 60_000;

/// 9999-12-31T23:59:59.999Z, the last millisecond RFC 3339 can write.
const MAX_MS: u64 = 253_402_300_799_999;

/// A hybrid-logical-clock timestamp: milliseconds since the epoch, then a
/// logical counter. Ordered by `(ms, counter)`, which is also time order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp {
    ms: u64,
    counter: u32,
}

impl Timestamp {
    /// The Unix epoch, `1970-01-01T00:00:00.000000000Z`: below every stamp.
    pub const ZERO: Timestamp = Timestamp { ms: 0, counter: 0 };

    /// The largest representable stamp.
    pub const MAX: Timestamp = Timestamp {
        ms: MAX_MS,
        counter: MAX_COUNTER,
    };

    /// A stamp from its parts. `ms` above year 9999 and counters above
    /// [`MAX_COUNTER`] are clamped.
    pub fn new(ms: u64, counter: u32) -> Self {
        Timestamp {
            ms: ms.min(MAX_MS),
            counter: counter.min(MAX_COUNTER),
        }
    }

    /// Wall-clock milliseconds since the Unix epoch.
    pub fn ms(self) -> u64 {
        self.ms
    }

    /// Logical counter within the millisecond.
    pub fn counter(self) -> u32 {
        self.counter
    }

    /// Nanoseconds since the epoch, as an RFC 3339 reader sees this stamp.
    pub fn as_nanos(self) -> u128 {
        u128::from(self.ms) * 1_000_000 + u128::from(self.counter)
    }

    /// The smallest stamp greater than `self` (saturating at [`Timestamp::MAX`]).
    pub fn successor(self) -> Self {
        if self.counter < MAX_COUNTER {
            Timestamp {
                ms: self.ms,
                counter: self.counter + 1,
            }
        } else if self.ms < MAX_MS {
            Timestamp {
                ms: self.ms + 1,
                counter: 0,
            }
        } else {
            self
        }
    }

    /// Parses any RFC 3339 date-time (`Z`/`z` or `±hh:mm` offset, `T`, `t`
    /// or space separator, any number of fractional digits; digits past the
    /// ninth are dropped).
    pub fn parse(input: &str) -> Result<Self, Error> {
        parse_rfc3339(input).map_err(|reason| Error::InvalidTimestamp {
            input: shorten(input),
            reason,
        })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.ms / 1000;
        let millis = self.ms % 1000;
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (year, month, day) = civil_from_days(days as i64);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}{:06}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60,
            self.counter
        )
    }
}

impl FromStr for Timestamp {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Timestamp::parse(s)
    }
}

/// How [`Clock::admit`] treated a stamp from another device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Within the drift bound: stored as it came.
    Accepted(Timestamp),
    /// Too far in the future: replaced by the clock's own next stamp.
    Restamped {
        /// The stamp the device sent.
        original: Timestamp,
        /// The stamp to store instead.
        assigned: Timestamp,
    },
}

impl Admission {
    /// The stamp to store.
    pub fn timestamp(self) -> Timestamp {
        match self {
            Admission::Accepted(ts) => ts,
            Admission::Restamped { assigned, .. } => assigned,
        }
    }
}

/// A hybrid logical clock. Pure: the caller passes the wall time in
/// milliseconds (`Date.now()` in the browser, `SystemTime` on the server), and
/// persists [`Clock::last`] so the clock survives restarts.
#[derive(Clone, Debug)]
pub struct Clock {
    last: Timestamp,
    max_drift_ms: u64,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

impl Clock {
    /// A clock that has seen nothing yet, with the default drift bound.
    pub fn new() -> Self {
        Clock {
            last: Timestamp::ZERO,
            max_drift_ms: DEFAULT_MAX_DRIFT_MS,
        }
    }

    /// A clock resuming from a persisted [`Clock::last`].
    pub fn resume(last: Timestamp) -> Self {
        Clock {
            last,
            ..Clock::new()
        }
    }

    /// Sets the far-future bound used by [`Clock::admit`].
    pub fn with_max_drift_ms(mut self, max_drift_ms: u64) -> Self {
        self.max_drift_ms = max_drift_ms;
        self
    }

    /// The bound used by [`Clock::admit`].
    pub fn max_drift_ms(&self) -> u64 {
        self.max_drift_ms
    }

    /// The highest stamp issued or observed: persist it.
    pub fn last(&self) -> Timestamp {
        self.last
    }

    /// Issues a new stamp, greater than every stamp issued or observed.
    pub fn now(&mut self, wall_ms: u64) -> Timestamp {
        let wall = Timestamp::new(wall_ms, 0);
        self.last = if wall > self.last {
            wall
        } else {
            self.last.successor()
        };
        self.last
    }

    /// Adopts a stamp from a trusted source (the server), so later local
    /// stamps are greater than it.
    pub fn observe(&mut self, remote: Timestamp) {
        self.last = self.last.max(remote);
    }

    /// Admits a stamp from an untrusted device: adopted if it is at most
    /// [`Clock::max_drift_ms`] ahead of `wall_ms`, otherwise replaced by a
    /// fresh stamp of this clock (see the module docs).
    pub fn admit(&mut self, remote: Timestamp, wall_ms: u64) -> Admission {
        let bound = Timestamp::new(wall_ms.saturating_add(self.max_drift_ms), MAX_COUNTER);
        if remote <= bound {
            self.observe(remote);
            Admission::Accepted(remote)
        } else {
            Admission::Restamped {
                original: remote,
                assigned: self.now(wall_ms),
            }
        }
    }
}

fn shorten(input: &str) -> String {
    crate::error::shorten(input, 64)
}

fn digits(bytes: &[u8], at: usize, n: usize, what: &'static str) -> Result<u64, &'static str> {
    let part = bytes.get(at..at + n).ok_or(what)?;
    part.iter().try_fold(0u64, |acc, b| {
        if b.is_ascii_digit() {
            Ok(acc * 10 + u64::from(b - b'0'))
        } else {
            Err(what)
        }
    })
}

fn expect(bytes: &[u8], at: usize, allowed: &[u8], what: &'static str) -> Result<(), &'static str> {
    match bytes.get(at) {
        Some(b) if allowed.contains(b) => Ok(()),
        _ => Err(what),
    }
}

fn parse_rfc3339(input: &str) -> Result<Timestamp, &'static str> {
    const SHAPE: &str = "expected YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)";
    let b = input.as_bytes();
    let year = digits(b, 0, 4, SHAPE)?;
    expect(b, 4, b"-", SHAPE)?;
    let month = digits(b, 5, 2, SHAPE)?;
    expect(b, 7, b"-", SHAPE)?;
    let day = digits(b, 8, 2, SHAPE)?;
    expect(b, 10, b"Tt ", SHAPE)?;
    let hour = digits(b, 11, 2, SHAPE)?;
    expect(b, 13, b":", SHAPE)?;
    let minute = digits(b, 14, 2, SHAPE)?;
    expect(b, 16, b":", SHAPE)?;
    let second = digits(b, 17, 2, SHAPE)?;
    let mut at = 19;
    let mut nanos = 0u64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 9 {
                nanos = nanos * 10 + u64::from(b[at] - b'0');
            }
            at += 1;
        }
        if at == start {
            return Err("a '.' must be followed by fractional digits");
        }
        for _ in (at - start)..9 {
            nanos *= 10;
        }
    }
    let offset_secs: i64 = match b.get(at) {
        Some(b'Z' | b'z') => {
            at += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(b, at + 1, 2, SHAPE)?;
            expect(b, at + 3, b":", SHAPE)?;
            let om = digits(b, at + 4, 2, SHAPE)?;
            if oh > 23 || om > 59 {
                return Err("the UTC offset is out of range");
            }
            at += 6;
            let secs = (oh * 3600 + om * 60) as i64;
            if sign == b'+' { secs } else { -secs }
        }
        _ => return Err("missing time zone: end with Z or an offset such as +02:00"),
    };
    if at != b.len() {
        return Err("unexpected characters after the time zone");
    }
    if !(1..=12).contains(&month) {
        return Err("month out of range");
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err("day out of range for the month");
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err("time of day out of range");
    }
    // A leap second (:60) reads as the first instant of the next minute.
    let days = days_from_civil(year as i64, month as u32, day as u32);
    let secs = days * 86_400 + (hour * 3600 + minute * 60 + second) as i64 - offset_secs;
    if secs < 0 {
        return Ok(Timestamp::ZERO);
    }
    let total_ns = secs as u128 * 1_000_000_000 + u128::from(nanos);
    let ms = total_ns / 1_000_000;
    if ms > u128::from(MAX_MS) {
        return Err("after 9999-12-31T23:59:59Z");
    }
    Ok(Timestamp {
        ms: ms as u64,
        counter: (total_ns % 1_000_000) as u32,
    })
}

fn is_leap(year: u64) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
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
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn nine_digit_form_round_trips() {
        let t = Timestamp::new(1_704_103_530_000, 1);
        assert_eq!(t.to_string(), "2024-01-01T10:05:30.000000001Z");
        assert_eq!(ts("2024-01-01T10:05:30.000000001Z"), t);
        assert_eq!(
            Timestamp::ZERO.to_string(),
            "1970-01-01T00:00:00.000000000Z"
        );
        assert_eq!(Timestamp::MAX.to_string(), "9999-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn parses_any_rfc3339_form() {
        let base = ts("2024-01-01T10:05:00Z");
        assert_eq!(base.ms(), 1_704_103_500_000);
        assert_eq!(ts("2024-01-01t10:05:00z"), base);
        assert_eq!(ts("2024-01-01 10:05:00Z"), base);
        assert_eq!(ts("2024-01-01T12:05:00+02:00"), base);
        assert_eq!(ts("2024-01-01T05:35:00-04:30"), base);
        assert_eq!(ts("2024-01-01T10:05:00.5Z").ms(), base.ms() + 500);
        assert_eq!(ts("2024-01-01T10:05:00.123456789123Z").counter(), 456_789);
        assert_eq!(ts("2024-02-29T00:00:00Z").ms() % 86_400_000, 0);
        assert_eq!(ts("2016-12-31T23:59:60Z"), ts("2017-01-01T00:00:00Z"));
        assert_eq!(ts("1969-12-31T23:59:59Z"), Timestamp::ZERO);
        assert_eq!(ts("1970-01-01T00:00:00.000Z"), Timestamp::ZERO);
    }

    #[test]
    fn rejects_malformed_input_with_reason() {
        for bad in [
            "",
            "yesterday",
            "2024-01-01",
            "2024-01-01T10:05:00",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T10:05:00.Z",
            "2024-01-01T10:05:00Zjunk",
            "2024-01-01T10:05:00+2:00",
        ] {
            let err = Timestamp::parse(bad).unwrap_err().to_string();
            assert!(err.contains("RFC 3339"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn now_is_strictly_increasing_even_when_wall_clock_goes_back() {
        let mut clock = Clock::new();
        let a = clock.now(1_000);
        let b = clock.now(1_000);
        let c = clock.now(500);
        let d = clock.now(2_000);
        assert!(a < b && b < c && c < d, "{a} {b} {c} {d}");
        assert_eq!(b, Timestamp::new(1_000, 1));
        assert_eq!(d, Timestamp::new(2_000, 0));
    }

    #[test]
    fn counter_overflow_borrows_the_next_millisecond() {
        let mut clock = Clock::resume(Timestamp::new(7, MAX_COUNTER));
        assert_eq!(clock.now(0), Timestamp::new(8, 0));
    }

    #[test]
    fn observed_stamps_are_never_undercut() {
        let mut clock = Clock::new();
        let remote = Timestamp::new(10_000_000, 42);
        clock.observe(remote);
        assert!(clock.now(5) > remote);
        clock.observe(Timestamp::new(1, 0));
        assert!(clock.last() > remote);
    }

    #[test]
    fn admit_accepts_within_bound_and_restamps_far_future() {
        let wall = 1_700_000_000_000;
        let mut server = Clock::new();
        let near = Timestamp::new(wall + DEFAULT_MAX_DRIFT_MS, 5);
        assert_eq!(server.admit(near, wall), Admission::Accepted(near));
        let far = Timestamp::new(wall + 365 * 86_400_000, 0);
        match server.admit(far, wall) {
            Admission::Restamped { original, assigned } => {
                assert_eq!(original, far);
                assert!(assigned > near, "restamp still beats what was stored");
                assert!(assigned < far);
            }
            other => panic!("expected a restamp, got {other:?}"),
        }
        // The far-future stamp did not drag the clock forward.
        assert!(server.now(wall) < far);
    }
}
