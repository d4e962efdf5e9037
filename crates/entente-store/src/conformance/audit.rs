//! Conformance checks of the audit log rows: runs appended all or none, read back in order.

use crate::*;

fn record(seq: u64, action: &str) -> AuditRecord {
    AuditRecord {
        seq,
        at: "2026-12-06T00:00:00.000Z".into(),
        actor: "alice@EU".into(),
        action: action.into(),
        detail: format!("record {seq}"),
        prev: format!("{:064x}", seq - 1),
        hash: format!("{seq:064x}"),
    }
}

/// A run of records is written in one go and read back in order; an empty run writes nothing;
/// a run with a taken sequence number is refused as `HeadMoved` and writes none of its records.
pub async fn audit_runs(s: &dyn Store) {
    assert!(s.audit_head().await.unwrap().is_none());
    s.append_audit(&[]).await.unwrap();
    assert!(s.audit_head().await.unwrap().is_none());
    let run: Vec<AuditRecord> = (1..=3).map(|i| record(i, "login")).collect();
    s.append_audit(&run).await.unwrap();
    assert_eq!(s.audit_records(0, 10).await.unwrap(), run);
    assert_eq!(s.audit_head().await.unwrap().as_ref(), run.last());
    // 4 and 5 are new, 3 is taken: nothing of the run may land.
    let clash = vec![
        record(4, "release"),
        record(5, "release"),
        record(3, "release"),
    ];
    assert!(matches!(
        s.append_audit(&clash).await,
        Err(StoreError::HeadMoved { .. })
    ));
    assert_eq!(s.audit_records(0, 10).await.unwrap(), run, "all or none");
    let next: Vec<AuditRecord> = (4..=5).map(|i| record(i, "export")).collect();
    s.append_audit(&next).await.unwrap();
    assert_eq!(s.audit_records(3, 10).await.unwrap(), next);
    assert_eq!(s.audit_records(0, 2).await.unwrap(), run[..2].to_vec());
}
