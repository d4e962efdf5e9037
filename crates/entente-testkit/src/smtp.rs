//! A mail sink for tests: an SMTP server on loopback that accepts every message (optionally
//! after STARTTLS with a self-signed certificate the test trusts; any mailbox but `nobody@…`,
//! which it refuses with a permanent 550) and hands each one to the test, and a webhook receiver that records every call. Hermetic: port 0, no external relay.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, mpsc};

/// One message as the sink received it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    /// The message as sent (headers and body), dot-unstuffed.
    pub data: String,
    /// Whether it came over TLS (after STARTTLS).
    pub tls: bool,
}

impl Mail {
    /// The message with quoted-printable undone (soft line breaks joined, `=XX` decoded), as a
    /// mail client shows it, so a test can look for a link that was wrapped.
    pub fn text(&self) -> String {
        let joined = self.data.replace("=\n", "");
        let b = joined.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if b[i] == b'='
                && i + 2 < b.len()
                && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
            {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
            out.push(b[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

pub struct SmtpSink {
    pub addr: SocketAddr,
    /// The sink's certificate (PEM), for the client to trust, when it offers STARTTLS.
    pub cert_pem: Option<String>,
    rx: Mutex<mpsc::UnboundedReceiver<Mail>>,
}

enum Ended<S> {
    Quit,
    StartTls(BufReader<S>),
}

async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: BufReader<S>,
    offer_tls: bool,
    tls: bool,
    tx: &mpsc::UnboundedSender<Mail>,
) -> std::io::Result<Ended<S>> {
    if !tls {
        s.get_mut().write_all(b"220 sink ESMTP\r\n").await?;
    }
    let mut to = vec![];
    let mut line = String::new();
    loop {
        line.clear();
        if s.read_line(&mut line).await? == 0 {
            return Ok(Ended::Quit);
        }
        let cmd = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if cmd.starts_with("EHLO") {
            if offer_tls && !tls {
                b"250-sink\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
            } else {
                b"250-sink\r\n250 8BITMIME\r\n"
            }
        } else if cmd.starts_with("HELO") || cmd.starts_with("MAIL") || cmd.starts_with("RSET") {
            b"250 ok\r\n"
        } else if cmd.starts_with("RCPT") {
            let addr = line.trim_end()[8..]
                .trim()
                .trim_start_matches(':')
                .trim()
                .trim_start_matches('<')
                .split('>')
                .next()
                .unwrap_or("")
                .to_owned();
            // A mailbox that does not exist, refused for good (a permanent 5xx).
            if addr.starts_with("nobody@") {
                b"550 5.1.1 no such mailbox\r\n"
            } else {
                to.push(addr);
                b"250 ok\r\n"
            }
        } else if cmd == "STARTTLS" && offer_tls && !tls {
            s.get_mut().write_all(b"220 go ahead\r\n").await?;
            return Ok(Ended::StartTls(s));
        } else if cmd == "DATA" {
            s.get_mut().write_all(b"354 end with .\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if s.read_line(&mut line).await? == 0 {
                    return Ok(Ended::Quit);
                }
                let l = line.trim_end_matches(['\r', '\n']);
                if l == "." {
                    break;
                }
                data.push_str(l.strip_prefix('.').unwrap_or(l));
                data.push('\n');
            }
            let _ = tx.send(Mail {
                to: std::mem::take(&mut to),
                data,
                tls,
            });
            b"250 queued\r\n"
        } else if cmd == "QUIT" {
            s.get_mut().write_all(b"221 bye\r\n").await?;
            return Ok(Ended::Quit);
        } else {
            b"502 not here\r\n"
        };
        s.get_mut().write_all(reply).await?;
    }
}

async fn session(
    tcp: TcpStream,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    tx: mpsc::UnboundedSender<Mail>,
) -> std::io::Result<()> {
    match converse(BufReader::new(tcp), acceptor.is_some(), false, &tx).await? {
        Ended::Quit => Ok(()),
        Ended::StartTls(s) => {
            let Some(a) = acceptor else { return Ok(()) };
            let tls = a.accept(s.into_inner()).await?;
            converse(BufReader::new(tls), false, true, &tx).await?;
            Ok(())
        }
    }
}

impl SmtpSink {
    /// Start a sink on 127.0.0.1, port 0; with `starttls`, it offers STARTTLS with a
    /// certificate for 127.0.0.1 ([`SmtpSink::cert_pem`]).
    pub async fn start(starttls: bool) -> anyhow::Result<SmtpSink> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (acceptor, cert_pem) = if starttls {
            let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])?;
            let cfg = rustls::ServerConfig::builder_with_provider(entente_tls::provider())
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_single_cert(
                    vec![ck.cert.der().clone()],
                    rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into()),
                )?;
            (
                Some(tokio_rustls::TlsAcceptor::from(Arc::new(cfg))),
                Some(ck.cert.pem()),
            )
        } else {
            (None, None)
        };
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (a, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let _ = session(tcp, a, tx).await;
                });
            }
        });
        Ok(SmtpSink {
            addr,
            cert_pem,
            rx: Mutex::new(rx),
        })
    }

    /// The next message, if one arrives within `within`.
    pub async fn next(&self, within: Duration) -> Option<Mail> {
        tokio::time::timeout(within, self.rx.lock().await.recv())
            .await
            .ok()
            .flatten()
    }
}
