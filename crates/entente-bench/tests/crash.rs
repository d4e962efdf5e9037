//! The CI-sized crash test: `entente-bench crash --kills 20` (the full command runs 100) kills
//! the node's processes with SIGKILL during writes, sync (receiver and sender), bulk import and
//! alert fan-out; it fails unless every acknowledged write and alert survives, every log
//! verifies, imports leave whole batches, sync resumes to the same state and every alert gets
//! exactly one delivery receipt.

#[test]
fn twenty_kill_9s_lose_nothing_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("crash.json");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_entente-bench"))
        .args(["crash", "--kills", "20", "--out"])
        .arg(&out)
        .env_remove("ENTENTE_TEST_PG_URL")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{text}");
    let t: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(t["kills"], 20, "{t}");
    for phase in [
        "writes",
        "sync receiver",
        "sync sender",
        "import",
        "alert fan-out",
    ] {
        assert_eq!(t["by_phase"][phase], 4, "{t}");
    }
    assert!(t["acknowledged"].as_u64().unwrap() >= 20, "{t}");
    assert!(t["alerts_acknowledged"].as_u64().unwrap() >= 4, "{t}");
    for bad in [
        "lost",
        "verify_failures",
        "partial_batches",
        "resume_failures",
        "alerts_lost",
        "receipts_missing",
        "receipts_duplicated",
    ] {
        assert_eq!(t[bad], 0, "{bad}: {t}");
    }
    println!("{text}");
}
