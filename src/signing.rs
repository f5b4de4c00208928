//! HMAC-SHA256 signatures with a key the database keeps, so every replica
//! signs and checks alike: the console's session cookies and the customers'
//! transcript links.

use crate::model::now_ms;
use crate::storage::{self, DynStore};
use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Bytes of a signature as written in cookies and links (128 bits).
const SIGNATURE_BYTES: usize = 16;

#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    /// The key named `name` (made at random the first time any replica asks).
    pub async fn load(store: &DynStore, name: &str) -> Result<Signer, storage::Error> {
        let candidate = crate::auth::random_bytes::<32>()
            .map_err(|e| storage::Error::Internal(format!("no randomness: {e}")))?;
        let key = store
            .signing_key(name, candidate.to_vec(), now_ms())
            .await?;
        Ok(Signer { key })
    }

    pub fn from_key(key: &[u8]) -> Signer {
        Signer { key: key.to_vec() }
    }

    fn mac(&self, message: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(message.as_bytes());
        mac
    }

    /// The signature of `message`, in hex.
    pub fn sign(&self, message: &str) -> String {
        let tag = self.mac(message).finalize().into_bytes();
        hex::encode(&tag[..SIGNATURE_BYTES])
    }

    /// Whether `signature` (hex) is this key's signature of `message`, compared in constant time.
    pub fn verify(&self, message: &str, signature: &str) -> bool {
        let Ok(bytes) = hex::decode(signature) else {
            return false;
        };
        bytes.len() == SIGNATURE_BYTES && self.mac(message).verify_truncated_left(&bytes).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_its_message_under_its_key() {
        let signer = Signer::from_key(b"one key");
        let sig = signer.sign("conversation c-1 until 1700000000000");
        assert!(signer.verify("conversation c-1 until 1700000000000", &sig));
        assert!(!signer.verify("conversation c-2 until 1700000000000", &sig));
        assert!(
            !Signer::from_key(b"another key").verify("conversation c-1 until 1700000000000", &sig)
        );
        let mut altered = sig.clone();
        altered.replace_range(0..1, if sig.starts_with('0') { "1" } else { "0" });
        assert!(!signer.verify("conversation c-1 until 1700000000000", &altered));
        assert!(!signer.verify("conversation c-1 until 1700000000000", "not hex"));
        assert!(!signer.verify("conversation c-1 until 1700000000000", &sig[..8]));
    }
}
