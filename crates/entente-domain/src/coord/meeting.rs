//! Meetings of a format: what a convener plans (level, time with its zone, place or link,
//! participating partners, agenda items linked to objects, a series), the link to the minutes
//! (a statement whose required partners are the participants, so minutes are *agreed* by the
//! statements' mechanism: every participant endorses the exact text, and a new version voids
//! earlier agreements), and the decisions written in the minutes, which become joint actions.
//! Pure.

use super::{ThreadSubject, check_thread};
use crate::{Audience, DomainError, PartnerCode};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MeetingLevel {
    SeniorOfficials,
    WorkingLevel,
    Experts,
}

impl MeetingLevel {
    pub const ALL: [MeetingLevel; 3] = [
        MeetingLevel::SeniorOfficials,
        MeetingLevel::WorkingLevel,
        MeetingLevel::Experts,
    ];
    pub fn label(self) -> &'static str {
        match self {
            MeetingLevel::SeniorOfficials => "senior officials",
            MeetingLevel::WorkingLevel => "working level",
            MeetingLevel::Experts => "experts",
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            MeetingLevel::SeniorOfficials => "senior_officials",
            MeetingLevel::WorkingLevel => "working_level",
            MeetingLevel::Experts => "experts",
        }
    }
}

/// How often a series meets; the next meeting is planned this far after the last.
pub const SERIES: [(&str, u32); 4] = [
    ("monthly", 1),
    ("quarterly", 3),
    ("half-yearly", 6),
    ("yearly", 12),
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgendaItem {
    pub title: String,
    /// The object the point is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<ThreadSubject>,
}

/// What a meeting is: every field its convener writes, declared once (request, payload, state
/// and schema carry it flattened), with its one rule [`MeetingDetails::check`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeetingDetails {
    pub title: String,
    pub level: MeetingLevel,
    /// When it starts, UTC (RFC 3339, e.g. `2027-01-20T09:00:00Z`).
    pub starts_at: String,
    /// The zone the time was set in (IANA name), for display beside UTC.
    #[serde(default)]
    pub time_zone: String,
    /// A place or a virtual link, at most 200 characters.
    #[serde(default)]
    pub place: String,
    /// `monthly`, `quarterly`, `half-yearly` or `yearly`; empty for a single meeting.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub series: String,
    #[serde(default)]
    pub agenda: Vec<AgendaItem>,
}

impl MeetingDetails {
    pub fn check(&self) -> Result<(), DomainError> {
        check_thread(&self.title, None)?;
        let utc = self.starts_at.ends_with('Z')
            && time::OffsetDateTime::parse(
                &self.starts_at,
                &time::format_description::well_known::Rfc3339,
            )
            .is_ok();
        if !utc {
            return Err(DomainError::invalid(
                "starts_at",
                "a date and time in UTC (RFC 3339, e.g. 2027-01-20T09:00:00Z)",
            ));
        }
        if self.place.chars().count() > 200 || self.time_zone.len() > 64 {
            return Err(DomainError::invalid(
                "place",
                "a place or link of at most 200 characters",
            ));
        }
        if !self.series.is_empty() && !SERIES.iter().any(|(s, _)| *s == self.series) {
            return Err(DomainError::invalid(
                "series",
                "monthly, quarterly, half-yearly or yearly",
            ));
        }
        if self.agenda.len() > 50 {
            return Err(DomainError::invalid("agenda", "at most 50 agenda items"));
        }
        for a in &self.agenda {
            check_thread(&a.title, a.subject.as_ref())
                .map_err(|_| DomainError::invalid("agenda", "each item has a title of 1 to 300 characters and at most one object it is about"))?;
        }
        Ok(())
    }
}

/// The signed payload of `meeting.plan`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeetingPlan {
    pub meeting_id: String,
    pub format_id: String,
    #[serde(flatten)]
    pub details: MeetingDetails,
    /// The partners taking part (the convener included): the minutes need each one's agreement.
    pub participants: Vec<PartnerCode>,
    /// The meeting of the series before this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    pub author: String,
}

/// The signed payload of `meeting.minutes`: the convener names the statement that holds the
/// minutes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeetingMinutes {
    pub meeting_id: String,
    pub statement_id: String,
    pub author: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeetingState {
    pub plan: MeetingPlan,
    pub convener: PartnerCode,
    pub audience: Audience,
    /// The statement holding the minutes, once drafted.
    #[serde(default)]
    pub minutes: Option<String>,
    /// The convener's files (agenda papers, slides).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<crate::attachment::AttachmentRef>,
}

