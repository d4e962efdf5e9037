//! Partner codes and audiences (sorted, de-duplicated partner sets).

use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// A partner's short code (`EU`, `NATO`, `JPN`, …): the principal of releasability.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String, example = "EU"))]
#[serde(try_from = "String", into = "String")]
pub struct PartnerCode(String);

impl PartnerCode {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let ok = (2..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_uppercase());
        if ok {
            Ok(PartnerCode(s.to_owned()))
        } else {
            Err(DomainError::InvalidPartnerCode(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PartnerCode {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        PartnerCode::parse(&s)
    }
}

impl From<PartnerCode> for String {
    fn from(p: PartnerCode) -> String {
        p.0
    }
}

impl fmt::Display for PartnerCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PartnerCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A non-empty set of partners an entry is released to. Always sorted and de-duplicated,
/// so that the same set has exactly one representation (and one log id).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
#[serde(try_from = "Vec<PartnerCode>", into = "Vec<PartnerCode>")]
pub struct Audience(BTreeSet<PartnerCode>);

impl Audience {
    pub fn new(parts: impl IntoIterator<Item = PartnerCode>) -> Result<Self, DomainError> {
        let set: BTreeSet<_> = parts.into_iter().collect();
        if set.is_empty() {
            return Err(DomainError::invalid(
                "audience",
                "an audience needs at least one partner",
            ));
        }
        Ok(Audience(set))
    }

    pub fn single(p: PartnerCode) -> Self {
        Audience(BTreeSet::from([p]))
    }

    pub fn contains(&self, p: &PartnerCode) -> bool {
        self.0.contains(p)
    }

    pub fn is_subset(&self, other: &BTreeSet<PartnerCode>) -> bool {
        self.0.is_subset(other)
    }

    pub fn iter(&self) -> impl Iterator<Item = &PartnerCode> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_set(&self) -> &BTreeSet<PartnerCode> {
        &self.0
    }

    /// The canonical text form, `EU,JPN`: sorted codes joined by commas.
    pub fn key(&self) -> String {
        self.0
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn parse_key(s: &str) -> Result<Self, DomainError> {
        Audience::new(
            s.split(',')
                .map(PartnerCode::parse)
                .collect::<Result<Vec<_>, _>>()?,
        )
    }
}

impl TryFrom<Vec<PartnerCode>> for Audience {
    type Error = DomainError;
    fn try_from(v: Vec<PartnerCode>) -> Result<Self, Self::Error> {
        Audience::new(v)
    }
}

impl From<Audience> for Vec<PartnerCode> {
    fn from(a: Audience) -> Self {
        a.0.into_iter().collect()
    }
}

impl fmt::Debug for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}", self.key())
    }
}

/// Parse a partner code, for call sites that already hold a literal they know to be valid.
pub fn code(s: &str) -> PartnerCode {
    PartnerCode::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partner_codes_are_validated() {
        assert!(PartnerCode::parse("EU").is_ok());
        assert!(PartnerCode::parse("NATO").is_ok());
        assert!(PartnerCode::parse("e").is_err());
        assert!(PartnerCode::parse("eu").is_err());
        assert!(PartnerCode::parse("TOOLONGCODE").is_err());
        assert!(PartnerCode::parse("EU,").is_err());
    }

    #[test]
    fn audience_is_canonical() {
        let a = Audience::new([code("JPN"), code("EU"), code("JPN")]).unwrap();
        assert_eq!(a.key(), "EU,JPN");
        assert_eq!(Audience::parse_key("EU,JPN").unwrap(), a);
        assert!(Audience::new([]).is_err());
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#"["EU","JPN"]"#);
        assert!(serde_json::from_str::<Audience>("[]").is_err());
    }
}
