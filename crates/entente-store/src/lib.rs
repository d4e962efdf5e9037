//! The storage trait every backend implements, the records it stores, and the conformance
//! suite every backend must pass. No backend lives here, and no backend type (no SQLite or
//! PostgreSQL type) appears in the trait: the node speaks only to `dyn Store`.

pub mod conformance;
pub mod counts;
pub mod rows;

/// Decoding helpers every backend uses on what it reads back (a value that does not decode is
/// a corrupt store, never a panic).
pub mod codec {
    use super::{Result, StoreError};
    use entente_domain::PartnerCode;

    pub fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt(format!("{what}: {e}"))
    }

    pub fn partner(s: String) -> Result<PartnerCode> {
        PartnerCode::parse(&s).map_err(|e| corrupt("partner", e))
    }

    pub fn hash32(v: Vec<u8>) -> Result<[u8; 32]> {
        v.try_into()
            .map_err(|_| StoreError::Corrupt("hash is not 32 bytes".into()))
    }

    pub fn json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
        serde_json::from_str(s).map_err(|e| corrupt("stored state", e))
    }

    pub fn to_json<T: serde::Serialize>(v: &T) -> String {
        serde_json::to_string(v).expect("states serialise")
    }

    /// A stored token kind; an unknown one is corruption, never read as a broader kind.
    pub fn token_kind(s: &str) -> Result<super::TokenKind> {
        super::TokenKind::parse(s).ok_or_else(|| corrupt("token kind", s))
    }
}

use async_trait::async_trait;
use entente_domain::{Audience, FormatState, ItemKind, ItemState, PartnerCode, Role, Tlp};
use entente_log::{LogDescriptor, LogHead, ParsedEntry, SignedEntry};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer moved the log head first (optimistic concurrency); retry.
    #[error("log {log_id} head moved (expected {expected})")]
    HeadMoved { log_id: String, expected: u64 },
    #[error("{0} already exists")]
    Conflict(String),
    #[error("the database belongs to partner {found}, not {expected}")]
    WrongPartner { expected: String, found: String },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Backend(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A log held by this node (its own or received), with its head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogInfo {
    pub log_id: String,
    pub origin: PartnerCode,
    pub audience: Audience,
    pub head_seq: u64,
    #[serde(with = "hex32")]
    pub head_hash: [u8; 32],
}

impl LogInfo {
    pub fn head(&self) -> LogHead {
        LogHead {
            seq: self.head_seq,
            hash: self.head_hash,
        }
    }

    pub fn descriptor(&self) -> LogDescriptor {
        LogDescriptor {
            log_id: self.log_id.clone(),
            origin: self.origin.clone(),
            audience: self.audience.clone(),
        }
    }
}

mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(&s)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| serde::de::Error::custom("expected 32 bytes of hex"))
    }
}

/// A state change that must be committed in the same transaction as the entries causing it.
#[derive(Debug, Clone, PartialEq)]
pub enum Projection {
    Format(FormatState),
    Item(ItemState),
    /// A STIX object version in a format's collection (added if not already present).
    Stix(StixRow),
    /// Every version of a STIX object leaves a collection.
    StixDelete {
        collection: String,
        stix_id: String,
    },
    Statement(entente_domain::statement::StatementState),
    /// The state of a coordination object (alert, action, exercise, project …) as JSON,
    /// keyed by kind and id.
    Object {
        kind: &'static str,
        id: String,
        format_id: String,
        state: String,
    },
    /// Files an object other than an item references (a discussion post), for the fetcher:
    /// `(sha256, size)` under the owner's key (`post:THREAD:POST`). Items' files are recorded
    /// from the item itself.
    Files {
        owner: String,
        files: Vec<(String, u64)>,
    },
}

