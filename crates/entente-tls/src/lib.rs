//! TLS for Entente nodes, with rustls only: the node's TLS identity bound to its Ed25519 node
//! key, the rustls configurations of the listener and of the federation client, and the
//! verifiers that accept a peer only when its certificate is bound to the node key pinned for
//! it. Owns no sockets and no node state (pinned keys come in through [`PinnedKeys`]).
//!
//! Why a binding and not an Ed25519 certificate: browsers do not accept Ed25519 server
//! certificates, and the UI shares the listener with federation. So every node has one ECDSA
//! P-256 TLS key (`tls.key`), and its certificate carries, as a URI subject alternative name,
//! the node key's signature over the TLS key:
//! `urn:entente:tls-binding:v1:{partner}:{node key hex}:{signature hex}` where the signature
//! is over `entente-tls-binding-v1\n{partner}\n` ‖ SHA-256(SubjectPublicKeyInfo DER). A peer
//! that pinned the node key (`peer add --key`) therefore pins the TLS channel too: no CA, no
//! trust on first use, and the certificate's issuer, names and dates do not matter.

mod verify;

pub use verify::{PeerClientVerifier, PeerServerVerifier, PinMismatch};

use entente_log::{NodeKey, PublicKey};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

/// The prefix of the binding's URI subject alternative name.
pub const BINDING_PREFIX: &str = "urn:entente:tls-binding:v1:";
/// ALPN protocol a federation client offers first: the listener asks it (and only it) for a
/// client certificate, so browsers are never prompted for one.
pub const ALPN_FEDERATION: &[u8] = b"entente-fed/1";
const ALPN_HTTP1: &[u8] = b"http/1.1";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("TLS key: {0}")]
    Key(String),
    #[error("TLS certificate: {0}")]
    Cert(String),
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// The one crypto provider of the process, passed explicitly (never installed globally, so
/// several nodes and tests in one process do not depend on who installed what first).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A fresh ECDSA P-256 TLS key, as PKCS#8 PEM (the content of `tls.key`).
pub fn generate_key_pem() -> Result<String, TlsError> {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| TlsError::Key(e.to_string()))?;
    Ok(kp.serialize_pem())
}

/// The message the node key signs to bind a TLS key to a partner.
fn binding_message(partner: &str, spki_der: &[u8]) -> Vec<u8> {
    let mut m = format!("entente-tls-binding-v1\n{partner}\n").into_bytes();
    m.extend_from_slice(&Sha256::digest(spki_der));
    m
}

/// The node's TLS identity: a certificate for its P-256 TLS key, bound to its node key.
#[derive(Debug, Clone)]
pub struct Identity {
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
    cert_pem: String,
    spki_sha256: [u8; 32],
}

