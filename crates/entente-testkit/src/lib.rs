//! An in-process test harness: several federated nodes, each with its own temp directory,
//! SQLite database, key and port-0 HTTP server, connected through controllable loopback
//! proxies so tests can cut and heal links. Test-only; nothing in the product depends on it.

use anyhow::Result;
use entente_domain::Role;
use entente_log::NodeKey;
use entente_node::auth::Principal;
use entente_node::auth::TokenKind;
use entente_node::sync::BackgroundHandle;
use entente_node::{Node, NodeConfig, SystemClock};
use entente_store_sqlite::SqliteStore;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub mod cli;
pub mod gated;
pub mod smtp;

/// A client for tests that call nodes over plain HTTP on loopback (reqwest needs a TLS
/// configuration even then; this one trusts nothing).
pub fn http_client_builder() -> reqwest::ClientBuilder {
    entente_server::tools_http()
}

pub fn http_client() -> reqwest::Client {
    http_client_builder().build().expect("an HTTP client")
}

/// A loopback TCP proxy in front of one node, used by exactly one other node. Cutting it
/// refuses new connections and drops open ones, like a network partition.
#[derive(Debug)]
pub struct Link {
    pub addr: SocketAddr,
    up: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Link {
    async fn start(target: Arc<RwLock<SocketAddr>>) -> Result<Link> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (up, up_rx) = watch::channel(true);
        let t = target;
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    break;
                };
                if !*up_rx.borrow() {
                    drop(inbound);
                    continue;
                }
                let to = *t.read().unwrap_or_else(|e| e.into_inner());
                let mut up_rx = up_rx.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(to).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = up_rx.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Ok(Link { addr, up, task })
    }

    pub fn set_up(&self, up: bool) {
        let _ = self.up.send(up);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One node of a test cluster.
pub struct TestNode {
    pub partner: String,
    pub dir: PathBuf,
    pub node: Arc<Node>,
    pub addr: Arc<RwLock<SocketAddr>>,
    pub token: String,
    pub key_seed: String,
    clock: Arc<dyn entente_node::Clock>,
    server: Option<(watch::Sender<bool>, tokio::task::JoinHandle<()>)>,
    background: Option<BackgroundHandle>,
    cfg: NodeConfig,
    search: bool,
}

async fn attach_search(node: &Arc<Node>, dir: &std::path::Path) -> Result<()> {
    let index = entente_search::SearchIndex::open(&dir.join("search"), 1)?;
    node.attach_search(index).await?;
    Ok(())
}

impl std::fmt::Debug for TestNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestNode({})", self.partner)
    }
}

impl TestNode {
    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls() { "https" } else { "http" },
            self.addr.read().unwrap_or_else(|e| e.into_inner())
        )
    }

    /// Whether this node serves TLS ([`ClusterOptions::tls`]).
    pub fn tls(&self) -> bool {
        self.cfg.transport.identity.is_some()
    }

    /// An HTTP client for this node's REST API: trusts its certificate when it serves TLS.
    pub fn http(&self) -> reqwest::Client {
        match &self.cfg.transport.identity {
            Some(id) => reqwest::Client::builder()
                .no_proxy()
                .tls_backend_preconfigured(
                    entente_tls::client_trusting(&[id.cert_pem()]).expect("client config"),
                )
                .build()
                .expect("an HTTP client"),
            None => http_client(),
        }
    }

    /// The node's admin user, as a principal for direct calls.
    pub fn admin(&self) -> Principal {
        Principal {
            username: "admin".into(),
            role: Role::Admin,
            partner: self.node.partner().clone(),
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.join("entente.db")
    }

    /// Rename a table of this node's database behind its back: a way to make the store fail
    /// where a test needs it to (and, renamed back, recover).
    pub async fn rename_table(&self, from: &str, to: &str) {
        self.exec_sql(&format!("ALTER TABLE {from} RENAME TO {to}"))
            .await;
    }

    /// Run one SQL statement on this node's database behind its back: to put it in a state
    /// that only a race (or a crash) would otherwise leave.
    pub async fn exec_sql(&self, statement: &str) {
        let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", self.db_path().display()))
            .await
            .expect("the node's database opens");
        sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&db)
            .await
            .expect("the statement runs");
        db.close().await;
    }

    async fn serve(&mut self) -> Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        *self.addr.write().unwrap_or_else(|e| e.into_inner()) = listener.local_addr()?;
        let (tx, mut rx) = watch::channel(false);
        // Serve through the server crate, so the harness runs exactly what `entente serve` runs.
        let node = Arc::clone(&self.node);
        let tls = if self.tls() {
            Some(entente_server::tls::pinned_server_tls(&node)?)
        } else {
            None
        };
        let task = tokio::spawn(async move {
            let _ = entente_server::serve_with(
                node,
                listener,
                async move {
                    let _ = rx.changed().await;
                },
                entente_server::HttpLimits::default(),
                tls,
            )
            .await;
        });
        self.server = Some((tx, task));
        Ok(())
    }

    /// Start background sync and push notifications.
    pub fn start_background(&mut self) {
        self.background = Some(self.node.start());
    }

    /// The configuration the next [`TestNode::restart`] opens the node with.
    pub fn config_mut(&mut self) -> &mut NodeConfig {
        &mut self.cfg
    }

    /// Stop everything and reopen the node from its data directory (same key, same database),
    /// like a process restart.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop().await;
        let store = SqliteStore::open(&self.db_path()).await?;
        self.node = Node::new(
            self.cfg.clone(),
            NodeKey::from_seed_hex(&self.key_seed)?,
            Arc::new(store),
            Arc::clone(&self.clock),
        )
        .await?;
        if self.search {
            attach_search(&self.node, &self.dir).await?;
        }
        self.serve().await
    }

    pub async fn stop(&mut self) {
        if let Some(bg) = self.background.take() {
            bg.stop().await;
        }
        if let Some((tx, task)) = self.server.take() {
            let _ = tx.send(true);
            task.abort();
            let _ = task.await;
        }
    }
}

