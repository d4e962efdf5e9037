//! The malware-scan hook: a file's bytes streamed to ClamAV's `clamd` (its `INSTREAM`
//! command) before the file counts as held, on upload and on receipt. It only answers
//! clean / found / could not scan, and which signatures the scanner runs (`VERSION`); what
//! becomes of a file is the caller's decision.
//!
//! The protocol is four messages (a command, length-prefixed chunks, an empty chunk, one
//! answer line), written here rather than taken from a client crate: the bytes come from the
//! store chunk by chunk or from the upload's spool file, under one deadline of our own.

use super::internal;
use crate::NodeError;
use crate::config::Clamd;
use entente_domain::attachment::chunk_count;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt};

/// What the scanner said of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// The scanner's name for what it found (`Eicar-Test-Signature`).
    Found(String),
}

/// The longest a scan may take, over and above a second per MiB: a scanner that hangs leaves
/// the file unaccepted, never accepted. Above clamd's own default `MaxScanTime` (120 s), so
/// a heavy but legitimate file is not cut short here first.
const SCAN_BASE: Duration = Duration::from_secs(150);

/// Scans one node runs at once: clamd queues the rest anyway, and each one streams a whole
/// file out of the store.
pub(crate) struct ScanSlots(tokio::sync::Semaphore);

impl Default for ScanSlots {
    fn default() -> Self {
        ScanSlots(tokio::sync::Semaphore::new(2))
    }
}

/// Streams one file to `clamd`, chunk by chunk.
pub(crate) struct Scan {
    conn: Box<dyn Conn>,
}

trait Conn: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Conn for T {}

/// The detail (an address, clamd's words) goes to the node's log here, never to a client.
fn unavailable(e: impl std::fmt::Display) -> NodeError {
    tracing::warn!(error = %e, "the malware scanner could not scan a file");
    NodeError::ScanUnavailable(e.to_string())
}

async fn connect(to: &Clamd) -> Result<Box<dyn Conn>, NodeError> {
    Ok(match to {
        Clamd::Tcp(a) => Box::new(
            tokio::net::TcpStream::connect(a)
                .await
                .map_err(unavailable)?,
        ),
        Clamd::Unix(p) => Box::new(
            tokio::net::UnixStream::connect(p)
                .await
                .map_err(unavailable)?,
        ),
    })
}

