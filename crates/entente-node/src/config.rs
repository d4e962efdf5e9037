//! A node's validated settings. Parsing files and environment happens in the server crate;
//! this struct is what gets passed in, so several nodes can run in one process.

use entente_domain::PartnerCode;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub partner: PartnerCode,
    /// The URL peers use to reach this node (for display and demo.json).
    pub public_url: String,
    pub data_dir: PathBuf,
    pub sync: SyncConfig,
    /// The largest request body the API accepts.
    pub max_body_bytes: usize,
    /// How long a password-login session token lives.
    pub session_ttl: Duration,
    /// How long an API token lives (M5: every token expires); zero: no expiry.
    pub api_token_ttl: Duration,
    pub rate_limits: RateLimits,
    /// How the federation client reaches peers (TLS identity, CA, development mode).
    pub transport: crate::transport::Transport,
    /// Sign-in through the partner's identity provider (OpenID Connect); local accounts keep
    /// working beside it (break-glass).
    pub oidc: Option<entente_oidc::Settings>,
    /// The IANA time zone the UI shows times in for users who have not chosen one (the
    /// partner's seat: `Europe/Brussels`, `Asia/Tokyo`); UTC is always shown beside it.
    pub time_zone: String,
    /// E-mail and webhook notifications (absent: none are sent).
    pub notify: Option<NotifySettings>,
    /// The search indexer's pause between commits under a steady write load (each commit costs
    /// file syncs; searches see writes within this delay). Someone waiting for the index
    /// (`Node::search_settled`) cuts it short. The performance guard sets it long, so the
    /// number of commits it counts depends on its workload, not on the machine's speed.
    pub search_commit_pause: Duration,
    /// Also end the pause once this many entries wait in the indexer's queue (0: only the
    /// pause counts). The performance guard uses it with a long pause, so its commits fall at the
    /// same points of its workload on any machine.
    pub search_commit_entries: u64,
    /// The largest attachment this node takes, uploaded by its users or fetched from a peer
    /// (a larger file referenced by a peer's item is listed but not fetched).
    pub attachment_max_bytes: u64,
    /// ClamAV's `clamd`, to scan every file before it is accepted (uploaded here or received
    /// from a peer); absent: files are not scanned. When set, a file the scanner cannot scan
    /// is not accepted (fail closed).
    pub malware_scan: Option<Clamd>,
}

/// Requests per minute; 0 turns a limit off. A bucket holds ten seconds' worth for bursts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Per user, over all their tokens and sessions (REST, TAXII, UI).
    pub user_per_minute: u32,
    /// Per peer, over its signed federation requests.
    pub peer_per_minute: u32,
    /// Password logins per user name and client address (guessing a password from one place
    /// costs this many per minute; it does not lock the user out from anywhere else).
    pub login_per_minute: u32,
    /// Password logins per client address over all user names (a flood of made-up names
    /// costs its sender, not the node's CPU).
    pub login_per_address_per_minute: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            user_per_minute: 1200,
            peer_per_minute: 6000,
            login_per_minute: 60,
            login_per_address_per_minute: 300,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Periodic pull from every peer, besides pulls woken by push notifications.
    pub interval: Duration,
    /// Entries per sync page.
    pub page_size: u32,
    /// Page requests kept in flight per log while catching up: over a long round trip one page
    /// at a time leaves the link idle most of the time.
    pub pages_in_flight: usize,
    /// Accepted clock difference on signed federation requests.
    pub max_clock_skew: Duration,
    /// Timeout of one federation HTTP request.
    pub request_timeout: Duration,
    /// Pull from every peer as soon as the node starts (otherwise after the first interval).
    pub on_start: bool,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            interval: Duration::from_secs(10),
            page_size: 2000,
            pages_in_flight: 8,
            // The replay cache remembers every nonce for this long (`crate::replay`).
            max_clock_skew: Duration::from_secs(120),
            request_timeout: Duration::from_secs(30),
            on_start: true,
        }
    }
}

