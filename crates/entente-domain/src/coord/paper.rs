//! Concept papers — the joint development of concepts: a text in sections held by a penholder
//! with co-authors; any partner of its audience proposes an amendment to a section, with a
//! reason; the penholder accepts it (a new version) or rejects it, with a reason; every version
//! is kept, so any two can be compared; and sign-off is a statement over the exact text of a
//! version (every required partner endorses it, as for joint statements). Pure.

use crate::{Audience, DomainError, PartnerCode};
use serde::{Deserialize, Serialize};

/// At most this many characters in a paper (a longer text is an attachment).
pub const MAX_PAPER_CHARS: usize = 60_000;
/// At most this many versions and amendments: the paper is one stored state.
pub const MAX_PAPER_VERSIONS: usize = 200;
pub const MAX_AMENDMENTS: usize = 500;
/// At most this many characters in a paper's stored state, every version and amendment
/// included: the limits per version alone would let one paper grow to tens of megabytes.
pub const MAX_PAPER_STATE_CHARS: usize = 2_000_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Section {
    pub heading: String,
    pub text: String,
}

/// The sections of a Markdown text: each `## ` line starts one; text before the first is a
/// section without a heading.
pub fn sections_of(markdown: &str) -> Vec<Section> {
    let mut out: Vec<Section> = vec![];
    for line in markdown.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            out.push(Section {
                heading: h.trim().to_owned(),
                text: String::new(),
            });
        } else {
            if out.is_empty() {
                out.push(Section {
                    heading: String::new(),
                    text: String::new(),
                });
            }
            let s = out.last_mut().expect("a section");
            s.text.push_str(line);
            s.text.push('\n');
        }
    }
    for s in &mut out {
        s.text = s.text.trim().to_owned();
    }
    out.retain(|s| !(s.heading.is_empty() && s.text.is_empty()));
    out
}

/// The paper's text as Markdown: its title, then each section under its heading.
pub fn paper_text(title: &str, sections: &[Section]) -> String {
    let mut s = format!("# {title}\n");
    for sec in sections {
        s.push('\n');
        if !sec.heading.is_empty() {
            s.push_str(&format!("## {}\n\n", sec.heading));
        }
        s.push_str(&sec.text);
        s.push('\n');
    }
    s
}

pub fn check_sections(title: &str, sections: &[Section]) -> Result<(), DomainError> {
    super::check_thread(title, None)?;
    let chars: usize = sections
        .iter()
        .map(|s| s.heading.chars().count() + s.text.chars().count())
        .sum();
    if sections.is_empty() || sections.len() > 100 || chars > MAX_PAPER_CHARS {
        return Err(DomainError::invalid(
            "text",
            format!("1 to 100 sections and at most {MAX_PAPER_CHARS} characters"),
        ));
    }
    Ok(())
}

/// `paper.draft`: a new paper, by its penholder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaperDraft {
    pub paper_id: String,
    pub format_id: String,
    pub title: String,
    pub sections: Vec<Section>,
    pub co_authors: Vec<PartnerCode>,
    pub author: String,
}

/// `paper.amend`: a proposed change to one section, with a reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaperAmend {
    pub paper_id: String,
    pub amendment_id: String,
    /// The section's index in the version it was proposed on.
    pub section: usize,
    /// The version it was proposed on.
    pub version: u32,
    pub text: String,
    pub reason: String,
    pub author: String,
}

/// `paper.decide`: the penholder accepts or rejects an amendment, with a reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaperDecide {
    pub paper_id: String,
    pub amendment_id: String,
    pub accept: bool,
    #[serde(default)]
    pub reason: String,
    pub author: String,
}

