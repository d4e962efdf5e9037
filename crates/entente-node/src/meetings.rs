//! Meetings of a format on a node: planning one (a signed entry released to the participating
//! partners), drafting and revising its minutes as a statement the participants must all
//! endorse (the statements' mechanism: stances over the exact text's hash, a new version voids
//! earlier ones, the agreed minutes export and verify offline), recording the agreed decisions
//! as joint actions, and drafting the next meeting of a series with the open actions on its
//! agenda. Every read returns only meetings whose audience holds this node's partner.

use crate::auth::Principal;
use crate::statements::{NewStatement, StatementView};
use crate::{Node, NodeError};
pub use entente_domain::coord::NewMeeting;
use entente_domain::coord::{
    ActionState, ActionStatus, AgendaItem, Decision, MeetingDetails, MeetingMinutes, MeetingPlan,
    MeetingState, SERIES, ThreadSubject, decisions_in,
};
use entente_domain::fold::Coord;
use entente_domain::payload::Payload;
use entente_domain::statement::{AdoptionRule, StatementStatus};
use entente_domain::{DomainError, PartnerCode, Role, policy};
use serde::{Deserialize, Serialize};

/// A meeting as the caller sees it: the plan, its minutes and what they decided.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MeetingView {
    pub meeting: MeetingState,
    /// The minutes (a statement), once drafted.
    pub minutes: Option<StatementView>,
    /// Whether every participant agreed to the current version of the minutes.
    pub agreed: bool,
    /// The decisions written in the current version of the minutes.
    pub decisions: Vec<Decision>,
    /// The joint actions created from them.
    pub actions: Vec<ActionState>,
}

impl Node {
    pub async fn plan_meeting(
        &self,
        who: &Principal,
        n: NewMeeting,
    ) -> Result<MeetingState, NodeError> {
        who.require(Role::Officer, "plan meetings")?;
        let f = self.format(&n.format_id).await?;
        let mut participants: Vec<PartnerCode> = n
            .participants
            .iter()
            .map(|p| self.parse_known_partner(p))
            .collect::<Result<_, _>>()?;
        if !participants.contains(self.partner()) {
            participants.insert(0, self.partner().clone());
        }
        participants.sort();
        participants.dedup();
        if participants.len() < 2 {
            return Err(DomainError::invalid(
                "participants",
                "name at least one other participating partner",
            )
            .into());
        }
        let aud = policy::item_audience(self.partner(), Some(&participants), &f)?;
        n.details.check()?;
        // An agenda point names its object to every participant: each must be allowed to see it.
        for a in &n.details.agenda {
            if let Some(s) = &a.subject {
                let (format_id, seen_by) = self.subject_of(who, s).await?;
                if format_id != f.format_id || aud.iter().any(|p| !seen_by.contains(p)) {
                    return Err(DomainError::invalid(
                        "agenda",
                        format!(
                            "\"{}\" is about something not every participant may see",
                            a.title
                        ),
                    )
                    .into());
                }
            }
        }
        if let Some(prev) = &n.previous {
            self.meeting_state(prev).await?;
        }
        let plan = MeetingPlan {
            meeting_id: self.owned_id(),
            format_id: f.format_id,
            details: MeetingDetails {
                title: n.details.title.trim().to_owned(),
                ..n.details
            },
            participants,
            previous: n.previous,
            author: who.user_id(),
        };
        let id = plan.meeting_id.clone();
        self.publish(&aud, &[Payload::MeetingPlan(plan)]).await?;
        self.meeting_state(&id).await
    }

    pub(crate) async fn meeting_state(&self, id: &str) -> Result<MeetingState, NodeError> {
        match self.load_coord("meeting", id).await? {
            Some(Coord::Meeting(m)) if m.audience.contains(self.partner()) => Ok(m),
            _ => Err(NodeError::NotFound("meeting")),
        }
    }

    pub async fn meeting(&self, who: &Principal, id: &str) -> Result<MeetingView, NodeError> {
        let meeting = self.meeting_state(id).await?;
        // Only a statement these minutes may be agreed on counts as them (the convener's,
        // requiring every participant under unanimity): any other is not shown as the minutes.
        let minutes = match &meeting.minutes {
            Some(s) => self
                .statement(who, s)
                .await
                .ok()
                .filter(|v| meeting.minutes_fit(&crate::statements::linked(&v.state))),
            None => None,
        };
        let agreed = minutes
            .as_ref()
            .is_some_and(|m| matches!(m.status, StatementStatus::Adopted { .. }));
        let decisions = minutes
            .as_ref()
            .and_then(|m| m.state.versions.last())
            .map(|v| decisions_in(&v.text, &meeting.convener))
            .unwrap_or_default();
        let actions = self
            .actions(who, Some(&meeting.plan.format_id))
            .await?
            .into_iter()
            // Another partner may name this meeting on an action of its own; only the
            // convener's record the meeting's decisions.
            .filter(|a| a.from_meeting.as_deref() == Some(id) && a.origin == meeting.convener)
            .collect();
        Ok(MeetingView {
            meeting,
            minutes,
            agreed,
            decisions,
            actions,
        })
    }

    /// Meetings the caller may see, soonest first.
    pub async fn meetings(&self, _who: &Principal) -> Result<Vec<MeetingState>, NodeError> {
        let mut v: Vec<MeetingState> = self
            .store
            .objects("meeting")
            .await?
            .iter()
            .filter_map(|s| match serde_json::from_str::<Coord>(s) {
                Ok(Coord::Meeting(m)) if m.audience.contains(self.partner()) => Some(m),
                _ => None,
            })
            .collect();
        v.sort_by(|a, b| a.plan.details.starts_at.cmp(&b.plan.details.starts_at));
        Ok(v)
    }