impl NodeConfig {
    pub fn new(
        partner: PartnerCode,
        public_url: impl Into<String>,
        data_dir: PathBuf,
    ) -> NodeConfig {
        NodeConfig {
            partner,
            public_url: public_url.into(),
            data_dir,
            sync: SyncConfig::default(),
            max_body_bytes: 1024 * 1024,
            session_ttl: Duration::from_secs(12 * 3600),
            api_token_ttl: Duration::from_secs(90 * 24 * 3600),
            rate_limits: RateLimits::default(),
            transport: Default::default(),
            oidc: None,
            time_zone: "UTC".into(),
            notify: None,
            search_commit_pause: Duration::from_millis(200),
            search_commit_entries: 0,
            attachment_max_bytes: 100 << 20,
            malware_scan: None,
        }
    }
}

/// The kinds of notification a user can choose for, with their default.
pub const NOTIFY_KINDS: [(&str, &str); 5] = [
    ("alert", "immediately"),
    ("stance", "immediately"),
    ("mention", "immediately"),
    ("reply", "digest"),
    ("milestone", "digest"),
];

/// How a user receives a kind of notification.
pub const NOTIFY_MODES: [&str; 3] = ["immediately", "digest", "off"];

/// The node's notification settings (`[notify]` in `entente.toml`, validated by the server;
/// used by `notify`).
#[derive(Debug, Clone, Default)]
pub struct NotifySettings {
    /// The mail relay; without it no e-mail is sent (webhooks still are).
    pub smtp: Option<Smtp>,
    /// The partner's 24/7 duty contact: receives every crisis alert and every escalation.
    pub duty_email: Vec<String>,
    pub webhooks: Vec<Webhook>,
    /// The hour (UTC) the daily digests go out.
    pub digest_hour_utc: u8,
    /// At most one e-mail per address in this time: what falls due meanwhile goes out together
    /// when it has passed (zero: no pacing).
    pub email_min_interval: time::Duration,
}

/// Debug prints everything but the password (settings end up in logs).
#[derive(Clone)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    /// Upgrade every connection with STARTTLS and refuse a relay that cannot; off only for a
    /// relay on this machine (the server's validation enforces it).
    pub starttls: bool,
    pub from: String,
    /// CA certificates (PEM) trusted for the relay besides the system's.
    pub ca_pem: Option<Vec<u8>>,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for Smtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smtp")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("starttls", &self.starttls)
            .field("from", &self.from)
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "…"))
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "(redacted)"))
            .finish()
    }
}

/// A webhook: every notification for the partner (alerts and escalations) is POSTed to it as
/// JSON, signed with HMAC-SHA256 over the body under its secret.
#[derive(Clone)]
pub struct Webhook {
    pub url: String,
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Where `clamd` listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clamd {
    Tcp(String),
    Unix(std::path::PathBuf),
}

impl Clamd {
    /// `tcp:HOST:PORT` or `unix:/path/to/clamd.ctl`.
    pub fn parse(s: &str) -> Result<Clamd, entente_domain::DomainError> {
        let bad = |why: &str| {
            entente_domain::DomainError::invalid("malware_scan", format!("{s:?}: {why}"))
        };
        if let Some(a) = s.strip_prefix("tcp:") {
            let ok = a
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !ok {
                return Err(bad("expected tcp:HOST:PORT"));
            }
            Ok(Clamd::Tcp(a.to_owned()))
        } else if let Some(p) = s.strip_prefix("unix:") {
            if !p.starts_with('/') {
                return Err(bad("expected unix:/absolute/path"));
            }
            Ok(Clamd::Unix(std::path::PathBuf::from(p)))
        } else {
            Err(bad("expected tcp:HOST:PORT or unix:/path/to/clamd.ctl"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            Clamd::parse("tcp:127.0.0.1:3310").unwrap(),
            Clamd::Tcp("127.0.0.1:3310".into())
        );
        assert_eq!(
            Clamd::parse("unix:/run/clamav/clamd.ctl").unwrap(),
            Clamd::Unix("/run/clamav/clamd.ctl".into())
        );
        for bad in [
            "127.0.0.1:3310",
            "tcp:host",
            "tcp::1",
            "unix:relative",
            "tcp:h:0",
        ] {
            assert!(Clamd::parse(bad).is_err(), "{bad}");
        }
    }
}
