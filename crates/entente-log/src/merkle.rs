//! RFC 6962 (RFC 9162 §2.1) Merkle tree hashes, inclusion proofs and consistency proofs over a
//! list of leaves.
//! Leaf hash = SHA-256(0x00 ‖ leaf), node hash = SHA-256(0x01 ‖ left ‖ right); a tree of n > 1
//! leaves splits at k, the largest power of two smaller than n.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

fn node_hash(l: &Hash, r: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// The Merkle tree hash of leaves given by their leaf hashes; the empty tree hashes to
/// SHA-256 of nothing.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The audit path of leaf `index` (RFC 6962 §2.1.1 PATH), bottom-up.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Vec<Hash> {
    fn path(leaves: &[Hash], m: usize, out: &mut Vec<Hash>) {
        let n = leaves.len();
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            path(&leaves[..k], m, out);
            out.push(root(&leaves[k..]));
        } else {
            path(&leaves[k..], m - k, out);
            out.push(root(&leaves[..k]));
        }
    }
    let mut out = Vec::new();
    if index < leaves.len() {
        path(leaves, index, &mut out);
    }
    out
}

/// Verify that `leaf` (a leaf hash) is leaf `index` of a tree of `size` leaves with `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// The consistency proof between the tree of the first `m` leaves and the tree of all of them
/// (RFC 6962 §2.1.2 `PROOF(m, D[n])`): empty when `m` is 0 or every leaf.
pub fn consistency_proof(leaves: &[Hash], m: usize) -> Vec<Hash> {
    fn subproof(leaves: &[Hash], m: usize, complete: bool, out: &mut Vec<Hash>) {
        let n = leaves.len();
        if m == n {
            if !complete {
                out.push(root(leaves));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            subproof(&leaves[..k], m, complete, out);
            out.push(root(&leaves[k..]));
        } else {
            subproof(&leaves[k..], m - k, false, out);
            out.push(root(&leaves[..k]));
        }
    }
    let mut out = Vec::new();
    if m > 0 && m < leaves.len() {
        subproof(leaves, m, true, &mut out);
    }
    out
}

/// Verify that the tree of `first` leaves with `first_root` is a prefix of the tree of `second`
/// leaves with `second_root` (RFC 9162 §2.1.4.2). An empty first tree is a prefix of any.
pub fn verify_consistency(
    first: u64,
    second: u64,
    proof: &[Hash],
    first_root: &Hash,
    second_root: &Hash,
) -> bool {
    if first > second {
        return false;
    }
    if first == 0 {
        return proof.is_empty();
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let (mut fnode, mut snode) = (first - 1, second - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let Some((start, rest)) = path.split_first() else {
        return false;
    };
    let (mut fr, mut sr) = (*start, *start);
    for c in rest {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    fr == *first_root && sr == *second_root && snode == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn small_trees_match_the_rfc_shape() {
        let l = leaves(3);
        assert_eq!(root(&l), node_hash(&node_hash(&l[0], &l[1]), &l[2]));
        assert_eq!(inclusion_proof(&l, 2), vec![node_hash(&l[0], &l[1])]);
        assert_eq!(inclusion_proof(&l, 0), vec![l[1], l[2]]);
        assert_eq!(root(&l[..1]), l[0]);
    }

    proptest! {
        #[test]
        fn every_leaf_proves_and_nothing_else_does(n in 1usize..70, i in 0usize..70, j in 0usize..70) {
            let l = leaves(n);
            let (i, j) = (i % n, j % n);
            let r = root(&l);
            let p = inclusion_proof(&l, i);
            prop_assert!(verify_inclusion(&l[i], i as u64, n as u64, &p, &r));
            // Another leaf, another position, another size or a tampered path: refused.
            if i != j {
                prop_assert!(!verify_inclusion(&l[j], i as u64, n as u64, &p, &r));
                prop_assert!(!verify_inclusion(&l[i], j as u64, n as u64, &p, &r));
            }
            if let Some(first) = p.first() {
                let mut bad = p.clone();
                bad[0] = leaf_hash(first);
                prop_assert!(!verify_inclusion(&l[i], i as u64, n as u64, &bad, &r));
            }
            prop_assert!(!verify_inclusion(&l[i], n as u64, n as u64, &p, &r));
        }

        #[test]
        fn every_prefix_proves_consistent_and_nothing_else_does(n in 1usize..70, m in 0usize..70) {
            let l = leaves(n);
            let m = m % (n + 1);
            let (r1, r2) = (root(&l[..m]), root(&l));
            let p = consistency_proof(&l, m);
            prop_assert!(verify_consistency(m as u64, n as u64, &p, &r1, &r2));
            if m > 0 && m < n {
                // Another history of the first m leaves, a tampered path or the trees swapped:
                // refused. (The sizes are not bound by the proof but by the signed checkpoint.)
                let mut other = l.clone();
                other[m - 1] = leaf_hash(b"another entry");
                let r1x = root(&other[..m]);
                prop_assert!(!verify_consistency(m as u64, n as u64, &p, &r1x, &r2));
                prop_assert!(!verify_consistency(m as u64, n as u64, &consistency_proof(&other, m), &r1x, &r2));
                let mut bad = p.clone();
                bad[0] = leaf_hash(&bad[0]);
                prop_assert!(!verify_consistency(m as u64, n as u64, &bad, &r1, &r2));
                prop_assert!(!verify_consistency(n as u64, m as u64, &p, &r2, &r1));
            }
        }
    }

    #[test]
    fn consistency_proofs_match_the_rfc_example() {
        // RFC 6962 §2.1.3: the proof between the 3-leaf and the 7-leaf tree is [c, d, g, l].
        let l = leaves(7);
        let (c, d) = (l[2], l[3]);
        let g = node_hash(&l[0], &l[1]);
        let k = node_hash(&l[4], &l[5]);
        let l_node = node_hash(&k, &l[6]);
        assert_eq!(consistency_proof(&l, 3), vec![c, d, g, l_node]);
        // Between the 4-leaf and the 7-leaf tree: [l]; the first root is the proof's start.
        assert_eq!(consistency_proof(&l, 4), vec![l_node]);
        assert_eq!(consistency_proof(&l, 7), Vec::<Hash>::new());
        assert_eq!(consistency_proof(&l, 0), Vec::<Hash>::new());
    }
}
