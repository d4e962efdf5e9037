//! `entente demo`: three peered nodes (EU, NATO, JPN) on 127.0.0.1 in one process, seeded
//! with a clearly fictional exercise scenario so each node visibly sees a different subset.

mod dialogue;

use crate::{ServerConfig, bind, generate_password, init, open_with, serve_node};
use anyhow::{Context, Result};
use entente_node::auth::Principal;
use entente_node::auth::TokenKind;
use entente_node::sync::BackgroundHandle;
use entente_node::{NewFormat, NewItem, Node};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const PARTNERS: [&str; 3] = ["EU", "NATO", "JPN"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoNode {
    pub partner: String,
    pub url: String,
    pub username: String,
    pub password: String,
    pub token: String,
    /// The node's TLS certificate (self-signed, bound to its node key): `curl --cacert`.
    #[serde(default)]
    pub certificate: String,
    /// SHA-256 of the certificate's key, base64: Chromium's
    /// `--ignore-certificate-errors-spki-list`, curl's `--pinnedpubkey sha256//…`.
    #[serde(default)]
    pub spki_pin: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoFile {
    pub nodes: Vec<DemoNode>,
}

/// Running demo nodes; dropping it stops their background work.
#[derive(Debug)]
pub struct Demo {
    pub nodes: Vec<Arc<Node>>,
    pub file: DemoFile,
    pub handles: Vec<BackgroundHandle>,
    pub servers: Vec<tokio::task::JoinHandle<Result<()>>>,
    pub shutdown: tokio::sync::watch::Sender<bool>,
}

/// Create (first run) or reopen (later runs) the demo in `dir` and start its nodes.
pub async fn start(dir: &Path, base_port: u16) -> Result<Demo> {
    let demo_json = dir.join("demo.json");
    let fresh = !demo_json.exists();
    let dirs: Vec<PathBuf> = PARTNERS
        .iter()
        .map(|p| dir.join(p.to_lowercase()))
        .collect();
    let mut file = DemoFile { nodes: vec![] };
    if fresh {
        if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
            anyhow::bail!(
                "{} exists but holds no demo.json; remove it or pass another --dir",
                dir.display()
            );
        }
        for (i, p) in PARTNERS.iter().enumerate() {
            let addr: SocketAddr = ([127, 0, 0, 1], base_port + i as u16).into();
            init(&dirs[i], p, addr, None).await?;
            ServerConfig::rewrite(&dirs[i], |f| {
                f.sync.interval_secs = 5;
                // Each partner's seat: its users see times there, with UTC beside.
                f.time_zone = Some(
                    match *p {
                        "JPN" => "Asia/Tokyo",
                        _ => "Europe/Brussels",
                    }
                    .into(),
                );
            })?;
        }
    } else {
        file = serde_json::from_slice(&std::fs::read(&demo_json)?).context("demo.json")?;
    }
    let cfgs: Vec<ServerConfig> = dirs
        .iter()
        .map(|d| ServerConfig::load(d))
        .collect::<Result<_>>()?;
    // Bind every port before anything else, so a port in use stops the demo at once.
    let mut listeners = vec![];
    for c in &cfgs {
        listeners.push(bind(c.listen).await?);
    }
    let mut nodes = vec![];
    for c in &cfgs {
        let n = open_with(c).await?;
        crate::attach_search(&n, c).await?;
        nodes.push(n);
    }
    if fresh {
        for (i, n) in nodes.iter().enumerate() {
            for (j, other) in nodes.iter().enumerate() {
                if i != j {
                    n.add_peer(
                        other.partner().as_str(),
                        Some(&other.config().public_url),
                        &other.public_key().to_hex(),
                    )
                    .await?;
                }
            }
            let password = generate_password()?;
            n.add_user("admin", entente_domain::Role::Admin, &password)
                .await?;
            let token = n.create_token_for("admin", "demo", TokenKind::Api).await?;
            file.nodes.push(DemoNode {
                partner: n.partner().to_string(),
                url: n.config().public_url.clone(),
                username: "admin".into(),
                password,
                token,
                certificate: String::new(),
                spki_pin: String::new(),
            });
        }
    }
    let (shutdown, rx) = tokio::sync::watch::channel(false);
    let mut servers = vec![];
    for ((n, l), c) in nodes.iter().zip(listeners).zip(&cfgs) {
        let mut rx = rx.clone();
        let stop = async move {
            let _ = rx.changed().await;
        };
        let (n, c) = (Arc::clone(n), c.clone());
        servers.push(tokio::spawn(
            async move { serve_node(n, &c, l, stop).await },
        ));
    }
    // The certificate files exist once the servers started; refresh what demo.json says of
    // them (a rerun of an older demo directory gets them too).
    for (d, n) in file.nodes.iter_mut().zip(&nodes) {
        if let Some(id) = &n.config().transport.identity {
            d.certificate = n
                .config()
                .data_dir
                .join(crate::tls::TLS_CERT_FILE)
                .display()
                .to_string();
            d.spki_pin = id.spki_pin();
            d.url = n.config().public_url.clone();
        }
    }
    if fresh {
        seed(&nodes).await.context("seeding the demo scenario")?;
        // Admin passwords and tokens: readable by the operator only.
        crate::write_secret(&demo_json, &serde_json::to_string_pretty(&file)?)?;
    }
    let handles = nodes.iter().map(|n| n.start()).collect();
    Ok(Demo {
        nodes,
        file,
        handles,
        servers,
        shutdown,
    })
}

impl Demo {
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for h in self.handles {
            h.stop().await;
        }
        for s in self.servers {
            let _ = s.await;
        }
    }
}

