//! Ids of the objects several partners write to (discussions and their posts, meetings,
//! concept papers and their amendments): each names the partner that created it, so only that
//! partner's own log can claim it. Pure.

use crate::PartnerCode;

/// At most this many bytes in an id a peer sends.
pub const MAX_ID_LEN: usize = 100;

/// An id owned by `origin`: `PARTNER-<unique>`.
///
/// The node that creates an object chooses its id. Without the owner in it, a partner of the
/// audience that saw an id could sign an object of its own under the same id and deliver it to
/// some holders first; those holders would keep the impostor, the rest the original, and the
/// two would disagree for good. With the owner in the id, an entry claiming an id from any
/// other partner's log is refused (kept as evidence), and the owner's log is ordered, so every
/// holder keeps the same one.
pub fn owned_id(origin: &PartnerCode, unique: &str) -> String {
    format!("{origin}-{unique}")
}

/// Whether `id` is an id `origin` may claim: `PARTNER-<unique>`, at most [`MAX_ID_LEN`] bytes
/// of id characters.
pub fn is_owned_by(id: &str, origin: &PartnerCode) -> bool {
    id.len() <= MAX_ID_LEN
        && id
            .strip_prefix(origin.as_str())
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|u| {
                !u.is_empty()
                    && u.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
            })
}

/// Whether a reference to another object (a format, a statement, a quoted post) is short
/// enough to keep in a stored state.
pub fn is_reference(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partner::code;

    #[test]
    fn only_the_owner_claims_an_id() {
        let id = owned_id(&code("EU"), "0190-abc");
        assert!(is_owned_by(&id, &code("EU")));
        assert!(!is_owned_by(&id, &code("NATO")));
        assert!(!is_owned_by("EU-", &code("EU")));
        assert!(!is_owned_by("EUX-1", &code("EU")));
        assert!(
            !is_owned_by("0190-abc", &code("EU")),
            "an id without an owner"
        );
        assert!(!is_owned_by("EU-a b", &code("EU")));
        assert!(!is_owned_by(
            &owned_id(&code("EU"), &"x".repeat(200)),
            &code("EU")
        ));
    }
}
