//! ISO 8601 date-times for Open311 (`2026-11-27T10:00:00+00:00`) without a date crate:
//! the civil-from-days algorithm (Howard Hinnant's), in UTC.

use plaza_core::model::Timestamp;

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `2026-11-27T10:00:00+00:00`.
pub fn format(t: Timestamp) -> String {
    let secs = t.0.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+00:00", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS[.fff]]` with `Z`, `±HH:MM`, `±HHMM` or no
/// zone (UTC). None if it is not such a date.
pub fn parse(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    let num = |a: usize, b: usize| -> Option<i64> {
        let part = s.get(a..b)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    if s.get(4..5)? != "-" || s.get(7..8)? != "-" || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = days_from_civil(y, mo, d) * 86_400;
    if s.len() == 10 {
        return Some(Timestamp(secs * 1000));
    }
    if !matches!(s.get(10..11)?, "T" | "t" | " ") {
        return None;
    }
    let (h, mi) = (num(11, 13)?, num(14, 16)?);
    if s.get(13..14)? != ":" || h > 23 || mi > 59 {
        return None;
    }
    let mut rest = &s[16..];
    let mut sec = 0;
    if let Some(r) = rest.strip_prefix(':') {
        let digits: String = r.chars().take_while(char::is_ascii_digit).collect();
        if digits.len() != 2 {
            return None;
        }
        sec = digits.parse::<i64>().ok().filter(|v| *v <= 60)?;
        rest = &r[2..];
        if let Some(f) = rest.strip_prefix('.') {
            let n = f.chars().take_while(char::is_ascii_digit).count();
            if n == 0 {
                return None;
            }
            rest = &f[n..];
        }
    }
    secs += h * 3600 + mi * 60 + sec;
    let offset = match rest {
        "" | "Z" | "z" => 0,
        z => {
            let sign = match z.get(0..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let z = z[1..].replace(':', "");
            if z.len() != 4 || !z.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let (oh, om): (i64, i64) = (z[..2].parse().ok()?, z[2..].parse().ok()?);
            sign * (oh * 3600 + om * 60)
        }
    };
    Some(Timestamp((secs - offset) * 1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_zones() {
        let t = parse("2026-11-27T10:11:12Z").expect("parse");
        assert_eq!(format(t), "2026-11-27T10:11:12+00:00");
        assert_eq!(parse("2026-11-27T11:11:12+01:00"), Some(t));
        assert_eq!(parse("2026-11-27T02:11:12-0800"), Some(t));
        assert_eq!(parse("2026-11-27T10:11:12.345Z"), Some(t));
        assert_eq!(format(parse("2010-04-14").expect("date")), "2010-04-14T00:00:00+00:00");
        assert_eq!(format(Timestamp(0)), "1970-01-01T00:00:00+00:00");
        for bad in ["", "yesterday", "2026-13-01", "2026-11-27T25:00:00Z", "2026-11-27T10:00:00+1", "2026/11/27"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
