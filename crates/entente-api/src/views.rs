//! JSON shapes of the REST API, owned here so the domain can change without breaking clients.

use entente_domain::{FormatState, ItemState};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FormatView {
    pub id: String,
    pub title: String,
    pub description: String,
    pub topics: Vec<String>,
    pub members: Vec<String>,
    pub convener: String,
    pub closed: bool,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stix_default_releasable_to: Option<Vec<String>>,
}

impl From<FormatState> for FormatView {
    fn from(f: FormatState) -> Self {
        FormatView {
            id: f.format_id,
            title: f.title,
            description: f.description,
            topics: f.topics,
            members: f.members.into_iter().map(|m| m.to_string()).collect(),
            convener: f.convener.to_string(),
            closed: f.closed,
            created_at: f.created_at,
            updated_at: f.updated_at,
            stix_default_releasable_to: f
                .stix_default_releasable_to
                .map(|d| d.into_iter().map(|p| p.to_string()).collect()),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RetractionView {
    pub reason: String,
    pub at: String,
    pub by: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ItemView {
    pub id: String,
    pub format_id: String,
    /// The partner whose node published the item (and signed it).
    pub origin: String,
    /// The partners the item is released to (always includes the origin).
    pub releasable_to: Vec<String>,
    pub log_id: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub topics: Vec<String>,
    /// TLP 2.0 level.
    pub tlp: String,
    pub tlp_marking_id: String,
    pub named_users: Vec<String>,
    pub author: String,
    pub revision: u32,
    pub created_at: String,
    pub updated_at: String,
    pub retracted: Option<RetractionView>,
    /// For an item released to a partner admitted since: the earlier item it releases and the
    /// hash of the entry that published it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_from: Option<ReleasedFromView>,
    /// The item's files; download one at `/api/v1/items/{id}/attachments/{sha256}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<entente_domain::attachment::AttachmentRef>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReleasedFromView {
    pub item_id: String,
    pub entry_hash: String,
}

impl From<ItemState> for ItemView {
    fn from(i: ItemState) -> Self {
        ItemView {
            id: i.item_id,
            format_id: i.format_id,
            origin: i.origin.to_string(),
            releasable_to: i.audience.iter().map(|p| p.to_string()).collect(),
            log_id: i.log_id,
            kind: i.kind.as_str().to_owned(),
            title: i.title,
            body: i.body,
            topics: i.topics,
            tlp: i.tlp.as_str().to_owned(),
            tlp_marking_id: i.tlp.stix_marking_id().to_owned(),
            named_users: i.named_users,
            author: i.author,
            revision: i.revision,
            created_at: i.created_at,
            updated_at: i.updated_at,
            retracted: i.retracted.map(|r| RetractionView {
                reason: r.reason,
                at: r.at,
                by: r.by,
            }),
            released_from: i.released_from.map(|r| ReleasedFromView {
                item_id: r.item_id,
                entry_hash: r.entry_hash,
            }),
            attachments: i.attachments,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ItemPageView {
    pub items: Vec<ItemView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NewFormatRequest {
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Topic slugs from the built-in taxonomy.
    pub topics: Vec<String>,
    /// Partner codes; the convener (this node's partner) is always a member.
    pub members: Vec<String>,
    /// Members (besides the poster) that STIX objects posted to the format's TAXII collection
    /// without a releasability marking are released to. Omitted: the poster only.
    #[serde(default)]
    pub stix_default_releasable_to: Option<Vec<String>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TemplateRequest {
    /// The "+" partner of "Transatlantic+ \<partner\>": e.g. JPN, KOR, AUS, NZL.
    pub partner: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JoinRequest {
    pub partner: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReasonRequest {
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NewItemRequest {
    pub format_id: String,
    /// report, incident, assessment, best-practice, lesson-learned or note.
    pub kind: String,
    pub title: String,
    /// Markdown.
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub topics: Vec<String>,
    /// CLEAR, GREEN, AMBER, AMBER+STRICT or RED (WHITE is read as CLEAR). Absent: unmarked,
    /// treated as RED.
    #[serde(default)]
    pub tlp: Option<String>,
    /// Partner codes, a subset of the format's members. Absent: originator only.
    #[serde(default)]
    pub releasable_to: Option<Vec<String>>,
    /// For TLP:RED: users (name@PARTNER) who may see the item besides its author.
    #[serde(default)]
    pub named_users: Vec<String>,
    /// Files the caller uploaded (`POST /api/v1/attachments`), each under the name to show.
    #[serde(default)]
    pub attachments: Vec<NewAttachmentRequest>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NewAttachmentRequest {
    pub sha256: String,
    /// The file name in any script (no path separators or control characters).
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReviseRequest {
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub topics: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    pub token: String,
    pub expires_at: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NewTokenRequest {
    pub label: String,
    /// "write" (the default: everything the user's role allows) or "read" (GET and HEAD only).
    #[serde(default)]
    pub scope: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NewUserRequest {
    pub username: String,
    /// admin, officer, analyst or reader.
    pub role: String,
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub username: String,
    pub role: String,
    pub partner: String,
    pub created_at: Option<String>,
    #[serde(default)]
    pub disabled: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NewPeerRequest {
    pub partner: String,
    /// Base URL for direct sync; absent to pin a key only (for forwarded logs).
    #[serde(default)]
    pub url: Option<String>,
    /// Hex Ed25519 public key.
    pub public_key: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PeerView {
    pub partner: String,
    pub url: Option<String>,
    pub public_key: String,
    pub fingerprint: String,
    pub last_sync_at: Option<String>,
    pub last_ok_at: Option<String>,
    pub last_error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LogView {
    pub log_id: String,
    pub origin: String,
    pub audience: Vec<String>,
    pub head_seq: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SyncStatusView {
    pub partner: String,
    pub peers: Vec<PeerView>,
    pub logs: Vec<LogView>,
    pub entries_applied: u64,
    pub duplicates_skipped: u64,
    pub rejected_by_reason: std::collections::BTreeMap<String, u64>,
    pub forks: u64,
    /// Witnessed checkpoints: cosignatures peers gave this node's checkpoints (origin = this
    /// partner) and peers' checkpoints this node verified and cosigned.
    pub witnesses: Vec<WitnessView>,
}

/// The latest checkpoint of `origin` that `witness` verified and cosigned.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WitnessView {
    pub origin: String,
    pub witness: String,
    /// The checkpoint's JSON body (origin, ts, size, root) as signed.
    pub checkpoint: String,
    pub origin_sig: String,
    pub cosig: String,
    pub recorded_at: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NodeView {
    pub partner: String,
    pub url: String,
    pub public_key: String,
    pub fingerprint: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub partner: String,
}