    /// Draft the minutes (the convener only): the first time a statement whose required partners
    /// are the participants, under unanimity, linked to the meeting; after that a new version of
    /// it, which voids every agreement given to the one before.
    pub async fn draft_minutes(
        &self,
        who: &Principal,
        id: &str,
        text: &str,
    ) -> Result<MeetingView, NodeError> {
        who.require(Role::Officer, "draft minutes")?;
        let m = self.meeting_state(id).await?;
        if m.convener != *self.partner() {
            return Err(NodeError::Forbidden(
                "draft these minutes: the convener drafts them",
            ));
        }
        // The minutes carry the meeting's title (the convener's words); pages say they are
        // minutes in the reader's language.
        let title = m.plan.details.title.clone();
        match &m.minutes {
            Some(s) => {
                self.revise_statement(who, s, &title, text).await?;
            }
            None => {
                let st = self
                    .create_statement(
                        who,
                        NewStatement {
                            format_id: m.plan.format_id.clone(),
                            title,
                            text: text.to_owned(),
                            releasable_to: Some(m.audience.iter().map(|p| p.to_string()).collect()),
                            required: Some(
                                m.plan.participants.iter().map(|p| p.to_string()).collect(),
                            ),
                            rule: AdoptionRule::Unanimity,
                            deadline: None,
                        },
                    )
                    .await?;
                self.publish(
                    &m.audience,
                    &[Payload::MeetingMinutes(MeetingMinutes {
                        meeting_id: id.to_owned(),
                        statement_id: st.state.statement_id,
                        author: who.user_id(),
                    })],
                )
                .await?;
            }
        }
        self.meeting(who, id).await
    }

    /// Create the decisions of the agreed minutes as joint actions (the convener only, once
    /// each: a decision already recorded under its title is skipped).
    pub async fn record_decisions(
        &self,
        who: &Principal,
        id: &str,
    ) -> Result<MeetingView, NodeError> {
        let v = self.meeting(who, id).await?;
        if v.meeting.convener != *self.partner() {
            return Err(NodeError::Forbidden(
                "record these decisions: the convener records them",
            ));
        }
        if !v.agreed {
            return Err(NodeError::Conflict(
                "the minutes are not agreed by every participant yet".into(),
            ));
        }
        // A decision's partners receive the action, which names the meeting: only the
        // meeting's audience may.
        if let Some(p) = v
            .decisions
            .iter()
            .flat_map(|d| d.leads.iter().chain(&d.participants))
            .find(|p| !v.meeting.audience.contains(p))
        {
            return Err(DomainError::invalid(
                "text",
                format!("a decision names {p}, who is not among the meeting's partners"),
            )
            .into());
        }
        let date = v.meeting.plan.details.starts_at.get(..10).unwrap_or("");
        for d in &v.decisions {
            if v.actions.iter().any(|a| a.title == d.title) {
                continue;
            }
            let to_names = |ps: &[PartnerCode]| ps.iter().map(|p| p.to_string()).collect();
            // A decision that names no partners to work with involves every participant: they
            // all agreed it.
            let with: Vec<PartnerCode> = if d.participants.is_empty() {
                v.meeting
                    .plan
                    .participants
                    .iter()
                    .filter(|p| !d.leads.contains(p))
                    .cloned()
                    .collect()
            } else {
                d.participants.clone()
            };
            self.create_action_from(
                who,
                crate::coord::NewAction {
                    format_id: v.meeting.plan.format_id.clone(),
                    title: d.title.clone(),
                    description: format!(
                        "Decided at \"{}\" on {date}; the minutes were agreed by {}.",
                        v.meeting.plan.details.title,
                        v.meeting
                            .plan
                            .participants
                            .iter()
                            .map(|p| p.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    group: String::new(),
                    topics: vec![],
                    leads: to_names(&d.leads),
                    participants: to_names(&with),
                    milestones: vec![],
                },
                Some(id.to_owned()),
            )
            .await?;
        }
        self.meeting(who, id).await
    }

    /// The next meeting of a series, drafted: the same title, level, place and participants,
    /// one interval later, with every open action of the format on its agenda.
    pub async fn next_meeting_draft(
        &self,
        who: &Principal,
        id: &str,
    ) -> Result<NewMeeting, NodeError> {
        let m = self.meeting_state(id).await?;
        let d = &m.plan.details;
        let months = SERIES
            .iter()
            .find(|(s, _)| *s == d.series)
            .map(|(_, n)| *n)
            .unwrap_or(3);
        let starts_at = crate::clock::parse_rfc3339(&d.starts_at)
            .and_then(|t| {
                let mut date = t.date();
                for _ in 0..months {
                    let days = date.month().length(date.year());
                    date = date.checked_add(time::Duration::days(days.into()))?;
                }
                Some(t.replace_date(date))
            })
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| d.starts_at.clone());
        let agenda = self
            .actions(who, Some(&m.plan.format_id))
            .await?
            .into_iter()
            .filter(|a| !matches!(a.status, ActionStatus::Implemented | ActionStatus::Dropped))
            // Only what every participant may see goes on the agenda (the agenda is released
            // to all of them).
            .filter(|a| m.audience.iter().all(|p| a.audience.contains(p)))
            .map(|a| AgendaItem {
                subject: Some(ThreadSubject {
                    kind: "action".into(),
                    id: a.action_id,
                }),
                title: a.title,
            })
            .take(50)
            .collect();
        Ok(NewMeeting {
            format_id: m.plan.format_id.clone(),
            details: MeetingDetails {
                starts_at,
                agenda,
                ..d.clone()
            },
            participants: m
                .plan
                .participants
                .iter()
                .filter(|p| *p != self.partner())
                .map(|p| p.to_string())
                .collect(),
            previous: Some(id.to_owned()),
        })
    }
}
