//! Date functions (Microsoft's "Date functions for ARM templates").

use super::kinds::{ANY, I, S};
use super::Family::Date as F;
use super::{def, int_at, str_at, FunctionDef, Imp};
use crate::armexpr::eval::Evaluator;
use crate::armexpr::Error;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

#[rustfmt::skip]
pub(super) const DEFS: &[FunctionDef] = &[
    def(F, "dateTimeAdd", (2, 3), &[S, S, S], ANY, Imp::Eager(date_time_add), "adds an ISO 8601 duration (`P3Y`, `-P9D`, `PT1H`)"),
    def(F, "dateTimeFromEpoch", (1, 1), &[I], ANY, Imp::Eager(date_time_from_epoch), "ISO 8601 text of Unix seconds"),
    def(F, "dateTimeToEpoch", (1, 1), &[S], ANY, Imp::Eager(date_time_to_epoch), "Unix seconds of ISO 8601 text"),
    def(F, "utcNow", (0, 1), &[S], ANY, Imp::Eager(utc_now), "the deployment time, only in a parameter's defaultValue"),
];

fn utc_now(ev: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let now = ev
        .ctx
        .utc_now()
        .ok_or_else(|| Error::func("utcNow", "may only be used in a parameter's defaultValue"))?;
    let fmt = if args.is_empty() {
        "yyyyMMddTHHmmssZ"
    } else {
        str_at(&args, 0)
    };
    utc_format("utcNow", now, fmt).map(Value::String)
}

fn date_time_from_epoch(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let secs = int_at(&args, 0);
    let t = OffsetDateTime::from_unix_timestamp(secs).map_err(|_| {
        Error::func(
            "dateTimeFromEpoch",
            format!("{secs} is outside the supported range"),
        )
    })?;
    t.format(&Rfc3339)
        .map(Value::String)
        .map_err(|e| Error::func("dateTimeFromEpoch", e.to_string()))
}

fn date_time_to_epoch(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let text = str_at(&args, 0);
    parse_time(text)
        .map(|t| Value::from(t.unix_timestamp()))
        .ok_or_else(|| {
            Error::func(
                "dateTimeToEpoch",
                format!("'{text}' is not an ISO 8601 date and time like '2023-05-02T15:16:13Z'"),
            )
        })
}

/// ISO 8601 as templates write it: RFC 3339, or with a space for the `T` (`utcNow('u')` gives that form).
fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok().or_else(|| {
        let t = text.replacen(' ', "T", 1);
        OffsetDateTime::parse(&t, &Rfc3339).ok()
    })
}

/// `dateTimeAdd(base, duration, [format])`. Without a format the result is written as ARM writes it,
/// .NET's invariant general format (`4/7/2023 2:53:14 PM`, Microsoft's documented example).
fn date_time_add(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let base_text = str_at(&args, 0);
    let base = parse_time(base_text).ok_or_else(|| {
        Error::func(
            "dateTimeAdd",
            format!("'{base_text}' is not an ISO 8601 date and time like '2020-04-07T14:53:14Z'"),
        )
    })?;
    let duration = str_at(&args, 1);
    let t = add_duration(base, duration).ok_or_else(|| {
        Error::func(
            "dateTimeAdd",
            format!("'{duration}' is not an ISO 8601 duration like 'P3Y', '-P9D' or 'PT1H30M'"),
        )
    })?;
    let fmt = if args.len() > 2 {
        str_at(&args, 2)
    } else {
        "M/d/yyyy h:mm:ss tt"
    };
    utc_format("dateTimeAdd", t, fmt).map(Value::String)
}

