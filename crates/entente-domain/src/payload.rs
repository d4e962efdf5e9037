//! Entry payloads: what each kind of signed log entry says. The log crate carries a payload
//! as opaque JSON; this module gives it a type. Unknown kinds are refused, not guessed at.

use crate::{PartnerCode, Tlp};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FormatCharter {
    pub format_id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub topics: Vec<String>,
    pub members: Vec<PartnerCode>,
    pub convener: PartnerCode,
    /// Who STIX objects posted to the format's collection without a releasability marking are
    /// released to (the poster is always included); none: the poster only. Omitted from the
    /// signed text when unset, so charters written before it existed verify unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stix_default_releasable_to: Option<Vec<PartnerCode>>,
}

/// The convener admits a partner. It carries the whole charter as it stands after the
/// join, because the new member never received the earlier entries (their audience did not
/// include it) and must be able to build the format from this entry alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FormatJoin {
    pub partner: PartnerCode,
    #[serde(flatten)]
    pub charter: FormatCharter,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FormatLeave {
    pub format_id: String,
    pub partner: PartnerCode,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FormatClose {
    pub format_id: String,
    #[serde(default)]
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemPublish {
    pub item_id: String,
    pub format_id: String,
    pub kind: crate::ItemKind,
    pub title: String,
    pub body: String,
    pub topics: Vec<String>,
    /// Absent means unmarked, which is treated as TLP:RED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tlp: Option<Tlp>,
    /// For TLP:RED: the users (`name@PARTNER`) who may see the item besides its author.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub named_users: Vec<String>,
    pub author: String,
    /// A release of the originator's own earlier item to a wider audience (a partner admitted
    /// since): the signed entry it repeats. Omitted from the signed text when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_from: Option<crate::item::ReleasedFrom>,
    /// Files the item carries (omitted from the signed text when there are none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<crate::attachment::AttachmentRef>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemRevise {
    pub item_id: String,
    pub title: String,
    pub body: String,
    pub topics: Vec<String>,
    pub author: String,
    /// The item's files from this revision on, when they change (omitted: unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<crate::attachment::AttachmentRef>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemRetract {
    pub item_id: String,
    #[serde(default)]
    pub reason: String,
    pub author: String,
}

/// A JSON value kept as the exact text received, so STIX objects are served byte for byte.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawJson(pub Box<serde_json::value::RawValue>);

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl RawJson {
    pub fn get(&self) -> &str {
        self.0.get()
    }
}

/// STIX objects published into a format's collection (one entry per TAXII POST and audience).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StixObjects {
    pub format_id: String,
    pub author: String,
    pub objects: Vec<RawJson>,
}

/// A borrowed view of a `stix.objects` payload: each object is a slice of the entry's text, so
/// the fold can point at it instead of copying it.
#[derive(Debug, Deserialize)]
pub struct StixObjectsRef<'a> {
    pub format_id: String,
    pub author: String,
    #[serde(borrow)]
    pub objects: Vec<&'a serde_json::value::RawValue>,
}

/// The originator deletes a STIX object (all its versions) from a collection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StixDelete {
    pub format_id: String,
    pub stix_id: String,
    pub author: String,
}

/// A typed entry payload, tagged by the entry's `kind`.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    FormatCharter(FormatCharter),
    FormatJoin(FormatJoin),
    FormatLeave(FormatLeave),
    FormatClose(FormatClose),
    ItemPublish(ItemPublish),
    ItemRevise(ItemRevise),
    ItemRetract(ItemRetract),
    StixObjects(StixObjects),
    StixDelete(StixDelete),
    StatementDraft(crate::statement::StatementDraft),
    StatementStance(crate::statement::StatementStance),
    AlertRaise(crate::alert::AlertRaise),
    AlertReceipt(crate::alert::AlertReceipt),
    AlertAck(crate::alert::AlertAck),
    ActionCreate(crate::coord::ActionCreate),
    ActionProgress(crate::coord::ProgressReport),
    ExercisePlan(crate::coord::ExercisePlan),
    ExerciseRespond(crate::coord::ExerciseRespond),
    ExerciseLesson(crate::coord::ExerciseLesson),
    ProjectRegister(crate::coord::ProjectRegister),
    ProjectInterest(crate::coord::ProjectInterest),
    Endorse(crate::coord::Endorse),
    Sighting(crate::coord::Sighting),
    ThreadStart(crate::coord::ThreadStart),
    ThreadPost(crate::coord::ThreadPost),
    ThreadEdit(crate::coord::ThreadEdit),
    ThreadRetract(crate::coord::ThreadRetract),
    MeetingPlan(crate::coord::MeetingPlan),
    MeetingMinutes(crate::coord::MeetingMinutes),
    PaperDraft(crate::coord::PaperDraft),
    PaperAmend(crate::coord::PaperAmend),
    PaperDecide(crate::coord::PaperDecide),
    PaperSignoff(crate::coord::PaperSignoff),
    FilesSet(crate::coord::FilesSet),
}

