//! The `Node`: its state and construction, users and tokens, publishing to its own logs, the
//! fold from entries to formats, items and STIX rows, and the item and format operations. Being
//! cut along its seams (issue 17): instruments, TAXII and the wire protocol move out.

use crate::auth::{self, Principal};
use crate::{Clock, NodeConfig, NodeError};
use entente_domain::format::validate_charter;
use entente_domain::item::validate_content;
use entente_domain::payload::*;
use entente_domain::policy::{self, Viewer};
use entente_domain::statement::{StanceRecord, StatementState, StatementVersion, statement_hash};
use entente_domain::{
    Audience, FormatState, FormatTemplate, ItemKind, ItemState, PartnerCode, Payload, Role, Tlp,
};
use entente_log::{LogDescriptor, LogHead, NodeKey, ParsedEntry, PublicKey, sign_entry};
use entente_store::{
    ItemQuery, LogInfo, PeerRecord, Projection, Store, StoreError, TokenKind, TokenRecord,
    UserRecord,
};
use entente_wire::{self as fed, LogsResponse, RemoteLog, SignedRequest};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use tokio::sync::{Mutex, mpsc};

pub mod audit;
mod ext;
mod fold;
mod formats;
mod items;
pub(crate) use items::FilesChanges;
pub use items::{NewAttachment, detect_media_type};
mod peers;
mod publish;
mod serve_fed;
mod users;

pub use ext::Hook;
pub(crate) use publish::BulkPublisher;

/// Held while folding and appending; see [`Node::lock_writes`]. The store's lock is released
/// before the process mutex.
pub(crate) struct WriteGuard<'a> {
    _shared: Box<dyn entente_store::WriteLock>,
    _local: tokio::sync::MutexGuard<'a, ()>,
}

/// A pinned peer: its record and parsed key.
#[derive(Debug, Clone)]
pub struct Peer {
    pub record: PeerRecord,
    pub key: PublicKey,
}

/// Something happened to a log that peers in its audience should hear about at once.
#[derive(Debug, Clone)]
pub(crate) struct Appended {
    pub log_id: String,
    pub audience: Audience,
    pub origin: PartnerCode,
    pub head_seq: u64,
    /// The peer it came from, which need not be told.
    pub from: Option<PartnerCode>,
}

/// One running node: its identity, its store and its peers. Cheap to share behind an Arc;
/// several can live in one process because nothing here is global.
/// Password checks running at once (each argon2 call is ~19 MiB and tens of ms of one core).
const ARGON_AT_ONCE: usize = 2;
/// Password checks waiting for a slot before further ones are refused with 429.
const ARGON_QUEUE: usize = 64;

