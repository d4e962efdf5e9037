//! Joint actions, exercises, industrial projects and reactions (endorsements, sightings) on a
//! node: the write operations (each a signed entry in this partner's own log, released to the
//! object's audience), the fold of received entries, and the reads. Every read returns only
//! objects whose audience contains this node's partner.

use crate::auth::Principal;
use crate::{Node, NodeError};
use entente_domain::coord::*;
use entente_domain::payload::Payload;
use entente_domain::{Audience, DomainError, PartnerCode, Role, policy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use entente_domain::fold::{Coord, CoordMap};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewAction {
    pub format_id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub group: String,
    pub topics: Vec<String>,
    pub leads: Vec<String>,
    #[serde(default)]
    pub participants: Vec<String>,
    #[serde(default)]
    pub milestones: Vec<NewMilestone>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewMilestone {
    pub title: String,
    pub due: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewProgress {
    pub period: String,
    pub status: ActionStatus,
    pub narrative: String,
    #[serde(default)]
    pub milestones: Vec<MilestoneUpdate>,
}

/// A request to plan an exercise: declared once, in the domain, beside the rule for it.
pub use entente_domain::coord::NewExercise;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewProject {
    pub format_id: String,
    pub title: String,
    pub capability_area: String,
    #[serde(default)]
    pub description: String,
    pub stage: String,
    pub participants: Vec<String>,
    /// Absent: every member of the format.
    #[serde(default)]
    pub releasable_to: Option<Vec<String>>,
}

impl Node {
    pub(crate) async fn load_coord(
        &self,
        kind: &str,
        id: &str,
    ) -> Result<Option<Coord>, NodeError> {
        self.load_object(kind, id).await
    }

    pub(crate) async fn coords(&self, kind: &str) -> Result<Vec<Coord>, NodeError> {
        let mut out = vec![];
        for s in self.store.objects(kind).await? {
            let c: Coord =
                serde_json::from_str(&s).map_err(|e| NodeError::Internal(e.to_string()))?;
            if self
                .coord_audience(&c)
                .is_none_or(|a| a.contains(self.partner()))
            {
                out.push(c);
            }
        }
        Ok(out)
    }

    fn coord_audience<'a>(&self, c: &'a Coord) -> Option<&'a Audience> {
        match c {
            Coord::Action(a) => Some(&a.audience),
            Coord::Exercise(x) => Some(&x.audience),
            Coord::Project(p) => Some(&p.audience),
            Coord::Thread(t) => Some(&t.audience),
            Coord::Meeting(m) => Some(&m.audience),
            Coord::Paper(p) => Some(&p.audience),
            Coord::Reactions(_) => None,
        }
    }

    fn parse_partners(&self, v: &[String]) -> Result<Vec<PartnerCode>, NodeError> {
        v.iter().map(|p| self.parse_known_partner(p)).collect()
    }

    // ----- actions -------------------------------------------------------------------------

    pub async fn create_action(
        &self,
        who: &Principal,
        n: NewAction,
    ) -> Result<ActionState, NodeError> {
        self.create_action_from(who, n, None).await
    }

    /// Create an action, recording the meeting whose agreed minutes decided it.
    pub(crate) async fn create_action_from(
        &self,
        who: &Principal,
        n: NewAction,
        from_meeting: Option<String>,
    ) -> Result<ActionState, NodeError> {
        who.require(Role::Officer, "create joint actions")?;
        let f = self
            .store
            .format(&n.format_id)
            .await?
            .ok_or(NodeError::NotFound("format"))?;
        let leads = self.parse_partners(&n.leads)?;
        let participants = self.parse_partners(&n.participants)?;
        let mut c = ActionCreate {
            action_id: crate::new_id(),
            format_id: f.format_id.clone(),
            title: n.title,
            description: n.description,
            group: n.group,
            topics: n.topics,
            leads: leads.clone(),
            participants: participants.clone(),
            milestones: n
                .milestones
                .into_iter()
                .enumerate()
                .map(|(i, m)| Milestone {
                    milestone_id: format!("m{}", i + 1),
                    title: m.title,
                    due: m.due,
                    done: false,
                    note: String::new(),
                })
                .collect(),
            author: who.user_id(),
            from_meeting,
        };
        validate_action(&mut c, &f.members)?;
        let everyone: Vec<PartnerCode> = leads.into_iter().chain(participants).collect();
        let aud = policy::item_audience(self.partner(), Some(&everyone), &f)?;
        let id = c.action_id.clone();
        self.publish(&aud, &[Payload::ActionCreate(c)]).await?;
        self.action(who, &id).await
    }

    pub async fn report_progress(
        &self,
        who: &Principal,
        id: &str,
        n: NewProgress,
    ) -> Result<ActionState, NodeError> {
        who.require(Role::Analyst, "file progress reports")?;
        let a = self.action(who, id).await?;
        if !a.is_participant(self.partner()) {
            return Err(NodeError::Forbidden(
                "file a progress report: this partner does not participate in the action",
            ));
        }
        entente_domain::coord::validate_period(&n.period)?;
        if n.narrative.trim().is_empty() {
            return Err(DomainError::invalid("narrative", "a narrative is required").into());
        }
        if let Some(u) = n.milestones.iter().find(|u| {
            !a.milestones
                .iter()
                .any(|m| m.milestone_id == u.milestone_id)
        }) {
            return Err(DomainError::invalid(
                "milestones",
                format!("unknown milestone {}", u.milestone_id),
            )
            .into());
        }
        let r = ProgressReport {
            action_id: id.to_owned(),
            report_id: crate::new_id(),
            period: n.period.trim().to_owned(),
            status: n.status,
            narrative: n.narrative,
            milestones: n.milestones,
            author: who.user_id(),
        };
        self.publish(&a.audience, &[Payload::ActionProgress(r)])
            .await?;
        self.action(who, id).await
    }

    pub async fn action(&self, _who: &Principal, id: &str) -> Result<ActionState, NodeError> {
        match self.load_coord("action", id).await? {
            Some(Coord::Action(a)) if a.audience.contains(self.partner()) => Ok(a),
            _ => Err(NodeError::NotFound("action")),
        }
    }

    pub async fn actions(
        &self,
        _who: &Principal,
        format_id: Option<&str>,
    ) -> Result<Vec<ActionState>, NodeError> {
        Ok(self
            .coords("action")
            .await?
            .into_iter()
            .filter_map(|c| {
                if let Coord::Action(a) = c {
                    Some(a)
                } else {
                    None
                }
            })
            .filter(|a| format_id.is_none_or(|f| a.format_id == f))
            .collect())
    }

    /// The generated periodic progress report of a format, from the actions this node may see.
    pub async fn progress_report(
        &self,
        who: &Principal,
        format_id: &str,
        period: &str,
    ) -> Result<PeriodicReport, NodeError> {
        entente_domain::coord::validate_period(period)?;
        let f = self.format(format_id).await?;
        let actions = self.actions(who, Some(format_id)).await?;
        let today = self.clock.now_rfc3339()[..10].to_owned();
        Ok(periodic_report(
            &f.title, &f.members, period, &today, &actions,
        ))
    }

    // ----- exercises -----------------------------------------------------------------------

    pub async fn plan_exercise(
        &self,
        who: &Principal,
        n: NewExercise,
    ) -> Result<ExerciseState, NodeError> {
        who.require(Role::Officer, "plan exercises")?;
        let f = self
            .store
            .format(&n.format_id)
            .await?
            .ok_or(NodeError::NotFound("format"))?;
        let invited = self.parse_partners(&n.invited)?;
        let observers = self.parse_partners(&n.observers)?;
        let mut plan = ExercisePlan {
            exercise_id: crate::new_id(),
            format_id: f.format_id.clone(),
            details: n.details,
            invited: invited.clone(),
            observers: observers.clone(),
            author: who.user_id(),
        };
        validate_exercise(&mut plan, &f.members)?;
        let everyone: Vec<PartnerCode> = invited.into_iter().chain(observers).collect();
        let aud = policy::item_audience(self.partner(), Some(&everyone), &f)?;
        let id = plan.exercise_id.clone();
        self.publish(&aud, &[Payload::ExercisePlan(plan)]).await?;
        self.exercise(who, &id).await
    }

    pub async fn respond_exercise(
        &self,
        who: &Principal,
        id: &str,
        response: ExerciseResponse,
    ) -> Result<ExerciseState, NodeError> {
        who.require(Role::Officer, "respond to invitations")?;
        let x = self.exercise(who, id).await?;
        if !(x.plan.invited.contains(self.partner()) || x.plan.observers.contains(self.partner())) {
            return Err(NodeError::Forbidden("respond: this partner is not invited"));
        }
        self.publish(
            &x.audience,
            &[Payload::ExerciseRespond(ExerciseRespond {
                exercise_id: id.to_owned(),
                response,
                author: who.user_id(),
            })],
        )
        .await?;
        self.exercise(who, id).await
    }

    /// Link an after-action lesson (a lesson-learned item released to the same audience).
    pub async fn add_exercise_lesson(
        &self,
        who: &Principal,
        id: &str,
        item_id: &str,
    ) -> Result<ExerciseState, NodeError> {
        who.require(Role::Analyst, "link lessons")?;
        let x = self.exercise(who, id).await?;
        let it = self.item(who, item_id).await?;
        if it.kind != entente_domain::ItemKind::LessonLearned || it.audience != x.audience {
            return Err(DomainError::invalid(
                "item_id",
                "a lesson-learned item released to the exercise's audience",
            )
            .into());
        }
        self.publish(
            &x.audience,
            &[Payload::ExerciseLesson(ExerciseLesson {
                exercise_id: id.to_owned(),
                item_id: item_id.to_owned(),
                author: who.user_id(),
            })],
        )
        .await?;
        self.exercise(who, id).await
    }

    pub async fn exercise(&self, _who: &Principal, id: &str) -> Result<ExerciseState, NodeError> {
        match self.load_coord("exercise", id).await? {
            Some(Coord::Exercise(x)) if x.audience.contains(self.partner()) => Ok(x),
            _ => Err(NodeError::NotFound("exercise")),
        }
    }

    pub async fn exercises(&self, _who: &Principal) -> Result<Vec<ExerciseState>, NodeError> {
        let mut v: Vec<ExerciseState> = self
            .coords("exercise")
            .await?
            .into_iter()
            .filter_map(|c| {
                if let Coord::Exercise(x) = c {
                    Some(x)
                } else {
                    None
                }
            })
            .collect();
        v.sort_by(|a, b| a.plan.details.start.cmp(&b.plan.details.start));
        Ok(v)
    }

    // ----- projects ------------------------------------------------------------------------

    pub async fn register_project(
        &self,
        who: &Principal,
        n: NewProject,
    ) -> Result<ProjectState, NodeError> {
        who.require(Role::Officer, "register projects")?;
        let f = self
            .store
            .format(&n.format_id)
            .await?
            .ok_or(NodeError::NotFound("format"))?;
        let participants = self.parse_partners(&n.participants)?;
        let aud = self.audience_in(&f, n.releasable_to.as_deref())?;
        if let Some(p) = participants.iter().find(|p| !aud.contains(p)) {
            return Err(DomainError::invalid(
                "participants",
                format!("{p} is not in the project's audience"),
            )
            .into());
        }
        if n.title.trim().is_empty()
            || n.capability_area.trim().is_empty()
            || n.stage.trim().is_empty()
        {
            return Err(DomainError::invalid(
                "title",
                "a title, a capability area and a stage are required",
            )
            .into());
        }
        let r = ProjectRegister {
            project_id: crate::new_id(),
            format_id: f.format_id,
            title: n.title.trim().to_owned(),
            capability_area: n.capability_area.trim().to_owned(),
            description: n.description,
            stage: n.stage.trim().to_owned(),
            participants,
            author: who.user_id(),
        };
        let id = r.project_id.clone();
        self.publish(&aud, &[Payload::ProjectRegister(r)]).await?;
        self.project(who, &id).await
    }

    pub async fn express_interest(
        &self,
        who: &Principal,
        id: &str,
        note: &str,
    ) -> Result<ProjectState, NodeError> {
        who.require(Role::Analyst, "express interest")?;
        let p = self.project(who, id).await?;
        self.publish(
            &p.audience,
            &[Payload::ProjectInterest(ProjectInterest {
                project_id: id.to_owned(),
                note: note.to_owned(),
                author: who.user_id(),
            })],
        )
        .await?;
        self.project(who, id).await
    }

    pub async fn project(&self, _who: &Principal, id: &str) -> Result<ProjectState, NodeError> {
        match self.load_coord("project", id).await? {
            Some(Coord::Project(p)) if p.audience.contains(self.partner()) => Ok(p),
            _ => Err(NodeError::NotFound("project")),
        }
    }

    pub async fn projects(&self, _who: &Principal) -> Result<Vec<ProjectState>, NodeError> {
        Ok(self
            .coords("project")
            .await?
            .into_iter()
            .filter_map(|c| {
                if let Coord::Project(p) = c {
                    Some(p)
                } else {
                    None
                }
            })
            .collect())
    }

    pub async fn match_projects(
        &self,
        who: &Principal,
        area: &str,
    ) -> Result<BTreeMap<PartnerCode, Vec<String>>, NodeError> {
        Ok(match_partners(&self.projects(who).await?, area))
    }

    // ----- endorsements and sightings ------------------------------------------------------

    pub async fn endorse(&self, who: &Principal, item_id: &str) -> Result<Reactions, NodeError> {
        who.require(Role::Officer, "endorse")?;
        let it = self.item(who, item_id).await?;
        if it.kind != entente_domain::ItemKind::BestPractice {
            return Err(DomainError::invalid("item", "only best practices are endorsed").into());
        }
        self.publish(
            &it.audience,
            &[Payload::Endorse(Endorse {
                subject: item_id.to_owned(),
                author: who.user_id(),
            })],
        )
        .await?;
        self.reactions(who, item_id).await
    }

    pub async fn sighting(
        &self,
        who: &Principal,
        item_id: &str,
        seen_at: &str,
        count: u32,
        note: &str,
    ) -> Result<Reactions, NodeError> {
        who.require(Role::Analyst, "record sightings")?;
        let it = self.item(who, item_id).await?;
        if !entente_domain::stix::is_timestamp(seen_at) || count == 0 {
            return Err(DomainError::invalid(
                "seen_at",
                "an RFC 3339 UTC timestamp and a count of at least 1",
            )
            .into());
        }
        let s = Sighting {
            subject: item_id.to_owned(),
            seen_at: seen_at.to_owned(),
            count,
            note: note.to_owned(),
            author: who.user_id(),
        };
        self.publish(&it.audience, &[Payload::Sighting(s)]).await?;
        self.reactions(who, item_id).await
    }

    /// Endorsements and sightings of an item the caller may see.
    pub async fn reactions(&self, who: &Principal, item_id: &str) -> Result<Reactions, NodeError> {
        self.item(who, item_id).await?;
        match self.load_coord("reactions", item_id).await? {
            Some(Coord::Reactions(r)) => Ok(r),
            _ => Ok(Reactions {
                subject: item_id.to_owned(),
                ..Default::default()
            }),
        }
    }
}
