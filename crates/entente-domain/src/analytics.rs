//! Analytics of the cooperation network: the partner graph formed by the audiences of the
//! entries a viewer may see (an undirected edge {a, b} for every entry released to both,
//! weighted by the number of such entries), with Freeman degree centralization (1.0 = pure
//! hub-and-spokes), a strength-weighted variant, density, and triangular exchange. Pure: the
//! caller passes only what the viewer may see.

use crate::{Audience, PartnerCode};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    pub a: PartnerCode,
    pub b: PartnerCode,
    pub weight: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkStats {
    pub partners: Vec<PartnerCode>,
    pub edges: Vec<Edge>,
    pub entries: u64,
    /// Freeman degree centralization, unweighted; None for fewer than three partners.
    pub degree_centralization: Option<f64>,
    /// The same with strength (sum of edge weights) instead of degree, normalised by the star
    /// with the same total weight.
    pub weighted_centralization: Option<f64>,
    pub density: Option<f64>,
    /// Entries whose audience has three or more partners.
    pub triangular_entries: u64,
    pub triangular_share: Option<f64>,
    /// Partner triples with all three edges present.
    pub triangles: u64,
}

/// Compute the network over a set of audiences (one per entry).
pub fn network<'a>(audiences: impl IntoIterator<Item = &'a Audience>) -> NetworkStats {
    network_counted(audiences.into_iter().map(|a| (a, 1)))
}

/// The same over audiences with how many entries each was the audience of: the work grows with
/// the distinct audiences, not the entries (an incremental view keeps these counts).
pub fn network_counted<'a>(
    audiences: impl IntoIterator<Item = (&'a Audience, u64)>,
) -> NetworkStats {
    let mut weights: BTreeMap<(PartnerCode, PartnerCode), u64> = BTreeMap::new();
    let mut partners: BTreeSet<PartnerCode> = BTreeSet::new();
    let (mut entries, mut tri_entries) = (0u64, 0u64);
    for (aud, count) in audiences {
        if count == 0 {
            continue;
        }
        entries += count;
        let ps: Vec<&PartnerCode> = aud.iter().collect();
        if ps.len() >= 3 {
            tri_entries += count;
        }
        for (i, a) in ps.iter().enumerate() {
            partners.insert((*a).clone());
            for b in &ps[i + 1..] {
                *weights.entry(((*a).clone(), (*b).clone())).or_default() += count;
            }
        }
    }
    let n = partners.len();
    let mut degree: BTreeMap<&PartnerCode, u64> = partners.iter().map(|p| (p, 0)).collect();
    let mut strength: BTreeMap<&PartnerCode, u64> = partners.iter().map(|p| (p, 0)).collect();
    for ((a, b), w) in &weights {
        for p in [a, b] {
            *degree.get_mut(p).unwrap_or_else(|| unreachable!()) += 1;
            *strength.get_mut(p).unwrap_or_else(|| unreachable!()) += w;
        }
    }
    let total_weight: u64 = weights.values().sum();
    let (degree_c, weighted_c) = if n >= 3 {
        let dmax = degree.values().max().copied().unwrap_or(0);
        let smax = strength.values().max().copied().unwrap_or(0);
        let dsum: u64 = degree.values().map(|d| dmax - d).sum();
        let ssum: u64 = strength.values().map(|s| smax - s).sum();
        let weighted = if total_weight > 0 {
            Some(ssum as f64 / (total_weight as f64 * (n as f64 - 2.0)))
        } else {
            None
        };
        (
            Some(dsum as f64 / ((n as f64 - 1.0) * (n as f64 - 2.0))),
            weighted,
        )
    } else {
        (None, None)
    };
    let density = (n >= 2).then(|| weights.len() as f64 / (n as f64 * (n as f64 - 1.0) / 2.0));
    let has = |a: &PartnerCode, b: &PartnerCode| {
        weights.contains_key(&(a.clone(), b.clone()))
            || weights.contains_key(&(b.clone(), a.clone()))
    };
    let ps: Vec<&PartnerCode> = partners.iter().collect();
    let mut triangles = 0;
    for i in 0..ps.len() {
        for j in i + 1..ps.len() {
            if !has(ps[i], ps[j]) {
                continue;
            }
            for k in j + 1..ps.len() {
                if has(ps[i], ps[k]) && has(ps[j], ps[k]) {
                    triangles += 1;
                }
            }
        }
    }
    NetworkStats {
        partners: partners.into_iter().collect(),
        edges: weights
            .into_iter()
            .map(|((a, b), weight)| Edge { a, b, weight })
            .collect(),
        entries,
        degree_centralization: degree_c,
        weighted_centralization: weighted_c,
        density,
        triangular_entries: tri_entries,
        triangular_share: (entries > 0).then(|| tri_entries as f64 / entries as f64),
        triangles,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partner::code;

    fn aud(ps: &[&str]) -> Audience {
        Audience::new(ps.iter().map(|p| code(p))).unwrap()
    }

    /// One check helper: audiences → (degree centralization, weighted, density, triangles).
    fn check(auds: &[&[&str]], expected: (Option<f64>, Option<f64>, Option<f64>, u64)) {
        let a: Vec<Audience> = auds.iter().map(|x| aud(x)).collect();
        let s = network(&a);
        let r = |x: Option<f64>| x.map(|v| (v * 1000.0).round() / 1000.0);
        assert_eq!(
            (
                r(s.degree_centralization),
                r(s.weighted_centralization),
                r(s.density),
                s.triangles
            ),
            expected,
            "{auds:?}"
        );
    }

    #[test]
    fn centralization_density_and_triangles() {
        // A star: the EU exchanges bilaterally with everyone, nobody else exchanges.
        check(
            &[&["EU", "NATO"], &["EU", "JPN"], &["EU", "KOR"]],
            (Some(1.0), Some(1.0), Some(0.5), 0),
        );
        // Everyone with everyone: no hub.
        check(
            &[&["EU", "NATO", "JPN"]],
            (Some(0.0), Some(0.0), Some(1.0), 1),
        );
        // Two partners: centralization undefined.
        check(&[&["EU", "JPN"]], (None, None, Some(1.0), 0));
        // Unequal weights on a triangle: unweighted 0, weighted > 0.
        check(
            &[&["EU", "NATO", "JPN"], &["EU", "NATO"], &["EU", "NATO"]],
            (Some(0.0), Some(0.4), Some(1.0), 1),
        );
        let s = network(&[aud(&["EU", "NATO", "JPN"]), aud(&["EU", "JPN"])]);
        assert_eq!((s.entries, s.triangular_entries), (2, 1));
        assert_eq!(
            s.edges
                .iter()
                .find(|e| e.a == code("EU") && e.b == code("JPN"))
                .unwrap()
                .weight,
            2
        );
    }
}
