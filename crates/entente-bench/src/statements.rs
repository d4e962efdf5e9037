//! `entente-bench statements`: time and memory of viewing a statement whose revision replaced
//! every line (the H1 worst case).

use anyhow::Result;
use entente_domain::statement::{AdoptionRule, StatementDraft};
use entente_domain::{Audience, Payload, Role};
use entente_node::auth::Principal;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// One measured view.
#[derive(Debug, Clone, Serialize)]
pub struct ViewCost {
    pub what: String,
    pub lines_per_version: usize,
    pub milliseconds: f64,
    /// Resident memory after the view minus before it.
    pub rss_growth_mb: f64,
    /// Peak resident memory of the process after the view minus the peak before it.
    pub peak_growth_mb: f64,
    pub diff_lines: usize,
    pub approximate: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatementBenchResult {
    pub views: Vec<ViewCost>,
}

fn status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Publish a statement whose second version shares no line with its first, straight to the
/// log as a (modified or older) partner node could sign it: the size caps of `validate_draft`
/// do not apply to what arrives from elsewhere, so a view must be cheap even then.
async fn publish_worst_case(
    node: &entente_node::Node,
    aud: &Audience,
    lines: usize,
) -> Result<String> {
    let id = entente_node::new_id();
    for (version, line) in [(1, "a"), (2, "b")] {
        let d = StatementDraft {
            statement_id: id.clone(),
            format_id: "bench-format".into(),
            version,
            title: format!("diff worst case {lines} v{version}"),
            text: vec![line; lines].join("\n"),
            required: aud.iter().cloned().collect(),
            rule: AdoptionRule::Unanimity,
            deadline: None,
            author: format!("bench@{}", node.partner()),
        };
        node.publish(aud, &[Payload::StatementDraft(d)]).await?;
    }
    Ok(id)
}

/// Run in `work` (a scratch directory), write the figures to `out`.
pub async fn statements(work: &Path, out: &Path) -> Result<StatementBenchResult> {
    let dir = work.join("node");
    entente_server::init_dev_plain(&dir, "EU", "127.0.0.1:0".parse()?).await?;
    let node = entente_server::open(&dir).await?;
    let aud = Audience::new(vec![node.partner().clone()])?;
    let who = Principal {
        username: "bench".into(),
        role: Role::Admin,
        partner: node.partner().clone(),
    };
    let mut views = vec![];
    // The largest revision `validate_draft` lets a user make, then the review's case.
    for lines in [entente_domain::statement::MAX_STATEMENT_LINES, 50_000] {
        let id = publish_worst_case(&node, &aud, lines).await?;
        for what in ["first view", "second view (cached)", "whole diff"] {
            let (rss0, hwm0) = (status_mb("VmRSS:"), status_mb("VmHWM:"));
            let t0 = Instant::now();
            let (diff_lines, approximate) = if what == "whole diff" {
                let d = node.statement_diff(&who, &id).await?;
                (d.lines.len(), d.approximate)
            } else {
                let v = node.statement(&who, &id).await?;
                (v.diff.len() + v.diff_more, v.diff_approximate)
            };
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            views.push(ViewCost {
                what: what.into(),
                lines_per_version: lines,
                milliseconds: ms,
                rss_growth_mb: status_mb("VmRSS:") - rss0,
                peak_growth_mb: status_mb("VmHWM:") - hwm0,
                diff_lines,
                approximate,
            });
        }
    }
    let r = StatementBenchResult { views };
    if let Some(p) = out.parent() {
        std::fs::create_dir_all(p)?;
    }
    std::fs::write(out, serde_json::to_string_pretty(&r)?)?;
    Ok(r)
}