/// One version of a STIX object in a collection, with what releasability needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StixRow {
    pub collection: String,
    pub stix_id: String,
    pub stix_type: String,
    pub version: String,
    pub spec_version: String,
    /// When this node added the object: node-local, strictly increasing, microseconds.
    pub date_added: String,
    pub origin: PartnerCode,
    pub audience: Audience,
    pub tlp: Tlp,
    pub author: String,
    pub named_users: Vec<String>,
    /// The object's JSON exactly as received (or as mapped from an item). Empty on a row
    /// handed to `append` with a [`StixSpan`]; always filled on rows read back.
    pub raw: String,
    /// Where `raw` sits inside the body of one of the entries appended with this row, so a
    /// backend can keep one copy of the bytes (the signed entry) instead of two. Not stored.
    #[serde(skip)]
    pub span: Option<StixSpan>,
    /// Set by a writer that guarantees no other version of this object exists in the
    /// collection (items: a revision deletes the old row first), so the store can skip
    /// maintaining the latest-version flag. Not stored.
    #[serde(skip)]
    pub single_version: bool,
}

/// Bytes `start..start + len` of the body of entry `seq` in the log being appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StixSpan {
    pub seq: u64,
    pub start: usize,
    pub len: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum VersionFilter {
    #[default]
    Last,
    First,
    All,
    Exact(Vec<String>),
}

/// TAXII object filters over one collection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StixQuery {
    pub collection: String,
    pub added_after: Option<String>,
    pub ids: Vec<String>,
    pub types: Vec<String>,
    pub spec_versions: Vec<String>,
    pub versions: VersionFilter,
    /// Paging position: rows added strictly after this date_added.
    pub after: Option<String>,
    pub limit: u32,
}

/// The latest checkpoint of `origin` that `witness` verified and cosigned. A node keeps the
/// cosignatures peers returned on its own checkpoints, and the checkpoints it witnessed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessRecord {
    pub origin: PartnerCode,
    pub witness: PartnerCode,
    /// The checkpoint's exact JSON body and the origin's signature over it (hex).
    pub checkpoint: String,
    pub origin_sig: String,
    /// The witness's cosignature (hex).
    pub cosig: String,
    pub recorded_at: String,
}

/// Two statements, both validly signed by the origin, about one log position: evidence that
/// the origin showed different histories. Usually two entries with the same sequence number;
/// for a checkpoint that contradicts a held entry, `conflicting` is the signed checkpoint
/// (body and signature) and `log_id`/`seq` name the position it disagrees about. Kept and
/// reported, never applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkEvidence {
    pub log_id: String,
    pub origin: PartnerCode,
    pub seq: u64,
    pub held: SignedEntry,
    pub conflicting: SignedEntry,
    pub received_from: PartnerCode,
    pub detected_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRecord {
    pub partner: PartnerCode,
    /// None for a partner whose key is pinned but that this node does not sync with directly.
    pub url: Option<String>,
    pub public_key: String,
    pub added_at: String,
    pub last_sync_at: Option<String>,
    pub last_ok_at: Option<String>,
    pub last_error: Option<String>,
    /// `active`, `suspended` (federation refused both ways, logs kept) or `removed` (no longer
    /// a peer; its key kept so what it signed still verifies).
    #[serde(default = "active")]
    pub state: String,
}

fn active() -> String {
    "active".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub username: String,
    pub role: Role,
    pub password_hash: String,
    pub created_at: String,
    /// A disabled user's sessions and tokens stop working and it cannot log in.
    #[serde(default)]
    pub disabled: bool,
    /// The user's own display preferences (node-local, never replicated).
    #[serde(default)]
    pub settings: UserSettings,
}

/// A user's display preferences. Absent fields take the node's defaults; the store keeps them
/// as JSON so a new preference needs no migration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSettings {
    /// An IANA time zone name (`Asia/Tokyo`) the UI shows times in, beside UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// A language tag of the UI's catalogues (`ja`); absent: the browser's choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Where this user's notifications go (absent: none are sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Per kind of notification (`alert`, `stance`, `mention`, `reply`), `immediately`,
    /// `digest` or `off`; a kind not named takes its default.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub notify: std::collections::BTreeMap<String, String>,
}

