//! Time as a dependency: nodes take a clock so tests can inject one.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;

    /// RFC 3339 UTC with millisecond precision: fixed width, so text order is time order.
    fn now_rfc3339(&self) -> String {
        rfc3339(self.now())
    }
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let t = t
        .replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap_or(t);
    let s = t.format(&Rfc3339).unwrap_or_default();
    // Rfc3339 drops trailing zero fractions; pad so every timestamp has the same width.
    match s.find('.') {
        Some(dot) => {
            let frac_end = s.len() - 1; // before the 'Z'
            let digits = frac_end - dot - 1;
            format!(
                "{}{}Z",
                &s[..frac_end],
                "0".repeat(3usize.saturating_sub(digits))
            )
        }
        None => format!("{}.000Z", &s[..s.len() - 1]),
    }
}

pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_width() {
        let t = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        assert_eq!(rfc3339(t), "2027-01-15T08:00:00.000Z");
        let t = t + time::Duration::milliseconds(50);
        assert_eq!(rfc3339(t), "2027-01-15T08:00:00.050Z");
    }
}

/// A clock tests set by hand (the silence procedure, deadlines), shared by the nodes that use it.
#[derive(Debug, Clone)]
pub struct ManualClock(std::sync::Arc<std::sync::Mutex<OffsetDateTime>>);

impl ManualClock {
    pub fn new(start: OffsetDateTime) -> ManualClock {
        ManualClock(std::sync::Arc::new(std::sync::Mutex::new(start)))
    }

    pub fn set(&self, t: OffsetDateTime) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }

    pub fn advance(&self, d: time::Duration) {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *g += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