/// `paper.signoff`: the penholder names the statement its sign-off is taken on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaperSignoff {
    pub paper_id: String,
    pub statement_id: String,
    pub author: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AmendmentStatus {
    Proposed,
    Accepted,
    Rejected,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Amendment {
    pub amendment_id: String,
    pub partner: PartnerCode,
    pub author: String,
    pub section: usize,
    pub version: u32,
    pub text: String,
    pub reason: String,
    pub at: String,
    pub status: AmendmentStatus,
    /// The penholder's reason for accepting or rejecting it.
    #[serde(default)]
    pub decision_reason: String,
    /// The version its acceptance made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_version: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaperVersion {
    pub version: u32,
    pub sections: Vec<Section>,
    pub at: String,
    /// The amendment whose acceptance made it (none for version 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amendment: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaperState {
    pub paper_id: String,
    pub format_id: String,
    pub title: String,
    pub penholder: PartnerCode,
    pub co_authors: Vec<PartnerCode>,
    pub audience: Audience,
    pub created_at: String,
    /// Every version, oldest first; the last is the current text.
    pub versions: Vec<PaperVersion>,
    /// In (signed time, partner, id) order, the same on every holder.
    pub amendments: Vec<Amendment>,
    /// The statement its sign-off is taken on, once circulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signoff: Option<String>,
    /// The penholder's files (annexes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<crate::attachment::AttachmentRef>,
}

fn author_of(author: &str, origin: &PartnerCode) -> bool {
    author
        .rsplit_once('@')
        .is_some_and(|(name, p)| !name.is_empty() && p == origin.as_str())
}

impl PaperState {
    pub fn current(&self) -> &PaperVersion {
        self.versions.last().expect("a paper has a version")
    }

    pub fn text(&self) -> String {
        paper_text(&self.title, &self.current().sections)
    }

    /// The characters the stored state holds: every version's sections and every amendment.
    pub fn state_chars(&self) -> usize {
        let sections = |v: &PaperVersion| {
            v.sections
                .iter()
                .map(|s| s.heading.len() + s.text.len())
                .sum::<usize>()
        };
        self.versions.iter().map(sections).sum::<usize>()
            + self
                .amendments
                .iter()
                .map(|a| a.text.len() + a.reason.len() + a.decision_reason.len())
                .sum::<usize>()
    }

    /// Whether a sign-off statement is one this paper's sign-off may be taken on: the
    /// penholder's, over the paper's format and audience, requiring every partner of it. A
    /// penholder naming any other statement (one only it must endorse, say) must not make the
    /// paper read as adopted.
    pub fn signoff_fits(&self, s: &super::LinkedStatement<'_>) -> bool {
        let mut required = s.required.to_vec();
        required.sort();
        required.dedup();
        Some(s.statement_id) == self.signoff.as_deref()
            && *s.origin == self.penholder
            && s.format_id == self.format_id
            && *s.audience == self.audience
            && required.iter().eq(self.audience.iter())
    }

    pub fn draft(
        d: &PaperDraft,
        origin: &PartnerCode,
        audience: &Audience,
        at: &str,
    ) -> Result<PaperState, bool> {
        if !author_of(&d.author, origin)
            || !super::is_owned_by(&d.paper_id, origin)
            || !super::is_reference(&d.format_id)
            || check_sections(&d.title, &d.sections).is_err()
            || d.co_authors.iter().any(|p| !audience.contains(p))
        {
            return Err(false);
        }
        Ok(PaperState {
            paper_id: d.paper_id.clone(),
            format_id: d.format_id.clone(),
            title: d.title.clone(),
            penholder: origin.clone(),
            co_authors: d.co_authors.clone(),
            audience: audience.clone(),
            created_at: at.to_owned(),
            versions: vec![PaperVersion {
                version: 1,
                sections: d.sections.clone(),
                at: at.to_owned(),
                amendment: None,
            }],
            amendments: vec![],
            signoff: None,
            files: vec![],
        })
    }

    /// An amendment from any partner of the audience, to a section of a version it names.
    pub fn amend(
        &mut self,
        a: &PaperAmend,
        origin: &PartnerCode,
        audience: &Audience,
        at: &str,
    ) -> Result<(), bool> {
        // An amendment to a version this holder has not made yet (the penholder's decision
        // that makes it comes from another log) waits for it: dropping it would leave this
        // holder's paper different from everyone else's.
        if a.version > self.current().version {
            return Err(true);
        }
        let on = self.versions.iter().find(|v| v.version == a.version);
        if *audience != self.audience
            || !audience.contains(origin)
            || !author_of(&a.author, origin)
            || !super::is_owned_by(&a.amendment_id, origin)
            || self.state_chars() + a.text.len() + a.reason.len() > MAX_PAPER_STATE_CHARS
            || on.is_none_or(|v| a.section >= v.sections.len())
            || a.text.chars().count() > MAX_PAPER_CHARS
            || a.reason.trim().is_empty()
            || a.reason.chars().count() > 2_000
            || self.amendments.len() >= MAX_AMENDMENTS
            || self
                .amendments
                .iter()
                .any(|x| x.amendment_id == a.amendment_id)
        {
            return Err(false);
        }
        self.amendments.push(Amendment {
            amendment_id: a.amendment_id.clone(),
            partner: origin.clone(),
            author: a.author.clone(),
            section: a.section,
            version: a.version,
            text: a.text.clone(),
            reason: a.reason.clone(),
            at: at.to_owned(),
            status: AmendmentStatus::Proposed,
            decision_reason: String::new(),
            made_version: None,
        });
        self.amendments.sort_by(|x, y| {
            (&x.at, &x.partner, &x.amendment_id).cmp(&(&y.at, &y.partner, &y.amendment_id))
        });
        Ok(())
    }

    /// The penholder's decision: accepting replaces the section (of the current version, where
    /// the section of the version it was proposed on stands at the same index) and makes a new
    /// version. `Err(true)`: the amendment is not held yet (it comes from another log).
    pub fn decide(
        &mut self,
        d: &PaperDecide,
        origin: &PartnerCode,
        audience: &Audience,
        at: &str,
    ) -> Result<(), bool> {
        if *origin != self.penholder || *audience != self.audience || !author_of(&d.author, origin)
        {
            return Err(false);
        }
        let next = self.current().version + 1;
        let current = self.current().sections.clone();
        if d.accept
            && (self.versions.len() >= MAX_PAPER_VERSIONS
                || self.state_chars() + paper_text(&self.title, &current).len()
                    > MAX_PAPER_STATE_CHARS)
        {
            return Err(false);
        }
        if d.reason.chars().count() > 2_000 {
            return Err(false);
        }
        let a = self
            .amendments
            .iter_mut()
            .find(|a| a.amendment_id == d.amendment_id)
            .ok_or(true)?;
        if a.status != AmendmentStatus::Proposed || (d.accept && a.section >= current.len()) {
            return Err(false);
        }
        a.decision_reason = d.reason.clone();
        if !d.accept {
            a.status = AmendmentStatus::Rejected;
            return Ok(());
        }
        a.status = AmendmentStatus::Accepted;
        a.made_version = Some(next);
        let mut sections = current;
        sections[a.section].text = a.text.clone();
        let amendment = Some(a.amendment_id.clone());
        self.versions.push(PaperVersion {
            version: next,
            sections,
            at: at.to_owned(),
            amendment,
        });
        Ok(())
    }

    pub fn sign_off(
        &mut self,
        s: &PaperSignoff,
        origin: &PartnerCode,
        audience: &Audience,
    ) -> Result<(), bool> {
        if *origin != self.penholder
            || *audience != self.audience
            || !super::is_reference(&s.statement_id)
        {
            return Err(false);
        }
        self.signoff = Some(s.statement_id.clone());
        Ok(())
    }
}

/// A request to draft a concept paper.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewPaper {
    pub format_id: String,
    pub title: String,
    /// Markdown; each `## ` heading starts a section (amendments change one section).
    pub text: String,
    /// Co-authoring partners (in the audience).
    #[serde(default)]
    pub co_authors: Vec<String>,
    /// Who the paper is released to; absent: every member of the format.
    #[serde(default)]
    pub releasable_to: Option<Vec<String>>,
}

