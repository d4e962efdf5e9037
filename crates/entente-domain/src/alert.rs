//! Crisis alerts: raised by one partner to an audience; each recipient node appends a signed
//! delivery receipt automatically and a signed human acknowledgement when an officer
//! acknowledges. Pure: the status of each partner is computed for a given time.

use crate::{Audience, DomainError, PartnerCode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRaise {
    pub alert_id: String,
    pub format_id: String,
    pub severity: Severity,
    pub title: String,
    pub text: String,
    /// RFC 3339: acknowledgements are due by then.
    pub ack_deadline: String,
    pub author: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertReceipt {
    pub alert_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertAck {
    pub alert_id: String,
    /// `name@PARTNER` of the officer who acknowledged.
    pub by: String,
    #[serde(default)]
    pub note: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AckRecord {
    pub by: String,
    pub at: String,
    pub note: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertState {
    pub alert_id: String,
    pub format_id: String,
    pub origin: PartnerCode,
    pub audience: Audience,
    pub severity: Severity,
    pub title: String,
    pub text: String,
    pub raised_at: String,
    pub ack_deadline: String,
    pub receipts: BTreeMap<PartnerCode, String>,
    pub acks: BTreeMap<PartnerCode, AckRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientStatus {
    /// Not yet confirmed delivered.
    Sent,
    Delivered,
    Acknowledged,
    /// Past the deadline without an acknowledgement.
    Overdue,
}

impl AlertState {
    pub fn from_raise(
        r: &AlertRaise,
        origin: &PartnerCode,
        audience: &Audience,
        at: &str,
    ) -> AlertState {
        AlertState {
            alert_id: r.alert_id.clone(),
            format_id: r.format_id.clone(),
            origin: origin.clone(),
            audience: audience.clone(),
            severity: r.severity,
            title: r.title.clone(),
            text: r.text.clone(),
            raised_at: at.to_owned(),
            ack_deadline: r.ack_deadline.clone(),
            receipts: BTreeMap::new(),
            acks: BTreeMap::new(),
        }
    }

    /// The recipients: the audience without the origin.
    pub fn recipients(&self) -> impl Iterator<Item = &PartnerCode> {
        self.audience.iter().filter(move |p| *p != &self.origin)
    }

    pub fn status_of(&self, p: &PartnerCode, now: &str) -> RecipientStatus {
        if self.acks.contains_key(p) {
            RecipientStatus::Acknowledged
        } else if now > self.ack_deadline.as_str() {
            RecipientStatus::Overdue
        } else if self.receipts.contains_key(p) {
            RecipientStatus::Delivered
        } else {
            RecipientStatus::Sent
        }
    }

    pub fn board(&self, now: &str) -> BTreeMap<PartnerCode, RecipientStatus> {
        self.recipients()
            .map(|p| (p.clone(), self.status_of(p, now)))
            .collect()
    }

    pub fn overdue(&self, now: &str) -> Vec<PartnerCode> {
        self.recipients()
            .filter(|p| self.status_of(p, now) == RecipientStatus::Overdue)
            .cloned()
            .collect()
    }
}

pub fn validate_raise(r: &mut AlertRaise, now: &str) -> Result<(), DomainError> {
    r.title = r.title.trim().to_owned();
    if r.title.is_empty() || r.title.len() > 300 {
        return Err(DomainError::invalid(
            "title",
            "a title of 1 to 300 characters is required",
        ));
    }
    if r.text.len() > 20_000 {
        return Err(DomainError::invalid("text", "at most 20,000 bytes"));
    }
    if !crate::stix::is_timestamp(&r.ack_deadline) {
        return Err(DomainError::invalid(
            "ack_deadline",
            "an RFC 3339 UTC timestamp",
        ));
    }
    if r.ack_deadline.as_str() <= now {
        return Err(DomainError::invalid(
            "ack_deadline",
            "must be in the future",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partner::code;

    #[test]
    fn board() {
        let aud = Audience::new([code("EU"), code("NATO"), code("JPN")]).unwrap();
        let r = AlertRaise {
            alert_id: "a".into(),
            format_id: "f".into(),
            severity: Severity::High,
            title: "t".into(),
            text: String::new(),
            ack_deadline: "2026-11-27T10:00:00.000Z".into(),
            author: "x@NATO".into(),
        };
        let mut s = AlertState::from_raise(&r, &code("NATO"), &aud, "2026-11-27T09:00:00.000Z");
        s.receipts
            .insert(code("JPN"), "2026-11-27T09:00:00.100Z".into());
        s.acks.insert(
            code("JPN"),
            AckRecord {
                by: "k@JPN".into(),
                at: "2026-11-27T09:05:00.000Z".into(),
                note: String::new(),
            },
        );
        s.receipts
            .insert(code("EU"), "2026-11-27T09:00:00.100Z".into());
        let before = s.board("2026-11-27T09:30:00.000Z");
        assert_eq!(before[&code("JPN")], RecipientStatus::Acknowledged);
        assert_eq!(before[&code("EU")], RecipientStatus::Delivered);
        assert!(!before.contains_key(&code("NATO")));
        assert_eq!(s.overdue("2026-11-27T10:00:01.000Z"), vec![code("EU")]);
    }
}
