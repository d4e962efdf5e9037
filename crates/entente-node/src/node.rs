//! The `Node`: its state and construction, users and tokens, publishing to its own logs, the
//! fold from entries to formats, items and STIX rows, and the item and format operations. Being
//! cut along its seams (issue 17): instruments, TAXII and the wire protocol move out.

use crate::auth::{self, Principal};
use crate::fed::{self, LogsResponse, RemoteLog, SignedRequest};
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
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use tokio::sync::{Mutex, mpsc};

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
    /// Serialises this process's audit appends (the store refuses a duplicate sequence).
    pub(crate) audit_lock: Mutex<()>,
    /// When each (alert, partner) escalation was last reported to the operator.
    pub(crate) escalated: std::sync::Mutex<HashMap<(String, PartnerCode), std::time::Instant>>,
    /// One sync at a time per peer, so pulls woken by pushes and by the timer do not race.
    pub(crate) sync_locks: std::sync::Mutex<HashMap<PartnerCode, Arc<Mutex<()>>>>,
    pub(crate) appended_tx: mpsc::Sender<Appended>,
    pub(crate) appended_rx: std::sync::Mutex<Option<mpsc::Receiver<Appended>>>,
    pub(crate) wake_tx: mpsc::Sender<PartnerCode>,
    pub(crate) wake_rx: std::sync::Mutex<Option<mpsc::Receiver<PartnerCode>>>,
    pub(crate) metrics: crate::sync::SyncCounters,
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
    /// Statement diffs by (statement, versions held): versions only ever append, so each is
    /// computed once per revision, not on every view (see `statements`).
    pub(crate) diff_cache: crate::statements::DiffCache,
    /// Network views by (user, topic, since, until), with the entries held when computed and
    /// when their computation started.
    pub(crate) network_cache: std::sync::Mutex<
        HashMap<NetworkKey, (u64, std::time::Instant, crate::analytics::NetworkView)>,
    >,
    /// One lock per network-view key: one computation at a time (see `Node::network`).
    pub(crate) network_flights: std::sync::Mutex<HashMap<NetworkKey, Arc<Mutex<()>>>>,
    /// The full-text index, when one is attached (`attach_search`).
    pub(crate) search: std::sync::OnceLock<Arc<crate::search::Search>>,
    /// Entry trees of the logs this node has signed or witnessed checkpoints of (see
    /// `checkpoints::LogTree`).
    pub(crate) log_trees: Mutex<HashMap<String, crate::checkpoints::LogTree>>,
    /// The latest checkpoint of each peer this node witnessed and cosigned, as shown to it, to
    /// pass on to other peers (`Node::gossip_for`).
    pub(crate) witnessed:
        std::sync::Mutex<HashMap<PartnerCode, crate::checkpoints::CheckpointResponse>>,
    /// Nonces of signed federation requests accepted within the skew window.
    replay: crate::replay::ReplayCache,
    /// One federation client per peer, each pinned to that peer's key (`transport`).
    pub(crate) peer_clients: RwLock<BTreeMap<PartnerCode, crate::transport::PeerClient>>,
}

/// One publish waiting for the write lock.
struct PublishJob {
    id: u64,
    audience: Audience,
    payloads: Arc<Vec<(&'static str, String)>>,
    reply: tokio::sync::oneshot::Sender<Result<Vec<ParsedEntry>, NodeError>>,
}

/// A network view's cache key: (user, topic, since, until).
pub(crate) type NetworkKey = (String, Option<String>, Option<String>, Option<String>);

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
    /// Open a node over a store. Claims the store for this partner (refusing a database that
    /// belongs to another) and loads the pinned peers.
    pub async fn new(
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
            audit_lock: Mutex::new(()),
            escalated: Default::default(),
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
            diff_cache: Default::default(),
            search: Default::default(),
            network_cache: Default::default(),
            network_flights: Default::default(),
            log_trees: Default::default(),
            witnessed: Default::default(),
            replay: Default::default(),
            peer_clients: Default::default(),
        };
        node.reload_peers().await?;
        Ok(Arc::new(node))
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

    // ----- peers and partners -------------------------------------------------------------

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

    // ----- users and tokens ---------------------------------------------------------------

    pub async fn add_user(
        &self,
        username: &str,
        role: Role,
        password: &str,
    ) -> Result<UserRecord, NodeError> {
        auth::validate_username(username)?;
        auth::validate_password(password)?;
        let user = UserRecord {
            username: username.to_owned(),
            role,
            password_hash: auth::hash_password(password)?,
            created_at: self.now(),
            disabled: false,
        };
        match self.store.create_user(&user).await {
            Err(StoreError::Conflict(c)) => Err(NodeError::Conflict(format!("{c} already exists"))),
            r => {
                r?;
                self.audit(
                    "admin",
                    "user_add",
                    &format!("{username} as {}", role.as_str()),
                )
                .await;
                Ok(user)
            }
        }
    }

    pub(crate) fn principal(&self, u: &UserRecord) -> Principal {
        Principal {
            username: u.username.clone(),
            role: u.role,
            partner: self.partner().clone(),
        }
    }

    /// Charge one request to `key` under the limit `what` ("user", "peer" or "login").
    pub(crate) fn charge(&self, what: &'static str, key: &str) -> Result<(), NodeError> {
        let Some((_, limiter)) = self.limits.iter().find(|(w, _)| *w == what) else {
            return Ok(());
        };
        limiter
            .take(key, std::time::Instant::now())
            .map_err(|retry_after| {
                *self
                    .metrics
                    .rate_limited
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(what)
                    .or_default() += 1;
                NodeError::RateLimited { retry_after }
            })
    }

    /// Check a user name and password (REST and UI login, TAXII Basic). Limited per client
    /// address over all names and per (name, address) before argon2 runs; a name that cannot
    /// exist is refused without it; an unknown user is checked against a dummy hash so timing
    /// does not tell; every failure is audited (with the name only when it is a valid one).
    pub(crate) async fn check_password(
        &self,
        username: &str,
        password: &str,
        client: Option<std::net::IpAddr>,
        surface: &str,
    ) -> Result<entente_store::UserRecord, NodeError> {
        let addr = client.map_or_else(|| "local".to_owned(), |a| a.to_string());
        self.charge("login_addr", &addr)?;
        if auth::validate_username(username).is_err() || password.len() > 1024 {
            self.audit("(invalid user name)", "login_failed", surface)
                .await;
            return Err(NodeError::Unauthorized);
        }
        self.charge("login", &format!("{username} {addr}"))?;
        let user = self.store.user(username).await?;
        let hash = user
            .as_ref()
            .map_or_else(|| self.dummy_hash.clone(), |u| u.password_hash.clone());
        let ok = self.verify_password(password, hash).await? && user.is_some();
        match user.filter(|u| ok && !u.disabled) {
            Some(u) => Ok(u),
            None => {
                self.audit(username, "login_failed", surface).await;
                Err(NodeError::Unauthorized)
            }
        }
    }

    /// argon2 on a blocking thread, at most [`ARGON_AT_ONCE`] at a time and at most
    /// [`ARGON_QUEUE`] waiting; beyond that the caller is told to retry (429).
    async fn verify_password(&self, password: &str, hash: String) -> Result<bool, NodeError> {
        use std::sync::atomic::Ordering::SeqCst;
        if self.argon_waiting.fetch_add(1, SeqCst) >= ARGON_QUEUE {
            self.argon_waiting.fetch_sub(1, SeqCst);
            return Err(NodeError::RateLimited { retry_after: 1 });
        }
        let permit = self.argon_slots.acquire().await;
        self.argon_waiting.fetch_sub(1, SeqCst);
        let _permit = permit.map_err(|e| NodeError::Internal(e.to_string()))?;
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
            .await
            .map_err(|e| NodeError::Internal(e.to_string()))
    }

