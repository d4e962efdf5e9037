//! The data directory's `entente.toml`, validated into the settings a node is built from.
//! Unknown keys are errors, and every error names the key or path at fault.

use anyhow::{Context, Result, anyhow, bail};
use entente_domain::PartnerCode;
use entente_node::NodeConfig;
use entente_node::config::SyncConfig;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub partner: String,
    pub listen: String,
    pub public_url: String,
    #[serde(default)]
    pub database: DatabaseFile,
    #[serde(default)]
    pub sync: SyncFile,
    #[serde(default)]
    pub limits: LimitsFile,
    #[serde(default)]
    pub tls: TlsFile,
    /// Single sign-on through the partner's OpenID Connect provider (absent: local accounts
    /// only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcFile>,
    /// The IANA time zone the UI shows times in for users who chose none (`Europe/Brussels`,
    /// `Asia/Tokyo`); absent: UTC. Each user can pick their own on the settings page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// E-mail and webhook notifications (absent: none are sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<crate::notify_config::NotifyFile>,
    /// ClamAV's `clamd`, which scans every attachment before it is accepted: `tcp:HOST:PORT`
    /// or `unix:/run/clamav/clamd.ctl` (absent: files are not scanned). Set clamd's
    /// `StreamMaxLength` to at least `limits.attachment_max_bytes`: a file clamd refuses to
    /// scan is not accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub malware_scan: Option<String>,
}

/// `[oidc]`: the partner's identity provider. Register the node at the provider as a
/// confidential web client with the redirect URL `{public_url}/ui/login/sso/callback`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcFile {
    /// The issuer URL, exactly as the provider's discovery document states it.
    pub issuer: String,
    pub client_id: String,
    /// A file holding the client secret (relative to the data directory; keep it 0600). The
    /// secret is not written into this file so that the file can be shown and copied.
    pub client_secret_file: String,
    /// Provider groups per role: `admin = ["entente-admins"]`, `reader = ["staff"]`. The
    /// highest role with a match wins; a user matching none is not signed in.
    pub roles: std::collections::BTreeMap<String, Vec<String>>,
    /// The button's words: "Sign in with {label}".
    #[serde(default = "default_oidc_label")]
    pub label: String,
    #[serde(default = "default_oidc_scopes")]
    pub scopes: Vec<String>,
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// CA certificates (PEM) trusted for the provider besides the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
}

fn default_oidc_label() -> String {
    "your organisation's account".into()
}

fn default_oidc_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into(), "groups".into()]
}

fn default_username_claim() -> String {
    "preferred_username".into()
}

fn default_roles_claim() -> String {
    "groups".into()
}

/// `[tls]`: how the node's listener and federation client use TLS.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    /// `pinned` (default): the node's own certificate, bound to its node key; peers pin it
    /// with the node key. `ca`: `cert_file` and `key_file` from the partner's PKI (or a public
    /// certificate). `off`: plain HTTP, for development on loopback only.
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    /// CA certificates (PEM) accepted for peers besides pinned bindings (peers behind a PKI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
}

