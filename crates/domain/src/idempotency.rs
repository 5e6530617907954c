//! Idempotent requests (IETF httpapi `Idempotency-Key` draft): the key a client sends and
//! the fingerprint of the request it was first used with.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Longest accepted key.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// A client's idempotency key: 1 to 255 visible ASCII characters (a UUID is typical).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses the header value. Per the draft the value may be a quoted string; the quotes
    /// are not part of the key.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let raw = raw
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .unwrap_or(raw);
        if raw.is_empty() || raw.len() > MAX_IDEMPOTENCY_KEY_LEN {
            return Err(format!(
                "Idempotency-Key must have 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters"
            ));
        }
        if !raw.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err("Idempotency-Key must be visible ASCII without spaces".into());
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The SHA-256 of a request body, base64url: two requests with the same key must have the
/// same fingerprint, or the second is refused (`idempotency_key_reused`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// Fingerprints a request body as received (after base64 decoding).
    pub fn of(body: &[u8]) -> Self {
        let digest = Sha256::digest(body);
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest))
    }

    /// A stored fingerprint.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    /// The fingerprint as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
