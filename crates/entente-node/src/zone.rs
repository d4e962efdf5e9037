//! Time zones by IANA name (`Asia/Tokyo`), for display only: what is stored and signed stays
//! UTC (RFC 3339). It owns checking a name; formatting belongs to the UI.

use entente_domain::DomainError;

/// The zone named `name` from the bundled IANA database (the same on every machine, with or
/// without the system's tzdata), or a field error naming what was asked for.
pub fn check(name: &str) -> Result<jiff::tz::TimeZone, DomainError> {
    if name.is_empty() || name.len() > 64 {
        return Err(DomainError::invalid(
            "time_zone",
            "give an IANA time zone such as Europe/Brussels or Asia/Tokyo",
        ));
    }
    jiff::tz::TimeZone::get(name).map_err(|_| {
        DomainError::invalid(
            "time_zone",
            format!("unknown time zone {name:?}; give an IANA name such as Europe/Brussels"),
        )
    })
}

/// The usual seat of a partner's staff, for showing a deadline in each member's local time.
/// A partner not listed here is shown in UTC only; this is display, never policy.
pub fn seat(partner: &str) -> Option<&'static str> {
    Some(match partner {
        "EU" | "NATO" | "BEL" => "Europe/Brussels",
        "JPN" => "Asia/Tokyo",
        "KOR" => "Asia/Seoul",
        "AUS" => "Australia/Sydney",
        "NZL" => "Pacific/Auckland",
        "USA" => "America/New_York",
        "CAN" => "America/Toronto",
        "GBR" => "Europe/London",
        "FRA" => "Europe/Paris",
        "DEU" => "Europe/Berlin",
        "ITA" => "Europe/Rome",
        "ESP" => "Europe/Madrid",
        "NLD" => "Europe/Amsterdam",
        "POL" => "Europe/Warsaw",
        "EST" => "Europe/Tallinn",
        "FIN" => "Europe/Helsinki",
        "SWE" => "Europe/Stockholm",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn iana_names_are_known_and_others_refused() {
        assert!(super::check("Asia/Tokyo").is_ok());
        assert!(super::check("UTC").is_ok());
        assert!(super::check("Europe/Brussels").is_ok());
        for bad in ["", "Mars/Olympus", "../etc/passwd", "JST+9"] {
            assert!(super::check(bad).is_err(), "{bad}");
        }
        // Every seat is a zone the bundled database knows.
        for p in [
            "EU", "NATO", "JPN", "KOR", "AUS", "NZL", "USA", "CAN", "GBR", "FRA",
        ] {
            assert!(super::check(super::seat(p).unwrap()).is_ok(), "{p}");
        }
    }
}
