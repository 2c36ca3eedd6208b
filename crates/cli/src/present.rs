//! How the CLI shows things to people: times in the local zone with how far off they are
//! (`--utc` for UTC), a status in colour on a terminal (never with `NO_COLOR`, `TERM=dumb`,
//! `--json` or a pipe), and times people type (`--from yesterday`).

use std::io::IsTerminal;
use std::sync::OnceLock;

use chrono::{DateTime, Duration, Local, NaiveDate, NaiveTime, TimeZone, Utc};

use crate::remote::{exit, Failure};

/// How output looks, set once by `main`.
#[derive(Debug, Clone, Copy)]
struct Style {
    utc: bool,
    colour: bool,
}

static STYLE: OnceLock<Style> = OnceLock::new();

/// Sets how output looks: UTC times or local ones; colour when stdout is a terminal and
/// nothing says otherwise.
pub fn init(utc: bool, json: bool) {
    let no_colour = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
        || std::env::var("TERM").is_ok_and(|t| t == "dumb");
    let _ = STYLE.set(Style {
        utc,
        colour: !json && !no_colour && std::io::stdout().is_terminal(),
    });
}

fn style() -> Style {
    *STYLE.get().unwrap_or(&Style {
        utc: true,
        colour: false,
    })
}

/// A time for people: `2026-12-02 14:05 (in 3h 55m)` in the local zone, or
/// `2026-12-02 13:05 UTC (in 3h 55m)` with `--utc`; how far off only within a week.
pub fn at(t: DateTime<Utc>) -> String {
    at_from(t, Utc::now(), style().utc)
}

fn at_from(t: DateTime<Utc>, now: DateTime<Utc>, utc: bool) -> String {
    let shown = if utc {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    } else {
        t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string()
    };
    let off = t - now;
    if off.num_days().abs() >= 7 {
        return shown;
    }
    let span = span(off.abs());
    if off.num_seconds() > 30 {
        format!("{shown} (in {span})")
    } else if off.num_seconds() < -30 {
        format!("{shown} ({span} ago)")
    } else {
        format!("{shown} (now)")
    }
}

/// `3d 4h`, `3h 55m`, `12m`, `40s`: the two largest units.
fn span(d: Duration) -> String {
    let (days, hours, minutes) = (d.num_days(), d.num_hours() % 24, d.num_minutes() % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{}s", d.num_seconds()),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// A status word, in colour on a terminal: green for access, yellow for waiting, red for no.
pub fn status(word: &str) -> String {
    if !style().colour {
        return word.to_string();
    }
    let code = match word {
        "active" | "approved" | "scheduled" => "32",
        "pending" | "applying" => "33",
        "denied" | "failed" | "revoked" | "expired" => "31",
        _ => return word.to_string(),
    };
    format!("\x1b[{code}m{word}\x1b[0m")
}

/// A time a person typed, as RFC 3339 for the API: RFC 3339 itself, a date (`2026-12-01`,
/// midnight local), `now`, `today`, `yesterday`, or an age (`2h`, `7d`, `30m`: that long ago).
pub fn when(flag: &str, text: &str) -> Result<String, Failure> {
    when_from(flag, text, Local::now())
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

fn when_from(flag: &str, text: &str, now: DateTime<Local>) -> Result<DateTime<Utc>, Failure> {
    let text = text.trim();
    let midnight = |d: NaiveDate| {
        Local
            .from_local_datetime(&d.and_time(NaiveTime::MIN))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    };
    let found = match text {
        "now" => Some(now.with_timezone(&Utc)),
        "today" => midnight(now.date_naive()),
        "yesterday" => now.date_naive().pred_opt().and_then(midnight),
        _ => DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc))
            .or_else(|| {
                NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .ok()
                    .and_then(midnight)
            })
            .or_else(|| {
                let (n, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
                let n: i64 = n.parse().ok()?;
                let ago = match unit {
                    "m" => Duration::try_minutes(n)?,
                    "h" => Duration::try_hours(n)?,
                    "d" => Duration::try_days(n)?,
                    "w" => Duration::try_weeks(n)?,
                    _ => return None,
                };
                Some(now.with_timezone(&Utc) - ago)
            }),
    };
    found.ok_or_else(|| Failure {
        code: exit::USAGE,
        message: format!(
            "{flag} {text:?}: write a time such as yesterday, today, 2h or 7d (that long ago), \
             2026-12-01, or 2026-12-01T09:00:00Z"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_say_how_far_off_they_are() {
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap();
        let at = |t| at_from(t, now, true);
        assert_eq!(
            at(now + Duration::minutes(235)),
            "2026-12-02 13:55 UTC (in 3h 55m)"
        );
        assert_eq!(
            at(now - Duration::minutes(12)),
            "2026-12-02 09:48 UTC (12m ago)"
        );
        assert_eq!(
            at(now + Duration::hours(50)),
            "2026-12-04 12:00 UTC (in 2d 2h)"
        );
        assert_eq!(at(now), "2026-12-02 10:00 UTC (now)");
        assert_eq!(at(now + Duration::days(30)), "2027-01-01 10:00 UTC");
        assert!(
            !at_from(now, now, false).contains("UTC"),
            "local by default"
        );
    }

    #[test]
    fn typed_times_are_read_as_people_write_them() {
        let now = Local.with_ymd_and_hms(2026, 12, 2, 15, 30, 0).unwrap();
        let read = |t: &str| when_from("--from", t, now).unwrap();
        assert_eq!(read("2h"), now.with_timezone(&Utc) - Duration::hours(2));
        assert_eq!(read("7d"), now.with_timezone(&Utc) - Duration::days(7));
        assert_eq!(read("now"), now.with_timezone(&Utc));
        let midnight = Local.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        assert_eq!(read("yesterday"), midnight.with_timezone(&Utc));
        assert_eq!(read("2026-12-01"), midnight.with_timezone(&Utc));
        assert_eq!(
            read("2026-12-01T09:00:00Z"),
            Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap()
        );
        let e = when_from("--from", "last tuesday", now).unwrap_err();
        assert_eq!(e.code, exit::USAGE);
        assert!(
            e.message.contains("--from \"last tuesday\""),
            "{}",
            e.message
        );
        assert!(when_from("--to", "5x", now).is_err());
    }
}
