//! Items: reports, incident notes, assessments, best practices, lessons, notes.

use crate::payload::{ItemPublish, ItemRetract, ItemRevise};
use crate::{Audience, DomainError, PartnerCode, Tlp, taxonomy};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemKind {
    Report,
    Incident,
    Assessment,
    BestPractice,
    LessonLearned,
    Note,
}

impl ItemKind {
    pub const ALL: [ItemKind; 6] = [
        ItemKind::Report,
        ItemKind::Incident,
        ItemKind::Assessment,
        ItemKind::BestPractice,
        ItemKind::LessonLearned,
        ItemKind::Note,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Report => "report",
            ItemKind::Incident => "incident",
            ItemKind::Assessment => "assessment",
            ItemKind::BestPractice => "best-practice",
            ItemKind::LessonLearned => "lesson-learned",
            ItemKind::Note => "note",
        }
    }

    pub fn parse(s: &str) -> Result<ItemKind, DomainError> {
        ItemKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| DomainError::UnknownItemKind(s.to_owned()))
    }
}

/// The largest Markdown body an item may carry.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Retraction {
    pub reason: String,
    pub at: String,
    pub by: String,
}

/// Where a released item comes from: the originator's earlier signed entry, whose audience
/// stays as it was. The release is a new item in a wider audience that names it by the item's id
/// and the entry's hash only: a log id or sequence number would tell the newcomer who the
/// original went to (a log id is a hash of its origin and audience, and audiences are few).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasedFrom {
    pub item_id: String,
    /// The hash (hex) of the entry that published it; holders of the original can check it.
    pub entry_hash: String,
}

/// An item as folded from its publish, revise and retract entries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemState {
    pub item_id: String,
    pub format_id: String,
    pub origin: PartnerCode,
    pub audience: Audience,
    pub log_id: String,
    pub kind: ItemKind,
    pub title: String,
    pub body: String,
    pub topics: Vec<String>,
    pub tlp: Tlp,
    pub named_users: Vec<String>,
    pub author: String,
    pub revision: u32,
    pub created_at: String,
    pub updated_at: String,
    pub retracted: Option<Retraction>,
    /// Who made the current revision, when it is not the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revised_by: Option<String>,
    /// The earlier item this one releases to a wider audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_from: Option<ReleasedFrom>,
    /// The files of the current revision.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<crate::attachment::AttachmentRef>,
}

impl ItemState {
    pub fn from_publish(
        p: &ItemPublish,
        origin: &PartnerCode,
        audience: &Audience,
        log_id: &str,
        at: &str,
    ) -> ItemState {
        ItemState {
            item_id: p.item_id.clone(),
            format_id: p.format_id.clone(),
            origin: origin.clone(),
            audience: audience.clone(),
            log_id: log_id.to_owned(),
            kind: p.kind,
            title: p.title.clone(),
            body: p.body.clone(),
            topics: p.topics.clone(),
            // Unmarked means most restrictive.
            tlp: p.tlp.unwrap_or(Tlp::Red),
            named_users: p.named_users.clone(),
            author: p.author.clone(),
            revision: 1,
            created_at: at.to_owned(),
            updated_at: at.to_owned(),
            retracted: None,
            revised_by: None,
            released_from: p.released_from.clone(),
            attachments: p.attachments.clone(),
        }
    }

    pub fn apply_revise(&mut self, r: &ItemRevise, at: &str) {
        if self.retracted.is_some() {
            return;
        }
        self.title = r.title.clone();
        self.body = r.body.clone();
        self.topics = r.topics.clone();
        if let Some(a) = &r.attachments {
            self.attachments = a.clone();
        }
        self.revision += 1;
        self.revised_by = Some(r.author.clone());
        self.updated_at = at.to_owned();
    }

    /// A retraction hides the content on every holder; the tombstone (id, origin, audience,
    /// reason) stays, and the entries stay in the log as the audit trail.
    pub fn apply_retract(&mut self, r: &ItemRetract, at: &str) {
        self.title.clear();
        self.body.clear();
        self.attachments.clear();
        self.retracted = Some(Retraction {
            reason: r.reason.clone(),
            at: at.to_owned(),
            by: r.author.clone(),
        });
        self.updated_at = at.to_owned();
    }
}

/// Validate title, body and topics of an item before it is signed.
pub fn validate_content(
    title: &mut String,
    body: &str,
    topics: &mut Vec<String>,
) -> Result<(), DomainError> {
    *title = title.trim().to_owned();
    if title.is_empty() || title.len() > 300 {
        return Err(DomainError::invalid(
            "title",
            "a title of 1 to 300 characters is required",
        ));
    }
    if title.chars().any(crate::text::is_display_hazard) {
        return Err(DomainError::invalid(
            "title",
            "no control, invisible or text-direction override characters",
        ));
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(DomainError::invalid(
            "body",
            format!("at most {MAX_BODY_BYTES} bytes"),
        ));
    }
    *topics = taxonomy::normalise(topics)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_with_direction_overrides_or_controls_are_refused() {
        for t in [
            "Weekly digest \u{202e}DER:PLT\u{202c}",
            "a\u{200b}b",
            "bell\x07",
            "esc\x1b[31m",
        ] {
            let mut title = t.to_owned();
            assert!(
                validate_content(&mut title, "", &mut vec![]).is_err(),
                "{t:?}"
            );
        }
        let mut ok = "Réunion — مرحبا".to_owned();
        assert!(validate_content(&mut ok, "", &mut vec![]).is_ok());
    }
}