#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("unknown entry kind {0:?}")]
    UnknownKind(String),
    #[error("payload of {kind} does not parse: {source}")]
    Malformed {
        kind: String,
        source: serde_json::Error,
    },
}

impl Payload {
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::FormatCharter(_) => "format.charter",
            Payload::FormatJoin(_) => "format.join",
            Payload::FormatLeave(_) => "format.leave",
            Payload::FormatClose(_) => "format.close",
            Payload::ItemPublish(_) => "item.publish",
            Payload::ItemRevise(_) => "item.revise",
            Payload::ItemRetract(_) => "item.retract",
            Payload::StixObjects(_) => "stix.objects",
            Payload::StixDelete(_) => "stix.delete",
            Payload::StatementDraft(_) => "statement.draft",
            Payload::StatementStance(_) => "statement.stance",
            Payload::AlertRaise(_) => "alert.raise",
            Payload::AlertReceipt(_) => "alert.receipt",
            Payload::AlertAck(_) => "alert.ack",
            Payload::ActionCreate(_) => "action.create",
            Payload::ActionProgress(_) => "action.progress",
            Payload::ExercisePlan(_) => "exercise.plan",
            Payload::ExerciseRespond(_) => "exercise.respond",
            Payload::ExerciseLesson(_) => "exercise.lesson",
            Payload::ProjectRegister(_) => "project.register",
            Payload::ProjectInterest(_) => "project.interest",
            Payload::Endorse(_) => "reaction.endorse",
            Payload::Sighting(_) => "reaction.sighting",
            Payload::ThreadStart(_) => "thread.start",
            Payload::ThreadPost(_) => "thread.post",
            Payload::ThreadEdit(_) => "thread.edit",
            Payload::ThreadRetract(_) => "thread.retract",
            Payload::MeetingPlan(_) => "meeting.plan",
            Payload::MeetingMinutes(_) => "meeting.minutes",
            Payload::PaperDraft(_) => "paper.draft",
            Payload::PaperAmend(_) => "paper.amend",
            Payload::PaperDecide(_) => "paper.decide",
            Payload::PaperSignoff(_) => "paper.signoff",
            Payload::FilesSet(_) => "files.set",
        }
    }

    pub fn to_json(&self) -> String {
        let r = match self {
            Payload::FormatCharter(p) => serde_json::to_string(p),
            Payload::FormatJoin(p) => serde_json::to_string(p),
            Payload::FormatLeave(p) => serde_json::to_string(p),
            Payload::FormatClose(p) => serde_json::to_string(p),
            Payload::ItemPublish(p) => serde_json::to_string(p),
            Payload::ItemRevise(p) => serde_json::to_string(p),
            Payload::ItemRetract(p) => serde_json::to_string(p),
            Payload::StixObjects(p) => serde_json::to_string(p),
            Payload::StixDelete(p) => serde_json::to_string(p),
            Payload::StatementDraft(p) => serde_json::to_string(p),
            Payload::StatementStance(p) => serde_json::to_string(p),
            Payload::AlertRaise(p) => serde_json::to_string(p),
            Payload::AlertReceipt(p) => serde_json::to_string(p),
            Payload::AlertAck(p) => serde_json::to_string(p),
            Payload::ActionCreate(p) => serde_json::to_string(p),
            Payload::ActionProgress(p) => serde_json::to_string(p),
            Payload::ExercisePlan(p) => serde_json::to_string(p),
            Payload::ExerciseRespond(p) => serde_json::to_string(p),
            Payload::ExerciseLesson(p) => serde_json::to_string(p),
            Payload::ProjectRegister(p) => serde_json::to_string(p),
            Payload::ProjectInterest(p) => serde_json::to_string(p),
            Payload::Endorse(p) => serde_json::to_string(p),
            Payload::Sighting(p) => serde_json::to_string(p),
            Payload::ThreadStart(p) => serde_json::to_string(p),
            Payload::ThreadPost(p) => serde_json::to_string(p),
            Payload::ThreadEdit(p) => serde_json::to_string(p),
            Payload::ThreadRetract(p) => serde_json::to_string(p),
            Payload::MeetingPlan(p) => serde_json::to_string(p),
            Payload::MeetingMinutes(p) => serde_json::to_string(p),
            Payload::PaperDraft(p) => serde_json::to_string(p),
            Payload::PaperAmend(p) => serde_json::to_string(p),
            Payload::PaperDecide(p) => serde_json::to_string(p),
            Payload::PaperSignoff(p) => serde_json::to_string(p),
            Payload::FilesSet(p) => serde_json::to_string(p),
        };
        // Serialising plain structs of strings and vectors cannot fail.
        r.expect("payload serialises")
    }

    pub fn parse(kind: &str, json: &str) -> Result<Payload, PayloadError> {
        fn p<T: for<'de> Deserialize<'de>>(kind: &str, json: &str) -> Result<T, PayloadError> {
            serde_json::from_str(json).map_err(|source| PayloadError::Malformed {
                kind: kind.to_owned(),
                source,
            })
        }
        Ok(match kind {
            "format.charter" => Payload::FormatCharter(p(kind, json)?),
            "format.join" => Payload::FormatJoin(p(kind, json)?),
            "format.leave" => Payload::FormatLeave(p(kind, json)?),
            "format.close" => Payload::FormatClose(p(kind, json)?),
            "item.publish" => Payload::ItemPublish(p(kind, json)?),
            "item.revise" => Payload::ItemRevise(p(kind, json)?),
            "item.retract" => Payload::ItemRetract(p(kind, json)?),
            "stix.objects" => Payload::StixObjects(p(kind, json)?),
            "stix.delete" => Payload::StixDelete(p(kind, json)?),
            "statement.draft" => Payload::StatementDraft(p(kind, json)?),
            "statement.stance" => Payload::StatementStance(p(kind, json)?),
            "alert.raise" => Payload::AlertRaise(p(kind, json)?),
            "alert.receipt" => Payload::AlertReceipt(p(kind, json)?),
            "alert.ack" => Payload::AlertAck(p(kind, json)?),
            "action.create" => Payload::ActionCreate(p(kind, json)?),
            "action.progress" => Payload::ActionProgress(p(kind, json)?),
            "exercise.plan" => Payload::ExercisePlan(p(kind, json)?),
            "exercise.respond" => Payload::ExerciseRespond(p(kind, json)?),
            "exercise.lesson" => Payload::ExerciseLesson(p(kind, json)?),
            "project.register" => Payload::ProjectRegister(p(kind, json)?),
            "project.interest" => Payload::ProjectInterest(p(kind, json)?),
            "reaction.endorse" => Payload::Endorse(p(kind, json)?),
            "reaction.sighting" => Payload::Sighting(p(kind, json)?),
            "thread.start" => Payload::ThreadStart(p(kind, json)?),
            "thread.post" => Payload::ThreadPost(p(kind, json)?),
            "thread.edit" => Payload::ThreadEdit(p(kind, json)?),
            "thread.retract" => Payload::ThreadRetract(p(kind, json)?),
            "meeting.plan" => Payload::MeetingPlan(p(kind, json)?),
            "meeting.minutes" => Payload::MeetingMinutes(p(kind, json)?),
            "paper.draft" => Payload::PaperDraft(p(kind, json)?),
            "paper.amend" => Payload::PaperAmend(p(kind, json)?),
            "paper.decide" => Payload::PaperDecide(p(kind, json)?),
            "paper.signoff" => Payload::PaperSignoff(p(kind, json)?),
            "files.set" => Payload::FilesSet(p(kind, json)?),
            other => return Err(PayloadError::UnknownKind(other.to_owned())),
        })
    }

    /// The format or item this entry is about, used to key projections.
    pub fn subject(&self) -> &str {
        match self {
            Payload::FormatCharter(p) => &p.format_id,
            Payload::FormatJoin(p) => &p.charter.format_id,
            Payload::FormatLeave(p) => &p.format_id,
            Payload::FormatClose(p) => &p.format_id,
            Payload::ItemPublish(p) => &p.item_id,
            Payload::ItemRevise(p) => &p.item_id,
            Payload::ItemRetract(p) => &p.item_id,
            Payload::StixObjects(p) => &p.format_id,
            Payload::StixDelete(p) => &p.stix_id,
            Payload::StatementDraft(p) => &p.statement_id,
            Payload::StatementStance(p) => &p.statement_id,
            Payload::AlertRaise(p) => &p.alert_id,
            Payload::AlertReceipt(p) => &p.alert_id,
            Payload::AlertAck(p) => &p.alert_id,
            Payload::ActionCreate(p) => &p.action_id,
            Payload::ActionProgress(p) => &p.action_id,
            Payload::ExercisePlan(p) => &p.exercise_id,
            Payload::ExerciseRespond(p) => &p.exercise_id,
            Payload::ExerciseLesson(p) => &p.exercise_id,
            Payload::ProjectRegister(p) => &p.project_id,
            Payload::ProjectInterest(p) => &p.project_id,
            Payload::Endorse(p) => &p.subject,
            Payload::Sighting(p) => &p.subject,
            Payload::ThreadStart(p) => &p.thread_id,
            Payload::ThreadPost(p) => &p.thread_id,
            Payload::ThreadEdit(p) => &p.thread_id,
            Payload::ThreadRetract(p) => &p.thread_id,
            Payload::MeetingPlan(p) => &p.meeting_id,
            Payload::MeetingMinutes(p) => &p.meeting_id,
            Payload::PaperDraft(p) => &p.paper_id,
            Payload::PaperAmend(p) => &p.paper_id,
            Payload::PaperDecide(p) => &p.paper_id,
            Payload::PaperSignoff(p) => &p.paper_id,
            Payload::FilesSet(p) => &p.id,
        }
    }
}