impl Identity {
    /// Build the identity certificate (self-signed, with the binding and the names browsers
    /// check: `names` are host names or IP addresses).
    pub fn new(
        node_key: &NodeKey,
        partner: &str,
        tls_key_pem: &str,
        names: &[String],
    ) -> Result<Identity, TlsError> {
        let kp = rcgen::KeyPair::from_pem(tls_key_pem).map_err(|e| TlsError::Key(e.to_string()))?;
        use rcgen::PublicKeyData;
        let spki = kp.subject_public_key_info();
        let sig = node_key.sign(&binding_message(partner, &spki));
        let uri = format!(
            "{BINDING_PREFIX}{partner}:{}:{}",
            node_key.public().to_hex(),
            hex::encode(sig)
        );
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("Entente node {partner}"));
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, partner.to_owned());
        let mut sans = vec![rcgen::SanType::URI(
            uri.try_into()
                .map_err(|e: rcgen::Error| TlsError::Cert(e.to_string()))?,
        )];
        let mut seen = std::collections::BTreeSet::new();
        for n in names {
            let n = n.trim().trim_start_matches('[').trim_end_matches(']');
            if n.is_empty() || !seen.insert(n.to_owned()) {
                continue;
            }
            sans.push(match n.parse::<IpAddr>() {
                Ok(ip) => rcgen::SanType::IpAddress(ip),
                Err(_) => rcgen::SanType::DnsName(
                    n.to_owned()
                        .try_into()
                        .map_err(|e: rcgen::Error| TlsError::Cert(format!("name {n:?}: {e}")))?,
                ),
            });
        }
        params.subject_alt_names = sans;
        // Dates do not matter to peers (the binding is the trust), but browsers shown the
        // certificate by an operator want a plausible window.
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(397);
        params.is_ca = rcgen::IsCa::ExplicitNoCa;
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params
            .self_signed(&kp)
            .map_err(|e| TlsError::Cert(e.to_string()))?;
        Ok(Identity {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone().into_owned(),
            key_der: kp.serialize_der(),
            spki_sha256: Sha256::digest(&spki).into(),
        })
    }

    /// The identity from a certificate made earlier (`tls.crt`), if it is for this TLS key and
    /// bound to this partner and node key; otherwise a new one ([`Identity::new`]). Keeping
    /// the certificate across restarts keeps what browsers and curl were told to trust.
    pub fn reuse_or_new(
        node_key: &NodeKey,
        partner: &str,
        tls_key_pem: &str,
        names: &[String],
        existing_cert_pem: Option<&str>,
    ) -> Result<Identity, TlsError> {
        if let Some(pem) = existing_cert_pem
            && let Ok(der) = CertificateDer::from_pem_slice(pem.as_bytes())
            && let Ok((p, k)) = binding_of(&der)
            && p == partner
            && k == node_key.public()
        {
            use rcgen::PublicKeyData;
            let kp =
                rcgen::KeyPair::from_pem(tls_key_pem).map_err(|e| TlsError::Key(e.to_string()))?;
            let spki = kp.subject_public_key_info();
            let same_key = x509_parser::parse_x509_certificate(&der)
                .is_ok_and(|(_, c)| c.public_key().raw == spki.as_slice());
            if same_key {
                return Ok(Identity {
                    cert_pem: pem.to_owned(),
                    cert_der: der.into_owned(),
                    key_der: kp.serialize_der(),
                    spki_sha256: Sha256::digest(&spki).into(),
                });
            }
        }
        Identity::new(node_key, partner, tls_key_pem, names)
    }

    /// The certificate in PEM (written to `tls.crt` for operators: `curl --cacert`).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// SHA-256 of the TLS key's SubjectPublicKeyInfo, base64: what Chromium's
    /// `--ignore-certificate-errors-spki-list` and curl's `--pinnedpubkey sha256//…` take.
    pub fn spki_pin(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(self.spki_sha256)
    }

    /// SHA-256 of the TLS key's SubjectPublicKeyInfo, hex.
    pub fn spki_sha256_hex(&self) -> String {
        hex::encode(self.spki_sha256)
    }

    fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.cert_der.clone()]
    }

    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

/// The partner and node key a certificate is bound to, if its binding verifies.
pub fn binding_of(cert_der: &[u8]) -> Result<(String, PublicKey), PinMismatch> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(cert_der)
        .map_err(|_| PinMismatch::new("the certificate does not parse"))?;
    let spki = cert.public_key().raw;
    let san = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .ok_or_else(|| PinMismatch::new("the certificate carries no Entente binding"))?;
    for name in &san.value.general_names {
        let GeneralName::URI(uri) = name else {
            continue;
        };
        let Some(rest) = uri.strip_prefix(BINDING_PREFIX) else {
            continue;
        };
        let mut parts = rest.splitn(3, ':');
        let (Some(partner), Some(key), Some(sig)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(PinMismatch::new("malformed Entente binding"));
        };
        let key = PublicKey::parse_hex(key)
            .map_err(|_| PinMismatch::new("malformed node key in the binding"))?;
        let sig: [u8; 64] = hex::decode(sig)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| PinMismatch::new("malformed binding signature"))?;
        if !key.verify(&binding_message(partner, spki), &sig) {
            return Err(PinMismatch::new(
                "the binding signature does not verify over the certificate's key",
            ));
        }
        return Ok((partner.to_owned(), key));
    }
    Err(PinMismatch::new(
        "the certificate carries no Entente binding",
    ))
}

/// Where the listener finds the keys of pinned peers (the node's peer table), read at each
/// handshake so a peer pinned at run time is accepted at once.
pub trait PinnedKeys: Send + Sync + std::fmt::Debug {
    fn pinned_key(&self, partner: &str) -> Option<PublicKey>;
}

