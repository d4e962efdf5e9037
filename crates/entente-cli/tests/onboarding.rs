//! A fourth partner joins a running three-node network (the demo, on HTTPS) by invitation:
//! each existing node runs `invite` and `peer accept` (with the fingerprint the newcomer reads
//! aloud), the newcomer runs `init --from-invitation` and `serve`; the convener admits it to
//! the "Transatlantic+ Korea" formats from the template, and what EU releases to KOR arrives.
//! A tampered invitation, a wrong fingerprint and replayed files are refused and pin nothing.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use entente_testkit::cli::{Kill, eventually, free_port, path as d};

fn run(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let o = entente_testkit::cli::run(env!("CARGO_BIN_EXE_entente"), args, env);
    (o.status.success(), entente_testkit::cli::text(&o))
}

fn ok(args: &[&str]) -> String {
    let (good, out) = run(args, &[]);
    assert!(good, "entente {}: {out}", args.join(" "));
    out
}

#[test]
fn a_fourth_partner_joins_a_running_network_by_invitation() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = tmp.path().join("demo");
    let base = loop {
        let p = free_port();
        if p < 65000 && (1..3).all(|i| std::net::TcpListener::bind(("127.0.0.1", p + i)).is_ok()) {
            break p;
        }
    };
    let child = Command::new(env!("CARGO_BIN_EXE_entente"))
        .args(["demo", "--base-port", &base.to_string(), "--dir", d(&demo)])
        .env_remove("ENTENTE_TEST_PG_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut demo_proc = Kill(child);
    eventually("demo.json", || {
        assert!(demo_proc.0.try_wait().unwrap().is_none(), "demo exited");
        demo.join("demo.json").exists()
    });
    let node_dir = |p: &str| demo.join(p.to_lowercase());
    let inv = |p: &str| {
        tmp.path()
            .join(format!("{}-invites-kor.json", p.to_lowercase()))
    };

    // Each existing partner, command 1: invite.
    for p in ["EU", "NATO", "JPN"] {
        let out = ok(&[
            "invite",
            "--dir",
            d(&node_dir(p)),
            "--partner",
            "KOR",
            "--out",
            d(&inv(p)),
        ]);
        assert!(out.contains("invitation for KOR"), "{out}");
    }

    // A tampered invitation (another URL put in) is refused, and nothing is created.
    let bad = tmp.path().join("tampered.json");
    let text = std::fs::read_to_string(inv("EU")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["inviter_url"] = "https://198.51.100.66:7401".into();
    std::fs::write(&bad, v.to_string()).unwrap();
    let bad_dir = tmp.path().join("kor-bad");
    let (good, out) = run(
        &[
            "init",
            "--dir",
            d(&bad_dir),
            "--partner",
            "KOR",
            "--from-invitation",
            d(&bad),
        ],
        &[],
    );
    assert!(!good && out.contains("signature does not verify"), "{out}");
    assert!(!bad_dir.exists());

    // The newcomer, command 1: its node, from the three invitations.
    let kor = tmp.path().join("kor");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let out = ok(&[
        "init",
        "--dir",
        d(&kor),
        "--partner",
        "KOR",
        "--listen",
        &listen,
        "--from-invitation",
        d(&inv("EU")),
        "--from-invitation",
        d(&inv("NATO")),
        "--from-invitation",
        d(&inv("JPN")),
    ]);
    let spoken = |p: &str| -> String {
        let tag = format!("fingerprint to read aloud to {p}'s operator: ");
        out.lines()
            .find_map(|l| l.strip_prefix(&tag))
            .unwrap_or_else(|| panic!("no fingerprint for {p}: {out}"))
            .to_owned()
    };
    let answer = |p: &str| -> PathBuf {
        tmp.path()
            .join(format!("{}-invites-kor.answer.json", p.to_lowercase()))
    };
    // The same invitation again at KOR: a replay, refused.
    let (good, again) = run(&["peer", "accept", "--dir", d(&kor), d(&inv("EU"))], &[]);
    assert!(!good && again.contains("replayed"), "{again}");

    // A wrong fingerprint at EU: refused, KOR not pinned.
    let (good, wrong) = run(
        &[
            "peer",
            "accept",
            "--dir",
            d(&node_dir("EU")),
            d(&answer("EU")),
            "--fingerprint",
            "11111 22222 33333 44444 55555 66666",
        ],
        &[],
    );
    assert!(!good && wrong.contains("is not this answer's"), "{wrong}");
    assert!(!ok(&["peer", "list", "--dir", d(&node_dir("EU"))]).contains("KOR"));

    // Each existing partner, command 2: accept the answer with the fingerprint read aloud.
    for p in ["EU", "NATO", "JPN"] {
        let out = ok(&[
            "peer",
            "accept",
            "--dir",
            d(&node_dir(p)),
            d(&answer(p)),
            "--fingerprint",
            &spoken(p),
        ]);
        assert!(out.contains("pinned KOR"), "{out}");
    }
    // The same answer again: a replay, refused.
    let (good, again) = run(
        &[
            "peer",
            "accept",
            "--dir",
            d(&node_dir("EU")),
            d(&answer("EU")),
            "--fingerprint",
            &spoken("EU"),
        ],
        &[],
    );
    assert!(!good && again.contains("replayed"), "{again}");

    // A user at KOR to look with (not part of joining).
    ok_env(&[
        "user",
        "add",
        "--dir",
        d(&kor),
        "--username",
        "admin",
        "--role",
        "admin",
    ]);

    // The newcomer, command 2: serve.
    let serve = Command::new(env!("CARGO_BIN_EXE_entente"))
        .args(["serve", "--dir", d(&kor)])
        .env("ENTENTE_SYNC_INTERVAL_SECS", "1")
        .env_remove("ENTENTE_TEST_PG_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _kor_proc = Kill(serve);

    // The convener, command 3: admit KOR ("Transatlantic+ Korea" formats from the template).
    let out = ok(&[
        "api",
        "--dir",
        d(&node_dir("EU")),
        "POST",
        "/api/v1/formats/template",
        "--data",
        r#"{"partner":"KOR"}"#,
    ]);
    let body = &out[out.find('[').expect(&out)..];
    let formats: serde_json::Value =
        serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    let f = formats[0]["id"].as_str().unwrap().to_owned();
    assert!(
        formats[0]["title"].as_str().unwrap().contains("Korea"),
        "{formats}"
    );

    // KOR receives the formats over TLS from EU.
    eventually("the Korea formats at KOR", || {
        run(
            &[
                "api",
                "--dir",
                d(&kor),
                "GET",
                &format!("/api/v1/formats/{f}"),
            ],
            &[],
        )
        .0
    });
    // EU releases an item to KOR only; it arrives there.
    let out = ok(&[
        "api",
        "--dir",
        d(&node_dir("EU")),
        "POST",
        "/api/v1/items",
        "--data",
        &format!(
            r#"{{"format_id":"{f}","kind":"report","title":"EU-KOR only: welcome brief","body":"EXERCISE: liaison contacts","tlp":"AMBER","releasable_to":["KOR"]}}"#
        ),
    ]);
    let item: serde_json::Value = serde_json::from_str(&out[out.find('{').unwrap()..]).unwrap();
    let id = item["id"].as_str().unwrap().to_owned();
    eventually("EU's item at KOR", || {
        run(
            &[
                "api",
                "--dir",
                d(&kor),
                "GET",
                &format!("/api/v1/items/{id}"),
            ],
            &[],
        )
        .0
    });
    // ... and never at NATO or JPN.
    for p in ["NATO", "JPN"] {
        let (_, out) = run(
            &[
                "api",
                "--dir",
                d(&node_dir(p)),
                "GET",
                &format!("/api/v1/items/{id}"),
            ],
            &[],
        );
        assert!(out.contains("not_found"), "{p}: {out}");
    }
    let _ = demo_proc.0.kill();
}

fn ok_env(args: &[&str]) {
    let (good, out) = run(args, &[("ENTENTE_PASSWORD", "kor-admin-password-1")]);
    assert!(good, "entente {}: {out}", args.join(" "));
}
