//! Row mapping both backends share: a stored row, read through [`Columns`], to the record the
//! `Store` trait returns. Each backend keeps its own SQL and implements `Columns` for its row
//! type; how a column becomes a partner code, an audience or a hash is decided here, once.

use crate::codec::{corrupt, hash32, partner, token_kind};
use crate::{
    AuditRecord, ForkEvidence, LogInfo, NotificationRecord, PeerRecord, Result, TokenRecord,
    UserRecord, WitnessRecord,
};
use entente_domain::{Audience, Role};
use entente_log::SignedEntry;

/// A row's columns by name, in the few types the schema uses. A backend panics, as its driver
/// does, when a column is missing or of another type: that is a schema bug, not bad data.
pub trait Columns {
    fn text(&self, column: &str) -> String;
    fn opt_text(&self, column: &str) -> Option<String>;
    fn int(&self, column: &str) -> i64;
    fn bytes(&self, column: &str) -> Vec<u8>;
    /// A boolean column (SQLite stores it as an integer).
    fn flag(&self, column: &str) -> bool;
}

pub fn log(r: &impl Columns) -> Result<LogInfo> {
    Ok(LogInfo {
        log_id: r.text("log_id"),
        origin: partner(r.text("origin"))?,
        audience: Audience::parse_key(&r.text("audience")).map_err(|e| corrupt("audience", e))?,
        head_seq: r.int("head_seq") as u64,
        head_hash: hash32(r.bytes("head_hash"))?,
    })
}

pub fn audit(r: &impl Columns) -> AuditRecord {
    AuditRecord {
        seq: r.int("seq") as u64,
        at: r.text("at"),
        actor: r.text("actor"),
        action: r.text("action"),
        detail: r.text("detail"),
        prev: r.text("prev"),
        hash: r.text("hash"),
    }
}

pub fn peer(r: &impl Columns) -> Result<PeerRecord> {
    Ok(PeerRecord {
        partner: partner(r.text("partner"))?,
        url: r.opt_text("url"),
        public_key: r.text("public_key"),
        added_at: r.text("added_at"),
        last_sync_at: r.opt_text("last_sync_at"),
        last_ok_at: r.opt_text("last_ok_at"),
        last_error: r.opt_text("last_error"),
        state: r.text("state"),
    })
}

pub fn token(r: &impl Columns) -> Result<TokenRecord> {
    Ok(TokenRecord {
        token_hash: r.text("token_hash"),
        username: r.text("username"),
        label: r.text("label"),
        kind: token_kind(&r.text("kind"))?,
        created_at: r.text("created_at"),
        expires_at: r.opt_text("expires_at"),
    })
}

pub fn user(r: &impl Columns) -> Result<UserRecord> {
    Ok(UserRecord {
        username: r.text("username"),
        role: Role::parse(&r.text("role")).map_err(|e| corrupt("role", e))?,
        password_hash: r.text("password_hash"),
        created_at: r.text("created_at"),
        disabled: r.flag("disabled"),
        settings: serde_json::from_str(&r.text("settings"))
            .map_err(|e| corrupt("user settings", e))?,
    })
}

pub fn witness(r: &impl Columns) -> Result<WitnessRecord> {
    Ok(WitnessRecord {
        origin: partner(r.text("origin"))?,
        witness: partner(r.text("witness"))?,
        checkpoint: r.text("checkpoint"),
        origin_sig: r.text("origin_sig"),
        cosig: r.text("cosig"),
        recorded_at: r.text("recorded_at"),
    })
}

pub fn fork(r: &impl Columns) -> Result<ForkEvidence> {
    Ok(ForkEvidence {
        log_id: r.text("log_id"),
        origin: partner(r.text("origin"))?,
        seq: r.int("seq") as u64,
        held: SignedEntry {
            body: r.text("held_body"),
            sig: r.text("held_sig"),
        },
        conflicting: SignedEntry {
            body: r.text("conflicting_body"),
            sig: r.text("conflicting_sig"),
        },
        received_from: partner(r.text("received_from"))?,
        detected_at: r.text("detected_at"),
    })
}

/// A STIX row of `collection` (its text as stored in the row; a backend that keeps the object
/// inside an entry body fills `raw` from there).
pub fn stix(r: &impl Columns, collection: &str) -> Result<crate::StixRow> {
    Ok(crate::StixRow {
        collection: collection.to_owned(),
        stix_id: r.text("stix_id"),
        stix_type: r.text("stix_type"),
        version: r.text("version"),
        spec_version: r.text("spec_version"),
        date_added: r.text("date_added"),
        origin: partner(r.text("origin"))?,
        audience: Audience::parse_key(&r.text("audience")).map_err(|e| corrupt("audience", e))?,
        tlp: entente_domain::Tlp::parse(&r.text("tlp")).map_err(|e| corrupt("tlp", e))?,
        author: r.text("author"),
        named_users: r
            .text("named_users")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        raw: r.text("raw"),
        single_version: false,
        span: None,
    })
}

pub fn notification(r: &impl Columns) -> NotificationRecord {
    NotificationRecord {
        id: r.text("id"),
        created_at: r.text("created_at"),
        due_at: r.text("due_at"),
        channel: r.text("channel"),
        target: r.text("target"),
        recipient: r.text("recipient"),
        kind: r.text("kind"),
        digest: r.flag("digest"),
        subject: r.text("subject"),
        body: r.text("body"),
        attempts: r.int("attempts") as u32,
        state: r.text("state"),
        last_error: r.text("last_error"),
        sent_at: r.opt_text("sent_at"),
    }
}

/// A row of the network view's counts (`counts`).
pub fn network_count(r: &impl Columns) -> Result<crate::counts::NetworkCount> {
    crate::counts::decode_row(
        r.text("day"),
        &r.text("audience"),
        &r.text("readers"),
        r.int("n"),
    )
}
