//! Calendar arithmetic shared by every date format (RFC 5322 §3.3 headers, the mbox From_
//! line, IMAP `date-time` and SEARCH dates), and RFC 5322 §3.3 `date-time` formatting from
//! unix seconds, always in UTC (`+0000`), for the `Received:` trace header (RFC 5321 §4.4).
//! No clock is read here: the caller passes the time.

/// Day names, index 0 = Thursday 1970-01-01 (RFC 5322 §3.3 `day-name`).
pub const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
/// Month names (RFC 5322 §3.3 `month`).
pub const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const SECS_PER_DAY: u64 = 86_400;

/// RFC 5322 §3.3 `date-time`: `day-name "," day month year hour ":" minute ":" second zone`,
/// e.g. `Fri, 27 Nov 2026 07:13:39 +0000`.
pub fn rfc5322(unix_secs: u64) -> String {
    let days = unix_secs / SECS_PER_DAY;
    let secs = unix_secs % SECS_PER_DAY;
    let (year, month, day) = civil_from_days(days as i64);
    let day_name = DAYS.get((days % 7) as usize).copied().unwrap_or("Thu");
    let month_name = MONTHS.get(month.saturating_sub(1) as usize).copied().unwrap_or("Jan");
    format!(
        "{day_name}, {day} {month_name} {year:04} {:02}:{:02}:{:02} +0000",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 (negative before) to (year, month 1-12, day 1-31) in the proleptic
/// Gregorian calendar (Howard Hinnant's `civil_from_days`, eras of 400 years = 146097 days).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// (year, month 1-12, day) to days since 1970-01-01 (the inverse of [`civil_from_days`]).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_before_and_after_the_epoch() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert!((1..=12).contains(&m) && (1..=31).contains(&d), "{days}");
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn epoch() {
        assert_eq!(rfc5322(0), "Thu, 1 Jan 1970 00:00:00 +0000");
    }

    #[test]
    fn known_dates() {
        // `date -u -d @1795763619`
        assert_eq!(rfc5322(1_795_763_619), "Fri, 27 Nov 2026 07:13:39 +0000");
        assert_eq!(rfc5322(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(rfc5322(4_133_980_799), "Fri, 31 Dec 2100 23:59:59 +0000");
    }

    #[test]
    fn huge_input_does_not_panic() {
        let _ = rfc5322(u64::MAX);
    }
}
