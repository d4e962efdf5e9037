//! The node's TLS material from its data directory and `[tls]` settings: the P-256 TLS key
//! (`tls.key`, 0600, made by `init`, or on first start for directories made before TLS), the
//! identity certificate bound to the node key (written to `tls.crt` when serving), CA-mode
//! files, and the federation client's transport settings.

use crate::ServerConfig;
use crate::config::TlsMode;
use anyhow::{Context, Result};
use entente_log::NodeKey;
use entente_node::Node;
use entente_node::transport::Transport;
use std::sync::Arc;

pub const TLS_KEY_FILE: &str = "tls.key";
pub const TLS_CERT_FILE: &str = "tls.crt";

/// The names the certificate is valid for: the public URL's host, the listen address when it
/// is a specific one, and the loopback names (for operators on the host itself).
fn names(cfg: &ServerConfig) -> Vec<String> {
    let mut names = vec![];
    if let Ok(u) = reqwest::Url::parse(&cfg.node.public_url)
        && let Some(h) = u.host_str()
    {
        names.push(h.to_owned());
    }
    if !cfg.listen.ip().is_unspecified() {
        names.push(cfg.listen.ip().to_string());
    }
    names.extend(["localhost".into(), "127.0.0.1".into(), "::1".into()]);
    names
}

/// The node's identity certificate, from `tls.key` (made if missing).
pub fn identity(cfg: &ServerConfig, key: &NodeKey) -> Result<entente_tls::Identity> {
    let path = cfg.node.data_dir.join(TLS_KEY_FILE);
    if !path.exists() {
        crate::write_secret(&path, &entente_tls::generate_key_pem()?)?;
    }
    let pem = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let existing = std::fs::read_to_string(cfg.node.data_dir.join(TLS_CERT_FILE)).ok();
    entente_tls::Identity::reuse_or_new(
        key,
        cfg.node.partner.as_str(),
        &pem,
        &names(cfg),
        existing.as_deref(),
    )
    .with_context(|| format!("{}", path.display()))
}

/// How the node's federation client reaches peers.
pub fn transport(cfg: &ServerConfig, key: &NodeKey) -> Result<Transport> {
    let peer_ca = match &cfg.peer_ca_file {
        Some(p) => Some(entente_tls::load_ca_file(p).context("tls.ca_file")?),
        None => None,
    };
    Ok(Transport {
        identity: Some(Arc::new(identity(cfg, key)?)),
        peer_ca,
        allow_plain_loopback: cfg.tls == TlsMode::Off,
    })
}

#[derive(Debug)]
struct NodePins(Arc<Node>);

impl entente_tls::PinnedKeys for NodePins {
    fn pinned_key(&self, partner: &str) -> Option<entente_log::PublicKey> {
        let p = entente_domain::PartnerCode::parse(partner).ok()?;
        // Only configured peers; this node's own key is not a peer key.
        if &p == self.0.partner() {
            return None;
        }
        self.0.peer(&p).map(|x| x.key)
    }
}

/// The listener's TLS configuration for a node in pinned mode (its own identity).
pub fn pinned_server_tls(node: &Arc<Node>) -> Result<entente_tls::ServerTls> {
    let id = node
        .config()
        .transport
        .identity
        .clone()
        .context("the node has no TLS identity")?;
    Ok(entente_tls::ServerTls::new(
        entente_tls::ServerCert::Pinned((*id).clone()),
        Arc::new(NodePins(node.clone())),
        entente_tls::provider(),
    )?)
}

/// The listener's TLS configuration (None in development mode). In pinned mode the node's
/// certificate is also written to `tls.crt`, for browsers and tools that trust it by file.
pub fn server_tls(cfg: &ServerConfig, node: &Arc<Node>) -> Result<Option<entente_tls::ServerTls>> {
    let (chain, key) = match &cfg.tls {
        TlsMode::Off => return Ok(None),
        TlsMode::Pinned => {
            let tls = pinned_server_tls(node)?;
            if let Some(id) = node.config().transport.identity.as_ref() {
                let crt = cfg.node.data_dir.join(TLS_CERT_FILE);
                if std::fs::read_to_string(&crt).ok().as_deref() != Some(id.cert_pem()) {
                    std::fs::write(&crt, id.cert_pem())
                        .with_context(|| format!("{}: cannot write", crt.display()))?;
                }
            }
            return Ok(Some(tls));
        }
        TlsMode::Ca {
            cert_file,
            key_file,
        } => entente_tls::load_cert_files(cert_file, key_file)?,
    };
    Ok(Some(entente_tls::ServerTls::new(
        entente_tls::ServerCert::Files { chain, key },
        Arc::new(NodePins(node.clone())),
        entente_tls::provider(),
    )?))
}
