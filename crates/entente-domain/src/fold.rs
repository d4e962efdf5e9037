//! The fold's rules for coordination objects and alerts: how one signed entry changes the
//! state of the object it is about. Pure functions of the entry and the state (no IO): the
//! node preloads the states an entry batch touches, applies these rules, and stores what
//! changed. Every holder applies the same rules, so every holder computes the same state.

use crate::alert::{AckRecord, AlertState};
use crate::coord::{
    ActionState, ExerciseState, MeetingState, PaperState, ProjectState, Reactions, ThreadState,
};
use crate::payload::Payload;
use crate::{Audience, ItemState, PartnerCode};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The kind under which alert states are stored.
pub const ALERT_KIND: &str = "alert";

/// What the rules need of a signed entry's header (`entente_log::ParsedEntry::at` builds it).
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    pub log: &'a str,
    pub seq: u64,
    pub origin: &'a PartnerCode,
    pub audience: &'a Audience,
    pub ts: &'a str,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Coord {
    Action(ActionState),
    Exercise(ExerciseState),
    Project(ProjectState),
    Reactions(Reactions),
    Thread(ThreadState),
    Meeting(MeetingState),
    Paper(PaperState),
}

impl Coord {
    pub fn kind(&self) -> &'static str {
        match self {
            Coord::Action(_) => "action",
            Coord::Exercise(_) => "exercise",
            Coord::Project(_) => "project",
            Coord::Reactions(_) => "reactions",
            Coord::Thread(_) => "thread",
            Coord::Meeting(_) => "meeting",
            Coord::Paper(_) => "paper",
        }
    }
}

impl Coord {
    /// The file references of this object's files (a thread's posts', a meeting's, a paper's):
    /// each owner's key ([`crate::attachment::FileOwner::key`]) and its files' `(sha256, size)`,
    /// for the store's reference rows (so the fetcher finds them).
    pub fn file_refs(&self) -> Vec<(String, Vec<(String, u64)>)> {
        use crate::attachment::FileOwner;
        let refs = |files: &[crate::attachment::AttachmentRef]| -> Vec<(String, u64)> {
            files.iter().map(|a| (a.sha256.clone(), a.size)).collect()
        };
        let one = |o: FileOwner, files: &[crate::attachment::AttachmentRef]| {
            o.key()
                .filter(|_| !files.is_empty())
                .map(|k| (k, refs(files)))
                .into_iter()
                .collect()
        };
        match self {
            Coord::Thread(t) => t.file_refs().collect(),
            Coord::Meeting(m) => one(FileOwner::Meeting(m.plan.meeting_id.clone()), &m.files),
            Coord::Paper(p) => one(FileOwner::Paper(p.paper_id.clone()), &p.files),
            _ => vec![],
        }
    }
}

/// The (kind, id) a payload is about, if it is a coordination payload.
pub fn coord_key(p: &Payload) -> Option<(&'static str, String)> {
    Some(match p {
        Payload::ActionCreate(x) => ("action", x.action_id.clone()),
        Payload::ActionProgress(x) => ("action", x.action_id.clone()),
        Payload::ExercisePlan(x) => ("exercise", x.exercise_id.clone()),
        Payload::ExerciseRespond(x) => ("exercise", x.exercise_id.clone()),
        Payload::ExerciseLesson(x) => ("exercise", x.exercise_id.clone()),
        Payload::ProjectRegister(x) => ("project", x.project_id.clone()),
        Payload::ProjectInterest(x) => ("project", x.project_id.clone()),
        Payload::Endorse(x) => ("reactions", x.subject.clone()),
        Payload::Sighting(x) => ("reactions", x.subject.clone()),
        Payload::ThreadStart(x) => ("thread", x.thread_id.clone()),
        Payload::ThreadPost(x) => ("thread", x.thread_id.clone()),
        Payload::ThreadEdit(x) => ("thread", x.thread_id.clone()),
        Payload::ThreadRetract(x) => ("thread", x.thread_id.clone()),
        Payload::MeetingPlan(x) => ("meeting", x.meeting_id.clone()),
        Payload::MeetingMinutes(x) => ("meeting", x.meeting_id.clone()),
        Payload::PaperDraft(x) => ("paper", x.paper_id.clone()),
        Payload::PaperAmend(x) => ("paper", x.paper_id.clone()),
        Payload::PaperDecide(x) => ("paper", x.paper_id.clone()),
        Payload::PaperSignoff(x) => ("paper", x.paper_id.clone()),
        Payload::FilesSet(x) => (crate::coord::files_kind(&x.kind)?, x.id.clone()),
        _ => return None,
    })
}

