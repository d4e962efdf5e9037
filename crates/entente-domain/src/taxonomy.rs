//! The built-in, versioned topic taxonomy (the areas the EU, NATO and Japan cooperate on).

use crate::DomainError;

pub const TAXONOMY_VERSION: &str = "2026.1";

/// (slug, label). Slugs are stable identifiers; labels are for people.
pub const TOPICS: &[(&str, &str)] = &[
    ("hybrid-threats", "Hybrid threats"),
    ("cyber-defence", "Cyber threats and cyber defence"),
    ("cybercrime", "Cybercrime"),
    ("maritime-security", "Maritime security and maritime issues"),
    (
        "military-mobility",
        "Military mobility (including across seas)",
    ),
    ("defence-capabilities", "Defence capabilities"),
    ("defence-industry", "Defence industry and research"),
    ("exercises", "Exercises"),
    ("counter-terrorism", "Counter-terrorism (incl. financing)"),
    ("capacity-building", "Capacity-building"),
    ("resilience", "Resilience and civil preparedness"),
    ("critical-infrastructure", "Critical infrastructure"),
    (
        "emerging-technologies",
        "Emerging and disruptive technologies",
    ),
    ("space", "Space"),
    ("climate-security", "Climate change and security"),
    (
        "fimi",
        "Foreign information manipulation and interference (FIMI)",
    ),
    ("conflict-prevention", "Conflict prevention"),
    ("conflict-mitigation", "Conflict mitigation"),
    (
        "crisis-management",
        "Crisis management, emergency management and disaster relief",
    ),
    ("wmd-cbrn", "Weapons of mass destruction and CBRN"),
    ("non-proliferation", "Nuclear non-proliferation"),
    (
        "arms-control",
        "Arms control and disarmament (incl. conventional arms, small arms)",
    ),
    (
        "organised-crime",
        "Organised crime, illicit trafficking, money laundering, corruption, illicit drugs",
    ),
    (
        "international-law",
        "International law (incl. law of the sea)",
    ),
    ("health-security", "Health security"),
    ("economic-security", "Economic security and supply chains"),
];

pub fn is_topic(slug: &str) -> bool {
    TOPICS.iter().any(|(s, _)| *s == slug)
}

pub fn label(slug: &str) -> Option<&'static str> {
    TOPICS.iter().find(|(s, _)| *s == slug).map(|(_, l)| *l)
}

/// Validate, sort and de-duplicate a list of topic slugs.
pub fn normalise(topics: &[String]) -> Result<Vec<String>, DomainError> {
    let mut out = Vec::with_capacity(topics.len());
    for t in topics {
        if !is_topic(t) {
            return Err(DomainError::UnknownTopic(t.clone()));
        }
        out.push(t.clone());
    }
    out.sort();
    out.dedup();
    Ok(out)
}
