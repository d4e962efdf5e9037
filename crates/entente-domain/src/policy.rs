//! The releasability policy: who may see an entry, which log it belongs to, and what may
//! be forwarded to whom. Every egress path asks this module; nothing else decides.
//!
//! Rules (DESIGN.md, "Markings and releasability"):
//! - an entry lives in the log of (origin, audience); its audience is fixed at publication;
//! - releasable-to must be a subset of the format's members; unmarked means originator only;
//! - a partner receives a log only if it is in the log's audience, from the origin or from
//!   any other audience member (forwarding);
//! - within a partner, TLP:RED items are shown only to their author and the users named.

use crate::{Audience, FormatState, ItemState, PartnerCode, Tlp};
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("partner {0} is not a member of this format")]
    NotAMember(PartnerCode),
    #[error("releasable-to names {0}, which is not a member of this format")]
    OutsideFormat(PartnerCode),
    #[error("the format is closed")]
    FormatClosed,
    #[error("only the originator {0} may change this entry")]
    NotOriginator(PartnerCode),
    #[error("only the convener {0} may do this")]
    NotConvener(PartnerCode),
    #[error("only the item's author {0} or an officer may change it")]
    NotAuthor(String),
    #[error("{0} belongs to {1}: only {1} may publish versions of it")]
    ObjectOfOther(String, PartnerCode),
}

/// The log an entry belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogKey {
    pub origin: PartnerCode,
    pub audience: Audience,
}

/// Who is looking: a user of a partner's node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub partner: PartnerCode,
    /// `name@PARTNER`
    pub user: String,
}

/// The audience of an item published by `origin` in `format`. `None` is "unmarked": the
/// most restrictive audience, the originator alone.
pub fn item_audience(
    origin: &PartnerCode,
    releasable_to: Option<&[PartnerCode]>,
    format: &FormatState,
) -> Result<Audience, PolicyError> {
    if format.closed {
        return Err(PolicyError::FormatClosed);
    }
    if !format.members.contains(origin) {
        return Err(PolicyError::NotAMember(origin.clone()));
    }
    let mut set = BTreeSet::from([origin.clone()]);
    for p in releasable_to.unwrap_or(&[]) {
        if !format.members.contains(p) {
            return Err(PolicyError::OutsideFormat(p.clone()));
        }
        set.insert(p.clone());
    }
    Ok(Audience::new(set).unwrap_or_else(|_| Audience::single(origin.clone())))
}

/// Whether a received item may be filed under `format` (L7): its origin and every partner of
/// its audience are, or were, members. Departed members count because departures are final
/// and may be known here before an item published while they were members.
pub fn item_admitted(origin: &PartnerCode, audience: &Audience, format: &FormatState) -> bool {
    let was_member = |p: &PartnerCode| format.members.contains(p) || format.departed.contains(p);
    was_member(origin) && audience.iter().all(was_member)
}

/// Format-level entries (charter, join, leave, close) go to the format's members.
pub fn format_audience(members: &BTreeSet<PartnerCode>) -> Audience {
    Audience::new(members.iter().cloned())
        .unwrap_or_else(|_| unreachable!("a format has a convener"))
}

/// The log key of an entry.
pub fn log_for(origin: &PartnerCode, audience: &Audience) -> LogKey {
    LogKey {
        origin: origin.clone(),
        audience: audience.clone(),
    }
}

/// May `partner` receive (be sent, be served, be counted for) a log with this audience?
pub fn may_receive(partner: &PartnerCode, audience: &Audience) -> bool {
    audience.contains(partner)
}

/// May `holder` forward a log with this audience to `receiver`? Both must be members of
/// the audience; the receiver checks the origin's signature, so the holder needs no trust.
pub fn may_forward(holder: &PartnerCode, receiver: &PartnerCode, audience: &Audience) -> bool {
    audience.contains(holder) && audience.contains(receiver)
}

/// Should a node running as `me` accept a log claiming this origin and audience from a peer?
/// It must be in the audience. Its own logs come back only as copies of what it signed itself
/// (verified against its own key): that is how a node restored from a backup recovers the
/// entries it wrote after the backup instead of writing different ones under the same numbers.
pub fn may_accept(me: &PartnerCode, origin: &PartnerCode, audience: &Audience) -> bool {
    audience.contains(me) && audience.contains(origin)
}

/// May this user see this item? The partner must be in the audience; TLP:RED additionally
/// limits it to the author and the users named on it.
pub fn user_may_see_item(viewer: &Viewer, item: &ItemState) -> bool {
    may_see(
        viewer,
        &item.audience,
        item.tlp,
        &item.author,
        &item.named_users,
    )
}

/// The same rule for anything with an audience, a TLP level, an author and named users
/// (items, STIX objects).
pub fn may_see(
    viewer: &Viewer,
    audience: &Audience,
    tlp: Tlp,
    author: &str,
    named_users: &[String],
) -> bool {
    if !audience.contains(&viewer.partner) {
        return false;
    }
    if tlp == Tlp::Red {
        return author == viewer.user || named_users.iter().any(|u| u == &viewer.user);
    }
    true
}

