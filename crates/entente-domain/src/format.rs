//! Formats: issue-based minilateral dialogue formats, folded from signed entries.

use crate::payload::{FormatCharter, FormatClose, FormatJoin, FormatLeave};
use crate::{DomainError, PartnerCode, taxonomy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FormatState {
    pub format_id: String,
    pub title: String,
    pub description: String,
    pub topics: Vec<String>,
    pub members: BTreeSet<PartnerCode>,
    pub convener: PartnerCode,
    pub closed: bool,
    pub created_at: String,
    pub updated_at: String,
    /// See [`FormatCharter::stix_default_releasable_to`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stix_default_releasable_to: Option<Vec<PartnerCode>>,
    /// Partners that have left, by their own leave or the convener's relay of it. Departures
    /// are final: the members are everyone admitted minus everyone departed, whatever order
    /// the entries arrive in, so every node holding the same entries sees the same members
    /// (a join signed before the convener heard of a leave lists the leaver, and must not bring
    /// it back).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub departed: BTreeSet<PartnerCode>,
    /// Departures the convener has relayed to the members: a partner admitted while a leave
    /// was on its way is not in that leave's audience and learns of it only from the relay.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub relayed: BTreeSet<PartnerCode>,
}

impl FormatState {
    /// The releasable-to list for a STIX object posted without a releasability marking: the
    /// format's default, narrowed to its current members (a partner that left no longer
    /// receives new objects).
    pub fn stix_default(&self) -> Option<Vec<PartnerCode>> {
        self.stix_default_releasable_to.as_ref().map(|d| {
            d.iter()
                .filter(|p| self.members.contains(*p))
                .cloned()
                .collect()
        })
    }

    pub fn from_charter(c: &FormatCharter, at: &str) -> FormatState {
        FormatState {
            format_id: c.format_id.clone(),
            title: c.title.clone(),
            description: c.description.clone(),
            topics: c.topics.clone(),
            members: c.members.iter().cloned().collect(),
            convener: c.convener.clone(),
            closed: false,
            created_at: at.to_owned(),
            updated_at: at.to_owned(),
            stix_default_releasable_to: c.stix_default_releasable_to.clone(),
            departed: BTreeSet::new(),
            relayed: BTreeSet::new(),
        }
    }

    /// Departures the convener has yet to relay (its own excepted: a convener that left
    /// relays nothing).
    pub fn unrelayed(&self) -> Vec<PartnerCode> {
        self.departed
            .difference(&self.relayed)
            .filter(|p| *p != &self.convener)
            .cloned()
            .collect()
    }

    pub fn charter(&self) -> FormatCharter {
        FormatCharter {
            format_id: self.format_id.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            topics: self.topics.clone(),
            members: self.members.iter().cloned().collect(),
            convener: self.convener.clone(),
            stix_default_releasable_to: self.stix_default_releasable_to.clone(),
        }
    }

    /// Fold a join into the state, or create the state from it when this node first learns
    /// of the format through the join (it was not in the audience of the charter). Members are
    /// added, never replaced, and a departed partner is not added back: the charter is the
    /// convener's view when it signed, which may predate a leave this node already holds.
    pub fn apply_join(prev: Option<FormatState>, j: &FormatJoin, at: &str) -> FormatState {
        let mut s = match prev {
            Some(s) => s,
            None => FormatState::from_charter(&j.charter, at),
        };
        s.title = j.charter.title.clone();
        s.description = j.charter.description.clone();
        s.topics = j.charter.topics.clone();
        s.members.extend(j.charter.members.iter().cloned());
        s.members.insert(j.partner.clone());
        let departed = s.departed.clone();
        s.members.retain(|m| !departed.contains(m));
        s.stix_default_releasable_to = j.charter.stix_default_releasable_to.clone();
        s.updated_at = at.to_owned();
        s
    }

    /// Fold a leave: signed by the partner leaving, or by the convener relaying it
    /// (`relayed_by_convener`).
    pub fn apply_leave(&mut self, l: &FormatLeave, relayed_by_convener: bool, at: &str) {
        self.members.remove(&l.partner);
        self.departed.insert(l.partner.clone());
        if relayed_by_convener {
            self.relayed.insert(l.partner.clone());
        }
        self.updated_at = at.to_owned();
    }

    pub fn apply_close(&mut self, _c: &FormatClose, at: &str) {
        self.closed = true;
        self.updated_at = at.to_owned();
    }
}

/// Validate a charter before it is signed: a title, known topics, at least the convener
/// among the members.
pub fn validate_charter(c: &mut FormatCharter) -> Result<(), DomainError> {
    c.title = c.title.trim().to_owned();
    if c.title.is_empty() || c.title.len() > 200 {
        return Err(DomainError::invalid(
            "title",
            "a title of 1 to 200 characters is required",
        ));
    }
    if c.description.len() > 10_000 {
        return Err(DomainError::invalid(
            "description",
            "at most 10,000 characters",
        ));
    }
    c.topics = taxonomy::normalise(&c.topics)?;
    if c.topics.is_empty() {
        return Err(DomainError::invalid(
            "topics",
            "at least one topic is required",
        ));
    }
    if !c.members.contains(&c.convener) {
        c.members.push(c.convener.clone());
    }
    c.members.sort();
    c.members.dedup();
    if let Some(d) = &mut c.stix_default_releasable_to {
        d.sort();
        d.dedup();
        if let Some(p) = d.iter().find(|p| !c.members.contains(p)) {
            return Err(DomainError::invalid(
                "stix_default_releasable_to",
                format!("{p} is not a member of this format"),
            ));
        }
    }
    Ok(())
}

/// The "Transatlantic+ \<PARTNER\>" model: EU + NATO + one more partner on a standard set of
/// topics. Replicating the model for KOR, AUS or NZL is one call with another partner.
#[derive(Clone, Debug)]
pub struct FormatTemplate;

impl FormatTemplate {
    /// The standard topics and the title suffix of each format the template creates.
    pub const SET: &'static [(&'static str, &'static [&'static str])] = &[
        (
            "maritime security",
            &[
                "maritime-security",
                "military-mobility",
                "international-law",
            ],
        ),
        (
            "hybrid threats and FIMI",
            &["hybrid-threats", "fimi", "resilience"],
        ),
        (
            "cyber defence",
            &["cyber-defence", "cybercrime", "critical-infrastructure"],
        ),
        (
            "emerging and disruptive technologies",
            &["emerging-technologies", "space", "defence-industry"],
        ),
    ];

    /// The charters for "Transatlantic+ \<partner\>", one per standard topic area.
    pub fn charters(
        partner: &PartnerCode,
        convener: &PartnerCode,
        ids: &mut dyn FnMut() -> String,
    ) -> Vec<FormatCharter> {
        let mut members = vec![
            PartnerCode::parse("EU").unwrap_or_else(|_| unreachable!()),
            PartnerCode::parse("NATO").unwrap_or_else(|_| unreachable!()),
            partner.clone(),
        ];
        if !members.contains(convener) {
            members.push(convener.clone());
        }
        members.sort();
        members.dedup();
        Self::SET
            .iter()
            .map(|(suffix, topics)| FormatCharter {
                format_id: ids(),
                title: format!("Transatlantic+ {} — {}", partner_name(partner), suffix),
                description: format!(
                    "Issue-based format of the EU, NATO and {} on {}.",
                    partner_name(partner),
                    suffix
                ),
                topics: topics.iter().map(|t| t.to_string()).collect(),
                members: members.clone(),
                convener: convener.clone(),
                stix_default_releasable_to: None,
            })
            .collect()
    }
}

