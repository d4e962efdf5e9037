//! `[notify]` of `entente.toml`: the mail relay, the partner's 24/7 duty contact, webhooks and
//! the digest hour, validated into `entente_node::notify::Settings`. Every error names the key.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `[notify]`: e-mail and webhook notifications.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyFile {
    /// The mail relay's host; absent: no e-mail is sent (webhooks still are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_host: Option<String>,
    #[serde(default = "default_smtp_port")]
    pub smtp_port: u16,
    /// STARTTLS on every connection, a relay that cannot is refused. `false` is accepted only
    /// for a relay on this machine (127.0.0.1, ::1, localhost).
    #[serde(default = "default_true")]
    pub smtp_starttls: bool,
    /// CA certificates (PEM) trusted for the relay besides the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_ca_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_username: Option<String>,
    /// A file holding the relay password (relative to the data directory; keep it 0600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_password_file: Option<String>,
    /// The sender address (required with `smtp_host`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The partner's 24/7 duty contact: every crisis alert and every escalation.
    #[serde(default)]
    pub duty_email: Vec<String>,
    #[serde(default)]
    pub webhooks: Vec<WebhookFile>,
    /// The hour (UTC, 0–23) daily digests go out.
    #[serde(default = "default_digest_hour")]
    pub digest_hour_utc: u8,
    /// At most one e-mail per address in this many seconds (0–600; 0: no pacing): what falls
    /// due meanwhile goes out together, so a flood of alerts is not a flood of e-mails.
    #[serde(default = "default_email_interval")]
    pub email_min_interval_secs: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookFile {
    /// `https://…` (plain `http://` only to this machine).
    pub url: String,
    /// A file holding the shared secret the calls are signed with (at least 16 bytes).
    pub secret_file: String,
}

fn default_smtp_port() -> u16 {
    587
}

fn default_true() -> bool {
    true
}

fn default_digest_hour() -> u8 {
    7
}

fn default_email_interval() -> u32 {
    60
}

fn loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback())
}

fn in_dir(dir: &Path, p: &str) -> std::path::PathBuf {
    let p = Path::new(p.trim());
    if p.is_absolute() {
        p.to_owned()
    } else {
        dir.join(p)
    }
}

fn address(key: &str, a: &str) -> Result<String> {
    let a = a.trim();
    a.parse::<lettre::Address>()
        .with_context(|| format!("{key}: \"{a}\" is not an e-mail address"))?;
    Ok(a.to_owned())
}