/// A proposed amendment: a section's new text and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewAmendment {
    /// The section's index in the current version.
    pub section: usize,
    pub text: String,
    pub reason: String,
}

/// How the sign-off is taken: unanimity, or the silence procedure with a deadline (UTC).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewSignoff {
    #[serde(default)]
    pub silence_deadline: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partner::code;

    #[test]
    fn sections_are_read_from_markdown_and_written_back() {
        let s = sections_of("Intro line.\n\n## Scope\nMaritime.\n\n## Means\nShips.\n");
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[1].heading.as_str(), s[1].text.as_str()),
            ("Scope", "Maritime.")
        );
        let text = paper_text("Concept", &s);
        assert_eq!(sections_of(text.split_once('\n').unwrap().1), s);
    }

    #[test]
    fn amendments_are_proposed_by_anyone_in_the_audience_and_decided_by_the_penholder() {
        let aud = Audience::new([code("EU"), code("NATO"), code("JPN")]).unwrap();
        let mut p = PaperState::draft(
            &PaperDraft {
                paper_id: "EU-p".into(),
                format_id: "f".into(),
                title: "Concept".into(),
                sections: sections_of("## Scope\nMaritime.\n## Means\nShips."),
                co_authors: vec![code("JPN")],
                author: "a@EU".into(),
            },
            &code("EU"),
            &aud,
            "t1",
        )
        .unwrap();
        let amend = |id: &str, by: &str| PaperAmend {
            paper_id: "EU-p".into(),
            amendment_id: format!("{by}-{id}"),
            section: 1,
            version: 1,
            text: format!("Ships and aircraft ({id})."),
            reason: "air assets matter".into(),
            author: format!("x@{by}"),
        };
        let decide = |id: &str, accept: bool| PaperDecide {
            paper_id: "EU-p".into(),
            amendment_id: id.into(),
            accept,
            reason: "ok".into(),
            author: "a@EU".into(),
        };
        // An amendment to a version not made here yet waits for the decision that makes it.
        let mut early = amend("a0", "NATO");
        early.version = 2;
        assert_eq!(p.amend(&early, &code("NATO"), &aud, "t1"), Err(true));
        // A decision before its amendment arrives waits for it.
        assert_eq!(
            p.decide(&decide("NATO-a1", true), &code("EU"), &aud, "t2"),
            Err(true)
        );
        p.amend(&amend("a1", "NATO"), &code("NATO"), &aud, "t2")
            .unwrap();
        p.amend(&amend("a2", "JPN"), &code("JPN"), &aud, "t3")
            .unwrap();
        assert_eq!(
            p.decide(&decide("NATO-a1", true), &code("NATO"), &aud, "t4"),
            Err(false),
            "only the penholder decides"
        );
        p.decide(&decide("NATO-a1", true), &code("EU"), &aud, "t4")
            .unwrap();
        p.decide(&decide("JPN-a2", false), &code("EU"), &aud, "t5")
            .unwrap();
        assert_eq!(p.versions.len(), 2);
        assert_eq!(p.current().sections[1].text, "Ships and aircraft (a1).");
        assert_eq!(p.amendments[1].status, AmendmentStatus::Rejected);
        assert_eq!(
            p.decide(&decide("NATO-a1", false), &code("EU"), &aud, "t6"),
            Err(false),
            "decided once"
        );
        let mut bad = amend("a3", "KOR");
        bad.author = "x@KOR".into();
        assert_eq!(
            p.amend(&bad, &code("KOR"), &aud, "t7"),
            Err(false),
            "a partner outside the audience"
        );
        let other = Audience::new([code("EU"), code("NATO")]).unwrap();
        assert_eq!(
            p.amend(&amend("a4", "NATO"), &code("NATO"), &other, "t8"),
            Err(false),
            "another audience"
        );
        let mut stolen = amend("a5", "NATO");
        stolen.amendment_id = "JPN-a5".into();
        assert_eq!(
            p.amend(&stolen, &code("NATO"), &aud, "t9"),
            Err(false),
            "an amendment under an id of another partner's"
        );
    }

    #[test]
    fn only_the_penholders_statement_over_the_whole_audience_signs_a_paper_off() {
        let aud = Audience::new([code("EU"), code("NATO"), code("JPN")]).unwrap();
        let mut p = PaperState::draft(
            &PaperDraft {
                paper_id: "EU-p".into(),
                format_id: "f".into(),
                title: "Concept".into(),
                sections: sections_of("## Scope\nMaritime."),
                co_authors: vec![],
                author: "a@EU".into(),
            },
            &code("EU"),
            &aud,
            "t1",
        )
        .unwrap();
        let link = PaperSignoff {
            paper_id: "EU-p".into(),
            statement_id: "s".into(),
            author: "a@EU".into(),
        };
        assert_eq!(p.sign_off(&link, &code("NATO"), &aud), Err(false));
        p.sign_off(&link, &code("EU"), &aud).unwrap();
        let (eu, nato) = (code("EU"), code("NATO"));
        let (all, only_eu) = ([code("NATO"), code("JPN"), code("EU")], [code("EU")]);
        let st = super::super::LinkedStatement {
            statement_id: "s",
            format_id: "f",
            origin: &eu,
            audience: &aud,
            required: &all,
            unanimity: true,
        };
        assert!(p.signoff_fits(&st));
        let silence = super::super::LinkedStatement {
            unanimity: false,
            ..st
        };
        assert!(
            p.signoff_fits(&silence),
            "the silence procedure is the paper's choice"
        );
        let only = super::super::LinkedStatement {
            required: &only_eu,
            ..st
        };
        assert!(!p.signoff_fits(&only), "only the penholder required");
        let theirs = super::super::LinkedStatement {
            origin: &nato,
            ..st
        };
        assert!(!p.signoff_fits(&theirs), "another partner's statement");
    }
}