fn admin(n: &Node) -> Principal {
    Principal {
        username: "admin".into(),
        role: entente_domain::Role::Admin,
        partner: n.partner().clone(),
    }
}

struct Seed<'a> {
    node: &'a Node,
}

impl Seed<'_> {
    async fn item(
        &self,
        format_id: &str,
        kind: &str,
        title: &str,
        body: &str,
        topics: &[&str],
        marking: (Option<&str>, Option<&[&str]>),
    ) -> Result<String> {
        let (tlp, to) = marking;
        let ni = NewItem {
            format_id: format_id.into(),
            kind: kind.into(),
            title: title.into(),
            body: body.into(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            tlp: tlp.map(str::to_owned),
            releasable_to: to.map(|v| v.iter().map(|p| p.to_string()).collect()),
            named_users: vec![],
            attachments: vec![],
        };
        Ok(self.node.create_item(&admin(self.node), ni).await?.item_id)
    }

    /// Attach a text file to an item, as its author would from the item's page.
    async fn attach(&self, item_id: &str, name: &str, text: &str) -> Result<()> {
        let who = admin(self.node);
        let mut up = self.node.begin_upload(&who).await?;
        up.write(text.as_bytes()).await?;
        let u = up.finish(self.node).await?;
        let file = entente_node::NewAttachment {
            sha256: u.sha256,
            name: name.into(),
        };
        self.node.attach_file(&who, item_id, file).await?;
        Ok(())
    }
}

const NOTICE: &str = "*EXERCISE — fictional scenario for the Entente demo. Not real events.*\n\n";

