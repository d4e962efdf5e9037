//! Assembles running nodes: reads and validates a data directory's configuration, opens the
//! configured storage backend (the only crate that names concrete backends), serves the
//! API, and holds the operator tasks behind the CLI (init, peers, users, tokens, sync,
//! verify), the three-node demo and the sync benchmark. No global state: everything a node
//! needs is passed in, so tests and the demo run several nodes in one process.

pub mod config;
pub mod demo;
pub mod invite;
pub mod listen;
pub mod notify_config;
pub mod tls;

pub use listen::{HttpLimits, serve_with};

use anyhow::{Context, Result, bail};
use entente_domain::{PartnerCode, Role};
use entente_log::NodeKey;
use entente_node::{Node, SystemClock};
use entente_store::Store;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use config::ServerConfig;

pub const CONFIG_FILE: &str = "entente.toml";
pub const KEY_FILE: &str = "node.key";

/// Create a node's data directory: a fresh Ed25519 key, a config file and an empty database.
pub async fn init(
    dir: &Path,
    partner: &str,
    listen: SocketAddr,
    public_url: Option<&str>,
) -> Result<String> {
    let partner = PartnerCode::parse(partner).map_err(|e| anyhow::anyhow!("--partner: {e}"))?;
    if dir.join(CONFIG_FILE).exists() || dir.join(KEY_FILE).exists() {
        bail!(
            "{} already holds a node (found {} or {}); refusing to overwrite",
            dir.display(),
            CONFIG_FILE,
            KEY_FILE
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    restrict_dir(dir)?;
    let key = NodeKey::generate()?;
    write_secret(&dir.join(KEY_FILE), &key.seed_hex())?;
    write_secret(
        &dir.join(tls::TLS_KEY_FILE),
        &entente_tls::generate_key_pem()?,
    )?;
    let url = public_url
        .map(str::to_owned)
        .unwrap_or_else(|| format!("https://{listen}"));
    let mut cfg = config::FileConfig::new(partner.as_str(), &listen.to_string(), &url);
    if url.starts_with("http://") {
        // Only `init_dev_plain` (or an operator's explicit http:// URL) gets here; the
        // configuration check refuses it unless the listen address is loopback.
        cfg.tls.mode = "off".into();
    }
    std::fs::write(dir.join(CONFIG_FILE), toml::to_string_pretty(&cfg)?)?;
    // Opening creates the database and claims it for the partner.
    let node = open(dir).await?;
    Ok(node.public_key().to_hex())
}

/// [`init`] for development on loopback: plain HTTP (`tls.mode = "off"`), `http://` URL.
pub async fn init_dev_plain(dir: &Path, partner: &str, listen: SocketAddr) -> Result<String> {
    if !listen.ip().is_loopback() {
        bail!("--dev-plain-http: listen must be a loopback address, not {listen}");
    }
    let key = init(dir, partner, listen, Some(&format!("http://{listen}"))).await?;
    Ok(key)
}

/// Write a file only its owner can read (0600), replacing a regular file but never following
/// a symlink (an export of TLP:RED content must land where the operator said; L8).
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    // An existing file keeps its mode when truncated: tighten it.
    f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    f.write_all(contents)?;
    f.sync_all()
}

/// Make `dir` the owner's only (0700): whatever a node keeps in it is readable by no other
/// local account, whatever mode its files were created with (M7).
pub fn restrict_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(dir).with_context(|| format!("reading {}", dir.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {} to its owner", dir.display()))?;
    }
    Ok(())
}

pub(crate) fn write_secret(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// Open the storage backend named by the configuration.
pub async fn open_store(cfg: &ServerConfig) -> Result<Arc<dyn Store>> {
    match &cfg.database {
        config::Database::Sqlite(path) => {
            let s = entente_store_sqlite::SqliteStore::open(path)
                .await
                .with_context(|| {
                    format!(
                        "database.url: cannot open SQLite database {}",
                        path.display()
                    )
                })?;
            Ok(Arc::new(s))
        }
        config::Database::Postgres(url) => {
            let s = entente_store_postgres::PgStore::open(url)
                .await
                .with_context(|| {
                    format!(
                        "database.url: cannot use PostgreSQL database {}",
                        redact_password(url)
                    )
                })?;
            Ok(Arc::new(s))
        }
    }
}

/// A database URL fit for messages: the password replaced.
fn redact_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Open the node whose data directory is `dir`.
pub async fn open(dir: &Path) -> Result<Arc<Node>> {
    let cfg = ServerConfig::load(dir)?;
    open_with(&cfg).await
}

pub async fn open_with(cfg: &ServerConfig) -> Result<Arc<Node>> {
    let key_path = cfg.node.data_dir.join(KEY_FILE);
    let seed = std::fs::read_to_string(&key_path)
        .with_context(|| format!("key file {}: cannot read", key_path.display()))?;
    let key = NodeKey::from_seed_hex(&seed)
        .with_context(|| format!("key file {}", key_path.display()))?;
    restrict_dir(&cfg.node.data_dir)?;
    let mut node_cfg = cfg.node.clone();
    node_cfg.transport = tls::transport(cfg, &key)?;
    let store = open_store(cfg).await?;
    Ok(Node::new(node_cfg, key, store, Arc::new(SystemClock)).await?)
}

/// Where a node keeps its search index.
pub fn search_dir(cfg: &ServerConfig) -> PathBuf {
    cfg.node.data_dir.join("search")
}

/// Open the node's search index and attach it (rebuilding it if it is behind the store). Only
/// processes that serve or reindex do this: the index allows one writer process at a time.
pub async fn attach_search(
    node: &Arc<Node>,
    cfg: &ServerConfig,
) -> Result<Option<entente_node::search::ReindexReport>> {
    let dir = search_dir(cfg);
    let index = entente_search::SearchIndex::open(&dir, 1).with_context(|| {
        format!(
            "search index {}: cannot open (is another entente process serving this node?)",
            dir.display()
        )
    })?;
    node.attach_search(index)
        .await
        .with_context(|| format!("search index {}", dir.display()))
}

/// Serve a node over plain HTTP on an already bound listener until `shutdown` resolves
/// (in-process test clusters on loopback; see [`serve_node`] for a configured node).
pub async fn serve(
    node: Arc<Node>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    serve_with(node, listener, shutdown, HttpLimits::default(), None).await
}

/// Serve a node as its configuration says: TLS (pinned or CA mode) or plain HTTP on loopback
/// in development mode, with the configured connection limits. In pinned mode the node's
/// certificate is written to `tls.crt` for operators (`curl --cacert`).
pub async fn serve_node(
    node: Arc<Node>,
    cfg: &ServerConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let server_tls = tls::server_tls(cfg, &node)?;
    serve_with(node, listener, shutdown, cfg.http, server_tls).await
}

/// An HTTP client builder for the benchmarks and tools that call a node's REST API (plain
/// http on loopback; the process's one TLS stack, trusting no certificate).
pub fn tools_http() -> reqwest::ClientBuilder {
    tools_https(&[]).unwrap_or_else(|_| reqwest::Client::builder().no_proxy())
}

/// [`tools_http`] trusting exactly these certificate files (nodes' `tls.crt`).
pub fn tools_https(cert_files: &[&Path]) -> Result<reqwest::ClientBuilder> {
    let pems = cert_files
        .iter()
        .map(|p| {
            std::fs::read_to_string(p).with_context(|| format!("{}: cannot read", p.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&str> = pems.iter().map(String::as_str).collect();
    Ok(reqwest::Client::builder()
        .no_proxy()
        .tls_backend_preconfigured(entente_tls::client_trusting(&refs)?))
}

/// Bind the configured address with a clear message when it is taken.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listen = \"{addr}\": cannot bind (is the port in use?)"))
}

/// Add a user; returns nothing but errors on a bad role, name or password.
pub async fn add_user(node: &Node, username: &str, role: &str, password: &str) -> Result<()> {
    let role = Role::parse(role)?;
    node.add_user(username, role, password).await?;
    Ok(())
}

/// A readable random password for generated accounts (demo, bench).
pub fn generate_password() -> Result<String> {
    Ok(entente_node::auth::random_hex(12)?)
}

pub fn default_demo_dir() -> PathBuf {
    PathBuf::from("entente-demo")
}

/// Call the node's own REST API in-process as a local user (the `entente api` command): every
/// instrument the API offers is available from the command line, with the same checks.
pub async fn call_api(
    node: Arc<Node>,
    user: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<(u16, String)> {
    use tower::ServiceExt;
    let token = node.session_for(user).await?;
    let mut req = axum::http::Request::builder()
        .method(method.to_ascii_uppercase().as_str())
        .uri(path)
        .header("authorization", format!("Bearer {token}"));
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(axum::body::Body::from(body.unwrap_or("").to_owned()))
        .context("building the request")?;
    let resp = entente_api::router(node)
        .oneshot(req)
        .await
        .context("calling the API")?;
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 256 * 1024 * 1024)
        .await
        .context("reading the answer")?;
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

/// A PostgreSQL client tool: on the PATH, or from the newest installed server version.
fn pg_tool(name: &str) -> PathBuf {
    let installed = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.is_file())
        .max();
    installed.unwrap_or_else(|| PathBuf::from(name))
}

fn run_pg_tool(name: &str, args: &[&std::ffi::OsStr]) -> Result<Vec<u8>> {
    let tool = pg_tool(name);
    let out = std::process::Command::new(&tool)
        .args(args)
        .output()
        .with_context(|| {
            format!(
                "{}: cannot run it (is PostgreSQL's client installed?)",
                tool.display()
            )
        })?;
    if !out.status.success() {
        bail!(
            "{name} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// The partner a PostgreSQL backup belongs to, read from its `meta` table without restoring it.
fn pg_backup_partner(from: &Path) -> Result<String> {
    let sql = run_pg_tool(
        "pg_restore",
        &[
            "--data-only".as_ref(),
            "--table=meta".as_ref(),
            "--file=-".as_ref(),
            from.as_os_str(),
        ],
    )?;
    String::from_utf8_lossy(&sql)
        .lines()
        .find_map(|l| l.strip_prefix("partner\t").map(str::to_owned))
        .ok_or_else(|| anyhow::anyhow!("{}: not an Entente backup (no partner)", from.display()))
}

/// A consistent snapshot of a (possibly running) node's store: SQLite's `VACUUM INTO`, or for
/// PostgreSQL `pg_dump` (one repeatable-read snapshot of the whole database, custom format).
pub async fn backup(dir: &Path, out: &Path) -> Result<()> {
    let cfg = ServerConfig::load(dir)?;
    // Anything at `out`, a dangling symlink included: a backup never writes through a link.
    if out.symlink_metadata().is_ok() {
        bail!(
            "{}: already exists; the backup must not overwrite anything",
            out.display()
        );
    }
    if let config::Database::Postgres(url) = &cfg.database {
        run_pg_tool(
            "pg_dump",
            &[
                "--format=custom".as_ref(),
                "--no-owner".as_ref(),
                std::ffi::OsStr::new(&format!("--file={}", out.display())),
                std::ffi::OsStr::new(&format!("--dbname={url}")),
            ],
        )
        .with_context(|| format!("database.url: backing up {}", redact_password(url)))?;
    } else {
        let store = open_store(&cfg).await?;
        store.backup_to(out).await.with_context(|| {
            format!(
                "writing the backup to {} (it must not exist yet)",
                out.display()
            )
        })?;
    }
    // The backup holds everything the node does: its operator's only (M7).
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {} to its owner", out.display()))?;
    Ok(())
}

/// Replace a stopped node's store with a backup of the same partner. The previous database is
/// kept beside it. After a restore the node pulls back from its peers any of its own entries
/// written after the backup, so it never reissues sequence numbers.
/// Returns where the previous SQLite database was kept (None for PostgreSQL, whose previous
/// contents are in its own backups).
pub async fn restore(dir: &Path, from: &Path) -> Result<Option<PathBuf>> {
    let cfg = ServerConfig::load(dir)?;
    if !from.is_file() {
        bail!("{}: no such backup file", from.display());
    }
    let db = match &cfg.database {
        config::Database::Sqlite(db) => db,
        config::Database::Postgres(url) => {
            // Check the backup's partner before anything in the database is replaced.
            let found = pg_backup_partner(from)?;
            if found != cfg.node.partner.as_str() {
                bail!(
                    "{}: the backup belongs to {found}, not {}",
                    from.display(),
                    cfg.node.partner
                );
            }
            run_pg_tool(
                "pg_restore",
                &[
                    "--clean".as_ref(),
                    "--if-exists".as_ref(),
                    "--no-owner".as_ref(),
                    "--single-transaction".as_ref(),
                    std::ffi::OsStr::new(&format!("--dbname={url}")),
                    from.as_os_str(),
                ],
            )
            .with_context(|| format!("database.url: restoring into {}", redact_password(url)))?;
            return Ok(None);
        }
    };
    // Check the backup opens and belongs to this node's partner before touching anything.
    let check = dir.join("restore-check.db");
    let _ = std::fs::remove_file(&check);
    std::fs::copy(from, &check).with_context(|| format!("reading {}", from.display()))?;
    {
        let s = entente_store_sqlite::SqliteStore::open(&check)
            .await
            .context("the backup is not an Entente database")?;
        s.claim_partner(&cfg.node.partner)
            .await
            .context("the backup belongs to another partner")?;
    }
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let kept = db.with_extension(format!("db.before-restore-{stamp}"));
    if db.exists() {
        std::fs::rename(db, &kept).with_context(|| format!("moving {} aside", db.display()))?;
    }
    for suffix in ["-wal", "-shm"] {
        let mut p = db.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
        let mut c = check.clone().into_os_string();
        c.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(c));
    }
    std::fs::rename(&check, db)
        .with_context(|| format!("installing the backup as {}", db.display()))?;
    Ok(Some(kept))
}

/// Check a node's configuration as `serve` would use it: the file and overrides, the key file,
/// the database, and the listen address. Returns one line per check that passed.
pub async fn config_check(
    dir: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<String>> {
    let cfg = ServerConfig::load_with_env(dir, env)?;
    let mut ok = vec![format!(
        "configuration: partner {}, listen {}, public_url {}",
        cfg.node.partner, cfg.listen, cfg.node.public_url
    )];
    let node = open_with(&cfg).await?;
    ok.push(format!(
        "key file: public key {}",
        node.public_key().fingerprint()
    ));
    node.store()
        .logs()
        .await
        .context("database.url: the database does not answer")?;
    ok.push("database: opens and answers".into());
    drop(bind(cfg.listen).await?);
    ok.push(format!("listen: {} is free", cfg.listen));
    Ok(ok)
}
