//! The search documents of what the index holds: an item, a STIX object, an action, a
//! statement, an alert, an exercise or a project as text with its reader tokens and facet
//! values (`policy::reader_tokens`); the entries that change an object's text. Not the index,
//! its queries or its committer (`search`).

use entente_domain::{ItemState, policy};
use entente_search::SearchDoc;
use entente_store::Projection;

pub(super) fn period(at: &str) -> String {
    at.get(..7).unwrap_or_default().to_owned()
}

/// The text of the files of items, by item id (items without files, or whose files have no
/// text here yet, are absent).
pub type FileTexts = std::collections::HashMap<String, String>;

/// The document for an item (None: it leaves the index, e.g. when retracted): its body, then
/// the text of its files.
pub fn item_doc(it: &ItemState, files: &FileTexts) -> Option<SearchDoc> {
    if it.retracted.is_some() {
        return None;
    }
    let body = match files.get(&it.item_id) {
        Some(t) => format!("{}\n{t}", it.body),
        None => it.body.clone(),
    };
    Some(SearchDoc {
        id: format!("item:{}", it.item_id),
        kind: it.kind.as_str().to_owned(),
        title: it.title.clone(),
        body,
        readers: policy::reader_tokens(&it.audience, it.tlp, &it.author, &it.named_users),
        format: it.format_id.clone(),
        topics: it.topics.clone(),
        partner: it.origin.to_string(),
        tlp: it.tlp.as_str().to_owned(),
        period: period(&it.created_at),
    })
}

