//! Optional ed25519 signatures of a bundle's manifest (RFC 8032, via
//! `ed25519-dalek`), so a consortium can publish its public key and anyone can
//! check that a bundle came from it unchanged. Keys are stored as hex text: the
//! 32-byte secret seed, or the 32-byte public key.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {reason}")]
    Bad { path: String, reason: String },
}

fn read_hex32(path: &Path, what: &str) -> Result<[u8; 32], KeyError> {
    let bad = |reason: String| KeyError::Bad {
        path: path.display().to_string(),
        reason,
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read {what}: {e}")))?;
    let bytes = hex::decode(text.trim()).map_err(|e| bad(format!("{what} is not hex: {e}")))?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        bad(format!(
            "{what} must be 32 bytes (64 hex digits), found {}",
            b.len()
        ))
    })
}

/// Reads a secret key (hex of the 32-byte seed).
///
/// A public key has the same form, and signing with one gives signatures that nothing
/// verifies: a `.pub` file is refused, and so is a key that is not the secret of the `.pub`
/// beside it (`harness keygen` writes `PREFIX.key` and `PREFIX.pub`).
pub fn read_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    let bad = |reason: String| KeyError::Bad {
        path: path.display().to_string(),
        reason,
    };
    if path.extension().is_some_and(|e| e == "pub") {
        return Err(bad(
            "a public key (harness keygen's PREFIX.pub): sign with the secret key, PREFIX.key"
                .into(),
        ));
    }
    let key = SigningKey::from_bytes(&read_hex32(path, "secret key")?);
    let public = path.with_extension("pub");
    if let Ok(published) = read_verifying_key(&public)
        && published != key.verifying_key()
    {
        let reason = if published.as_bytes() == key.as_bytes() {
            format!(
                "holds the public key {} (not the secret one)",
                public.display()
            )
        } else {
            format!(
                "is not the secret key of the public key beside it, {}: bundles signed with it would not verify with that one",
                public.display()
            )
        };
        return Err(bad(reason));
    }
    Ok(key)
}

/// Reads a public key (hex of the 32-byte key).
pub fn read_verifying_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let b = read_hex32(path, "public key")?;
    VerifyingKey::from_bytes(&b).map_err(|e| KeyError::Bad {
        path: path.display().to_string(),
        reason: format!("invalid public key: {e}"),
    })
}

/// A new key pair from the operating system's random source.
pub fn generate() -> std::io::Result<SigningKey> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Hex text of the signature of `message`, with a final newline.
pub fn sign(key: &SigningKey, message: &[u8]) -> String {
    format!("{}\n", hex::encode(key.sign(message).to_bytes()))
}

/// Checks that a hex signature (as written by [`sign`]) of `message` is by one of `keys`.
///
/// # Errors
/// `Some(why)` when the signature text is not a signature at all; `None` when it is one that
/// none of the keys verifies (the message changed after signing, or another key signed it).
pub fn check_any(
    keys: &[VerifyingKey],
    message: &[u8],
    signature_hex: &str,
) -> Result<(), Option<String>> {
    let bytes = hex::decode(signature_hex.trim())
        .map_err(|e| Some(format!("signature is not hex: {e}")))?;
    let arr: [u8; 64] = bytes
        .try_into()
        .map_err(|_| Some("signature must be 64 bytes".to_string()))?;
    let signature = Signature::from_bytes(&arr);
    if keys.iter().any(|k| k.verify(message, &signature).is_ok()) {
        Ok(())
    } else {
        Err(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A public key given as the signing key (its file, or its text in the .key file) is
    /// refused; the pair keygen writes is read.
    #[test]
    fn a_public_key_is_not_taken_for_the_secret_one() {
        let dir = tempfile::tempdir().unwrap();
        let key = generate().unwrap();
        let (secret, public) = (dir.path().join("a.key"), dir.path().join("a.pub"));
        std::fs::write(&secret, hex::encode(key.as_bytes())).unwrap();
        std::fs::write(&public, hex::encode(key.verifying_key().as_bytes())).unwrap();
        assert_eq!(read_signing_key(&secret).unwrap(), key);
        let err = read_signing_key(&public).unwrap_err().to_string();
        assert!(err.contains("a public key"), "{err}");
        std::fs::write(&secret, hex::encode(key.verifying_key().as_bytes())).unwrap();
        let err = read_signing_key(&secret).unwrap_err().to_string();
        assert!(err.contains("holds the public key"), "{err}");
        let other = generate().unwrap();
        std::fs::write(&secret, hex::encode(other.as_bytes())).unwrap();
        let err = read_signing_key(&secret).unwrap_err().to_string();
        assert!(
            err.contains("is not the secret key of the public key beside it"),
            "{err}"
        );
    }

    #[test]
    fn sign_and_check_detects_any_change() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let sig = sign(&key, b"manifest");
        let (public, other) = (
            key.verifying_key(),
            SigningKey::from_bytes(&[8u8; 32]).verifying_key(),
        );
        assert_eq!(check_any(&[public], b"manifest", &sig), Ok(()));
        assert_eq!(check_any(&[public], b"manifesT", &sig), Err(None));
        assert_eq!(check_any(&[other], b"manifest", &sig), Err(None));
        assert_eq!(check_any(&[other, public], b"manifest", &sig), Ok(()));
        let malformed = check_any(&[public], b"manifest", "zz").unwrap_err();
        assert!(malformed.is_some_and(|why| why.contains("not hex")));
    }
}
