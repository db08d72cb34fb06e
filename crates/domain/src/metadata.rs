//! Merchant metadata: a small string-to-string map kept on intents, captures and other objects.

use std::collections::BTreeMap;

use crate::error::{ErrorCode, Rejection};

pub type Metadata = BTreeMap<String, String>;

pub const KEYS_MAX: usize = 50;
pub const KEY_CHARS_MAX: usize = 40;
pub const VALUE_CHARS_MAX: usize = 500;

/// Checks the size limits; `param` is the field the map arrived in (`metadata`).
pub fn validate(metadata: &Metadata, param: &str) -> Result<(), Rejection> {
    if metadata.len() > KEYS_MAX {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            param,
            format!("metadata takes at most {KEYS_MAX} keys"),
        ));
    }
    for (key, value) in metadata {
        if key.is_empty() || key.chars().count() > KEY_CHARS_MAX {
            return Err(Rejection::param(
                ErrorCode::InvalidParameter,
                &format!("{param}.{key}"),
                format!("metadata keys are 1 to {KEY_CHARS_MAX} characters"),
            ));
        }
        if value.chars().count() > VALUE_CHARS_MAX {
            return Err(Rejection::param(
                ErrorCode::InvalidParameter,
                &format!("{param}.{key}"),
                format!("metadata values are at most {VALUE_CHARS_MAX} characters"),
            ));
        }
    }
    Ok(())
}
