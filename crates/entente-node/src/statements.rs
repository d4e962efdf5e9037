//! Joint statements on a node: drafting and revising (the originator), stances (each required
//! partner, in its own log), status at the node's clock, export of an adopted statement with
//! every signature, and offline verification of such an export against pinned keys.

use crate::auth::Principal;
use crate::{Node, NodeError};
use entente_domain::payload::Payload;
use entente_domain::statement::*;
use entente_domain::{DomainError, PartnerCode, Role};
use entente_log::{PublicKey, SignedEntry, verify_entry};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewStatement {
    pub format_id: String,
    pub title: String,
    pub text: String,
    /// Partners the statement is released to (a subset of the format); absent: all members.
    #[serde(default)]
    pub releasable_to: Option<Vec<String>>,
    /// Partners whose stance is required; absent: the whole audience.
    #[serde(default)]
    pub required: Option<Vec<String>>,
    pub rule: AdoptionRule,
    #[serde(default)]
    pub deadline: Option<String>,
}

/// A statement with its status and, per required partner, its stance on the current version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatementView {
    pub state: StatementState,
    pub status: StatementStatus,
    pub current_stances: Vec<(PartnerCode, Option<Stance>)>,
    /// Line diff from the previous version to the current one (empty for version 1), at most
    /// [`DIFF_SHOWN`] lines of it; the whole diff is at `statement_diff`.
    pub diff: Vec<String>,
    /// Lines of the diff not in `diff`.
    #[serde(default)]
    pub diff_more: usize,
    /// The diff hit its deadline: correct, but maybe longer than the shortest.
    #[serde(default)]
    pub diff_approximate: bool,
}

impl StatementView {
    /// Whether the current version is still pending and waits for `p`'s stance.
    pub fn awaits_stance_from(&self, p: &PartnerCode) -> bool {
        matches!(self.status, StatementStatus::Pending)
            && self
                .current_stances
                .iter()
                .any(|(q, st)| q == p && st.is_none())
    }
}

/// Diff lines a statement view carries; a longer diff is fetched on its own, when asked for.
pub const DIFF_SHOWN: usize = 400;
/// Diffs kept in memory; the cache is cleared when it is full (cheap to recompute once).
const DIFF_CACHE_ENTRIES: usize = 256;

/// Computed statement diffs by (statement id, versions held): versions only ever append, so
/// each is computed once per revision, not on every view. This instrument's state on the node.
#[derive(Default)]
struct DiffCache(std::sync::Mutex<std::collections::HashMap<(String, usize), Arc<LineDiff>>>);

/// An adopted statement as one self-contained document: the text, what was agreed, and the
/// signed entries (the draft and every stance) that prove it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatementExport {
    pub statement_id: String,
    pub title: String,
    pub text: String,
    pub version: u32,
    pub audience: Vec<PartnerCode>,
    pub required: Vec<PartnerCode>,
    pub rule: AdoptionRule,
    pub deadline: Option<String>,
    pub hash: String,
    pub adopted_at: String,
    pub origin: PartnerCode,
    pub draft: SignedEntry,
    pub stances: Vec<SignedEntry>,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> NodeError {
    DomainError::invalid(field, reason).into()
}

impl Node {
    pub async fn create_statement(
        &self,
        who: &Principal,
        n: NewStatement,
    ) -> Result<StatementView, NodeError> {
        who.require(Role::Officer, "draft statements")?;
        let f = self
            .store
            .format(&n.format_id)
            .await?
            .ok_or(NodeError::NotFound("format"))?;
        let aud = self.audience_in(&f, n.releasable_to.as_deref())?;
        let required = match &n.required {
            Some(v) => v
                .iter()
                .map(|p| self.parse_known_partner(p))
                .collect::<Result<Vec<_>, _>>()?,
            None => aud.iter().cloned().collect(),
        };
        let mut d = StatementDraft {
            statement_id: crate::new_id(),
            format_id: f.format_id,
            version: 1,
            title: n.title,
            text: n.text,
            required,
            rule: n.rule,
            deadline: n.deadline,
            author: who.user_id(),
        };
        validate_draft(&mut d, &aud)?;
        let id = d.statement_id.clone();
        self.publish(&aud, &[Payload::StatementDraft(d)]).await?;
        self.statement(who, &id).await
    }

