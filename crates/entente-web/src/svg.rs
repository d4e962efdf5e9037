//! The cooperation network drawn as SVG on the server: partners on a circle, one line per pair
//! that exchanged entries, its width growing with the number of entries. No script needed.

use entente_domain::analytics::NetworkStats;

#[derive(Debug, Clone)]
pub struct SvgNode {
    pub x: f64,
    pub y: f64,
    pub label: String,
    /// Sum of the weights of its edges.
    pub strength: usize,
}

#[derive(Debug, Clone)]
pub struct SvgEdge {
    pub x1: f64,
    pub y1: f64,
    pub x2: f64,
    pub y2: f64,
    pub width: f64,
    /// The entries the two partners exchanged (the page words it in the reader's language).
    pub weight: usize,
    /// The two partners, for the link to the items released to both.
    pub a: String,
    pub b: String,
}

pub const SIZE: f64 = 420.0;

pub fn layout(n: &NetworkStats) -> (Vec<SvgNode>, Vec<SvgEdge>) {
    let c = SIZE / 2.0;
    let r = SIZE / 2.0 - 50.0;
    let k = n.partners.len().max(1) as f64;
    let pos = |i: usize| {
        // Start at the top and go clockwise, so the drawing is the same on every node.
        let a = std::f64::consts::TAU * i as f64 / k - std::f64::consts::FRAC_PI_2;
        ((c + r * a.cos()).round(), (c + r * a.sin()).round())
    };
    let index = |p: &entente_domain::PartnerCode| n.partners.iter().position(|q| q == p);
    let max = n.edges.iter().map(|e| e.weight).max().unwrap_or(1).max(1) as f64;
    let nodes = n
        .partners
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (x, y) = pos(i);
            SvgNode {
                x,
                y,
                label: p.to_string(),
                strength: n
                    .edges
                    .iter()
                    .filter(|e| &e.a == p || &e.b == p)
                    .map(|e| e.weight as usize)
                    .sum(),
            }
        })
        .collect();
    let edges = n
        .edges
        .iter()
        .filter_map(|e| {
            let (x1, y1) = pos(index(&e.a)?);
            let (x2, y2) = pos(index(&e.b)?);
            Some(SvgEdge {
                x1,
                y1,
                x2,
                y2,
                width: (1.0 + 9.0 * e.weight as f64 / max).round(),
                weight: e.weight as usize,
                a: e.a.to_string(),
                b: e.b.to_string(),
            })
        })
        .collect();
    (nodes, edges)
}
