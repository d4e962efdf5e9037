//! Handshakes in memory between the federation client and the listener configurations.

use super::*;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
struct Keys(Mutex<BTreeMap<String, PublicKey>>);

impl PinnedKeys for Keys {
    fn pinned_key(&self, partner: &str) -> Option<PublicKey> {
        self.0.lock().unwrap().get(partner).copied()
    }
}

struct Node {
    partner: &'static str,
    key: NodeKey,
    id: Identity,
}

fn node(partner: &'static str) -> Node {
    let key = NodeKey::generate().unwrap();
    let pem = generate_key_pem().unwrap();
    let id = Identity::new(
        &key,
        partner,
        &pem,
        &["localhost".into(), "127.0.0.1".into()],
    )
    .unwrap();
    Node { partner, key, id }
}

/// Drive a handshake to its end in memory; the first error of either side.
fn handshake(
    client: rustls::ClientConfig,
    server: Arc<rustls::ServerConfig>,
) -> Result<Option<String>, Error> {
    use rustls::{ClientConnection, ServerConnection};
    let mut c = ClientConnection::new(Arc::new(client), "localhost".try_into().unwrap())?;
    let mut s = ServerConnection::new(server)?;
    for _ in 0..20 {
        let mut buf = vec![];
        while c.wants_write() {
            c.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            s.read_tls(&mut &buf[..]).unwrap();
            s.process_new_packets()?;
        }
        let mut buf = vec![];
        while s.wants_write() {
            s.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            c.read_tls(&mut &buf[..]).unwrap();
            c.process_new_packets()?;
        }
        if !c.is_handshaking() && !s.is_handshaking() {
            return Ok(s.peer_certificates().and_then(client_partner));
        }
    }
    panic!("handshake did not finish");
}

use rustls::Error;

fn server(n: &Node, keys: Arc<Keys>) -> ServerTls {
    ServerTls::new(ServerCert::Pinned(n.id.clone()), keys, provider()).unwrap()
}

fn is_pin_mismatch(e: &Error) -> bool {
    matches!(e, Error::InvalidCertificate(rustls::CertificateError::Other(o)) if o.0.downcast_ref::<PinMismatch>().is_some())
}

#[test]
fn a_binding_names_its_partner_and_node_key() {
    let eu = node("EU");
    let der =
        rustls::pki_types::CertificateDer::from_pem_slice(eu.id.cert_pem().as_bytes()).unwrap();
    let (p, k) = binding_of(&der).unwrap();
    assert_eq!((p.as_str(), k), ("EU", eu.key.public()));
    // Base64 of 32 bytes: 44 characters ending in '='.
    assert_eq!(eu.id.spki_pin().len(), 44);
}

#[test]
fn mutual_tls_between_pinned_peers() {
    let (eu, jpn) = (node("EU"), node("JPN"));
    let keys = Arc::new(Keys::default());
    keys.0.lock().unwrap().insert("EU".into(), eu.key.public());
    let srv = server(&jpn, keys);
    let client = client_config(&eu.id, "JPN", jpn.key.public(), None, provider()).unwrap();
    assert_eq!(
        handshake(client, srv.federation.clone()).unwrap(),
        Some("EU".into())
    );
    // The web configuration never asks for a certificate.
    let client = client_config(&eu.id, "JPN", jpn.key.public(), None, provider()).unwrap();
    assert_eq!(handshake(client, srv.web.clone()).unwrap(), None);
}

#[test]
fn the_client_refuses_a_server_bound_to_another_key() {
    let (eu, jpn, impostor) = (node("EU"), node("JPN"), node("JPN"));
    let keys = Arc::new(Keys::default());
    keys.0.lock().unwrap().insert("EU".into(), eu.key.public());
    // The impostor claims JPN with its own node key; EU pinned the real JPN key.
    let srv = server(&impostor, keys.clone());
    let client = client_config(&eu.id, "JPN", jpn.key.public(), None, provider()).unwrap();
    let e = handshake(client, srv.federation.clone()).unwrap_err();
    assert!(is_pin_mismatch(&e), "{e:?}");
    // A certificate bound to the right key but another partner is refused too.
    let nato_with_jpn_key = Node {
        partner: "NATO",
        id: Identity::new(&jpn.key, "NATO", &generate_key_pem().unwrap(), &[]).unwrap(),
        key: NodeKey::from_seed_hex(&jpn.key.seed_hex()).unwrap(),
    };
    let srv = server(&nato_with_jpn_key, keys);
    let client = client_config(&eu.id, "JPN", jpn.key.public(), None, provider()).unwrap();
    let e = handshake(client, srv.federation.clone()).unwrap_err();
    assert!(is_pin_mismatch(&e), "{e:?} ({})", nato_with_jpn_key.partner);
}

#[test]
fn the_server_refuses_a_client_it_has_not_pinned() {
    let (eu, jpn, kor) = (node("EU"), node("JPN"), node("KOR"));
    let keys = Arc::new(Keys::default());
    keys.0.lock().unwrap().insert("EU".into(), eu.key.public());
    let srv = server(&jpn, keys.clone());
    let client = client_config(&kor.id, "JPN", jpn.key.public(), None, provider()).unwrap();
    assert!(handshake(client, srv.federation.clone()).is_err());
    // EU's certificate presented with a key that is not EU's pinned one.
    let fake_eu = node("EU");
    let client = client_config(&fake_eu.id, "JPN", jpn.key.public(), None, provider()).unwrap();
    assert!(handshake(client, srv.federation.clone()).is_err());
    // Pinned at run time: accepted at the next handshake.
    keys.0
        .lock()
        .unwrap()
        .insert("KOR".into(), kor.key.public());
    let client = client_config(&kor.id, "JPN", jpn.key.public(), None, provider()).unwrap();
    assert_eq!(
        handshake(client, srv.federation.clone()).unwrap(),
        Some("KOR".into())
    );
    let _ = (eu.partner, jpn.partner);
}

#[test]
fn a_tampered_binding_does_not_verify() {
    let eu = node("EU");
    // Swap in another node's binding: its signature covers another TLS key.
    let other = node("EU");
    let der =
        rustls::pki_types::CertificateDer::from_pem_slice(eu.id.cert_pem().as_bytes()).unwrap();
    let other_der =
        rustls::pki_types::CertificateDer::from_pem_slice(other.id.cert_pem().as_bytes()).unwrap();
    assert!(binding_of(&der).is_ok() && binding_of(&other_der).is_ok());
    let mut bytes = der.to_vec();
    let needle = other.key.public().to_hex();
    let mine = eu.key.public().to_hex();
    let at = bytes
        .windows(mine.len())
        .position(|w| w == mine.as_bytes())
        .unwrap();
    bytes[at..at + mine.len()].copy_from_slice(needle.as_bytes());
    assert!(binding_of(&bytes).is_err());
}