/// The seed scenario. Formats are convened by the EU; each partner then publishes items at
/// different TLP levels and audiences, so EU, NATO and JPN each see a different subset.
async fn seed(nodes: &[Arc<Node>]) -> Result<()> {
    let (eu, nato, jpn) = (&nodes[0], &nodes[1], &nodes[2]);
    let formats = eu.create_from_template(&admin(eu), "JPN").await?;
    let bilateral = eu
        .create_format(
            &admin(eu),
            NewFormat {
                title: "EU–Japan — security and defence partnership".into(),
                description: "Bilateral format of the EU and Japan (shows selective cooperation)."
                    .into(),
                topics: vec![
                    "maritime-security".into(),
                    "cyber-defence".into(),
                    "economic-security".into(),
                ],
                members: vec!["EU".into(), "JPN".into()],
                stix_default_releasable_to: None,
            },
        )
        .await?;
    // Let NATO and JPN receive the formats before they publish into them.
    nato.sync_peer(eu.partner()).await;
    jpn.sync_peer(eu.partner()).await;
    let id = |suffix: &str| {
        formats
            .iter()
            .find(|f| f.title.ends_with(suffix))
            .map(|f| f.format_id.clone())
            .unwrap_or_default()
    };
    let (maritime, hybrid, cyber, edt) = (
        id("maritime security"),
        id("hybrid threats and FIMI"),
        id("cyber defence"),
        id("emerging and disruptive technologies"),
    );

    let s = Seed { node: eu };
    let all: &[&str] = &["EU", "NATO", "JPN"];
    let ais = s.item(&maritime, "report", "EXERCISE: AIS gaps around the fictional Strait of Veldra",
        &format!("{NOTICE}Three tankers switched off AIS for 6–9 hours while transiting the (fictional) Strait of Veldra. Pattern consistent with ship-to-ship transfers."),
        &["maritime-security"], (Some("GREEN"), Some(all))).await?;
    s.attach(&ais, "AIS gaps — annex (exercise).txt", "EXERCISE — fictional data for the Entente demo.\n\nVessel\tAIS off (UTC)\tHours dark\nTanker A\t2026-11-02 21:10\t6.5\nTanker B\t2026-11-03 02:40\t9.0\nTanker C\t2026-11-04 23:55\t7.2\n").await?;
    s.item(&hybrid, "incident", "EXERCISE: Coordinated network amplifies fabricated port-closure claims",
        &format!("{NOTICE}A cluster of newly created pages (DISARM T0007 Create Inauthentic Social Media Pages and Groups) floods feeds (T0049 Flood Information Space) with a fabricated claim that a partner port is closed (T0023 Distort Facts)."),
        &["fimi", "hybrid-threats"], (Some("AMBER"), Some(&["EU", "JPN"]))).await?;
    let bp = s.item(&hybrid, "best-practice", "EXERCISE: Joint attribution messaging checklist",
        &format!("{NOTICE}1. Agree facts before attribution. 2. Publish at the same hour. 3. Use the same core sentence in every language."),
        &["fimi"], (Some("GREEN"), Some(all))).await?;
    eu.revise_item(&admin(eu), &bp, entente_node::ItemRevision {
        title: "EXERCISE: Joint attribution messaging checklist (rev. 2)".into(),
        body: format!("{NOTICE}1. Agree facts before attribution. 2. Publish at the same hour. 3. Use the same core sentence in every language. 4. Name a single spokesperson per partner."),
        topics: vec!["fimi".into()],
    }).await?;
    s.item(
        &edt,
        "note",
        "EXERCISE: Internal drafting note (unmarked)",
        &format!("{NOTICE}Unmarked draft: treated as TLP:RED, originator only."),
        &["emerging-technologies"],
        (None, None),
    )
    .await?;
    s.item(
        &bilateral.format_id,
        "assessment",
        "EXERCISE: Supply-chain exposure of a fictional chip foundry",
        &format!("{NOTICE}Bilateral EU–Japan assessment of supply-chain dependencies."),
        &["economic-security"],
        (Some("AMBER+STRICT"), Some(&["EU", "JPN"])),
    )
    .await?;

    let s = Seed { node: nato };
    s.item(&cyber, "assessment", "EXERCISE: Wiper targeting fictional port logistics systems",
        &format!("{NOTICE}Assessment shared with Japan only: overlaps with a fictional wiper seen in last quarter's exercise."),
        &["cyber-defence", "critical-infrastructure"], (Some("AMBER+STRICT"), Some(&["NATO", "JPN"]))).await?;
    s.item(
        &maritime,
        "report",
        "EXERCISE: Military mobility — fictional ferry capacity study",
        &format!("{NOTICE}Ro-ro ferry capacity available for a notional reinforcement exercise."),
        &["military-mobility"],
        (Some("GREEN"), Some(all)),
    )
    .await?;
    let dup = s
        .item(
            &cyber,
            "note",
            "EXERCISE: Duplicate alert (to be retracted)",
            &format!("{NOTICE}Posted twice by mistake."),
            &["cyber-defence"],
            (Some("CLEAR"), Some(all)),
        )
        .await?;
    nato.retract_item(&admin(nato), &dup, "duplicate of an earlier note")
        .await?;

    let s = Seed { node: jpn };
    s.item(
        &maritime,
        "note",
        "EXERCISE: Coast guard liaison contact update",
        &format!("{NOTICE}New 24/7 liaison desk for the exercise period."),
        &["maritime-security"],
        (Some("CLEAR"), Some(all)),
    )
    .await?;
    s.item(
        &bilateral.format_id,
        "lesson-learned",
        "EXERCISE: Lessons from a joint table-top on undersea cables",
        &format!(
            "{NOTICE}Pre-agreed contact lists cut the time to a joint statement from 9 to 3 hours."
        ),
        &["critical-infrastructure"],
        (Some("GREEN"), Some(&["EU", "JPN"])),
    )
    .await?;
    s.item(
        &hybrid,
        "report",
        "EXERCISE: Deepfake video of a fictional minister",
        &format!("{NOTICE}Shared with NATO only in this scenario."),
        &["fimi"],
        (Some("AMBER"), Some(&["NATO", "JPN"])),
    )
    .await?;

    settle(nodes).await;
    nato.endorse(&admin(nato), &bp).await?;
    jpn.endorse(&admin(jpn), &bp).await?;
    jpn.sighting(
        &admin(jpn),
        &bp,
        "2026-11-20T10:00:00.000Z",
        2,
        "used in our own exercise",
    )
    .await?;
    seed_instruments(nodes, &maritime, &hybrid, &cyber, &edt).await?;

    // Converge once so the demo starts in a settled state.
    settle(nodes).await;
    Ok(())
}

