//! The OS keyring, where a profile's tokens are kept when there is one: the Linux kernel's
//! persistent keyring for the user (keyutils: in kernel memory only, kept a few days after the
//! last session ends, gone at reboot; the user keyring where the persistent one is not
//! offered), the macOS Keychain, the Windows Credential Manager. Elsewhere there is none, and
//! the caller keeps a 0600 file instead.

/// Keeps `secret` under `name`.
pub fn set(name: &str, secret: &str) -> Result<(), String> {
    imp::set(name, secret)
}

/// The secret kept under `name`, if any.
pub fn get(name: &str) -> Option<String> {
    imp::get(name)
}

/// Forgets `name`; whether there was such a secret.
pub fn delete(name: &str) -> bool {
    imp::delete(name)
}

#[cfg(target_os = "linux")]
mod imp {
    use linux_keyutils::{KeyRing, KeyRingIdentifier};

    fn ring() -> Result<KeyRing, String> {
        KeyRing::get_persistent(KeyRingIdentifier::User)
            .or_else(|_| KeyRing::from_special_id(KeyRingIdentifier::User, false))
            .map_err(|e| format!("no kernel keyring: {e:?}"))
    }

    pub fn set(name: &str, secret: &str) -> Result<(), String> {
        ring()?
            .add_key(name, secret.as_bytes())
            .map(|_| ())
            .map_err(|e| format!("the kernel keyring refused the key: {e:?}"))
    }

    pub fn get(name: &str) -> Option<String> {
        let key = ring().ok()?.search(name).ok()?;
        String::from_utf8(key.read_to_vec().ok()?).ok()
    }

    pub fn delete(name: &str) -> bool {
        ring()
            .ok()
            .and_then(|r| r.search(name).ok())
            .is_some_and(|k| k.invalidate().is_ok())
    }
}

#[cfg(any(target_os = "macos", target_os = "windows"))]
mod imp {
    fn entry(name: &str) -> Option<keyring::Entry> {
        keyring::Entry::new("jit", name).ok()
    }

    pub fn set(name: &str, secret: &str) -> Result<(), String> {
        entry(name)
            .ok_or("no keyring entry")?
            .set_password(secret)
            .map_err(|e| e.to_string())
    }

    pub fn get(name: &str) -> Option<String> {
        entry(name)?.get_password().ok()
    }

    pub fn delete(name: &str) -> bool {
        entry(name).is_some_and(|e| e.delete_credential().is_ok())
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
mod imp {
    pub fn set(_: &str, _: &str) -> Result<(), String> {
        Err("no OS keyring on this platform".to_string())
    }

    pub fn get(_: &str) -> Option<String> {
        None
    }

    pub fn delete(_: &str) -> bool {
        false
    }
}
