//! The `entente` command line: every subcommand and flag (clap). What each does is in
//! `main.rs`, which calls the server library.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "entente",
    version,
    about = "Federated security cooperation between sovereign partners"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) cmd: Cmd,
}

#[derive(Debug, Args)]
pub(crate) struct DirArg {
    /// The node's data directory.
    #[arg(long, env = "ENTENTE_DIR", default_value = "entente-data")]
    pub(crate) dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Cmd {
    /// Run three peered demo nodes (EU, NATO, JPN) on 127.0.0.1 until Ctrl-C.
    Demo {
        #[arg(long, default_value_t = 7401)]
        base_port: u16,
        #[arg(long, default_value = "entente-demo")]
        dir: PathBuf,
    },
    /// Create a node: key, configuration and database.
    Init {
        #[command(flatten)]
        dir: DirArg,
        /// This node's partner code (EU, NATO, JPN, …).
        #[arg(long)]
        partner: String,
        #[arg(long, default_value = "127.0.0.1:7401")]
        listen: SocketAddr,
        /// The URL peers reach this node at (default https://LISTEN).
        #[arg(long)]
        public_url: Option<String>,
        /// Development only: serve plain HTTP (listen on loopback only) and dial plain
        /// http:// peers on loopback. Never for a node that talks to other hosts.
        #[arg(long)]
        dev_plain_http: bool,
        /// Join by invitation (repeat for several inviters): pins each inviter and writes the
        /// answer to send back beside each file (NAME.answer.json).
        #[arg(long = "from-invitation")]
        from_invitation: Vec<PathBuf>,
    },
    /// Invite a new partner's node: writes a signed invitation file to send its operator.
    Invite {
        #[command(flatten)]
        dir: DirArg,
        /// The new partner's code (KOR, AUS, NZL, …).
        #[arg(long)]
        partner: String,
        #[arg(long, default_value_t = 72)]
        valid_hours: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Serve the node's API and federation endpoints and sync with peers.
    Serve {
        #[command(flatten)]
        dir: DirArg,
        /// Log as JSON lines.
        #[arg(long)]
        log_json: bool,
    },
    /// Rebuild the full-text search index from the store (stop `serve` first).
    Reindex {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Show this node's partner, URL and public key (to give to peers).
    Id {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Manage pinned peers.
    Peer {
        #[command(subcommand)]
        cmd: PeerCmd,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// Pull from every peer.
    Sync {
        #[command(flatten)]
        dir: DirArg,
        /// Pull once and exit (the only mode; `serve` syncs continuously).
        #[arg(long)]
        once: bool,
    },
    /// Check every stored log: signatures, chains, heads and fork evidence. Exits 1 on any problem.
    /// With --statement, check an exported statement offline against this node's pinned keys.
    Verify {
        #[command(flatten)]
        dir: DirArg,
        /// An exported adopted statement (JSON) to check instead of the logs.
        #[arg(long)]
        statement: Option<PathBuf>,
        /// Check the local audit log's hash chain instead of the logs.
        #[arg(long, conflicts_with = "statement")]
        audit: bool,
    },
    /// Import a STIX 2.1 bundle into a format's collection (batched, durable).
    Import {
        #[command(flatten)]
        dir: DirArg,
        /// Format id or collection alias.
        #[arg(long)]
        format: String,
        /// The local user the import is published as.
        #[arg(long, default_value = "admin")]
        user: String,
        /// Objects per durable batch (each is validated and committed as a whole).
        #[arg(long, default_value_t = 25000)]
        batch: usize,
        /// The file is a MISP event (JSON), not a STIX bundle.
        #[arg(long)]
        misp: bool,
        /// The file is a MISP galaxy cluster file (e.g. DISARM techniques): imported as attack
        /// patterns, TLP:CLEAR, released to every member of the format.
        #[arg(long, conflicts_with = "misp")]
        galaxy: bool,
        /// MISP sharing groups export, to resolve the event's sharing group.
        #[arg(long)]
        sharing_groups: Option<PathBuf>,
        /// MISP organisation name or uuid → partner code, e.g. --org-map CIRCL=EU (repeatable).
        #[arg(long, value_parser = parse_org_map)]
        org_map: Vec<(String, String)>,
        file: PathBuf,
    },
    /// Export a format's collection as a STIX 2.1 bundle.
    Export {
        #[command(flatten)]
        dir: DirArg,
        #[arg(long)]
        format: String,
        #[arg(long, default_value = "admin")]
        user: String,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Export as one MISP event (JSON) instead of a STIX bundle.
        #[arg(long)]
        misp: bool,
    },
    /// Call this node's REST API as a local user, e.g.
    /// `entente api GET /api/v1/alerts` or `entente api POST /api/v1/actions --data '{…}'`.
    /// Prints the JSON answer; exits 1 on an error status.
    Api {
        #[command(flatten)]
        dir: DirArg,
        #[arg(long, default_value = "admin")]
        user: String,
        method: String,
        path: String,
        /// A JSON body.
        #[arg(long)]
        data: Option<String>,
    },
    /// Write a consistent snapshot of the node's store (the node may keep running).
    Backup {
        #[command(flatten)]
        dir: DirArg,
        #[arg(long)]
        out: PathBuf,
    },
    /// Replace a stopped node's store with a backup of the same partner; then run `verify`.
    Restore {
        #[command(flatten)]
        dir: DirArg,
        #[arg(long)]
        from: PathBuf,
    },
    /// Check the configuration (file plus ENTENTE_* overrides), key, database and listen address.
    Config {
        #[command(subcommand)]
        cmd: ConfigCmd,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCmd {
    /// Validate everything `serve` needs; one clear line on the first problem.
    Check {
        #[command(flatten)]
        dir: DirArg,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum PeerCmd {
    /// Pin a peer's key (and its URL for direct sync).
    Add {
        #[command(flatten)]
        dir: DirArg,
        #[arg(long)]
        partner: String,
        /// Hex Ed25519 public key, from `entente id` on the peer.
        #[arg(long)]
        key: String,
        /// Base URL; omit to pin a key only (for logs forwarded by others).
        #[arg(long)]
        url: Option<String>,
    },
    List {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Stop federating with a peer (neither called nor answered); its logs stay verifiable.
    Suspend {
        #[command(flatten)]
        dir: DirArg,
        partner: String,
    },
    /// Federate with a suspended (or removed) peer again.
    Resume {
        #[command(flatten)]
        dir: DirArg,
        partner: String,
    },
    /// Remove a peer: no longer a partner of this node; its key stays so its logs verify.
    Remove {
        #[command(flatten)]
        dir: DirArg,
        partner: String,
    },
    /// Accept an invitation file (pins the inviter, writes the answer beside the file) or the
    /// answer to one of this node's invitations (pins the new partner).
    Accept {
        #[command(flatten)]
        dir: DirArg,
        /// The invitation or answer file.
        file: PathBuf,
        /// The fingerprint the other operator read aloud (answers only): refused unless equal.
        #[arg(long)]
        fingerprint: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum UserCmd {
    Add {
        #[command(flatten)]
        dir: DirArg,
        #[arg(long)]
        username: String,
        /// admin, officer, analyst or reader.
        #[arg(long, default_value = "analyst")]
        role: String,
        /// The password (visible to other local users in `ps`: prefer --password-file or
        /// ENTENTE_PASSWORD); if none is given, one is generated and printed.
        #[arg(long, env = "ENTENTE_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Read the password from the first line of FILE (`-`: standard input).
        #[arg(long, value_name = "FILE", conflicts_with = "password")]
        password_file: Option<PathBuf>,
    },
    /// List users, their roles and whether they are disabled.
    List {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Disable a user: its sessions and tokens stop working at once and it cannot log in.
    Disable {
        #[command(flatten)]
        dir: DirArg,
        username: String,
    },
    /// Enable a disabled user again.
    Enable {
        #[command(flatten)]
        dir: DirArg,
        username: String,
    },
    /// Give a user another role (admin, officer, analyst, reader).
    SetRole {
        #[command(flatten)]
        dir: DirArg,
        username: String,
        role: String,
    },
    /// Delete a user and all its tokens and sessions.
    Delete {
        #[command(flatten)]
        dir: DirArg,
        username: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCmd {
    Create {
        #[command(flatten)]
        dir: DirArg,
        #[arg(long)]
        username: String,
        #[arg(long, default_value = "cli")]
        label: String,
        /// `write` (everything the user's role allows) or `read` (GET requests only).
        #[arg(long, default_value = "write", value_parser = ["read", "write"])]
        scope: String,
    },
    /// List tokens and sessions (ids, owners, labels, expiry; never secrets).
    List {
        #[command(flatten)]
        dir: DirArg,
        /// Only this user's.
        #[arg(long)]
        username: Option<String>,
    },
    /// Revoke a token or end a session by its id (from `token list`).
    Revoke {
        #[command(flatten)]
        dir: DirArg,
        id: String,
    },
}

pub(crate) fn parse_org_map(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .ok_or_else(|| "use ORG=PARTNER".to_owned())
}