/// One notification in the outbox: queued, retried with back-off until delivered, and kept as
/// the delivery log. Node-local, never replicated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRecord {
    /// Derived from what caused it and where it goes, so queueing it twice keeps one.
    pub id: String,
    pub created_at: String,
    /// When it is next tried (a digest's: when the digest goes out).
    pub due_at: String,
    /// `email` or `webhook`.
    pub channel: String,
    /// The address or the webhook's URL.
    pub target: String,
    /// The user it is for, `duty` (the partner's duty contact) or `webhook`.
    pub recipient: String,
    /// `alert`, `escalation`, `stance`, `mention` or `reply`.
    pub kind: String,
    /// Held for the recipient's daily digest rather than sent on its own.
    pub digest: bool,
    pub subject: String,
    pub body: String,
    pub attempts: u32,
    /// `pending`, `sent` or `failed` (given up after the last retry).
    pub state: String,
    pub last_error: String,
    pub sent_at: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// A long-lived API token created by a user: everything the user's role allows.
    Api,
    /// A long-lived API token limited to reading (GET and HEAD requests).
    #[serde(rename = "api-read")]
    ApiRead,
    /// A session token issued at password login, with an expiry.
    Session,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Api => "api",
            TokenKind::ApiRead => "api-read",
            TokenKind::Session => "session",
        }
    }

    pub fn parse(s: &str) -> Option<TokenKind> {
        [TokenKind::Api, TokenKind::ApiRead, TokenKind::Session]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    /// Whether requests with this token may only read.
    pub fn read_only(self) -> bool {
        self == TokenKind::ApiRead
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Hex SHA-256 of the secret; the secret itself is never stored.
    pub token_hash: String,
    pub username: String,
    pub label: String,
    pub kind: TokenKind,
    pub created_at: String,
    pub expires_at: Option<String>,
}

/// One record of the local, hash-chained audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub detail: String,
    /// Hex SHA-256 of the previous record (64 zeros for the first).
    pub prev: String,
    /// Hex SHA-256 over prev, seq, at, actor, action and detail.
    pub hash: String,
}

/// Filters for listing items. `after` is an opaque position from a previous page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemQuery {
    pub format_id: Option<String>,
    pub kind: Option<ItemKind>,
    pub topic: Option<String>,
    pub origin: Option<PartnerCode>,
    pub tlp: Option<Tlp>,
    pub since: Option<String>,
    /// Resume after this item (the last one of the previous page).
    pub after: Option<String>,
    pub limit: u32,
    /// Newest first (the order this node received them, reversed), as people read a list;
    /// `after` then resumes with older items. Default: oldest first, as API clients page.
    pub newest_first: bool,
}

/// An attachment whose bytes this node holds whole, checked against its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub sha256: String,
    pub size: u64,
    /// When the last chunk arrived (or the upload finished).
    pub stored_at: String,
}

/// A file the malware scanner flagged when it arrived for an item (or a post, meeting or paper,
/// by its key): its chunks are held aside as evidence, never served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineRecord {
    pub sha256: String,
    pub item_id: String,
    pub finding: String,
    pub at: String,
}

/// Held while a node folds entries and appends them (dropping it releases the lock). A backend
/// shared by several processes of one node excludes them from one another with it; an embedded
/// backend has one process and needs nothing.
pub trait WriteLock: Send {}

