//! A string that must not be shown: API keys and client secrets. Its `Debug` names only its
//! length class, so a secret inside a struct that is logged or debug-printed stays hidden.

/// A secret string. Read it with [`Secret::expose`], only where it goes on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("sk_test_51Hsecretvalue");
        let shown = format!("{secret:?} {:?}", Some(&secret));
        assert!(!shown.contains("sk_test"), "{shown}");
        assert_eq!(secret.expose(), "sk_test_51Hsecretvalue");
    }
}
