//! Profiles and the tokens they sign in with.
//!
//! `~/.config/jit/config.toml` (or `$XDG_CONFIG_HOME/jit`, or `$JIT_CONFIG_DIR`) names each
//! API a person uses and how it signs in, as `jit login --api URL` found it in the API's
//! `GET /v1/config`:
//!
//! ```toml
//! default = "prod"
//!
//! [profiles.prod]
//! api = "https://abc123.execute-api.eu-west-1.amazonaws.com"
//! issuer = "https://example.okta.com/oauth2/default"
//! client_id = "0oa1b2c3d4"
//! scopes = ["openid", "email", "jit/use", "offline_access"]
//! ```
//!
//! Tokens are kept apart from it and never printed: in the OS keyring (the macOS Keychain, the
//! Windows Credential Manager, the Linux kernel's persistent keyring), or, where there is none
//! or `JIT_TOKEN_STORE=file`, in one file per profile under `credentials/`, readable by the
//! owner only (0600, in a 0700 directory).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The config file.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The profile used when none is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// The profiles by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// One API and how to sign in to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The API's base URL.
    pub api: String,
    /// The OIDC issuer; absent for a jit-local without one (it takes `--as`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The client id to sign in with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The scopes to ask for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

/// What a sign-in left: kept per profile, never printed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tokens {
    /// The bearer token the API takes.
    pub access_token: String,
    /// When the access token stops working (Unix seconds).
    pub expires_at: i64,
    /// To get a new access token without signing in again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// Where the config file and the credentials live.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    /// Whether tokens go to the OS keyring first.
    keyring: bool,
}

/// Where a profile's tokens were kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// In the OS keyring.
    Keyring,
    /// In this file (0600).
    File(PathBuf),
}

impl std::fmt::Display for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kept::Keyring => write!(f, "the OS keyring"),
            Kept::File(p) => write!(f, "{} (readable only by you)", p.display()),
        }
    }
}

/// A profile name: letters, digits, `-` and `_` (it names a file).
pub fn valid_name(name: &str) -> Result<(), String> {
    if !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(())
    } else {
        Err(format!(
            "profile {name:?}: use letters, digits, - and _ (at most 64)"
        ))
    }
}

impl Store {
    /// `$JIT_CONFIG_DIR`, else `$XDG_CONFIG_HOME/jit`, else `~/.config/jit`.
    pub fn locate() -> Self {
        let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let dir = env("JIT_CONFIG_DIR")
            .map(PathBuf::from)
            .or_else(|| env("XDG_CONFIG_HOME").map(|d| PathBuf::from(d).join("jit")))
            .or_else(|| {
                env("HOME")
                    .or_else(|| env("USERPROFILE"))
                    .map(|h| PathBuf::from(h).join(".config").join("jit"))
            })
            .unwrap_or_else(|| PathBuf::from(".jit"));
        let keyring = !std::env::var("JIT_TOKEN_STORE").is_ok_and(|v| v == "file");
        Self { dir, keyring }
    }

    /// The keyring entry's name for `profile`: `jit:` with the profile and this config
    /// directory (two config directories never share an entry).
    fn entry(&self, profile: &str) -> Option<String> {
        if !self.keyring {
            return None;
        }
        use sha2::Digest;
        let dir = std::path::absolute(&self.dir).unwrap_or_else(|_| self.dir.clone());
        let tag: String = sha2::Sha256::digest(dir.to_string_lossy().as_bytes())[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Some(format!("jit:{profile}@{tag}"))
    }

    /// The config file's path.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.toml")
    }

    fn credentials(&self, profile: &str) -> PathBuf {
        self.dir.join("credentials").join(format!("{profile}.json"))
    }

