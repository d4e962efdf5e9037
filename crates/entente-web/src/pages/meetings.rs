//! Meetings: the list with the form to plan one (prefilled for the next meeting of a series with
//! `?next=…`), and a meeting's page: when and where in the reader's zone, the agenda linked to
//! its objects, the minutes with each participant's stance (taken on the minutes' statement
//! page), the convener's form to draft or revise them, and the agreed decisions as actions.

use super::*;
use entente_domain::coord::{AgendaItem, MeetingDetails, MeetingLevel, MeetingState, NewMeeting};
use entente_node::meetings::MeetingView;

#[derive(Template)]
#[template(path = "meetings.html")]
pub struct MeetingsPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub form: FormData,
    pub meetings: Vec<MeetingState>,
    pub formats: Vec<FormatState>,
    pub partners: Vec<String>,
    pub zones: Vec<String>,
    /// The agenda the form carries, one item per line (`title` or `title | kind:id`).
    pub agenda: String,
}

impl MeetingsPage {
    pub fn level(&self, l: &MeetingLevel) -> String {
        self.ctx.label(l.label())
    }
}

/// The agenda as the form's lines: `title`, or `title | kind:id` for a point about an object.
fn agenda_lines(agenda: &[AgendaItem]) -> String {
    agenda
        .iter()
        .map(|a| match &a.subject {
            Some(s) => format!("{} | {}:{}", a.title, s.kind, s.id),
            None => a.title.clone(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn parse_agenda(text: &str) -> Vec<AgendaItem> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.rsplit_once(" | ") {
            Some((title, subj)) => AgendaItem {
                title: title.trim().to_owned(),
                subject: subj.trim().split_once(':').map(|(k, id)| {
                    entente_domain::coord::ThreadSubject {
                        kind: k.to_owned(),
                        id: id.to_owned(),
                    }
                }),
            },
            None => AgendaItem {
                title: l.to_owned(),
                subject: None,
            },
        })
        .collect()
}

pub(super) async fn meetings_page(
    s: &WebState,
    sess: &Session,
    errors: Errors,
    form: FormData,
) -> Response {
    let r = async { Ok::<_, NodeError>((s.node.meetings(&sess.who).await?, my_formats(s).await?)) }
        .await;
    let (meetings, formats) = match r {
        Ok(x) => x,
        Err(e) => return fail(&sess.ctx, e),
    };
    render(
        form_status(&errors),
        &MeetingsPage {
            ctx: sess.ctx.clone(),
            agenda: form.get("agenda").to_owned(),
            errors,
            form,
            meetings,
            partners: member_codes(&formats),
            formats,
            zones: crate::zone::common_zones(&sess.ctx.zone.name),
        },
    )
}

/// The list; with `?next=<meeting>`, the form prefilled with the next meeting of its series.
pub(super) async fn meetings(
    State(s): State<WebState>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Page {
    let sess = session(&s, &h).await?;
    let mut form = FormData::default();
    if let Some(prev) = query(&q).opt("next") {
        let n = s
            .node
            .next_meeting_draft(&sess.who, &prev)
            .await
            .map_err(|e| fail(&sess.ctx, e))?;
        let d = &n.details;
        let zone = crate::zone::Zone::named(&d.time_zone).unwrap_or(sess.ctx.zone.clone());
        let local = zone
            .local(&d.starts_at)
            .map(|l| l.get(..16).unwrap_or("").replacen(' ', "T", 1))
            .unwrap_or_default();
        let mut fields = vec![
            ("format_id".to_owned(), n.format_id.clone()),
            ("title".into(), d.title.clone()),
            ("level".into(), d.level.code().into()),
            ("starts_at".into(), local),
            ("time_zone".into(), zone.name.clone()),
            ("place".into(), d.place.clone()),
            ("series".into(), d.series.clone()),
            ("agenda".into(), agenda_lines(&d.agenda)),
            ("previous".into(), prev),
        ];
        fields.extend(
            n.participants
                .iter()
                .map(|p| ("participants".into(), p.clone())),
        );
        form = FormData(fields);
    }
    Ok(meetings_page(&s, &sess, Errors::default(), form).await)
}

pub(super) async fn plan_meeting(State(s): State<WebState>, h: HeaderMap, body: Bytes) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let mut errors = Errors::default();
    required(
        &mut errors,
        &f,
        &[
            ("format_id", "Format"),
            ("title", "Title"),
            ("starts_at", "Date and time"),
        ],
    );
    let level = MeetingLevel::ALL
        .into_iter()
        .find(|l| l.code() == f.get("level"))
        .unwrap_or(MeetingLevel::WorkingLevel);
    let zone = match f.opt("time_zone") {
        None => Some(sess.ctx.zone.clone()),
        Some(z) => crate::zone::Zone::named(&z),
    };
    let starts_at = match (f.opt("starts_at"), zone.as_ref()) {
        (Some(typed), Some(z)) => match z.parse_local(&typed) {
            Ok(at) => at,
            Err(why) => {
                errors.add("starts_at", format!("Date and time: {why}."));
                String::new()
            }
        },
        (Some(_), None) => {
            errors.add("starts_at", "Date and time: choose a known time zone.");
            String::new()
        }
        (None, _) => String::new(),
    };
    if !errors.is_empty() {
        return Ok(meetings_page(&s, &sess, errors, f).await);
    }
    let n = NewMeeting {
        format_id: f.get("format_id").to_owned(),
        details: MeetingDetails {
            title: f.get("title").to_owned(),
            level,
            starts_at,
            time_zone: zone.map(|z| z.name.clone()).unwrap_or_default(),
            place: f.get("place").trim().to_owned(),
            series: f.get("series").to_owned(),
            agenda: parse_agenda(f.get("agenda")),
        },
        participants: f.list("participants"),
        previous: f.opt("previous"),
    };
    match s.node.plan_meeting(&sess.who, n).await {
        Ok(m) => Ok(done_to(
            &format!("/ui/meetings/{}", m.plan.meeting_id),
            Done::MeetingPlanned,
        )),
        Err(e) => Ok(meetings_page(
            &s,
            &sess,
            Errors::from_node(
                &e,
                &[
                    "format_id",
                    "title",
                    "starts_at",
                    "place",
                    "series",
                    "agenda",
                    "participants",
                ],
            ),
            f,
        )
        .await),
    }
}

#[derive(Template)]
#[template(path = "meeting.html")]
pub struct MeetingPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub form: FormData,
    pub v: MeetingView,
    pub audience: String,
    pub format_title: String,
    /// Is this partner the convener (it drafts the minutes and records the decisions)?
    pub convener: bool,
    /// Each participant and its stance on the current minutes, in words.
    pub stances: Vec<(String, String)>,
    /// The minutes' status in words.
    pub status: String,
    /// The files (convener's or penholder's), each with whether it is here and what the
    /// malware scanner found in one it withheld.
    pub files: Vec<(
        entente_domain::attachment::AttachmentRef,
        bool,
        Option<String>,
    )>,
    /// The page the files hang under (`/ui/meetings/ID`).
    pub files_base: String,
    /// May the user attach a file here (this partner convenes or holds the pen)?
    pub may_attach: bool,
}

impl MeetingPage {
    pub fn level(&self) -> String {
        self.ctx.label(self.v.meeting.plan.details.level.label())
    }

    /// The page of an agenda point's object.
    pub fn href(&self, a: &AgendaItem) -> Option<String> {
        a.subject
            .as_ref()
            .map(|s| format!("/ui/{}s/{}", s.kind, s.id))
    }

    /// The time in the zone it was set in, beside the reader's own.
    pub fn in_zone(&self) -> String {
        let d = &self.v.meeting.plan.details;
        crate::zone::Zone::named(&d.time_zone)
            .and_then(|z| z.local(&d.starts_at))
            .unwrap_or_default()
    }

    /// Decisions not yet recorded as actions.
    pub fn pending_decisions(&self) -> usize {
        self.v
            .decisions
            .iter()
            .filter(|d| !self.v.actions.iter().any(|a| a.title == d.title))
            .count()
    }
}

/// A meeting's page with errors of a form posted to it.
pub(super) async fn meeting_view(
    s: &WebState,
    sess: &Session,
    id: &str,
    errors: Errors,
) -> Response {
    meeting_page(s, sess, id, errors, FormData::default()).await
}

async fn meeting_page(
    s: &WebState,
    sess: &Session,
    id: &str,
    errors: Errors,
    form: FormData,
) -> Response {
    let v = match s.node.meeting(&sess.who, id).await {
        Ok(v) => v,
        Err(e) => return fail(&sess.ctx, e),
    };
    let audience = audience_short(
        s,
        &v.meeting.plan.format_id,
        &v.meeting.audience,
        sess.ctx.lang,
    )
    .await;
    let format_title = s
        .node
        .format(&v.meeting.plan.format_id)
        .await
        .map(|f| f.title)
        .unwrap_or_default();
    let (stances, status) = match &v.minutes {
        Some(m) => (
            m.current_stances
                .iter()
                .map(|(p, st)| {
                    let words = match st {
                        Some(entente_domain::statement::Stance::Endorse) => "agreed",
                        Some(entente_domain::statement::Stance::StandAside) => "stands aside",
                        Some(entente_domain::statement::Stance::Object) => "requests changes",
                        None => "not yet agreed",
                    };
                    (p.to_string(), sess.ctx.label(words))
                })
                .collect(),
            super::statements::status_words(&m.status, &sess.ctx.zone, sess.ctx.lang),
        ),
        None => (vec![], String::new()),
    };
    let convener = v.meeting.convener == *s.node.partner();
    let files = match s.node.object_files_here("meeting", id).await {
        Ok(f) => f,
        Err(e) => return fail(&sess.ctx, e),
    };
    let mut form = form;
    if form.0.is_empty()
        && let Some(text) = v
            .minutes
            .as_ref()
            .and_then(|m| m.state.versions.last())
            .map(|x| x.text.clone())
    {
        form = FormData(vec![("text".into(), text)]);
    }
    render(
        form_status(&errors),
        &MeetingPage {
            ctx: sess.ctx.clone(),
            errors,
            form,
            audience,
            format_title,
            convener,
            stances,
            status,
            files,
            files_base: format!("/ui/meetings/{id}"),
            may_attach: convener && sess.who.role >= Role::Officer,
            v,
        },
    )
}

pub(super) async fn meeting(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Page {
    let sess = session(&s, &h).await?;
    Ok(meeting_page(&s, &sess, &id, Errors::default(), FormData::default()).await)
}

/// The convener's forms: `minutes` (draft or revise) and `decisions` (record them as actions).
pub(super) async fn meeting_post(
    State(s): State<WebState>,
    h: HeaderMap,
    Path((id, what)): Path<(String, String)>,
    body: Bytes,
) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let r = match what.as_str() {
        "minutes" => {
            let mut errors = Errors::default();
            required(&mut errors, &f, &[("text", "Minutes")]);
            if !errors.is_empty() {
                return Ok(meeting_page(&s, &sess, &id, errors, f).await);
            }
            s.node
                .draft_minutes(&sess.who, &id, f.get("text"))
                .await
                .map(|_| Done::MinutesDrafted)
        }
        "decisions" => s
            .node
            .record_decisions(&sess.who, &id)
            .await
            .map(|_| Done::DecisionsRecorded),
        _ => return Err(fail(&sess.ctx, NodeError::NotFound("page"))),
    };
    match r {
        Ok(done) => Ok(done_to(&format!("/ui/meetings/{id}"), done)),
        Err(e @ (NodeError::NotFound(_) | NodeError::Forbidden(_))) => Err(fail(&sess.ctx, e)),
        Err(e) => Ok(meeting_page(&s, &sess, &id, Errors::from_node(&e, &["text"]), f).await),
    }
}
