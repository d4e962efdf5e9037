//! Administration: users, tokens and sessions, peers, and log verification.

use super::*;

#[derive(Template)]
#[template(path = "admin.html")]
pub struct AdminPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub form: FormData,
    /// (user, role, disabled)
    pub users: Vec<(String, String, bool)>,
    pub tokens: Vec<entente_node::access::TokenView>,
    /// The admin looking at the page (who cannot change itself here).
    pub me: String,
    /// (partner, url, fingerprint, last sync, last ok, last error, state)
    pub peers: Vec<(String, String, String, String, String, String, String)>,
    pub fingerprint: String,
    pub new_token: Option<String>,
    pub verify: Option<entente_node::sync::VerifyReport>,
    pub audit: Option<String>,
    pub forks: usize,
    /// (origin, witness, checkpoint time, size, root prefix, recorded at)
    pub witnesses: Vec<(String, String, String, u64, String, String)>,
    pub roles: Vec<String>,
    /// The notification delivery log, newest first.
    pub deliveries: Vec<entente_node::notify::NotificationRecord>,
    /// Files the malware scanner held aside, newest first.
    pub quarantine: Vec<entente_node::attachments::QuarantinedFile>,
    /// Whether this node has a scanner to scan them again with.
    pub scanner: bool,
    /// The scan of every held file started last.
    pub held_scan: entente_node::attachments::HeldScan,
    /// Why it stopped early, as the message that words it in the reader's language.
    pub held_scan_why: Option<&'static str>,
}

/// The message that says what kind of failure stopped a scan of every held file.
fn held_scan_why(stop: entente_node::attachments::HeldScanStop) -> &'static str {
    use entente_node::attachments::HeldScanStop;
    match stop {
        HeldScanStop::Store => "held-scan-why-store",
        HeldScanStop::Error => "held-scan-why-error",
    }
}

pub(super) async fn admin_page(
    s: &WebState,
    sess: &Session,
    errors: Errors,
    form: FormData,
    new_token: Option<String>,
    verify: Option<entente_node::sync::VerifyReport>,
    audit: Option<String>,
) -> Response {
    if let Err(e) = sess.who.require(Role::Admin, "administer this node") {
        return fail(&sess.ctx, e);
    }
    let r = async {
        s.node.reload_peers().await?;
        Ok::<_, NodeError>((
            s.node.users(&sess.who).await?,
            s.node.forks().await?.len(),
            s.node.witnesses().await?,
            s.node.list_tokens(&sess.who, None).await?,
            s.node.notification_log(&sess.who, 50).await?,
            s.node.quarantined_files(&sess.who).await?,
        ))
    }
    .await;
    let (users, forks, witnesses, tokens, deliveries, quarantine) = match r {
        Ok(x) => x,
        Err(e) => return fail(&sess.ctx, e),
    };
    let status = form_status(&errors);
    let held_scan = s.node.held_files_scan(&sess.who).unwrap_or_default();
    render(
        status,
        &AdminPage {
            ctx: sess.ctx.clone(),
            errors,
            form,
            users: users
                .into_iter()
                .map(|u| (u.username, u.role.as_str().to_owned(), u.disabled))
                .collect(),
            tokens,
            me: sess.who.username.clone(),
            peers: s
                .node
                .peer_list()
                .into_iter()
                .map(|p| {
                    (
                        p.record.partner.to_string(),
                        p.record.url.clone().unwrap_or_default(),
                        p.key.fingerprint(),
                        p.record.last_sync_at.clone().unwrap_or_default(),
                        p.record.last_ok_at.clone().unwrap_or_default(),
                        p.record.last_error.clone().unwrap_or_default(),
                        p.record.state.clone(),
                    )
                })
                .collect(),
            fingerprint: s.node.public_key().fingerprint(),
            new_token,
            verify,
            audit,
            forks,
            witnesses: witnesses
                .into_iter()
                .map(|w| {
                    let cp: Option<entente_log::checkpoint::Checkpoint> =
                        serde_json::from_str(&w.checkpoint).ok();
                    let (ts, size, root) = cp
                        .map(|c| (c.ts, c.size, c.root.chars().take(16).collect()))
                        .unwrap_or_default();
                    (
                        w.origin.to_string(),
                        w.witness.to_string(),
                        ts,
                        size,
                        root,
                        w.recorded_at,
                    )
                })
                .collect(),
            deliveries,
            quarantine,
            scanner: s.node.config().malware_scan.is_some(),
            held_scan_why: held_scan.stopped_by.map(held_scan_why),
            held_scan,
            roles: ["reader", "analyst", "officer", "admin"]
                .map(str::to_owned)
                .to_vec(),
        },
    )
}

pub(super) async fn admin(State(s): State<WebState>, h: HeaderMap) -> Page {
    let sess = session(&s, &h).await?;
    Ok(admin_page(
        &s,
        &sess,
        Errors::default(),
        FormData::default(),
        None,
        None,
        None,
    )
    .await)
}

