//! Europe/London civil time, tariff slots and day boundaries.
//!
//! Agile prices are published per UK day, and "today"/"tomorrow" must follow BST/GMT
//! (the ancestor split days at UTC midnight, an hour off all summer). The UK rule has been
//! fixed since 1996 (EU directive, kept after 2020): BST from 01:00 UTC on the last Sunday
//! of March to 01:00 UTC on the last Sunday of October. Forty lines of calendar arithmetic
//! replace a time-zone database crate that would add hundreds of KB to the embedded binary.

/// Seconds in one tariff slot.
pub const SLOT_S: u64 = 1800;

/// Start of the 30-minute slot containing `t_s` (UTC seconds).
pub fn slot_start_s(t_s: u64) -> u64 {
    t_s - t_s % SLOT_S
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month, day) of a day number since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// UTC seconds of 01:00 UTC on the last Sunday of `month` in `year` (a UK change moment).
fn last_sunday_0100_utc(year: i64, month: u32) -> i64 {
    let next_month_first = if month == 12 {
        days_from_civil(year + 1, 1, 1)
    } else {
        days_from_civil(year, month + 1, 1)
    };
    let last_day = next_month_first - 1;
    // 1970-01-01 was a Thursday; weekday 0 = Sunday.
    let weekday = (last_day + 4).rem_euclid(7);
    (last_day - weekday) * 86_400 + 3_600
}

/// The UK offset from UTC at `utc_s`, in seconds: 3600 during BST, 0 during GMT.
pub fn uk_offset_s(utc_s: i64) -> i64 {
    let (year, _, _) = civil_from_days(utc_s.div_euclid(86_400));
    let bst_start = last_sunday_0100_utc(year, 3);
    let bst_end = last_sunday_0100_utc(year, 10);
    if utc_s >= bst_start && utc_s < bst_end {
        3_600
    } else {
        0
    }
}

/// The UTC start and end (exclusive) of the Europe/London day containing `utc_s`. A day is
/// 23 hours long in March and 25 hours in October.
pub fn uk_day_bounds(utc_s: u64) -> (u64, u64) {
    let t = utc_s as i64;
    let local_day = (t + uk_offset_s(t)).div_euclid(86_400);
    (
        uk_midnight_utc(local_day) as u64,
        uk_midnight_utc(local_day + 1) as u64,
    )
}

/// UTC seconds of local midnight of the UK day number `local_day`. UK changes happen at
/// 01:00/02:00 local, never at midnight, so the offset an hour before midnight UTC is right.
fn uk_midnight_utc(local_day: i64) -> i64 {
    let guess = local_day * 86_400;
    guess - uk_offset_s(guess - 3_600)
}

/// Local UK wall-clock time of `utc_s`: (year, month, day, hour, minute).
pub fn uk_local(utc_s: u64) -> (i64, u32, u32, u32, u32) {
    let t = utc_s as i64;
    let local = t + uk_offset_s(t);
    let (y, m, d) = civil_from_days(local.div_euclid(86_400));
    let secs = local.rem_euclid(86_400);
    (y, m, d, (secs / 3_600) as u32, ((secs % 3_600) / 60) as u32)
}

/// `HH:MM` in UK local time, for pages and logs.
pub fn uk_hhmm(utc_s: u64) -> String {
    let (_, _, _, h, m) = uk_local(utc_s);
    format!("{h:02}:{m:02}")
}

/// RFC 3339 UTC text (`2026-03-29T01:00:00Z`) for API answers.
pub fn rfc3339(utc_s: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(utc_s))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i64, mo: u32, d: u32, h: u64, mi: u64) -> u64 {
        days_from_civil(y, mo, d) as u64 * 86_400 + h * 3_600 + mi * 60
    }

    #[test]
    fn civil_round_trip() {
        for days in [-1000, 0, 1, 59, 365, 10_957, 20_000, 30_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2026, 3, 29), 20_541);
    }

    #[test]
    fn bst_changes_at_one_utc_on_last_sundays() {
        // 2026: BST starts Sunday 29 March, ends Sunday 25 October.
        assert_eq!(uk_offset_s(utc(2026, 3, 29, 0, 59) as i64), 0);
        assert_eq!(uk_offset_s(utc(2026, 3, 29, 1, 0) as i64), 3_600);
        assert_eq!(uk_offset_s(utc(2026, 10, 25, 0, 59) as i64), 3_600);
        assert_eq!(uk_offset_s(utc(2026, 10, 25, 1, 0) as i64), 0);
        assert_eq!(uk_offset_s(utc(2026, 7, 1, 12, 0) as i64), 3_600);
        assert_eq!(uk_offset_s(utc(2026, 12, 1, 12, 0) as i64), 0);
    }

    #[test]
    fn change_days_are_23_and_25_hours() {
        let (start, end) = uk_day_bounds(utc(2026, 3, 29, 12, 0));
        assert_eq!(start, utc(2026, 3, 29, 0, 0));
        assert_eq!(end - start, 23 * 3_600);
        let (start, end) = uk_day_bounds(utc(2026, 10, 25, 12, 0));
        assert_eq!(start, utc(2026, 10, 24, 23, 0));
        assert_eq!(end - start, 25 * 3_600);
        // 23:30 UTC in summer is already tomorrow in London.
        let (start, _) = uk_day_bounds(utc(2026, 7, 1, 23, 30));
        assert_eq!(start, utc(2026, 7, 1, 23, 0));
        // Winter days are UTC days.
        assert_eq!(
            uk_day_bounds(utc(2026, 12, 1, 0, 0)),
            (utc(2026, 12, 1, 0, 0), utc(2026, 12, 2, 0, 0))
        );
    }

    #[test]
    fn local_time_and_slots() {
        assert_eq!(uk_local(utc(2026, 7, 1, 15, 0)), (2026, 7, 1, 16, 0));
        assert_eq!(uk_hhmm(utc(2026, 1, 1, 15, 30)), "15:30");
        assert_eq!(
            slot_start_s(utc(2026, 1, 1, 15, 44)),
            utc(2026, 1, 1, 15, 30)
        );
        assert_eq!(rfc3339(utc(2026, 3, 29, 1, 0)), "2026-03-29T01:00:00Z");
    }
}
