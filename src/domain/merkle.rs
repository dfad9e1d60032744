//! The RFC 6962 Merkle tree over an application's hash chain (RFC 6962 §2.1; RFC 9162 §2.1 has
//! the same definitions and spells out the verification algorithms used here).
//!
//! Leaf `i` is the event with `seq` `i + 1`; its leaf hash is `SHA-256(0x00 || event hash)`
//! (the 32 raw bytes of the chain hash). An interior node is `SHA-256(0x01 || left || right)`.
//! The tree of size `n` splits at the largest power of two below `n`.
//!
//! The store keeps the tree as its complete subtrees ([`NodeId`]: `level`, `index` covers the
//! leaves `[index·2^level, (index+1)·2^level)`), each written once when its last leaf arrives.
//! Every hash the proofs need is a range of leaves whose RFC hash is computed from a few such
//! nodes: [`range_nodes`] lists them, [`range_hash`] combines them.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// A proof asked for sizes or revisions the tree cannot answer. Messages name the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofInputError {
    #[error("Invalid {param}: expected a whole number from 1.")]
    NotANumber { param: &'static str },
    #[error("Invalid revision: {revision} is after size {size} (the proof is of a revision inside a tree of that size).")]
    RevisionAfterSize { revision: u64, size: u64 },
    #[error(
        "Invalid {param}: the tree has {tree_size} events, so no tree of size {size} exists yet."
    )]
    BeyondTree {
        param: &'static str,
        size: u64,
        tree_size: u64,
    },
    #[error("Invalid from: {from} is after to ({to}).")]
    FromAfterTo { from: u64, to: u64 },
}

/// Checks the sizes of an inclusion proof against a tree of `tree_size` leaves.
pub fn check_inclusion(revision: u64, size: u64, tree_size: u64) -> Result<(), ProofInputError> {
    if size > tree_size {
        return Err(ProofInputError::BeyondTree {
            param: "size",
            size,
            tree_size,
        });
    }
    if revision > size {
        return Err(ProofInputError::RevisionAfterSize { revision, size });
    }
    Ok(())
}

/// Checks the sizes of a consistency proof against a tree of `tree_size` leaves.
pub fn check_consistency(from: u64, to: u64, tree_size: u64) -> Result<(), ProofInputError> {
    if from > to {
        return Err(ProofInputError::FromAfterTo { from, to });
    }
    if to > tree_size {
        return Err(ProofInputError::BeyondTree {
            param: "to",
            size: to,
            tree_size,
        });
    }
    Ok(())
}

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([0u8])
        .chain_update(data)
        .finalize()
        .into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([1u8])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// A complete subtree: the leaves `[index·2^level, (index+1)·2^level)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u8,
    pub index: u64,
}

/// The largest power of two strictly below `n` (`n >= 2`).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The complete subtrees whose hashes give the RFC hash of the leaves `[start, end)`
/// (`start < end`), in the order [`range_hash`] reads them.
pub fn range_nodes(start: u64, end: u64, out: &mut Vec<NodeId>) {
    let size = end - start;
    if size.is_power_of_two() && start.is_multiple_of(size) {
        out.push(NodeId {
            level: size.trailing_zeros() as u8,
            index: start / size,
        });
    } else {
        let k = split_point(size);
        range_nodes(start, start + k, out);
        range_nodes(start + k, end, out);
    }
}

/// The RFC hash of the leaves `[start, end)` from the stored nodes; `None` if one is missing.
pub fn range_hash(start: u64, end: u64, node: &impl Fn(NodeId) -> Option<Hash>) -> Option<Hash> {
    let size = end - start;
    if size.is_power_of_two() && start.is_multiple_of(size) {
        node(NodeId {
            level: size.trailing_zeros() as u8,
            index: start / size,
        })
    } else {
        let k = split_point(size);
        Some(node_hash(
            &range_hash(start, start + k, node)?,
            &range_hash(start + k, end, node)?,
        ))
    }
}

/// The leaf ranges whose hashes form the inclusion proof of leaf `m` in the tree of size `n`
/// (RFC 6962 §2.1.1 `PATH(m, D[n])`), from the leaf upwards. `m < n`.
pub fn inclusion_ranges(m: u64, n: u64) -> Vec<(u64, u64)> {
    fn path(m: u64, start: u64, end: u64, out: &mut Vec<(u64, u64)>) {
        let size = end - start;
        if size <= 1 {
            return;
        }
        let k = split_point(size);
        if m < k {
            path(m, start, start + k, out);
            out.push((start + k, end));
        } else {
            path(m - k, start + k, end, out);
            out.push((start, start + k));
        }
    }
    let mut out = Vec::new();
    path(m, 0, n, &mut out);
    out
}

