//! The invitation files of onboarding (`entente invite`, `entente init --from-invitation`,
//! `entente peer accept`): where they are written, and that each is used once. The node keeps
//! the invitations it made in `invitations/ID.json` until answered (`ID.accepted.json`
//! after), and a marker `received-ID` for each invitation it accepted, so a replayed
//! invitation or answer is refused and pins nothing.

use anyhow::{Context, Result, bail};
use entente_node::invite::{Invitation, InvitationAnswer};
use std::path::{Path, PathBuf};

const DIR: &str = "invitations";

fn store_dir(dir: &Path) -> Result<PathBuf> {
    let d = dir.join(DIR);
    std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    Ok(d)
}

/// An invitation id as a file name: exactly hex, so a crafted id cannot name another path.
fn id_ok(id: &str) -> Result<&str> {
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(id)
    } else {
        bail!("the invitation id is malformed")
    }
}

fn write_new(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("{}: cannot create (does it exist already?)", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// `entente invite`: write a signed invitation for `partner` to `out` and keep it as pending.
pub async fn invite(dir: &Path, partner: &str, valid_hours: u64, out: &Path) -> Result<Invitation> {
    if !(1..=24 * 30).contains(&valid_hours) {
        bail!("--valid-hours: 1 to 720");
    }
    let node = crate::open(dir).await?;
    let inv = node.invite(partner, std::time::Duration::from_secs(valid_hours * 3600))?;
    let text = serde_json::to_string_pretty(&inv)?;
    write_new(out, &text)?;
    write_new(&store_dir(dir)?.join(format!("{}.json", inv.id)), &text)?;
    Ok(inv)
}

/// Read an invitation or an answer file.
pub enum Offer {
    Invitation(Invitation),
    Answer(InvitationAnswer),
}

pub fn read_offer(file: &Path) -> Result<Offer> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("{}: cannot read", file.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", file.display()))?;
    let parsed = match v["kind"].as_str() {
        Some("entente-invitation-v1") => serde_json::from_value(v).map(Offer::Invitation),
        Some("entente-invitation-answer-v1") => serde_json::from_value(v).map(Offer::Answer),
        _ => bail!("{}: not an Entente invitation or answer", file.display()),
    };
    parsed.with_context(|| format!("{}: malformed", file.display()))
}

/// What accepting a file did.
#[derive(Debug)]
pub enum Accepted {
    /// An invitation: the inviter is pinned; the answer to send back is at `answer`.
    Invitation {
        inviter: String,
        fingerprint: String,
        answer: PathBuf,
    },
    /// An answer to our invitation: the invitee is pinned.
    Answer {
        partner: String,
        fingerprint: String,
    },
}

/// Where the answer to an invitation file goes: beside it, `NAME.answer.json`.
fn answer_path(file: &Path) -> PathBuf {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "invitation".into());
    file.with_file_name(format!("{stem}.answer.json"))
}

/// `entente peer accept`: an invitation (pin the inviter, write the answer) or the answer to
/// one of ours (check it, and the fingerprint read aloud if given; pin the invitee).
pub async fn accept(dir: &Path, file: &Path, fingerprint: Option<&str>) -> Result<Accepted> {
    let offer = read_offer(file)?;
    let node = crate::open(dir).await?;
    let store = store_dir(dir)?;
    match offer {
        Offer::Invitation(inv) => {
            let marker = store.join(format!("received-{}", id_ok(&inv.id)?));
            if marker.exists() {
                bail!(
                    "invitation {} from {} was accepted here already (replayed); ask for a new one",
                    inv.id,
                    inv.inviter
                );
            }
            let out = answer_path(file);
            if out.exists() {
                bail!("{}: exists already; move it away first", out.display());
            }
            let (ans, fp) = node.accept_invitation(&inv).await?;
            write_new(&out, &serde_json::to_string_pretty(&ans)?)?;
            write_new(&marker, &inv.digest())?;
            Ok(Accepted::Invitation {
                inviter: inv.inviter.to_string(),
                fingerprint: fp,
                answer: out,
            })
        }
        Offer::Answer(ans) => {
            let id = id_ok(&ans.invitation_id)?;
            let pending = store.join(format!("{id}.json"));
            let done = store.join(format!("{id}.accepted.json"));
            if done.exists() {
                bail!(
                    "the invitation this answers ({id}) was accepted already (replayed); nothing pinned"
                );
            }
            let text = std::fs::read_to_string(&pending).map_err(|_| {
                anyhow::anyhow!("no invitation {id} was made by this node; nothing pinned")
            })?;
            let inv: Invitation = serde_json::from_str(&text).context("the pending invitation")?;
            let fp = node.accept_answer(&inv, &ans, fingerprint).await?;
            std::fs::rename(&pending, &done)?;
            Ok(Accepted::Answer {
                partner: ans.partner.to_string(),
                fingerprint: fp,
            })
        }
    }
}

/// `entente init --from-invitation`: check every invitation first (nothing is created when
/// one does not check out), then make the node and accept each.
pub async fn init_from_invitations(
    dir: &Path,
    partner: &str,
    listen: std::net::SocketAddr,
    public_url: Option<&str>,
    files: &[PathBuf],
) -> Result<(String, Vec<Accepted>)> {
    let now =
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)?;
    for f in files {
        let Offer::Invitation(inv) = read_offer(f)? else {
            bail!("{}: an answer, not an invitation", f.display());
        };
        inv.verify(&now)
            .with_context(|| format!("{}", f.display()))?;
        if inv.invitee.as_str() != partner.trim() {
            bail!(
                "{}: the invitation is for {}, not {partner}",
                f.display(),
                inv.invitee
            );
        }
    }
    let key = crate::init(dir, partner, listen, public_url).await?;
    let mut out = vec![];
    for f in files {
        out.push(accept(dir, f, None).await?);
    }
    Ok((key, out))
}