    /// The config file; an empty one when there is none.
    pub fn load(&self) -> Result<Config, String> {
        let path = self.config_path();
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| {
                format!(
                    "{}: {e}; fix it or remove it and run jit login again",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// Writes the config file (whole, through a temporary file).
    pub fn save(&self, config: &Config) -> Result<(), String> {
        let text = toml::to_string(config).map_err(|e| e.to_string())?;
        write_private(&self.config_path(), text.as_bytes())
    }

    /// The tokens kept for `profile`, if any: the keyring's, else the file's.
    pub fn tokens(&self, profile: &str) -> Option<Tokens> {
        let from_keyring = self
            .entry(profile)
            .and_then(|e| crate::keychain::get(&e))
            .and_then(|text| serde_json::from_str(&text).ok());
        from_keyring.or_else(|| {
            let text = std::fs::read_to_string(self.credentials(profile)).ok()?;
            serde_json::from_str(&text).ok()
        })
    }

    /// Keeps `tokens` for `profile`: in the OS keyring, or where there is none (or it refuses),
    /// in a file readable by the owner only. Where they went.
    pub fn keep(&self, profile: &str, tokens: &Tokens) -> Result<Kept, String> {
        let text = serde_json::to_string(tokens).map_err(|e| e.to_string())?;
        if let Some(entry) = self.entry(profile) {
            if crate::keychain::set(&entry, &text).is_ok() {
                // No older copy left behind in a file.
                let _ = std::fs::remove_file(self.credentials(profile));
                return Ok(Kept::Keyring);
            }
        }
        let path = self.credentials(profile);
        write_private(&path, text.as_bytes())?;
        Ok(Kept::File(path))
    }

    /// Forgets the tokens of `profile`, wherever they were; whether there were any.
    pub fn forget(&self, profile: &str) -> Result<bool, String> {
        let in_keyring = self
            .entry(profile)
            .is_some_and(|e| crate::keychain::delete(&e));
        let path = self.credentials(profile);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(in_keyring),
            Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
        }
    }
}

/// Writes `bytes` to `path` as a new file only its owner can read (0600 in a 0700 directory on
/// Unix), then renames it into place, so a reader never sees half a file.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let fail = |what: &str, e: std::io::Error| format!("cannot {what} {}: {e}", dir.display());
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| fail("create", e))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    written
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            fail("write in", e)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        std::env::temp_dir().join(format!(
            "jit-profile-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ))
    }

    fn store() -> Store {
        Store {
            dir: dir(),
            keyring: false,
        }
    }

    #[test]
    fn a_config_round_trips_and_tokens_are_private() {
        let s = store();
        assert!(s.load().unwrap().profiles.is_empty(), "no file: empty");
        let mut c = Config {
            default: Some("prod".into()),
            ..Config::default()
        };
        c.profiles.insert(
            "prod".into(),
            Profile {
                api: "https://api.example.com".into(),
                issuer: Some("https://idp.example.com".into()),
                client_id: Some("jit-cli".into()),
                scopes: vec!["openid".into(), "jit/use".into()],
            },
        );
        s.save(&c).unwrap();
        let back = s.load().unwrap();
        assert_eq!(back.default.as_deref(), Some("prod"));
        assert_eq!(back.profiles["prod"], c.profiles["prod"]);

        let t = Tokens {
            access_token: "a.b.c".into(),
            expires_at: 1,
            refresh_token: Some("r".into()),
        };
        assert_eq!(
            s.keep("prod", &t).unwrap(),
            Kept::File(s.credentials("prod"))
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&s.credentials("prod")), 0o600);
            assert_eq!(mode(s.credentials("prod").parent().unwrap()), 0o700);
        }
        assert_eq!(s.tokens("prod").unwrap().access_token, "a.b.c");
        assert!(s.forget("prod").unwrap());
        assert!(!s.forget("prod").unwrap(), "already gone");
        assert!(s.tokens("prod").is_none());
        let _ = std::fs::remove_dir_all(&s.dir);
    }

    #[test]
    fn a_broken_config_file_says_where_and_what_to_do() {
        let s = store();
        std::fs::create_dir_all(&s.dir).unwrap();
        std::fs::write(s.config_path(), "profiles = 3\n").unwrap();
        let e = s.load().unwrap_err();
        assert!(e.contains("config.toml") && e.contains("jit login"), "{e}");
        let _ = std::fs::remove_dir_all(&s.dir);
    }

    #[test]
    fn profile_names_are_file_safe() {
        assert!(valid_name("prod-eu_1").is_ok());
        for bad in ["", "../x", "a/b", "a b"] {
            assert!(valid_name(bad).is_err(), "{bad:?}");
        }
    }

    /// On Linux, the kernel's persistent keyring (keyutils). A kernel that refuses keys (a
    /// container whose seccomp profile blocks add_key, say) has none: then the file, and the
    /// test says which it checked.
    #[test]
    fn tokens_go_to_the_os_keyring_where_there_is_one_and_to_the_file_elsewhere() {
        let probe = format!("jit:probe-{}", rand::random::<u32>());
        let has_keyring = crate::keychain::set(&probe, "x").is_ok();
        crate::keychain::delete(&probe);
        eprintln!("this machine has an OS keyring: {has_keyring}");

        let s = Store {
            dir: dir(),
            keyring: true,
        };
        let t = Tokens {
            access_token: "k.e.y".into(),
            expires_at: 2,
            refresh_token: None,
        };
        let kept = s.keep("default", &t).unwrap();
        if has_keyring {
            assert_eq!(kept, Kept::Keyring);
            assert!(
                !s.credentials("default").exists(),
                "no file beside the keyring"
            );
        } else {
            assert_eq!(kept, Kept::File(s.credentials("default")));
        }
        assert_eq!(s.tokens("default").unwrap().access_token, "k.e.y");
        // Another config directory is another entry.
        let other = Store {
            dir: dir(),
            keyring: true,
        };
        assert!(other.tokens("default").is_none());
        assert!(s.forget("default").unwrap());
        assert!(s.tokens("default").is_none(), "gone");
        assert!(!s.forget("default").unwrap());
    }
}
