//! Joint statements: drafts with versions, stances (endorse, stand aside, object with a
//! reason) signed over the hash of exactly what is agreed, and the adoption rules
//! (unanimity, or the silence procedure). Pure: the clock is an argument.

use crate::{Audience, DomainError, PartnerCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stance {
    Endorse,
    StandAside,
    Object,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdoptionRule {
    /// Adopted when every required partner has endorsed or stood aside (at least one endorses).
    Unanimity,
    /// Adopted at the deadline unless a required partner objects; silence is broken only by an
    /// explicit objection.
    Silence,
}

/// Payload of `statement.draft`: a new statement (version 1) or a new version of one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatementDraft {
    pub statement_id: String,
    pub format_id: String,
    pub version: u32,
    pub title: String,
    pub text: String,
    pub required: Vec<PartnerCode>,
    pub rule: AdoptionRule,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    pub author: String,
}

/// Payload of `statement.stance`: one partner's stance on one exact version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatementStance {
    pub statement_id: String,
    pub version: u32,
    /// The hash of (text, version, audience, required) the stance is on.
    pub hash: String,
    pub stance: Stance,
    #[serde(default)]
    pub reason: String,
    pub author: String,
}

/// The hash a stance signs: SHA-256 over a canonical JSON of what is being agreed.
pub fn statement_hash(
    text: &str,
    version: u32,
    audience: &Audience,
    required: &[PartnerCode],
) -> String {
    let mut req: Vec<&str> = required.iter().map(|p| p.as_str()).collect();
    req.sort();
    req.dedup();
    // Keys in sorted order, no whitespace: the RFC 8785 form of this simple object.
    let canonical = serde_json::json!({
        "audience": audience.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        "required": req,
        "text": text,
        "version": version,
    });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatementVersion {
    pub version: u32,
    pub title: String,
    pub text: String,
    pub hash: String,
    pub at: String,
    pub author: String,
    /// Where the signed draft entry is: (log id, sequence number).
    pub entry: (String, u64),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StanceRecord {
    pub version: u32,
    pub stance: Stance,
    pub reason: String,
    pub at: String,
    pub author: String,
    pub entry: (String, u64),
}

/// A statement as folded from its draft and stance entries (from several origins).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatementState {
    pub statement_id: String,
    pub format_id: String,
    pub origin: PartnerCode,
    pub audience: Audience,
    pub rule: AdoptionRule,
    pub deadline: Option<String>,
    pub required: Vec<PartnerCode>,
    pub versions: Vec<StatementVersion>,
    /// Each partner's latest stance (on whichever version it was taken).
    pub stances: BTreeMap<PartnerCode, StanceRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StatementStatus {
    Pending,
    Adopted {
        at: String,
    },
    /// A required partner objected to the current version.
    Blocked {
        by: Vec<PartnerCode>,
    },
}

impl StatementStatus {
    /// The status in words, as a person reads it ("blocked by NATO", not `Blocked { by: [NATO] }`).
    pub fn words(&self) -> String {
        match self {
            StatementStatus::Pending => "awaiting stances".into(),
            StatementStatus::Adopted { at } => format!("adopted on {at}"),
            StatementStatus::Blocked { by } => format!(
                "blocked by {}",
                by.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

impl AdoptionRule {
    pub fn label(self) -> &'static str {
        match self {
            AdoptionRule::Unanimity => "unanimity",
            AdoptionRule::Silence => "silence procedure",
        }
    }
}

impl StatementState {
    pub fn current(&self) -> &StatementVersion {
        // A state always has its first version.
        self.versions
            .last()
            .unwrap_or_else(|| unreachable!("a statement has a version"))
    }

    /// The stances that count: those on the current version (a new version voids the rest).
    pub fn current_stances(&self) -> BTreeMap<PartnerCode, &StanceRecord> {
        let v = self.current().version;
        self.stances
            .iter()
            .filter(|(_, s)| s.version == v)
            .map(|(p, s)| (p.clone(), s))
            .collect()
    }

    /// The adoption status at `now` (RFC 3339, same fixed width as entry timestamps).
    pub fn status(&self, now: &str) -> StatementStatus {
        let cur = self.current_stances();
        let objecting: Vec<PartnerCode> = self
            .required
            .iter()
            .filter(|p| cur.get(*p).is_some_and(|s| s.stance == Stance::Object))
            .cloned()
            .collect();
        if !objecting.is_empty() {
            return StatementStatus::Blocked { by: objecting };
        }
        let all_in = self.required.iter().all(|p| cur.contains_key(p));
        let endorsed = cur.values().any(|s| s.stance == Stance::Endorse);
        if all_in && endorsed {
            let at = cur.values().map(|s| s.at.clone()).max().unwrap_or_default();
            return StatementStatus::Adopted { at };
        }
        if self.rule == AdoptionRule::Silence
            && let Some(d) = &self.deadline
            && now >= d.as_str()
            && self.current().at.as_str() <= d.as_str()
        {
            return StatementStatus::Adopted { at: d.clone() };
        }
        StatementStatus::Pending
    }
}

/// Validate a draft before it is signed.
pub fn validate_draft(d: &mut StatementDraft, audience: &Audience) -> Result<(), DomainError> {
    d.title = d.title.trim().to_owned();
    if d.title.is_empty() || d.title.len() > 300 {
        return Err(DomainError::invalid(
            "title",
            "a title of 1 to 300 characters is required",
        ));
    }
    if d.text.trim().is_empty() || d.text.len() > 100_000 {
        return Err(DomainError::invalid(
            "text",
            "a text of 1 to 100,000 bytes is required",
        ));
    }
    if d.text.lines().count() > MAX_STATEMENT_LINES {
        return Err(DomainError::invalid(
            "text",
            format!("a text of at most {MAX_STATEMENT_LINES} lines is required"),
        ));
    }
    d.required.sort();
    d.required.dedup();
    if d.required.is_empty() {
        return Err(DomainError::invalid(
            "required",
            "at least one required partner",
        ));
    }
    if let Some(p) = d.required.iter().find(|p| !audience.contains(p)) {
        return Err(DomainError::invalid(
            "required",
            format!("{p} is not in the statement's audience"),
        ));
    }
    match (&d.rule, &d.deadline) {
        (AdoptionRule::Silence, None) => {
            return Err(DomainError::invalid(
                "deadline",
                "the silence procedure needs a deadline",
            ));
        }
        (_, Some(t)) if !crate::stix::is_timestamp(t) => {
            return Err(DomainError::invalid(
                "deadline",
                "an RFC 3339 UTC timestamp",
            ));
        }
        _ => {}
    }
    Ok(())
}

/// Most lines a statement text may have. Generous for any joint statement; with the byte cap
/// it bounds what one version can make a diff cost.
pub const MAX_STATEMENT_LINES: usize = 5_000;

/// How long one diff may search for the shortest edit before it settles for a correct but
/// longer one. Texts that share nothing (the worst case) reach it; ordinary revisions do not.
pub const DIFF_DEADLINE: std::time::Duration = std::time::Duration::from_millis(50);

/// A line diff between two versions.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LineDiff {
    /// Lines prefixed with "  ", "- " or "+ ".
    pub lines: Vec<String>,
    /// The search hit [`DIFF_DEADLINE`]: the diff is correct (applying it gives the new text)
    /// but may mark more lines as changed than the shortest one would.
    pub approximate: bool,
}

/// A line diff between two texts: lines prefixed with "  ", "- " or "+ ".
///
/// Uses `similar`'s Myers diff, which needs memory linear in the texts (the table this
/// replaced was n·m and let one 100 KB statement take a node down), with [`DIFF_DEADLINE`]
/// bounding its time on texts that share nothing. Removed lines come before added ones.
pub fn diff(old: &str, new: &str) -> LineDiff {
    // Lines as `str::lines` gives them (no terminators), so a last line without a newline
    // equals the same line with one.
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let started = std::time::Instant::now();
    let d = similar::TextDiff::configure()
        .algorithm(similar::Algorithm::Myers)
        .timeout(DIFF_DEADLINE)
        .diff_slices(&a, &b);
    let approximate = started.elapsed() >= DIFF_DEADLINE;
    let lines = d
        .iter_all_changes()
        .map(|c| {
            let tag = match c.tag() {
                similar::ChangeTag::Equal => "  ",
                similar::ChangeTag::Delete => "- ",
                similar::ChangeTag::Insert => "+ ",
            };
            format!("{tag}{}", c.value())
        })
        .collect();
    LineDiff { lines, approximate }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partner::code;

    fn state(rule: AdoptionRule, deadline: Option<&str>) -> StatementState {
        let aud = Audience::new([code("EU"), code("NATO"), code("JPN")]).unwrap();
        let req = vec![code("EU"), code("JPN"), code("NATO")];
        StatementState {
            statement_id: "s".into(),
            format_id: "f".into(),
            origin: code("EU"),
            audience: aud.clone(),
            rule,
            deadline: deadline.map(str::to_owned),
            required: req.clone(),
            versions: vec![StatementVersion {
                version: 1,
                title: "t".into(),
                text: "x".into(),
                hash: statement_hash("x", 1, &aud, &req),
                at: "2026-11-27T00:00:00.000Z".into(),
                author: "a@EU".into(),
                entry: ("l".into(), 1),
            }],
            stances: BTreeMap::new(),
        }
    }

    fn take(s: &mut StatementState, p: &str, version: u32, stance: Stance, at: &str) {
        s.stances.insert(
            code(p),
            StanceRecord {
                version,
                stance,
                reason: String::new(),
                at: at.into(),
                author: format!("x@{p}"),
                entry: ("l".into(), 9),
            },
        );
    }

    /// One check helper for the area: a sequence of stances, then the status at `now`.
    fn check(
        rule: AdoptionRule,
        stances: &[(&str, u32, Stance)],
        versions: u32,
        now: &str,
        expected: StatementStatus,
    ) {
        let mut s = state(rule, Some("2026-12-01T00:00:00.000Z"));
        for v in 2..=versions {
            let mut next = s.current().clone();
            next.version = v;
            s.versions.push(next);
        }
        for (p, v, st) in stances {
            take(&mut s, p, *v, *st, "2026-11-28T00:00:00.000Z");
        }
        assert_eq!(s.status(now), expected);
    }

    #[test]
    fn adoption_rules() {
        use Stance::*;
        use StatementStatus::*;
        let before = "2026-11-30T00:00:00.000Z";
        let after = "2026-12-02T00:00:00.000Z";
        let adopted = Adopted {
            at: "2026-11-28T00:00:00.000Z".into(),
        };
        check(
            AdoptionRule::Unanimity,
            &[
                ("EU", 1, Endorse),
                ("NATO", 1, Endorse),
                ("JPN", 1, StandAside),
            ],
            1,
            before,
            adopted.clone(),
        );
        check(
            AdoptionRule::Unanimity,
            &[("EU", 1, Endorse), ("NATO", 1, Endorse)],
            1,
            after,
            Pending,
        );
        // An endorsement of version 1 does not count for version 2.
        check(
            AdoptionRule::Unanimity,
            &[
                ("EU", 1, Endorse),
                ("NATO", 2, Endorse),
                ("JPN", 2, Endorse),
            ],
            2,
            before,
            Pending,
        );
        check(
            AdoptionRule::Unanimity,
            &[("EU", 1, Endorse), ("NATO", 1, Object), ("JPN", 1, Endorse)],
            1,
            before,
            Blocked {
                by: vec![code("NATO")],
            },
        );
        check(
            AdoptionRule::Unanimity,
            &[
                ("EU", 1, StandAside),
                ("NATO", 1, StandAside),
                ("JPN", 1, StandAside),
            ],
            1,
            before,
            Pending,
        );
        // Silence: adopted at the deadline unless someone objects.
        check(
            AdoptionRule::Silence,
            &[("EU", 1, Endorse)],
            1,
            before,
            Pending,
        );
        check(
            AdoptionRule::Silence,
            &[("EU", 1, Endorse)],
            1,
            after,
            Adopted {
                at: "2026-12-01T00:00:00.000Z".into(),
            },
        );
        check(
            AdoptionRule::Silence,
            &[("EU", 1, Endorse), ("JPN", 1, Object)],
            1,
            after,
            Blocked {
                by: vec![code("JPN")],
            },
        );
        // An objection to an older version no longer breaks silence.
        check(
            AdoptionRule::Silence,
            &[("JPN", 1, Object)],
            2,
            after,
            Adopted {
                at: "2026-12-01T00:00:00.000Z".into(),
            },
        );
    }

    #[test]
    fn hash_binds_text_version_audience_and_required() {
        let a = Audience::new([code("EU"), code("JPN")]).unwrap();
        let r = vec![code("EU"), code("JPN")];
        let h = statement_hash("text", 1, &a, &r);
        assert_ne!(h, statement_hash("text.", 1, &a, &r));
        assert_ne!(h, statement_hash("text", 2, &a, &r));
        assert_ne!(
            h,
            statement_hash(
                "text",
                1,
                &Audience::new([code("EU"), code("JPN"), code("NATO")]).unwrap(),
                &r
            )
        );
        assert_ne!(h, statement_hash("text", 1, &a, &[code("EU")]));
        assert_eq!(h, statement_hash("text", 1, &a, &[code("JPN"), code("EU")]));
    }

    #[test]
    fn line_diff() {
        assert_eq!(
            diff("a\nb\nc", "a\nB\nc\nd").lines,
            vec!["  a", "- b", "+ B", "  c", "+ d"]
        );
        assert_eq!(diff("a\r\nb\n", "a\nb").lines, vec!["  a", "  b"]);
    }

    /// The review's H1 case: 50,000 one-character lines against 50,000 others. The n·m table
    /// this replaced needed 10 GB for it; the diff now finishes (bounded by its deadline) and
    /// is still a correct edit script.
    #[test]
    fn texts_that_share_nothing_diff_in_bounded_space() {
        let a = vec!["a"; 50_000].join("\n");
        let b = vec!["b"; 50_000].join("\n");
        let d = diff(&a, &b);
        assert_eq!(d.lines.len(), 100_000);
        assert_eq!(
            d.lines.iter().filter(|l| l.starts_with("- ")).count(),
            50_000
        );
        assert_eq!(
            d.lines.iter().filter(|l| l.starts_with("+ ")).count(),
            50_000
        );
    }

    #[test]
    fn a_draft_over_the_line_cap_is_refused() {
        let aud = Audience::new(vec![code("EU")]).unwrap();
        let mut d = StatementDraft {
            statement_id: "s".into(),
            format_id: "f".into(),
            version: 1,
            title: "t".into(),
            text: vec!["a"; MAX_STATEMENT_LINES + 1].join("\n"),
            required: vec![code("EU")],
            rule: AdoptionRule::Unanimity,
            deadline: None,
            author: "admin@EU".into(),
        };
        assert!(validate_draft(&mut d, &aud).is_err());
        d.text = vec!["a"; MAX_STATEMENT_LINES].join("\n");
        assert!(validate_draft(&mut d, &aud).is_ok());
    }
}