pub(super) async fn admin_post(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(what): Path<String>,
    body: Bytes,
) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    if let Err(e) = sess.who.require(Role::Admin, "administer this node") {
        return Err(fail(&sess.ctx, e));
    }
    let mut errors = Errors::default();
    match what.as_str() {
        "users" => {
            required(
                &mut errors,
                &f,
                &[
                    ("username", "User name"),
                    ("role", "Role"),
                    ("password", "Password"),
                ],
            );
            let role = Role::parse(f.get("role"));
            if role.is_err() && !f.get("role").is_empty() {
                errors.add("role", "Choose one of the listed roles.");
            }
            if errors.is_empty()
                && let Ok(role) = role
            {
                match s
                    .node
                    .add_user(f.get("username"), role, f.get("password"))
                    .await
                {
                    Ok(_) => {
                        s.node
                            .audit(
                                &sess.who.user_id(),
                                "admin",
                                &format!("user {} added", f.get("username")),
                            )
                            .await;
                        return Ok(see_other("/ui/admin"));
                    }
                    Err(e) => errors = Errors::from_node(&e, &["username", "role", "password"]),
                }
            }
            if let Some(m) = errors.0.remove("_form") {
                // add_user reports a bad name or password as a conflict or invalid input.
                errors.add(
                    if m.contains("password") {
                        "password"
                    } else {
                        "username"
                    },
                    m,
                );
            }
        }
        "tokens" => {
            required(&mut errors, &f, &[("label", "A label")]);
            if errors.is_empty() {
                let kind = if f.get("scope") == "read" {
                    TokenKind::ApiRead
                } else {
                    TokenKind::Api
                };
                match s.node.create_token(&sess.who, f.get("label"), kind).await {
                    Ok(t) => {
                        return Ok(admin_page(
                            &s,
                            &sess,
                            errors,
                            FormData::default(),
                            Some(t),
                            None,
                            None,
                        )
                        .await);
                    }
                    Err(e) => errors = Errors::from_node(&e, &["label"]),
                }
            }
        }
        // Taking access away (M5): each a small form on the admin page.
        "user-change" => {
            let user = f.get("username");
            let r = match f.get("action") {
                "delete" => s.node.delete_user(&sess.who, user).await,
                a @ ("disable" | "enable" | "set-role") => {
                    let change = entente_node::access::UserChange {
                        role: (a == "set-role").then(|| f.get("role").to_owned()),
                        disabled: (a != "set-role").then_some(a == "disable"),
                    };
                    s.node.change_user(&sess.who, user, change).await
                }
                _ => Err(NodeError::Forbidden("do that to a user")),
            };
            match r {
                Ok(()) => return Ok(see_other("/ui/admin")),
                Err(e) => errors.add("_form", e.to_string()),
            }
        }
        // The malware scanner's quarantine: scan a file again, or release it with a reason.
        "quarantine-rescan" => match s.node.rescan_quarantined(&sess.who, f.get("sha256")).await {
            Ok(r) if r.released => {
                return Ok(done_to("/ui/admin", Done::QuarantineReleased));
            }
            Ok(_) => return Ok(done_to("/ui/admin", Done::QuarantineStillFound)),
            Err(e) => errors.add("_form", e.to_string()),
        },
        "scan-held" => match s.node.scan_held_files(&sess.who).await {
            Ok(_) => return Ok(done_to("/ui/admin", Done::HeldScanStarted)),
            Err(e) => errors.add("_form", e.to_string()),
        },
        "quarantine-release" => {
            required(&mut errors, &f, &[("reason", "A reason")]);
            if errors.is_empty() {
                match s
                    .node
                    .release_quarantined(&sess.who, f.get("sha256"), f.get("reason"))
                    .await
                {
                    Ok(()) => {
                        return Ok(done_to("/ui/admin", Done::QuarantineReleased));
                    }
                    Err(e) => errors = Errors::from_node(&e, &["reason"]),
                }
            }
        }
        "revoke" => match s.node.revoke_token(&sess.who, f.get("id")).await {
            Ok(_) => return Ok(see_other("/ui/admin")),
            Err(e) => errors.add("_form", e.to_string()),
        },
        "peer-state" => {
            match s
                .node
                .set_peer_state(&sess.who, f.get("partner"), f.get("state"))
                .await
            {
                Ok(()) => return Ok(see_other("/ui/admin")),
                Err(e) => errors.add("_form", e.to_string()),
            }
        }
        "peers" => {
            required(
                &mut errors,
                &f,
                &[("partner", "Partner code"), ("public_key", "Public key")],
            );
            if errors.is_empty() {
                match s
                    .node
                    .add_peer(
                        f.get("partner"),
                        f.opt("url").as_deref(),
                        f.get("public_key"),
                    )
                    .await
                {
                    Ok(_) => return Ok(see_other("/ui/admin")),
                    Err(e) => {
                        let m = e.to_string();
                        let field = if m.contains("key") {
                            "public_key"
                        } else if m.contains("url") || m.contains("URL") {
                            "url"
                        } else {
                            "partner"
                        };
                        errors.add(field, m);
                    }
                }
            }
        }
        "verify" => {
            let report = s
                .node
                .verify_all(|_| {})
                .await
                .map_err(|e| fail(&sess.ctx, e))?;
            let audit = s
                .node
                .verify_audit()
                .await
                .map(|a| {
                    let lang = sess.ctx.lang;
                    let n = ("n", a.records.to_string());
                    match a.problems.is_empty() {
                        true => lang.t_args("audit-chain-intact", &[n]),
                        false => lang.t_args(
                            "audit-chain-problems",
                            &[n, ("problems", a.problems.join("; "))],
                        ),
                    }
                })
                .unwrap_or_else(|e| e.to_string());
            return Ok(admin_page(
                &s,
                &sess,
                errors,
                FormData::default(),
                None,
                Some(report),
                Some(audit),
            )
            .await);
        }
        _ => return Err(fail(&sess.ctx, NodeError::NotFound("page"))),
    }
    Ok(admin_page(&s, &sess, errors, f, None, None, None).await)
}
