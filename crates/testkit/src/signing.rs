//! Stripe's webhook signature, computed independently of the connector that verifies it:
//! `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "{t}.{body}")>`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The `v1` value for a payload at a timestamp.
pub fn signature_v1(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(payload);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A whole `Stripe-Signature` header, with one `v1` per secret (several during a rotation).
pub fn signature_header(payload: &[u8], secrets: &[&str], timestamp: i64) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&signature_v1(payload, secret, timestamp));
    }
    header
}