/// Certificates and key from PEM files (CA mode: a partner's own PKI or a public certificate).
pub fn load_cert_files(
    cert_file: &Path,
    key_file: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let file_err = |p: &Path, e: &dyn std::fmt::Display| TlsError::File {
        path: p.display().to_string(),
        reason: e.to_string(),
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| file_err(cert_file, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(cert_file, &e))?;
    if chain.is_empty() {
        return Err(file_err(cert_file, &"no certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| file_err(key_file, &e))?;
    Ok((chain, key))
}

/// A root store from a PEM file of CA certificates (the peers' CA in CA mode).
pub fn load_ca_file(path: &Path) -> Result<Arc<rustls::RootCertStore>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(path).map_err(|e| TlsError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })? {
        let c = c.map_err(|e| TlsError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        roots.add(c).map_err(|e| TlsError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    }
    if roots.is_empty() {
        return Err(TlsError::File {
            path: path.display().to_string(),
            reason: "no CA certificate in the file".into(),
        });
    }
    Ok(Arc::new(roots))
}

/// The listener's two configurations: one for browsers and API clients (no client
/// certificate asked), one for federation clients (a client certificate bound to a pinned
/// peer's key is asked for and checked; see [`ALPN_FEDERATION`]).
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub web: Arc<rustls::ServerConfig>,
    pub federation: Arc<rustls::ServerConfig>,
}

impl ServerTls {
    /// `cert`: the node's identity (pinned mode) or a certificate chain and key from files
    /// (CA mode).
    pub fn new(
        cert: ServerCert,
        pinned: Arc<dyn PinnedKeys>,
        provider: Arc<CryptoProvider>,
    ) -> Result<ServerTls, TlsError> {
        let (chain, key) = match cert {
            ServerCert::Pinned(id) => (id.chain(), id.key()),
            ServerCert::Files { chain, key } => (chain, key),
        };
        let cfg_err = |e: rustls::Error| TlsError::Config(e.to_string());
        let mut web = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(cfg_err)?
            .with_no_client_auth()
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(cfg_err)?;
        web.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        let verifier = Arc::new(PeerClientVerifier::new(pinned, provider.clone()));
        let mut federation = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(cfg_err)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(cfg_err)?;
        federation.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        Ok(ServerTls {
            web: Arc::new(web),
            federation: Arc::new(federation),
        })
    }

    /// The configuration for a connection, chosen from its ClientHello's ALPN offer.
    pub fn for_alpn<'a>(
        &self,
        mut offered: impl Iterator<Item = &'a [u8]>,
    ) -> Arc<rustls::ServerConfig> {
        if offered.any(|p| p == ALPN_FEDERATION) {
            self.federation.clone()
        } else {
            self.web.clone()
        }
    }
}

/// What the listener presents.
#[derive(Debug)]
pub enum ServerCert {
    Pinned(Identity),
    Files {
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    },
}

/// The federation client's configuration for one peer: it presents this node's identity and
/// accepts the peer only if its certificate is bound to `peer_key` (or, when `ca` is given,
/// chains to that CA for the host name: a peer behind its partner's PKI).
pub fn client_config(
    identity: &Identity,
    peer_partner: &str,
    peer_key: PublicKey,
    ca: Option<Arc<rustls::RootCertStore>>,
    provider: Arc<CryptoProvider>,
) -> Result<rustls::ClientConfig, TlsError> {
    let verifier = PeerServerVerifier::new(peer_partner, peer_key, ca, provider.clone())?;
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(identity.chain(), identity.key())
        .map_err(|e| TlsError::Config(e.to_string()))?;
    cfg.alpn_protocols = vec![ALPN_FEDERATION.to_vec(), ALPN_HTTP1.to_vec()];
    Ok(cfg)
}

/// The partner a verified client certificate chain belongs to (federation connections).
pub fn client_partner(certs: &[CertificateDer<'_>]) -> Option<String> {
    certs
        .first()
        .and_then(|c| binding_of(c).ok())
        .map(|(p, _)| p)
}

#[cfg(test)]
mod tests;

/// A client configuration for tools and tests that talk to nodes (not for federation):
/// trusts exactly the given certificates (PEM, e.g. a demo node's `tls.crt`), nothing else.
/// With none it can still be used for plain `http://` on loopback.
pub fn client_trusting(cert_pems: &[&str]) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for pem in cert_pems {
        for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let c = c.map_err(|e| TlsError::Cert(e.to_string()))?;
            roots.add(c).map_err(|e| TlsError::Cert(e.to_string()))?;
        }
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(cfg)
}