/// The search index's form of [`may_see`]: the reader tokens of an entry. A viewer may see the
/// entry exactly when one of [`viewer_tokens`] is among them (tested against `may_see`), so an
/// index can filter, and count, with a term query instead of loading every hit.
pub fn reader_tokens(
    audience: &Audience,
    tlp: Tlp,
    author: &str,
    named_users: &[String],
) -> Vec<String> {
    if tlp != Tlp::Red {
        return audience.iter().map(|p| format!("p:{p}")).collect();
    }
    // A RED entry: its author and the users named, each only if their partner is in the audience.
    let mut out: Vec<String> = std::iter::once(author)
        .chain(named_users.iter().map(String::as_str))
        .filter(|u| {
            u.rsplit_once('@')
                .and_then(|(_, p)| PartnerCode::parse(p).ok())
                .is_some_and(|p| audience.contains(&p))
        })
        .map(|u| format!("u:{u}"))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The tokens a viewer matches in [`reader_tokens`].
pub fn viewer_tokens(viewer: &Viewer) -> [String; 2] {
    [
        format!("p:{}", viewer.partner),
        format!("u:{}", viewer.user),
    ]
}

/// Inside the originating partner, only the item's author or an officer (or admin) of that
/// partner revises or retracts it (M6): being named on a TLP:RED item lets a user read it,
/// not rewrite it.
pub fn may_edit_item(
    partner: &PartnerCode,
    user_id: &str,
    role: crate::Role,
    item: &ItemState,
) -> Result<(), PolicyError> {
    may_modify_item(partner, item)?;
    if item.author == user_id || role >= crate::Role::Officer {
        Ok(())
    } else {
        Err(PolicyError::NotAuthor(item.author.clone()))
    }
}

/// Only the originator revises or retracts an item.
pub fn may_modify_item(partner: &PartnerCode, item: &ItemState) -> Result<(), PolicyError> {
    if &item.origin == partner {
        Ok(())
    } else {
        Err(PolicyError::NotOriginator(item.origin.clone()))
    }
}

/// Only the convener admits members or closes a format.
pub fn may_convene(partner: &PartnerCode, format: &FormatState) -> Result<(), PolicyError> {
    if format.closed {
        return Err(PolicyError::FormatClosed);
    }
    if &format.convener == partner {
        Ok(())
    } else {
        Err(PolicyError::NotConvener(format.convener.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ItemKind;
    use crate::partner::code;
    use proptest::prelude::*;

    const PARTNERS: [&str; 7] = ["EU", "NATO", "JPN", "KOR", "AUS", "NZL", "FRA"];

    fn format(members: &[PartnerCode], convener: &PartnerCode) -> FormatState {
        FormatState {
            format_id: "f".into(),
            title: "t".into(),
            description: String::new(),
            topics: vec!["fimi".into()],
            members: members.iter().cloned().collect(),
            convener: convener.clone(),
            closed: false,
            created_at: String::new(),
            updated_at: String::new(),
            stix_default_releasable_to: None,
            departed: Default::default(),
            relayed: Default::default(),
        }
    }

    fn item(
        origin: &PartnerCode,
        audience: Audience,
        tlp: Tlp,
        author: &str,
        named: Vec<String>,
    ) -> ItemState {
        ItemState {
            released_from: None,
            item_id: "i".into(),
            format_id: "f".into(),
            origin: origin.clone(),
            audience,
            log_id: "l".into(),
            kind: ItemKind::Note,
            title: "t".into(),
            body: "b".into(),
            topics: vec![],
            tlp,
            named_users: named,
            author: author.into(),
            revision: 1,
            created_at: String::new(),
            updated_at: String::new(),
            retracted: None,
            revised_by: None,
            attachments: vec![],
        }
    }

    fn subset() -> impl Strategy<Value = Vec<PartnerCode>> {
        proptest::sample::subsequence(PARTNERS.to_vec(), 0..=PARTNERS.len())
            .prop_map(|v| v.into_iter().map(code).collect())
    }

    /// One check helper for the area: (origin, releasable-to, members) → expected audience key or error.
    fn check(
        origin: &str,
        rel: Option<&[&str]>,
        members: &[&str],
        expected: Result<&str, PolicyError>,
    ) {
        let members: Vec<_> = members.iter().map(|m| code(m)).collect();
        let f = format(&members, &members[0]);
        let rel: Option<Vec<PartnerCode>> = rel.map(|r| r.iter().map(|p| code(p)).collect());
        let got = item_audience(&code(origin), rel.as_deref(), &f).map(|a| a.key());
        assert_eq!(got, expected.map(str::to_owned));
    }

    #[test]
    fn audiences() {
        check("EU", None, &["EU", "NATO", "JPN"], Ok("EU"));
        check("EU", Some(&["JPN"]), &["EU", "NATO", "JPN"], Ok("EU,JPN"));
        check("EU", Some(&[]), &["EU", "NATO", "JPN"], Ok("EU"));
        check(
            "EU",
            Some(&["NATO", "JPN", "EU"]),
            &["EU", "NATO", "JPN"],
            Ok("EU,JPN,NATO"),
        );
        check(
            "EU",
            Some(&["KOR"]),
            &["EU", "NATO", "JPN"],
            Err(PolicyError::OutsideFormat(code("KOR"))),
        );
        check(
            "KOR",
            Some(&["EU"]),
            &["EU", "NATO", "JPN"],
            Err(PolicyError::NotAMember(code("KOR"))),
        );
    }

    #[test]
    fn red_is_for_named_users_only() {
        let eu = code("EU");
        let aud = Audience::new([code("EU"), code("JPN")]).unwrap();
        let it = item(&eu, aud, Tlp::Red, "alice@EU", vec!["kenji@JPN".into()]);
        let v = |p: &str, u: &str| Viewer {
            partner: code(p),
            user: u.into(),
        };
        assert!(user_may_see_item(&v("EU", "alice@EU"), &it));
        assert!(user_may_see_item(&v("JPN", "kenji@JPN"), &it));
        assert!(!user_may_see_item(&v("JPN", "yuki@JPN"), &it));
        assert!(!user_may_see_item(&v("NATO", "kenji@JPN"), &it));
    }

    proptest! {
        /// The index's reader tokens grant exactly what `may_see` grants, for random
        /// audiences, TLP levels, authors, named users and viewers.
        #[test]
        fn reader_tokens_agree_with_may_see(
            aud in subset().prop_filter("non-empty", |a| !a.is_empty()),
            tlp_ix in 0usize..5,
            author_ix in 0usize..7,
            named in proptest::collection::vec((0usize..3, 0usize..7), 0..4),
            viewer in (0usize..3, 0usize..7),
        ) {
            let tlp = [Tlp::Clear, Tlp::Green, Tlp::Amber, Tlp::AmberStrict, Tlp::Red][tlp_ix];
            let user = |(n, p): (usize, usize)| format!("{}@{}", ["ana", "ben", "kim"][n], PARTNERS[p]);
            let audience = Audience::new(aud).unwrap();
            let author = user((0, author_ix));
            let named: Vec<String> = named.into_iter().map(user).collect();
            let v = Viewer { partner: code(PARTNERS[viewer.1]), user: user(viewer) };
            let tokens = reader_tokens(&audience, tlp, &author, &named);
            let by_tokens = viewer_tokens(&v).iter().any(|t| tokens.contains(t));
            prop_assert_eq!(by_tokens, may_see(&v, &audience, tlp, &author, &named));
        }

        /// Over random formats, members, audiences and forwarding paths, an entry only ever
        /// reaches partners in its audience, and its audience is within the format.
        #[test]
        fn subset_audiences_never_reach_outsiders(
            members in subset().prop_filter("non-empty", |m| !m.is_empty()),
            rel in subset(),
            origin_ix in 0usize..7,
            path in proptest::collection::vec(0usize..7, 0..12),
        ) {
            let origin = members[origin_ix % members.len()].clone();
            let f = format(&members, &members[0]);
            match item_audience(&origin, Some(&rel), &f) {
                Err(PolicyError::OutsideFormat(p)) => {
                    prop_assert!(!members.contains(&p));
                    prop_assert!(rel.contains(&p));
                }
                Err(e) => prop_assert!(false, "unexpected {e}"),
                Ok(aud) => {
                    prop_assert!(aud.contains(&origin));
                    prop_assert!(aud.is_subset(&f.members));
                    prop_assert!(rel.iter().all(|p| aud.contains(p)));
                    // Walk a random forwarding path: each hop only happens if the policy
                    // allows it; every partner that ends up holding the log is in the audience.
                    let mut holders = BTreeSet::from([origin.clone()]);
                    for ix in path {
                        let receiver = code(PARTNERS[ix]);
                        for h in holders.clone() {
                            if may_forward(&h, &receiver, &aud) && may_accept(&receiver, &origin, &aud) {
                                holders.insert(receiver.clone());
                            }
                        }
                    }
                    for h in &holders {
                        prop_assert!(aud.contains(h));
                        prop_assert!(may_receive(h, &aud));
                    }
                    for p in PARTNERS.map(code) {
                        if !aud.contains(&p) {
                            prop_assert!(!may_receive(&p, &aud));
                            prop_assert!(!may_accept(&p, &origin, &aud));
                            let it = item(&origin, aud.clone(), Tlp::Clear, "a@X", vec![]);
                            let viewer = Viewer { partner: p.clone(), user: format!("a@{p}") };
                            prop_assert!(!user_may_see_item(&viewer, &it));
                        }
                    }
                }
            }
        }

        /// Unmarked is most restrictive: no releasable-to gives the originator alone.
        #[test]
        fn unmarked_is_originator_only(members in subset().prop_filter("non-empty", |m| !m.is_empty()), ix in 0usize..7) {
            let origin = members[ix % members.len()].clone();
            let f = format(&members, &members[0]);
            let aud = item_audience(&origin, None, &f).unwrap();
            prop_assert_eq!(aud, Audience::single(origin));
        }
    }
}