/// Validate `[notify]` against the data directory (files are read relative to it).
pub fn settings(f: &NotifyFile, dir: &Path) -> Result<entente_node::notify::Settings> {
    use entente_node::notify::{Settings, Smtp, Webhook};
    if f.digest_hour_utc > 23 {
        bail!("notify.digest_hour_utc: an hour from 0 to 23");
    }
    if f.email_min_interval_secs > 600 {
        bail!(
            "notify.email_min_interval_secs: at most 600 (ten minutes); a duty contact must hear of a crisis alert sooner"
        );
    }
    let smtp = match &f.smtp_host {
        None => None,
        Some(host) => {
            let host = host.trim().to_owned();
            if host.is_empty() {
                bail!("notify.smtp_host: empty");
            }
            if !f.smtp_starttls && !loopback(&host) {
                bail!(
                    "notify.smtp_starttls: false is accepted only for a relay on this machine; {host} would receive notifications in clear text"
                );
            }
            let from = address(
                "notify.from",
                f.from
                    .as_deref()
                    .context("notify.from: required with notify.smtp_host")?,
            )?;
            let read = |key: &str, p: &str| {
                let path = in_dir(dir, p);
                std::fs::read(&path)
                    .with_context(|| format!("{key}: cannot read {}", path.display()))
            };
            let ca_pem = f
                .smtp_ca_file
                .as_deref()
                .map(|p| read("notify.smtp_ca_file", p))
                .transpose()?;
            let password = f
                .smtp_password_file
                .as_deref()
                .map(|p| read("notify.smtp_password_file", p))
                .transpose()?
                .map(|b| String::from_utf8_lossy(&b).trim().to_owned());
            if f.smtp_username.is_some() != password.is_some() {
                bail!("notify.smtp_username and notify.smtp_password_file: give both or neither");
            }
            Some(Smtp {
                host,
                port: f.smtp_port,
                starttls: f.smtp_starttls,
                from,
                ca_pem,
                username: f.smtp_username.clone(),
                password,
            })
        }
    };
    let duty_email = f
        .duty_email
        .iter()
        .map(|a| address("notify.duty_email", a))
        .collect::<Result<Vec<_>>>()?;
    if !duty_email.is_empty() && smtp.is_none() {
        bail!("notify.duty_email: set notify.smtp_host too, or the duty contact receives nothing");
    }
    let mut webhooks = vec![];
    for w in &f.webhooks {
        let u = url::Url::parse(w.url.trim())
            .with_context(|| format!("notify.webhooks.url: \"{}\" is not a URL", w.url))?;
        let host = u.host_str().unwrap_or("");
        match u.scheme() {
            "https" => {}
            "http" if loopback(host) => {}
            _ => bail!(
                "notify.webhooks.url: {} must be https:// (plain http:// only to this machine)",
                w.url
            ),
        }
        let path = in_dir(dir, &w.secret_file);
        let secret = std::fs::read(&path).with_context(|| {
            format!(
                "notify.webhooks.secret_file: cannot read {}",
                path.display()
            )
        })?;
        let secret = String::from_utf8_lossy(&secret).trim().as_bytes().to_vec();
        if secret.len() < 16 {
            bail!(
                "notify.webhooks.secret_file: {} holds fewer than 16 bytes",
                path.display()
            );
        }
        webhooks.push(Webhook {
            url: u.to_string(),
            secret,
        });
    }
    Ok(Settings {
        smtp,
        duty_email,
        webhooks,
        digest_hour_utc: f.digest_hour_utc,
        email_min_interval: time::Duration::seconds(f.email_min_interval_secs.into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> NotifyFile {
        toml::from_str("smtp_host = \"mail.eu.example\"\nfrom = \"entente@eu.example\"\nduty_email = [\"duty@eu.example\"]\n").unwrap()
    }

    #[test]
    fn a_relay_elsewhere_must_take_starttls_and_webhooks_must_be_https() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(&file(), dir.path()).unwrap();
        assert!(s.smtp.as_ref().unwrap().starttls);
        let mut f = file();
        f.smtp_starttls = false;
        let e = settings(&f, dir.path()).unwrap_err().to_string();
        assert!(e.contains("clear text"), "{e}");
        f.smtp_host = Some("127.0.0.1".into());
        assert!(settings(&f, dir.path()).is_ok());
        let mut f = file();
        f.duty_email = vec!["not an address".into()];
        assert!(
            settings(&f, dir.path())
                .unwrap_err()
                .to_string()
                .contains("notify.duty_email")
        );
        std::fs::write(dir.path().join("hook.secret"), "0123456789abcdef0123").unwrap();
        let mut f = file();
        f.webhooks = vec![WebhookFile {
            url: "http://soc.eu.example/hook".into(),
            secret_file: "hook.secret".into(),
        }];
        assert!(
            settings(&f, dir.path())
                .unwrap_err()
                .to_string()
                .contains("https://")
        );
        f.webhooks[0].url = "http://127.0.0.1:9/hook".into();
        assert_eq!(settings(&f, dir.path()).unwrap().webhooks.len(), 1);
        std::fs::write(dir.path().join("hook.secret"), "short").unwrap();
        assert!(
            settings(&f, dir.path())
                .unwrap_err()
                .to_string()
                .contains("16 bytes")
        );
        let mut f = file();
        assert_eq!(
            settings(&f, dir.path()).unwrap().email_min_interval,
            time::Duration::minutes(1)
        );
        f.email_min_interval_secs = 601;
        assert!(
            settings(&f, dir.path())
                .unwrap_err()
                .to_string()
                .contains("notify.email_min_interval_secs")
        );
    }
}