/// The leaf ranges whose hashes form the consistency proof between the trees of sizes `m` and
/// `n` (RFC 6962 §2.1.2 `PROOF(m, D[n])`). `0 < m <= n`; empty when `m == n`.
pub fn consistency_ranges(m: u64, n: u64) -> Vec<(u64, u64)> {
    fn subproof(m: u64, start: u64, end: u64, whole: bool, out: &mut Vec<(u64, u64)>) {
        let size = end - start;
        if m == size {
            if !whole {
                out.push((start, end));
            }
            return;
        }
        let k = split_point(size);
        if m <= k {
            subproof(m, start, start + k, whole, out);
            out.push((start + k, end));
        } else {
            subproof(m - k, start + k, end, false, out);
            out.push((start, start + k));
        }
    }
    let mut out = Vec::new();
    if 0 < m && m <= n {
        subproof(m, 0, n, true, &mut out);
    }
    out
}

/// The RFC hash of a whole list of leaf hashes (reference computation; the empty tree is the
/// hash of nothing).
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf_index: u64,
    tree_size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> bool {
    if leaf_index >= tree_size {
        return false;
    }
    let (mut fn_, mut sn) = (leaf_index, tree_size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// Checks a consistency proof between the tree of size `first` (root `first_root`) and the
/// tree of size `second` (root `second_root`) (RFC 9162 §2.1.4.2). Sizes start at 1.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> bool {
    if first == 0 || first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let Some((c0, rest)) = path.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (first - 1, second - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*c0, *c0);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *first_root && sr == *second_root && sn == 0
}

/// The complete subtrees an append-only tree has after `n` leaves, written as each leaf
/// arrives: what the store's trigger writes (reference for tests).
#[cfg(test)]
pub(crate) fn complete_nodes(leaves: &[Hash]) -> std::collections::HashMap<NodeId, Hash> {
    let mut nodes = std::collections::HashMap::new();
    for (i, leaf) in leaves.iter().enumerate() {
        let (mut index, mut level, mut h) = (i as u64, 0u8, *leaf);
        nodes.insert(NodeId { level, index }, h);
        while index % 2 == 1 {
            let left = nodes[&NodeId {
                level,
                index: index - 1,
            }];
            h = node_hash(&left, &h);
            index /= 2;
            level += 1;
            nodes.insert(NodeId { level, index }, h);
        }
    }
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leaf inputs of the certificate-transparency test vectors (RFC 6962 reference tests).
    fn vector_leaves() -> Vec<Hash> {
        let inputs: [&[u8]; 8] = [
            b"",
            &[0x00],
            &[0x10],
            &[0x20, 0x21],
            &[0x30, 0x31],
            &[0x40, 0x41, 0x42, 0x43],
            &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            &[
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
                0x6e, 0x6f,
            ],
        ];
        inputs.iter().map(|d| leaf_hash(d)).collect()
    }

    fn h(hex_text: &str) -> Hash {
        hex::decode(hex_text).unwrap().try_into().unwrap()
    }

    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    #[test]
    fn roots_match_the_reference_vectors() {
        let leaves = vector_leaves();
        for (n, root) in ROOTS.iter().enumerate() {
            assert_eq!(hex::encode(root_of(&leaves[..=n])), *root, "size {}", n + 1);
        }
        assert_eq!(
            hex::encode(root_of(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    fn stored(leaves: &[Hash]) -> impl Fn(NodeId) -> Option<Hash> {
        let nodes = complete_nodes(leaves);
        move |id| nodes.get(&id).copied()
    }

    fn proof_hashes(ranges: &[(u64, u64)], leaves: &[Hash]) -> Vec<Hash> {
        let node = stored(leaves);
        ranges
            .iter()
            .map(|&(a, b)| range_hash(a, b, &node).unwrap())
            .collect()
    }

    #[test]
    fn inclusion_proofs_match_the_reference_vectors() {
        let leaves = vector_leaves();
        // (leaf, size, path) from the reference tests.
        let cases: [(u64, u64, &[&str]); 6] = [
            (0, 1, &[]),
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
            (
                4,
                5,
                &["d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
            ),
        ];
        for (m, n, path) in cases {
            let got = proof_hashes(&inclusion_ranges(m, n), &leaves[..n as usize]);
            let want: Vec<Hash> = path.iter().map(|p| h(p)).collect();
            assert_eq!(got, want, "leaf {m} of {n}");
            let root = root_of(&leaves[..n as usize]);
            assert!(verify_inclusion(m, n, &leaves[m as usize], &got, &root));
        }
    }

    #[test]
    fn consistency_proofs_match_the_reference_vectors() {
        let leaves = vector_leaves();
        let cases: [(u64, u64, &[&str]); 4] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (m, n, path) in cases {
            let got = proof_hashes(&consistency_ranges(m, n), &leaves[..n as usize]);
            let want: Vec<Hash> = path.iter().map(|p| h(p)).collect();
            assert_eq!(got, want, "{m} to {n}");
            let (r1, r2) = (
                root_of(&leaves[..m as usize]),
                root_of(&leaves[..n as usize]),
            );
            assert!(verify_consistency(m, n, &r1, &r2, &got));
        }
    }

    /// Every leaf of every size up to 70, every pair of sizes: the stored nodes give the
    /// reference root, each proof verifies, and a proof altered in any one hash, or checked
    /// against another index, size or root, does not.
    #[test]
    fn every_proof_of_small_trees_verifies_and_no_altered_one_does() {
        let leaves: Vec<Hash> = (0u32..70).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let node = stored(&leaves);
        for n in 1..=leaves.len() as u64 {
            let root = root_of(&leaves[..n as usize]);
            assert_eq!(range_hash(0, n, &node), Some(root), "root of {n}");
            for m in 0..n {
                let proof = proof_hashes(&inclusion_ranges(m, n), &leaves);
                let leaf = leaves[m as usize];
                assert!(verify_inclusion(m, n, &leaf, &proof, &root), "{m} in {n}");
                assert!(!verify_inclusion(m, n, &leaves[69], &proof, &root) || m == 69);
                if n > 1 {
                    assert!(!verify_inclusion((m + 1) % n, n, &leaf, &proof, &root));
                }
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i][0] ^= 1;
                    assert!(!verify_inclusion(m, n, &leaf, &bad, &root));
                }
                let mut longer = proof.clone();
                longer.push(root);
                assert!(!verify_inclusion(m, n, &leaf, &longer, &root));
            }
            for m in 1..=n {
                let proof = proof_hashes(&consistency_ranges(m, n), &leaves);
                let old = root_of(&leaves[..m as usize]);
                assert!(verify_consistency(m, n, &old, &root, &proof), "{m} to {n}");
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i][31] ^= 0x80;
                    assert!(!verify_consistency(m, n, &old, &root, &bad));
                }
                if m < n {
                    let mut forked = leaves[..n as usize].to_vec();
                    forked[(m - 1) as usize][0] ^= 1;
                    let fork_root = root_of(&forked);
                    assert!(!verify_consistency(m, n, &old, &fork_root, &proof));
                    assert!(!verify_consistency(m, n, &fork_root, &root, &proof));
                    assert!(!verify_consistency(m + 1, n, &old, &root, &proof) || m + 1 == n);
                }
            }
        }
    }

    #[test]
    fn nodes_of_a_range_are_few_and_missing_ones_are_reported() {
        let mut ids = Vec::new();
        range_nodes(0, 1_000_000, &mut ids);
        assert_eq!(ids.len(), 1_000_000u32.count_ones() as usize);
        let leaves: Vec<Hash> = (0u32..5).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let nodes = complete_nodes(&leaves);
        let without_first = |id: NodeId| {
            (id != NodeId { level: 2, index: 0 })
                .then(|| nodes.get(&id).copied())
                .flatten()
        };
        assert_eq!(range_hash(0, 5, &without_first), None);
        assert_eq!(
            range_hash(4, 5, &without_first),
            Some(leaves[4]),
            "a range not needing it"
        );
        assert_eq!(inclusion_ranges(0, 1), Vec::<(u64, u64)>::new());
        assert_eq!(consistency_ranges(0, 4), Vec::<(u64, u64)>::new());
        assert!(!verify_consistency(0, 4, &leaves[0], &leaves[0], &[]));
        assert!(!verify_consistency(3, 2, &leaves[0], &leaves[0], &[]));
        assert!(!verify_inclusion(5, 5, &leaves[0], &[], &leaves[0]));
    }
}
