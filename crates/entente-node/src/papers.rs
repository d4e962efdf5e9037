//! Concept papers on a node: drafting one (the penholder), proposing amendments (any partner of
//! its audience), the penholder's decisions (an accepted amendment is a new version), and the
//! sign-off: a statement over the exact text every partner of the audience must endorse (or,
//! under the silence procedure, not object to by its deadline), revised with the paper when an
//! amendment is accepted after it was circulated. The adopted paper exports with every signature
//! and verifies offline as a statement does.

use crate::auth::Principal;
use crate::statements::{NewStatement, StatementView};
use crate::{Node, NodeError};
use entente_domain::coord::{
    AmendmentStatus, PaperAmend, PaperDecide, PaperDraft, PaperSignoff, PaperState, Section,
    check_sections, paper_text, sections_of,
};
use entente_domain::fold::Coord;
use entente_domain::payload::Payload;
use entente_domain::statement::{AdoptionRule, StatementStatus};
use entente_domain::{DomainError, PartnerCode, Role};
use serde::{Deserialize, Serialize};

pub use entente_domain::coord::{NewAmendment, NewPaper, NewSignoff};

/// A paper as the caller sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaperView {
    pub paper: PaperState,
    /// The sign-off statement, once circulated.
    pub signoff: Option<StatementView>,
    /// Every partner of the audience signed the current text off.
    pub adopted: bool,
    /// The line diff from the version before the current one (empty for version 1).
    pub diff: Vec<String>,
}

impl Node {
    pub async fn draft_paper(&self, who: &Principal, n: NewPaper) -> Result<PaperState, NodeError> {
        who.require(Role::Officer, "draft concept papers")?;
        let f = self.format(&n.format_id).await?;
        let aud = self.audience_in(&f, n.releasable_to.as_deref())?;
        let co_authors: Vec<PartnerCode> = n
            .co_authors
            .iter()
            .map(|p| self.parse_known_partner(p))
            .collect::<Result<_, _>>()?;
        if let Some(p) = co_authors.iter().find(|p| !aud.contains(p)) {
            return Err(DomainError::invalid(
                "co_authors",
                format!("{p} is not in the paper's audience"),
            )
            .into());
        }
        let title = n.title.trim().to_owned();
        let sections = sections_of(&n.text);
        check_sections(&title, &sections)?;
        let d = PaperDraft {
            paper_id: self.owned_id(),
            format_id: f.format_id,
            title,
            sections,
            co_authors,
            author: who.user_id(),
        };
        let id = d.paper_id.clone();
        self.publish(&aud, &[Payload::PaperDraft(d)]).await?;
        self.paper_state(&id).await
    }

    pub(crate) async fn paper_state(&self, id: &str) -> Result<PaperState, NodeError> {
        match self.load_coord("paper", id).await? {
            Some(Coord::Paper(p)) if p.audience.contains(self.partner()) => Ok(p),
            _ => Err(NodeError::NotFound("concept paper")),
        }
    }

    pub async fn paper(&self, who: &Principal, id: &str) -> Result<PaperView, NodeError> {
        let paper = self.paper_state(id).await?;
        // Only a statement the paper's sign-off may be taken on counts as it (the penholder's,
        // requiring every partner of the audience): any other is not shown as the sign-off.
        let signoff = match &paper.signoff {
            Some(s) => self
                .statement(who, s)
                .await
                .ok()
                .filter(|v| paper.signoff_fits(&crate::statements::linked(&v.state))),
            None => None,
        };
        // Adopted only if what was signed off is the paper's current text.
        let adopted = signoff.as_ref().is_some_and(|s| {
            matches!(s.status, StatementStatus::Adopted { .. })
                && s.state
                    .versions
                    .last()
                    .is_some_and(|v| v.text == paper.text())
        });
        let diff = match paper.versions.len() {
            0 | 1 => vec![],
            n => entente_domain::statement::diff(
                &paper_text(&paper.title, &paper.versions[n - 2].sections),
                &paper.text(),
            )
            .lines
            .into_iter()
            .take(2_000)
            .collect(),
        };
        Ok(PaperView {
            paper,
            signoff,
            adopted,
            diff,
        })
    }