/// The scanner's signature database as `clamd` names it (`VERSION`: `ClamAV 1.0.7/27478/Thu
/// Dec  3 08:30:00 2026`, of which the part after the engine's version), so a node can tell
/// when its signatures changed. At most ten seconds.
pub(crate) async fn signatures(to: &Clamd) -> Result<String, NodeError> {
    let ask = async {
        let mut conn: Box<dyn Conn> = match to {
            Clamd::Tcp(a) => Box::new(tokio::net::TcpStream::connect(a).await?),
            Clamd::Unix(p) => Box::new(tokio::net::UnixStream::connect(p).await?),
        };
        conn.write_all(b"zVERSION\0").await?;
        conn.flush().await?;
        let mut answer = Vec::new();
        conn.take(1024).read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    // Its own words in the log: no file is at stake here.
    let unknown = |e: String| {
        tracing::warn!(error = %e, "the malware scanner did not say which signatures it runs");
        NodeError::ScanUnavailable(e)
    };
    let answer = tokio::time::timeout(Duration::from_secs(10), ask)
        .await
        .map_err(|_| unknown("no answer to VERSION within ten seconds".into()))?
        .map_err(|e| unknown(e.to_string()))?;
    database(&answer).map_err(|e| unknown(e.to_string()))
}

/// The database part of a `VERSION` answer.
fn database(answer: &[u8]) -> Result<String, NodeError> {
    let text = String::from_utf8_lossy(answer);
    let line = text.trim_end_matches(['\0', '\n']).trim();
    match line.split_once('/') {
        Some((engine, db)) if engine.starts_with("ClamAV") && !db.trim().is_empty() => Ok(db
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect()),
        // No official database loaded answers the engine's version alone.
        _ => Err(NodeError::ScanUnavailable(format!(
            "clamd answered {:?} to VERSION",
            line.chars().take(200).collect::<String>()
        ))),
    }
}

impl Scan {
    pub(crate) async fn start(to: &Clamd) -> Result<Scan, NodeError> {
        let conn = connect(to).await?;
        let mut s = Scan { conn };
        s.conn
            .write_all(b"zINSTREAM\0")
            .await
            .map_err(unavailable)?;
        Ok(s)
    }

    pub(crate) async fn send(&mut self, data: &[u8]) -> Result<(), NodeError> {
        // clamd's chunks are at most its StreamMaxLength; 1 MiB pieces keep every one small.
        for piece in data.chunks(1 << 20) {
            let len = u32::try_from(piece.len()).map_err(internal)?;
            self.conn
                .write_all(&len.to_be_bytes())
                .await
                .map_err(unavailable)?;
            self.conn.write_all(piece).await.map_err(unavailable)?;
        }
        Ok(())
    }

    pub(crate) async fn finish(mut self) -> Result<Verdict, NodeError> {
        self.conn.write_all(&[0; 4]).await.map_err(unavailable)?;
        self.conn.flush().await.map_err(unavailable)?;
        let mut answer = Vec::new();
        (&mut self.conn)
            .take(4096)
            .read_to_end(&mut answer)
            .await
            .map_err(unavailable)?;
        verdict(&answer)
    }
}

/// `stream: OK`, `stream: NAME FOUND`, or an error (`INSTREAM size limit exceeded. ERROR`).
fn verdict(answer: &[u8]) -> Result<Verdict, NodeError> {
    let text = String::from_utf8_lossy(answer);
    let line = text.trim_end_matches(['\0', '\n']).trim();
    let rest = line.strip_prefix("stream:").map(str::trim);
    match rest {
        Some("OK") => Ok(Verdict::Clean),
        // Over one of clamd's limits (`AlertExceedsMax`): not scanned whole, so not a finding
        // and not clean either; the operator raises MaxFileSize / MaxScanSize.
        Some(r) if r.starts_with("Heuristics.Limits.Exceeded") => Err(unavailable(format!(
            "clamd did not scan the whole file ({}): raise its MaxFileSize, MaxScanSize and StreamMaxLength",
            r.chars().take(200).collect::<String>()
        ))),
        Some(r) if r.ends_with(" FOUND") => {
            let name: String = r
                .trim_end_matches(" FOUND")
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect();
            let name = name.trim();
            Ok(Verdict::Found(if name.is_empty() {
                "an unnamed signature".into()
            } else {
                name.to_owned()
            }))
        }
        _ => Err(unavailable(format!(
            "clamd answered {:?}",
            line.chars().take(200).collect::<String>()
        ))),
    }
}

/// The deadline of a scan of `size` bytes.
fn deadline(size: u64) -> Duration {
    SCAN_BASE + Duration::from_secs(size >> 20)
}

fn late(_: tokio::time::error::Elapsed) -> NodeError {
    unavailable("no answer within the deadline")
}

/// Scan a file the store holds in chunks (all of them, whole or not).
pub(crate) async fn blob(
    slots: &ScanSlots,
    to: &Clamd,
    store: &dyn entente_store::Store,
    sha256: &str,
    size: u64,
) -> Result<Verdict, NodeError> {
    let _slot = slots.0.acquire().await.map_err(internal)?;
    let run = async {
        let mut s = Scan::start(to).await?;
        for i in 0..chunk_count(size) {
            let c = store.blob_chunk(sha256, i).await?;
            s.send(&c.ok_or_else(|| internal("a chunk went missing"))?)
                .await?;
        }
        s.finish().await
    };
    tokio::time::timeout(deadline(size), run)
        .await
        .map_err(late)?
}

/// Scan `size` bytes of a file from its start (an upload's spool file).
pub(crate) async fn file(
    slots: &ScanSlots,
    to: &Clamd,
    f: &mut tokio::fs::File,
    size: u64,
) -> Result<Verdict, NodeError> {
    let _slot = slots.0.acquire().await.map_err(internal)?;
    let run = async {
        f.seek(std::io::SeekFrom::Start(0))
            .await
            .map_err(internal)?;
        let mut s = Scan::start(to).await?;
        let mut buf = vec![0u8; 1 << 20];
        let mut left = size;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            f.read_exact(&mut buf[..want]).await.map_err(internal)?;
            s.send(&buf[..want]).await?;
            left -= want as u64;
        }
        s.finish().await
    };
    tokio::time::timeout(deadline(size), run)
        .await
        .map_err(late)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        assert_eq!(verdict(b"stream: OK\0").unwrap(), Verdict::Clean);
        assert_eq!(
            verdict(b"stream: Eicar-Test-Signature FOUND\0").unwrap(),
            Verdict::Found("Eicar-Test-Signature".into())
        );
        assert!(verdict(b"INSTREAM size limit exceeded. ERROR\0").is_err());
        assert_eq!(
            database(b"ClamAV 1.0.7/27478/Thu Dec  3 08:30:00 2026\0").unwrap(),
            "27478/Thu Dec  3 08:30:00 2026"
        );
        assert!(database(b"ClamAV 1.0.7\0").is_err());
        assert!(database(b"UNKNOWN COMMAND\0").is_err());
        assert!(verdict(b"").is_err());
        assert!(verdict(b"stream: OK extra\0").is_err());
        assert!(verdict(b"stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND\0").is_err());
        assert_eq!(
            verdict(b"stream: \x01 FOUND\0").unwrap(),
            Verdict::Found("an unnamed signature".into())
        );
        assert_eq!(
            verdict(b"stream: Bad\x1b[31mName FOUND\0").unwrap(),
            Verdict::Found("Bad[31mName".into())
        );
    }
}