struct ProcessOnly;
impl WriteLock for ProcessOnly {}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Exclude the node's other processes from folding and appending until the guard is dropped.
    async fn lock_writes(&self) -> Result<Box<dyn WriteLock>> {
        Ok(Box::new(ProcessOnly))
    }

    /// Check (or, on first use, record) which partner's node this database belongs to.
    async fn claim_partner(&self, partner: &PartnerCode) -> Result<()>;

    /// Write a consistent snapshot of the whole store to `path` while the node keeps running.
    async fn backup_to(&self, path: &std::path::Path) -> Result<()>;

    // Logs.
    async fn log(&self, log_id: &str) -> Result<Option<LogInfo>>;
    async fn logs(&self) -> Result<Vec<LogInfo>>;
    async fn entries_after(
        &self,
        log_id: &str,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<SignedEntry>>;
    async fn entry_hashes(
        &self,
        log_id: &str,
        from_seq: u64,
        to_seq: u64,
    ) -> Result<Vec<(u64, [u8; 32])>>;
    /// Append verified entries that continue the log from `expected`, with the projection
    /// changes they cause, in one durable transaction. Fails with `HeadMoved` and changes
    /// nothing if the log's head is no longer `expected`.
    async fn append(
        &self,
        log: &LogDescriptor,
        expected: LogHead,
        entries: &[ParsedEntry],
        projections: &[Projection],
    ) -> Result<()>;
    async fn record_fork(&self, fork: &ForkEvidence) -> Result<()>;
    /// Keep `w` as the latest record for its (origin, witness), replacing an older one.
    async fn put_witness(&self, w: &WitnessRecord) -> Result<()>;
    async fn witnesses(&self) -> Result<Vec<WitnessRecord>>;
    async fn forks(&self) -> Result<Vec<ForkEvidence>>;

    // Projections.
    async fn format(&self, format_id: &str) -> Result<Option<FormatState>>;
    async fn formats(&self) -> Result<Vec<FormatState>>;
    async fn item(&self, item_id: &str) -> Result<Option<ItemState>>;
    /// Items matching the query, in the order they arrived at this node.
    async fn items(&self, q: &ItemQuery) -> Result<Vec<ItemState>>;
    /// The items with these ids that exist.
    async fn items_by_id(&self, ids: &[String]) -> Result<Vec<ItemState>>;
    /// The counts of items by day, audience and readers (`counts`), of one topic or of all
    /// items, for days at or after `since` and before `until` (compared with the day, so each
    /// is at most ten bytes: the caller reads items for a finer filter).
    async fn network_counts(
        &self,
        topic: Option<&str>,
        since: Option<&str>,
        until: Option<&str>,
    ) -> Result<Vec<counts::NetworkCount>>;

    // Coordination objects (alerts, actions, exercises, projects): JSON states by kind.
    async fn object(&self, kind: &str, id: &str) -> Result<Option<String>>;
    async fn objects(&self, kind: &str) -> Result<Vec<String>>;

    // Joint statements.
    async fn statement(
        &self,
        statement_id: &str,
    ) -> Result<Option<entente_domain::statement::StatementState>>;
    async fn statements(&self) -> Result<Vec<entente_domain::statement::StatementState>>;

    // STIX collections (TAXII).
    async fn stix_query(&self, q: &StixQuery) -> Result<Vec<StixRow>>;
    /// The origin that holds each of `ids` in `collection` (the first to publish it), for the
    /// ids held. An object id belongs to that origin: `append` never projects a version of it
    /// signed by another.
    async fn stix_owners(
        &self,
        collection: &str,
        ids: &[&str],
    ) -> Result<Vec<(String, PartnerCode)>>;
    /// Record a TAXII status resource (node-local, owned by one user).
    async fn put_status(&self, status_id: &str, username: &str, json: &str) -> Result<()>;
    async fn status(&self, status_id: &str) -> Result<Option<(String, String)>>;

    // Audit log.
    /// Append a run of audit records (consecutive, in order) in one transaction: all or none.
    /// Fails with `HeadMoved`, writing nothing, if a record's sequence number is taken.
    async fn append_audit(&self, run: &[AuditRecord]) -> Result<()>;
    async fn audit_head(&self) -> Result<Option<AuditRecord>>;
    async fn audit_records(&self, after: u64, limit: u32) -> Result<Vec<AuditRecord>>;

    // Peers.
    async fn upsert_peer(&self, peer: &PeerRecord) -> Result<()>;
    async fn peers(&self) -> Result<Vec<PeerRecord>>;
    async fn set_peer_status(
        &self,
        partner: &PartnerCode,
        at: &str,
        error: Option<&str>,
    ) -> Result<()>;

    // Users and tokens.
    async fn create_user(&self, user: &UserRecord) -> Result<()>;
    async fn user(&self, username: &str) -> Result<Option<UserRecord>>;
    async fn users(&self) -> Result<Vec<UserRecord>>;
    async fn create_token(&self, token: &TokenRecord) -> Result<()>;
    async fn token(&self, token_hash: &str) -> Result<Option<TokenRecord>>;
    /// Revoke a token (logout); an unknown hash is not an error.
    async fn delete_token(&self, token_hash: &str) -> Result<()>;
    /// Change a user's role and/or whether it is disabled; false if there is no such user.
    async fn update_user(
        &self,
        username: &str,
        role: Option<Role>,
        disabled: Option<bool>,
    ) -> Result<bool>;
    /// Replace a user's display preferences; false if there is no such user.
    async fn set_user_settings(&self, username: &str, settings: &UserSettings) -> Result<bool>;
    /// Record what a user has read of a discussion (node-local: the ids of the posts seen, as
    /// JSON), replacing what was recorded.
    async fn set_read_mark(&self, username: &str, thread_id: &str, seen: &str) -> Result<()>;
    /// Every read mark of a user: (thread id, seen).
    async fn read_marks(&self, username: &str) -> Result<Vec<(String, String)>>;
    /// Queue notifications; one whose id is queued already is left as it is.
    async fn queue_notifications(&self, n: &[NotificationRecord]) -> Result<()>;
    /// Pending notifications due at `now` (RFC 3339, UTC) or before, the earliest first.
    async fn due_notifications(&self, now: &str, limit: u32) -> Result<Vec<NotificationRecord>>;
    /// Record a delivery attempt: state, attempts, next due time, error and time sent.
    async fn update_notification(&self, n: &NotificationRecord) -> Result<()>;
    /// The delivery log: the latest notifications, newest first.
    async fn notifications(&self, limit: u32) -> Result<Vec<NotificationRecord>>;
    /// How far the notifier has looked at each log: (log id, last sequence number looked at).
    async fn notify_cursors(&self) -> Result<Vec<(String, u64)>>;
    /// Record how far the notifier has looked (insert each log's cursor or move it forward;
    /// a cursor never moves back).
    async fn set_notify_cursors(&self, cursors: &[(String, u64)]) -> Result<()>;
    /// Delete notifications that are done (sent, failed or cancelled) and were queued before
    /// `before`; pending ones stay. Returns how many went.
    async fn prune_notifications(&self, before: &str) -> Result<u64>;
    /// A user now wants `kind` at once: their pending e-mails of that kind held for the digest
    /// fall due at `due_at` as ordinary e-mails. Returns how many.
    async fn undigest_notifications(
        &self,
        recipient: &str,
        kind: &str,
        due_at: &str,
    ) -> Result<u64>;
    /// Delete a user, all its tokens and its read marks; false if there is no such user.
    async fn delete_user(&self, username: &str) -> Result<bool>;
    /// Tokens (sessions included) of one user, or of everyone; oldest first.
    async fn tokens(&self, username: Option<&str>) -> Result<Vec<TokenRecord>>;
    /// Set a peer's state (`active`, `suspended`, `removed`); false if it is not pinned.
    async fn set_peer_state(&self, partner: &PartnerCode, state: &str) -> Result<bool>;

    // Attachments' bytes, content-addressed, in chunks of `entente_domain::attachment::CHUNK_BYTES`
    // (node-local: what an item references is written with the item by `append`, the bytes
    // arrive beside the log and are whole once `complete_blob` has run).
    /// Keep chunk `index` of a file, written at `at` (a chunk already held stays as it is).
    async fn put_blob_chunk(&self, sha256: &str, index: u32, data: &[u8], at: &str) -> Result<()>;
    async fn blob_chunk(&self, sha256: &str, index: u32) -> Result<Option<Vec<u8>>>;
    /// The indexes of the chunks held of a file, ascending.
    async fn blob_chunk_indexes(&self, sha256: &str) -> Result<Vec<u32>>;
    /// Drop every chunk of a file that is not complete (its bytes did not hash to the reference).
    async fn drop_blob_chunks(&self, sha256: &str) -> Result<()>;
    /// The file's chunks are all there and hash to `b.sha256`; `uploader`: the user of this
    /// node who uploaded it, who may now reference it from an item (an upload also moves the
    /// file's `stored_at` to its own, so an old copy uploaded again is not an abandoned one).
    async fn complete_blob(&self, b: &BlobInfo, uploader: Option<&str>) -> Result<()>;
    /// A file held whole.
    async fn blob(&self, sha256: &str) -> Result<Option<BlobInfo>>;
    /// Whether `username` uploaded the file to this node.
    async fn blob_uploaded_by(&self, sha256: &str, username: &str) -> Result<bool>;
    /// Keep the text of a file, for search (replacing what was kept).
    async fn put_blob_text(&self, sha256: &str, text: &str) -> Result<()>;
    async fn blob_text(&self, sha256: &str) -> Result<Option<String>>;
    /// The whole file `sha256` was checked for `item_id` (uploaded by the author of this node's
    /// own item, or fetched for that item and hashed): it may be served through that item.
    /// Nothing is recorded while the file is not whole (it went, or was held aside, meanwhile).
    async fn verify_blob_for_item(&self, sha256: &str, item_id: &str) -> Result<()>;
    /// Whether the file is held whole and was checked for this item.
    async fn blob_for_item(&self, sha256: &str, item_id: &str) -> Result<bool>;
    /// References (file, item, the size the item gives) not yet checked for their item, in
    /// (file, item) order after `after`: a file another item brought is not this item's.
    async fn missing_blobs(
        &self,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<(String, String, u64)>>;
    /// The malware scanner found `finding` in the file received for `item_id`: it is held aside
    /// (its chunks stay as evidence, never completed, served or read) and no longer missing for
    /// that item. The first finding stays. Nothing is recorded while the file is whole (an
    /// operator released it meanwhile: the fetcher then checks it for the item as any file).
    async fn quarantine_blob(
        &self,
        sha256: &str,
        item_id: &str,
        finding: &str,
        at: &str,
    ) -> Result<()>;
    /// What the scanner found in a file quarantined for `item_id`, or for any item (None).
    async fn blob_quarantine(&self, sha256: &str, item_id: Option<&str>) -> Result<Option<String>>;
    /// The files held aside (only `sha256`'s when given), newest first (one row per file and
    /// item), for the operator.
    async fn quarantined_blobs(
        &self,
        sha256: Option<&str>,
        limit: u32,
    ) -> Result<Vec<QuarantineRecord>>;
    /// Release a quarantined file for `item_ids` (the operator released it, or a new scan found
    /// nothing), in one transaction: the file is whole (`b`; its chunks are there and hash to
    /// it), out of quarantine and checked for each of those items it was quarantined for (each
    /// had fetched and hashed it before the scanner held it). Rows of other items stay. Returns
    /// the items released, in order. Rows that checked it for any other item while it was not
    /// whole (a check that raced its quarantine) become quarantine rows. `overridden`: when an admin released it whatever the scanner says, so that
    /// [`Store::held_blobs`] leaves it out from then on.
    async fn release_blob_quarantine(
        &self,
        b: &BlobInfo,
        item_ids: &[String],
        overridden: Option<&str>,
    ) -> Result<Vec<String>>;
    /// Drop files held whole that no item or post references, none was checked for and none
    /// is quarantined, kept (or last uploaded) before `before`: uploads never attached. Then
    /// the chunks written before `before` of files not held whole that nothing references or
    /// holds aside: uploads cut off before they completed (a chunk without a time counts as
    /// written when the store began to record them). Returns the files' hashes (at most `limit`
    /// of each kind).
    async fn drop_abandoned_blobs(&self, before: &str, limit: u32) -> Result<Vec<String>>;
    /// The files held whole, in hash order after `after`, but those an admin released whatever
    /// the scanner says.
    async fn held_blobs(&self, after: Option<&str>, limit: u32) -> Result<Vec<BlobInfo>>;
    /// The scanner found `finding` in a file held whole (scanned after it was kept): in one
    /// transaction it stops being whole and checked for any item, its text goes, and it is
    /// quarantined for each item it was checked for (its chunks stay as evidence). A file
    /// checked for no item (an upload never attached) goes altogether. Returns those items'
    /// keys, in order.
    async fn quarantine_held_blob(
        &self,
        sha256: &str,
        finding: &str,
        at: &str,
    ) -> Result<Vec<String>>;
}