    /// A new version (the originator only): earlier stances no longer count.
    pub async fn revise_statement(
        &self,
        who: &Principal,
        id: &str,
        title: &str,
        text: &str,
    ) -> Result<StatementView, NodeError> {
        who.require(Role::Officer, "revise statements")?;
        let st = self
            .store
            .statement(id)
            .await?
            .ok_or(NodeError::NotFound("statement"))?;
        if &st.origin != self.partner() {
            return Err(entente_domain::PolicyError::NotOriginator(st.origin.clone()).into());
        }
        let mut d = StatementDraft {
            statement_id: id.to_owned(),
            format_id: st.format_id.clone(),
            version: st.current().version + 1,
            title: title.to_owned(),
            text: text.to_owned(),
            required: st.required.clone(),
            rule: st.rule,
            deadline: st.deadline.clone(),
            author: who.user_id(),
        };
        validate_draft(&mut d, &st.audience)?;
        self.publish(&st.audience, &[Payload::StatementDraft(d)])
            .await?;
        self.statement(who, id).await
    }

    /// This partner's stance on an exact version, signed over that version's hash.
    pub async fn take_stance(
        &self,
        who: &Principal,
        id: &str,
        version: u32,
        stance: Stance,
        reason: &str,
    ) -> Result<StatementView, NodeError> {
        who.require(Role::Officer, "take a stance")?;
        let st = self
            .store
            .statement(id)
            .await?
            .ok_or(NodeError::NotFound("statement"))?;
        if !st.required.contains(self.partner()) {
            return Err(NodeError::Forbidden(
                "take a stance: this partner is not required on the statement",
            ));
        }
        let v = st
            .versions
            .iter()
            .find(|v| v.version == version)
            .ok_or(NodeError::UnknownVersion(version))?;
        if version != st.current().version {
            return Err(NodeError::UnknownVersion(version));
        }
        if stance == Stance::Object && reason.trim().is_empty() {
            return Err(invalid("reason", "an objection needs a reason"));
        }
        let s = StatementStance {
            statement_id: id.to_owned(),
            version,
            hash: v.hash.clone(),
            stance,
            reason: reason.trim().to_owned(),
            author: who.user_id(),
        };
        self.publish(&st.audience, &[Payload::StatementStance(s)])
            .await?;
        self.statement(who, id).await
    }

    pub async fn statement(&self, _who: &Principal, id: &str) -> Result<StatementView, NodeError> {
        // Every statement this node holds has its partner in the audience (the sync policy
        // guarantees it); anything else does not exist here.
        let st = self
            .store
            .statement(id)
            .await?
            .ok_or(NodeError::NotFound("statement"))?;
        if !st.audience.contains(self.partner()) {
            return Err(NodeError::NotFound("statement"));
        }
        Ok(self.view(st))
    }

    fn view(&self, st: StatementState) -> StatementView {
        let status = st.status(&self.clock.now_rfc3339());
        let cur = st.current_stances();
        let current_stances = st
            .required
            .iter()
            .map(|p| (p.clone(), cur.get(p).map(|s| s.stance)))
            .collect();
        let d = self.version_diff(&st);
        let shown = d.lines.len().min(DIFF_SHOWN);
        StatementView {
            diff: d.lines[..shown].to_vec(),
            diff_more: d.lines.len() - shown,
            diff_approximate: d.approximate,
            state: st,
            status,
            current_stances,
        }
    }

    /// The diff from the previous version to the current one, computed once per revision.
    fn version_diff(&self, st: &StatementState) -> Arc<LineDiff> {
        let n = st.versions.len();
        if n < 2 {
            return Arc::default();
        }
        let key = (st.statement_id.clone(), n);
        let state = self.ext::<DiffCache>();
        let cached = state
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        if let Some(d) = cached {
            return d;
        }
        let d = Arc::new(diff(&st.versions[n - 2].text, &st.versions[n - 1].text));
        let mut cache = state.0.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= DIFF_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, d.clone());
        d
    }

    /// The whole diff from the previous version to the current one.
    pub async fn statement_diff(&self, who: &Principal, id: &str) -> Result<LineDiff, NodeError> {
        let v = self.statement(who, id).await?;
        Ok((*self.version_diff(&v.state)).clone())
    }

    pub async fn statements(&self, _who: &Principal) -> Result<Vec<StatementView>, NodeError> {
        Ok(self
            .store
            .statements()
            .await?
            .into_iter()
            .filter(|s| s.audience.contains(self.partner()))
            .map(|s| self.view(s))
            .collect())
    }

    async fn entry_at(&self, (log, seq): &(String, u64)) -> Result<SignedEntry, NodeError> {
        self.store
            .entries_after(log, seq - 1, 1)
            .await?
            .into_iter()
            .next()
            .ok_or(NodeError::NotFound("entry"))
    }

    /// Export an adopted statement with the draft entry of the adopted version and every
    /// stance entry on it.
    pub async fn export_statement(
        &self,
        who: &Principal,
        id: &str,
    ) -> Result<StatementExport, NodeError> {
        let view = self.statement(who, id).await?;
        let StatementStatus::Adopted { at } = view.status else {
            return Err(NodeError::Conflict("the statement is not adopted".into()));
        };
        let st = view.state;
        let cur = st.current().clone();
        let mut stances = vec![];
        for s in st.current_stances().values() {
            stances.push(self.entry_at(&s.entry).await?);
        }
        self.audit(&who.user_id(), "export", &format!("statement {id}"))
            .await;
        Ok(StatementExport {
            statement_id: st.statement_id.clone(),
            title: cur.title.clone(),
            text: cur.text.clone(),
            version: cur.version,
            audience: st.audience.iter().cloned().collect(),
            required: st.required.clone(),
            rule: st.rule,
            deadline: st.deadline.clone(),
            hash: cur.hash.clone(),
            adopted_at: at,
            origin: st.origin.clone(),
            draft: self.entry_at(&cur.entry).await?,
            stances,
        })
    }
}

