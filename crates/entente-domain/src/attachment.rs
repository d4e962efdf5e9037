//! Attachments: files an item carries, referenced from its signed entry by SHA-256, size, name
//! and media type, so the origin's signature covers the bytes. The bytes themselves travel
//! beside the log, in chunks of [`CHUNK_BYTES`]; this module owns the reference and its rules,
//! not the bytes or their transfer.

use crate::DomainError;
use serde::{Deserialize, Serialize};

/// The size of one chunk of an attachment on the wire and in the store. Part of the federation
/// protocol: chunk `i` of a file is bytes `i * CHUNK_BYTES ..` of it.
pub const CHUNK_BYTES: u64 = 1 << 20;

/// No node accepts a reference to a file larger than this (a node's own limit may be lower).
pub const MAX_BYTES: u64 = 1 << 30;

/// At most this many files on one item.
pub const MAX_PER_ITEM: usize = 20;

/// A file to attach: one the caller uploaded to this node, under the name to show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewAttachment {
    /// What the upload answered.
    pub sha256: String,
    /// The file name in any script (no path separators or control characters).
    pub name: String,
}

/// One attached file as the signed entry names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttachmentRef {
    /// SHA-256 of the bytes, 64 lower-case hex digits.
    pub sha256: String,
    pub size: u64,
    /// The file name as the author gave it, in any script.
    pub name: String,
    /// The media type the origin detected from the bytes (informative: every node detects it
    /// again from the bytes before serving them).
    pub media_type: String,
}

impl AttachmentRef {
    /// How many chunks the file has.
    pub fn chunks(&self) -> u32 {
        chunk_count(self.size)
    }
}

/// How many chunks a file of `size` bytes has.
pub fn chunk_count(size: u64) -> u32 {
    u32::try_from(size.div_ceil(CHUNK_BYTES)).unwrap_or(u32::MAX)
}

/// Whether `s` is a SHA-256 as references spell it.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A file name as an author typed it, trimmed, or why it cannot be one. Names in any script are
/// kept as they are (MISP lost Japanese names by stripping them); what could act on a reader's
/// machine — path separators, control and direction-override characters — is refused.
pub fn clean_name(name: &str) -> Result<String, DomainError> {
    let n = name.trim();
    let bad = |why: &str| Err(DomainError::invalid("attachments", why.to_owned()));
    if n.is_empty() || n.chars().count() > 255 {
        return bad("a file name of 1 to 255 characters is required");
    }
    if n == "." || n == ".." || n.contains(['/', '\\']) {
        return bad("a file name without path separators is required");
    }
    if n.chars()
        .any(|c| c.is_control() || crate::text::is_display_hazard(c))
    {
        return bad("no control, invisible or text-direction override characters in a file name");
    }
    Ok(n.to_owned())
}

/// Check an entry's references (at signing and again on receipt).
pub fn check(refs: &[AttachmentRef]) -> Result<(), DomainError> {
    if refs.len() > MAX_PER_ITEM {
        return Err(DomainError::invalid(
            "attachments",
            format!("at most {MAX_PER_ITEM} files"),
        ));
    }
    for (i, r) in refs.iter().enumerate() {
        if !is_sha256(&r.sha256) {
            return Err(DomainError::invalid(
                "attachments",
                "a SHA-256 in hex is required",
            ));
        }
        if refs[..i].iter().any(|o| o.sha256 == r.sha256) {
            return Err(DomainError::invalid("attachments", "the same file twice"));
        }
        if r.size == 0 || r.size > MAX_BYTES {
            return Err(DomainError::invalid(
                "attachments",
                format!("a file of 1 byte to {MAX_BYTES} bytes"),
            ));
        }
        if clean_name(&r.name)? != r.name {
            return Err(DomainError::invalid(
                "attachments",
                "an untrimmed file name",
            ));
        }
        let mt = &r.media_type;
        if mt.is_empty()
            || mt.len() > 100
            || !mt.contains('/')
            || !mt
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/.+-_".contains(&b))
        {
            return Err(DomainError::invalid(
                "attachments",
                "a media type such as application/pdf",
            ));
        }
    }
    Ok(())
}

/// The prefixes of the keys of files not on an item, in the store's file tables and on the
/// federation route.
const POST_KEY: &str = "post:";
const MEETING_KEY: &str = "meeting:";
const PAPER_KEY: &str = "paper:";