/// Several nodes, fully peered, each reaching every other through its own [`Link`].
pub struct Cluster {
    pub nodes: Vec<TestNode>,
    /// (from, to) → the link `from` uses to reach `to`.
    pub links: BTreeMap<(usize, usize), Link>,
    _tmp: tempfile::TempDir,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cluster({:?})", self.nodes)
    }
}

pub struct ClusterOptions {
    pub page_size: u32,
    /// Page requests in flight per log while catching up (`SyncConfig::pages_in_flight`).
    pub pages_in_flight: usize,
    /// Periodic pull interval; long by default so tests observe push or explicit syncs.
    pub interval: Duration,
    /// The clock every node uses (a `ManualClock` for deadline tests); the system clock if None.
    pub clock: Option<Arc<dyn entente_node::Clock>>,
    /// Attach a full-text search index (in the node's directory) to every node.
    pub search: bool,
    /// Off (zeros) by default: tests drive nodes far faster than people do.
    pub rate_limits: entente_node::config::RateLimits,
    /// Serve and federate over TLS pinned to the node keys, as `entente serve` does (the
    /// links pass the TLS bytes through); plain HTTP on loopback (development mode) if false.
    pub tls: bool,
    /// How long a node waits for a peer's answer (raise it under valgrind).
    pub request_timeout: Duration,
    /// Notification settings per partner code (none for a partner not named).
    pub notify: std::collections::BTreeMap<String, entente_node::notify::Settings>,
    /// The search indexer's pause between commits (`NodeConfig::search_commit_pause`).
    pub search_commit_pause: Duration,
    /// `NodeConfig::search_commit_entries`.
    pub search_commit_entries: u64,
    /// The malware scanner per partner code (none for a partner not named).
    pub malware_scan: std::collections::BTreeMap<String, entente_node::config::Clamd>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            page_size: 500,
            pages_in_flight: entente_node::config::SyncConfig::default().pages_in_flight,
            interval: Duration::from_secs(3600),
            clock: None,
            search: false,
            tls: false,
            request_timeout: Duration::from_secs(10),
            notify: Default::default(),
            search_commit_pause: Duration::from_millis(200),
            search_commit_entries: 0,
            malware_scan: Default::default(),
            rate_limits: entente_node::config::RateLimits {
                user_per_minute: 0,
                peer_per_minute: 0,
                login_per_minute: 0,
                login_per_address_per_minute: 0,
            },
        }
    }
}

/// The hash of every test admin's password (`admin-password-1`), computed once per process:
/// argon2 is slow on purpose, and every node of every test cluster has an admin.
fn admin_password_hash() -> Result<&'static str> {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(h) = HASH.get() {
        return Ok(h);
    }
    let h = entente_node::auth::hash_password("admin-password-1")?;
    Ok(HASH.get_or_init(|| h))
}

impl Cluster {
    pub async fn new(partners: &[&str]) -> Result<Cluster> {
        Self::with(partners, ClusterOptions::default()).await
    }