/// Joint actions (grouped like the EU–NATO common actions of the 2016 Warsaw declaration and
/// the later additions), statements, alerts, an exercise and an industrial project.
async fn seed_instruments(
    nodes: &[Arc<Node>],
    maritime: &str,
    hybrid: &str,
    cyber: &str,
    edt: &str,
) -> Result<()> {
    use entente_domain::coord::{ActionStatus, ExerciseResponse, MilestoneUpdate};
    use entente_domain::statement::{AdoptionRule, Stance};
    use entente_node::coord::{NewAction, NewExercise, NewMilestone, NewProgress, NewProject};
    let (eu, nato, jpn) = (&nodes[0], &nodes[1], &nodes[2]);
    // (format, common-action area, title, topics, leads, status reported by the lead)
    type SeedAction<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a [&'a str],
        &'a [&'a str],
        &'a str,
    );
    let actions: [SeedAction; 10] = [
        (
            hybrid,
            "countering hybrid threats",
            "Joint situational awareness on hybrid threats",
            &["hybrid-threats"],
            &["EU", "NATO"],
            "in_progress",
        ),
        (
            maritime,
            "operational cooperation including maritime issues",
            "Coordinated maritime patrol information exchange",
            &["maritime-security"],
            &["NATO"],
            "implemented",
        ),
        (
            cyber,
            "cyber security and defence",
            "Exchange of cyber threat indicators and exercises",
            &["cyber-defence"],
            &["EU", "NATO"],
            "in_progress",
        ),
        (
            edt,
            "defence capabilities",
            "Coherent capability development on space situational awareness",
            &["defence-capabilities", "space"],
            &["EU"],
            "agreed",
        ),
        (
            edt,
            "defence industry and research",
            "Dialogue on emerging technologies in defence research",
            &["defence-industry", "emerging-technologies"],
            &["EU"],
            "proposed",
        ),
        (
            maritime,
            "exercises",
            "Parallel and coordinated crisis-management exercises",
            &["exercises"],
            &["NATO"],
            "in_progress",
        ),
        (
            hybrid,
            "capacity-building of partners",
            "Resilience capacity-building for partners",
            &["capacity-building", "resilience"],
            &["EU", "JPN"],
            "stalled",
        ),
        (
            maritime,
            "military mobility",
            "Military mobility across seas: port access procedures",
            &["military-mobility"],
            &["EU", "NATO"],
            "in_progress",
        ),
        (
            hybrid,
            "counter-terrorism",
            "Counter-terrorism financing information sharing",
            &["counter-terrorism"],
            &["EU"],
            "agreed",
        ),
        (
            cyber,
            "resilience to CBRN risks",
            "Resilience to CBRN risks: joint table-top series",
            &["wmd-cbrn", "resilience"],
            &["NATO"],
            "proposed",
        ),
    ];
    let mut created = vec![];
    for (format_id, group, title, topics, leads, _) in &actions {
        let node = if leads[0] == "NATO" { nato } else { eu };
        let a = node
            .create_action(
                &admin(node),
                NewAction {
                    format_id: format_id.to_string(),
                    title: format!("EXERCISE: {title}"),
                    description: format!("{NOTICE}Common action area: {group}."),
                    group: group.to_string(),
                    topics: topics.iter().map(|t| t.to_string()).collect(),
                    leads: leads.iter().map(|l| l.to_string()).collect(),
                    participants: vec!["EU".into(), "NATO".into(), "JPN".into()],
                    milestones: vec![
                        NewMilestone {
                            title: "Terms of reference agreed".into(),
                            due: "2026-06-30".into(),
                        },
                        NewMilestone {
                            title: "First joint deliverable".into(),
                            due: "2027-03-31".into(),
                        },
                    ],
                },
            )
            .await?;
        created.push((a, node));
    }
    settle(nodes).await;
    for ((a, lead), (_, _, _, _, _, status)) in created.iter().zip(actions.iter()) {
        let status: ActionStatus =
            serde_json::from_value(serde_json::Value::String(status.to_string()))?;
        let done = matches!(status, ActionStatus::Implemented | ActionStatus::InProgress);
        lead.report_progress(
            &admin(lead),
            &a.action_id,
            NewProgress {
                period: "2026-H2".into(),
                status,
                narrative: format!("{NOTICE}Lead's report for the second half of 2026."),
                milestones: vec![MilestoneUpdate {
                    milestone_id: "m1".into(),
                    done,
                    note: String::new(),
                }],
            },
        )
        .await?;
        jpn.report_progress(
            &admin(jpn),
            &a.action_id,
            NewProgress {
                period: "2026-H2".into(),
                status,
                narrative: format!("{NOTICE}Japan's contribution this period."),
                milestones: vec![],
            },
        )
        .await?;
    }
    settle(nodes).await;

    // Statements: one adopted by unanimity, one pending under the silence procedure.
    let np = |title: &str, text: &str, rule, deadline: Option<String>| {
        entente_node::statements::NewStatement {
            format_id: hybrid.to_owned(),
            title: title.to_owned(),
            text: text.to_owned(),
            releasable_to: None,
            required: None,
            rule,
            deadline,
        }
    };
    let adopted = eu
        .create_statement(&admin(eu), np("EXERCISE: Joint statement on nuclear non-proliferation", "We, the EU, NATO and Japan, reaffirm our commitment to the Treaty on the Non-Proliferation of Nuclear Weapons (fictional exercise text).", AdoptionRule::Unanimity, None))
        .await?;
    settle(nodes).await;
    for n in [eu, nato, jpn] {
        n.take_stance(
            &admin(n),
            &adopted.state.statement_id,
            1,
            Stance::Endorse,
            "",
        )
        .await?;
    }
    let deadline =
        entente_node::clock::rfc3339(time::OffsetDateTime::now_utc() + time::Duration::days(7));
    eu.create_statement(&admin(eu), np("EXERCISE: Statement on FIMI targeting elections", "We condemn foreign information manipulation and interference (fictional exercise text).", AdoptionRule::Silence, Some(deadline))).await?;
    settle(nodes).await;

    // Alerts: one acknowledged, one that falls overdue seconds after the demo starts.
    let alert = |title: &str, secs: i64| entente_node::alerts::NewAlert {
        format_id: maritime.to_owned(),
        severity: entente_domain::alert::Severity::High,
        title: title.to_owned(),
        text: format!("{NOTICE}Acknowledge receipt."),
        ack_deadline: entente_node::clock::rfc3339(
            time::OffsetDateTime::now_utc() + time::Duration::seconds(secs),
        ),
        releasable_to: None,
    };
    let acked = nato
        .raise_alert(
            &admin(nato),
            alert("EXERCISE: Undersea cable damage reported", 3600),
        )
        .await?;
    nato.raise_alert(
        &admin(nato),
        alert(
            "EXERCISE: GNSS jamming near the fictional Strait of Veldra",
            2,
        ),
    )
    .await?;
    settle(nodes).await;
    for n in [eu, jpn] {
        n.acknowledge_alert(
            &admin(n),
            &acked.alert.alert_id,
            "received, liaison desk informed",
        )
        .await?;
    }

    // An exercise with invitations and an after-action lesson; a project with interest.
    let x = nato
        .plan_exercise(
            &admin(nato),
            NewExercise {
                format_id: maritime.to_owned(),
                details: entente_domain::coord::ExerciseDetails {
                    name: "EXERCISE STEADFAST VELDRA 2027 (fictional)".into(),
                    start: "2027-03-01".into(),
                    end: "2027-03-05".into(),
                    topics: vec!["exercises".into(), "maritime-security".into()],
                    location: "Souda Bay, Crete (fictional scenario)".into(),
                },
                invited: vec!["EU".into(), "JPN".into()],
                observers: vec![],
            },
        )
        .await?;
    settle(nodes).await;
    eu.respond_exercise(
        &admin(eu),
        &x.plan.exercise_id,
        ExerciseResponse::Participate,
    )
    .await?;
    jpn.respond_exercise(&admin(jpn), &x.plan.exercise_id, ExerciseResponse::Observe)
        .await?;
    let lesson = nato
        .create_item(
            &admin(nato),
            NewItem {
                format_id: maritime.to_owned(),
                kind: "lesson-learned".into(),
                title: "EXERCISE: After action — liaison officers embedded from day one".into(),
                body: format!(
                    "{NOTICE}Embedding liaison officers on day one halved coordination delays."
                ),
                topics: vec!["exercises".into()],
                tlp: Some("GREEN".into()),
                releasable_to: Some(vec!["EU".into(), "JPN".into(), "NATO".into()]),
                named_users: vec![],
                attachments: vec![],
            },
        )
        .await?;
    nato.add_exercise_lesson(&admin(nato), &x.plan.exercise_id, &lesson.item_id)
        .await?;
    let p = jpn
        .register_project(
            &admin(jpn),
            NewProject {
                format_id: edt.to_owned(),
                title: "EXERCISE: Unmanned maritime domain awareness demonstrator".into(),
                capability_area: "maritime domain awareness".into(),
                description: format!("{NOTICE}Fictional capability project."),
                stage: "concept".into(),
                participants: vec!["JPN".into()],
                releasable_to: None,
            },
        )
        .await?;
    settle(nodes).await;
    eu.express_interest(&admin(eu), &p.project.project_id, "sensor fusion")
        .await?;
    nato.express_interest(
        &admin(nato),
        &p.project.project_id,
        "interoperability testing",
    )
    .await?;
    settle(nodes).await;
    dialogue::seed_dialogue(nodes, maritime, &lesson.item_id).await
}

/// Two pull rounds on every node: enough for three fully peered nodes to converge.
async fn settle(nodes: &[Arc<Node>]) {
    for _ in 0..2 {
        for n in nodes {
            n.sync_once().await;
        }
    }
}
