//! Object ids and secrets: a prefix, an underscore and random base62 from the OS-seeded CSPRNG.

use rand::Rng;
use sha2::{Digest, Sha256};

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Random characters in an object id: 24 base62 characters, about 143 bits.
pub const ID_CHARS: usize = 24;

pub fn random_base62(chars: usize) -> String {
    let mut rng = rand::rng();
    (0..chars)
        .map(|_| char::from(BASE62[rng.random_range(0..BASE62.len())]))
        .collect()
}

/// A fresh id such as `pi_3kQ…`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", random_base62(ID_CHARS))
}

/// SHA-256, hex: how secrets are kept.
pub fn sha256_hex(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(byte & 0xf)]));
    }
    out
}

/// Compares two secrets' hashes in time independent of where they differ.
pub fn same_hash(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}