    pub async fn with(partners: &[&str], opts: ClusterOptions) -> Result<Cluster> {
        let tmp = tempfile::tempdir()?;
        let mut nodes = vec![];
        for p in partners {
            let dir = tmp.path().join(p.to_lowercase());
            std::fs::create_dir_all(&dir)?;
            let key = NodeKey::generate()?;
            let key_seed = key.seed_hex();
            let mut cfg = NodeConfig::new(
                entente_domain::PartnerCode::parse(p)?,
                "http://127.0.0.1:0",
                dir.clone(),
            );
            cfg.sync.page_size = opts.page_size;
            cfg.sync.pages_in_flight = opts.pages_in_flight;
            cfg.sync.interval = opts.interval;
            cfg.sync.on_start = false;
            cfg.sync.request_timeout = opts.request_timeout;
            cfg.rate_limits = opts.rate_limits;
            cfg.notify = opts.notify.get(*p).cloned();
            cfg.malware_scan = opts.malware_scan.get(*p).cloned();
            cfg.search_commit_pause = opts.search_commit_pause;
            cfg.search_commit_entries = opts.search_commit_entries;
            if opts.tls {
                let pem = entente_tls::generate_key_pem()?;
                cfg.transport.identity = Some(Arc::new(entente_tls::Identity::new(
                    &key,
                    p,
                    &pem,
                    &["127.0.0.1".into()],
                )?));
            } else {
                // Plain HTTP over loopback links: development mode.
                cfg.transport.allow_plain_loopback = true;
            }
            let store = SqliteStore::open(&dir.join("entente.db")).await?;
            let clock: Arc<dyn entente_node::Clock> =
                opts.clock.clone().unwrap_or_else(|| Arc::new(SystemClock));
            let node = Node::new(cfg.clone(), key, Arc::new(store), Arc::clone(&clock)).await?;
            if opts.search {
                attach_search(&node, &dir).await?;
            }
            node.store()
                .create_user(&entente_store::UserRecord {
                    username: "admin".into(),
                    role: Role::Admin,
                    password_hash: admin_password_hash()?.into(),
                    created_at: "2026-01-01T00:00:00Z".into(),
                    disabled: false,
                    settings: Default::default(),
                })
                .await?;
            let token = node
                .create_token_for("admin", "test", TokenKind::Api)
                .await?;
            let mut tn = TestNode {
                partner: p.to_string(),
                dir,
                node,
                addr: Arc::new(RwLock::new(([127, 0, 0, 1], 0).into())),
                token,
                key_seed,
                clock,
                server: None,
                background: None,
                cfg,
                search: opts.search,
            };
            tn.serve().await?;
            nodes.push(tn);
        }
        let mut links = BTreeMap::new();
        for i in 0..nodes.len() {
            for j in 0..nodes.len() {
                if i == j {
                    continue;
                }
                let link = Link::start(Arc::clone(&nodes[j].addr)).await?;
                let scheme = if opts.tls { "https" } else { "http" };
                let url = format!("{scheme}://{}", link.addr);
                let (pj, kj) = (
                    nodes[j].partner.clone(),
                    nodes[j].node.public_key().to_hex(),
                );
                nodes[i].node.add_peer(&pj, Some(&url), &kj).await?;
                links.insert((i, j), link);
            }
        }
        Ok(Cluster {
            nodes,
            links,
            _tmp: tmp,
        })
    }

    pub fn index(&self, partner: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n.partner == partner)
            .unwrap_or_else(|| panic!("no node {partner}"))
    }

    pub fn node(&self, partner: &str) -> &TestNode {
        &self.nodes[self.index(partner)]
    }

    pub fn node_mut(&mut self, partner: &str) -> &mut TestNode {
        let i = self.index(partner);
        &mut self.nodes[i]
    }

    /// Cut or heal the link between two partners, in both directions.
    pub fn set_link(&self, a: &str, b: &str, up: bool) {
        let (i, j) = (self.index(a), self.index(b));
        self.links[&(i, j)].set_up(up);
        self.links[&(j, i)].set_up(up);
    }

    pub fn start_background(&mut self) {
        for n in &mut self.nodes {
            n.start_background();
        }
    }

    /// Pull rounds until a round applies nothing anywhere; returns the rounds it took.
    pub async fn sync_until_quiet(&self) -> usize {
        for round in 1..=10 {
            let mut applied = 0;
            for n in &self.nodes {
                for r in n.node.sync_once().await {
                    applied += r.entries_applied;
                }
            }
            if applied == 0 {
                return round;
            }
        }
        10
    }

    pub async fn stop(mut self) {
        for n in &mut self.nodes {
            n.stop().await;
        }
    }
}
