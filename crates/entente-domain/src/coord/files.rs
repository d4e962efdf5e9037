//! Files of a meeting (its convener's: agenda papers, slides) and of a concept paper (its
//! penholder's: annexes): the signed payload that sets them and the fold's rule. Each file is
//! referenced by hash, so the origin's signature covers the bytes. Pure.

use super::{MeetingState, PaperState};
use crate::attachment::{self, AttachmentRef};
use crate::{Audience, PartnerCode};
use serde::{Deserialize, Serialize};

/// The signed payload of `files.set`: the files of a meeting or a concept paper from now on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FilesSet {
    /// `meeting` or `paper`.
    pub kind: String,
    pub id: String,
    pub attachments: Vec<AttachmentRef>,
    pub author: String,
}

/// The kinds of object `files.set` applies to, as the fold keys them.
pub fn files_kind(kind: &str) -> Option<&'static str> {
    match kind {
        "meeting" => Some("meeting"),
        "paper" => Some("paper"),
        _ => None,
    }
}

fn fits(f: &FilesSet, origin: &PartnerCode, owner: &PartnerCode) -> bool {
    origin == owner
        && attachment::check(&f.attachments).is_ok()
        && f.author
            .rsplit_once('@')
            .is_some_and(|(name, p)| !name.is_empty() && p == origin.as_str())
}

impl MeetingState {
    /// Files from the convener, in the meeting's audience.
    pub fn set_files(
        &mut self,
        f: &FilesSet,
        origin: &PartnerCode,
        audience: &Audience,
    ) -> Result<(), bool> {
        if *audience != self.audience || !fits(f, origin, &self.convener) {
            return Err(false);
        }
        self.files = f.attachments.clone();
        Ok(())
    }
}

impl PaperState {
    /// Files from the penholder, in the paper's audience.
    pub fn set_files(
        &mut self,
        f: &FilesSet,
        origin: &PartnerCode,
        audience: &Audience,
    ) -> Result<(), bool> {
        // Once circulated for sign-off the paper's files are what the partners sign beside
        // its text: they no longer change.
        if *audience != self.audience || !fits(f, origin, &self.penholder) || self.signoff.is_some()
        {
            return Err(false);
        }
        self.files = f.attachments.clone();
        Ok(())
    }
}
