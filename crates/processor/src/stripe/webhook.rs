//! Stripe webhook signatures, checked as Stripe documents them.
//!
//! The `Stripe-Signature` header reads `t=<unix seconds>,v1=<hex>[,v1=<hex>…]` (other schemes,
//! such as `v0`, may appear and are ignored). Each `v1` is HMAC-SHA256, keyed with the endpoint's
//! signing secret (`whsec_…`), of `"{t}.{raw body}"`. A delivery is genuine when any `v1` matches
//! (several appear while a secret is rolled), compared in constant time, and its `t` lies within
//! the tolerance of now (300 seconds by default), which bounds replays.

use hmac::{Hmac, Mac};
use holdfast_domain::Timestamp;
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Stripe's default tolerance between a signature's timestamp and now.
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is malformed")]
    Malformed,
    #[error("the Stripe-Signature header has no timestamp")]
    NoTimestamp,
    #[error("the Stripe-Signature header has no v1 signature")]
    NoSignature,
    #[error("the signature's timestamp is outside the tolerance")]
    OutsideTolerance,
    #[error("no signature matches the payload")]
    Mismatch,
}

/// Checks a delivery: `header` is the `Stripe-Signature` value, `payload` the raw body exactly as
/// received, `secret` the endpoint's signing secret.
pub fn verify(
    payload: &[u8],
    header: &str,
    secret: &str,
    now: Timestamp,
    tolerance_seconds: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match name {
            "t" => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                );
            }
            "v1" => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::NoTimestamp)?;
    if signatures.is_empty() {
        return Err(SignatureError::NoSignature);
    }
    if (now.seconds() - timestamp).abs() > tolerance_seconds {
        return Err(SignatureError::OutsideTolerance);
    }
    let expected = signature(payload, secret, timestamp);
    let matched = signatures
        .iter()
        .any(|candidate| bool::from(candidate.as_bytes().ct_eq(expected.as_bytes())));
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The hex `v1` signature of a payload at a timestamp.
pub fn signature(payload: &[u8], secret: &str, timestamp: i64) -> String {
    // HMAC takes keys of any length, so `new_from_slice` cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The parts of an event Holdfast acts on. The object itself is re-read from Stripe before
/// anything is applied, since deliveries come at least once and in any order.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created: i64,
    pub data: EventData,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventData {
    pub object: EventObject,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventObject {
    pub id: String,
    pub object: String,
    /// A charge's, refund's or dispute's PaymentIntent.
    #[serde(default)]
    pub payment_intent: Option<String>,
}

/// Reads a verified payload.
pub fn parse_event(payload: &[u8]) -> Result<Event, serde_json::Error> {
    serde_json::from_slice(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const PAYLOAD: &[u8] = br#"{"id":"evt_1","object":"event","type":"payment_intent.canceled","created":1783650000,"data":{"object":{"id":"pi_1","object":"payment_intent","cancellation_reason":"expired"}}}"#;
    const T: i64 = 1_783_650_000;

    /// The primitive gives the HMAC-SHA256 known answer of RFC 4231, test case 2.
    #[test]
    fn the_mac_is_hmac_sha256() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_signature_over_t_dot_body_verifies() {
        let v1 = signature(PAYLOAD, SECRET, T);
        // The signed string is exactly "{t}.{body}".
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(format!("{T}.").as_bytes());
        mac.update(PAYLOAD);
        let independent: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(v1, independent);
        let header = format!("t={T},v1={v1}");
        assert_eq!(
            verify(PAYLOAD, &header, SECRET, Timestamp(T + 10), 300),
            Ok(())
        );
        let event = parse_event(PAYLOAD).unwrap();
        assert_eq!(event.id, "evt_1");
        assert_eq!(event.kind, "payment_intent.canceled");
        assert_eq!(event.data.object.id, "pi_1");
    }

    #[test]
    fn any_of_several_v1_signatures_and_unknown_schemes_are_accepted() {
        let good = signature(PAYLOAD, SECRET, T);
        let old = signature(PAYLOAD, "whsec_old", T);
        let header = format!("t={T},v1={old},v0=abc,v1={good}");
        assert_eq!(verify(PAYLOAD, &header, SECRET, Timestamp(T), 300), Ok(()));
    }

    #[test]
    fn tampering_wrong_secrets_and_stale_timestamps_are_refused() {
        let v1 = signature(PAYLOAD, SECRET, T);
        let header = format!("t={T},v1={v1}");
        let mut tampered = PAYLOAD.to_vec();
        tampered[10] ^= 1;
        assert_eq!(
            verify(&tampered, &header, SECRET, Timestamp(T), 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(PAYLOAD, &header, "whsec_other", Timestamp(T), 300),
            Err(SignatureError::Mismatch)
        );
        // The timestamp is signed: moving it breaks the signature.
        let moved = format!("t={},v1={v1}", T + 1);
        assert_eq!(
            verify(PAYLOAD, &moved, SECRET, Timestamp(T), 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(PAYLOAD, &header, SECRET, Timestamp(T + 301), 300),
            Err(SignatureError::OutsideTolerance)
        );
        assert_eq!(
            verify(PAYLOAD, &header, SECRET, Timestamp(T - 301), 300),
            Err(SignatureError::OutsideTolerance)
        );
        assert_eq!(
            verify(PAYLOAD, &header, SECRET, Timestamp(T + 300), 300),
            Ok(())
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        let v1 = signature(PAYLOAD, SECRET, T);
        let now = Timestamp(T);
        assert_eq!(
            verify(PAYLOAD, &format!("v1={v1}"), SECRET, now, 300),
            Err(SignatureError::NoTimestamp)
        );
        assert_eq!(
            verify(PAYLOAD, &format!("t={T}"), SECRET, now, 300),
            Err(SignatureError::NoSignature)
        );
        assert_eq!(
            verify(PAYLOAD, "garbage", SECRET, now, 300),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(PAYLOAD, &format!("t=soon,v1={v1}"), SECRET, now, 300),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(
                PAYLOAD,
                &format!("t={T},v1={}", &v1[..10]),
                SECRET,
                now,
                300
            ),
            Err(SignatureError::Mismatch)
        );
    }
}