    /// Password login: returns a session token and its expiry. `client` is the address the
    /// request came from, if known.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<(String, String), NodeError> {
        let user = self.check_password(username, password, client, "").await?;
        self.audit(
            &format!("{}@{}", user.username, self.partner()),
            "login",
            "",
        )
        .await;
        self.open_session(&user.username).await
    }

    /// A new login session for `username` (password or identity-provider sign-in): the
    /// secret, and when it expires.
    pub(crate) async fn open_session(&self, username: &str) -> Result<(String, String), NodeError> {
        let secret = auth::new_token_secret()?;
        let expires = crate::clock::rfc3339(self.clock.now() + self.cfg.session_ttl);
        self.store
            .create_token(&TokenRecord {
                token_hash: auth::token_hash(&secret),
                username: username.to_owned(),
                label: "session".into(),
                kind: TokenKind::Session,
                created_at: self.now(),
                expires_at: Some(expires.clone()),
            })
            .await?;
        Ok((secret, expires))
    }

    /// Create a long-lived API token for the caller: `TokenKind::Api` (everything the user's
    /// role allows) or `TokenKind::ApiRead` (reading only). Sessions come from login only.
    pub async fn create_token(
        &self,
        who: &Principal,
        label: &str,
        kind: TokenKind,
    ) -> Result<String, NodeError> {
        let label = label.trim();
        if label.is_empty() || label.len() > 100 {
            return Err(
                entente_domain::DomainError::invalid("label", "1 to 100 characters").into(),
            );
        }
        if kind == TokenKind::Session {
            return Err(entente_domain::DomainError::invalid(
                "scope",
                "an API token is \"read\" or \"write\"",
            )
            .into());
        }
        let secret = auth::new_token_secret()?;
        self.store
            .create_token(&TokenRecord {
                token_hash: auth::token_hash(&secret),
                username: who.username.clone(),
                label: label.to_owned(),
                kind,
                created_at: self.now(),
                expires_at: (!self.cfg.api_token_ttl.is_zero())
                    .then(|| crate::clock::rfc3339(self.clock.now() + self.cfg.api_token_ttl)),
            })
            .await?;
        self.audit(
            &who.user_id(),
            "token_create",
            &format!("{label} ({})", kind.as_str()),
        )
        .await;
        Ok(secret)
    }

    /// Create a token for a user by name (CLI and demo; the caller is the operator).
    /// End a session (logout): its token stops working at once.
    pub async fn revoke_session(&self, secret: &str) -> Result<(), NodeError> {
        let p = self.authenticate(secret).await?;
        self.store.delete_token(&auth::token_hash(secret)).await?;
        self.audit(&p.user_id(), "logout", "").await;
        Ok(())
    }

    pub async fn create_token_for(
        &self,
        username: &str,
        label: &str,
        kind: TokenKind,
    ) -> Result<String, NodeError> {
        let user = self
            .store
            .user(username)
            .await?
            .ok_or(NodeError::NotFound("user"))?;
        self.create_token(&self.principal(&user), label, kind).await
    }

    /// A short-lived session token for a local user, for operator commands run on the node
    /// itself (`entente api`); it expires after five minutes.
    pub async fn session_for(&self, username: &str) -> Result<String, NodeError> {
        let user = self
            .store
            .user(username)
            .await?
            .ok_or(NodeError::NotFound("user"))?;
        let secret = auth::new_token_secret()?;
        self.store
            .create_token(&TokenRecord {
                token_hash: auth::token_hash(&secret),
                username: user.username,
                label: "cli".into(),
                kind: TokenKind::Session,
                created_at: self.now(),
                expires_at: Some(crate::clock::rfc3339(
                    self.clock.now() + std::time::Duration::from_secs(300),
                )),
            })
            .await?;
        Ok(secret)
    }

    /// The principal of a local user by name (for operator commands run on the node itself).
    pub async fn principal_for(&self, username: &str) -> Result<Principal, NodeError> {
        let user = self
            .store
            .user(username)
            .await?
            .ok_or(NodeError::NotFound("user"))?;
        Ok(self.principal(&user))
    }

    pub async fn authenticate(&self, secret: &str) -> Result<Principal, NodeError> {
        Ok(self.authenticate_token(secret).await?.0)
    }

    /// [`Node::authenticate`], also saying what kind of token it was: the API lets a
    /// read-only token read and nothing else; the web UI accepts only session tokens.
    pub async fn authenticate_token(
        &self,
        secret: &str,
    ) -> Result<(Principal, TokenKind), NodeError> {
        let (p, kind) = self.authenticate_uncharged(secret).await?;
        self.charge("user", &p.user_id())?;
        Ok((p, kind))
    }

    /// [`Node::authenticate_token`] without charging the user's rate limit.
    pub(crate) async fn authenticate_uncharged(
        &self,
        secret: &str,
    ) -> Result<(Principal, TokenKind), NodeError> {
        let t = self
            .store
            .token(&auth::token_hash(secret))
            .await?
            .ok_or(NodeError::Unauthorized)?;
        if let Some(exp) = &t.expires_at
            && exp.as_str() <= self.now().as_str()
        {
            return Err(NodeError::Unauthorized);
        }
        let user = self
            .store
            .user(&t.username)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(NodeError::Unauthorized)?;
        Ok((self.principal(&user), t.kind))
    }

    pub async fn users(&self, who: &Principal) -> Result<Vec<UserRecord>, NodeError> {
        who.require(Role::Admin, "list users")?;
        Ok(self.store.users().await?)
    }

    // ----- publishing ---------------------------------------------------------------------

    /// Append entries to this node's own log for `audience`, signed, with their projections,
    /// in one durable transaction. Returns once the write is committed.
    pub async fn publish(
        &self,
        audience: &Audience,
        payloads: &[Payload],
    ) -> Result<Vec<ParsedEntry>, NodeError> {
        let jsons: Vec<(&'static str, String)> =
            payloads.iter().map(|p| (p.kind(), p.to_json())).collect();
        self.publish_json(audience, jsons).await
    }

    /// [`Node::publish`] of payloads already serialised: (kind, JSON) pairs.
    ///
    /// Group commit: concurrent publishes queue up while one holds the write lock; the next to
    /// take the lock writes every queued publish to the same log as one signed run of entries in
    /// one transaction (one commit, one fsync), and answers each with its own entries.
    pub(crate) async fn publish_json(
        &self,
        audience: &Audience,
        payloads: Vec<(&'static str, String)>,
    ) -> Result<Vec<ParsedEntry>, NodeError> {
        let payloads = Arc::new(payloads);
        loop {
            let (tx, mut rx) = tokio::sync::oneshot::channel();
            let id = self
                .publish_ids
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.publish_queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(PublishJob {
                    id,
                    audience: audience.clone(),
                    payloads: Arc::clone(&payloads),
                    reply: tx,
                });
            let guard = match self.lock_writes().await {
                Ok(g) => g,
                Err(e) => {
                    // Not written and not to be written by anyone else: withdraw it.
                    self.publish_queue
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .retain(|j| j.id != id);
                    return Err(e);
                }
            };
            // A previous holder of the lock may have written this publish already.
            if let Ok(r) = rx.try_recv() {
                return r;
            }
            let jobs =
                std::mem::take(&mut *self.publish_queue.lock().unwrap_or_else(|e| e.into_inner()));
            self.commit_jobs(jobs).await;
            drop(guard);
            match rx.try_recv() {
                Ok(r) => return r,
                // Our job was taken by a holder that was cancelled before writing it (a reply
                // is sent the moment a write commits, so nothing of it was written): again.
                Err(_) => continue,
            }
        }
    }

    /// Write queued publishes (the caller holds the write lock): one run of entries per log,
    /// in queue order; each job is answered as soon as its log's run commits. If a run fails,
    /// its jobs are written one by one, so each gets its own answer.
    async fn commit_jobs(&self, jobs: Vec<PublishJob>) {
        let mut groups: Vec<(Audience, Vec<PublishJob>)> = Vec::new();
        for job in jobs {
            match groups.iter_mut().find(|(a, _)| *a == job.audience) {
                Some((_, g)) => g.push(job),
                None => groups.push((job.audience.clone(), vec![job])),
            }
        }
        for (audience, group) in groups {
            let payloads: Vec<(&'static str, &str)> = group
                .iter()
                .flat_map(|j| j.payloads.iter().map(|(k, p)| (*k, p.as_str())))
                .collect();
            match self.append_run(&audience, &payloads).await {
                Ok(mut entries) => {
                    for job in group {
                        let rest = entries.split_off(job.payloads.len());
                        let _ = job.reply.send(Ok(std::mem::replace(&mut entries, rest)));
                    }
                }
                Err(e) if group.len() == 1 => {
                    if let Some(job) = group.into_iter().next() {
                        let _ = job.reply.send(Err(e));
                    }
                }
                Err(_) => {
                    for job in group {
                        let payloads: Vec<(&'static str, &str)> =
                            job.payloads.iter().map(|(k, p)| (*k, p.as_str())).collect();
                        let r = self.append_run(&audience, &payloads).await;
                        let _ = job.reply.send(r);
                    }
                }
            }
        }
    }

    /// Sign, fold and append payloads as the next entries of this node's log for `audience`,
    /// in one transaction (the caller holds the write lock).
    async fn append_run(
        &self,
        audience: &Audience,
        payloads: &[(&'static str, &str)],
    ) -> Result<Vec<ParsedEntry>, NodeError> {
        let desc = LogDescriptor::new(self.partner().clone(), audience.clone());
        for _attempt in 0..5 {
            let head = self.log_head(&desc.log_id).await?;
            let entries = self.sign_chain(&desc, head, payloads.iter().copied())?;
            let projections = self.fold(&entries).await?;
            match self.store.append(&desc, head, &entries, &projections).await {
                Ok(()) => {
                    self.index_append(projections, &entries);
                    let last = entries.last().map(|e| e.header.seq).unwrap_or(head.seq);
                    self.announce(&desc, last, None);
                    return Ok(entries);
                }
                // Another process sharing the store wrote first: re-read the head and re-sign.
                Err(StoreError::HeadMoved { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(NodeError::Internal(
            "the log head kept moving; try again".into(),
        ))
    }

    /// The stored head of a log (empty if this node holds none of it).
    pub(crate) async fn log_head(&self, log_id: &str) -> Result<LogHead, NodeError> {
        Ok(self
            .store
            .log(log_id)
            .await?
            .map(|l| l.head())
            .unwrap_or(LogHead::EMPTY))
    }

    /// Sign payloads as the next entries of `desc`'s log after `head`.
    fn sign_chain<'p>(
        &self,
        desc: &LogDescriptor,
        head: LogHead,
        payloads: impl IntoIterator<Item = (&'p str, &'p str)>,
    ) -> Result<Vec<ParsedEntry>, NodeError> {
        let ts = self.now();
        let mut h = head;
        let mut entries = Vec::new();
        for (kind, json) in payloads {
            let e = sign_entry(&self.key, &desc.origin, &desc.audience, h, &ts, kind, json)?;
            h = LogHead {
                seq: e.header.seq,
                hash: e.hash,
            };
            entries.push(e);
        }
        Ok(entries)
    }

    /// A publisher for bulk imports; see [`BulkPublisher`].
    pub(crate) async fn bulk_publisher(&self) -> Result<BulkPublisher<'_>, NodeError> {
        Ok(BulkPublisher {
            node: self,
            _guard: self.lock_writes().await?,
            heads: HashMap::new(),
            inflight: None,
        })
    }

    /// Exclude every other fold-and-append of this node: of this process (a mutex) and of the
    /// node's other processes sharing the store (the store's lock; a no-op for SQLite).
    pub(crate) async fn lock_writes(&self) -> Result<WriteGuard<'_>, NodeError> {
        let local = self.write_lock.lock().await;
        let shared = self.store.lock_writes().await?;
        Ok(WriteGuard {
            _shared: shared,
            _local: local,
        })
    }

    pub(crate) fn announce(&self, desc: &LogDescriptor, head_seq: u64, from: Option<PartnerCode>) {
        // Best effort: if the queue is full, the periodic pull still delivers.
        let _ = self.appended_tx.try_send(Appended {
            log_id: desc.log_id.clone(),
            audience: desc.audience.clone(),
            origin: desc.origin.clone(),
            head_seq,
            from,
        });
    }

    /// Fold entries into the projections they change. Local and received entries go through
    /// this same function, so every holder computes the same state from the same entries.
    /// Entries that are authentic but semantically invalid (a revision by someone other than
    /// the originator, a duplicate id, an unknown kind) stay in the log and change nothing.
    pub(crate) async fn fold(&self, entries: &[ParsedEntry]) -> Result<Vec<Projection>, NodeError> {
        Ok(self.fold_counting(entries).await?.0)
    }

    /// [`Node::fold`], also saying which entry is the first that did not apply because what it
    /// refers to (an alert, a statement, a format) is not held yet.
    pub(crate) async fn fold_counting(
        &self,
        entries: &[ParsedEntry],
    ) -> Result<(Vec<Projection>, Option<usize>), NodeError> {
        let mut first_missing = None;
        let mut item_ids = Vec::new();
        let mut format_ids = Vec::new();
        let mut statement_ids: Vec<String> = Vec::new();
        let mut alert_ids: Vec<String> = Vec::new();
        let mut coord_keys: Vec<(&'static str, String)> = Vec::new();
        let mut parsed = Vec::with_capacity(entries.len());
        // STIX objects are only pointed at (never copied) while folding: bulk imports carry
        // hundreds of megabytes of them.
        let mut stix_refs = Vec::with_capacity(entries.len());
        for e in entries {
            if e.header.kind == "stix.objects" {
                match serde_json::from_str::<entente_domain::payload::StixObjectsRef<'_>>(
                    &e.payload,
                ) {
                    Ok(so) => stix_refs.push(Some(so)),
                    Err(err) => {
                        tracing::warn!(log = %e.header.log, seq = e.header.seq, %err, "entry kept but not projected");
                        stix_refs.push(None);
                    }
                }
                parsed.push(None);
                continue;
            }
            stix_refs.push(None);
            match Payload::parse(&e.header.kind, &e.payload) {
                Ok(p) => {
                    match &p {
                        Payload::ItemPublish(ip) => {
                            item_ids.push(ip.item_id.clone());
                            format_ids.push(ip.format_id.clone());
                        }
                        Payload::ItemRevise(_) | Payload::ItemRetract(_) => {
                            item_ids.push(p.subject().to_owned())
                        }
                        Payload::StixObjects(_) | Payload::StixDelete(_) => {}
                        Payload::StatementDraft(_) | Payload::StatementStance(_) => {
                            statement_ids.push(p.subject().to_owned())
                        }
                        Payload::AlertRaise(_)
                        | Payload::AlertReceipt(_)
                        | Payload::AlertAck(_) => alert_ids.push(p.subject().to_owned()),
                        Payload::Endorse(_) | Payload::Sighting(_) => {
                            item_ids.push(p.subject().to_owned());
                            coord_keys.extend(crate::coord::key_of(&p));
                        }
                        _ if crate::coord::key_of(&p).is_some() => {
                            coord_keys.extend(crate::coord::key_of(&p))
                        }
                        _ => format_ids.push(p.subject().to_owned()),
                    }
                    parsed.push(Some(p));
                }
                Err(err) => {
                    tracing::warn!(log = %e.header.log, seq = e.header.seq, %err, "entry kept but not projected");
                    parsed.push(None);
                }
            }
        }
        let mut items: HashMap<String, ItemState> = HashMap::new();
        if !item_ids.is_empty() {
            item_ids.sort();
            item_ids.dedup();
            for it in self.store.items_by_id(&item_ids).await? {
                items.insert(it.item_id.clone(), it);
            }
        }
        let mut formats: HashMap<String, Option<FormatState>> = HashMap::new();
        for id in format_ids {
            if let std::collections::hash_map::Entry::Vacant(slot) = formats.entry(id) {
                let f = self.store.format(slot.key()).await?;
                slot.insert(f);
            }
        }
        let mut statements: HashMap<String, Option<StatementState>> = HashMap::new();
        for id in statement_ids {
            if let std::collections::hash_map::Entry::Vacant(slot) = statements.entry(id) {
                let st = self.store.statement(slot.key()).await?;
                slot.insert(st);
            }
        }
        let mut touched_statements: Vec<String> = Vec::new();
        let mut alerts: std::collections::BTreeMap<
            String,
            Option<entente_domain::alert::AlertState>,
        > = Default::default();
        for id in alert_ids {
            if let std::collections::btree_map::Entry::Vacant(slot) = alerts.entry(id) {
                let a = self.load_alert(slot.key()).await?;
                slot.insert(a);
            }
        }
        let mut touched_alerts: Vec<String> = Vec::new();
        let mut coords: crate::coord::CoordMap = Default::default();
        for (kind, id) in coord_keys {
            if let std::collections::btree_map::Entry::Vacant(slot) = coords.entry((kind, id)) {
                let c = self.load_coord(kind, &slot.key().1).await?;
                slot.insert(c);
            }
        }
        let mut touched_coords: Vec<(&'static str, String)> = Vec::new();
        let mut coord_missing;
        let mut stix_out: Vec<Projection> = Vec::new();
        let mut touched_items: Vec<String> = Vec::new();
        let mut touched_formats: Vec<String> = Vec::new();
        for (index, ((e, p), so)) in entries.iter().zip(parsed).zip(stix_refs).enumerate() {
            if let Some(so) = so {
                self.fold_stix_objects(e, so, &mut stix_out);
                continue;
            }
            let Some(p) = p else { continue };
            let h = &e.header;
            let subject_missing = match &p {
                Payload::AlertReceipt(r) => !matches!(alerts.get(&r.alert_id), Some(Some(_))),
                Payload::AlertAck(k) => !matches!(alerts.get(&k.alert_id), Some(Some(_))),
                Payload::StatementStance(st) => {
                    !matches!(statements.get(&st.statement_id), Some(Some(_)))
                }
                Payload::FormatLeave(l) => !matches!(formats.get(&l.format_id), Some(Some(_))),
                Payload::FormatClose(c) => !matches!(formats.get(&c.format_id), Some(Some(_))),
                // L7: an item is filed only under a format its origin and audience belong to.
                // Membership may not be known here yet (the join that admits the origin can
                // arrive after its item), so it waits like a missing reference.
                Payload::ItemPublish(ip) => !matches!(
                    formats.get(&ip.format_id),
                    Some(Some(f)) if policy::item_admitted(&h.origin, &h.audience, f)
                ),
                _ => false,
            };
            coord_missing = false;
            let ok = match p {
                Payload::FormatCharter(c) => {
                    let members: std::collections::BTreeSet<_> =
                        c.members.iter().cloned().collect();
                    let slot = formats.entry(c.format_id.clone()).or_default();
                    if slot.is_none()
                        && h.origin == c.convener
                        && h.audience == policy::format_audience(&members)
                    {
                        *slot = Some(FormatState::from_charter(&c, &h.ts));
                        touched_formats.push(c.format_id.clone());
                        true
                    } else {
                        false
                    }
                }
                Payload::FormatJoin(j) => {
                    let members: std::collections::BTreeSet<_> =
                        j.charter.members.iter().cloned().collect();
                    let slot = formats.entry(j.charter.format_id.clone()).or_default();
                    let convener_ok = slot
                        .as_ref()
                        .is_none_or(|f| f.convener == h.origin && !f.closed);
                    if convener_ok
                        && h.origin == j.charter.convener
                        && members.contains(&j.partner)
                        && h.audience == policy::format_audience(&members)
                    {
                        *slot = Some(FormatState::apply_join(slot.take(), &j, &h.ts));
                        touched_formats.push(j.charter.format_id.clone());
                        true
                    } else {
                        false
                    }
                }
                Payload::FormatLeave(l) => match formats.get_mut(&l.format_id) {
                    // A member leaving, or the convener relaying another member's departure.
                    Some(Some(f))
                        if (h.origin == l.partner && f.members.contains(&l.partner))
                            || (h.origin == f.convener && l.partner != f.convener) =>
                    {
                        let relayed = h.origin != l.partner;
                        f.apply_leave(&l, relayed, &h.ts);
                        touched_formats.push(l.format_id.clone());
                        true
                    }
                    _ => false,
                },
                Payload::FormatClose(c) => match formats.get_mut(&c.format_id) {
                    Some(Some(f)) if h.origin == f.convener => {
                        f.apply_close(&c, &h.ts);
                        touched_formats.push(c.format_id.clone());
                        true
                    }
                    _ => false,
                },
                Payload::ItemPublish(ip) => {
                    if items.contains_key(&ip.item_id) || subject_missing {
                        false
                    } else {
                        let st =
                            ItemState::from_publish(&ip, &h.origin, &h.audience, &h.log, &h.ts);
                        stix_out.push(Projection::Stix(self.item_stix_row(&st)));
                        touched_items.push(ip.item_id.clone());
                        items.insert(ip.item_id.clone(), st);
                        true
                    }
                }
                Payload::ItemRevise(r) => match items.get_mut(&r.item_id) {
                    Some(it)
                        if it.origin == h.origin
                            && it.log_id == h.log
                            && it.retracted.is_none() =>
                    {
                        it.apply_revise(&r, &h.ts);
                        // Items keep only their current version in the collection.
                        let row = self.item_stix_row(it);
                        drop_pending(&mut stix_out, &row.collection, &row.stix_id);
                        stix_out.push(Projection::StixDelete {
                            collection: row.collection.clone(),
                            stix_id: row.stix_id.clone(),
                        });
                        stix_out.push(Projection::Stix(row));
                        touched_items.push(r.item_id.clone());
                        true
                    }
                    _ => false,
                },
                Payload::ItemRetract(r) => match items.get_mut(&r.item_id) {
                    Some(it) if it.origin == h.origin && it.log_id == h.log => {
                        it.apply_retract(&r, &h.ts);
                        let stix_id = entente_domain::stix::item_stix_id(it);
                        drop_pending(&mut stix_out, &it.format_id, &stix_id);
                        stix_out.push(Projection::StixDelete {
                            collection: it.format_id.clone(),
                            stix_id,
                        });
                        touched_items.push(r.item_id.clone());
                        true
                    }
                    _ => false,
                },
                // Folded above, from a borrowed view.
                Payload::StixObjects(_) => true,
                Payload::StatementDraft(d) => {
                    let slot = statements.entry(d.statement_id.clone()).or_default();
                    let hash = statement_hash(&d.text, d.version, &h.audience, &d.required);
                    let version = StatementVersion {
                        version: d.version,
                        title: d.title.clone(),
                        text: d.text.clone(),
                        hash,
                        at: h.ts.clone(),
                        author: d.author.clone(),
                        entry: (h.log.clone(), h.seq),
                    };
                    let ok = match slot {
                        None => d.version == 1 && d.required.iter().all(|p| h.audience.contains(p)),
                        Some(st) => {
                            st.origin == h.origin
                                && st.audience == h.audience
                                && d.version == st.current().version + 1
                        }
                    };
                    if ok {
                        let st = slot.get_or_insert_with(|| StatementState {
                            statement_id: d.statement_id.clone(),
                            format_id: d.format_id.clone(),
                            origin: h.origin.clone(),
                            audience: h.audience.clone(),
                            rule: d.rule,
                            deadline: d.deadline.clone(),
                            required: d.required.clone(),
                            versions: vec![],
                            stances: Default::default(),
                        });
                        st.rule = d.rule;
                        st.deadline = d.deadline.clone();
                        st.required = d.required.clone();
                        st.versions.push(version);
                        touched_statements.push(d.statement_id.clone());
                    }
                    ok
                }
                Payload::StatementStance(s) => match statements.get_mut(&s.statement_id) {
                    Some(Some(st))
                        if st.audience == h.audience
                            && st.required.contains(&h.origin)
                            && st
                                .versions
                                .iter()
                                .any(|v| v.version == s.version && v.hash == s.hash) =>
                    {
                        st.stances.insert(
                            h.origin.clone(),
                            StanceRecord {
                                version: s.version,
                                stance: s.stance,
                                reason: s.reason.clone(),
                                at: h.ts.clone(),
                                author: s.author.clone(),
                                entry: (h.log.clone(), h.seq),
                            },
                        );
                        touched_statements.push(s.statement_id.clone());
                        true
                    }
                    _ => false,
                },
                p @ (Payload::ActionCreate(_)
                | Payload::ActionProgress(_)
                | Payload::ExercisePlan(_)
                | Payload::ExerciseRespond(_)
                | Payload::ExerciseLesson(_)
                | Payload::ProjectRegister(_)
                | Payload::ProjectInterest(_)
                | Payload::Endorse(_)
                | Payload::Sighting(_)) => match crate::coord::apply(&mut coords, &items, e, &p) {
                    Ok(key) => {
                        touched_coords.push(key);
                        true
                    }
                    Err(missing_subject) => {
                        coord_missing = missing_subject;
                        false
                    }
                },
                p @ (Payload::AlertRaise(_) | Payload::AlertReceipt(_) | Payload::AlertAck(_)) => {
                    match crate::alerts::apply(&mut alerts, e, &p) {
                        Some(id) => {
                            touched_alerts.push(id);
                            true
                        }
                        None => false,
                    }
                }
                Payload::StixDelete(d) => {
                    let held = self
                        .store
                        .stix_query(&entente_store::StixQuery {
                            collection: d.format_id.clone(),
                            ids: vec![d.stix_id.clone()],
                            versions: entente_store::VersionFilter::All,
                            limit: 10_000,
                            ..Default::default()
                        })
                        .await?;
                    if !held.is_empty() && held.iter().all(|r| r.origin == h.origin) {
                        drop_pending(&mut stix_out, &d.format_id, &d.stix_id);
                        stix_out.push(Projection::StixDelete {
                            collection: d.format_id.clone(),
                            stix_id: d.stix_id.clone(),
                        });
                        true
                    } else {
                        false
                    }
                }
            };
            if !ok && (subject_missing || coord_missing) {
                first_missing.get_or_insert(index);
            }
            if !ok {
                tracing::warn!(log = %h.log, seq = h.seq, kind = %h.kind, "entry kept but not projected: it does not apply to the current state");
            }
        }
        touched_items.sort();
        touched_items.dedup();
        touched_formats.sort();
        touched_formats.dedup();
        let mut out = Vec::with_capacity(touched_items.len() + touched_formats.len());
        for id in touched_formats {
            if let Some(Some(f)) = formats.remove(&id) {
                out.push(Projection::Format(f));
            }
        }
        for id in touched_items {
            if let Some(i) = items.remove(&id) {
                out.push(Projection::Item(i));
            }
        }
        touched_statements.sort();
        touched_statements.dedup();
        for id in touched_statements {
            if let Some(Some(st)) = statements.remove(&id) {
                out.push(Projection::Statement(st));
            }
        }
        touched_coords.sort();
        touched_coords.dedup();
        for key in touched_coords {
            if let Some(Some(c)) = coords.remove(&key) {
                let format_id = match &c {
                    crate::coord::Coord::Action(a) => a.format_id.clone(),
                    crate::coord::Coord::Exercise(x) => x.plan.format_id.clone(),
                    crate::coord::Coord::Project(p) => p.project.format_id.clone(),
                    crate::coord::Coord::Reactions(_) => String::new(),
                };
                let state =
                    serde_json::to_string(&c).map_err(|e| NodeError::Internal(e.to_string()))?;
                out.push(Projection::Object {
                    kind: key.0,
                    id: key.1,
                    format_id,
                    state,
                });
            }
        }
        touched_alerts.sort();
        touched_alerts.dedup();
        for id in touched_alerts {
            if let Some(Some(a)) = alerts.remove(&id) {
                let state =
                    serde_json::to_string(&a).map_err(|e| NodeError::Internal(e.to_string()))?;
                out.push(Projection::Object {
                    kind: crate::alerts::KIND,
                    id,
                    format_id: a.format_id,
                    state,
                });
            }
        }
        out.extend(stix_out);
        Ok((out, first_missing))
    }

    /// A node-local `date_added`: UTC with microseconds, strictly increasing, so TAXII paging
    /// and `added_after` never see two objects added at the same instant.
    pub(crate) fn next_date_added(&self) -> String {
        let now = (self.clock.now().unix_timestamp_nanos() / 1000) as i64;
        let mut last = self.last_added.lock().unwrap_or_else(|e| e.into_inner());
        *last = (*last + 1).max(now);
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(*last as i128 * 1000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            t.month() as u8,
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        )
    }

    /// One collection row per valid object of a `stix.objects` entry. Each row points at the
    /// object's bytes inside the entry body, so the store can keep a single copy.
    fn fold_stix_objects(
        &self,
        e: &ParsedEntry,
        so: entente_domain::payload::StixObjectsRef<'_>,
        stix_out: &mut Vec<Projection>,
    ) {
        let h = &e.header;
        let payload_at = e.payload_offset();
        let mut others: Option<Vec<(String, PartnerCode)>> = None;
        for raw in so.objects {
            let Ok(meta) = entente_domain::stix::validate_str(raw.get()) else {
                tracing::warn!(log = %h.log, seq = h.seq, "invalid STIX object kept in the log, not served");
                continue;
            };
            // An object may not speak for another partner (H2). The entry stays in the log,
            // signed by its origin, as evidence; it is never served. (An object id held from
            // another origin is refused by the store, which sees what is held.)
            if meta.created_by_ref.is_some() || meta.stix_type == "identity" {
                let others = others.get_or_insert_with(|| {
                    self.other_partner_identities(&h.origin, h.audience.iter())
                });
                if let Some(why) = entente_domain::stix::claims_other_partner(&meta, others) {
                    tracing::warn!(log = %h.log, seq = h.seq, %why, "STIX object kept in the log, not served");
                    self.metrics.reject("foreign_object");
                    continue;
                }
            }
            let text = raw.get();
            let span = payload_at.map(|at| entente_store::StixSpan {
                seq: h.seq,
                start: at + (text.as_ptr().addr() - e.payload.as_ptr().addr()),
                len: text.len(),
            });
            let date_added = self.next_date_added();
            stix_out.push(Projection::Stix(entente_store::StixRow {
                collection: so.format_id.clone(),
                version: meta.version.clone().unwrap_or_else(|| date_added.clone()),
                // Unmarked means most restrictive.
                tlp: meta.tlp().unwrap_or(Tlp::Red),
                stix_id: meta.id,
                stix_type: meta.stix_type,
                spec_version: meta.spec_version,
                date_added,
                origin: h.origin.clone(),
                audience: h.audience.clone(),
                author: so.author.clone(),
                named_users: vec![],
                raw: if span.is_some() {
                    String::new()
                } else {
                    text.to_owned()
                },
                single_version: false,
                span,
            }));
        }
    }

    /// The identities an object signed by `origin` may not claim (see
    /// [`entente_domain::stix::claims_other_partner`]): those of every other partner this node
    /// knows, itself, its pinned peers and `audience`.
    pub(crate) fn other_partner_identities<'a>(
        &self,
        origin: &PartnerCode,
        audience: impl IntoIterator<Item = &'a PartnerCode>,
    ) -> Vec<(String, PartnerCode)> {
        let mut known: Vec<PartnerCode> = vec![self.partner().clone()];
        known.extend(
            self.peers
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .keys()
                .cloned(),
        );
        known.extend(audience.into_iter().cloned());
        entente_domain::stix::other_partner_identities(origin, &known)
    }

    fn item_stix_row(&self, it: &ItemState) -> entente_store::StixRow {
        entente_store::StixRow {
            collection: it.format_id.clone(),
            stix_id: entente_domain::stix::item_stix_id(it),
            stix_type: entente_domain::stix::stix_type_of(it.kind).to_owned(),
            version: it.updated_at.clone(),
            spec_version: "2.1".into(),
            date_added: self.next_date_added(),
            origin: it.origin.clone(),
            audience: it.audience.clone(),
            tlp: it.tlp,
            author: it.author.clone(),
            named_users: it.named_users.clone(),
            // Rendered when served (see `taxii`): cheaper to store, and always the current version.
            raw: format!("{ITEM_MARKER}{}", it.item_id),
            single_version: true,
            span: None,
        }
    }

    // ----- formats ------------------------------------------------------------------------

    pub async fn create_format(
        &self,
        who: &Principal,
        nf: NewFormat,
    ) -> Result<FormatState, NodeError> {
        who.require(Role::Officer, "create formats")?;
        let members = nf
            .members
            .iter()
            .map(|m| self.parse_known_partner(m))
            .collect::<Result<Vec<_>, _>>()?;
        let stix_default_releasable_to = nf
            .stix_default_releasable_to
            .map(|d| {
                d.iter()
                    .map(|m| self.parse_known_partner(m))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let mut charter = FormatCharter {
            format_id: new_id(),
            title: nf.title,
            description: nf.description,
            topics: nf.topics,
            members,
            convener: self.partner().clone(),
            stix_default_releasable_to,
        };
        validate_charter(&mut charter)?;
        self.charter(charter).await
    }

    async fn charter(&self, charter: FormatCharter) -> Result<FormatState, NodeError> {
        let members = charter.members.iter().cloned().collect();
        let aud = policy::format_audience(&members);
        let id = charter.format_id.clone();
        self.publish(&aud, &[Payload::FormatCharter(charter)])
            .await?;
        self.store
            .format(&id)
            .await?
            .ok_or(NodeError::Internal("format not projected".into()))
    }

    /// Create the "Transatlantic+ <partner>" set of formats (EU + NATO + partner).
    pub async fn create_from_template(
        &self,
        who: &Principal,
        partner: &str,
    ) -> Result<Vec<FormatState>, NodeError> {
        who.require(Role::Officer, "create formats")?;
        let partner = self.parse_known_partner(partner)?;
        for p in ["EU", "NATO"] {
            self.parse_known_partner(p)?;
        }
        let mut out = vec![];
        for mut c in FormatTemplate::charters(&partner, self.partner(), &mut new_id) {
            validate_charter(&mut c)?;
            out.push(self.charter(c).await?);
        }
        Ok(out)
    }

    /// The convener admits a partner to a format.
    pub async fn join_format(
        &self,
        who: &Principal,
        format_id: &str,
        partner: &str,
    ) -> Result<FormatState, NodeError> {
        who.require(Role::Officer, "admit members")?;
        let f = self.format(format_id).await?;
        policy::may_convene(self.partner(), &f)?;
        let partner = self.parse_known_partner(partner)?;
        if f.members.contains(&partner) {
            return Err(NodeError::Conflict(format!(
                "{partner} is already a member"
            )));
        }
        // Departures are final (see `FormatState::departed`): that is what lets every node
        // agree on the members whatever order joins and leaves reach it in.
        if f.departed.contains(&partner) {
            return Err(NodeError::Conflict(format!(
                "{partner} has left this format and cannot be admitted again; convene a new format"
            )));
        }
        let mut charter = f.charter();
        charter.members.push(partner.clone());
        charter.members.sort();
        let aud = policy::format_audience(&charter.members.iter().cloned().collect());
        self.publish(
            &aud,
            &[Payload::FormatJoin(FormatJoin { partner, charter })],
        )
        .await?;
        self.format(format_id).await
    }

    /// Relay, as convener, other members' departures to the members that remain (run after
    /// every sync round). A partner admitted while a leave was on its way is not in that leave's
    /// audience; without the relay it would go on counting the leaver as a member, and releasing
    /// to it. Returns how many departures were relayed.
    pub async fn relay_departures(&self) -> Result<usize, NodeError> {
        let _one_at_a_time = self.owed_lock.lock().await;
        let mut relayed = 0;
        for f in self.store.formats().await? {
            if &f.convener != self.partner() || f.closed || !f.members.contains(self.partner()) {
                continue;
            }
            let aud = policy::format_audience(&f.members);
            for partner in f.unrelayed() {
                let relay = FormatLeave {
                    format_id: f.format_id.clone(),
                    partner,
                };
                self.publish(&aud, &[Payload::FormatLeave(relay)]).await?;
                relayed += 1;
            }
        }
        Ok(relayed)
    }

    /// This node's partner leaves a format.
    pub async fn leave_format(
        &self,
        who: &Principal,
        format_id: &str,
    ) -> Result<FormatState, NodeError> {
        who.require(Role::Officer, "leave formats")?;
        let f = self.format(format_id).await?;
        if !f.members.contains(self.partner()) {
            return Err(entente_domain::PolicyError::NotAMember(self.partner().clone()).into());
        }
        let aud = policy::format_audience(&f.members);
        let leave = FormatLeave {
            format_id: format_id.to_owned(),
            partner: self.partner().clone(),
        };
        self.publish(&aud, &[Payload::FormatLeave(leave)]).await?;
        self.format(format_id).await
    }

    pub async fn close_format(
        &self,
        who: &Principal,
        format_id: &str,
        reason: &str,
    ) -> Result<FormatState, NodeError> {
        who.require(Role::Officer, "close formats")?;
        let f = self.format(format_id).await?;
        policy::may_convene(self.partner(), &f)?;
        let aud = policy::format_audience(&f.members);
        let close = FormatClose {
            format_id: format_id.to_owned(),
            reason: reason.to_owned(),
        };
        self.publish(&aud, &[Payload::FormatClose(close)]).await?;
        self.format(format_id).await
    }

    pub async fn formats(&self) -> Result<Vec<FormatState>, NodeError> {
        Ok(self.store.formats().await?)
    }

    pub async fn format(&self, format_id: &str) -> Result<FormatState, NodeError> {
        self.store
            .format(format_id)
            .await?
            .ok_or(NodeError::NotFound("format"))
    }

    // ----- items --------------------------------------------------------------------------

    pub async fn create_item(&self, who: &Principal, ni: NewItem) -> Result<ItemState, NodeError> {
        who.require(Role::Analyst, "post items")?;
        let (aud, payload) = self.prepare_item(who, ni).await?;
        let id = payload.item_id.clone();
        let tlp = payload.tlp.unwrap_or(Tlp::Red);
        self.publish(&aud, &[Payload::ItemPublish(payload)]).await?;
        self.audit(
            &who.user_id(),
            "release",
            &format!("item {id} at {} to {}", tlp.as_str(), aud.key()),
        )
        .await;
        self.store
            .item(&id)
            .await?
            .ok_or(NodeError::Internal("item not projected".into()))
    }

    /// Validate a new item and work out its audience, without writing anything.
    pub async fn prepare_item(
        &self,
        who: &Principal,
        ni: NewItem,
    ) -> Result<(Audience, ItemPublish), NodeError> {
        let kind = ItemKind::parse(&ni.kind)?;
        let tlp = ni.tlp.as_deref().map(Tlp::parse).transpose()?;
        let mut title = ni.title;
        let mut topics = ni.topics;
        validate_content(&mut title, &ni.body, &mut topics)?;
        let releasable = match &ni.releasable_to {
            Some(v) => Some(
                v.iter()
                    .map(|p| self.parse_known_partner(p))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        let f = self
            .store
            .format(&ni.format_id)
            .await?
            .ok_or(NodeError::NotFound("format"))?;
        let aud = policy::item_audience(self.partner(), releasable.as_deref(), &f)?;
        let mut named = Vec::new();
        for u in &ni.named_users {
            let (_, p) = u.split_once('@').ok_or_else(|| {
                entente_domain::DomainError::invalid("named_users", "use name@PARTNER")
            })?;
            let p = PartnerCode::parse(p)?;
            if !aud.contains(&p) {
                return Err(entente_domain::PolicyError::OutsideFormat(p).into());
            }
            named.push(u.clone());
        }
        Ok((
            aud,
            ItemPublish {
                item_id: new_id(),
                format_id: f.format_id,
                kind,
                title,
                body: ni.body,
                topics,
                tlp,
                named_users: named,
                author: who.user_id(),
            },
        ))
    }

    /// Look up an item the caller may see. An item the caller may not see is reported
    /// exactly like one that does not exist.
    pub async fn item(&self, who: &Principal, item_id: &str) -> Result<ItemState, NodeError> {
        let it = self
            .store
            .item(item_id)
            .await?
            .ok_or(NodeError::NotFound("item"))?;
        if policy::user_may_see_item(&who.viewer(), &it) {
            if it.tlp >= Tlp::Amber {
                self.audit(
                    &who.user_id(),
                    "read",
                    &format!("item {item_id} at {}", it.tlp.as_str()),
                )
                .await;
            }
            Ok(it)
        } else {
            Err(NodeError::NotFound("item"))
        }
    }

    pub async fn revise_item(
        &self,
        who: &Principal,
        item_id: &str,
        rev: ItemRevision,
    ) -> Result<ItemState, NodeError> {
        who.require(Role::Analyst, "revise items")?;
        let it = self.item(who, item_id).await?;
        policy::may_edit_item(self.partner(), &who.user_id(), who.role, &it)?;
        if it.retracted.is_some() {
            return Err(NodeError::Conflict("the item is retracted".into()));
        }
        let mut title = rev.title;
        let mut topics = rev.topics;
        validate_content(&mut title, &rev.body, &mut topics)?;
        let r = ItemRevise {
            item_id: item_id.to_owned(),
            title,
            body: rev.body,
            topics,
            author: who.user_id(),
        };
        self.publish(&it.audience, &[Payload::ItemRevise(r)])
            .await?;
        self.store
            .item(item_id)
            .await?
            .ok_or(NodeError::NotFound("item"))
    }

    pub async fn retract_item(
        &self,
        who: &Principal,
        item_id: &str,
        reason: &str,
    ) -> Result<ItemState, NodeError> {
        who.require(Role::Analyst, "retract items")?;
        let it = self.item(who, item_id).await?;
        policy::may_edit_item(self.partner(), &who.user_id(), who.role, &it)?;
        if it.retracted.is_some() {
            return Ok(it);
        }
        let r = ItemRetract {
            item_id: item_id.to_owned(),
            reason: reason.to_owned(),
            author: who.user_id(),
        };
        self.publish(&it.audience, &[Payload::ItemRetract(r)])
            .await?;
        self.store
            .item(item_id)
            .await?
            .ok_or(NodeError::NotFound("item"))
    }

    /// Items the caller may see, filtered and paged. The cursor is the id of the last item
    /// returned, so it carries nothing about items the caller may not see.
    pub async fn items(&self, who: &Principal, f: ItemFilter) -> Result<ItemPage, NodeError> {
        let limit = f.limit.unwrap_or(50).clamp(1, 500);
        let mut q = ItemQuery {
            format_id: f.format,
            kind: f.kind.as_deref().map(ItemKind::parse).transpose()?,
            topic: f
                .topic
                .map(|t| {
                    if entente_domain::taxonomy::is_topic(&t) {
                        Ok(t)
                    } else {
                        Err(entente_domain::DomainError::UnknownTopic(t))
                    }
                })
                .transpose()?,
            origin: f.partner.as_deref().map(PartnerCode::parse).transpose()?,
            tlp: f.tlp.as_deref().map(Tlp::parse).transpose()?,
            since: f
                .since
                .map(|s| {
                    crate::clock::parse_rfc3339(&s)
                        .map(crate::clock::rfc3339)
                        .ok_or_else(|| {
                            entente_domain::DomainError::invalid("since", "an RFC 3339 timestamp")
                        })
                })
                .transpose()?,
            after: f.cursor,
            limit: limit + 1,
        };
        let viewer: Viewer = who.viewer();
        let mut out = Vec::new();
        loop {
            let batch = self.store.items(&q).await?;
            let exhausted = batch.len() < q.limit as usize;
            let mut last_scanned = None;
            for it in batch {
                last_scanned = Some(it.item_id.clone());
                if policy::user_may_see_item(&viewer, &it) {
                    out.push(it);
                    if out.len() > limit as usize {
                        break;
                    }
                }
            }
            if out.len() > limit as usize || exhausted {
                break;
            }
            q.after = last_scanned;
        }
        let next = if out.len() > limit as usize {
            out.truncate(limit as usize);
            out.last().map(|i| i.item_id.clone())
        } else {
            None
        };
        let sensitive = out.iter().filter(|i| i.tlp >= Tlp::Amber).count();
        if sensitive > 0 {
            self.audit(
                &who.user_id(),
                "read",
                &format!("{sensitive} items at AMBER or above listed"),
            )
            .await;
        }
        Ok(ItemPage { items: out, next })
    }

    // ----- federation, server side ---------------------------------------------------------

    /// Authenticate a signed federation request; returns the calling partner.
    pub fn fed_authenticate(&self, req: &SignedRequest<'_>) -> Result<PartnerCode, NodeError> {
        let r = self.fed_authenticate_inner(req);
        if let Err(NodeError::PeerAuth(e)) = &r {
            self.metrics.fed_refused(e.reason());
        }
        r
    }

    fn fed_authenticate_inner(&self, req: &SignedRequest<'_>) -> Result<PartnerCode, NodeError> {
        let now = self.clock.now().unix_timestamp();
        let skew = self.cfg.sync.max_clock_skew;
        let v = fed::verify_request(req, self.partner(), now, skew, |p| {
            // Only configured peers may call; our own key is not a peer key.
            if p == self.partner() {
                None
            } else {
                // A suspended (or removed) peer's key still verifies what it signed before, but
                // it may no longer call.
                self.peer(p)
                    .filter(|x| x.record.state == "active")
                    .map(|x| x.key)
            }
        })?;
        // Over TLS the channel names its partner too (the client certificate is bound to a
        // pinned node key): it must be the one that signed.
        if let fed::Channel::Tls { client } = &req.channel {
            match client {
                Some(c) if c == v.partner.as_str() => {}
                _ => return Err(crate::error::PeerAuthError::TlsIdentity.into()),
            }
        }
        // A request is accepted once: a captured one replayed within the window is refused
        // before it costs the peer's budget.
        match self
            .replay
            .check(&v.partner, v.date, v.nonce, now, skew.as_secs() as i64)
        {
            Ok(()) => {}
            Err(crate::replay::Refusal::Replayed) => {
                return Err(crate::error::PeerAuthError::Replayed.into());
            }
            Err(crate::replay::Refusal::Full) => {
                return Err(NodeError::RateLimited { retry_after: 1 });
            }
        }
        // Charged once the signature verified: nobody can drain a peer's budget for it.
        self.charge("peer", v.partner.as_str())?;
        Ok(v.partner)
    }

    /// The logs `caller` may receive from this node: every held log, own or forwarded,
    /// whose audience contains the caller.
    pub async fn fed_logs(&self, caller: &PartnerCode) -> Result<LogsResponse, NodeError> {
        let logs = self
            .store
            .logs()
            .await?
            .into_iter()
            .filter(|l| policy::may_forward(self.partner(), caller, &l.audience))
            .map(|l| RemoteLog {
                log_id: l.log_id,
                origin: l.origin,
                audience: l.audience,
                head_seq: l.head_seq,
            })
            .collect();
        Ok(LogsResponse {
            partner: self.partner().clone(),
            logs,
        })
    }

    /// A page of a log for `caller`. A log the caller is not in the audience of is reported
    /// exactly like a log that does not exist.
    pub async fn fed_entries(
        &self,
        caller: &PartnerCode,
        log_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<fed::EntriesResponse, NodeError> {
        let log: LogInfo = self
            .store
            .log(log_id)
            .await?
            .ok_or(NodeError::NotFound("log"))?;
        if !policy::may_forward(self.partner(), caller, &log.audience) {
            return Err(NodeError::NotFound("log"));
        }
        let limit = limit.clamp(1, self.cfg.sync.page_size.max(1));
        let mut entries = self.store.entries_after(log_id, after, limit).await?;
        // Cap a page's size too: entries carrying STIX envelopes can be large.
        let mut bytes = 0usize;
        if let Some(cut) = entries.iter().position(|e| {
            bytes += e.body.len();
            bytes > 16 * 1024 * 1024
        }) {
            entries.truncate(cut.max(1));
        }
        Ok(fed::EntriesResponse {
            log_id: log_id.to_owned(),
            entries,
        })
    }

    /// A peer says it has something new: pull from it soon.
    pub fn fed_notify(&self, caller: &PartnerCode) {
        let _ = self.wake_tx.try_send(caller.clone());
    }

    pub async fn forks(&self) -> Result<Vec<entente_store::ForkEvidence>, NodeError> {
        Ok(self.store.forks().await?)
    }
}

/// A time-ordered id (UUIDv7): appends stay at the end of indexes and reveal no counts.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The `raw` of a STIX row that stands for an item: the item id after this prefix.
pub const ITEM_MARKER: &str = "entente-item:";

/// Drop rows a fold was about to add for this object (it is being replaced or removed).
fn drop_pending(out: &mut Vec<Projection>, collection: &str, stix_id: &str) {
    out.retain(
        |p| !matches!(p, Projection::Stix(r) if r.collection == collection && r.stix_id == stix_id),
    );
}

/// Bulk publishing for imports: batch N+1 is signed and folded while batch N is being written,
/// so the CPU work and the database overlap. Only for STIX objects, whose fold reads nothing
/// from the store (the batch before may not be committed yet). Holds the write lock until
/// dropped; every batch is durable once [`BulkPublisher::finish`] (or the next `push`) returns.
pub(crate) struct BulkPublisher<'a> {
    node: &'a Node,
    _guard: WriteGuard<'a>,
    heads: HashMap<String, LogHead>,
    inflight: Option<InFlight>,
}

type AppendTask = tokio::task::JoinHandle<(Vec<ParsedEntry>, Result<(), StoreError>)>;

struct InFlight {
    desc: LogDescriptor,
    task: AppendTask,
}

impl BulkPublisher<'_> {
    /// Publish `payloads` to `audience`'s log, returning once the batch before is durable.
    pub(crate) async fn push(
        &mut self,
        audience: &Audience,
        payloads: &[(&str, String)],
    ) -> Result<(), NodeError> {
        if !payloads.iter().all(|(kind, _)| *kind == "stix.objects") {
            return Err(NodeError::Internal(
                "bulk publishing is for STIX objects only".into(),
            ));
        }
        let node = self.node;
        let desc = LogDescriptor::new(node.partner().clone(), audience.clone());
        let head = match self.heads.get(&desc.log_id) {
            Some(h) => *h,
            None => node.log_head(&desc.log_id).await?,
        };
        let prepared =
            match node.sign_chain(&desc, head, payloads.iter().map(|(k, j)| (*k, j.as_str()))) {
                Ok(entries) => node.fold(&entries).await.map(|p| (entries, p)),
                Err(e) => Err(e),
            };
        // The batch in flight settles first, even if this one failed to prepare.
        let moved = self.settle().await?;
        let (mut entries, mut projections) = prepared?;
        let mut base = head;
        if moved && let Some(h) = self.heads.get(&desc.log_id).copied().filter(|h| *h != head) {
            // The batch before was re-signed on a moved head: follow it.
            entries = node.sign_chain(&desc, h, entries_kind_payload(&entries))?;
            projections = node.fold(&entries).await?;
            base = h;
        }
        if let Some(h) = head_after(&entries) {
            self.heads.insert(desc.log_id.clone(), h);
        }
        let store = node.store.clone();
        let d = desc.clone();
        let task = tokio::spawn(async move {
            let r = store.append(&d, base, &entries, &projections).await;
            (entries, r)
        });
        self.inflight = Some(InFlight { desc, task });
        Ok(())
    }

    /// Wait for every batch to be durable.
    pub(crate) async fn finish(mut self) -> Result<(), NodeError> {
        self.settle_all().await
    }

    /// Wait for every batch pushed so far to be durable, keeping the publisher.
    pub(crate) async fn settle_all(&mut self) -> Result<(), NodeError> {
        self.settle().await.map(|_| ())
    }

    /// Wait for the batch in flight. If another process moved its log's head meanwhile, re-sign
    /// it on the new head and append it again (returns true: the head this publisher holds for
    /// that log changed).
    async fn settle(&mut self) -> Result<bool, NodeError> {
        let Some(InFlight { desc, task }) = self.inflight.take() else {
            return Ok(false);
        };
        let node = self.node;
        let (mut entries, mut result) = task
            .await
            .map_err(|e| NodeError::Internal(format!("append task: {e}")))?;
        let mut moved = false;
        for _attempt in 0..5 {
            match result {
                Ok(()) => {
                    let last = entries.last().map(|e| e.header.seq).unwrap_or(0);
                    node.announce(&desc, last, None);
                    if let Some(h) = head_after(&entries) {
                        self.heads.insert(desc.log_id.clone(), h);
                    }
                    return Ok(moved);
                }
                Err(StoreError::HeadMoved { .. }) => {
                    moved = true;
                    let head = node.log_head(&desc.log_id).await?;
                    entries = node.sign_chain(&desc, head, entries_kind_payload(&entries))?;
                    let projections = node.fold(&entries).await?;
                    result = node.store.append(&desc, head, &entries, &projections).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(NodeError::Internal(
            "the log head kept moving; try again".into(),
        ))
    }
}

/// (kind, payload) of signed entries, to sign them again on another head.
fn entries_kind_payload(entries: &[ParsedEntry]) -> Vec<(&str, &str)> {
    entries
        .iter()
        .map(|e| (e.header.kind.as_str(), e.payload.as_str()))
        .collect()
}

/// The head of a log after `entries` (its last entry), if there are any.
fn head_after(entries: &[ParsedEntry]) -> Option<LogHead> {
    entries.last().map(|e| LogHead {
        seq: e.header.seq,
        hash: e.hash,
    })
}
