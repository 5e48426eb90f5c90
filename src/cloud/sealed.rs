//! Key Vault secret values at rest: sealed with AES-256-GCM before they reach `state.db`, so that a copy of the
//! database alone (a backup, a file attached to a bug report) holds no secret. The key is `state.key` in the
//! state folder (32 random bytes, mode 0600, refused if other users can read it), or random per process when
//! the state is in memory. A sealed value is `sealed:v1:` and base64 of nonce, ciphertext and tag.

use super::Error;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use std::path::Path;

const PREFIX: &str = "sealed:v1:";

/// Seals and opens secret values with the state folder's key.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl Sealer {
    /// The state folder's key (made on first use), or a fresh one for in-memory state.
    pub fn open_or_create(dir: Option<&Path>) -> Result<Sealer, Error> {
        let rng = SystemRandom::new();
        let mut bytes = [0u8; 32];
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::StateDir { path, source }
        };
        let read_key = |path: &Path, bytes: &mut [u8; 32]| -> Result<(), Error> {
            super::check_private(path)?;
            let stored = std::fs::read(path).map_err(io(path))?;
            if stored.len() != bytes.len() {
                return Err(Error::Tls(format!(
                    "{} is not a 32-byte key; delete it and every sealed secret with `trustprint cloud reset`",
                    path.display()
                )));
            }
            bytes.copy_from_slice(&stored);
            Ok(())
        };
        match dir.map(|d| d.join("state.key")) {
            Some(path) if path.exists() => read_key(&path, &mut bytes)?,
            Some(path) => {
                rng.fill(&mut bytes)
                    .map_err(|_| Error::Tls("no system randomness for state.key".into()))?;
                // Several processes may start on one state folder at once: the key is written whole to a
                // private temporary file and linked into place only if no other process got there first, in
                // which case that process's key is the one used.
                let folder = path.parent().unwrap_or(Path::new("."));
                let mut tmp = tempfile::Builder::new()
                    .prefix(".state.key.")
                    .tempfile_in(folder)
                    .map_err(io(&path))?;
                std::io::Write::write_all(&mut tmp, &bytes).map_err(io(&path))?;
                tmp.as_file().sync_all().map_err(io(&path))?;
                match tmp.persist_noclobber(&path) {
                    Ok(_) => {}
                    Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                        read_key(&path, &mut bytes)?
                    }
                    Err(e) => return Err(io(&path)(e.error)),
                }
            }
            None => rng
                .fill(&mut bytes)
                .map_err(|_| Error::Tls("no system randomness for the sealing key".into()))?,
        }
        let key = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| Error::Tls("the sealing key is unusable".into()))?;
        Ok(Sealer {
            key: LessSafeKey::new(key),
            rng,
        })
    }

    /// `plain` sealed; a value already sealed is returned as it is.
    pub fn seal(&self, plain: &str) -> Option<String> {
        if plain.starts_with(PREFIX) {
            return Some(plain.to_string());
        }
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).ok()?;
        let mut data = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
            .ok()?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Some(format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        ))
    }

    /// The plain value of a sealed one (a value stored before sealing existed is returned as it is).
    pub fn open(&self, stored: &str) -> Option<String> {
        let Some(b64) = stored.strip_prefix(PREFIX) else {
            return Some(stored.to_string());
        };
        let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut data)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_holds_no_plain_text() {
        let a = Sealer::open_or_create(None).unwrap();
        let b = Sealer::open_or_create(None).unwrap();
        let sealed = a.seal("Pa55-w0rd").unwrap();
        assert!(sealed.starts_with("sealed:v1:") && !sealed.contains("Pa55"));
        assert_ne!(a.seal("Pa55-w0rd").unwrap(), sealed, "nonces repeat");
        assert_eq!(a.open(&sealed).as_deref(), Some("Pa55-w0rd"));
        assert_eq!(b.open(&sealed), None);
        assert_eq!(a.seal(&sealed).unwrap(), sealed);
    }
}