pub struct Node {
    pub(crate) cfg: NodeConfig,
    pub(crate) key: NodeKey,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) peers: RwLock<BTreeMap<PartnerCode, Peer>>,
    /// Serialises every fold-and-append in this process (own publications and received
    /// pages): folds read and rewrite whole object states (an alert's receipts, a statement's
    /// stances) that entries from several logs change, so two concurrent folds would lose one
    /// another's update. The store's head check covers appends to one log from other processes.
    pub(crate) write_lock: Mutex<()>,
    /// Publishes waiting for the write lock (group commit, see `publish_json`).
    publish_queue: std::sync::Mutex<Vec<PublishJob>>,
    publish_ids: std::sync::atomic::AtomicU64,
    /// This node, for the tasks that must outlive a cancelled caller (a group commit's write).
    /// Set once, right after the node is put in its `Arc`.
    me: std::sync::OnceLock<std::sync::Weak<Node>>,
    /// Serialises this process's audit appends (the store refuses a duplicate sequence).
    pub(crate) audit_lock: Arc<Mutex<()>>,
    /// Audit records waiting for the audit lock (group commit, see `Node::audit`).
    pub(crate) audit_queue: std::sync::Mutex<Vec<audit::AuditJob>>,
    /// One sync at a time per peer, so pulls woken by pushes and by the timer do not race.
    pub(crate) sync_locks: std::sync::Mutex<HashMap<PartnerCode, Arc<Mutex<()>>>>,
    pub(crate) appended_tx: mpsc::Sender<Appended>,
    pub(crate) appended_rx: std::sync::Mutex<Option<mpsc::Receiver<Appended>>>,
    pub(crate) wake_tx: mpsc::Sender<PartnerCode>,
    pub(crate) wake_rx: std::sync::Mutex<Option<mpsc::Receiver<PartnerCode>>>,
    pub(crate) metrics: Arc<crate::metrics::SyncCounters>,
    /// Serialises signing what this node owes after a sync round (delivery receipts, relayed
    /// departures), so it never signs one twice.
    pub(crate) owed_lock: Mutex<()>,
    /// Rate limits per user, per peer and per login name (`RateLimits` in the config).
    limits: [(&'static str, crate::ratelimit::RateLimiter); 4],
    /// Password checks (argon2, ~19 MiB and tens of ms each) run on blocking threads, this
    /// many at once; `argon_waiting` bounds the queue behind them.
    argon_slots: tokio::sync::Semaphore,
    argon_waiting: std::sync::atomic::AtomicUsize,
    /// An argon2id hash checked when a login names an unknown user, so timing does not tell.
    dummy_hash: String,
    /// The last `date_added` handed out, in microseconds since the epoch.
    last_added: std::sync::Mutex<i64>,
    /// Key for MACs on paging tokens, derived from the node key.
    pub(crate) paging_secret: [u8; 32],
    /// Recently verified Basic-auth credentials (hash of user and secret → principal, expiry).
    pub(crate) basic_cache: std::sync::Mutex<HashMap<String, (BasicAuth, std::time::Instant)>>,
    /// The instruments' and the search index's own state (caches, checkpoint trees), which
    /// the core holds without knowing its types (`ext`).
    ext: ext::Extensions,
    /// Work registered to run after commits, sync rounds and ticks (`ext::Hook`).
    hooks: RwLock<Vec<Arc<dyn Hook>>>,
    /// Nonces of signed federation requests accepted within the skew window.
    replay: crate::replay::ReplayCache,
    /// One federation client per peer, each pinned to that peer's key (`transport`).
    pub(crate) peer_clients: RwLock<BTreeMap<PartnerCode, crate::transport::PeerClient>>,
}

/// One publish waiting for the write lock.
struct PublishJob {
    id: u64,
    audience: Audience,
    payloads: Vec<(&'static str, String)>,
    reply: tokio::sync::oneshot::Sender<Result<Vec<ParsedEntry>, NodeError>>,
}

/// Who a verified HTTP Basic credential is, and with what kind of secret.
pub(crate) type BasicAuth = (Principal, TokenKind);

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Node({})", self.cfg.partner)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewFormat {
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub topics: Vec<String>,
    pub members: Vec<String>,
    /// Partners (besides the poster) that STIX objects posted without a releasability marking
    /// are released to; members only. None: the poster only.
    #[serde(default)]
    pub stix_default_releasable_to: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewItem {
    pub format_id: String,
    pub kind: String,
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub topics: Vec<String>,
    /// Absent: unmarked, treated as TLP:RED.
    #[serde(default)]
    pub tlp: Option<String>,
    /// Absent: originator only.
    #[serde(default)]
    pub releasable_to: Option<Vec<String>>,
    #[serde(default)]
    pub named_users: Vec<String>,
    /// Files the caller uploaded (`POST /api/v1/attachments`), under the names to show.
    #[serde(default)]
    pub attachments: Vec<NewAttachment>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemRevision {
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub topics: Vec<String>,
}

/// Item-list filters as the API receives them (strings, validated here).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ItemFilter {
    pub format: Option<String>,
    pub kind: Option<String>,
    pub topic: Option<String>,
    pub partner: Option<String>,
    pub tlp: Option<String>,
    pub since: Option<String>,
    /// Items created before this time (RFC 3339).
    #[serde(default)]
    pub until: Option<String>,
    /// Partners that must all be in an item's audience (the items behind a network edge). It
    /// only narrows what the viewer may see.
    #[serde(default)]
    pub released_to: Vec<String>,
    /// Newest first (the Items page); the next page's `cursor` then leads to older items.
    #[serde(default)]
    pub newest_first: bool,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemPage {
    pub items: Vec<ItemState>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next: Option<String>,
}

impl Node {
    /// Open the core of a node over a store, with no hooks (`Node::new` adds the
    /// instruments'). Claims the store for this partner (refusing a database that belongs to
    /// another) and loads the pinned peers.
    pub async fn open_core(
        cfg: NodeConfig,
        key: NodeKey,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Node>, NodeError> {
        store.claim_partner(&cfg.partner).await?;
        let (appended_tx, appended_rx) = mpsc::channel(4096);
        let (wake_tx, wake_rx) = mpsc::channel(1024);
        let key_seed = key.seed_hex();
        let limits = {
            use crate::ratelimit::RateLimiter as L;
            let r = cfg.rate_limits;
            [
                ("user", L::new(r.user_per_minute)),
                ("peer", L::new(r.peer_per_minute)),
                ("login", L::new(r.login_per_minute)),
                ("login_addr", L::new(r.login_per_address_per_minute)),
            ]
        };
        let node = Node {
            cfg,
            key,
            store,
            clock,
            peers: RwLock::new(BTreeMap::new()),
            write_lock: Mutex::new(()),
            publish_queue: Default::default(),
            publish_ids: Default::default(),
            me: Default::default(),
            audit_lock: Arc::new(Mutex::new(())),
            audit_queue: Default::default(),
            sync_locks: Default::default(),
            appended_tx,
            appended_rx: std::sync::Mutex::new(Some(appended_rx)),
            wake_tx,
            wake_rx: std::sync::Mutex::new(Some(wake_rx)),
            metrics: Default::default(),
            owed_lock: Mutex::new(()),
            limits,
            dummy_hash: auth::hash_password(&auth::random_hex(16)?)?,
            argon_slots: tokio::sync::Semaphore::new(ARGON_AT_ONCE),
            argon_waiting: Default::default(),
            last_added: std::sync::Mutex::new(0),
            paging_secret: {
                use sha2::Digest;
                sha2::Sha256::digest(format!("entente-paging-v1:{}", key_seed)).into()
            },
            basic_cache: Default::default(),
            ext: Default::default(),
            hooks: Default::default(),
            replay: Default::default(),
            peer_clients: Default::default(),
        };
        node.reload_peers().await?;
        let node = Arc::new(node);
        let _ = node.me.set(Arc::downgrade(&node));
        Ok(node)
    }

    pub fn partner(&self) -> &PartnerCode {
        &self.cfg.partner
    }

    pub fn config(&self) -> &NodeConfig {
        &self.cfg
    }

    pub fn public_key(&self) -> PublicKey {
        self.key.public()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub(crate) fn now(&self) -> String {
        self.clock.now_rfc3339()
    }

    pub async fn reload_peers(&self) -> Result<(), NodeError> {
        let mut map = BTreeMap::new();
        for record in self.store.peers().await? {
            let key = PublicKey::parse_hex(&record.public_key)?;
            map.insert(record.partner.clone(), Peer { record, key });
        }
        let clients = self.build_peer_clients(&map);
        *self.peers.write().unwrap_or_else(|e| e.into_inner()) = map;
        *self.peer_clients.write().unwrap_or_else(|e| e.into_inner()) = clients;
        Ok(())
    }

    pub fn peer(&self, p: &PartnerCode) -> Option<Peer> {
        self.peers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(p)
            .cloned()
    }

    pub fn peer_list(&self) -> Vec<Peer> {
        self.peers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The pinned key of a partner: our own for ourselves, else a configured peer's.
    pub fn key_of(&self, p: &PartnerCode) -> Option<PublicKey> {
        if p == self.partner() {
            Some(self.key.public())
        } else {
            self.peer(p).map(|x| x.key)
        }
    }

    /// Partners this node knows: itself and its pinned peers.
    pub fn known_partner(&self, p: &PartnerCode) -> bool {
        p == self.partner() || self.peer(p).is_some()
    }

    /// The audience of a coordination object in a format: the partners named (each known,
    /// each a member), or every member when none are named; always including this partner.
    pub(crate) fn audience_in(
        &self,
        f: &FormatState,
        releasable_to: Option<&[String]>,
    ) -> Result<Audience, NodeError> {
        let rel: Vec<PartnerCode> = match releasable_to {
            Some(v) => v
                .iter()
                .map(|p| self.parse_known_partner(p))
                .collect::<Result<_, _>>()?,
            None => f.members.iter().cloned().collect(),
        };
        Ok(policy::item_audience(self.partner(), Some(&rel), f)?)
    }

    pub fn parse_known_partner(&self, s: &str) -> Result<PartnerCode, NodeError> {
        let p = PartnerCode::parse(s.trim())?;
        if self.known_partner(&p) {
            Ok(p)
        } else {
            Err(NodeError::UnknownPartner(p.to_string()))
        }
    }

    /// Pin a peer's key (and optionally its URL for direct sync).
    pub async fn add_peer(
        &self,
        partner: &str,
        url: Option<&str>,
        key_hex: &str,
    ) -> Result<Peer, NodeError> {
        let partner = PartnerCode::parse(partner.trim())?;
        if &partner == self.partner() {
            return Err(entente_domain::DomainError::invalid(
                "partner",
                "a node cannot peer with its own partner",
            )
            .into());
        }
        let key = PublicKey::parse_hex(key_hex)?;
        let url = match url.map(str::trim).filter(|u| !u.is_empty()) {
            // Plain http:// is pinned only on loopback (development); the client refuses to
            // dial it unless the node runs in development mode too.
            Some(u) => match crate::transport::check_peer_url(u) {
                Ok(()) => Some(u.trim_end_matches('/').to_owned()),
                Err(want) => {
                    return Err(entente_domain::DomainError::invalid("url", want).into());
                }
            },
            None => None,
        };
        let record = PeerRecord {
            partner: partner.clone(),
            url,
            public_key: key.to_hex(),
            added_at: self.now(),
            last_sync_at: None,
            last_ok_at: None,
            last_error: None,
            state: "active".into(),
        };
        self.store.upsert_peer(&record).await?;
        self.reload_peers().await?;
        self.audit(
            "admin",
            "peer_add",
            &format!("{partner} key {}", key.fingerprint()),
        )
        .await;
        self.peer(&partner).ok_or(NodeError::NotFound("peer"))
    }
}

/// A time-ordered id (UUIDv7): appends stay at the end of indexes and reveal no counts.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl Node {
    /// A new id for an object several partners write to (a discussion, a post, a meeting, a
    /// paper, an amendment): it names this partner, so no other partner's log can claim it
    /// (`entente_domain::coord::is_owned_by`).
    pub(crate) fn owned_id(&self) -> String {
        entente_domain::coord::owned_id(self.partner(), &new_id())
    }
}

/// The `raw` of a STIX row that stands for an item: the item id after this prefix.
pub const ITEM_MARKER: &str = "entente-item:";

impl Node {
    /// A number that grows with every entry appended to the store, by this process or any
    /// other sharing the database: the sum of every log's head sequence (logs are never
    /// removed). What is derived from the projections alone may be cached under it.
    pub async fn content_generation(&self) -> Result<u64, NodeError> {
        Ok(self
            .store
            .logs()
            .await?
            .iter()
            .map(|l| l.head_seq + 1)
            .sum())
    }
}