impl MeetingState {
    /// Fold a plan: the same rule as when it was planned; participants within the audience.
    pub fn plan(
        p: &MeetingPlan,
        origin: &PartnerCode,
        audience: &Audience,
    ) -> Result<MeetingState, bool> {
        if p.details.check().is_err()
            || !super::is_owned_by(&p.meeting_id, origin)
            || !super::is_reference(&p.format_id)
            || p.previous
                .as_deref()
                .is_some_and(|x| !super::is_reference(x))
            || !author_of(&p.author, origin)
            || !p.participants.contains(origin)
            || p.participants.iter().any(|x| !audience.contains(x))
        {
            return Err(false);
        }
        Ok(MeetingState {
            plan: p.clone(),
            convener: origin.clone(),
            audience: audience.clone(),
            minutes: None,
            files: vec![],
        })
    }

    /// Fold a minutes link: from the convener, in the meeting's audience.
    pub fn link_minutes(
        &mut self,
        m: &MeetingMinutes,
        origin: &PartnerCode,
        audience: &Audience,
    ) -> Result<(), bool> {
        if *origin != self.convener
            || *audience != self.audience
            || !super::is_reference(&m.statement_id)
        {
            return Err(false);
        }
        self.minutes = Some(m.statement_id.clone());
        Ok(())
    }

    /// Whether a statement is one these minutes may be agreed on: the convener's, over the
    /// meeting's format and audience, requiring exactly the participants under unanimity. A
    /// convener naming any other statement (one only it must endorse, say) must not make the
    /// minutes read as agreed, nor its decisions become actions "agreed by" the others.
    pub fn minutes_fit(&self, s: &LinkedStatement<'_>) -> bool {
        let mut required = s.required.to_vec();
        required.sort();
        required.dedup();
        let mut participants = self.plan.participants.clone();
        participants.sort();
        participants.dedup();
        self.minutes.as_deref() == Some(s.statement_id)
            && *s.origin == self.convener
            && s.format_id == self.plan.format_id
            && *s.audience == self.audience
            && s.unanimity
            && required == participants
    }
}

/// What the minutes and sign-off rules need of the statement an object links to (the
/// statements' module depends on this one, so the statement is described here, not imported).
#[derive(Clone, Copy, Debug)]
pub struct LinkedStatement<'a> {
    pub statement_id: &'a str,
    pub origin: &'a PartnerCode,
    pub format_id: &'a str,
    pub audience: &'a Audience,
    pub required: &'a [PartnerCode],
    /// Adopted only when every required partner endorses (not by silence).
    pub unanimity: bool,
}

fn author_of(author: &str, origin: &PartnerCode) -> bool {
    author
        .rsplit_once('@')
        .is_some_and(|(name, p)| !name.is_empty() && p == origin.as_str())
}

/// A decision written in the minutes: `DECISION: <title> (lead: EU; with: JPN, NATO)`, one per
/// line (a list bullet before it is fine). It becomes a joint action once the minutes are agreed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Decision {
    pub title: String,
    pub leads: Vec<PartnerCode>,
    pub participants: Vec<PartnerCode>,
}

/// The decisions in a minutes text, in order. A decision without a lead is led by `convener`;
/// partner codes that do not parse are left out of it (the page shows the decision as read).
pub fn decisions_in(text: &str, convener: &PartnerCode) -> Vec<Decision> {
    let codes = |s: &str| -> Vec<PartnerCode> {
        s.split([',', ' '])
            .filter_map(|c| PartnerCode::parse(c.trim()).ok())
            .collect()
    };
    let mut out = vec![];
    for line in text.lines() {
        let l = line.trim().trim_start_matches(['-', '*']).trim();
        let Some(rest) = l.strip_prefix("DECISION:") else {
            continue;
        };
        let rest = rest.trim();
        let (title, leads, participants) = match rest.rsplit_once('(') {
            Some((t, tail)) if tail.trim_end().ends_with(')') => {
                let inner = tail.trim_end().trim_end_matches(')');
                let (mut leads, mut with) = (vec![], vec![]);
                for part in inner.split(';') {
                    let part = part.trim();
                    if let Some(v) = part.strip_prefix("lead:") {
                        leads = codes(v);
                    } else if let Some(v) = part.strip_prefix("with:") {
                        with = codes(v);
                    }
                }
                (t.trim().to_owned(), leads, with)
            }
            _ => (rest.to_owned(), vec![], vec![]),
        };
        if title.is_empty() {
            continue;
        }
        let leads = if leads.is_empty() {
            vec![convener.clone()]
        } else {
            leads
        };
        let participants = participants
            .into_iter()
            .filter(|p| !leads.contains(p))
            .collect();
        out.push(Decision {
            title: title.chars().take(300).collect(),
            leads,
            participants,
        });
    }
    out
}