pub(super) fn stix_doc(row: &entente_store::StixRow, raw: &str) -> Option<SearchDoc> {
    // Items are indexed as items; their collection rows are markers.
    if raw.starts_with(crate::ITEM_MARKER) {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(raw).ok()?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or_default();
    let title = match s("name") {
        "" => row.stix_id.clone(),
        n => n.to_owned(),
    };
    let body = [s("description"), s("pattern"), s("value"), s("content")]
        .into_iter()
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    Some(SearchDoc {
        id: format!("stix:{}/{}", row.collection, row.stix_id),
        kind: row.stix_type.clone(),
        title,
        body,
        readers: policy::reader_tokens(&row.audience, row.tlp, &row.author, &row.named_users),
        format: row.collection.clone(),
        topics: vec![],
        partner: row.origin.to_string(),
        tlp: row.tlp.as_str().to_owned(),
        period: period(&row.version),
    })
}

pub(super) fn action_doc(a: &entente_domain::coord::ActionState) -> SearchDoc {
    let milestones: Vec<&str> = a.milestones.iter().map(|m| m.title.as_str()).collect();
    SearchDoc {
        id: format!("action:{}", a.action_id),
        kind: "action".into(),
        title: a.title.clone(),
        body: format!("{}\n{}", a.description, milestones.join("\n")),
        readers: policy::reader_tokens(&a.audience, entente_domain::Tlp::Green, "", &[]),
        format: a.format_id.clone(),
        topics: a.topics.clone(),
        partner: a.origin.to_string(),
        tlp: "none".into(),
        period: period(&a.created_at),
    }
}

pub(super) fn statement_doc(s: &entente_domain::statement::StatementState) -> Option<SearchDoc> {
    let v = s.versions.last()?;
    Some(SearchDoc {
        id: format!("statement:{}", s.statement_id),
        kind: "statement".into(),
        title: v.title.clone(),
        body: v.text.clone(),
        readers: policy::reader_tokens(&s.audience, entente_domain::Tlp::Green, "", &[]),
        format: s.format_id.clone(),
        topics: vec![],
        partner: s.origin.to_string(),
        tlp: "none".into(),
        period: period(&s.versions.first().map(|v| v.at.clone()).unwrap_or_default()),
    })
}

/// A document of an audience (alerts, exercises and projects carry no TLP, like actions and
/// statements).
#[allow(clippy::too_many_arguments)]
fn audience_doc(
    id: String,
    kind: &str,
    title: String,
    body: String,
    audience: &entente_domain::Audience,
    format: String,
    topics: Vec<String>,
    partner: String,
    at: &str,
) -> SearchDoc {
    SearchDoc {
        id,
        kind: kind.to_owned(),
        title,
        body,
        readers: policy::reader_tokens(audience, entente_domain::Tlp::Green, "", &[]),
        format,
        topics,
        partner,
        tlp: "none".into(),
        period: period(at),
    }
}

pub(super) fn alert_doc(a: &entente_domain::alert::AlertState) -> SearchDoc {
    audience_doc(
        format!("alert:{}", a.alert_id),
        "alert",
        a.title.clone(),
        a.text.clone(),
        &a.audience,
        a.format_id.clone(),
        vec![],
        a.origin.to_string(),
        &a.raised_at,
    )
}

pub(super) fn exercise_doc(x: &entente_domain::coord::ExerciseState) -> SearchDoc {
    let d = &x.plan.details;
    audience_doc(
        format!("exercise:{}", x.plan.exercise_id),
        "exercise",
        d.name.clone(),
        format!("{}\n{}\n{}", d.location, x.lessons.join("\n"), d.start),
        &x.audience,
        x.plan.format_id.clone(),
        d.topics.clone(),
        x.organiser.to_string(),
        &d.start,
    )
}

pub(super) fn project_doc(p: &entente_domain::coord::ProjectState) -> SearchDoc {
    let r = &p.project;
    audience_doc(
        format!("project:{}", r.project_id),
        "project",
        r.title.clone(),
        format!("{}\n{}\n{}", r.capability_area, r.stage, r.description),
        &p.audience,
        r.format_id.clone(),
        vec![],
        p.origin.to_string(),
        "",
    )
}

/// A discussion: its title and every post that stands, each with the text of its files (a
/// retracted post's text leaves the index with the retraction). `files` is keyed by each
/// post's [`crate::attachments::FileOwner::key`].
pub(super) fn thread_doc(t: &entente_domain::coord::ThreadState, files: &FileTexts) -> SearchDoc {
    let body = t
        .posts
        .iter()
        .filter(|p| p.retracted.is_none())
        .map(|p| {
            let key = crate::attachments::FileOwner::Post {
                thread_id: t.thread_id.clone(),
                post_id: p.post_id.clone(),
            }
            .key();
            match key.and_then(|k| files.get(&k)) {
                Some(text) => format!("{}\n{text}", p.body),
                None => p.body.clone(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n\n");
    audience_doc(
        format!("thread:{}", t.thread_id),
        "thread",
        t.title.clone(),
        body,
        &t.audience,
        t.format_id.clone(),
        vec![],
        t.origin.to_string(),
        &t.created_at,
    )
}

/// The text of an owner's files from `files` (keyed by [`FileOwner::key`]), after a newline.
fn with_files(text: String, owner: crate::attachments::FileOwner, files: &FileTexts) -> String {
    match owner.key().and_then(|k| files.get(&k)) {
        Some(f) => format!("{text}\n{f}"),
        None => text,
    }
}

/// A meeting: its title, place, agenda and the text of its files (the minutes are a
/// statement, indexed as one).
pub(super) fn meeting_doc(m: &entente_domain::coord::MeetingState, files: &FileTexts) -> SearchDoc {
    let d = &m.plan.details;
    let agenda: Vec<&str> = d.agenda.iter().map(|a| a.title.as_str()).collect();
    let owner = crate::attachments::FileOwner::Meeting(m.plan.meeting_id.clone());
    audience_doc(
        format!("meeting:{}", m.plan.meeting_id),
        "meeting",
        d.title.clone(),
        with_files(format!("{}\n{}", d.place, agenda.join("\n")), owner, files),
        &m.audience,
        m.plan.format_id.clone(),
        vec![],
        m.convener.to_string(),
        &d.starts_at,
    )
}

/// A concept paper: its title, current text and the text of its files.
pub(super) fn paper_doc(p: &entente_domain::coord::PaperState, files: &FileTexts) -> SearchDoc {
    let owner = crate::attachments::FileOwner::Paper(p.paper_id.clone());
    audience_doc(
        format!("paper:{}", p.paper_id),
        "paper",
        p.title.clone(),
        with_files(p.text(), owner, files),
        &p.audience,
        p.format_id.clone(),
        vec![],
        p.penholder.to_string(),
        &p.created_at,
    )
}

/// An alert, exercise, project, discussion, meeting or concept paper (the other coordination
/// objects people search for) from its stored state.
pub(super) fn object_doc(kind: &str, state: &str, files: &FileTexts) -> Option<SearchDoc> {
    match kind {
        entente_domain::fold::ALERT_KIND => serde_json::from_str(state).ok().map(|a| alert_doc(&a)),
        "exercise" => serde_json::from_str(state).ok().map(|x| exercise_doc(&x)),
        "project" => serde_json::from_str(state).ok().map(|p| project_doc(&p)),
        "thread" => serde_json::from_str(state)
            .ok()
            .map(|t| thread_doc(&t, files)),
        "meeting" => serde_json::from_str(state)
            .ok()
            .map(|m| meeting_doc(&m, files)),
        "paper" => serde_json::from_str(state)
            .ok()
            .map(|p| paper_doc(&p, files)),
        _ => None,
    }
}

/// The coordination objects the index holds besides actions.
pub(super) const OBJECT_KINDS: [&str; 6] = [
    entente_domain::fold::ALERT_KIND,
    "exercise",
    "project",
    "thread",
    "meeting",
    "paper",
];

/// The entries that write the searchable text of those objects.
pub(super) const TEXT_ENTRIES: [&str; 12] = [
    "alert.raise",
    "exercise.plan",
    "exercise.lesson",
    "project.register",
    "thread.start",
    "thread.post",
    "thread.edit",
    "thread.retract",
    "meeting.plan",
    "paper.draft",
    "paper.decide",
    "files.set",
];

/// Documents (to write, to delete) for the projections of one append (STIX rows carry their
/// text in `raw`: `index_append` cut it out of the entries).
pub(super) fn docs_for(
    projections: &[Projection],
    files: &FileTexts,
) -> (Vec<SearchDoc>, Vec<String>) {
    let mut up = Vec::new();
    let mut del = Vec::new();
    for p in projections {
        match p {
            Projection::Item(it) => match item_doc(it, files) {
                Some(d) => up.push(d),
                None => del.push(format!("item:{}", it.item_id)),
            },
            Projection::Stix(row) => up.extend(stix_doc(row, &row.raw)),
            Projection::StixDelete {
                collection,
                stix_id,
            } => del.push(format!("stix:{collection}/{stix_id}")),
            Projection::Statement(s) => up.extend(statement_doc(s)),
            Projection::Object { kind, state, .. } if *kind == "action" => {
                if let Ok(a) = serde_json::from_str(state) {
                    up.push(action_doc(&a));
                }
            }
            Projection::Object { kind, state, .. } => up.extend(object_doc(kind, state, files)),
            _ => {}
        }
    }
    (up, del)
}