/// Add an ISO 8601 duration: years and months move the calendar (the day clamped to the month's end), the
/// rest adds time.
fn add_duration(base: OffsetDateTime, text: &str) -> Option<OffsetDateTime> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let rest = rest.strip_prefix('P')?;
    let (date_part, time_part) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let sign = if negative { -1 } else { 1 };
    let (mut months, mut seconds) = (0i64, 0i64);
    let mut any = false;
    for (part, is_time) in [(date_part, false), (time_part.unwrap_or(""), true)] {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let n: i64 = number.parse().ok()?;
            number.clear();
            any = true;
            match (is_time, c) {
                (false, 'Y') => months = months.checked_add(n.checked_mul(12)?)?,
                (false, 'M') => months = months.checked_add(n)?,
                (false, 'W') => seconds = seconds.checked_add(n.checked_mul(7 * 86_400)?)?,
                (false, 'D') => seconds = seconds.checked_add(n.checked_mul(86_400)?)?,
                (true, 'H') => seconds = seconds.checked_add(n.checked_mul(3_600)?)?,
                (true, 'M') => seconds = seconds.checked_add(n.checked_mul(60)?)?,
                (true, 'S') => seconds = seconds.checked_add(n)?,
                _ => return None,
            }
        }
        if !number.is_empty() {
            return None;
        }
    }
    if !any || time_part == Some("") {
        return None;
    }
    let t = add_months(base, sign * months)?;
    t.checked_add(time::Duration::seconds(sign * seconds))
}

fn add_months(t: OffsetDateTime, months: i64) -> Option<OffsetDateTime> {
    if months == 0 {
        return Some(t);
    }
    let total = i64::from(t.year()) * 12 + i64::from(u8::from(t.month())) - 1 + months;
    let year = i32::try_from(total.div_euclid(12)).ok()?;
    let month = time::Month::try_from(u8::try_from(total.rem_euclid(12) + 1).ok()?).ok()?;
    let day = t.day().min(month.length(year));
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    Some(t.replace_date(date))
}

/// Format a time with a .NET pattern: the standard `u`, `s`, `d` and `G` formats, and custom
/// patterns of `yyyy yy MM M dd d HH H hh h mm m ss s tt` (other letters are copied, as .NET does). A
/// specifier trustprint does not write (`dddd`, `fff`, `zzz`, ...) is an error naming it.
pub(super) fn utc_format(f: &str, now: OffsetDateTime, fmt: &str) -> Result<String, Error> {
    let pattern = match fmt {
        "u" => "yyyy-MM-dd HH:mm:ssZ",
        "s" => "yyyy-MM-ddTHH:mm:ss",
        "d" => "M/d/yyyy",
        "G" => "M/d/yyyy h:mm:ss tt",
        other => other,
    };
    let unsupported = || Error::func(f, format!("format '{fmt}' is not supported"));
    let chars: Vec<char> = pattern.chars().collect();
    let hour12 = match now.hour() % 12 {
        0 => 12,
        h => h,
    };
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        let value = match (c, run) {
            ('y', 4) => format!("{:04}", now.year()),
            ('y', 2) => format!("{:02}", now.year().rem_euclid(100)),
            ('M', 2) => format!("{:02}", u8::from(now.month())),
            ('M', 1) => u8::from(now.month()).to_string(),
            ('d', 2) => format!("{:02}", now.day()),
            ('d', 1) => now.day().to_string(),
            ('H', 2) => format!("{:02}", now.hour()),
            ('H', 1) => now.hour().to_string(),
            ('h', 2) => format!("{hour12:02}"),
            ('h', 1) => hour12.to_string(),
            ('m', 2) => format!("{:02}", now.minute()),
            ('m', 1) => now.minute().to_string(),
            ('s', 2) => format!("{:02}", now.second()),
            ('s', 1) => now.second().to_string(),
            ('t', 2) => (if now.hour() < 12 { "AM" } else { "PM" }).to_string(),
            (c, _) if "dfFghHKmMsStyz".contains(c) => return Err(unsupported()),
            (c, n) => c.to_string().repeat(n),
        };
        out.push_str(&value);
        i += run;
    }
    Ok(out)
}