/// A request to plan a meeting.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewMeeting {
    pub format_id: String,
    #[serde(flatten)]
    pub details: MeetingDetails,
    /// The partners taking part besides this one (members of the format).
    pub participants: Vec<String>,
    #[serde(default)]
    pub previous: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partner::code;

    #[test]
    fn decisions_are_read_from_the_minutes() {
        let text = "# Minutes\n\nDiscussed ferries.\n\n\
            - DECISION: Map ro-ro capacity (lead: JPN; with: EU, NATO)\n\
            * DECISION: Share port access rules\n\
            DECISION:    \n\
            Not a DECISION: line\n";
        let d = decisions_in(text, &code("EU"));
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d[0].title, "Map ro-ro capacity");
        assert_eq!(d[0].leads, vec![code("JPN")]);
        assert_eq!(d[0].participants, vec![code("EU"), code("NATO")]);
        assert_eq!(d[1].title, "Share port access rules");
        assert_eq!(
            d[1].leads,
            vec![code("EU")],
            "the convener leads by default"
        );
    }

    #[test]
    fn a_meeting_is_planned_within_its_audience_and_only_the_convener_links_minutes() {
        let aud = Audience::new([code("EU"), code("JPN")]).unwrap();
        let mut plan = MeetingPlan {
            meeting_id: "EU-m".into(),
            format_id: "f".into(),
            details: MeetingDetails {
                title: "Working group".into(),
                level: MeetingLevel::WorkingLevel,
                starts_at: "2027-01-20T09:00:00Z".into(),
                time_zone: "Europe/Brussels".into(),
                place: "Brussels".into(),
                series: "quarterly".into(),
                agenda: vec![],
            },
            participants: vec![code("EU"), code("JPN")],
            previous: None,
            author: "a@EU".into(),
        };
        let mut m = MeetingState::plan(&plan, &code("EU"), &aud).unwrap();
        let link = MeetingMinutes {
            meeting_id: "m".into(),
            statement_id: "s".into(),
            author: "k@JPN".into(),
        };
        assert_eq!(m.link_minutes(&link, &code("JPN"), &aud), Err(false));
        m.link_minutes(&link, &code("EU"), &aud).unwrap();
        assert_eq!(m.minutes.as_deref(), Some("s"));
        plan.participants.push(code("NATO"));
        assert!(MeetingState::plan(&plan, &code("EU"), &aud).is_err());
        plan.participants.pop();
        plan.details.starts_at = "tomorrow".into();
        assert!(MeetingState::plan(&plan, &code("EU"), &aud).is_err());
    }

    #[test]
    fn minutes_are_agreed_only_on_the_conveners_statement_requiring_every_participant() {
        let aud = Audience::new([code("EU"), code("JPN")]).unwrap();
        let plan = MeetingPlan {
            meeting_id: "EU-m".into(),
            format_id: "f".into(),
            details: MeetingDetails {
                title: "Working group".into(),
                level: MeetingLevel::WorkingLevel,
                starts_at: "2027-01-20T09:00:00Z".into(),
                time_zone: String::new(),
                place: String::new(),
                series: String::new(),
                agenda: vec![],
            },
            participants: vec![code("JPN"), code("EU")],
            previous: None,
            author: "a@EU".into(),
        };
        let mut stolen = plan.clone();
        stolen.meeting_id = "JPN-m".into();
        assert!(
            MeetingState::plan(&stolen, &code("EU"), &aud).is_err(),
            "a meeting under an id of another partner's"
        );
        let mut m = MeetingState::plan(&plan, &code("EU"), &aud).unwrap();
        m.minutes = Some("s".into());
        let (eu, both, only_eu) = (code("EU"), [code("JPN"), code("EU")], [code("EU")]);
        let st = LinkedStatement {
            statement_id: "s",
            format_id: "f",
            origin: &eu,
            audience: &aud,
            required: &both,
            unanimity: true,
        };
        assert!(m.minutes_fit(&st));
        let only = LinkedStatement {
            required: &only_eu,
            ..st
        };
        assert!(!m.minutes_fit(&only), "only the convener required");
        let silence = LinkedStatement {
            unanimity: false,
            ..st
        };
        assert!(!m.minutes_fit(&silence), "agreed by silence");
        let other = LinkedStatement {
            statement_id: "other",
            ..st
        };
        assert!(!m.minutes_fit(&other), "not the linked statement");
    }
}