/// The object a file is attached to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileOwner {
    Item(String),
    Post { thread_id: String, post_id: String },
    Meeting(String),
    Paper(String),
}

impl FileOwner {
    /// The key the store's file rows and the federation route use: an item's id,
    /// `post:THREAD:POST`, `meeting:ID` or `paper:ID`. None for an item whose id reads as
    /// another owner's key (no node makes one: a peer's item under such an id gets none of its
    /// files fetched or served, so it cannot borrow another owner's checked files).
    pub fn key(&self) -> Option<String> {
        match self {
            FileOwner::Item(id)
                if [POST_KEY, MEETING_KEY, PAPER_KEY]
                    .iter()
                    .any(|k| id.starts_with(k)) =>
            {
                None
            }
            FileOwner::Item(id) => Some(id.clone()),
            FileOwner::Post { thread_id, post_id } => {
                Some(format!("{POST_KEY}{thread_id}:{post_id}"))
            }
            FileOwner::Meeting(id) => Some(format!("{MEETING_KEY}{id}")),
            FileOwner::Paper(id) => Some(format!("{PAPER_KEY}{id}")),
        }
    }

    /// The owner a stored key names.
    pub fn from_key(key: &str) -> Option<FileOwner> {
        if let Some(rest) = key.strip_prefix(POST_KEY) {
            let (t, p) = rest.split_once(':')?;
            return Some(FileOwner::Post {
                thread_id: t.to_owned(),
                post_id: p.to_owned(),
            });
        }
        if let Some(id) = key.strip_prefix(MEETING_KEY) {
            return Some(FileOwner::Meeting(id.to_owned()));
        }
        if let Some(id) = key.strip_prefix(PAPER_KEY) {
            return Some(FileOwner::Paper(id.to_owned()));
        }
        Some(FileOwner::Item(key.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(sha: &str, name: &str) -> AttachmentRef {
        AttachmentRef {
            sha256: sha.to_owned(),
            size: 10,
            name: name.to_owned(),
            media_type: "application/pdf".into(),
        }
    }

    #[test]
    fn names_in_any_script_pass_and_paths_or_overrides_do_not() {
        let sha = "a".repeat(64);
        assert!(check(&[r(&sha, "事後報告書 2026.pdf")]).is_ok());
        assert!(check(&[r(&sha, "보고서.docx")]).is_ok());
        for bad in [
            "../etc/passwd",
            "a\\b.pdf",
            "",
            "evil\u{202e}fdp.exe",
            "tab\t.pdf",
        ] {
            assert!(check(&[r(&sha, bad)]).is_err(), "{bad:?}");
        }
        assert!(check(&[r("A".repeat(64).as_str(), "x.pdf")]).is_err());
        assert!(check(&[r(&sha, "x.pdf"), r(&sha, "y.pdf")]).is_err());
        assert_eq!(chunk_count(1), 1);
        assert_eq!(chunk_count(CHUNK_BYTES), 1);
        assert_eq!(chunk_count(CHUNK_BYTES + 1), 2);
    }

    #[test]
    fn keys_name_one_owner_and_an_item_cannot_take_a_posts() {
        let p = FileOwner::Post {
            thread_id: "EU-t1".into(),
            post_id: "JPN-p2".into(),
        };
        let k = p.key().unwrap();
        assert_eq!(k, "post:EU-t1:JPN-p2");
        assert_eq!(FileOwner::from_key(&k), Some(p));
        let i = FileOwner::Item("0192-abc".into());
        assert_eq!(FileOwner::from_key(&i.key().unwrap()), Some(i));
        assert_eq!(FileOwner::Item("post:EU-t1:JPN-p2".into()).key(), None);
        assert_eq!(FileOwner::from_key("post:no-separator"), None);
        for o in [
            FileOwner::Meeting("EU-m".into()),
            FileOwner::Paper("EU-p".into()),
        ] {
            assert_eq!(FileOwner::from_key(&o.key().unwrap()), Some(o));
        }
        assert_eq!(FileOwner::Item("meeting:EU-m".into()).key(), None);
        assert_eq!(FileOwner::Item("paper:EU-p".into()).key(), None);
    }
}