    /// Papers the caller may see, the newest first.
    pub async fn papers(&self, _who: &Principal) -> Result<Vec<PaperState>, NodeError> {
        let mut v: Vec<PaperState> = self
            .store
            .objects("paper")
            .await?
            .iter()
            .filter_map(|s| match serde_json::from_str::<Coord>(s) {
                Ok(Coord::Paper(p)) if p.audience.contains(self.partner()) => Some(p),
                _ => None,
            })
            .collect();
        v.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        Ok(v)
    }

    /// Propose a change to a section of the current version, with a reason.
    pub async fn propose_amendment(
        &self,
        who: &Principal,
        id: &str,
        n: NewAmendment,
    ) -> Result<PaperView, NodeError> {
        who.require(Role::Analyst, "propose amendments")?;
        let p = self.paper_state(id).await?;
        let cur = p.current();
        if n.section >= cur.sections.len() {
            return Err(DomainError::invalid("section", "no such section").into());
        }
        if n.reason.trim().is_empty() || n.reason.chars().count() > 2_000 {
            return Err(DomainError::invalid("reason", "a reason of 1 to 2,000 characters").into());
        }
        let mut sections: Vec<Section> = cur.sections.clone();
        sections[n.section].text = n.text.trim().to_owned();
        check_sections(&p.title, &sections)?;
        let a = PaperAmend {
            paper_id: id.to_owned(),
            amendment_id: self.owned_id(),
            section: n.section,
            version: cur.version,
            text: n.text.trim().to_owned(),
            reason: n.reason.trim().to_owned(),
            author: who.user_id(),
        };
        self.publish(&p.audience, &[Payload::PaperAmend(a)]).await?;
        self.paper(who, id).await
    }

    /// The penholder accepts (a new version) or rejects an amendment. A paper circulated for
    /// sign-off gets a new version of its sign-off statement too: earlier sign-offs no longer
    /// count.
    pub async fn decide_amendment(
        &self,
        who: &Principal,
        id: &str,
        amendment_id: &str,
        accept: bool,
        reason: &str,
    ) -> Result<PaperView, NodeError> {
        who.require(Role::Officer, "decide on amendments")?;
        let p = self.paper_state(id).await?;
        if p.penholder != *self.partner() {
            return Err(NodeError::Forbidden(
                "decide on this amendment: the penholder decides",
            ));
        }
        let a = p
            .amendments
            .iter()
            .find(|a| a.amendment_id == amendment_id)
            .ok_or(NodeError::NotFound("amendment"))?;
        if a.status != AmendmentStatus::Proposed {
            return Err(NodeError::Conflict(
                "this amendment was decided already".into(),
            ));
        }
        self.publish(
            &p.audience,
            &[Payload::PaperDecide(PaperDecide {
                paper_id: id.to_owned(),
                amendment_id: amendment_id.to_owned(),
                accept,
                reason: reason.chars().take(2_000).collect(),
                author: who.user_id(),
            })],
        )
        .await?;
        let now = self.paper_state(id).await?;
        if accept && let Some(st) = &now.signoff {
            self.revise_statement(who, st, &now.title, &now.text())
                .await?;
        }
        self.paper(who, id).await
    }

    /// Circulate the current text for sign-off by every partner of the audience (the penholder).
    pub async fn circulate_paper(
        &self,
        who: &Principal,
        id: &str,
        n: NewSignoff,
    ) -> Result<PaperView, NodeError> {
        who.require(Role::Officer, "circulate papers for sign-off")?;
        let p = self.paper_state(id).await?;
        if p.penholder != *self.partner() {
            return Err(NodeError::Forbidden(
                "circulate this paper: the penholder circulates it",
            ));
        }
        if p.signoff.is_some() {
            return Err(NodeError::Conflict(
                "this paper is circulated for sign-off already".into(),
            ));
        }
        let st = self
            .create_statement(
                who,
                NewStatement {
                    format_id: p.format_id.clone(),
                    title: p.title.clone(),
                    text: p.text(),
                    releasable_to: Some(p.audience.iter().map(|x| x.to_string()).collect()),
                    required: None,
                    rule: if n.silence_deadline.is_some() {
                        AdoptionRule::Silence
                    } else {
                        AdoptionRule::Unanimity
                    },
                    deadline: n.silence_deadline,
                },
            )
            .await?;
        self.publish(
            &p.audience,
            &[Payload::PaperSignoff(PaperSignoff {
                paper_id: id.to_owned(),
                statement_id: st.state.statement_id,
                author: who.user_id(),
            })],
        )
        .await?;
        self.paper(who, id).await
    }
}
