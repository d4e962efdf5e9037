//! The two rustls verifiers: the federation client's check of the peer it dials (bound to the
//! node key pinned for that peer, or a CA chain when one is configured) and the listener's
//! check of a federation client's certificate (bound to some pinned peer's key). The
//! handshake signatures themselves are checked by rustls' own functions over the
//! certificate's key.

use crate::{PinnedKeys, binding_of};
use entente_log::PublicKey;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use std::sync::Arc;

/// Why a peer's certificate was refused. Carried inside rustls' error so that the federation
/// client can report `tls_pin_mismatch` rather than a generic handshake failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PinMismatch(pub String);

impl PinMismatch {
    pub(crate) fn new(s: impl Into<String>) -> PinMismatch {
        PinMismatch(s.into())
    }

    fn into_rustls(self) -> Error {
        Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(self))))
    }
}

/// Accepts the server only if its certificate is bound to the node key pinned for the partner
/// this client dials.
#[derive(Debug)]
pub struct PeerServerVerifier {
    partner: String,
    key: PublicKey,
    ca: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl PeerServerVerifier {
    pub fn new(
        partner: &str,
        key: PublicKey,
        ca: Option<Arc<rustls::RootCertStore>>,
        provider: Arc<CryptoProvider>,
    ) -> Result<PeerServerVerifier, crate::TlsError> {
        let ca = match ca {
            Some(roots) => Some(
                rustls::client::WebPkiServerVerifier::builder_with_provider(
                    roots,
                    provider.clone(),
                )
                .build()
                .map_err(|e| crate::TlsError::Config(e.to_string()))?,
            ),
            None => None,
        };
        Ok(PeerServerVerifier {
            partner: partner.to_owned(),
            key,
            ca,
            provider,
        })
    }

    fn check_binding(&self, cert: &CertificateDer<'_>) -> Result<(), PinMismatch> {
        let (partner, key) = binding_of(cert)?;
        if partner != self.partner {
            return Err(PinMismatch::new(format!(
                "the certificate is bound to partner {partner}, not {}",
                self.partner
            )));
        }
        if key != self.key {
            return Err(PinMismatch::new(format!(
                "the certificate is bound to node key {}, not the pinned {}",
                key.fingerprint(),
                self.key.fingerprint()
            )));
        }
        Ok(())
    }
}

impl ServerCertVerifier for PeerServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        match self.check_binding(end_entity) {
            Ok(()) => Ok(ServerCertVerified::assertion()),
            Err(pin) => match &self.ca {
                // CA mode: a peer behind its partner's PKI or a public certificate. The node
                // key is still pinned at the application layer (signed requests and entries).
                Some(ca) => ca
                    .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                    .map_err(|_| pin.into_rustls()),
                None => Err(pin.into_rustls()),
            },
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Asks federation clients for a certificate and accepts one only if it is bound to the key
/// pinned for the partner it names. A client without a certificate may still connect (a
/// node behind a proxy, CA mode); the federation routes then decide (see the API's caller
/// check), and such a client can never claim a partner by TLS.
#[derive(Debug)]
pub struct PeerClientVerifier {
    pinned: Arc<dyn PinnedKeys>,
    provider: Arc<CryptoProvider>,
}

impl PeerClientVerifier {
    pub fn new(pinned: Arc<dyn PinnedKeys>, provider: Arc<CryptoProvider>) -> PeerClientVerifier {
        PeerClientVerifier { pinned, provider }
    }
}

impl ClientCertVerifier for PeerClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let (partner, key) = binding_of(end_entity).map_err(PinMismatch::into_rustls)?;
        match self.pinned.pinned_key(&partner) {
            Some(pinned) if pinned == key => Ok(ClientCertVerified::assertion()),
            Some(_) => Err(PinMismatch::new(format!(
                "client certificate of {partner} is bound to a key that is not the pinned one"
            ))
            .into_rustls()),
            None => Err(PinMismatch::new(format!("{partner} is not a pinned peer")).into_rustls()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
