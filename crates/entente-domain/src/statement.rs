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

/// A line diff between two texts: lines prefixed with "  ", "- " or "+ ".
pub fn diff(old: &str, new: &str) -> Vec<String> {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, vec![]);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push(format!("  {}", a[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push(format!("+ {}", b[j]));
            j += 1;
        } else {
            out.push(format!("- {}", a[i]));
            i += 1;
        }
    }
    out
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
            diff("a\nb\nc", "a\nB\nc\nd"),
            vec!["  a", "+ B", "- b", "  c", "+ d"]
        );
    }
}