pub type CoordMap = BTreeMap<(&'static str, String), Option<Coord>>;

/// Fold one coordination entry. Returns the key it changed, or Err(true) when what it refers
/// to is not held yet, Err(false) when it does not apply.
pub fn apply_coord(
    map: &mut CoordMap,
    items: &HashMap<String, ItemState>,
    h: &At<'_>,
    p: &Payload,
) -> Result<(&'static str, String), bool> {
    let entry = (h.log.to_owned(), h.seq);
    let key = coord_key(p).ok_or(false)?;
    let slot = map.entry(key.clone()).or_default();
    match (p, slot.as_mut()) {
        (Payload::ActionCreate(c), None) => {
            *slot = Some(Coord::Action(ActionState::from_create(
                c, h.origin, h.audience, h.ts, entry,
            )));
        }
        (Payload::ActionProgress(r), Some(Coord::Action(a))) if a.audience == *h.audience => {
            if !a.apply_report(r, h.origin, h.ts, entry) {
                return Err(false);
            }
        }
        (Payload::ExercisePlan(x), None) => {
            // The same rule as when it was planned: a peer's plan that breaks it is kept in the
            // log as evidence and never shown.
            if x.details.check().is_err() {
                return Err(false);
            }
            *slot = Some(Coord::Exercise(ExerciseState {
                plan: x.clone(),
                organiser: h.origin.clone(),
                audience: h.audience.clone(),
                responses: BTreeMap::new(),
                lessons: vec![],
            }));
        }
        (Payload::ExerciseRespond(r), Some(Coord::Exercise(x)))
            if x.audience == *h.audience
                && (x.plan.invited.contains(h.origin) || x.plan.observers.contains(h.origin)) =>
        {
            x.responses.insert(h.origin.clone(), r.response);
        }
        (Payload::ExerciseLesson(l), Some(Coord::Exercise(x))) if x.audience == *h.audience => {
            if !x.lessons.contains(&l.item_id) {
                x.lessons.push(l.item_id.clone());
                // Order-independent: lessons may come from several partners' logs.
                x.lessons.sort();
            }
        }
        (Payload::ProjectRegister(r), None) => {
            *slot = Some(Coord::Project(ProjectState {
                project: r.clone(),
                origin: h.origin.clone(),
                audience: h.audience.clone(),
                interests: BTreeMap::new(),
            }));
        }
        (Payload::ProjectInterest(i), Some(Coord::Project(pr))) if pr.audience == *h.audience => {
            pr.interests.insert(h.origin.clone(), i.note.clone());
        }
        (Payload::Endorse(x), _) => {
            let item = items.get(&x.subject).ok_or(true)?;
            if item.audience != *h.audience {
                return Err(false);
            }
            let r = slot.get_or_insert_with(|| {
                Coord::Reactions(Reactions {
                    subject: x.subject.clone(),
                    ..Default::default()
                })
            });
            if let Coord::Reactions(r) = r {
                r.endorsements
                    .entry(h.origin.clone())
                    .or_insert_with(|| h.ts.to_owned());
            }
        }
        (Payload::Sighting(s), _) => {
            let item = items.get(&s.subject).ok_or(true)?;
            if item.audience != *h.audience {
                return Err(false);
            }
            let r = slot.get_or_insert_with(|| {
                Coord::Reactions(Reactions {
                    subject: s.subject.clone(),
                    ..Default::default()
                })
            });
            if let Coord::Reactions(r) = r {
                r.sightings.push((h.origin.clone(), s.clone()));
                r.sightings.sort_by(|a, b| {
                    (&a.0, &a.1.seen_at, &a.1.author, a.1.count).cmp(&(
                        &b.0,
                        &b.1.seen_at,
                        &b.1.author,
                        b.1.count,
                    ))
                });
            }
        }
        (Payload::ThreadStart(t), None) => {
            *slot = Some(Coord::Thread(ThreadState::start(
                t, h.origin, h.audience, h.ts, entry,
            )?));
        }
        (Payload::ThreadPost(r), Some(Coord::Thread(t))) => {
            t.reply(r, h.origin, h.audience, h.ts, entry)?
        }
        (Payload::ThreadEdit(e), Some(Coord::Thread(t))) => {
            t.edit(e, h.origin, h.audience, h.ts)?
        }
        (Payload::ThreadRetract(r), Some(Coord::Thread(t))) => {
            t.retract(r, h.origin, h.audience, h.ts)?
        }
        (Payload::MeetingPlan(m), None) => {
            *slot = Some(Coord::Meeting(MeetingState::plan(m, h.origin, h.audience)?));
        }
        (Payload::MeetingMinutes(m), Some(Coord::Meeting(x))) => {
            x.link_minutes(m, h.origin, h.audience)?
        }
        (Payload::PaperDraft(d), None) => {
            *slot = Some(Coord::Paper(PaperState::draft(
                d, h.origin, h.audience, h.ts,
            )?));
        }
        (Payload::PaperAmend(a), Some(Coord::Paper(p))) => {
            p.amend(a, h.origin, h.audience, h.ts)?
        }
        (Payload::PaperDecide(d), Some(Coord::Paper(p))) => {
            p.decide(d, h.origin, h.audience, h.ts)?
        }
        (Payload::PaperSignoff(s), Some(Coord::Paper(p))) => p.sign_off(s, h.origin, h.audience)?,
        (Payload::FilesSet(f), Some(Coord::Meeting(m))) => m.set_files(f, h.origin, h.audience)?,
        (Payload::FilesSet(f), Some(Coord::Paper(p))) => p.set_files(f, h.origin, h.audience)?,
        (_, None) => return Err(true),
        _ => return Err(false),
    }
    Ok(key)
}

/// Fold one alert entry. Returns the alert it changed, or Err(true) when the alert it refers to
/// is not held yet, Err(false) when it does not apply.
pub fn apply_alert(
    states: &mut BTreeMap<String, Option<AlertState>>,
    h: &At<'_>,
    p: &Payload,
) -> Result<String, bool> {
    match p {
        Payload::AlertRaise(r) => {
            let slot = states.entry(r.alert_id.clone()).or_default();
            if slot.is_none() {
                *slot = Some(AlertState::from_raise(r, h.origin, h.audience, h.ts));
                return Ok(r.alert_id.clone());
            }
            Err(false)
        }
        Payload::AlertReceipt(r) => match states.get_mut(&r.alert_id) {
            Some(Some(a)) if a.audience == *h.audience && *h.origin != a.origin => {
                a.receipts
                    .entry(h.origin.clone())
                    .or_insert_with(|| h.ts.to_owned());
                Ok(r.alert_id.clone())
            }
            Some(Some(_)) => Err(false),
            _ => Err(true),
        },
        Payload::AlertAck(k) => match states.get_mut(&k.alert_id) {
            Some(Some(a))
                if a.audience == *h.audience
                    && *h.origin != a.origin
                    && k.by.ends_with(&format!("@{}", h.origin)) =>
            {
                a.receipts
                    .entry(h.origin.clone())
                    .or_insert_with(|| h.ts.to_owned());
                a.acks.entry(h.origin.clone()).or_insert_with(|| AckRecord {
                    by: k.by.clone(),
                    at: h.ts.to_owned(),
                    note: k.note.clone(),
                });
                Ok(k.alert_id.clone())
            }
            Some(Some(_)) => Err(false),
            _ => Err(true),
        },
        _ => Err(false),
    }
}
