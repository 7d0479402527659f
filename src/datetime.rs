//! RFC 5322 §3.3 `date-time` formatting from unix seconds, always in UTC (`+0000`), for the
//! `Received:` trace header (RFC 5321 §4.4). No clock is read here: the caller passes the time.

/// Day names, index 0 = Thursday 1970-01-01 (RFC 5322 §3.3 `day-name`).
const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
/// Month names (RFC 5322 §3.3 `month`).
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const SECS_PER_DAY: u64 = 86_400;

/// RFC 5322 §3.3 `date-time`: `day-name "," day month year hour ":" minute ":" second zone`,
/// e.g. `Fri, 27 Nov 2026 07:13:39 +0000`.
pub fn rfc5322(unix_secs: u64) -> String {
    let days = unix_secs / SECS_PER_DAY;
    let secs = unix_secs % SECS_PER_DAY;
    let (year, month, day) = civil_from_days(days);
    let day_name = DAYS.get((days % 7) as usize).copied().unwrap_or("Thu");
    let month_name = MONTHS.get(month.saturating_sub(1) as usize).copied().unwrap_or("Jan");
    format!(
        "{day_name}, {day} {month_name} {year:04} {:02}:{:02}:{:02} +0000",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`, eras of 400 years = 146097 days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

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