/// A readable name for the well-known partner codes, the code itself otherwise.
pub fn partner_name(p: &PartnerCode) -> &str {
    match p.as_str() {
        "JPN" => "Japan",
        "KOR" => "Korea",
        "AUS" => "Australia",
        "NZL" => "New Zealand",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partner::code;

    fn charter(members: &[&str]) -> FormatCharter {
        FormatCharter {
            format_id: "f".into(),
            title: "t".into(),
            description: String::new(),
            topics: vec!["fimi".into()],
            members: members.iter().map(|m| code(m)).collect(),
            convener: code("EU"),
            stix_default_releasable_to: None,
        }
    }

    fn members(s: &FormatState) -> Vec<&str> {
        s.members.iter().map(|m| m.as_str()).collect()
    }

    /// JPN leaves while EU, not yet knowing, admits KOR with a charter that still lists JPN:
    /// a node holding both entries sees the same members whichever arrived first.
    #[test]
    fn a_crossing_leave_and_join_give_the_same_members_in_either_order() {
        let start = FormatState::from_charter(&charter(&["EU", "JPN", "NATO"]), "t0");
        let join = FormatJoin {
            partner: code("KOR"),
            charter: charter(&["EU", "JPN", "KOR", "NATO"]),
        };
        let leave = FormatLeave {
            format_id: "f".into(),
            partner: code("JPN"),
        };
        let mut leave_first = start.clone();
        leave_first.apply_leave(&leave, false, "t1");
        let leave_first = FormatState::apply_join(Some(leave_first), &join, "t2");
        let mut join_first = FormatState::apply_join(Some(start), &join, "t1");
        join_first.apply_leave(&leave, false, "t2");
        assert_eq!(members(&leave_first), ["EU", "KOR", "NATO"]);
        assert_eq!(members(&join_first), ["EU", "KOR", "NATO"]);
        // KOR, which learns of the format through the join, hears of the leave from the relay.
        let mut at_kor = FormatState::apply_join(None, &join, "t1");
        assert_eq!(at_kor.unrelayed(), Vec::<PartnerCode>::new());
        at_kor.apply_leave(&leave, true, "t2");
        assert_eq!(members(&at_kor), ["EU", "KOR", "NATO"]);
        assert!(
            at_kor.unrelayed().is_empty(),
            "a relayed departure is not owed again"
        );
        assert_eq!(
            join_first.unrelayed(),
            [code("JPN")],
            "the convener owes a relay"
        );
    }
}
