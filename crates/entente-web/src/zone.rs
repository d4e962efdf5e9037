//! Times as each reader reads them: in the user's zone, with UTC beside, and deadlines typed
//! in a named zone turned into the UTC instant that is signed. It owns formatting and parsing
//! for pages; which zone a user has is the node's (user settings, the node's default).

use jiff::tz::TimeZone;

/// A time zone by IANA name, ready to format with.
#[derive(Debug, Clone)]
pub struct Zone {
    pub name: String,
    tz: TimeZone,
}

impl Default for Zone {
    fn default() -> Self {
        Zone {
            name: "UTC".into(),
            tz: TimeZone::UTC,
        }
    }
}

impl Zone {
    /// The zone named `name`, if the bundled IANA database knows it.
    pub fn named(name: &str) -> Option<Zone> {
        let tz = entente_node::zone::check(name).ok()?;
        Some(Zone {
            name: name.to_owned(),
            tz,
        })
    }

    pub fn is_utc(&self) -> bool {
        self.name == "UTC"
    }

    /// An RFC 3339 timestamp as this zone's reader reads it, to the minute, with UTC beside:
    /// `2026-12-05 00:34 JST (2026-12-04 15:34 UTC)`, or `2026-12-04 16:34 CET (15:34 UTC)`
    /// when the day is the same; `2026-12-04 15:34 UTC` for a reader in UTC. Anything that is
    /// not a timestamp (a date) is shown unchanged.
    pub fn show(&self, raw: &str) -> String {
        let Ok(ts) = raw.parse::<jiff::Timestamp>() else {
            return raw.to_owned();
        };
        let utc_day = ts.strftime("%Y-%m-%d").to_string();
        let utc_time = ts.strftime("%H:%M UTC").to_string();
        if self.is_utc() {
            return format!("{utc_day} {utc_time}");
        }
        let local = ts.to_zoned_datetime(self.tz.clone());
        let local_day = local.strftime("%Y-%m-%d").to_string();
        let local_time = local.strftime("%H:%M %Z").to_string();
        if local_day == utc_day {
            format!("{local_day} {local_time} ({utc_time})")
        } else {
            format!("{local_day} {local_time} ({utc_day} {utc_time})")
        }
    }

    /// The same instant in this zone alone, for a list of members' local times:
    /// `2026-12-10 01:00 JST`.
    pub fn local(&self, raw: &str) -> Option<String> {
        let ts = raw.parse::<jiff::Timestamp>().ok()?;
        Some(
            ts.to_zoned_datetime(self.tz.clone())
                .strftime("%Y-%m-%d %H:%M %Z")
                .to_string(),
        )
    }

    /// A wall-clock time typed in this zone (`2026-12-09T17:00` from a `datetime-local`
    /// input, or `2026-12-09 17:00`) as the RFC 3339 UTC instant it names. A date alone is
    /// refused: a deadline needs its time of day, never a silent end of day. In a gap of a
    /// daylight-saving change the later instant is taken; in an overlap, the earlier.
    pub fn parse_local(&self, typed: &str) -> Result<String, String> {
        let typed = typed.trim().replacen(' ', "T", 1);
        // jiff reads a bare date as its midnight; a deadline must say its hour.
        if !typed.contains('T') {
            return Err(if typed.parse::<jiff::civil::Date>().is_ok() {
                "give the time of day as well as the date".to_owned()
            } else {
                "give a date and time such as 2026-12-09 17:00".to_owned()
            });
        }
        let dt: jiff::civil::DateTime = typed
            .parse()
            .map_err(|_| "give a date and time such as 2026-12-09 17:00".to_owned())?;
        let zoned = dt
            .to_zoned_datetime(self.tz.clone())
            .map_err(|_| "that time does not exist in this zone".to_owned())?;
        Ok(entente_node::clock::rfc3339(
            time::OffsetDateTime::from_unix_timestamp(zoned.timestamp().as_second())
                .map_err(|_| "that time is out of range".to_owned())?,
        ))
    }
}

/// The zones offered first in a zone field: the user's own, UTC and the partners' seats.
pub fn common_zones(own: &str) -> Vec<String> {
    let mut v = vec![own.to_owned()];
    for z in [
        "UTC",
        "Europe/Brussels",
        "Europe/London",
        "America/New_York",
        "Asia/Tokyo",
        "Asia/Seoul",
        "Australia/Sydney",
        "Pacific/Auckland",
    ] {
        if !v.iter().any(|x| x == z) {
            v.push(z.to_owned());
        }
    }
    v
}

/// Every zone name of the bundled database, sorted, for the settings page's suggestions.
pub fn all_zones() -> Vec<String> {
    let mut v: Vec<String> = jiff::tz::db()
        .available()
        .map(|n| n.to_string())
        .filter(|n| n.contains('/') || n == "UTC")
        .collect();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::Zone;

    #[test]
    fn a_time_reads_in_the_users_zone_with_utc_beside() {
        let tokyo = Zone::named("Asia/Tokyo").unwrap();
        let brussels = Zone::named("Europe/Brussels").unwrap();
        let t = "2026-12-04T15:34:37.832Z";
        assert_eq!(Zone::default().show(t), "2026-12-04 15:34 UTC");
        assert_eq!(tokyo.show(t), "2026-12-05 00:34 JST (2026-12-04 15:34 UTC)");
        assert_eq!(brussels.show(t), "2026-12-04 16:34 CET (15:34 UTC)");
        // Summer time where the zone has it.
        assert_eq!(
            brussels.show("2026-07-01T10:00:00Z"),
            "2026-07-01 12:00 CEST (10:00 UTC)"
        );
        assert_eq!(tokyo.show("2026-12-09"), "2026-12-09");
        assert!(Zone::named("Mars/Olympus").is_none());
    }

    #[test]
    fn a_deadline_typed_in_a_zone_is_that_instant_in_utc() {
        let tokyo = Zone::named("Asia/Tokyo").unwrap();
        let brussels = Zone::named("Europe/Brussels").unwrap();
        assert_eq!(
            tokyo.parse_local("2026-12-10T01:00").unwrap(),
            "2026-12-09T16:00:00.000Z"
        );
        assert_eq!(
            brussels.parse_local("2026-12-09 17:00").unwrap(),
            "2026-12-09T16:00:00.000Z"
        );
        assert_eq!(
            Zone::default().parse_local("2026-12-09T17:00").unwrap(),
            "2026-12-09T17:00:00.000Z"
        );
        // A date alone is refused, never read as the end of a UTC day.
        let e = brussels.parse_local("2026-12-09").unwrap_err();
        assert!(e.contains("time of day"), "{e}");
        assert!(brussels.parse_local("soon").is_err());
        assert_eq!(
            tokyo.local("2026-12-09T16:00:00Z").unwrap(),
            "2026-12-10 01:00 JST"
        );
    }

    #[test]
    fn the_zones_offered_start_with_the_users_own_once() {
        let v = super::common_zones("UTC");
        assert_eq!(v[0], "UTC");
        assert_eq!(v.iter().filter(|z| *z == "UTC").count(), 1);
        let v = super::common_zones("Asia/Tokyo");
        assert_eq!(&v[..2], ["Asia/Tokyo", "UTC"]);
        assert_eq!(v.iter().filter(|z| *z == "Asia/Tokyo").count(), 1);
        assert!(super::all_zones().iter().any(|z| z == "Pacific/Auckland"));
    }
}