/// Check an exported statement offline: every entry's signature against the pinned key of its
/// origin, that the draft says exactly this text and version, that the hash covers the text,
/// version, audience and required partners, and that the stances adopt it under its rule.
pub fn verify_statement_export(
    doc: &StatementExport,
    key_of: impl Fn(&PartnerCode) -> Option<PublicKey>,
) -> Result<String, String> {
    let audience =
        entente_domain::Audience::new(doc.audience.iter().cloned()).map_err(|e| e.to_string())?;
    let hash = statement_hash(&doc.text, doc.version, &audience, &doc.required);
    if hash != doc.hash {
        return Err("the text, version, audience or required partners do not match the agreed hash (altered document)".into());
    }
    let check = |e: &SignedEntry| -> Result<(entente_log::ParsedEntry, Payload), String> {
        let origin = entente_log::parse_entry(e)
            .map_err(|x| x.to_string())?
            .header
            .origin;
        let key = key_of(&origin).ok_or_else(|| format!("no pinned key for {origin}"))?;
        let p = verify_entry(e, &key).map_err(|x| format!("entry from {origin}: {x}"))?;
        if p.header.audience != audience {
            return Err(format!(
                "entry from {origin} was released to another audience"
            ));
        }
        let payload = Payload::parse(&p.header.kind, p.payload()).map_err(|x| x.to_string())?;
        Ok((p, payload))
    };
    let (dp, draft) = check(&doc.draft)?;
    match draft {
        Payload::StatementDraft(d)
            if d.statement_id == doc.statement_id
                && d.text == doc.text
                && d.version == doc.version
                && d.required == doc.required
                && dp.header.origin == doc.origin => {}
        _ => return Err("the draft entry does not carry this statement's text and version".into()),
    }
    let mut stances = std::collections::BTreeMap::new();
    for e in &doc.stances {
        let (p, payload) = check(e)?;
        match payload {
            Payload::StatementStance(s)
                if s.statement_id == doc.statement_id
                    && s.version == doc.version
                    && s.hash == hash =>
            {
                if !doc.required.contains(&p.header.origin) {
                    return Err(format!("{} is not a required partner", p.header.origin));
                }
                stances.insert(p.header.origin.clone(), (s.stance, p.header.ts.clone()));
            }
            _ => return Err("a stance entry is not on this statement's exact version".into()),
        }
    }
    if stances.values().any(|(s, _)| *s == Stance::Object) {
        return Err("a required partner objected".into());
    }
    let unanimous = doc.required.iter().all(|p| stances.contains_key(p))
        && stances.values().any(|(s, _)| *s == Stance::Endorse);
    let silent = doc.rule == AdoptionRule::Silence
        && doc
            .deadline
            .as_deref()
            .is_some_and(|d| doc.adopted_at.as_str() >= d && dp.header.ts.as_str() <= d);
    if !(unanimous || silent) {
        return Err("the stances do not adopt this statement under its rule".into());
    }
    Ok(format!(
        "statement {} version {} adopted ({}): {} signatures verified",
        doc.statement_id,
        doc.version,
        if unanimous {
            "unanimity"
        } else {
            "silence procedure"
        },
        1 + doc.stances.len()
    ))
}

/// What the minutes' and papers' rules need of a statement they link to.
pub(crate) fn linked(s: &StatementState) -> entente_domain::coord::LinkedStatement<'_> {
    entente_domain::coord::LinkedStatement {
        statement_id: &s.statement_id,
        origin: &s.origin,
        format_id: &s.format_id,
        audience: &s.audience,
        required: &s.required,
        unanimity: s.rule == AdoptionRule::Unanimity,
    }
}
