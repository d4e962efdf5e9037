//! Coordination instruments besides statements and alerts: joint actions with milestones and
//! signed progress reports (and the generated periodic progress report), exercises, industrial
//! projects with expressions of interest, discussions (`thread`), and endorsements and sightings of items. Each is a
//! fold over signed entries that several partners append to their own logs. Pure.

use crate::{Audience, DomainError, PartnerCode};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

mod exercise;
pub use exercise::*;
mod files;
pub use files::*;
mod ids;
pub use ids::*;
mod meeting;
pub use meeting::*;
mod paper;
pub use paper::*;
mod thread;
pub use thread::*;

// ----- joint actions ------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    Proposed,
    Agreed,
    InProgress,
    Implemented,
    Stalled,
    Dropped,
}

impl ActionStatus {
    pub const ALL: [ActionStatus; 6] = [
        ActionStatus::Proposed,
        ActionStatus::Agreed,
        ActionStatus::InProgress,
        ActionStatus::Implemented,
        ActionStatus::Stalled,
        ActionStatus::Dropped,
    ];
    pub fn label(self) -> &'static str {
        match self {
            ActionStatus::Proposed => "proposed",
            ActionStatus::Agreed => "agreed",
            ActionStatus::InProgress => "in progress",
            ActionStatus::Implemented => "implemented",
            ActionStatus::Stalled => "stalled",
            ActionStatus::Dropped => "dropped",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Milestone {
    pub milestone_id: String,
    pub title: String,
    /// YYYY-MM-DD.
    pub due: String,
    #[serde(default)]
    pub done: bool,
    #[serde(default)]
    pub note: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionCreate {
    pub action_id: String,
    pub format_id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// A grouping such as "countering hybrid threats" (the 2016 common action areas).
    #[serde(default)]
    pub group: String,
    pub topics: Vec<String>,
    pub leads: Vec<PartnerCode>,
    pub participants: Vec<PartnerCode>,
    pub milestones: Vec<Milestone>,
    pub author: String,
    /// The meeting whose agreed minutes decided it. Omitted from the signed text when unset, so
    /// actions created before it existed verify unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_meeting: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MilestoneUpdate {
    pub milestone_id: String,
    pub done: bool,
    #[serde(default)]
    pub note: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProgressReport {
    pub action_id: String,
    pub report_id: String,
    /// The reporting period, e.g. "2026-H2" or "2026-11".
    pub period: String,
    pub status: ActionStatus,
    pub narrative: String,
    #[serde(default)]
    pub milestones: Vec<MilestoneUpdate>,
    pub author: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportRecord {
    pub report: ProgressReport,
    pub partner: PartnerCode,
    pub at: String,
    pub entry: (String, u64),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionState {
    pub action_id: String,
    pub format_id: String,
    pub origin: PartnerCode,
    pub audience: Audience,
    pub title: String,
    pub description: String,
    pub group: String,
    pub topics: Vec<String>,
    pub leads: Vec<PartnerCode>,
    pub participants: Vec<PartnerCode>,
    pub milestones: Vec<Milestone>,
    pub status: ActionStatus,
    pub reports: Vec<ReportRecord>,
    pub created_at: String,
    pub entry: (String, u64),
    /// The meeting whose agreed minutes decided it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_meeting: Option<String>,
}

impl ActionState {
    pub fn from_create(
        c: &ActionCreate,
        origin: &PartnerCode,
        audience: &Audience,
        at: &str,
        entry: (String, u64),
    ) -> ActionState {
        ActionState {
            action_id: c.action_id.clone(),
            format_id: c.format_id.clone(),
            origin: origin.clone(),
            audience: audience.clone(),
            title: c.title.clone(),
            description: c.description.clone(),
            group: c.group.clone(),
            topics: c.topics.clone(),
            leads: c.leads.clone(),
            participants: c.participants.clone(),
            milestones: c.milestones.clone(),
            status: ActionStatus::Proposed,
            reports: vec![],
            created_at: at.to_owned(),
            entry,
            from_meeting: c.from_meeting.clone(),
        }
    }

    pub fn is_participant(&self, p: &PartnerCode) -> bool {
        self.participants.contains(p) || self.leads.contains(p)
    }

    /// Apply a progress report from `partner`: milestone updates from any participant; the
    /// status only from a lead partner (leads speak for the action).
    pub fn apply_report(
        &mut self,
        r: &ProgressReport,
        partner: &PartnerCode,
        at: &str,
        entry: (String, u64),
    ) -> bool {
        if !self.is_participant(partner) {
            return false;
        }
        self.reports.push(ReportRecord {
            report: r.clone(),
            partner: partner.clone(),
            at: at.to_owned(),
            entry,
        });
        // Reports come from several partners' logs in whatever order a node receives them;
        // replaying them in (time, partner, entry) order makes the state the same everywhere.
        self.reports
            .sort_by(|a, b| (&a.at, &a.partner, &a.entry).cmp(&(&b.at, &b.partner, &b.entry)));
        self.status = ActionStatus::Proposed;
        for m in &mut self.milestones {
            m.done = false;
            m.note.clear();
        }
        for rec in &self.reports {
            for u in &rec.report.milestones {
                if let Some(m) = self
                    .milestones
                    .iter_mut()
                    .find(|m| m.milestone_id == u.milestone_id)
                {
                    m.done = u.done;
                    m.note = u.note.clone();
                }
            }
            if self.leads.contains(&rec.partner) {
                self.status = rec.report.status;
            }
        }
        true
    }

    pub fn overdue_milestones(&self, today: &str) -> Vec<&Milestone> {
        self.milestones
            .iter()
            .filter(|m| !m.done && m.due.as_str() < today)
            .collect()
    }
}

pub(crate) fn is_date(s: &str) -> bool {
    s.len() == 10
        && time::Date::parse(
            s,
            &time::macros::format_description!("[year]-[month]-[day]"),
        )
        .is_ok()
}

pub fn validate_action(
    c: &mut ActionCreate,
    members: &BTreeSet<PartnerCode>,
) -> Result<(), DomainError> {
    c.title = c.title.trim().to_owned();
    if c.title.is_empty() || c.title.len() > 300 {
        return Err(DomainError::invalid(
            "title",
            "a title of 1 to 300 characters is required",
        ));
    }
    c.topics = crate::taxonomy::normalise(&c.topics)?;
    if c.leads.is_empty() {
        return Err(DomainError::invalid("leads", "at least one lead partner"));
    }
    for p in c.leads.iter().chain(&c.participants) {
        if !members.contains(p) {
            return Err(DomainError::invalid(
                "participants",
                format!("{p} is not a member of the format"),
            ));
        }
    }
    let mut prev = String::new();
    for m in &c.milestones {
        if !is_date(&m.due) {
            return Err(DomainError::invalid(
                "milestones",
                format!("due date {:?} is not YYYY-MM-DD", m.due),
            ));
        }
        if m.due < prev {
            return Err(DomainError::invalid(
                "milestones",
                "milestone due dates are out of order",
            ));
        }
        prev = m.due.clone();
    }
    Ok(())
}

/// The periodic progress report of a format: statistics by status, topic and lead, overdue
/// milestones, each partner's contributions, and the entries it was built from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeriodicReport {
    pub format_title: String,
    pub period: String,
    pub generated_on: String,
    pub actions: usize,
    pub by_status: BTreeMap<String, usize>,
    pub by_topic: BTreeMap<String, usize>,
    pub by_lead: BTreeMap<String, usize>,
    pub overdue: Vec<(String, String, String)>,
    pub contributions: BTreeMap<String, usize>,
    pub reports_in_period: usize,
    pub built_from: Vec<(String, u64)>,
    pub lines: Vec<(String, String, Vec<String>, String)>,
    /// The action id of each of `lines`, in the same order (a page links each line to its
    /// action; the tuples stay as API clients know them).
    #[serde(default)]
    pub line_actions: Vec<String>,
    /// The action id of each of `overdue`, in the same order.
    #[serde(default)]
    pub overdue_actions: Vec<String>,
    pub marking: ReportMarking,
}

/// Whom a report may go to, stated at its top and bottom. A report carries what every action it
/// counts says, so it may go only to the members every one of those actions is released to (all
/// of the format's members when it counts none). It includes no items, so no TLP applies: it is
/// unmarked, and unmarked content stays within its audience.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportMarking {
    pub releasable_to: Vec<PartnerCode>,
    /// The format's members it is not releasable to.
    pub not_to: Vec<PartnerCode>,
}

impl ReportMarking {
    fn of(members: &BTreeSet<PartnerCode>, actions: &[ActionState]) -> ReportMarking {
        let (releasable_to, not_to) = members
            .iter()
            .cloned()
            .partition(|p| actions.iter().all(|a| a.audience.contains(p)));
        ReportMarking {
            releasable_to,
            not_to,
        }
    }

    /// The marking in words: "Releasable to EU, JPN, NATO — format members only. Unmarked …".
    pub fn words(&self) -> String {
        let join = |v: &[PartnerCode]| v.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ");
        if self.releasable_to.is_empty() {
            return "Releasable to no partner: do not share this report.".into();
        }
        let scope = if self.not_to.is_empty() {
            "format members only".to_owned()
        } else {
            format!("not {}", join(&self.not_to))
        };
        format!(
            "Releasable to {} — {scope}. Unmarked (no TLP: the report includes no items), so it stays within these partners.",
            join(&self.releasable_to)
        )
    }
}

/// A reporting period: a year (`2026`), a half (`2026-H2`), a quarter (`2026-Q4`) or a month
/// (`2026-11`). Nothing else: the period goes into titles, file names and headers (L3).
pub fn validate_period(p: &str) -> Result<(), crate::DomainError> {
    let ok = match p.as_bytes() {
        y if y.len() == 4 => y.iter().all(u8::is_ascii_digit),
        [y0, y1, y2, y3, b'-', b'H', h] => {
            [y0, y1, y2, y3].iter().all(|d| d.is_ascii_digit()) && matches!(h, b'1' | b'2')
        }
        [y0, y1, y2, y3, b'-', b'Q', q] => {
            [y0, y1, y2, y3].iter().all(|d| d.is_ascii_digit()) && matches!(q, b'1'..=b'4')
        }
        [y0, y1, y2, y3, b'-', m0, m1] => {
            [y0, y1, y2, y3, m0, m1].iter().all(|d| d.is_ascii_digit())
                && matches!((m0, m1), (b'0', b'1'..=b'9') | (b'1', b'0'..=b'2'))
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(crate::DomainError::invalid(
            "period",
            "a year (2026), half (2026-H2), quarter (2026-Q4) or month (2026-11)",
        ))
    }
}

/// The report of a format with these `members` over the `actions` the reader may see.
pub fn periodic_report(
    format_title: &str,
    members: &BTreeSet<PartnerCode>,
    period: &str,
    today: &str,
    actions: &[ActionState],
) -> PeriodicReport {
    let mut r = PeriodicReport {
        marking: ReportMarking::of(members, actions),
        format_title: format_title.to_owned(),
        period: period.to_owned(),
        generated_on: today.to_owned(),
        actions: actions.len(),
        by_status: BTreeMap::new(),
        by_topic: BTreeMap::new(),
        by_lead: BTreeMap::new(),
        overdue: vec![],
        contributions: BTreeMap::new(),
        reports_in_period: 0,
        built_from: vec![],
        lines: vec![],
        line_actions: vec![],
        overdue_actions: vec![],
    };
    for a in actions {
        *r.by_status.entry(a.status.label().to_owned()).or_default() += 1;
        for t in &a.topics {
            *r.by_topic.entry(t.clone()).or_default() += 1;
        }
        for l in &a.leads {
            *r.by_lead.entry(l.to_string()).or_default() += 1;
        }
        for m in a.overdue_milestones(today) {
            r.overdue
                .push((a.title.clone(), m.title.clone(), m.due.clone()));
            r.overdue_actions.push(a.action_id.clone());
        }
        r.built_from.push(a.entry.clone());
        for rep in &a.reports {
            r.built_from.push(rep.entry.clone());
            if rep.report.period == period {
                r.reports_in_period += 1;
                *r.contributions.entry(rep.partner.to_string()).or_default() += 1;
            }
        }
        let latest = a
            .reports
            .iter()
            .rev()
            .find(|x| x.report.period == period)
            .map(|x| x.report.narrative.clone())
            .unwrap_or_default();
        r.lines.push((
            a.title.clone(),
            a.status.label().to_owned(),
            a.leads.iter().map(|p| p.to_string()).collect(),
            latest,
        ));
        r.line_actions.push(a.action_id.clone());
    }
    r.built_from.sort();
    r
}

impl PeriodicReport {
    /// The report as Markdown, its marking the first and the last line. Every
    /// partner-supplied string (titles, topics, narratives, milestone names) goes through
    /// [`crate::text::markdown_escape`] (L5).
    pub fn markdown(&self) -> String {
        let m = crate::text::markdown_escape;
        let marking = format!("**{}**\n", self.marking.words());
        let mut s = format!(
            "{marking}\n# Progress report — {}\n\nPeriod: **{}** · generated {} · {} actions\n\n",
            m(&self.format_title),
            m(&self.period),
            self.generated_on,
            self.actions
        );
        s.push_str("## Actions by status\n\n| status | actions |\n|---|---|\n");
        for (k, v) in &self.by_status {
            s.push_str(&format!("| {} | {v} |\n", m(k)));
        }
        s.push_str("\n## Actions by topic\n\n| topic | actions |\n|---|---|\n");
        for (k, v) in &self.by_topic {
            s.push_str(&format!("| {} | {v} |\n", m(k)));
        }
        s.push_str("\n## Actions by lead partner\n\n| lead | actions |\n|---|---|\n");
        for (k, v) in &self.by_lead {
            s.push_str(&format!("| {} | {v} |\n", m(k)));
        }
        s.push_str("\n## Overdue milestones\n\n");
        if self.overdue.is_empty() {
            s.push_str("None.\n");
        }
        for (a, ms, due) in &self.overdue {
            s.push_str(&format!("- {}: {} (due {})\n", m(a), m(ms), m(due)));
        }
        s.push_str(&format!("\n## Contributions this period ({} progress reports)\n\n| partner | progress reports |\n|---|---|\n", self.reports_in_period));
        for (k, v) in &self.contributions {
            s.push_str(&format!("| {} | {v} |\n", m(k)));
        }
        s.push_str("\n## Actions\n\n");
        for (t, st, leads, narrative) in &self.lines {
            s.push_str(&format!(
                "### {}\n\nStatus: {st} · lead: {}\n\n{}\n\n",
                m(t),
                m(&leads.join(", ")),
                if narrative.is_empty() {
                    "No report this period.".to_owned()
                } else {
                    m(narrative)
                }
            ));
        }
        s.push_str(&format!(
            "\n## Built from {} signed entries\n\n",
            self.built_from.len()
        ));
        for (log, seq) in &self.built_from {
            s.push_str(&format!("- log `{log}` entry {seq}\n"));
        }
        s.push('\n');
        s.push_str(&marking);
        s
    }

    pub fn html(&self) -> String {
        let e = |x: &str| {
            crate::text::display_safe(x)
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
        };
        let table = |title: &str, col: &str, m: &BTreeMap<String, usize>| {
            let rows: String = m
                .iter()
                .map(|(k, v)| format!("<tr><td>{}</td><td>{v}</td></tr>", e(k)))
                .collect();
            format!(
                "<h2>{title}</h2><table><thead><tr><th scope=\"col\">{col}</th><th scope=\"col\">actions</th></tr></thead><tbody>{rows}</tbody></table>"
            )
        };
        let marking = format!(
            "<p class=\"marking\"><strong>{}</strong></p>",
            e(&self.marking.words())
        );
        let mut s = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Progress report — {t}</title></head><body><main>{mk}<h1>Progress report — {t}</h1><p>Period: <strong>{p}</strong> · generated {g} · {n} actions</p>",
            t = e(&self.format_title),
            p = e(&self.period),
            g = e(&self.generated_on),
            n = self.actions,
            mk = marking,
        );
        s.push_str(&table("Actions by status", "status", &self.by_status));
        s.push_str(&table("Actions by topic", "topic", &self.by_topic));
        s.push_str(&table("Actions by lead partner", "lead", &self.by_lead));
        s.push_str("<h2>Overdue milestones</h2><ul>");
        for (a, m, due) in &self.overdue {
            s.push_str(&format!("<li>{}: {} (due {})</li>", e(a), e(m), e(due)));
        }
        s.push_str("</ul>");
        s.push_str(&format!(
            "<h2>Contributions this period ({} progress reports)</h2>",
            self.reports_in_period
        ));
        s.push_str("<table><thead><tr><th scope=\"col\">partner</th><th scope=\"col\">progress reports</th></tr></thead><tbody>");
        for (k, v) in &self.contributions {
            s.push_str(&format!("<tr><td>{}</td><td>{v}</td></tr>", e(k)));
        }
        s.push_str("</tbody></table><h2>Actions</h2>");
        for (t, st, leads, narrative) in &self.lines {
            s.push_str(&format!(
                "<section><h3>{}</h3><p>Status: {} · lead: {}</p><p>{}</p></section>",
                e(t),
                e(st),
                e(&leads.join(", ")),
                e(narrative)
            ));
        }
        s.push_str(&format!(
            "<h2>Built from {} signed entries</h2><ul>",
            self.built_from.len()
        ));
        for (log, seq) in &self.built_from {
            s.push_str(&format!("<li>log <code>{}</code> entry {seq}</li>", e(log)));
        }
        s.push_str("</ul>");
        s.push_str(&marking);
        s.push_str("</main></body></html>");
        s
    }
}

// ----- industrial projects ------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProjectRegister {
    pub project_id: String,
    pub format_id: String,
    pub title: String,
    pub capability_area: String,
    #[serde(default)]
    pub description: String,
    /// e.g. concept, development, production.
    pub stage: String,
    pub participants: Vec<PartnerCode>,
    pub author: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProjectInterest {
    pub project_id: String,
    #[serde(default)]
    pub note: String,
    pub author: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProjectState {
    pub project: ProjectRegister,
    pub origin: PartnerCode,
    pub audience: Audience,
    pub interests: BTreeMap<PartnerCode, String>,
}

/// Partners to bring together on a capability area: the participants of projects in that
/// area and every partner that expressed interest in one, with the projects they share.
pub fn match_partners(projects: &[ProjectState], area: &str) -> BTreeMap<PartnerCode, Vec<String>> {
    let mut out: BTreeMap<PartnerCode, Vec<String>> = BTreeMap::new();
    // "maritime" finds "maritime domain awareness": the area contains what was asked, in any
    // case (review defect 7: an exact match found nothing a person would look for).
    let wanted = area.trim().to_lowercase();
    if wanted.is_empty() {
        return out;
    }
    for p in projects
        .iter()
        .filter(|p| p.project.capability_area.to_lowercase().contains(&wanted))
    {
        for who in p.project.participants.iter().chain(p.interests.keys()) {
            let v = out.entry(who.clone()).or_default();
            if !v.contains(&p.project.title) {
                v.push(p.project.title.clone());
            }
        }
    }
    out
}

// ----- endorsements and sightings -------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Endorse {
    /// An item id or a STIX object id.
    pub subject: String,
    pub author: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sighting {
    pub subject: String,
    pub seen_at: String,
    pub count: u32,
    #[serde(default)]
    pub note: String,
    pub author: String,
}

#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct Reactions {
    pub subject: String,
    pub endorsements: BTreeMap<PartnerCode, String>,
    pub sightings: Vec<(PartnerCode, Sighting)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partner::code;

    #[test]
    fn the_markdown_report_escapes_partner_text() {
        let mut r = periodic_report("F", &BTreeSet::new(), "2026-H2", "2026-12-01", &[]);
        r.lines.push((
            "T <b>".into(),
            "open".into(),
            vec!["EU".into()],
            "[click](javascript:alert(1))\n# not a heading <script>x</script>".into(),
        ));
        let md = r.markdown();
        assert!(!md.contains("](javascript"), "{md}");
        assert!(!md.contains("<script>") && !md.contains("<b>"), "{md}");
        assert!(md.contains("\\# not a heading"), "{md}");
    }

    #[test]
    fn periods_are_years_halves_quarters_or_months() {
        for ok in [
            "2026", "2026-H1", "2026-H2", "2026-Q4", "2026-01", "2026-12",
        ] {
            assert!(validate_period(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "2026-H3",
            "2026-Q5",
            "2026-13",
            "2026-00",
            "26-11",
            "2026-12\"; filename=\"invoice.exe",
            "2026-W48",
        ] {
            assert!(validate_period(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn actions_reports_and_the_periodic_report() {
        let members: BTreeSet<_> = [code("EU"), code("NATO"), code("JPN")].into();
        let ms = |d: &[&str]| {
            d.iter()
                .enumerate()
                .map(|(i, d)| Milestone {
                    milestone_id: format!("m{i}"),
                    title: format!("M{i}"),
                    due: d.to_string(),
                    done: false,
                    note: String::new(),
                })
                .collect::<Vec<_>>()
        };
        let mut c = ActionCreate {
            action_id: "a".into(),
            format_id: "f".into(),
            title: "Counter hybrid".into(),
            description: String::new(),
            group: "countering hybrid threats".into(),
            topics: vec!["hybrid-threats".into()],
            leads: vec![code("EU")],
            participants: vec![code("NATO")],
            milestones: ms(&["2026-01-01", "2026-06-30"]),
            author: "a@EU".into(),
            from_meeting: None,
        };
        validate_action(&mut c, &members).unwrap();
        let mut bad = c.clone();
        bad.milestones = ms(&["2026-06-30", "2026-01-01"]);
        assert!(
            validate_action(&mut bad, &members).is_err(),
            "milestone dates out of order"
        );
        let aud = Audience::new([code("EU"), code("NATO")]).unwrap();
        let mut a = ActionState::from_create(
            &c,
            &code("EU"),
            &aud,
            "2026-01-01T00:00:00.000Z",
            ("l".into(), 1),
        );
        let rep = |status, done| ProgressReport {
            action_id: "a".into(),
            report_id: "r".into(),
            period: "2026-H2".into(),
            status,
            narrative: "ok".into(),
            milestones: vec![MilestoneUpdate {
                milestone_id: "m0".into(),
                done,
                note: String::new(),
            }],
            author: "x".into(),
        };
        assert!(
            !a.apply_report(
                &rep(ActionStatus::Implemented, true),
                &code("JPN"),
                "t",
                ("l2".into(), 1)
            ),
            "a non-participant"
        );
        assert!(a.apply_report(
            &rep(ActionStatus::Stalled, true),
            &code("NATO"),
            "t",
            ("l2".into(), 1)
        ));
        assert_eq!(
            a.status,
            ActionStatus::Proposed,
            "only a lead sets the status"
        );
        assert!(a.apply_report(
            &rep(ActionStatus::InProgress, true),
            &code("EU"),
            "t",
            ("l".into(), 2)
        ));
        assert_eq!(a.status, ActionStatus::InProgress);
        let r = periodic_report("F", &members, "2026-H2", "2026-12-01", &[a]);
        assert_eq!(r.by_status["in progress"], 1);
        assert_eq!(
            r.overdue,
            vec![("Counter hybrid".into(), "M1".into(), "2026-06-30".into())]
        );
        assert_eq!(r.contributions["EU"], 1);
        assert_eq!(r.contributions["NATO"], 1);
        assert_eq!(r.built_from.len(), 3);
        assert!(r.markdown().contains("| in progress | 1 |"));
        assert!(r.html().contains("<td>in progress</td><td>1</td>"));
        // Released to EU and NATO, the action keeps the report from JPN, top and bottom.
        let line = "**Releasable to EU, NATO — not JPN. Unmarked (no TLP: the report includes no items), so it stays within these partners.**";
        let md = r.markdown();
        assert!(md.starts_with(line), "{md}");
        assert!(md.trim_end().ends_with(line), "{md}");
        let html = r.html();
        assert_eq!(html.matches("Releasable to EU, NATO — not JPN.").count(), 2);
        assert!(html.starts_with("<!doctype html>"));
        let empty = periodic_report("F", &members, "2026-H2", "2026-12-01", &[]);
        assert!(
            empty
                .markdown()
                .starts_with("**Releasable to EU, JPN, NATO — format members only. Unmarked")
        );
    }
}