impl Default for TlsFile {
    fn default() -> Self {
        TlsFile {
            mode: "pinned".into(),
            cert_file: None,
            key_file: None,
            ca_file: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseFile {
    /// `sqlite://entente.db` (relative to the data directory) or an absolute path, or
    /// `postgres://user:password@host:port/database`.
    pub url: String,
}

impl Default for DatabaseFile {
    fn default() -> Self {
        DatabaseFile {
            url: "sqlite://entente.db".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncFile {
    pub interval_secs: u64,
    pub page_size: u32,
    /// Added after the first release: files written before it have no such key.
    #[serde(default = "default_pages_in_flight")]
    pub pages_in_flight: usize,
    pub on_start: bool,
}

fn default_pages_in_flight() -> usize {
    SyncConfig::default().pages_in_flight
}

impl Default for SyncFile {
    fn default() -> Self {
        let d = SyncConfig::default();
        SyncFile {
            interval_secs: d.interval.as_secs(),
            page_size: d.page_size,
            pages_in_flight: d.pages_in_flight,
            on_start: d.on_start,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    pub max_body_bytes: usize,
    /// Seconds a client may take to send a request's headers before its connection is closed.
    #[serde(default = "default_header_read_timeout_secs")]
    pub header_read_timeout_secs: u64,
    /// Requests per minute per user over all their tokens and sessions (0: no limit).
    #[serde(default = "default_user_rpm")]
    pub user_requests_per_minute: u32,
    /// Signed federation requests per minute per peer (0: no limit).
    #[serde(default = "default_peer_rpm")]
    pub peer_requests_per_minute: u32,
    /// Password sign-ins per minute per user name (0: no limit).
    #[serde(default = "default_login_rpm")]
    pub logins_per_minute: u32,
    /// Password sign-ins per minute per client address, over all user names (0: no limit).
    #[serde(default = "default_login_address_rpm")]
    pub logins_per_address_per_minute: u32,
    /// The largest attachment a user may upload or the node fetches from a peer.
    #[serde(default = "default_attachment_max_bytes")]
    pub attachment_max_bytes: u64,
    /// Seconds a client may take to send a request's body after its headers.
    #[serde(default = "default_body_read_timeout_secs")]
    pub body_read_timeout_secs: u64,
    /// Connections served at once, in total and per client address.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    #[serde(default = "default_max_connections_per_client")]
    pub max_connections_per_client: usize,
}

fn default_body_read_timeout_secs() -> u64 {
    crate::HttpLimits::default().body_read_timeout.as_secs()
}

fn default_max_connections() -> usize {
    crate::HttpLimits::default().max_connections
}

fn default_max_connections_per_client() -> usize {
    crate::HttpLimits::default().max_connections_per_client
}

fn default_user_rpm() -> u32 {
    entente_node::config::RateLimits::default().user_per_minute
}

fn default_peer_rpm() -> u32 {
    entente_node::config::RateLimits::default().peer_per_minute
}

fn default_login_rpm() -> u32 {
    entente_node::config::RateLimits::default().login_per_minute
}

fn default_login_address_rpm() -> u32 {
    entente_node::config::RateLimits::default().login_per_address_per_minute
}

fn default_attachment_max_bytes() -> u64 {
    100 << 20
}

fn default_header_read_timeout_secs() -> u64 {
    10
}

impl Default for LimitsFile {
    fn default() -> Self {
        LimitsFile {
            max_body_bytes: 1024 * 1024,
            header_read_timeout_secs: default_header_read_timeout_secs(),
            user_requests_per_minute: default_user_rpm(),
            peer_requests_per_minute: default_peer_rpm(),
            logins_per_minute: default_login_rpm(),
            logins_per_address_per_minute: default_login_address_rpm(),
            body_read_timeout_secs: default_body_read_timeout_secs(),
            attachment_max_bytes: default_attachment_max_bytes(),
            max_connections: default_max_connections(),
            max_connections_per_client: default_max_connections_per_client(),
        }
    }
}

impl FileConfig {
    pub fn new(partner: &str, listen: &str, public_url: &str) -> FileConfig {
        FileConfig {
            partner: partner.into(),
            listen: listen.into(),
            public_url: public_url.into(),
            database: Default::default(),
            sync: Default::default(),
            limits: Default::default(),
            tls: Default::default(),
            oidc: None,
            time_zone: None,
            notify: None,
            malware_scan: None,
        }
    }
}

/// How the listener and the federation client use TLS (validated `[tls]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// The node's own certificate, bound to its node key (`tls.key`, `tls.crt`).
    Pinned,
    /// A certificate and key from the partner's PKI.
    Ca {
        cert_file: PathBuf,
        key_file: PathBuf,
    },
    /// Plain HTTP on loopback (development): `http://` peers on loopback are dialled.
    Off,
}

#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL; several `serve` processes of one node may share it.
    Postgres(String),
}

/// Validated settings of one node.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub node: NodeConfig,
    pub listen: SocketAddr,
    pub database: Database,
    pub http: crate::HttpLimits,
    pub tls: TlsMode,
    /// `tls.ca_file`: CA certificates accepted for peers.
    pub peer_ca_file: Option<PathBuf>,
}

impl ServerConfig {
    pub fn load(dir: &Path) -> Result<ServerConfig> {
        let path = dir.join(crate::CONFIG_FILE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{}: cannot read (run `entente init` first?)",
                path.display()
            )
        })?;
        let file: FileConfig =
            toml::from_str(&text).map_err(|e| anyhow!("{}: {}", path.display(), e.message()))?;
        Self::from_file(dir, file)
    }

    /// The file, then `ENTENTE_*` overrides from `env` (the CLI passes the process
    /// environment; nothing here reads it itself). An unknown `ENTENTE_*` name is an error.
    pub fn load_with_env(
        dir: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<ServerConfig> {
        let path = dir.join(crate::CONFIG_FILE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{}: cannot read (run `entente init` first?)",
                path.display()
            )
        })?;
        let mut file: FileConfig =
            toml::from_str(&text).map_err(|e| anyhow!("{}: {}", path.display(), e.message()))?;
        for (k, v) in env {
            let Some(key) = k.strip_prefix("ENTENTE_") else {
                continue;
            };
            let num = |what: &str| -> Result<u64> {
                v.parse()
                    .map_err(|_| anyhow!("{k}: {what} must be a whole number, not {v:?}"))
            };
            let num32 = |what: &str| -> Result<u32> {
                u32::try_from(num(what)?)
                    .map_err(|_| anyhow!("{k}: {what} must be at most {}", u32::MAX))
            };
            match key {
                // Read by the command line itself, not configuration.
                "DIR" | "PASSWORD" => {}
                "PARTNER" => file.partner = v.clone(),
                "LISTEN" => file.listen = v.clone(),
                "PUBLIC_URL" => file.public_url = v.clone(),
                "TIME_ZONE" => file.time_zone = Some(v.clone()),
                "MALWARE_SCAN" => file.malware_scan = Some(v.clone()),
                "DATABASE_URL" => file.database.url = v.clone(),
                "SYNC_INTERVAL_SECS" => file.sync.interval_secs = num("sync.interval_secs")?,
                "SYNC_PAGE_SIZE" => file.sync.page_size = num("sync.page_size")? as u32,
                "SYNC_PAGES_IN_FLIGHT" => {
                    file.sync.pages_in_flight = num("sync.pages_in_flight")? as usize
                }
                "SYNC_ON_START" => file.sync.on_start = matches!(v.as_str(), "1" | "true" | "yes"),
                "LIMITS_HEADER_READ_TIMEOUT_SECS" => {
                    file.limits.header_read_timeout_secs = num("limits.header_read_timeout_secs")?
                }
                "LIMITS_ATTACHMENT_MAX_BYTES" => {
                    file.limits.attachment_max_bytes = num("limits.attachment_max_bytes")?
                }
                "LIMITS_MAX_BODY_BYTES" => {
                    file.limits.max_body_bytes = num("limits.max_body_bytes")? as usize
                }
                "LIMITS_USER_REQUESTS_PER_MINUTE" => {
                    file.limits.user_requests_per_minute = num32("limits.user_requests_per_minute")?
                }
                "LIMITS_PEER_REQUESTS_PER_MINUTE" => {
                    file.limits.peer_requests_per_minute = num32("limits.peer_requests_per_minute")?
                }
                "LIMITS_LOGINS_PER_MINUTE" => {
                    file.limits.logins_per_minute = num32("limits.logins_per_minute")?
                }
                "LIMITS_LOGINS_PER_ADDRESS_PER_MINUTE" => {
                    file.limits.logins_per_address_per_minute =
                        num32("limits.logins_per_address_per_minute")?
                }
                "LIMITS_BODY_READ_TIMEOUT_SECS" => {
                    file.limits.body_read_timeout_secs = num("limits.body_read_timeout_secs")?
                }
                "LIMITS_MAX_CONNECTIONS" => {
                    file.limits.max_connections = num("limits.max_connections")? as usize
                }
                "LIMITS_MAX_CONNECTIONS_PER_CLIENT" => {
                    file.limits.max_connections_per_client =
                        num("limits.max_connections_per_client")? as usize
                }
                "TLS_MODE" => file.tls.mode = v.clone(),
                "TLS_CERT_FILE" => file.tls.cert_file = Some(v.clone()),
                "TLS_KEY_FILE" => file.tls.key_file = Some(v.clone()),
                "TLS_CA_FILE" => file.tls.ca_file = Some(v.clone()),
                _ => bail!(
                    "{k}: unknown setting (known: ENTENTE_PARTNER, ENTENTE_LISTEN, ENTENTE_PUBLIC_URL, ENTENTE_TIME_ZONE, ENTENTE_MALWARE_SCAN, ENTENTE_DATABASE_URL, ENTENTE_SYNC_INTERVAL_SECS, ENTENTE_SYNC_PAGE_SIZE, ENTENTE_SYNC_ON_START, ENTENTE_LIMITS_MAX_BODY_BYTES, ENTENTE_LIMITS_HEADER_READ_TIMEOUT_SECS, ENTENTE_LIMITS_USER_REQUESTS_PER_MINUTE, ENTENTE_LIMITS_PEER_REQUESTS_PER_MINUTE, ENTENTE_LIMITS_LOGINS_PER_MINUTE, ENTENTE_LIMITS_BODY_READ_TIMEOUT_SECS, ENTENTE_LIMITS_MAX_CONNECTIONS, ENTENTE_LIMITS_MAX_CONNECTIONS_PER_CLIENT, ENTENTE_TLS_MODE, ENTENTE_TLS_CERT_FILE, ENTENTE_TLS_KEY_FILE, ENTENTE_TLS_CA_FILE)"
                ),
            }
        }
        Self::from_file(dir, file)
    }

    pub fn from_file(dir: &Path, f: FileConfig) -> Result<ServerConfig> {
        let partner = PartnerCode::parse(&f.partner).map_err(|e| anyhow!("partner: {e}"))?;
        let listen: SocketAddr = f.listen.parse().map_err(|_| {
            anyhow!(
                "listen: {:?} is not an address like 127.0.0.1:7401",
                f.listen
            )
        })?;
        if !(f.public_url.starts_with("http://") || f.public_url.starts_with("https://")) {
            bail!(
                "public_url: {:?} must start with http:// or https://",
                f.public_url
            );
        }
        let database = if let Some(p) = f.database.url.strip_prefix("sqlite://") {
            let p = Path::new(p);
            Database::Sqlite(if p.is_absolute() {
                p.to_owned()
            } else {
                dir.join(p)
            })
        } else if f.database.url.starts_with("postgres://")
            || f.database.url.starts_with("postgresql://")
        {
            Database::Postgres(f.database.url.clone())
        } else {
            bail!(
                "database.url: {:?} is not supported (use sqlite://FILE or postgres://USER@HOST:PORT/DATABASE)",
                f.database.url
            );
        };
        if f.sync.interval_secs == 0 {
            bail!("sync.interval_secs: must be at least 1");
        }
        if !(1..=10_000).contains(&f.sync.page_size) {
            bail!("sync.page_size: must be 1 to 10000");
        }
        if !(1..=64).contains(&f.sync.pages_in_flight) {
            bail!("sync.pages_in_flight: must be 1 to 64");
        }
        if f.limits.max_body_bytes < 1024 {
            bail!("limits.max_body_bytes: must be at least 1024");
        }
        if !(1..=entente_domain::attachment::MAX_BYTES).contains(&f.limits.attachment_max_bytes) {
            bail!(
                "limits.attachment_max_bytes: must be 1 to {}",
                entente_domain::attachment::MAX_BYTES
            );
        }
        if !(1..=600).contains(&f.limits.header_read_timeout_secs) {
            bail!("limits.header_read_timeout_secs: must be 1 to 600");
        }
        if !(1..=600).contains(&f.limits.body_read_timeout_secs) {
            bail!("limits.body_read_timeout_secs: must be 1 to 600");
        }
        if f.limits.max_connections == 0 || f.limits.max_connections_per_client == 0 {
            bail!(
                "limits.max_connections and limits.max_connections_per_client: must be at least 1"
            );
        }
        let file_path = |key: &str, v: &Option<String>| -> Result<Option<PathBuf>> {
            match v.as_deref().map(str::trim) {
                None => Ok(None),
                Some("") => bail!("{key}: empty path"),
                Some(p) => {
                    let p = Path::new(p);
                    Ok(Some(if p.is_absolute() {
                        p.to_owned()
                    } else {
                        dir.join(p)
                    }))
                }
            }
        };
        let tls = match f.tls.mode.as_str() {
            "pinned" => TlsMode::Pinned,
            "ca" => TlsMode::Ca {
                cert_file: file_path("tls.cert_file", &f.tls.cert_file)?
                    .ok_or_else(|| anyhow!("tls.cert_file: required when tls.mode = \"ca\""))?,
                key_file: file_path("tls.key_file", &f.tls.key_file)?
                    .ok_or_else(|| anyhow!("tls.key_file: required when tls.mode = \"ca\""))?,
            },
            "off" => {
                if !listen.ip().is_loopback() {
                    bail!(
                        "tls.mode = \"off\" is for development on loopback only; listen = \"{listen}\" is not a loopback address"
                    );
                }
                TlsMode::Off
            }
            other => bail!("tls.mode: {other:?} is not one of \"pinned\", \"ca\", \"off\""),
        };
        let want = if tls == TlsMode::Off {
            "http://"
        } else {
            "https://"
        };
        if !f.public_url.starts_with(want) {
            bail!(
                "public_url: {:?} must start with {want} when tls.mode = {:?}",
                f.public_url,
                f.tls.mode
            );
        }
        let peer_ca_file = file_path("tls.ca_file", &f.tls.ca_file)?;
        let mut node = NodeConfig::new(partner, f.public_url.trim_end_matches('/'), dir.to_owned());
        node.transport.allow_plain_loopback = tls == TlsMode::Off;
        node.sync.interval = Duration::from_secs(f.sync.interval_secs);
        node.sync.page_size = f.sync.page_size;
        node.sync.pages_in_flight = f.sync.pages_in_flight;
        node.sync.on_start = f.sync.on_start;
        node.max_body_bytes = f.limits.max_body_bytes;
        node.attachment_max_bytes = f.limits.attachment_max_bytes;
        if let Some(c) = &f.malware_scan {
            node.malware_scan =
                Some(entente_node::config::Clamd::parse(c.trim()).map_err(|e| anyhow!("{e}"))?);
        }
        if let Some(z) = &f.time_zone {
            entente_node::zone::check(z).map_err(|e| anyhow!("{e}"))?;
            node.time_zone = z.clone();
        }
        if let Some(o) = &f.oidc {
            node.oidc = Some(oidc_settings(
                o,
                &node.public_url,
                tls == TlsMode::Off,
                dir,
            )?);
        }
        if let Some(n) = &f.notify {
            node.notify = Some(crate::notify_config::settings(n, dir)?);
        }
        node.rate_limits = entente_node::config::RateLimits {
            user_per_minute: f.limits.user_requests_per_minute,
            peer_per_minute: f.limits.peer_requests_per_minute,
            login_per_minute: f.limits.logins_per_minute,
            login_per_address_per_minute: f.limits.logins_per_address_per_minute,
        };
        Ok(ServerConfig {
            node,
            listen,
            database,
            http: crate::HttpLimits {
                header_read_timeout: Duration::from_secs(f.limits.header_read_timeout_secs),
                body_read_timeout: Duration::from_secs(f.limits.body_read_timeout_secs),
                max_connections: f.limits.max_connections,
                max_connections_per_client: f.limits.max_connections_per_client,
            },
            tls,
            peer_ca_file,
        })
    }

    /// Write settings back (used by the demo and the bench to tune generated nodes).
    pub fn rewrite(dir: &Path, edit: impl FnOnce(&mut FileConfig)) -> Result<()> {
        let path = dir.join(crate::CONFIG_FILE);
        let mut f: FileConfig = toml::from_str(&std::fs::read_to_string(&path)?)
            .map_err(|e| anyhow!("{}: {}", path.display(), e.message()))?;
        edit(&mut f);
        std::fs::write(&path, toml::to_string_pretty(&f)?)?;
        Ok(())
    }
}

/// `[oidc]` validated, the URLs and the CA file checked, so a bad one stops `serve` with the
/// key at fault instead of turning single sign-on off quietly.
fn oidc_settings(
    o: &OidcFile,
    public_url: &str,
    dev_plain: bool,
    dir: &Path,
) -> Result<entente_oidc::Settings> {
    use entente_domain::Role;
    if o.issuer.trim().is_empty() || o.client_id.trim().is_empty() {
        bail!("oidc.issuer and oidc.client_id: required");
    }
    let in_dir = |key: &str, p: &str| -> Result<PathBuf> {
        let p = p.trim();
        if p.is_empty() {
            bail!("{key}: empty path");
        }
        let p = Path::new(p);
        Ok(if p.is_absolute() {
            p.to_owned()
        } else {
            dir.join(p)
        })
    };
    let secret_path = in_dir("oidc.client_secret_file", &o.client_secret_file)?;
    let client_secret = std::fs::read_to_string(&secret_path)
        .with_context(|| {
            format!(
                "oidc.client_secret_file: cannot read {}",
                secret_path.display()
            )
        })?
        .trim()
        .to_owned();
    if client_secret.is_empty() {
        bail!(
            "oidc.client_secret_file: {} is empty",
            secret_path.display()
        );
    }
    let mut roles = vec![];
    for (name, groups) in &o.roles {
        let role = Role::parse(name).map_err(|_| {
            anyhow!("oidc.roles: {name:?} is not a role (reader, analyst, officer, admin)")
        })?;
        if groups.iter().any(|g| g.trim().is_empty()) {
            bail!("oidc.roles.{name}: an empty group name");
        }
        roles.push((role, groups.clone()));
    }
    if roles.iter().all(|(_, g)| g.is_empty()) {
        bail!("oidc.roles: map at least one provider group to a role, e.g. reader = [\"staff\"]");
    }
    if !o.scopes.iter().any(|s| s == "openid") {
        bail!("oidc.scopes: must include \"openid\"");
    }
    let settings = entente_oidc::Settings {
        issuer: o.issuer.trim().to_owned(),
        client_id: o.client_id.trim().to_owned(),
        client_secret,
        redirect_url: format!("{public_url}/ui/login/sso/callback"),
        scopes: o.scopes.clone(),
        username_claim: o.username_claim.clone(),
        roles_claim: o.roles_claim.clone(),
        roles,
        label: o.label.clone(),
        ca_file: o
            .ca_file
            .as_deref()
            .map(|p| in_dir("oidc.ca_file", p))
            .transpose()?,
        allow_plain_loopback: dev_plain,
        clock_skew: Duration::from_secs(60),
    };
    settings.check().map_err(|e| anyhow!("oidc: {e}"))?;
    Ok(settings)
}
