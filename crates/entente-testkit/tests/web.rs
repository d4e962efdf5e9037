//! The web UI over real sockets: every page template rendered from a three-node scenario and
//! kept as an HTML snapshot (ids, keys, tokens and times redacted); every form refusing bad input
//! with a message beside the field while storing nothing; CSRF and sessions; and search, which
//! never finds or counts what a user may not see.

mod common;

use common::*;
use entente_domain::Role;
use entente_node::auth::TokenKind;
use entente_node::clock::ManualClock;
use entente_testkit::{Cluster, ClusterOptions, TestNode};
use reqwest::StatusCode;
use std::sync::Arc;

fn t(s: &str) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
}

async fn cluster() -> Cluster {
    cluster_and_clock().await.0
}

/// The test cluster and the clock its nodes read (for deadline tests).
async fn cluster_and_clock() -> (Cluster, ManualClock) {
    let clock = ManualClock::new(t("2026-11-27T09:00:00Z"));
    let c = Cluster::with(
        &["EU", "NATO", "JPN"],
        ClusterOptions {
            clock: Some(Arc::new(clock.clone())),
            search: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    (c, clock)
}

/// A browser: the session cookie and the CSRF token of the signed-in user.
struct Web {
    base: String,
    http: reqwest::Client,
    cookie: String,
    csrf: String,
}

const FORM: &str = "application/x-www-form-urlencoded";

fn encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn csrf_in(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF field");
    html[at + 19..].split('"').next().unwrap().to_owned()
}

/// The review seal in an item form under review.
fn seal_in(html: &str) -> String {
    let at = html
        .find("name=\"reviewed\" value=\"")
        .expect("a review seal in the page");
    let rest = &html[at + "name=\"reviewed\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

impl Web {
    async fn login(n: &TestNode, user: &str, password: &str) -> Web {
        let (http, cookie) = sign_in(n, user, password).await;
        let mut w = Web {
            base: n.url(),
            http,
            cookie,
            csrf: String::new(),
        };
        let (_, html) = w.get("/ui/").await;
        w.csrf = csrf_in(&html);
        w
    }

    async fn admin(n: &TestNode) -> Web {
        Web::login(n, "admin", "admin-password-1").await
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// POST a form with this session's CSRF token: (status, redirect target, body).
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String, String) {
        let mut form: Vec<(&str, &str)> = vec![("csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        self.post_raw(path, &form).await
    }

    /// Publish an item as a person does: review the audience, then publish what was reviewed
    /// (the review's seal sent back). Returns the publish step's (status, redirect, body).
    async fn review_and_publish(&self, fields: &[(&str, &str)]) -> (StatusCode, String, String) {
        let mut review = fields.to_vec();
        review.push(("step", "review"));
        let (status, _, html) = self.post("/ui/items", &review).await;
        assert_eq!(status, StatusCode::OK, "review: {html}");
        let seal = seal_in(&html);
        let mut publish = fields.to_vec();
        publish.push(("reviewed", seal.as_str()));
        publish.push(("step", "publish"));
        self.post("/ui/items", &publish).await
    }

    /// POST a multipart form (as a browser sends one with a file input) with this session's
    /// CSRF token first; `file` is the file input's (name, bytes).
    async fn post_multipart(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        file: Option<(&str, &[u8])>,
    ) -> (StatusCode, String, String) {
        let mut form: Vec<(&str, &str)> = vec![("csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        self.post_multipart_raw(path, &form, file).await
    }

    async fn post_multipart_raw(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        file: Option<(&str, &[u8])>,
    ) -> (StatusCode, String, String) {
        const B: &str = "entente-test-boundary-7f3a";
        let mut body = Vec::new();
        for (k, v) in fields {
            body.extend_from_slice(
                format!("--{B}\r\ncontent-disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                    .as_bytes(),
            );
        }
        if let Some((name, bytes)) = file {
            body.extend_from_slice(
                format!(
                    "--{B}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"{name}\"\r\ncontent-type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{B}--\r\n").as_bytes());
        self.send_post(path, format!("multipart/form-data; boundary={B}"), body)
            .await
    }

    async fn post_raw(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String, String) {
        self.send_post(path, FORM.to_owned(), encode(form).into_bytes())
            .await
    }

    /// POST a body with this session's cookie: (status, redirect target, body).
    async fn send_post(
        &self,
        path: &str,
        content_type: String,
        body: Vec<u8>,
    ) -> (StatusCode, String, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let loc = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (r.status(), loc, r.text().await.unwrap())
    }
}

/// One check helper for the pages: the page answers 200 and matches its snapshot.
async fn check(w: &Web, path: &str, name: &str) {
    let (status, html) = w.get(path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {html}");
    snapshot(name, html);
}

/// The page's snapshot, with what differs from run to run redacted.
fn snapshot(name: &str, html: String) {
    let mut s = insta::Settings::clone_current();
    s.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[id]",
    );
    s.add_filter(r"\b[0-9a-f]{64}\b", "[hash]");
    s.add_filter(r"\b[0-9a-f]{128}\b", "[signature]");
    s.add_filter(
        r#"name="csrf" value="[0-9a-f]+""#,
        r#"name="csrf" value="[csrf]""#,
    );
    s.add_filter(r"\b[0-9a-f]{4}(:[0-9a-f]{4}){3}\b", "[fingerprint]");
    s.add_filter(r"\b[0-9a-f]{24}…", "[signature]…");
    s.add_filter(r"<code>[0-9a-f]{16}…</code>", "<code>[root]…</code>");
    s.add_filter(r"ent_[0-9a-f]+", "[token]");
    s.add_filter(r"\b[0-9a-f]{16}\b", "[token-id]");
    s.add_filter(r"127\.0\.0\.1:\d+", "[addr]");
    s.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[time]");
    s.add_filter(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "[time]");
    s.set_snapshot_suffix(name);
    s.bind(|| insta::assert_snapshot!("page", html));
}

/// A form's fields.
type Form<'a> = Vec<(&'a str, &'a str)>;

/// Entries held and objects stored: a failed form must change none of them.
async fn footprint(n: &TestNode) -> (u64, usize, usize, usize, usize) {
    let st = n.node.store();
    let entries = st.logs().await.unwrap().iter().map(|l| l.head_seq).sum();
    let mut objects = 0;
    for k in ["action", "alert", "exercise", "project", "thread"] {
        objects += st.objects(k).await.unwrap().len();
    }
    (
        entries,
        objects,
        st.statements().await.unwrap().len(),
        st.users().await.unwrap().len(),
        st.formats().await.unwrap().len(),
    )
}

struct Scenario {
    c: Cluster,
    thread_id: String,
    meeting_id: String,
    paper_id: String,
    clock: ManualClock,
    format_id: String,
    item_id: String,
    statement_id: String,
    alert_id: String,
    action_id: String,
}

async fn scenario() -> Scenario {
    let (c, clock) = cluster_and_clock().await;
    let eu = c.node("EU");
    let f = format(
        eu,
        "EU–NATO–Japan maritime dialogue",
        &["EU", "NATO", "JPN"],
    )
    .await;
    c.sync_until_quiet().await;
    let it = item(
        eu,
        &f.format_id,
        "Ferry capacity study",
        Some("GREEN"),
        Some(&["JPN"]),
    )
    .await;
    item(
        eu,
        &f.format_id,
        "Port access procedures",
        Some("AMBER"),
        Some(&["NATO", "JPN"]),
    )
    .await;
    let st = eu
        .node
        .create_statement(
            &eu.admin(),
            entente_node::statements::NewStatement {
                format_id: f.format_id.clone(),
                title: "Joint statement on maritime security".into(),
                text: "The partners will coordinate patrols.\nThey will share port data.".into(),
                releasable_to: None,
                required: None,
                rule: entente_domain::statement::AdoptionRule::Unanimity,
                deadline: None,
            },
        )
        .await
        .unwrap();
    let a = eu
        .node
        .create_action(
            &eu.admin(),
            entente_node::coord::NewAction {
                format_id: f.format_id.clone(),
                title: "Coordinated patrol information exchange".into(),
                description: "Share patrol plans monthly.".into(),
                group: "maritime".into(),
                topics: vec!["maritime-security".into()],
                leads: vec!["EU".into()],
                participants: vec!["JPN".into()],
                milestones: vec![
                    entente_node::coord::NewMilestone {
                        title: "First exchange".into(),
                        due: "2026-11-01".into(),
                    },
                    entente_node::coord::NewMilestone {
                        title: "Review".into(),
                        due: "2027-03-01".into(),
                    },
                ],
            },
        )
        .await
        .unwrap();
    c.sync_until_quiet().await;
    let nato = c.node("NATO");
    let al = nato
        .node
        .raise_alert(
            &nato.admin(),
            entente_node::alerts::NewAlert {
                format_id: f.format_id.clone(),
                severity: entente_domain::alert::Severity::High,
                title: "Cable damage reported".into(),
                text: "Exercise: a fictional cable cut.".into(),
                ack_deadline: "2026-11-27T13:00:00Z".into(),
                releasable_to: None,
            },
        )
        .await
        .unwrap();
    eu.node
        .plan_exercise(
            &eu.admin(),
            entente_node::coord::NewExercise {
                format_id: f.format_id.clone(),
                details: entente_domain::coord::ExerciseDetails {
                    name: "Table-top on undersea cables".into(),
                    start: "2027-01-12".into(),
                    end: "2027-01-13".into(),
                    topics: vec!["maritime-security".into()],
                    ..Default::default()
                },
                invited: vec!["NATO".into(), "JPN".into()],
                observers: vec![],
            },
        )
        .await
        .unwrap();
    eu.node
        .register_project(
            &eu.admin(),
            entente_node::coord::NewProject {
                format_id: f.format_id.clone(),
                title: "Shared maritime surveillance drones".into(),
                capability_area: "maritime surveillance".into(),
                description: String::new(),
                stage: "concept".into(),
                participants: vec!["EU".into(), "JPN".into()],
                releasable_to: None,
            },
        )
        .await
        .unwrap();
    // A discussion EU started for EU and JPN, with JPN's reply quoting it.
    let t = eu
        .node
        .start_thread(
            &eu.admin(),
            entente_domain::coord::NewThread {
                attachments: vec![],
                format_id: f.format_id.clone(),
                title: "Ferry capacity figures".into(),
                body: "Who holds current ro-ro figures? @admin@JPN".into(),
                subject: None,
                releasable_to: Some(vec!["EU".into(), "JPN".into()]),
            },
        )
        .await
        .unwrap();
    c.sync_until_quiet().await;
    let jpn = c.node("JPN");
    jpn.node
        .reply(
            &jpn.admin(),
            &t.thread_id,
            entente_domain::coord::NewPost {
                attachments: vec![],
                body: "We do: twelve sailings a day.".into(),
                quote: Some(t.posts[0].post_id.clone()),
            },
        )
        .await
        .unwrap();
    // A meeting EU convenes with NATO and JPN, with minutes drafted (not yet agreed).
    let m = eu
        .node
        .plan_meeting(
            &eu.admin(),
            entente_node::meetings::NewMeeting {
                format_id: f.format_id.clone(),
                details: entente_domain::coord::MeetingDetails {
                    title: "Port security working group".into(),
                    level: entente_domain::coord::MeetingLevel::WorkingLevel,
                    starts_at: "2027-01-20T09:00:00Z".into(),
                    time_zone: "Asia/Tokyo".into(),
                    place: "Tokyo".into(),
                    series: "quarterly".into(),
                    agenda: vec![entente_domain::coord::AgendaItem {
                        title: "Patrol plans".into(),
                        subject: Some(entente_domain::coord::ThreadSubject {
                            kind: "action".into(),
                            id: a.action_id.clone(),
                        }),
                    }],
                },
                participants: vec!["JPN".into()],
                previous: None,
            },
        )
        .await
        .unwrap();
    eu.node
        .draft_minutes(
            &eu.admin(),
            &m.plan.meeting_id,
            "Patrol plans reviewed.\n\n- DECISION: Joint patrol calendar (lead: JPN)",
        )
        .await
        .unwrap();
    // A concept paper EU holds the pen on, with NATO's amendment waiting for EU's decision.
    let paper = eu
        .node
        .draft_paper(
            &eu.admin(),
            entente_domain::coord::NewPaper {
                format_id: f.format_id.clone(),
                title: "Maritime resilience concept".into(),
                text: "## Scope\nPorts and ferries.\n\n## Means\nShared tables.".into(),
                co_authors: vec!["JPN".into()],
                releasable_to: None,
            },
        )
        .await
        .unwrap();
    c.sync_until_quiet().await;
    let nato = c.node("NATO");
    nato.node
        .propose_amendment(
            &nato.admin(),
            &paper.paper_id,
            entente_domain::coord::NewAmendment {
                section: 1,
                text: "Shared tables and air bridges.".into(),
                reason: "Air assets matter.".into(),
            },
        )
        .await
        .unwrap();
    c.sync_until_quiet().await;
    for n in &c.nodes {
        n.node.search_settled().await;
    }
    Scenario {
        paper_id: paper.paper_id,
        meeting_id: m.plan.meeting_id,
        thread_id: t.thread_id,
        format_id: f.format_id,
        item_id: it.item_id,
        statement_id: st.state.statement_id,
        alert_id: al.alert.alert_id,
        action_id: a.action_id,
        c,
        clock,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_template_renders_and_matches_its_snapshot() {
    let s = scenario().await;
    let eu = Web::admin(s.c.node("EU")).await;
    // Signed out: the login page (and every other page redirects to it).
    let anon = entente_testkit::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = anon
        .get(format!("{}/ui/items", eu.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/ui/login?next=%2Fui%2Fitems");
    let login = Web {
        cookie: String::new(),
        ..Web::admin(s.c.node("EU")).await
    };
    check(&login, "/ui/login", "login").await;
    let f = &s.format_id;
    let n = s.c.node("EU");
    let x = n.node.exercises(&n.admin()).await.unwrap()[0]
        .plan
        .exercise_id
        .clone();
    let pr = n.node.projects(&n.admin()).await.unwrap()[0]
        .project
        .project_id
        .clone();
    let pages = [
        ("/ui/".to_owned(), "dashboard"),
        ("/ui/formats".into(), "formats"),
        (format!("/ui/formats/{f}"), "format"),
        (format!("/ui/formats/{f}/report?period=2026-11"), "report"),
        ("/ui/items".into(), "items"),
        ("/ui/items/new".into(), "item_new_choose_format"),
        (format!("/ui/items/new?format_id={f}"), "item_new"),
        (format!("/ui/items/{}", s.item_id), "item"),
        ("/ui/actions".into(), "actions"),
        (format!("/ui/actions/{}", s.action_id), "action"),
        ("/ui/statements".into(), "statements"),
        (format!("/ui/statements/{}", s.statement_id), "statement"),
        ("/ui/alerts".into(), "alerts"),
        (format!("/ui/alerts/{}", s.alert_id), "alert"),
        (format!("/ui/alerts/{}/board", s.alert_id), "alert_board"),
        ("/ui/exercises".into(), "exercises"),
        (format!("/ui/exercises/{x}"), "exercise"),
        ("/ui/projects?area=maritime+surveillance".into(), "projects"),
        (format!("/ui/projects/{pr}"), "project"),
        ("/ui/discussions".into(), "discussions"),
        (format!("/ui/discussions/{}", s.thread_id), "discussion"),
        ("/ui/meetings".into(), "meetings"),
        (format!("/ui/meetings/{}", s.meeting_id), "meeting"),
        (
            format!("/ui/meetings?next={}", s.meeting_id),
            "meetings_next",
        ),
        ("/ui/papers".into(), "papers"),
        (format!("/ui/formats/{f}/release?to=NATO"), "release"),
        (format!("/ui/papers/{}", s.paper_id), "paper"),
        ("/ui/owed".into(), "owed"),
        ("/ui/nav?at=/ui/items".into(), "nav"),
        ("/ui/search?q=patrol".into(), "search"),
        ("/ui/network".into(), "network"),
        ("/ui/released".into(), "released"),
        ("/ui/admin".into(), "admin"),
    ];
    for (path, name) in &pages {
        check(&eu, path, name).await;
    }
    // The review step of the item form states the audience in words.
    let (status, _, html) = eu
        .post(
            "/ui/items",
            &[
                ("format_id", f),
                ("kind", "note"),
                ("title", "Reviewed note"),
                ("tlp", "AMBER"),
                ("releasable_to", "JPN"),
                ("step", "review"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Released to EU (this partner) and JPN; no other partner"));
    // L3: the period goes into the download's file name, so only a real period is taken.
    let r = eu
        .http
        .get(format!(
            "{}/ui/formats/{f}/report?period=2026-12%22;%20filename=%22invoice.exe&download=md",
            eu.base
        ))
        .header("cookie", &eu.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.headers().get("content-disposition").is_none());
    // An item NATO may not see is a 404 page, like one that does not exist.
    let nato = Web::admin(s.c.node("NATO")).await;
    let (status, html) = nato.get(&format!("/ui/items/{}", s.item_id)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status2, html2) = nato
        .get("/ui/items/01a21cac-0000-7000-8000-000000000000")
        .await;
    assert_eq!((status, html.clone()), (status2, html2));
    snapshot("error", html);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_refuses_bad_input_beside_the_field_and_stores_nothing() {
    let s = scenario().await;
    let n = s.c.node("EU");
    let eu = Web::admin(n).await;
    let f = s.format_id.as_str();
    let item = format!("/ui/items/{}/react", s.item_id);
    let retract = format!("/ui/items/{}/retract", s.item_id);
    let progress = format!("/ui/actions/{}/progress", s.action_id);
    let stance = format!("/ui/statements/{}/stance", s.statement_id);
    let revise = format!("/ui/statements/{}/revise", s.statement_id);
    // (form, fields, the field whose message must appear)
    let cases: Vec<(&str, Form, &str)> = vec![
        ("/ui/formats", vec![("partner", "")], "partner"),
        ("/ui/formats", vec![("partner", "XYZQ")], "partner"),
        (
            "/ui/items",
            vec![
                ("format_id", f),
                ("kind", "note"),
                ("tlp", "GREEN"),
                ("step", "publish"),
            ],
            "title",
        ),
        (
            "/ui/items",
            vec![
                ("format_id", f),
                ("kind", "poem"),
                ("title", "x"),
                ("tlp", "GREEN"),
                ("step", "publish"),
            ],
            "kind",
        ),
        (
            "/ui/items",
            vec![
                ("format_id", f),
                ("kind", "note"),
                ("title", "x"),
                ("tlp", "PURPLE"),
                ("step", "publish"),
            ],
            "tlp",
        ),
        (
            "/ui/items",
            vec![
                ("format_id", f),
                ("kind", "note"),
                ("title", "x"),
                ("tlp", "GREEN"),
                ("releasable_to", "KOR"),
                ("step", "publish"),
            ],
            "releasable_to",
        ),
        (
            "/ui/items",
            vec![
                ("format_id", f),
                ("kind", "note"),
                ("title", "x"),
                ("tlp", "GREEN"),
                ("topics", "astrology"),
                ("step", "publish"),
            ],
            "topics",
        ),
        (
            &item,
            vec![
                ("what", "sighting"),
                ("seen_at", "2026-11-20"),
                ("count", "0"),
            ],
            "count",
        ),
        (&item, vec![("what", "sighting"), ("count", "2")], "seen_at"),
        (&retract, vec![("reason", "")], "reason"),
        (
            "/ui/actions",
            vec![
                ("format_id", f),
                ("title", "A"),
                ("topics", "maritime-security"),
                ("leads", "EU"),
                ("ms_due", ""),
                ("ms_title", "soon do things"),
            ],
            "milestones",
        ),
        (
            "/ui/actions",
            vec![("format_id", f), ("title", "A"), ("leads", "EU")],
            "topics",
        ),
        (
            "/ui/actions",
            vec![
                ("format_id", f),
                ("title", "A"),
                ("topics", "maritime-security"),
            ],
            "leads",
        ),
        (
            &progress,
            vec![("period", "2026-11"), ("status", "in_progress")],
            "narrative",
        ),
        (
            &progress,
            vec![
                ("period", "2026-11"),
                ("status", "sleeping"),
                ("narrative", "n"),
            ],
            "status",
        ),
        (
            "/ui/statements",
            vec![("format_id", f), ("title", "S")],
            "text",
        ),
        (
            "/ui/statements",
            vec![
                ("format_id", f),
                ("title", "S"),
                ("text", "T"),
                ("rule", "silence"),
            ],
            "deadline",
        ),
        (
            "/ui/statements",
            vec![
                ("format_id", f),
                ("title", "S"),
                ("text", "T"),
                ("releasable_to", "KOR"),
            ],
            "releasable_to",
        ),
        (
            &stance,
            vec![("version", "1"), ("stance", "shrug")],
            "stance",
        ),
        (
            &stance,
            vec![("version", "1"), ("stance", "object")],
            "reason",
        ),
        (&revise, vec![("title", "T"), ("text", "")], "text"),
        (
            "/ui/alerts",
            vec![("format_id", f), ("severity", "high"), ("ack_hours", "4")],
            "title",
        ),
        (
            "/ui/alerts",
            vec![
                ("format_id", f),
                ("severity", "apocalyptic"),
                ("title", "A"),
                ("ack_hours", "4"),
            ],
            "severity",
        ),
        (
            "/ui/alerts",
            vec![
                ("format_id", f),
                ("severity", "high"),
                ("title", "A"),
                ("ack_hours", "0"),
            ],
            "ack_hours",
        ),
        (
            "/ui/exercises",
            vec![
                ("format_id", f),
                ("name", "X"),
                ("start", "2027-01-01"),
                ("end", "2027-01-02"),
                ("invited", "JPN"),
            ],
            "topics",
        ),
        (
            "/ui/exercises",
            vec![
                ("format_id", f),
                ("name", "X"),
                ("start", "2027-01-01"),
                ("end", "2027-01-02"),
                ("topics", "maritime-security"),
            ],
            "invited",
        ),
        (
            "/ui/projects",
            vec![
                ("format_id", f),
                ("title", "P"),
                ("capability_area", "c"),
                ("stage", "s"),
            ],
            "participants",
        ),
        (
            "/ui/projects",
            vec![
                ("format_id", f),
                ("title", "P"),
                ("stage", "s"),
                ("participants", "EU"),
            ],
            "capability_area",
        ),
        (
            "/ui/admin/users",
            vec![
                ("username", "bob"),
                ("role", "emperor"),
                ("password", "a-long-password-1"),
            ],
            "role",
        ),
        (
            "/ui/admin/users",
            vec![("username", "bob"), ("role", "analyst"), ("password", "")],
            "password",
        ),
        (
            "/ui/admin/users",
            vec![
                ("username", "b b!"),
                ("role", "analyst"),
                ("password", "a-long-password-1"),
            ],
            "username",
        ),
        ("/ui/admin/tokens", vec![("label", "")], "label"),
        (
            "/ui/admin/peers",
            vec![("partner", "KOR"), ("public_key", "not-a-key")],
            "public_key",
        ),
    ];
    for (path, fields, field) in cases {
        let before = footprint(n).await;
        let (status, _, html) = eu.post(path, &fields).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {fields:?}: {html}"
        );
        assert!(
            html.contains(&format!("id=\"{field}-error\"")),
            "{path} {fields:?}: no message beside {field}: {html}"
        );
        assert_eq!(
            footprint(n).await,
            before,
            "{path} {fields:?} stored something"
        );
    }
    // And the forms do store when the input is good (so the checks above can fail).
    let before = footprint(n).await;
    let (status, loc, _) = eu
        .review_and_publish(&[
            ("format_id", f),
            ("kind", "note"),
            ("title", "Good"),
            ("tlp", "GREEN"),
        ])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(loc.starts_with("/ui/items/"));
    assert_eq!(footprint(n).await.0, before.0 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_need_the_sessions_csrf_token_and_logout_ends_the_session() {
    let s = scenario().await;
    let n = s.c.node("EU");
    let eu = Web::admin(n).await;
    let before = footprint(n).await;
    let fields = [
        ("format_id", s.format_id.as_str()),
        ("kind", "note"),
        ("title", "Forged"),
        ("tlp", "GREEN"),
        ("step", "publish"),
    ];
    // No token, and another session's token: refused, nothing stored.
    let (status, _, _) = eu.post_raw("/ui/items", &fields).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let other = Web::admin(n).await;
    assert_ne!(other.csrf, eu.csrf);
    let mut forged = vec![("csrf", other.csrf.as_str())];
    forged.extend_from_slice(&fields);
    let (status, _, _) = eu.post_raw("/ui/items", &forged).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(footprint(n).await, before);
    // The session cookie is HttpOnly and SameSite=Strict.
    let r = entente_testkit::http_client()
        .get(format!("{}/ui/login", eu.base))
        .send()
        .await
        .unwrap();
    let c = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        c.contains("HttpOnly") && c.contains("SameSite=Strict"),
        "{c}"
    );
    // A wrong password is a message beside the field.
    let bad = entente_testkit::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let pre = c.split(';').next().unwrap();
    let csrf = csrf_in(&r.text().await.unwrap());
    let r = post_login(&bad, &eu.base, pre, &csrf, "wrong").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("id=\"password-error\""));
    // Logout revokes the session: the same cookie no longer signs anyone in.
    let (status, loc, _) = eu.post("/ui/logout", &[]).await;
    assert_eq!((status, loc.as_str()), (StatusCode::SEE_OTHER, "/ui/login"));
    let r = bad
        .get(format!("{}/ui/", eu.base))
        .header("cookie", &eu.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(other.get("/ui/").await.0.is_success());
    // An API token set as the session cookie by hand signs nobody in: the UI takes sessions.
    for kind in [TokenKind::Api, TokenKind::ApiRead] {
        let t = n.node.create_token_for("admin", "t", kind).await.unwrap();
        let r = bad
            .get(format!("{}/ui/", eu.base))
            .header("cookie", format!("entente_session_eu={t}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{kind:?}");
    }
}

/// The login form sent as admin with `password`, from a browser holding the pre-login cookie
/// `pre` and the form's CSRF token.
async fn post_login(
    http: &reqwest::Client,
    base: &str,
    pre: &str,
    csrf: &str,
    password: &str,
) -> reqwest::Response {
    http.post(format!("{base}/ui/login"))
        .header("cookie", pre)
        .header("content-type", FORM)
        .body(encode(&[
            ("csrf", csrf),
            ("username", "admin"),
            ("password", password),
        ]))
        .send()
        .await
        .unwrap()
}

/// A node that cannot read its sessions or users (its database failing) says so: an error page
/// on the UI, a 500 in TAXII's error shape; it does not send a signed-in user to the login page,
/// call a right password wrong or answer 401, where signing in again cannot help. The store's
/// error stays in the node's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_database_is_an_error_not_a_sign_in() {
    let c = cluster().await;
    let n = c.node("EU");
    let eu = Web::admin(n).await;
    assert_eq!(eu.get("/ui/items").await.0, StatusCode::OK);
    let plain = entente_testkit::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let generic = "The node could not complete this request.";

    // The session cannot be read.
    n.rename_table("tokens", "tokens_away").await;
    let r = plain
        .get(format!("{}/ui/items", eu.base))
        .header("cookie", &eu.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let page = r.text().await.unwrap();
    assert!(page.contains(generic), "{page}");
    assert!(!page.contains("no such table"), "{page}");
    n.rename_table("tokens_away", "tokens").await;
    assert_eq!(eu.get("/ui/items").await.0, StatusCode::OK);
    // A session that is not valid still goes to the login page.
    let r = plain
        .get(format!("{}/ui/items", eu.base))
        .header("cookie", "entente_session_eu=not-a-session")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // The users cannot be read: the right password at the login form, and over TAXII.
    let r = plain
        .get(format!("{}/ui/login", eu.base))
        .send()
        .await
        .unwrap();
    let pre = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    let pre = pre.split(';').next().unwrap().to_owned();
    let csrf = csrf_in(&r.text().await.unwrap());
    n.rename_table("users", "users_away").await;
    let r = post_login(&plain, &eu.base, &pre, &csrf, "admin-password-1").await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let page = r.text().await.unwrap();
    assert!(page.contains(generic), "{page}");
    assert!(!page.contains("password is wrong"), "{page}");
    assert!(!page.contains("no such table"), "{page}");
    let r = plain
        .get(format!("{}/taxii2/", eu.base))
        .header("accept", "application/taxii+json;version=2.1")
        .basic_auth("admin", Some("admin-password-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["title"].is_string(), "TAXII's error shape: {body}");
    assert!(!body.to_string().contains("no such table"), "{body}");
    n.rename_table("users_away", "users").await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_and_counts_only_what_the_user_may_see() {
    let s = scenario().await;
    let c = &s.c;
    let eu = c.node("EU");
    // A RED item for its author and one named JPN user.
    eu.node
        .add_user("ana", Role::Analyst, "ana-password-123")
        .await
        .unwrap();
    c.node("JPN")
        .node
        .add_user("kenji", Role::Analyst, "kenji-password-123")
        .await
        .unwrap();
    let ana = eu.node.principal_for("ana").await.unwrap();
    eu.node
        .create_item(
            &ana,
            entente_node::NewItem {
                format_id: s.format_id.clone(),
                kind: "note".into(),
                title: "Red ferry annex".into(),
                body: "ferry annex text".into(),
                topics: vec![],
                tlp: Some("RED".into()),
                releasable_to: Some(vec!["JPN".into()]),
                named_users: vec!["kenji@JPN".into()],
                attachments: vec![],
            },
        )
        .await
        .unwrap();
    c.sync_until_quiet().await;
    for n in &c.nodes {
        n.node.search_settled().await;
    }
    let search = async |n: &TestNode, user: &str, q: &str| {
        let who = n.node.principal_for(user).await.unwrap();
        let r = n
            .node
            .search(
                &who,
                entente_node::search::SearchRequest {
                    q: q.into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let mut titles: Vec<String> = r.hits.iter().map(|h| h.title.clone()).collect();
        titles.sort();
        let counted: u64 = r.facets["partner"].iter().map(|(_, n)| n).sum();
        assert_eq!(
            counted as usize, r.total,
            "facet counts are over the same matches"
        );
        (r.total, titles)
    };
    let (jpn, nato) = (c.node("JPN"), c.node("NATO"));
    // The EU–JPN discussion about ferry figures is found at JPN too, never at NATO.
    assert_eq!(
        search(jpn, "admin", "ferry").await,
        (
            2,
            vec![
                "Ferry capacity figures".into(),
                "Ferry capacity study".into()
            ]
        )
    );
    assert_eq!(
        search(jpn, "kenji", "ferry").await,
        (
            3,
            vec![
                "Ferry capacity figures".into(),
                "Ferry capacity study".into(),
                "Red ferry annex".into()
            ]
        )
    );
    assert_eq!(search(nato, "admin", "ferry").await, (0, vec![]));
    assert_eq!(search(eu, "admin", "ferry").await.0, 2);
    assert_eq!(search(eu, "ana", "ferry").await.0, 3);
    // Statements and actions are found where they were released.
    assert_eq!(search(nato, "admin", "patrols").await.0, 1);
    // A retraction takes the item out of search everywhere it replicates.
    eu.node
        .retract_item(&eu.admin(), &s.item_id, "superseded")
        .await
        .unwrap();
    c.sync_until_quiet().await;
    jpn.node.search_settled().await;
    assert_eq!(
        search(jpn, "admin", "ferry").await,
        (1, vec!["Ferry capacity figures".into()])
    );
    // The index is derived state: removed, it is rebuilt from the store at the next start
    // with the same answers; `reindex` gives them too.
    let before = search(jpn, "kenji", "ferry OR patrols OR port").await;
    let mut c = s.c;
    let jpn = c.node_mut("JPN");
    jpn.stop().await;
    let dir = jpn.dir.join("search");
    std::fs::remove_dir_all(&dir).unwrap();
    jpn.restart().await.unwrap();
    assert_eq!(
        search(jpn, "kenji", "ferry OR patrols OR port").await,
        before
    );
    let r = jpn.node.reindex().await.unwrap();
    // Port access, red annex, statement, action, alert, exercise, project, discussion, meeting
    // and its minutes, concept paper.
    assert_eq!(r.documents, 11, "{r:?}");
    assert_eq!(
        search(jpn, "kenji", "ferry OR patrols OR port").await,
        before
    );
}

/// L8: browsers keep cookies per host, not per port. Signed in at EU and at NATO on one host
/// (as in the demo), one cookie jar holds both sessions and each node still knows its user;
/// with one cookie name for every node the second sign-in replaced the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_partners_nodes_on_one_host_keep_their_sessions_apart() {
    let c = cluster().await;
    let eu = Web::admin(c.node("EU")).await;
    let nato = Web::admin(c.node("NATO")).await;
    let mut jar = std::collections::BTreeMap::new();
    for w in [&eu, &nato] {
        let (k, v) = w.cookie.split_once('=').unwrap();
        jar.insert(k.to_owned(), v.to_owned());
    }
    let header = jar
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    for w in [&eu, &nato] {
        let r = w
            .http
            .get(format!("{}/ui/", w.base))
            .header("cookie", &header)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "still signed in at {}", w.base);
    }
    c.stop().await;
}

/// Issue 19: what is published is what was reviewed. Under review the marking and the partners
/// are fixed; a form changed after its review (reviewed EU+JPN at AMBER, sent as EU+NATO at
/// CLEAR) is shown for review again with the new audience and stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_audience_is_the_one_reviewed() {
    let s = scenario().await;
    let n = s.c.node("EU");
    let eu = Web::admin(n).await;
    let f = s.format_id.as_str();
    let reviewed = [
        ("format_id", f),
        ("kind", "note"),
        ("title", "Reviewed for EU and JPN"),
        ("tlp", "AMBER"),
        ("releasable_to", "JPN"),
    ];
    let mut review = reviewed.to_vec();
    review.push(("step", "review"));
    let (status, _, html) = eu.post("/ui/items", &review).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Released to EU (this partner) and JPN; no other partner"));
    // The audience-deciding fields are not editable under review.
    assert!(!html.contains("type=\"radio\" name=\"tlp\""), "{html}");
    assert!(
        !html.contains("type=\"checkbox\" name=\"releasable_to\""),
        "{html}"
    );
    let seal = seal_in(&html);

    let before = footprint(n).await;
    let changed = [
        ("format_id", f),
        ("kind", "note"),
        ("title", "Reviewed for EU and JPN"),
        ("tlp", "CLEAR"),
        ("releasable_to", "NATO"),
        ("reviewed", seal.as_str()),
        ("step", "publish"),
    ];
    let (status, loc, html) = eu.post("/ui/items", &changed).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{loc}");
    assert!(html.contains("changed after you reviewed it"), "{html}");
    assert!(
        html.contains("NATO"),
        "the new audience is shown for review: {html}"
    );
    assert_eq!(footprint(n).await, before, "nothing stored");
    // Without a seal (a form from before the review step) nothing is published either.
    let mut unsealed = reviewed.to_vec();
    unsealed.push(("step", "publish"));
    let (status, _, _) = eu.post("/ui/items", &unsealed).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(footprint(n).await, before, "nothing stored");

    // What was reviewed, sent back with its seal, is published to exactly that audience.
    let mut publish = reviewed.to_vec();
    publish.push(("reviewed", seal.as_str()));
    publish.push(("step", "publish"));
    let (status, loc, _) = eu.post("/ui/items", &publish).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (path, done) = loc
        .split_once('?')
        .expect("the redirect says what was done");
    assert_eq!(done, "done=published");
    let id = path.trim_start_matches("/ui/items/");
    let item = n.node.item(&n.admin(), id).await.unwrap();
    let aud: Vec<String> = item.audience.iter().map(|p| p.to_string()).collect();
    assert_eq!(aud, ["EU", "JPN"]);
    assert_eq!(item.tlp.as_str(), "AMBER");
}

/// Issue 19 (review defect 2): "Report a sighting" sends the date input's day (YYYY-MM-DD);
/// it used to be refused for not being an RFC 3339 timestamp, so the form could never succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sighting_reported_with_the_forms_date_is_recorded() {
    let s = scenario().await;
    let n = s.c.node("EU");
    let eu = Web::admin(n).await;
    let react = format!("/ui/items/{}/react", s.item_id);
    let (status, loc, html) = eu
        .post(
            &react,
            &[
                ("what", "sighting"),
                ("seen_at", "2026-11-30"),
                ("count", "3"),
                ("note", "seen off the coast"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    assert_eq!(loc, format!("/ui/items/{}?done=reaction", s.item_id));
    let r = n.node.reactions(&n.admin(), &s.item_id).await.unwrap();
    let (p, sg) = r.sightings.last().expect("the sighting is recorded");
    assert_eq!(p.as_str(), "EU");
    assert_eq!(sg.seen_at, "2026-11-30T00:00:00Z");
    assert_eq!(sg.count, 3);
}

/// Issue 19 (review defect 6): statuses read as words, not as the program's names for them
/// (`Adopted { at: "…" }`, `Blocked { by: [NATO] }`, `InProgress`, `Unanimity`, `High`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_are_shown_in_words() {
    let s = scenario().await;
    let eu = Web::admin(s.c.node("EU")).await;
    let mut html = String::new();
    for page in [
        "/ui/statements".to_owned(),
        format!("/ui/statements/{}", s.statement_id),
        "/ui/actions".to_owned(),
        format!("/ui/actions/{}", s.action_id),
        "/ui/alerts".to_owned(),
        format!("/ui/alerts/{}", s.alert_id),
        "/ui/exercises".to_owned(),
    ] {
        let (status, body) = eu.get(&page).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        html.push_str(&body);
    }
    for internal in [
        "Pending",
        "Adopted {",
        "Blocked {",
        "InProgress",
        "Proposed",
        "rule Unanimity",
        "rule Silence",
        ": Participate",
        ": Observe",
        ": Decline",
        ">Low<",
        ">Medium<",
        ">High<",
        ">Critical<",
    ] {
        assert!(!html.contains(internal), "{internal} on a page");
    }
    assert!(
        html.contains("awaiting stances") || html.contains("adopted on"),
        "a statement's status in words"
    );
}

/// Review defect 3: every facet link on the Items page opens a filtered list whose rows match
/// the count beside the link (only items are counted, so no `kind=action` or
/// `kind=statement` dead end), formats are named by title, and "eu" in the From box means EU.
#[tokio::test]
async fn the_items_facets_lead_to_the_items_they_count() {
    let s = scenario().await;
    let eu = Web::admin(s.c.node("EU")).await;
    s.c.node("EU").node.search_settled().await;
    let (status, body) = eu.get("/ui/items").await;
    assert_eq!(status, StatusCode::OK);
    let aside = body
        .split("<aside class=\"facets\"")
        .nth(1)
        .and_then(|a| a.split("</aside>").next())
        .expect("the facets are shown");
    // (query, link text, count) of each facet link.
    let links: Vec<(String, String, usize)> = aside
        .split("<a href=\"?")
        .skip(1)
        .map(|l| {
            let (href, rest) = l.split_once("\">").unwrap();
            let (text, rest) = rest.split_once("</a> (").unwrap();
            let n = rest.split(')').next().unwrap().parse().unwrap();
            (href.replace("&amp;", "&"), text.to_owned(), n)
        })
        .collect();
    assert!(links.len() >= 4, "{links:?}");
    for (href, text, n) in &links {
        assert_ne!(text, &s.format_id, "the format is named, not its id");
        let (status, page) = eu.get(&format!("/ui/items?{href}")).await;
        assert_eq!(status, StatusCode::OK, "{href}");
        let rows = page.matches("<tr><td><a href=\"/ui/items/").count();
        assert_eq!(rows, *n, "{href} ({text}) lists {rows} rows, counted {n}");
    }
    assert!(
        links
            .iter()
            .any(|(_, t, _)| t == "EU–NATO–Japan maritime dialogue"),
        "{links:?}"
    );
    let (status, page) = eu.get("/ui/items?partner=eu").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page.matches("<tr><td><a href=\"/ui/items/").count(), 2);
}

/// Review defect 11: "Endorse" is offered only where it can succeed (a best practice this
/// partner has not endorsed yet); it failed on every other item.
#[tokio::test]
async fn endorse_is_offered_only_where_it_succeeds() {
    let s = scenario().await;
    let eu = s.c.node("EU");
    let web = Web::admin(eu).await;
    let endorse = "name=\"what\" value=\"endorse\"";
    let (status, page) = web.get(&format!("/ui/items/{}", s.item_id)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains(endorse), "offered on a report");
    let bp = eu
        .node
        .create_item(
            &eu.admin(),
            entente_node::NewItem {
                format_id: s.format_id.clone(),
                kind: "best-practice".into(),
                title: "Port security checklist".into(),
                body: "Check the gates.".into(),
                topics: vec!["maritime-security".into()],
                tlp: Some("GREEN".into()),
                releasable_to: None,
                named_users: vec![],
                attachments: vec![],
            },
        )
        .await
        .unwrap();
    let path = format!("/ui/items/{}", bp.item_id);
    let (_, page) = web.get(&path).await;
    assert!(page.contains(endorse), "offered on a best practice");
    let (status, _, _) = web
        .post(&format!("{path}/react"), &[("what", "endorse")])
        .await;
    assert!(status.is_success() || status.is_redirection(), "{status}");
    let (_, page) = web.get(&path).await;
    assert!(page.contains("EU endorsed"), "the endorsement is listed");
    assert!(!page.contains(endorse), "not offered again once endorsed");
}

/// Review defect 15 (part): a link followed while signed out (an alert from mail or chat)
/// comes back to that page after the login, never to another site; the navigation marks the
/// current page with `aria-current`.
#[tokio::test]
async fn a_deep_link_survives_the_login_and_the_navigation_marks_the_page() {
    let s = scenario().await;
    let n = s.c.node("EU");
    let base = n.url();
    let http = entente_testkit::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Sign in from `login_url` with `next` as the form sends it; the answer's Location.
    let sign_in = |login_url: String, next: Option<String>| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let r = http.get(format!("{base}{login_url}")).send().await.unwrap();
            let pre = r.headers()["set-cookie"]
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned();
            let html = r.text().await.unwrap();
            let csrf = csrf_in(&html);
            let mut form = vec![
                ("csrf", csrf.as_str()),
                ("username", "admin"),
                ("password", "admin-password-1"),
            ];
            if let Some(n) = &next {
                form.push(("next", n.as_str()));
            }
            let r = http
                .post(format!("{base}/ui/login"))
                .header("cookie", &pre)
                .header("content-type", FORM)
                .body(encode(&form))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
            (html, r.headers()["location"].to_str().unwrap().to_owned())
        }
    };
    let target = format!("/ui/alerts/{}", s.alert_id);
    let r = http.get(format!("{base}{target}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let login_url = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        login_url,
        format!("/ui/login?next=%2Fui%2Falerts%2F{}", s.alert_id)
    );
    let (html, location) = sign_in(login_url, Some(target.clone())).await;
    assert!(html.contains(&format!("name=\"next\" value=\"{target}\"")));
    assert_eq!(location, target, "back to the alert after the login");
    for bad in [
        "https://evil.example/ui/",
        "//evil.example/ui/",
        "/ui//evil.example",
        "/ui/login",
        "/\\evil.example",
        "/api/v1/items",
        "/ui/items?q=é",
        "/ui/items\r\nSet-Cookie: x=1",
    ] {
        let (_, location) = sign_in("/ui/login".into(), Some(bad.into())).await;
        assert_eq!(location, "/ui/", "next={bad}");
    }
    let web = Web::admin(n).await;
    let (_, html) = web.get(&target).await;
    assert_eq!(html.matches("aria-current=\"page\"").count(), 1);
    assert!(html.contains("href=\"/ui/alerts\" aria-current=\"page\""));
    let (_, html) = web.get("/ui/").await;
    assert!(html.contains("href=\"/ui/\" aria-current=\"page\""));
    assert_eq!(html.matches("aria-current=\"page\"").count(), 1);
}

/// Review defect 7 (part): times read as people read them, to the minute with the zone named
/// (`2026-11-27 09:00 UTC`), not as RFC 3339 with milliseconds.
#[tokio::test]
async fn times_are_shown_to_the_minute_in_utc() {
    let s = scenario().await;
    let eu = Web::admin(s.c.node("EU")).await;
    for page in [
        "/ui/".to_owned(),
        "/ui/items".to_owned(),
        format!("/ui/items/{}", s.item_id),
        format!("/ui/statements/{}", s.statement_id),
        "/ui/alerts".to_owned(),
        format!("/ui/alerts/{}", s.alert_id),
    ] {
        let (status, html) = eu.get(&page).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let main = html.split("<main").nth(1).unwrap();
        // An RFC 3339 time in the text (not inside an attribute such as a form value).
        let raw = main
            .split('>')
            .filter_map(|seg| seg.split('<').next())
            .find(|text| {
                let b = text.as_bytes();
                (0..b.len().saturating_sub(13)).any(|i| {
                    let d = |j: usize| b[i + j].is_ascii_digit();
                    (0..4).all(d)
                        && b[i + 4] == b'-'
                        && b[i + 7] == b'-'
                        && b[i + 10] == b'T'
                        && d(11)
                        && d(12)
                        && b[i + 13] == b':'
                })
            });
        assert!(raw.is_none(), "{page}: {raw:?}");
        assert!(main.contains(" UTC"), "{page} names the zone");
    }
}

/// Issue 19 item 4: a user picks their time zone and reads every time in it with UTC beside;
/// a silence deadline is typed as a wall-clock time in a named zone and signed as that UTC
/// instant (a date alone is refused, never read as 23:59:59Z), and the statement page shows it
/// in each member's local time. An unknown zone is refused and changes nothing.
#[tokio::test]
async fn times_read_in_the_users_zone_and_deadlines_are_typed_with_one() {
    let s = scenario().await;
    let eu = Web::admin(s.c.node("EU")).await;
    let f = s.format_id.as_str();
    let count = || async {
        s.c.node("EU")
            .node
            .statements(&s.c.node("EU").admin())
            .await
            .unwrap()
            .len()
    };
    let before = count().await;
    let draft = |deadline: &'static str| {
        let eu = &eu;
        async move {
            eu.post(
                "/ui/statements",
                &[
                    ("format_id", f),
                    ("title", "Silence"),
                    ("text", "T"),
                    ("rule", "silence"),
                    ("deadline", deadline),
                    ("deadline_zone", "Asia/Tokyo"),
                ],
            )
            .await
        }
    };
    // A date alone is refused, and nothing is drafted.
    let (status, _, html) = draft("2026-12-09").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("give the time of day"), "{html}");
    assert_eq!(count().await, before);
    // 01:00 on 10 December in Tokyo is 16:00 UTC on the 9th.
    let (status, loc, _) = draft("2026-12-10T01:00").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let id = loc
        .trim_start_matches("/ui/statements/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let v =
        s.c.node("EU")
            .node
            .statement(&s.c.node("EU").admin(), &id)
            .await
            .unwrap();
    assert_eq!(
        v.state.deadline.as_deref(),
        Some("2026-12-09T16:00:00.000Z")
    );
    // The node's default zone is UTC; each member's local time is listed.
    let (_, html) = eu.get(&format!("/ui/statements/{id}")).await;
    assert!(html.contains("deadline 2026-12-09 16:00 UTC"), "{html}");
    let locals = html.split("id=\"deadline-locals\"").nth(1).unwrap();
    let locals = locals.split("</p>").next().unwrap();
    assert!(locals.contains("EU 2026-12-09 16:00 UTC"), "{locals}");
    assert!(locals.contains("NATO 2026-12-09 17:00 CET"), "{locals}");
    assert!(locals.contains("JPN 2026-12-10 01:00 JST"), "{locals}");
    // The user chooses Tokyo: times read there, UTC beside.
    let (status, loc, _) = eu
        .post("/ui/settings", &[("time_zone", "Asia/Tokyo")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(loc, "/ui/settings?done=settings-saved");
    let (_, html) = eu.get(&format!("/ui/statements/{id}")).await;
    assert!(
        html.contains("deadline 2026-12-10 01:00 JST (2026-12-09 16:00 UTC)"),
        "{html}"
    );
    // The deadline field now offers Tokyo first and selected.
    let (_, html) = eu.get("/ui/statements").await;
    assert!(
        html.contains("<option value=\"Asia/Tokyo\" selected>"),
        "{html}"
    );
    // An unknown zone is refused; the saved one stays.
    let (status, _, html) = eu
        .post("/ui/settings", &[("time_zone", "Mars/Olympus")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("unknown time zone"), "{html}");
    let (_, html) = eu.get(&format!("/ui/items/{}", s.item_id)).await;
    assert!(html.contains(" JST ("), "times in Tokyo: {html}");
    // Another user of the same node still reads UTC: the setting is per user.
    s.c.node("EU")
        .node
        .add_user("ana", entente_domain::Role::Analyst, "analyst-password-1")
        .await
        .unwrap();
    let ana = Web::login(s.c.node("EU"), "ana", "analyst-password-1").await;
    let (_, html) = ana.get(&format!("/ui/items/{}", s.item_id)).await;
    assert!(!html.contains(" JST"), "{html}");
    // Empty: back to the node's default.
    let (status, _, _) = eu.post("/ui/settings", &[("time_zone", "")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html) = eu.get(&format!("/ui/statements/{id}")).await;
    assert!(html.contains("deadline 2026-12-09 16:00 UTC"), "{html}");
}

fn eu_http() -> reqwest::Client {
    entente_testkit::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Issue 19 item 7: the UI in Japanese, chosen by the user's setting or by the browser's
/// `Accept-Language`: every page of the navigation (and the pages behind its lists) renders
/// with `lang="ja"`, Japanese navigation, and no message missing from the catalogue (a
/// missing key shows as ⟦key⟧); an unknown language is refused and changes nothing.
#[tokio::test]
async fn the_ui_speaks_japanese_on_every_page() {
    let s = scenario().await;
    let n = s.c.node("EU");
    let f = s.format_id.as_str();
    // Signed out, the browser's language decides.
    let login = eu_http()
        .get(format!("{}/ui/login", n.url()))
        .header("accept-language", "ja-JP,ja;q=0.9,en;q=0.8")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(login.contains("<html lang=\"ja\">"), "{login}");
    assert!(login.contains("サインイン"), "{login}");
    let eu = Web::admin(n).await;
    let (_, html) = eu.get("/ui/").await;
    assert!(html.contains("<html lang=\"en\">"));
    // The user's setting; an unknown language is refused first.
    let (status, _, _) = eu.post("/ui/settings", &[("language", "tlh")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, html) = eu.get("/ui/").await;
    assert!(html.contains("<html lang=\"en\">"));
    let (status, loc, _) = eu.post("/ui/settings", &[("language", "ja")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{loc}");
    let (_, html) = eu.get(&loc).await;
    assert!(html.contains("保存しました"), "the notice: {html}");
    for page in [
        "/ui/".to_owned(),
        "/ui/formats".into(),
        format!("/ui/formats/{f}"),
        format!("/ui/formats/{f}/report"),
        "/ui/items".into(),
        "/ui/items/new".into(),
        format!("/ui/items/new?format_id={f}"),
        format!("/ui/items/{}", s.item_id),
        "/ui/actions".into(),
        format!("/ui/actions/{}", s.action_id),
        "/ui/statements".into(),
        format!("/ui/statements/{}", s.statement_id),
        "/ui/alerts".into(),
        format!("/ui/alerts/{}", s.alert_id),
        "/ui/exercises".into(),
        "/ui/projects".into(),
        "/ui/search?q=port".into(),
        "/ui/network".into(),
        "/ui/released".into(),
        "/ui/admin".into(),
        "/ui/settings".into(),
    ] {
        let (status, html) = eu.get(&page).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(html.contains("<html lang=\"ja\">"), "{page}");
        assert!(!html.contains('⟦'), "{page} lacks a message: {html}");
        assert!(
            html.contains(">ダッシュボード</a>") && html.contains(">項目</a>"),
            "{page}: the navigation in Japanese"
        );
    }
    // No English left on any page of the navigation, nor on the detail pages behind it: the
    // visible text and the tooltips, less what users wrote, hold no English word.
    let x = n.node.exercises(&n.admin()).await.unwrap()[0]
        .plan
        .exercise_id
        .clone();
    let pr = n.node.projects(&n.admin()).await.unwrap()[0]
        .project
        .project_id
        .clone();
    let first_post = n
        .node
        .thread(&n.admin(), &s.thread_id)
        .await
        .unwrap()
        .thread
        .posts[0]
        .post_id
        .clone();
    let mut left = Vec::new();
    for page in [
        "/ui/".to_owned(),
        "/ui/formats".into(),
        format!("/ui/formats/{f}"),
        format!("/ui/formats/{f}/report?period=2026-11"),
        "/ui/items".into(),
        "/ui/items/new".into(),
        format!("/ui/items/new?format_id={f}"),
        format!("/ui/items/{}", s.item_id),
        "/ui/actions".into(),
        format!("/ui/actions/{}", s.action_id),
        "/ui/statements".into(),
        format!("/ui/statements/{}", s.statement_id),
        "/ui/alerts".into(),
        format!("/ui/alerts/{}", s.alert_id),
        "/ui/exercises".into(),
        format!("/ui/exercises/{x}"),
        "/ui/projects".into(),
        format!("/ui/projects/{pr}"),
        "/ui/discussions".into(),
        format!("/ui/discussions/{}", s.thread_id),
        format!("/ui/discussions/{}?quote={first_post}", s.thread_id),
        format!("/ui/discussions?subject=item:{}", s.item_id),
        "/ui/meetings".into(),
        format!("/ui/meetings/{}", s.meeting_id),
        format!("/ui/meetings?next={}", s.meeting_id),
        "/ui/papers".into(),
        format!("/ui/papers/{}", s.paper_id),
        format!("/ui/formats/{f}/release?to=NATO"),
        "/ui/search?q=port".into(),
        "/ui/search?q=prot".into(),
        "/ui/network".into(),
        "/ui/released".into(),
        "/ui/admin".into(),
        "/ui/settings".into(),
    ] {
        let (status, html) = eu.get(&page).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for w in english_words(&html) {
            left.push(format!("{page}: {w}"));
        }
    }
    assert!(
        left.is_empty(),
        "English on Japanese pages:\n{}",
        left.join("\n")
    );
    // Composed messages too: the statement's status, the audience in words.
    let (_, html) = eu.get(&format!("/ui/statements/{}", s.statement_id)).await;
    assert!(html.contains("立場表明待ち"), "{html}");
    assert!(html.contains("全メンバー:"), "{html}");
    // No English in pieces the catalogue lookup does not see missing: facet headings and
    // values, topic names (never slugs), and times on the admin page in the reader's zone.
    let (_, html) = eu.get("/ui/items").await;
    for english in [
        "<h2>Kind</h2>",
        "<h2>From</h2>",
        "<h2>Marking</h2>",
        "<h2>Format</h2>",
    ] {
        assert!(
            !html.contains(english),
            "{english} on the Japanese Items page"
        );
    }
    let (_, html) = eu.get("/ui/formats").await;
    assert!(
        !html.contains("<td>maritime-security"),
        "a topic slug: {html}"
    );
    assert!(
        html.contains("海洋安全保障"),
        "the topic by its Japanese name"
    );
    let (_, html) = eu.get(&format!("/ui/items/{}", s.item_id)).await;
    assert!(
        !html.contains("maritime-security"),
        "a topic slug on the item page"
    );
    let (_, html) = eu.get("/ui/admin").await;
    assert!(
        !html.contains("Z</td>"),
        "a raw UTC timestamp on the admin page"
    );
    // Errors too: a form's own messages, the node's validation reasons and error pages.
    let (status, _, html) = eu
        .post(
            "/ui/actions",
            &[("format_id", f), ("title", ""), ("leads", "EU")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for english in [
        "is required",
        "Choose at least one topic",
        "Nothing was saved",
    ] {
        assert!(!html.contains(english), "{english} in English: {html}");
    }
    assert!(html.contains("件名は必須です。"), "{html}");
    assert!(html.contains("主題を 1 つ以上選択してください。"), "{html}");
    let long = "x".repeat(301);
    let (status, _, html) = eu
        .post(
            "/ui/actions",
            &[
                ("format_id", f),
                ("title", long.as_str()),
                ("topics", "maritime-security"),
                ("leads", "EU"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        !html.contains("characters is required"),
        "the node's reason in English: {html}"
    );
    let (status, html) = eu
        .get("/ui/items/01a21cac-0000-7000-8000-000000000000")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        !html.contains("Not found") && !html.contains("not found"),
        "{html}"
    );
    // Another user of the node keeps English.
    n.node
        .add_user("ken", entente_domain::Role::Analyst, "analyst-password-1")
        .await
        .unwrap();
    let ken = Web::login(n, "ken", "analyst-password-1").await;
    let (_, html) = ken.get("/ui/items").await;
    assert!(html.contains("<html lang=\"en\">"));
    assert!(html.contains(">Items</a>"));
}

/// Review defects 13 and 14: the progress form picks its period from the forms the report
/// reads (years, halves, quarters, months), defaulting to the period of the action's latest
/// report; the action page names its format.
#[tokio::test]
async fn the_progress_form_picks_a_period_the_report_reads() {
    let s = scenario().await;
    let eu = Web::admin(s.c.node("EU")).await;
    let page = format!("/ui/actions/{}", s.action_id);
    let (_, html) = eu.get(&page).await;
    assert!(
        html.contains("<select id=\"period\" name=\"period\""),
        "{html}"
    );
    for p in ["2026", "2026-H2", "2026-Q4", "2026-11", "2025-H1"] {
        assert!(html.contains(&format!("<option value=\"{p}\"")), "{p}");
    }
    // No report yet: this month (the test clock's November).
    assert!(
        html.contains("<option value=\"2026-11\" selected>"),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "<p id=\"action-format\">Format: <a href=\"/ui/formats/{}\">EU–NATO–Japan maritime dialogue</a>",
            s.format_id
        )),
        "{html}"
    );
    let (status, _, _) = eu
        .post(
            &format!("{page}/progress"),
            &[
                ("period", "2026-H2"),
                ("status", "in_progress"),
                ("narrative", "Half-year report."),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html) = eu.get(&page).await;
    assert!(
        html.contains("<option value=\"2026-H2\" selected>"),
        "{html}"
    );
}

/// Review defect 12 / issue 21 item 3: search covers alerts, exercises and projects within
/// their audience, finds a Japanese word inside a Japanese sentence and a word being typed,
/// and every page has a search box in its header.
#[tokio::test]
async fn search_finds_alerts_exercises_projects_and_japanese_words_within_their_audience() {
    let s = scenario().await;
    let (eu, jpn, nato) = (s.c.node("EU"), s.c.node("JPN"), s.c.node("NATO"));
    let f = s.format_id.clone();
    let only = |p: &[&str]| Some(p.iter().map(|x| x.to_string()).collect::<Vec<_>>());
    let al = eu
        .node
        .raise_alert(
            &eu.admin(),
            entente_node::alerts::NewAlert {
                format_id: f.clone(),
                severity: entente_domain::alert::Severity::High,
                title: "GNSS jamming near the Strait of Veldra".into(),
                text: "航行衛星の妨害が発生しました。".into(),
                ack_deadline: "2026-11-27T13:00:00Z".into(),
                releasable_to: only(&["EU", "JPN"]),
            },
        )
        .await
        .unwrap();
    let x = eu
        .node
        .plan_exercise(
            &eu.admin(),
            entente_node::coord::NewExercise {
                format_id: f.clone(),
                details: entente_domain::coord::ExerciseDetails {
                    name: "STEADFAST 演習 (fictional)".into(),
                    start: "2027-03-01".into(),
                    end: "2027-03-05".into(),
                    topics: vec!["exercises".into()],
                    ..Default::default()
                },
                invited: vec!["JPN".into()],
                observers: vec![],
            },
        )
        .await
        .unwrap();
    let p = jpn
        .node
        .register_project(
            &jpn.admin(),
            entente_node::coord::NewProject {
                format_id: f.clone(),
                title: "Unmanned demonstrator".into(),
                capability_area: "maritime domain awareness".into(),
                description: String::new(),
                stage: "concept".into(),
                participants: vec!["JPN".into(), "EU".into()],
                releasable_to: only(&["EU", "JPN"]),
            },
        )
        .await
        .unwrap();
    s.c.sync_until_quiet().await;
    for n in [eu, jpn, nato] {
        n.node.search_settled().await;
    }
    let find = |n: &'static str, q: &'static str| {
        let node = s.c.node(n);
        async move {
            let r = node
                .node
                .search(
                    &node.admin(),
                    entente_node::search::SearchRequest {
                        q: q.into(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            let mut v: Vec<String> = r
                .hits
                .iter()
                .map(|h| format!("{}:{}", h.what, h.id))
                .collect();
            v.sort();
            v
        }
    };
    let alert = format!("alert:{}", al.alert.alert_id);
    let exercise = format!("exercise:{}", x.plan.exercise_id);
    let project = format!("project:{}", p.project.project_id);
    assert_eq!(find("JPN", "GNSS").await, vec![alert.clone()]);
    assert_eq!(
        find("JPN", "妨害").await,
        vec![alert.clone()],
        "a Japanese word inside a sentence"
    );
    assert_eq!(
        find("JPN", "Veldr").await,
        vec![alert.clone()],
        "the word being typed"
    );
    assert_eq!(find("JPN", "STEADFAST").await, vec![exercise.clone()]);
    assert_eq!(find("JPN", "演習").await, vec![exercise.clone()]);
    assert_eq!(
        find("EU", "maritime domain awareness").await,
        vec![project.clone()]
    );
    // NATO is outside every one of these audiences: nothing, not even a count.
    for q in [
        "GNSS",
        "妨害",
        "STEADFAST",
        "演習",
        "maritime domain awareness",
    ] {
        assert!(find("NATO", q).await.is_empty(), "{q} at NATO");
    }
    // The UI: hits link to their pages; the header has a search box on every page.
    let w = Web::admin(jpn).await;
    let (_, html) = w.get("/ui/search?q=STEADF").await;
    assert!(
        html.contains(&format!(
            "<a href=\"/ui/exercises/{}\">",
            x.plan.exercise_id
        )),
        "{html}"
    );
    // The search box says what it searches: everything the index holds, not items alone.
    for what in [
        "discussions",
        "meetings",
        "concept papers",
        "attached files",
    ] {
        assert!(html.contains(what), "the search label omits {what}");
    }
    let (_, html) = w.get("/ui/alerts").await;
    assert!(
        html.contains("<form class=\"header-search\" role=\"search\""),
        "{html}"
    );
}

/// Review defect 12: a misspelt word still finds what was meant, and the page says the
/// matches are for near spellings; a correctly spelt word does not say so.
#[tokio::test]
async fn a_misspelt_search_finds_near_spellings_and_says_so() {
    let s = scenario().await;
    let eu = Web::admin(s.c.node("EU")).await;
    s.c.node("EU").node.search_settled().await;
    let (_, html) = eu.get("/ui/search?q=capasity").await;
    assert!(html.contains("Ferry capacity study"), "{html}");
    assert!(html.contains("id=\"near-spellings\""));
    let (_, html) = eu.get("/ui/search?q=capacity").await;
    assert!(html.contains("Ferry capacity study"));
    assert!(!html.contains("id=\"near-spellings\""));
}

/// Review defect 4: the Items list shows the newest first, and its next page goes on to
/// older items.
#[tokio::test]
async fn the_items_list_shows_the_newest_first() {
    let s = scenario().await;
    let eu = Web::admin(s.c.node("EU")).await;
    let (_, html) = eu.get("/ui/items").await;
    let port = html.find("Port access procedures").expect("the newer item");
    let ferry = html.find("Ferry capacity study").expect("the older item");
    assert!(port < ferry, "newest first");
    // The reader can turn the order round.
    let (_, html) = eu.get("/ui/items?order=oldest").await;
    let port = html.find("Port access procedures").expect("the newer item");
    let ferry = html.find("Ferry capacity study").expect("the older item");
    assert!(ferry < port, "oldest first");
    assert!(html.contains("<option value=\"oldest\" selected>"));
}

/// Review defect 8 (part): a page that shows marked content carries its highest marking in a
/// banner at the top and the bottom; a search hit shows its marking (or that it is unmarked),
/// its originator and month; a page with nothing marked has no banner.
#[tokio::test]
async fn marked_pages_carry_their_highest_marking_top_and_bottom() {
    let s = scenario().await;
    let eu = Web::admin(s.c.node("EU")).await;
    s.c.node("EU").node.search_settled().await;
    let banner = |html: &str, tlp: &str| {
        html.contains(&format!("id=\"marking-top\">TLP:{tlp} ·"))
            && html.contains(&format!("id=\"marking-bottom\">TLP:{tlp} ·"))
    };
    // The list holds a GREEN and an AMBER item.
    let (_, html) = eu.get("/ui/items").await;
    assert!(banner(&html, "AMBER"));
    let (_, html) = eu.get(&format!("/ui/items/{}", s.item_id)).await;
    assert!(banner(&html, "GREEN"));
    let (_, html) = eu.get("/ui/search?q=port").await;
    assert!(banner(&html, "AMBER"));
    assert!(html.contains("<span class=\"tlp tlp-AMBER\">TLP:AMBER</span>"));
    assert!(
        html.contains("unmarked: its audience only"),
        "the statement"
    );
    assert!(html.contains("from EU · 2026-11"));
    let (_, html) = eu.get("/ui/formats").await;
    assert!(!html.contains("marking-top"));
}

/// Review defect 13 (part): a refused form lists every message at the top of the page, before
/// its heading, each linking to its field, and the list takes the focus (no script needed), so
/// a message below the fold is not missed.
#[tokio::test]
async fn a_refused_form_summarises_its_errors_at_the_top_and_focuses_them() {
    let s = scenario().await;
    let eu = Web::admin(s.c.node("EU")).await;
    let (status, _, html) = eu
        .post(
            &format!("/ui/items/{}/react", s.item_id),
            &[("what", "sighting"), ("seen_at", ""), ("count", "0")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let summary = html.find("id=\"error-summary\"").expect("a summary");
    assert!(summary < html.find("<h1").unwrap(), "above the heading");
    let block = &html[summary..html[summary..].find("</div>").unwrap() + summary];
    assert!(block.contains("autofocus"));
    assert!(block.contains("2 things need your attention"), "{block}");
    assert!(block.contains("href=\"#seen_at\""));
    assert!(block.contains("href=\"#count\""));
    // A page without errors has none.
    let (_, html) = eu.get(&format!("/ui/items/{}", s.item_id)).await;
    assert!(!html.contains("error-summary"));
}

/// Review defect 14: the progress report opens on the period reports were filed for (the
/// format page linked the current month while reports were half-yearly, so the first view said
/// "0 progress reports"), lists the periods that have reports, explains the period's forms and
/// says so when a period has no contributions.
#[tokio::test]
async fn the_progress_report_opens_on_a_period_with_reports() {
    let s = scenario().await;
    let eu = s.c.node("EU");
    eu.node
        .report_progress(
            &eu.admin(),
            &s.action_id,
            entente_node::coord::NewProgress {
                period: "2026-H2".into(),
                status: entente_domain::coord::ActionStatus::InProgress,
                narrative: "First exchange held.".into(),
                milestones: vec![],
            },
        )
        .await
        .unwrap();
    let web = Web::admin(eu).await;
    let (_, format_page) = web.get(&format!("/ui/formats/{}", s.format_id)).await;
    let link = format!("href=\"/ui/formats/{}/report\"", s.format_id);
    assert!(format_page.contains(&link), "the format links the report");
    let (status, html) = web
        .get(&format!("/ui/formats/{}/report", s.format_id))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Period <strong>2026-H2</strong>"), "{html}");
    assert!(html.contains("1 progress report in the period."));
    assert!(html.contains("?period=2026-H2\" aria-current=\"page\">2026-H2</a> (1)"));
    // The period is picked from the forms the report reads, grouped, the shown one selected.
    assert!(
        html.contains("<select id=\"period\" name=\"period\">")
            && html.contains("<option value=\"2026-H2\" selected>")
            && html.contains("<option value=\"2026-Q4\">"),
        "{html}"
    );
    let (_, html) = web
        .get(&format!(
            "/ui/formats/{}/report?period=2026-11",
            s.format_id
        ))
        .await;
    assert!(html.contains("No progress reports filed for 2026-11."));
}

/// Review defects 11 and 15 (part): the acknowledging officer's note is on the alert board
/// (it was stored and never shown); a retracted item keeps a readable name in the list and on
/// its page (its title is cleared, which left an empty link).
#[tokio::test]
async fn the_ack_note_is_on_the_board_and_a_retracted_item_keeps_a_name() {
    let s = scenario().await;
    // JPN acknowledges an hour after the 13:00 deadline.
    s.clock.advance(time::Duration::hours(5));
    let jpn = s.c.node("JPN");
    jpn.node
        .acknowledge_alert(&jpn.admin(), &s.alert_id, "Coast guard informed.")
        .await
        .unwrap();
    s.c.sync_until_quiet().await;
    let nato = Web::admin(s.c.node("NATO")).await;
    let (_, html) = nato.get(&format!("/ui/alerts/{}", s.alert_id)).await;
    let row = html
        .split("<tr><td>JPN</td>")
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .expect("JPN's row on the board");
    assert!(row.contains("<td>Coast guard informed.</td>"), "{row}");
    // The deadline had passed (27 November): the acknowledgement counts and says it was late
    // (review defect 5).
    assert!(
        row.contains("<td class=\"status-Late\">Acknowledged late</td>"),
        "{row}"
    );
    // The alerts list refreshes in place from its own fragment, severity coloured (defect 9).
    let (status, list) = nato.get("/ui/alerts/list").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!list.contains("<html"), "a fragment, not a page");
    assert!(
        list.contains(&format!("href=\"/ui/alerts/{}\"", s.alert_id)),
        "{list}"
    );
    assert!(list.contains("<span class=\"sev sev-"), "{list}");
    let (_, page) = nato.get("/ui/alerts").await;
    assert!(
        page.contains("hx-get=\"/ui/alerts/list\""),
        "the list polls"
    );
    // The tab's title counts what awaits our acknowledgement (EU has NATO's alert to ack).
    let (_, page) = Web::admin(s.c.node("EU")).await.get("/ui/").await;
    assert!(page.contains("<title>(1) Dashboard"), "{page}");
    let eu = s.c.node("EU");
    let web = Web::admin(eu).await;
    let (status, _, _) = web
        .post(
            &format!("/ui/items/{}/retract", s.item_id),
            &[("reason", "Superseded.")],
        )
        .await;
    // Not confirmed: refused, and the item stays as it was.
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        eu.node
            .item(&eu.admin(), &s.item_id)
            .await
            .unwrap()
            .retracted
            .is_none()
    );
    let (status, _, _) = web
        .post(
            &format!("/ui/items/{}/retract", s.item_id),
            &[("reason", "Superseded."), ("confirm", "yes")],
        )
        .await;
    assert!(status.is_redirection() || status.is_success(), "{status}");
    let (_, html) = web.get("/ui/items").await;
    let link = format!("<a href=\"/ui/items/{}\">", s.item_id);
    let text = html
        .split(&link)
        .nth(1)
        .and_then(|r| r.split("</a>").next())
        .expect("the retracted item is listed");
    assert_eq!(text, "Retracted report");
    // Said once, not twice ("Retracted report retracted"), and the facets say they count
    // only what stands.
    assert!(
        !html.contains("<strong class=\"bad\">retracted</strong>"),
        "{html}"
    );
    assert!(html.contains("id=\"facets-retracted\""), "{html}");
    let (_, html) = web.get(&format!("/ui/items/{}", s.item_id)).await;
    assert!(html.contains("<h1>Retracted report</h1>"));
}

/// The text of the dashboard line that links to `href`, tags stripped.
fn owed_line(html: &str, href: &str) -> Option<String> {
    let at = html.find(&format!("href=\"{href}\""))?;
    let start = html[..at].rfind("<li class=\"owed-line")?;
    let end = at + html[at..].find("</li>")?;
    let li = &html[start..end];
    let mut text = String::new();
    let mut in_tag = false;
    for c in li.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    Some(format!("{}|{}", &li[..li.find('>').unwrap_or(0)], text))
}

#[tokio::test]
async fn the_dashboard_shows_what_is_owed_both_ways_live_and_the_navigation_counts_it() {
    let s = scenario().await;
    let alert = format!("/ui/alerts/{}", s.alert_id);
    let statement = format!("/ui/statements/{}", s.statement_id);
    let action = format!("/ui/actions/{}", s.action_id);

    // JPN owes an acknowledgement to NATO's alert and a stance on EU's statement.
    let jpn = Web::admin(s.c.node("JPN")).await;
    let (_, html) = jpn.get("/ui/").await;
    let l = owed_line(&html, &alert).expect("the alert among what JPN owes");
    assert!(
        l.contains("acknowledge (raised by NATO)")
            && l.contains("due in 4 h")
            && l.contains("high"),
        "{l}"
    );
    let l = owed_line(&html, &statement).expect("the statement among what JPN owes");
    assert!(l.contains("our stance on version 1 (from EU)"), "{l}");
    let we_owe = html.split("What partners owe us").next().unwrap();
    assert!(we_owe.contains(&alert) && we_owe.contains(&statement));
    // The navigation counts them, in words for screen readers (the stances: the statement and
    // the meeting's minutes).
    assert!(html.contains("1<span class=\"visually-hidden\"> awaiting our acknowledgement)"));
    assert!(html.contains("2<span class=\"visually-hidden\"> awaiting our stance)"));

    // EU is owed stances from JPN and NATO, and owes its own overdue milestone, in red words.
    let eu = Web::admin(s.c.node("EU")).await;
    let (_, html) = eu.get("/ui/").await;
    let owed_to_us = html.split("What partners owe us").nth(1).unwrap();
    let l = owed_line(owed_to_us, &statement).expect("the statement among what EU is owed");
    assert!(l.contains("stances from JPN, NATO"), "{l}");
    let l = owed_line(&html, &action).expect("the milestone among what EU owes");
    assert!(
        l.starts_with("<li class=\"owed-line overdue\"")
            && l.contains("“First exchange”")
            && l.contains("overdue"),
        "{l}"
    );

    // NATO is owed acknowledgements from EU and JPN; when JPN acknowledges, the fragment htmx
    // polls (and the page) name EU alone, and JPN's counter goes.
    let nato = Web::admin(s.c.node("NATO")).await;
    let (_, html) = nato.get("/ui/").await;
    assert!(
        owed_line(&html, &alert)
            .expect("the alert among what NATO is owed")
            .contains("acknowledgement from EU, JPN")
    );
    let (status, _, _) = jpn
        .post(
            &format!("{alert}/ack"),
            &[("note", "Coast guard informed.")],
        )
        .await;
    assert!(status.is_redirection() || status.is_success(), "{status}");
    s.c.sync_until_quiet().await;
    let (status, fragment) = nato.get("/ui/owed").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!fragment.contains("<html"), "a fragment, not a page");
    let l = owed_line(&fragment, &alert).expect("still owed by EU");
    assert!(l.contains("acknowledgement from EU"), "{l}");
    assert!(!l.contains("JPN"), "{l}");
    let (_, nav) = jpn.get("/ui/nav?at=/ui/alerts").await;
    assert!(nav.starts_with("<nav"), "{nav}");
    assert!(!nav.contains("awaiting our acknowledgement)"), "{nav}");
    assert!(
        nav.contains("href=\"/ui/alerts\" aria-current=\"page\""),
        "{nav}"
    );
    // An outside address in `at` is not echoed into the navigation.
    let (_, nav) = jpn.get("/ui/nav?at=https://evil.example/").await;
    assert!(!nav.contains("evil.example"), "{nav}");
}

#[tokio::test]
async fn an_items_markdown_body_is_rendered_and_its_html_is_shown_not_run() {
    let s = scenario().await;
    let eu = s.c.node("EU");
    let it = eu
        .node
        .create_item(
            &eu.admin(),
            entente_node::NewItem {
                format_id: s.format_id.clone(),
                kind: "report".into(),
                title: "Formatted brief".into(),
                body: "## Findings\n\n**Two** ferries, see [the notice](https://example.org/n).\n\n<script>document.title='owned'</script>\n\n[bad](javascript:alert(1))".into(),
                topics: vec!["maritime-security".into()],
                tlp: Some("GREEN".into()),
                releasable_to: None,
                named_users: vec![],
                attachments: vec![],
            },
        )
        .await
        .unwrap();
    let web = Web::admin(eu).await;
    let (status, html) = web.get(&format!("/ui/items/{}", it.item_id)).await;
    assert_eq!(status, StatusCode::OK);
    let body = html
        .split("<div class=\"text\">")
        .nth(1)
        .and_then(|b| b.split("</div>").next())
        .expect("the rendered body");
    assert!(body.contains("<h2>Findings</h2>"), "{body}");
    assert!(body.contains("<strong>Two</strong>"), "{body}");
    assert!(
        body.contains(
            "<a href=\"https://example.org/n\" rel=\"noopener noreferrer\">the notice</a>"
        ),
        "{body}"
    );
    assert!(body.contains("&lt;script&gt;"), "{body}");
    assert!(
        !body.contains("<script") && !body.contains("javascript:"),
        "{body}"
    );
}

#[tokio::test]
async fn alerts_statements_and_actions_state_their_audience_in_words() {
    let s = scenario().await;
    let nato = s.c.node("NATO");
    let narrow = nato
        .node
        .raise_alert(
            &nato.admin(),
            entente_node::alerts::NewAlert {
                format_id: s.format_id.clone(),
                severity: entente_domain::alert::Severity::Low,
                title: "For EU only".into(),
                text: String::new(),
                ack_deadline: "2026-11-28T09:00:00Z".into(),
                releasable_to: Some(vec!["EU".into()]),
            },
        )
        .await
        .unwrap();
    s.c.sync_until_quiet().await;
    let eu = Web::admin(s.c.node("EU")).await;
    let words = |html: &str| {
        html.split("<span class=\"audience\">")
            .nth(1)
            .and_then(|r| r.split("</span>").next())
            .unwrap_or_default()
            .to_owned()
    };
    let (_, html) = eu
        .get(&format!("/ui/alerts/{}", narrow.alert.alert_id))
        .await;
    assert_eq!(words(&html), "EU, NATO — not JPN");
    let (_, html) = eu.get(&format!("/ui/alerts/{}", s.alert_id)).await;
    assert_eq!(words(&html), "every member: EU, JPN, NATO");
    let (_, html) = eu.get(&format!("/ui/statements/{}", s.statement_id)).await;
    assert_eq!(words(&html), "every member: EU, JPN, NATO");
    let (_, html) = eu.get(&format!("/ui/actions/{}", s.action_id)).await;
    assert!(!words(&html).is_empty(), "the action states its audience");
}

#[tokio::test]
async fn a_successful_form_says_what_it_did_and_a_link_cannot_put_words_on_the_page() {
    let s = scenario().await;
    let jpn = Web::admin(s.c.node("JPN")).await;
    let alert = format!("/ui/alerts/{}", s.alert_id);
    let (status, location, _) = jpn
        .post(&format!("{alert}/ack"), &[("note", "Seen.")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, format!("{alert}?done=acknowledged"));
    let (_, html) = jpn.get(&location).await;
    assert!(
        html.contains("<p class=\"notice\" role=\"status\">Acknowledged: the partner that raised the alert sees it on its board.</p>"),
        "{html}"
    );
    // Only the fixed codes speak; anything else in the link shows nothing.
    let (_, html) = jpn
        .get(&format!("{alert}?done=Your+account+is+locked"))
        .await;
    assert!(!html.contains("class=\"notice\""));
    assert!(!html.contains("locked"));
    let (_, html) = jpn.get(&alert).await;
    assert!(!html.contains("class=\"notice\""));
}

#[tokio::test]
async fn the_tab_has_an_icon_where_browsers_look_for_it() {
    let c = cluster().await;
    let n = c.node("EU");
    for path in ["/favicon.ico", "/ui/assets/favicon.svg"] {
        let r = n
            .http()
            .get(format!("{}{path}", n.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()["content-type"], "image/svg+xml", "{path}");
        assert!(r.text().await.unwrap().starts_with("<svg"));
    }
    let web = Web::admin(n).await;
    let (_, html) = web.get("/ui/").await;
    assert!(
        html.contains("<link rel=\"icon\" href=\"/ui/assets/favicon.svg\" type=\"image/svg+xml\">")
    );
}

#[tokio::test]
async fn exercises_and_projects_have_pages_of_their_own_with_responses_and_interest_notes() {
    let s = scenario().await;
    let jpn = Web::admin(s.c.node("JPN")).await;
    let (_, list) = jpn.get("/ui/exercises").await;
    let href = list
        .split("<a href=\"/ui/exercises/")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .map(|id| format!("/ui/exercises/{id}"))
        .expect("the calendar links to the exercise");
    let (status, html) = jpn.get(&href).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>Table-top on undersea cables</h1>"));
    assert!(
        html.contains("<tr><td>JPN</td><td>invited</td><td>no response yet</td></tr>"),
        "{html}"
    );
    let (status, loc, _) = jpn
        .post(&format!("{href}/respond"), &[("response", "participate")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(loc, format!("{href}?done=response"));
    let (_, html) = jpn.get(&loc).await;
    assert!(
        html.contains("<tr><td>JPN</td><td>invited</td><td>participate"),
        "{html}"
    );
    // The form opens on the answer given, so a second visit does not send another by mistake.
    assert!(
        html.contains("<option value=\"participate\" selected>"),
        "{html}"
    );
    // So does the list's response box.
    let (_, list) = jpn.get("/ui/exercises").await;
    assert!(
        list.contains("<option value=\"participate\" selected>"),
        "{list}"
    );

    let (_, list) = jpn.get("/ui/projects").await;
    let href = list
        .split("<a href=\"/ui/projects/")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .map(|id| format!("/ui/projects/{id}"))
        .expect("the list links to the project");
    let (status, loc, _) = jpn
        .post(
            &format!("{href}/interest"),
            &[("note", "Our coast guard would test the drones.")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(loc, format!("{href}?done=interest"));
    let (_, html) = jpn.get(&loc).await;
    assert!(html.contains("<h1>Shared maritime surveillance drones</h1>"));
    assert!(
        html.contains("<tr><td>JPN</td><td>Our coast guard would test the drones.</td></tr>"),
        "{html}"
    );
    // A project that does not exist (or is withheld) is a 404.
    let (status, _) = jpn
        .get("/ui/projects/01a21cac-0000-7000-8000-000000000000")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn partners_are_picked_from_the_formats_members_not_typed() {
    let s = scenario().await;
    let eu = Web::admin(s.c.node("EU")).await;
    let (_, html) = eu.get("/ui/actions").await;
    for p in ["EU", "JPN", "NATO"] {
        assert!(
            html.contains(&format!(
                "<input type=\"checkbox\" name=\"leads\" value=\"{p}\" >"
            )),
            "{p} offered as a lead"
        );
    }
    assert!(
        !html.contains("name=\"leads\" value=\"\""),
        "no text field for codes"
    );
    // Ticked boxes repeat the name; each one counts.
    let (status, loc, body) = eu
        .post(
            "/ui/actions",
            &[
                ("format_id", s.format_id.as_str()),
                ("title", "Joint port survey"),
                ("topics", "maritime-security"),
                ("leads", "EU"),
                ("leads", "JPN"),
                ("participants", "NATO"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let id = created_id(&loc, "/ui/actions/");
    let n = s.c.node("EU");
    let a = n.node.action(&n.admin(), &id).await.unwrap();
    let leads: Vec<String> = a.leads.iter().map(|p| p.to_string()).collect();
    let participants: Vec<String> = a.participants.iter().map(|p| p.to_string()).collect();
    assert_eq!(leads, ["EU", "JPN"]);
    assert_eq!(participants, ["NATO"]);
}

/// Review defect 13: milestones are rows of a date picker and a title, not "YYYY-MM-DD title"
/// lines; "Add milestone rows" shows more rows and creates nothing; a half-filled row is refused
/// with nothing created; blank rows are skipped.
#[tokio::test]
async fn milestones_are_rows_of_a_date_and_a_title() {
    let s = scenario().await;
    let eu = Web::admin(s.c.node("EU")).await;
    let n = s.c.node("EU");
    let before = n.node.actions(&n.admin(), None).await.unwrap().len();
    let (_, html) = eu.get("/ui/actions").await;
    assert_eq!(
        html.matches("<input type=\"date\" name=\"ms_due\"").count(),
        3
    );
    assert!(!html.contains("<textarea id=\"milestones\""));
    let base = [
        ("format_id", s.format_id.as_str()),
        ("title", "Ferry capacity survey"),
        ("topics", "maritime-security"),
        ("leads", "EU"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut v: Vec<(&str, &str)> = base.to_vec();
        v.extend_from_slice(extra);
        v
    };
    // More rows, nothing created.
    let (status, _, body) = eu
        .post(
            "/ui/actions",
            &with(&[
                ("ms_due", "2027-01-10"),
                ("ms_title", "Kick-off"),
                ("more", "1"),
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body.matches("name=\"ms_due\"").count(),
        4,
        "typed row + 3 new"
    );
    assert!(body.contains("value=\"Kick-off\""), "the typed row is kept");
    // A date without a title: refused, nothing created.
    let (status, _, body) = eu
        .post(
            "/ui/actions",
            &with(&[("ms_due", "2027-01-10"), ("ms_title", "")]),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("id=\"milestones-error\""), "{body}");
    assert_eq!(
        n.node.actions(&n.admin(), None).await.unwrap().len(),
        before
    );
    // Two rows and a blank one: two milestones, in date order.
    let (status, loc, body) = eu
        .post(
            "/ui/actions",
            &with(&[
                ("ms_due", "2027-01-10"),
                ("ms_title", "Kick-off"),
                ("ms_due", ""),
                ("ms_title", ""),
                ("ms_due", "2027-03-01"),
                ("ms_title", "Survey report"),
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let id = created_id(&loc, "/ui/actions/");
    let a = n.node.action(&n.admin(), &id).await.unwrap();
    let ms: Vec<(String, String)> = a
        .milestones
        .iter()
        .map(|m| (m.due.clone(), m.title.clone()))
        .collect();
    assert_eq!(
        ms,
        [
            ("2027-01-10".to_owned(), "Kick-off".to_owned()),
            ("2027-03-01".to_owned(), "Survey report".to_owned())
        ]
    );
}

/// The id in the address a create form redirects to (`/ui/actions/{id}?done=…`).
fn created_id(location: &str, prefix: &str) -> String {
    location
        .trim_start_matches(prefix)
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A GET with this session that keeps the answer's headers.
async fn get_response(w: &Web, path: &str) -> reqwest::Response {
    w.http
        .get(format!("{}{path}", w.base))
        .header("cookie", &w.cookie)
        .send()
        .await
        .unwrap()
}

/// Every partner required by statement `id` endorses version 1, and the cluster settles.
async fn adopt(c: &Cluster, id: &str, partners: &[&str]) {
    for p in partners {
        let n = c.node(p);
        n.node
            .take_stance(
                &n.admin(),
                id,
                1,
                entente_domain::statement::Stance::Endorse,
                "",
            )
            .await
            .unwrap();
        c.sync_until_quiet().await;
    }
}

/// Issue 19, "forms for people": an adopted statement has a printable signed copy (text,
/// hash, every signature with who and when, the audience in words, how to verify offline) and
/// a JSON download that is the REST export and verifies against the partners' pinned keys. A
/// statement not adopted offers neither and answers 409, never a partial copy; a partner
/// outside the audience gets the same not-found as for a statement that does not exist.
#[tokio::test]
async fn an_adopted_statement_has_a_printable_and_a_verifiable_signed_copy() {
    let s = scenario().await;
    let eu = Web::admin(s.c.node("EU")).await;
    let page = format!("/ui/statements/{}", s.statement_id);
    let signed = format!("{page}/signed");
    let json = format!("{page}/signed.json");

    // Not adopted yet: no links, and both addresses refuse with a reason.
    let (_, html) = eu.get(&page).await;
    assert!(!html.contains("Printable signed copy"));
    assert!(!html.contains("signed.json"));
    let (status, html) = eu.get(&signed).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("this statement is not adopted"), "{html}");
    let r = get_response(&eu, &json).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.headers().get("content-disposition").is_none());
    assert!(!r.text().await.unwrap().contains("\"stances\""));

    adopt(&s.c, &s.statement_id, &["EU", "NATO", "JPN"]).await;
    let (_, html) = eu.get(&page).await;
    assert!(html.contains(&format!("<a href=\"{signed}\">Printable signed copy</a>")));
    assert!(html.contains(&format!(
        "<a href=\"{json}\" download>Download signed copy (JSON)</a>"
    )));

    // The printable copy.
    let (status, html) = eu.get(&signed).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let doc =
        s.c.node("EU")
            .node
            .export_statement(&s.c.node("EU").admin(), &s.statement_id)
            .await
            .unwrap();
    assert!(html.contains("<h1>Joint statement on maritime security</h1>"));
    assert!(
        html.contains(
            "<p>The partners will coordinate patrols.<br>\nThey will share port data.</p>"
        ),
        "the text as Markdown, its line break kept"
    );
    assert!(html.contains(&doc.hash), "the version hash");
    assert!(html.contains("<span class=\"audience\">every member: EU, JPN, NATO</span>"));
    let table = html
        .split("<table id=\"signed-signatures\" tabindex=\"0\">")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .expect("the signatures");
    assert_eq!(
        table.matches("<tr><td>").count(),
        4,
        "the draft and three stances"
    );
    for p in ["EU", "NATO", "JPN"] {
        let row = table
            .split("<tr>")
            .find(|r| r.starts_with(&format!("<td>{p}</td><td>endorsed</td><td>admin@{p}</td>")))
            .unwrap_or_else(|| panic!("{p}'s stance: {table}"));
        assert!(row.contains("2026-11-27"), "when: {row}");
    }
    assert!(table.contains("<tr><td>EU</td><td>drafted version 1</td>"));
    for e in std::iter::once(&doc.draft).chain(&doc.stances) {
        let sig = hex::encode(entente_log::parse_entry(e).unwrap().sig);
        assert!(table.contains(&sig), "each whole signature");
    }
    let file = format!("statement-{}.json", s.statement_id);
    assert!(html.contains(&format!(
        "entente verify --dir &lt;node directory&gt; --statement {file}"
    )));
    snapshot("statement_signed", html);

    // The download: the REST export's JSON, as a file, verifying against pinned keys.
    let r = get_response(&eu, &json).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(
        r.headers()["content-disposition"],
        format!("attachment; filename=\"{file}\"").as_str()
    );
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let got: entente_node::statements::StatementExport = r.json().await.unwrap();
    assert_eq!(got, doc);
    for at in ["JPN", "NATO", "EU"] {
        let keys = &s.c.node(at).node;
        let ok = entente_node::statements::verify_statement_export(&got, |p| keys.key_of(p))
            .unwrap_or_else(|e| panic!("at {at}: {e}"));
        assert!(ok.contains("4 signatures verified"), "{ok}");
    }

    // A statement released to EU and JPN only, adopted: NATO is outside its audience and
    // gets exactly what a statement that does not exist gets.
    let n = s.c.node("EU");
    let narrow = n
        .node
        .create_statement(
            &n.admin(),
            entente_node::statements::NewStatement {
                format_id: s.format_id.clone(),
                title: "For EU and JPN".into(),
                text: "Between us.".into(),
                releasable_to: Some(vec!["JPN".into()]),
                required: None,
                rule: entente_domain::statement::AdoptionRule::Unanimity,
                deadline: None,
            },
        )
        .await
        .unwrap()
        .state
        .statement_id;
    s.c.sync_until_quiet().await;
    adopt(&s.c, &narrow, &["EU", "JPN"]).await;
    let jpn = Web::admin(s.c.node("JPN")).await;
    let (status, _) = jpn.get(&format!("/ui/statements/{narrow}/signed")).await;
    assert_eq!(status, StatusCode::OK, "JPN is in the audience");
    let nato = Web::admin(s.c.node("NATO")).await;
    let missing = "01a21cac-0000-7000-8000-000000000000";
    for suffix in ["", "/signed", "/signed.json"] {
        let (status, html) = nato.get(&format!("/ui/statements/{narrow}{suffix}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{suffix}");
        let (status2, html2) = nato.get(&format!("/ui/statements/{missing}{suffix}")).await;
        assert_eq!((status, html), (status2, html2), "{suffix}");
    }
}

/// Issue 19, "markings everywhere": the progress report's exports carry the report's marking
/// as their first and last line (the audience in words; unmarked, as it includes no items),
/// through the UI's download link and the node's report the REST API serves.
#[tokio::test]
async fn a_progress_report_export_carries_its_marking_top_and_bottom() {
    let s = scenario().await;
    let n = s.c.node("EU");
    let web = Web::admin(n).await;
    let report = format!("/ui/formats/{}/report?period=2026-11", s.format_id);
    let (_, html) = web.get(&report).await;
    // The scenario's one action is released to its lead and participant, EU and JPN.
    let line = "Releasable to EU, JPN — not NATO. Unmarked (no TLP: the report includes no items), so it stays within these partners.";
    assert!(html.contains(&format!("id=\"report-marking-top\">{line}</div>")));
    assert!(html.contains(&format!("id=\"report-marking-bottom\">{line}</div>")));
    let link = format!(
        "<a href=\"/ui/formats/{}/report?period=2026-11&amp;download=md\">Download report (Markdown)</a>",
        s.format_id
    );
    assert!(html.contains(&link), "{html}");
    let r = get_response(&web, &format!("{report}&download=md")).await;
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    let md = r.text().await.unwrap();
    let marking = format!("**{line}**");
    assert_eq!(md.lines().next(), Some(marking.as_str()), "{md}");
    assert_eq!(md.trim_end().lines().last(), Some(marking.as_str()), "{md}");
    let rest = n
        .node
        .progress_report(&n.admin(), &s.format_id, "2026-11")
        .await
        .unwrap()
        .markdown();
    assert!(rest.starts_with(&marking) && rest.trim_end().ends_with(&marking));
    let r = get_response(&web, &format!("{report}&download=html")).await;
    assert_eq!(r.text().await.unwrap().matches(line).count(), 2);
    // NATO sees no action of the format: its report goes to every member.
    let nato = Web::admin(s.c.node("NATO")).await;
    let r = get_response(&nato, &format!("{report}&download=md")).await;
    let md = r.text().await.unwrap();
    let marking = "**Releasable to EU, JPN, NATO — format members only. Unmarked (no TLP: the report includes no items), so it stays within these partners.**";
    assert!(md.starts_with(marking), "{md}");
    assert!(md.trim_end().ends_with(marking), "{md}");
}

/// The edges of the network page as (link, partners, weight).
fn network_edges(html: &str) -> Vec<(String, String, usize)> {
    let table = html
        .split("<table id=\"edges\">")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .expect("the edges table");
    table
        .split("<td><a href=\"")
        .skip(1)
        .map(|l| {
            let (href, rest) = l.split_once("\">").unwrap();
            let (title, _) = rest.split_once("</a>").unwrap();
            let (pair, n) = title.split_once(": ").unwrap();
            let n = n.split(' ').next().unwrap().parse().unwrap();
            (href.replace("&#38;", "&"), pair.to_owned(), n)
        })
        .collect()
}

/// Issue 19, "forms for people": each link of the cooperation network leads to the items
/// behind it, with the page's topic and dates, and the list has as many rows as the link's
/// weight. The audience filter only narrows: NATO following EU's link sees only what NATO may.
#[tokio::test]
async fn network_edges_lead_to_the_items_behind_them() {
    let s = scenario().await;
    let eu = Web::admin(s.c.node("EU")).await;
    let rows = |html: &str| html.matches("<tr><td><a href=\"/ui/items/").count();
    for q in [
        "",
        "?topic=maritime-security",
        "?since=2026-11-01&until=2026-12-01",
    ] {
        let (status, html) = eu.get(&format!("/ui/network{q}")).await;
        assert_eq!(status, StatusCode::OK);
        let edges = network_edges(&html);
        assert_eq!(edges.len(), 3, "{q}: {edges:?}");
        for (href, pair, n) in &edges {
            assert!(href.starts_with("/ui/items?released_to="), "{href}");
            for part in q
                .trim_start_matches('?')
                .split('&')
                .filter(|p| !p.is_empty())
            {
                assert!(href.contains(part), "{href} keeps {part}");
            }
            let (status, page) = eu.get(href).await;
            assert_eq!(status, StatusCode::OK, "{href}: {page}");
            assert_eq!(rows(&page), *n, "{pair}: {href}");
            assert!(page.contains("id=\"edge-filter\">Only items released to both "));
            assert!(
                !page.contains("<aside class=\"facets\""),
                "no counts that do not match"
            );
        }
        let weights: Vec<_> = edges.iter().map(|(_, p, n)| (p.as_str(), *n)).collect();
        assert_eq!(
            weights,
            [("EU – JPN", 2), ("EU – NATO", 1), ("JPN – NATO", 1)],
            "{q}"
        );
    }
    // Dates outside the items' leave no links.
    let (_, html) = eu.get("/ui/network?until=2026-01-01").await;
    assert!(network_edges(&html).is_empty());
    let (_, page) = eu
        .get("/ui/items?released_to=EU&released_to=JPN&until=2026-01-01")
        .await;
    assert_eq!(rows(&page), 0);
    // NATO may see only the AMBER item, released to EU, NATO and JPN.
    let nato = Web::admin(s.c.node("NATO")).await;
    let (_, page) = nato.get("/ui/items?released_to=EU&released_to=JPN").await;
    assert_eq!(rows(&page), 1);
    let (_, html) = nato.get("/ui/network").await;
    for (href, pair, n) in network_edges(&html) {
        let (_, page) = nato.get(&href).await;
        assert_eq!(rows(&page), n, "{pair}");
    }
    // A partner code that is not one is refused, not ignored.
    let (status, _) = eu.get("/ui/items?released_to=E%3CU").await;
    assert_ne!(status, StatusCode::OK);
}

/// The English words a Japanese page shows: its visible text and tooltips (`title`,
/// `aria-label`, `placeholder`, `alt`), less what the scenario's users wrote (titles, texts,
/// names), less the words that are the same in both languages (partner codes, TLP markings,
/// standards). Tokens with digits (ids, dates) are not words.
fn english_words(html: &str) -> Vec<String> {
    const WRITTEN: [&str; 38] = [
        "Means",
        "Maritime resilience concept",
        "Ports and ferries.",
        "Shared tables and air bridges.",
        "Shared tables",
        "Air assets matter.",
        "Scope",
        "DECISION: Joint patrol calendar (lead: JPN)",
        "Port security working group",
        "Patrol plans reviewed.",
        "Joint patrol calendar",
        "Patrol plans",
        "Ferry capacity figures",
        "We do: twelve sailings a day.",
        "Who holds current ro-ro figures? @admin@JPN",
        "body of Ferry capacity study",
        "body of Port access procedures",
        "EU–NATO–Japan maritime dialogue",
        "Ferry capacity study",
        "Port access procedures",
        "Joint statement on maritime security",
        "The partners will coordinate patrols",
        "They will share port data",
        "Coordinated patrol information exchange",
        "Share patrol plans monthly.",
        "First exchange",
        "Review",
        "Cable damage reported",
        "Exercise: a fictional cable cut.",
        "Table-top on undersea cables",
        "Shared maritime surveillance drones",
        "maritime surveillance",
        "maritime",
        "admin",
        "port",
        "prot",
        "English",
        "test",
    ];
    // Names and codes that read the same in Japanese: partner codes, TLP markings, standards,
    // acronyms of topics, the product's name and IANA zone names (identifiers users pick).
    const SAME: [&str; 42] = [
        "JST",
        "NATO",
        "JPN",
        "KOR",
        "AUS",
        "NZL",
        "TLP",
        "CLEAR",
        "GREEN",
        "AMBER",
        "STRICT",
        "RED",
        "UTC",
        "STIX",
        "TAXII",
        "JSON",
        "Markdown",
        "Entente",
        "CBRN",
        "FIMI",
        "IANA",
        "Asia",
        "Europe",
        "America",
        "Pacific",
        "Australia",
        "Auckland",
        "Brussels",
        "London",
        "Seoul",
        "Sydney",
        "Tokyo",
        "Paris",
        "Berlin",
        "Canberra",
        "New_York",
        "HTML",
        "URL",
        "API",
        "REST",
        "GET",
        "Transatlantic",
    ];
    // Scripts and styles are not read by anyone.
    let mut text = html.to_owned();
    // Nor is code (commands, entry kinds, ids) a language.
    for (open, close) in [
        ("<script", "</script>"),
        ("<style", "</style>"),
        ("<code", "</code>"),
    ] {
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(i) = rest.find(open) {
            out.push_str(&rest[..i]);
            rest = rest[i..]
                .find(close)
                .map_or("", |j| &rest[i + j + close.len()..]);
        }
        out.push_str(rest);
        text = out;
    }
    // A search snippet marks words inside a sentence: the mark is not a word boundary.
    let text = text.replace("<mark>", "").replace("</mark>", "");
    let rest = text.as_str();
    let mut visible = String::new();
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '<' {
            let end = rest[i..].find('>').map_or(rest.len(), |j| i + j);
            let tag = &rest[i..end];
            for attr in ["title=\"", "aria-label=\"", "placeholder=\"", "alt=\""] {
                if let Some(a) = tag.find(attr) {
                    let v = &tag[a + attr.len()..];
                    visible.push(' ');
                    visible.push_str(&v[..v.find('"').unwrap_or(v.len())]);
                    visible.push(' ');
                }
            }
            while chars.peek().is_some_and(|(k, _)| *k <= end) {
                chars.next();
            }
            visible.push(' ');
        } else {
            visible.push(c);
        }
    }
    let mut visible = visible
        .replace("&amp;", "&")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'");
    for w in WRITTEN {
        visible = visible.replace(w, " ");
    }
    // Each word with the text around it, so a failure says where it is.
    let words: Vec<&str> = visible.split_whitespace().collect();
    let mut found: Vec<String> = Vec::new();
    for (i, w) in words.iter().enumerate() {
        // Addresses and patterns (`name@PARTNER`, `http://…`, an object reference such as
        // `action:<uuid>` in an agenda) are not words.
        let reference = w.split_once(':').is_some_and(|(k, id)| {
            k.chars().all(|c| c.is_ascii_lowercase())
                && id.len() == 36
                && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
        });
        let english = !w.contains('@')
            && !w.contains("://")
            && !reference
            && w.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|t| {
                    t.len() >= 3 && t.chars().all(|c| c.is_ascii_alphabetic()) && !SAME.contains(&t)
                });
        if english {
            let around = words[i.saturating_sub(3)..(i + 4).min(words.len())].join(" ");
            found.push(format!("{w} in «{around}»"));
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Issue 19 items 2 and 3 (review defect 9): every list row names its object's audience in
/// words against the format's members, and an alert's row says how its deadline stands ("due
/// in 4 h", then "overdue by 1 h" in red) while a recipient has still to acknowledge.
#[tokio::test]
async fn list_rows_say_their_audience_and_alerts_how_their_deadline_stands() {
    let s = scenario().await;
    let eu = Web::admin(s.c.node("EU")).await;
    let (_, html) = eu.get("/ui/items").await;
    assert!(
        html.contains("<td class=\"audience\">EU, JPN — not NATO</td>"),
        "{html}"
    );
    for page in [
        "/ui/alerts",
        "/ui/statements",
        "/ui/actions",
        "/ui/exercises",
        "/ui/projects",
    ] {
        let (_, html) = eu.get(page).await;
        assert!(
            html.contains("<th scope=\"col\">Audience</th>")
                && html.contains("<td class=\"audience\">every member: EU, JPN, NATO</td>")
                || html.contains("<td class=\"audience\">EU, JPN — not NATO</td>"),
            "{page}: {html}"
        );
    }
    let (_, html) = eu.get("/ui/alerts/list").await;
    assert!(
        html.contains("<span class=\"muted\">due in 4 h</span>"),
        "{html}"
    );
    s.clock.advance(time::Duration::hours(5));
    let (_, html) = eu.get("/ui/alerts/list").await;
    assert!(
        html.contains("<strong class=\"bad overdue\">overdue by 1 h</strong>"),
        "{html}"
    );
}

/// Issue 21 item 3: a search hit shows the part of its text around the words searched for,
/// the words marked, the text escaped as everywhere else (a partner's markup is shown as text),
/// and only for hits the reader may see.
#[tokio::test]
async fn search_hits_show_their_text_around_the_words_marked() {
    let s = scenario().await;
    let eu = s.c.node("EU");
    let body = format!(
        "{}The <b>ferry</b> surge capacity doubled during the drill. {}",
        "Background paragraph. ".repeat(15),
        "Closing paragraph. ".repeat(15)
    );
    eu.node
        .create_item(
            &eu.admin(),
            entente_node::NewItem {
                format_id: s.format_id.clone(),
                kind: "report".into(),
                title: "Drill results".into(),
                body,
                topics: vec!["maritime-security".into()],
                tlp: Some("GREEN".into()),
                releasable_to: Some(vec!["JPN".into()]),
                named_users: vec![],
                attachments: vec![],
            },
        )
        .await
        .unwrap();
    s.c.sync_until_quiet().await;
    for n in &s.c.nodes {
        n.node.search_settled().await;
    }
    let jpn = Web::admin(s.c.node("JPN")).await;
    let (_, html) = jpn.get("/ui/search?q=surge").await;
    assert!(
        html.contains("The &#60;b&#62;ferry&#60;/b&#62; <mark>surge</mark> capacity doubled"),
        "{html}"
    );
    assert!(
        !html.contains("<b>ferry</b>"),
        "markup of a partner's text runs: {html}"
    );
    // The word being typed is marked as the word it matched.
    let (_, html) = jpn.get("/ui/search?q=capac").await;
    assert!(html.contains("<mark>capacity</mark>"), "{html}");
    // The API carries the same, as text and ranges.
    let view =
        s.c.node("JPN")
            .node
            .search(
                &s.c.node("JPN").admin(),
                entente_node::search::SearchRequest {
                    q: "surge".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    let hit = &view.hits[0];
    let (a, b) = hit.marks[0];
    assert_eq!(&hit.snippet[a..b], "surge");
    assert!(hit.snippet.chars().count() <= 200, "{}", hit.snippet);
    // NATO is not in the audience: nothing of it, snippet included.
    let nato = Web::admin(s.c.node("NATO")).await;
    let (_, html) = nato.get("/ui/search?q=surge").await;
    assert!(!html.contains("surge capacity"), "{html}");
}

#[tokio::test]
async fn a_discussion_is_started_answered_edited_and_retracted_through_the_forms() {
    let s = scenario().await;
    let (eu_n, jpn_n) = (s.c.node("EU"), s.c.node("JPN"));
    let eu = Web::admin(eu_n).await;
    let jpn = Web::admin(jpn_n).await;
    let nato = Web::admin(s.c.node("NATO")).await;
    let f = s.format_id.as_str();

    // Bad input: the form comes back with the message beside the field, and nothing is stored.
    let before = footprint(eu_n).await;
    let (status, _, html) = eu
        .post(
            "/ui/discussions",
            &[("format_id", f), ("title", "Port security"), ("body", "  ")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"body-error\""), "{html}");
    let (status, _, html) = eu
        .post(
            "/ui/discussions",
            &[
                ("format_id", f),
                ("title", "Port security"),
                ("body", "cc @admin@NATO"),
                ("releasable_to", "JPN"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("admin@NATO"), "{html}");
    assert_eq!(footprint(eu_n).await, before);

    // EU starts a discussion for EU and JPN.
    let (status, loc, _) = eu
        .post(
            "/ui/discussions",
            &[
                ("format_id", f),
                ("title", "Port security screening"),
                ("body", "How do you screen **ro-ro** cargo? @admin@JPN"),
                ("releasable_to", "JPN"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(loc.ends_with("?done=discussion-started"), "{loc}");
    let page = loc.split('?').next().unwrap().to_owned();
    let (_, html) = eu.get(&loc).await;
    assert!(html.contains("<strong>ro-ro</strong>"), "Markdown: {html}");
    assert!(
        html.contains("EU, JPN — not NATO"),
        "the audience in words: {html}"
    );
    s.c.sync_until_quiet().await;

    // JPN sees it unread, mentioned, counted in the navigation; opening it marks it read.
    let (_, html) = jpn.get("/ui/discussions").await;
    assert!(html.contains("Port security screening"));
    assert!(
        html.contains("1 new post") && html.contains("1 mentions you"),
        "{html}"
    );
    let (_, html) = jpn.get("/ui/nav?at=/ui/discussions").await;
    assert!(html.contains("unread"), "{html}");
    let (_, html) = jpn.get(&page).await;
    assert!(
        html.contains("1 post is new since your last visit."),
        "{html}"
    );
    assert!(html.contains("class=\"post new\""), "{html}");
    let (_, html) = jpn.get(&page).await;
    assert!(
        !html.contains("class=\"post new\""),
        "read on the second visit"
    );
    let first = html
        .split("id=\"post-")
        .nth(1)
        .and_then(|x| x.split('"').next())
        .unwrap()
        .to_owned();

    // JPN replies, quoting EU's post.
    let (_, html) = jpn.get(&format!("{page}?quote={first}")).await;
    assert!(html.contains("name=\"quote\""), "{html}");
    let (status, loc, _) = jpn
        .post(
            &format!("{page}/reply"),
            &[("body", "X-ray portals at Yokohama."), ("quote", &first)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{loc}");
    assert!(loc.ends_with("?done=replied"));
    s.c.sync_until_quiet().await;
    let (_, html) = eu.get(&page).await;
    assert!(html.contains("X-ray portals at Yokohama."), "{html}");
    assert!(html.contains("<blockquote>"), "the quote: {html}");
    assert!(html.contains("class=\"post new\""), "new at EU");

    // NATO sees none of it, and its page is the same 404 as a missing one.
    let (_, html) = nato.get("/ui/discussions").await;
    assert!(!html.contains("Port security screening") && !html.contains("Yokohama"));
    let (status, html) = nato.get(&page).await;
    let (status2, html2) = nato
        .get("/ui/discussions/01a21cac-0000-7000-8000-000000000000")
        .await;
    assert_eq!((status, html), (status2, html2));
    assert_eq!(status, StatusCode::NOT_FOUND);

    // EU may not change JPN's post; JPN edits it, then retracts it.
    let reply = jpn_n
        .node
        .thread(&jpn_n.admin(), page.rsplit('/').next().unwrap())
        .await
        .unwrap()
        .thread
        .posts[1]
        .post_id
        .clone();
    let (status, _, _) = eu
        .post(
            &format!("{page}/posts/{reply}/edit"),
            &[("body", "EU's words")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = jpn
        .post(
            &format!("{page}/posts/{reply}/edit"),
            &[("body", "X-ray portals at Yokohama and Kobe.")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    s.c.sync_until_quiet().await;
    let (_, html) = eu.get(&page).await;
    assert!(
        html.contains("Yokohama and Kobe.") && html.contains("edited"),
        "{html}"
    );
    let (status, _, _) = jpn
        .post(&format!("{page}/posts/{reply}/retract"), &[("reason", "")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    s.c.sync_until_quiet().await;
    let (_, html) = eu.get(&page).await;
    assert!(!html.contains("Yokohama"), "{html}");
    assert!(html.contains("This post was retracted by its author."));

    // A discussion about an object: linked from it, narrowed to it, and about it.
    let (_, html) = eu.get(&format!("/ui/items/{}", s.item_id)).await;
    let link = format!("/ui/discussions?subject=item:{}", s.item_id);
    assert!(html.contains(&link), "{html}");
    let (_, html) = eu.get(&link).await;
    assert!(html.contains("Ferry capacity study") && !html.contains("Port security screening"));
    let (status, loc, _) = eu
        .post(
            "/ui/discussions",
            &[
                ("subject", &format!("item:{}", s.item_id)),
                ("title", "On the ferry study"),
                ("body", "Comments welcome."),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{loc}");
    let (_, html) = eu.get(&loc).await;
    assert!(
        html.contains("Ferry capacity study"),
        "the subject is named: {html}"
    );
    let (_, html) = eu.get(&link).await;
    assert!(html.contains("On the ferry study"));

    let thread_id = page.rsplit('/').next().unwrap().to_owned();
    let jpn_thread = async || {
        jpn_n
            .node
            .thread(&jpn_n.admin(), &thread_id)
            .await
            .unwrap()
            .thread
    };
    // The reply form takes a file (issue 21): JPN replies with a timetable under a Japanese
    // name; the reply and its file are one signed post, and EU lists the file with it.
    let (_, html) = jpn.get(&page).await;
    assert!(
        html.contains("enctype=\"multipart/form-data\" action=\"/ui/discussions/")
            && html.contains("id=\"file\" name=\"file\""),
        "the reply form takes a file: {html}"
    );
    let table = "route,sailings\nTsugaru,12\n".as_bytes();
    let (status, loc, _) = jpn
        .post_multipart(
            &format!("{page}/reply"),
            &[("body", "Timetable attached.")],
            Some(("運航表.csv", table)),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{loc}");
    assert!(loc.ends_with("?done=replied"), "{loc}");
    let t = jpn_thread().await;
    let with_file = t.posts.last().unwrap();
    assert_eq!(with_file.body, "Timetable attached.");
    assert_eq!(
        with_file.attachments.len(),
        1,
        "the file is in the reply's own entry"
    );
    assert_eq!(with_file.attachments[0].name, "運航表.csv");
    s.c.sync_until_quiet().await;
    let (_, html) = eu.get(&page).await;
    assert!(
        html.contains("Timetable attached.") && html.contains("運航表.csv"),
        "{html}"
    );
    // No file chosen (the browser sends the input empty): a reply without files.
    let (status, _, _) = jpn
        .post_multipart(
            &format!("{page}/reply"),
            &[("body", "No file this time.")],
            Some(("", b"")),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let t = jpn_thread().await;
    assert_eq!(t.posts.last().unwrap().body, "No file this time.");
    assert!(t.posts.last().unwrap().attachments.is_empty());
    // A file without text: the form again, the text asked for, nothing posted.
    let posts = t.posts.len();
    let (status, _, html) = jpn
        .post_multipart(
            &format!("{page}/reply"),
            &[("body", " ")],
            Some(("a.txt", b"a")),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"body-error\""), "{html}");
    let t = jpn_thread().await;
    assert_eq!(t.posts.len(), posts);
    // Without the session's CSRF token (a forged one, or none), nothing is read or posted.
    let before = footprint(jpn_n).await;
    for csrf in [Some("forged"), None] {
        let mut fields = vec![("body", "forged")];
        fields.extend(csrf.map(|c| ("csrf", c)));
        let (status, _, _) = jpn
            .post_multipart_raw(&format!("{page}/reply"), &fields, Some(("b.txt", b"b")))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    assert_eq!(footprint(jpn_n).await, before);
    // Text beyond what a reply may hold is refused, not kept in memory, and nothing is posted.
    let long = "x".repeat(3 << 20);
    let (status, _, html) = jpn
        .post_multipart(&format!("{page}/reply"), &[("body", &long)], None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"body-error\""));
    assert_eq!(footprint(jpn_n).await, before);
}

#[tokio::test]
async fn past_material_is_released_to_another_member_only_as_ticked() {
    let s = scenario().await;
    let (eu_n, nato_n) = (s.c.node("EU"), s.c.node("NATO"));
    let eu = Web::admin(eu_n).await;
    let nato = Web::admin(nato_n).await;
    let f = s.format_id.as_str();
    let page = format!("/ui/formats/{f}/release");
    // The format page leads there; the review lists the EU–JPN item for NATO, nothing ticked.
    let (_, html) = eu.get(&format!("/ui/formats/{f}")).await;
    assert!(html.contains(&page), "{html}");
    let (status, html) = eu.get(&format!("{page}?to=NATO")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Ferry capacity study"), "{html}");
    assert!(
        !html.contains("Port access procedures"),
        "NATO sees that one already"
    );
    assert!(!html.contains("checked"), "nothing ticked by default");
    // Nothing ticked: refused beside the list, nothing stored.
    let before = footprint(eu_n).await;
    let (status, _, html) = eu.post(&page, &[("to", "NATO")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("choose at least one item"), "{html}");
    assert_eq!(footprint(eu_n).await, before);
    // Ticked: released; NATO receives a new item that names where it comes from.
    let (status, loc, _) = eu
        .post(&page, &[("to", "NATO"), ("items", s.item_id.as_str())])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{loc}");
    assert!(loc.ends_with("?done=released"));
    s.c.sync_until_quiet().await;
    let (_, html) = nato.get("/ui/items").await;
    assert!(html.contains("Ferry capacity study"), "{html}");
    let released = nato_n
        .node
        .items(&nato_n.admin(), Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|i| i.released_from.is_some())
        .unwrap();
    assert_eq!(released.released_from.as_ref().unwrap().item_id, s.item_id);
    let (_, html) = nato.get(&format!("/ui/items/{}", released.item_id)).await;
    assert!(html.contains("id=\"released-from\""), "{html}");
    // The original stays EU–JPN only: NATO still cannot open it.
    let (status, _) = nato.get(&format!("/ui/items/{}", s.item_id)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Released once, it is offered no more.
    let (_, html) = eu.get(&format!("{page}?to=NATO")).await;
    assert!(
        !html.contains(&format!("value=\"{}\"", s.item_id)),
        "{html}"
    );
}

/// Issue 21 item 2: a user sets where notifications go and how each kind arrives on the
/// settings page; a wrong address is refused beside its field and changes nothing; the admin
/// page shows the delivery log.
#[tokio::test]
async fn notification_preferences_are_set_on_the_settings_page() {
    let s = scenario().await;
    let n = s.c.node("EU");
    let eu = Web::admin(n).await;
    let (_, html) = eu.get("/ui/settings").await;
    assert!(html.contains("<label for=\"email\">"), "{html}");
    assert!(
        html.contains("<option value=\"digest\" selected>In a daily digest</option>"),
        "replies default to the digest: {html}"
    );
    let (status, loc, _) = eu
        .post(
            "/ui/settings",
            &[
                ("email", "anna@eu.example"),
                ("notify_alert", "immediately"),
                ("notify_stance", "off"),
                ("notify_mention", "immediately"),
                ("notify_reply", "immediately"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{loc}");
    let saved = n.node.user_settings(&n.admin()).await.unwrap();
    assert_eq!(saved.email.as_deref(), Some("anna@eu.example"));
    assert_eq!(saved.notify["stance"], "off");
    let (_, html) = eu.get("/ui/settings").await;
    assert!(html.contains("value=\"anna@eu.example\""), "{html}");
    // A wrong address: refused beside the field, the saved settings unchanged.
    let (status, _, html) = eu
        .post(
            "/ui/settings",
            &[("email", "anna at eu"), ("notify_reply", "off")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"email-error\""), "{html}");
    assert_eq!(n.node.user_settings(&n.admin()).await.unwrap(), saved);
    let (_, html) = eu.get("/ui/admin").await;
    assert!(html.contains("id=\"deliveries\""), "{html}");
}
