//! The `entente` binary: parses flags and calls the server library. No logic of its own.

use anyhow::{Context, Result, bail};
use clap::Parser;

mod args;
use args::*;

/// mimalloc instead of glibc's allocator: glibc keeps freed memory in up to 8 arenas per core
/// and returns little of it, so a node that had 8 sync pages in flight, or rebuilt its search
/// index, kept the peak as resident memory (1M-entry sync: 553 MB instead of 874 MB with
/// `MALLOC_ARENA_MAX=2`, a setting a process cannot make for itself without `unsafe`).
/// mimalloc returns freed pages to the system on its own. The `system-alloc` feature leaves it
/// out, for heap profilers that see only malloc.
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use indicatif::{ProgressBar, ProgressStyle};

/// Whoever runs the CLI on the node's host: its operator, with admin rights (and no user of
/// its own, so it can change every user). Audited as `operator@PARTNER`.
fn operator(node: &entente_node::Node) -> entente_node::auth::Principal {
    entente_node::auth::Principal {
        username: "operator".into(),
        role: entente_domain::Role::Admin,
        partner: node.partner().clone(),
    }
}

async fn user_change(
    dir: &DirArg,
    username: &str,
    role: Option<String>,
    disabled: Option<bool>,
) -> anyhow::Result<()> {
    let node = entente_server::open(&dir.dir).await?;
    node.change_user(
        &operator(&node),
        username,
        entente_node::access::UserChange { role, disabled },
    )
    .await?;
    println!("changed {username}");
    Ok(())
}

async fn peer_state(dir: &DirArg, partner: &str, state: &str) -> anyhow::Result<()> {
    let node = entente_server::open(&dir.dir).await?;
    node.set_peer_state(&operator(&node), partner, state)
        .await?;
    println!("peer {partner}: {state}");
    Ok(())
}

/// The first line of `f` (`-`: standard input), without its line end.
fn read_password_file(f: &std::path::Path) -> anyhow::Result<String> {
    let text = if f == std::path::Path::new("-") {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line
    } else {
        std::fs::read_to_string(f).with_context(|| format!("--password-file {}", f.display()))?
    };
    let line = text.lines().next().unwrap_or("").to_owned();
    if line.is_empty() {
        anyhow::bail!("--password-file {}: the first line is empty", f.display());
    }
    Ok(line)
}

/// Bundles larger than this are imported by streaming them (bounded memory).
const STREAM_IMPORT_BYTES: u64 = 16 << 20;

/// A progress counter for work of unknown size.
fn counter(what: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{msg:>8} {pos} objects ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(what.to_owned());
    pb
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_owned());
    pb
}

/// Errors end the process with one line: what failed, then why (the whole chain, no backtrace).
fn main() -> std::process::ExitCode {
    // Everything a node writes (database, WAL, search index, backups, exports, certificates)
    // is its operator's alone: TLP:RED content and password hashes live there (M7).
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(Cli::parse())) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn print_accepted(a: &entente_server::invite::Accepted) {
    use entente_server::invite::Accepted;
    match a {
        Accepted::Invitation {
            inviter,
            fingerprint,
            answer,
        } => println!(
            "pinned {inviter} (from its invitation)\n\
             answer for {inviter}: {} — send it back\n\
             fingerprint to read aloud to {inviter}'s operator: {fingerprint}",
            answer.display()
        ),
        Accepted::Answer {
            partner,
            fingerprint,
        } => println!("pinned {partner} (answer checked; fingerprint {fingerprint})"),
    }
}

/// Ctrl-C or SIGTERM (what service managers send): stop accepting, finish requests in
/// progress, exit 0.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutting down: finishing requests in progress");
}

async fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Serve { dir, log_json } => {
            init_tracing(log_json);
            let cfg = entente_server::ServerConfig::load_with_env(&dir.dir, std::env::vars())?;
            let listener = entente_server::bind(cfg.listen).await?;
            let node = entente_server::open_with(&cfg).await?;
            entente_server::attach_search(&node, &cfg).await?;
            let _bg = node.start();
            tracing::info!(partner = %node.partner(), listen = %cfg.listen, "serving");
            entente_server::serve_node(node, &cfg, listener, shutdown_signal()).await?;
            tracing::info!("stopped");
        }
        Cmd::Demo { base_port, dir } => {
            init_tracing(false);
            let demo = entente_server::demo::start(&dir, base_port).await?;
            println!(
                "Entente demo: three peered nodes (fictional exercise scenario). Ctrl-C to stop.\n"
            );
            for n in &demo.file.nodes {
                println!(
                    "  {:<5} {}  user {}  password {}\n        token {}\n        certificate {}",
                    n.partner, n.url, n.username, n.password, n.token, n.certificate
                );
            }
            println!(
                "\nCredentials written to {}",
                dir.join("demo.json").display()
            );
            println!(
                "Every node serves HTTPS with its own self-signed certificate, bound to its node key.\n\
                 Browsers warn once per node (accept it), or start Chromium with\n  \
                 --ignore-certificate-errors-spki-list={}",
                demo.file
                    .nodes
                    .iter()
                    .map(|n| n.spki_pin.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            );
            println!(
                "Try: curl --cacert {} -H 'Authorization: Bearer {}' {}/api/v1/items",
                demo.file.nodes[2].certificate, demo.file.nodes[2].token, demo.file.nodes[2].url
            );
            tokio::signal::ctrl_c().await?;
            demo.stop().await;
        }
        Cmd::Init {
            dir,
            partner,
            listen,
            public_url,
            dev_plain_http,
            from_invitation,
        } => {
            if !from_invitation.is_empty() {
                if dev_plain_http {
                    anyhow::bail!("--from-invitation and --dev-plain-http do not go together");
                }
                let (key, accepted) = entente_server::invite::init_from_invitations(
                    &dir.dir,
                    &partner,
                    listen,
                    public_url.as_deref(),
                    &from_invitation,
                )
                .await?;
                println!(
                    "initialised {} for partner {partner}\npublic key {key}",
                    dir.dir.display()
                );
                for a in accepted {
                    print_accepted(&a);
                }
                return Ok(());
            }
            let key = if dev_plain_http {
                entente_server::init_dev_plain(&dir.dir, &partner, listen).await?
            } else {
                entente_server::init(&dir.dir, &partner, listen, public_url.as_deref()).await?
            };
            println!(
                "initialised {} for partner {partner}\npublic key {key}",
                dir.dir.display()
            );
        }
        Cmd::Invite {
            dir,
            partner,
            valid_hours,
            out,
        } => {
            let inv = entente_server::invite::invite(&dir.dir, &partner, valid_hours, &out).await?;
            println!(
                "invitation for {} written to {} (valid until {})\n\
                 Send it to {}'s operator, who runs:\n  \
                 entente init --dir DIR --partner {} --listen ADDR --public-url URL --from-invitation {}\n\
                 and sends back the answer file. Then, on the phone, have them read you the fingerprint\n\
                 it printed, and run:\n  \
                 entente peer accept --dir {} ANSWER.json --fingerprint \"…\"",
                inv.invitee,
                out.display(),
                inv.expires_at,
                inv.invitee,
                inv.invitee,
                out.file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                dir.dir.display()
            );
        }
        Cmd::Peer {
            cmd:
                PeerCmd::Accept {
                    dir,
                    file,
                    fingerprint,
                },
        } => {
            let a = entente_server::invite::accept(&dir.dir, &file, fingerprint.as_deref()).await?;
            print_accepted(&a);
        }
        Cmd::Id { dir } => {
            let node = entente_server::open(&dir.dir).await?;
            let k = node.public_key();
            println!(
                "partner     {}\nurl         {}\npublic key  {}\nfingerprint {}",
                node.partner(),
                node.config().public_url,
                k.to_hex(),
                k.fingerprint()
            );
        }
        Cmd::Peer {
            cmd:
                PeerCmd::Add {
                    dir,
                    partner,
                    key,
                    url,
                },
        } => {
            let node = entente_server::open(&dir.dir).await?;
            let p = node.add_peer(&partner, url.as_deref(), &key).await?;
            println!(
                "pinned {} ({}) {}",
                p.record.partner,
                p.key.fingerprint(),
                p.record.url.as_deref().unwrap_or("(key only)")
            );
        }
        Cmd::Peer {
            cmd: PeerCmd::Suspend { dir, partner },
        } => peer_state(&dir, &partner, "suspended").await?,
        Cmd::Peer {
            cmd: PeerCmd::Resume { dir, partner },
        } => peer_state(&dir, &partner, "active").await?,
        Cmd::Peer {
            cmd: PeerCmd::Remove { dir, partner },
        } => peer_state(&dir, &partner, "removed").await?,
        Cmd::User {
            cmd: UserCmd::List { dir },
        } => {
            let node = entente_server::open(&dir.dir).await?;
            for u in node.users(&operator(&node)).await? {
                println!(
                    "{:<24} {:<8} {}{}",
                    u.username,
                    u.role.as_str(),
                    u.created_at,
                    if u.disabled { "  DISABLED" } else { "" }
                );
            }
        }
        Cmd::User {
            cmd: UserCmd::Disable { dir, username },
        } => user_change(&dir, &username, None, Some(true)).await?,
        Cmd::User {
            cmd: UserCmd::Enable { dir, username },
        } => user_change(&dir, &username, None, Some(false)).await?,
        Cmd::User {
            cmd:
                UserCmd::SetRole {
                    dir,
                    username,
                    role,
                },
        } => user_change(&dir, &username, Some(role), None).await?,
        Cmd::User {
            cmd: UserCmd::Delete { dir, username },
        } => {
            let node = entente_server::open(&dir.dir).await?;
            node.delete_user(&operator(&node), &username).await?;
            println!("deleted {username} and its tokens and sessions");
        }
        Cmd::Token {
            cmd: TokenCmd::List { dir, username },
        } => {
            let node = entente_server::open(&dir.dir).await?;
            for t in node
                .list_tokens(&operator(&node), username.as_deref())
                .await?
            {
                println!(
                    "{}  {:<20} {:<8} {:<24} created {}  expires {}",
                    t.id,
                    t.username,
                    t.kind,
                    t.label,
                    t.created_at,
                    t.expires_at.as_deref().unwrap_or("never")
                );
            }
        }
        Cmd::Token {
            cmd: TokenCmd::Revoke { dir, id },
        } => {
            let node = entente_server::open(&dir.dir).await?;
            let t = node.revoke_token(&operator(&node), &id).await?;
            println!("revoked {} of {} ({})", t.id, t.username, t.label);
        }
        Cmd::Peer {
            cmd: PeerCmd::List { dir },
        } => {
            let node = entente_server::open(&dir.dir).await?;
            for p in node.peer_list() {
                println!(
                    "{:<6} {:<28} {}  {}  last ok {}  last error {}",
                    p.record.partner,
                    p.record.url.as_deref().unwrap_or("(key only)"),
                    p.key.fingerprint(),
                    p.record.state,
                    p.record.last_ok_at.as_deref().unwrap_or("never"),
                    p.record.last_error.as_deref().unwrap_or("none")
                );
            }
        }
        Cmd::User {
            cmd:
                UserCmd::Add {
                    dir,
                    username,
                    role,
                    password,
                    password_file,
                },
        } => {
            let password = match password_file {
                Some(f) => Some(read_password_file(&f)?),
                None => password,
            };
            let node = entente_server::open(&dir.dir).await?;
            let (password, generated) = match password {
                Some(p) => (p, false),
                None => (entente_server::generate_password()?, true),
            };
            entente_server::add_user(&node, &username, &role, &password).await?;
            println!("added {username} ({role})");
            if generated {
                println!("password {password}");
            }
        }
        Cmd::Token {
            cmd:
                TokenCmd::Create {
                    dir,
                    username,
                    label,
                    scope,
                },
        } => {
            let node = entente_server::open(&dir.dir).await?;
            let kind = if scope == "read" {
                entente_node::auth::TokenKind::ApiRead
            } else {
                entente_node::auth::TokenKind::Api
            };
            println!("{}", node.create_token_for(&username, &label, kind).await?);
        }
        Cmd::Reindex { dir } => {
            let cfg = entente_server::ServerConfig::load(&dir.dir)?;
            // Start from an empty index, so a damaged one is replaced rather than reused.
            let sdir = entente_server::search_dir(&cfg);
            if sdir.exists() {
                std::fs::remove_dir_all(&sdir)
                    .with_context(|| format!("removing {}", sdir.display()))?;
            }
            let node = entente_server::open_with(&cfg).await?;
            let r = match entente_server::attach_search(&node, &cfg).await? {
                Some(r) => r,
                None => node.reindex().await?,
            };
            let (docs, bytes) = node.search_stats().unwrap_or_default();
            println!(
                "reindexed {} documents from {} entries in {:.1} s; index {} documents, {:.1} MB",
                r.documents,
                r.entries,
                r.seconds,
                docs,
                bytes as f64 / 1e6
            );
        }
        Cmd::Sync { dir, once: _ } => {
            let node = entente_server::open(&dir.dir).await?;
            let mut failed = false;
            for r in node.sync_once().await {
                println!(
                    "{:<6} logs offered {:>4}  applied {:>8}  duplicates {:>6}  rejected {}  forks {}  {}",
                    r.partner,
                    r.logs_offered,
                    r.entries_applied,
                    r.duplicates,
                    r.rejected.len(),
                    r.forks,
                    r.error.as_deref().unwrap_or("ok")
                );
                failed |= r.error.is_some();
            }
            if failed {
                bail!("sync with at least one peer failed");
            }
        }
        Cmd::Verify {
            dir, audit: true, ..
        } => {
            let node = entente_server::open(&dir.dir).await?;
            let r = node.verify_audit().await?;
            println!("{} audit records checked", r.records);
            if !r.problems.is_empty() {
                for p in &r.problems {
                    eprintln!("PROBLEM: {p}");
                }
                std::process::exit(1);
            }
            println!("the audit log verifies");
        }
        Cmd::Verify {
            dir,
            statement: Some(file),
            ..
        } => {
            let node = entente_server::open(&dir.dir).await?;
            let text =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let doc: entente_node::statements::StatementExport = serde_json::from_slice(&text)
                .with_context(|| format!("{}: not an exported statement", file.display()))?;
            match entente_node::statements::verify_statement_export(&doc, |p| node.key_of(p)) {
                Ok(msg) => println!("OK: {msg}"),
                Err(e) => {
                    eprintln!("FAILED: {}: {e}", file.display());
                    std::process::exit(1);
                }
            }
        }
        Cmd::Verify {
            dir,
            statement: None,
            ..
        } => {
            let node = entente_server::open(&dir.dir).await?;
            let pb = bar(0, "verify");
            let report = node.verify_all(|n| pb.set_position(n)).await?;
            pb.finish_and_clear();
            println!(
                "{} logs, {} entries checked, {} fork(s)",
                report.logs, report.entries, report.forks
            );
            if !report.ok() {
                for p in &report.problems {
                    eprintln!("PROBLEM: {p}");
                }
                std::process::exit(1);
            }
            println!("all logs verify");
        }
        Cmd::Config {
            cmd: ConfigCmd::Check { dir },
        } => {
            for line in entente_server::config_check(&dir.dir, std::env::vars()).await? {
                println!("ok  {line}");
            }
        }
        Cmd::Backup { dir, out } => {
            entente_server::backup(&dir.dir, &out).await?;
            println!("backup written to {}", out.display());
        }
        Cmd::Restore { dir, from } => match entente_server::restore(&dir.dir, &from).await? {
            Some(kept) => println!(
                "restored {} (previous database kept as {}); run `entente verify`",
                from.display(),
                kept.display()
            ),
            None => println!(
                "restored {} into the PostgreSQL database; run `entente verify`",
                from.display()
            ),
        },
        Cmd::Api {
            dir,
            user,
            method,
            path,
            data,
        } => {
            let node = entente_server::open(&dir.dir).await?;
            let (status, body) =
                entente_server::call_api(node, &user, &method, &path, data.as_deref()).await?;
            match serde_json::from_str::<serde_json::Value>(&body) {
                Ok(v) => println!("{}", serde_json::to_string_pretty(&v)?),
                Err(_) => println!("{body}"),
            }
            if status >= 400 {
                eprintln!("HTTP {status}");
                std::process::exit(1);
            }
        }
        Cmd::Import {
            dir,
            format,
            user,
            galaxy: true,
            file,
            ..
        } => {
            let node = entente_server::open(&dir.dir).await?;
            let who = node.principal_for(&user).await?;
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let n = node.import_misp_galaxy(&who, &format, &bytes).await?;
            println!("imported {n} attack patterns");
        }
        Cmd::Import {
            dir,
            format,
            user,
            misp: true,
            sharing_groups,
            org_map,
            file,
            ..
        } => {
            let node = entente_server::open(&dir.dir).await?;
            let who = node.principal_for(&user).await?;
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let mut opts = entente_domain::misp::MispOptions::default();
            if let Some(p) = sharing_groups {
                let v: serde_json::Value = serde_json::from_slice(
                    &std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?,
                )
                .with_context(|| format!("{}: not JSON", p.display()))?;
                opts.sharing_groups = v.as_array().cloned().unwrap_or_else(|| vec![v]);
            }
            for (org, partner) in org_map {
                opts.org_map
                    .insert(org, entente_domain::PartnerCode::parse(&partner)?);
            }
            let r = node.import_misp_event(&who, &format, &bytes, &opts).await?;
            println!("{}", serde_json::to_string_pretty(&r)?);
        }
        Cmd::Import {
            dir,
            format,
            user,
            batch,
            file,
            ..
        } => {
            let node = entente_server::open(&dir.dir).await?;
            let who = node.principal_for(&user).await?;
            let size = std::fs::metadata(&file)
                .with_context(|| format!("reading {}", file.display()))?
                .len();
            let pb = if size > STREAM_IMPORT_BYTES {
                counter("import")
            } else {
                bar(0, "import")
            };
            let t0 = std::time::Instant::now();
            // Large files are streamed (bounded memory); small ones may also hold a single
            // object instead of a bundle.
            let n = if size > STREAM_IMPORT_BYTES {
                let f = std::fs::File::open(&file)
                    .with_context(|| format!("reading {}", file.display()))?;
                node.import_stix_stream(&who, &format, f, batch, |done| pb.set_position(done))
                    .await?
            } else {
                let bytes =
                    std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
                node.import_stix_bundle(&who, &format, &bytes, batch, |done, total| {
                    pb.set_length(total);
                    pb.set_position(done);
                })
                .await?
            };
            pb.finish_and_clear();
            let secs = t0.elapsed().as_secs_f64();
            println!(
                "imported {n} objects in {secs:.2} s ({:.0} objects/s)",
                n as f64 / secs
            );
        }
        Cmd::Export {
            dir,
            format,
            user,
            out,
            misp,
        } => {
            let node = entente_server::open(&dir.dir).await?;
            let who = node.principal_for(&user).await?;
            let bundle = if misp {
                serde_json::to_string_pretty(&node.export_misp_event(&who, &format).await?)?
            } else {
                node.export_stix_bundle(&who, &format).await?
            };
            match out {
                Some(p) => entente_server::write_private(&p, bundle.as_bytes())
                    .with_context(|| format!("writing {}", p.display()))?,
                None => println!("{bundle}"),
            }
        }
    }
    Ok(())
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,tantivy=warn".into());
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        b.json().init();
    } else {
        b.init();
    }
}
