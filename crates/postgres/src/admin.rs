//! Where the admin login for an instance comes from: the bundle's Secrets Manager secret
//! (deployed) or one server given on the command line (local mode, tests).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Mutex;

use jit_core::database::Database;
use jit_core::ports::GrantError;
use serde::Deserialize;

/// How to sign in to an instance as its admin.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminLogin {
    /// Host to connect to.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Admin user.
    pub username: String,
    /// Admin password.
    pub password: String,
    /// Whether to use verified TLS.
    pub tls: bool,
    /// Extra certificate authorities (PEM), e.g. the RDS CA bundle.
    pub ca_pem: Option<String>,
}

impl fmt::Debug for AdminLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password: this may reach a log.
        f.debug_struct("AdminLogin")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// Gives the admin login for a bundle's database.
pub trait AdminSource: Send + Sync {
    /// The login for `db`'s instance.
    fn login(&self, db: &Database) -> impl Future<Output = Result<AdminLogin, GrantError>> + Send;
}

impl<T: AdminSource> AdminSource for std::sync::Arc<T> {
    fn login(&self, db: &Database) -> impl Future<Output = Result<AdminLogin, GrantError>> + Send {
        (**self).login(db)
    }
}

/// Every instance is this one server (`jit-local --postgres URL`, tests): the catalog's
/// endpoint and port are not used; its database names are.
#[derive(Clone)]
pub struct FixedServer {
    login: AdminLogin,
}

impl fmt::Debug for FixedServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.login.fmt(f)
    }
}

impl FixedServer {
    /// Reads `postgres://USER:PASSWORD@HOST:PORT[/…][?sslmode=require]`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or("expected postgres://USER:PASSWORD@HOST:PORT")?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let rest = rest.split('/').next().unwrap_or(rest);
        let (userinfo, hostport) = rest
            .rsplit_once('@')
            .ok_or("expected USER:PASSWORD@ before the host")?;
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("invalid port {p:?}"))?,
            ),
            None => (hostport, 5432),
        };
        if user.is_empty() || host.is_empty() {
            return Err("the URL needs a user and a host".into());
        }
        let decode =
            |s: &str| percent_decode(s).ok_or_else(|| "invalid %-escape in the URL".to_string());
        Ok(Self {
            login: AdminLogin {
                host: host.to_string(),
                port,
                username: decode(user)?,
                password: decode(password)?,
                tls: query
                    .split('&')
                    .any(|kv| kv == "sslmode=require" || kv == "sslmode=verify-full"),
                ca_pem: None,
            },
        })
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl FixedServer {
    /// The same server reached with verified TLS, trusting `ca_pem` (and the public roots).
    pub fn with_tls(mut self, ca_pem: Option<String>) -> Self {
        self.login.tls = true;
        self.login.ca_pem = ca_pem;
        self
    }
}

impl AdminSource for FixedServer {
    async fn login(&self, _: &Database) -> Result<AdminLogin, GrantError> {
        Ok(self.login.clone())
    }
}

/// Reads each bundle's `admin_secret` from Secrets Manager once, and keeps it. The secret is
/// JSON with `username` and `password` (the shape RDS-managed secrets have) and, optionally,
/// `ca_pem`; the host and port are the catalog's.
#[derive(Debug)]
pub struct SecretsAdmin {
    client: aws_sdk_secretsmanager::Client,
    read: Mutex<HashMap<String, Secret>>,
}

#[derive(Clone, Deserialize)]
struct Secret {
    username: String,
    password: String,
    #[serde(default)]
    ca_pem: Option<String>,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl SecretsAdmin {
    /// Reads secrets with `client`.
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self {
            client,
            read: Mutex::new(HashMap::new()),
        }
    }

    async fn secret(&self, id: &str) -> Result<Secret, GrantError> {
        if let Some(s) = self.read.lock().expect("not poisoned").get(id) {
            return Ok(s.clone());
        }
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| {
                let text = aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string();
                if text.contains("ResourceNotFound") || text.contains("AccessDenied") {
                    GrantError::Unknown(anyhow::anyhow!(
                        "the database admin secret {id} cannot be read: {}",
                        jit_core::text::one_line(&text)
                    ))
                } else {
                    GrantError::Retryable(format!(
                        "the database admin secret {id} cannot be read now: {}",
                        jit_core::text::one_line(&text)
                    ))
                }
            })?;
        let text = out.secret_string().unwrap_or_default();
        let secret: Secret = serde_json::from_str(text).map_err(|_| {
            GrantError::Unknown(anyhow::anyhow!(
                "the database admin secret {id} is not JSON with \"username\" and \"password\""
            ))
        })?;
        self.read
            .lock()
            .expect("not poisoned")
            .insert(id.to_string(), secret.clone());
        Ok(secret)
    }
}

impl AdminSource for SecretsAdmin {
    async fn login(&self, db: &Database) -> Result<AdminLogin, GrantError> {
        let secret = self.secret(&db.admin_secret).await?;
        Ok(AdminLogin {
            host: db.endpoint.clone(),
            port: db.port,
            username: secret.username,
            password: secret.password,
            tls: db.tls,
            ca_pem: secret.ca_pem,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_read_and_passwords_stay_out_of_debug() {
        let s = FixedServer::parse("postgres://jit%40admin:p%3As@127.0.0.1:5999/postgres").unwrap();
        assert_eq!(s.login.username, "jit@admin");
        assert_eq!(s.login.password, "p:s");
        assert_eq!(s.login.port, 5999);
        assert!(!s.login.tls);
        assert!(!format!("{s:?}").contains("p:s"));
        assert!(FixedServer::parse("mysql://x").is_err());
        assert!(FixedServer::parse("postgres://u:p@h:notaport").is_err());
    }
}
