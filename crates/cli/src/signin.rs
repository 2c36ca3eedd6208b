//! `jit login`, `jit logout` and the bearer token every other command sends.
//!
//! Sign-in is OpenID Connect against the issuer the API names in `GET /v1/config`, by one of:
//! - the authorization code flow with PKCE (S256) on a loopback redirect (RFC 8252): a
//!   one-request listener on 127.0.0.1 and a free port, the browser opened at the issuer's
//!   sign-in page; chosen when a browser can be opened here;
//! - the device authorization grant (RFC 8628): a code to enter on any device; chosen when no
//!   browser can be opened here and the issuer offers it.
//!
//! `--browser` and `--device` choose. Tokens are kept per profile (see [`crate::profile`]),
//! refreshed with the refresh token a minute before they expire, and never printed.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use base64::Engine;
use jit_contract::ClientConfig;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::profile::{Kept, Profile, Store, Tokens};
use crate::remote::{exit, Failure};

/// How `jit login` signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Whichever fits: the browser when one can be opened here, else the device code.
    Choose,
    /// The authorization code flow with PKCE on a loopback redirect, on `port` (0: any).
    Browser {
        /// The loopback port.
        port: u16,
    },
    /// The device authorization grant.
    Device,
}

/// The issuer's endpoints, from its discovery document.
#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: Option<String>,
    token_endpoint: String,
    device_authorization_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
    #[serde(default)]
    scopes_supported: Option<Vec<String>>,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
}

/// A token endpoint's answer (RFC 6749 §5.1) or error (§5.2).
#[derive(Debug, Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<i64>,
    refresh_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn failed(message: String) -> Failure {
    Failure {
        code: exit::FAILED,
        message,
    }
}

/// "Sign-in needed" (exit 4), naming the command that signs in.
pub fn needed(why: &str, profile: &str) -> Failure {
    Failure {
        code: exit::SIGN_IN,
        message: format!("{why}\nsign in: {}", login_command(profile)),
    }
}

/// The command that signs in to `profile`.
pub fn login_command(profile: &str) -> String {
    if profile == "default" {
        "jit login".to_string()
    } else {
        format!("jit login --profile {profile}")
    }
}

fn get_json(agent: &ureq::Agent, url: &str) -> Result<Value, Failure> {
    let mut res = agent
        .get(url)
        .call()
        .map_err(|e| failed(format!("cannot reach {url}: {e}")))?;
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().unwrap_or_default();
    if status >= 400 {
        return Err(failed(format!("{url} answered HTTP {status}")));
    }
    serde_json::from_str(&text).map_err(|e| failed(format!("{url} did not answer JSON: {e}")))
}

fn discover(agent: &ureq::Agent, issuer: &str) -> Result<Discovery, Failure> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let d: Discovery = serde_json::from_value(get_json(agent, &url)?).map_err(|e| {
        failed(format!(
            "{url} is not an OpenID Connect discovery document: {e}"
        ))
    })?;
    if d.issuer != issuer {
        return Err(failed(format!(
            "{url} names the issuer {}, not {issuer}; the API's configuration and the IdP disagree",
            d.issuer
        )));
    }
    Ok(d)
}

fn post_form(
    agent: &ureq::Agent,
    url: &str,
    form: &[(&str, &str)],
) -> Result<TokenAnswer, Failure> {
    let mut res = agent
        .post(url)
        .send_form(form.iter().copied())
        .map_err(|e| failed(format!("cannot reach {url}: {e}")))?;
    let text = res.body_mut().read_to_string().unwrap_or_default();
    serde_json::from_str(&text).map_err(|_| {
        failed(format!(
            "{url} answered HTTP {} with no OAuth answer",
            res.status().as_u16()
        ))
    })
}

fn tokens_of(answer: TokenAnswer, keep_refresh: Option<String>) -> Result<Tokens, String> {
    match answer {
        TokenAnswer {
            access_token: Some(access_token),
            expires_in,
            refresh_token,
            ..
        } => Ok(Tokens {
            access_token,
            expires_at: chrono::Utc::now().timestamp() + expires_in.unwrap_or(300),
            refresh_token: refresh_token.or(keep_refresh),
        }),
        TokenAnswer {
            error,
            error_description,
            ..
        } => Err(format!(
            "{}{}",
            error.unwrap_or_else(|| "no access token".to_string()),
            error_description
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        )),
    }
}

/// Whether a browser can be opened on this machine.
fn can_open_browser() -> bool {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    set("BROWSER")
        || cfg!(any(target_os = "macos", target_os = "windows"))
        || set("DISPLAY")
        || set("WAYLAND_DISPLAY")
}

/// Opens `url` in the browser: `$BROWSER` (a command; the URL is added as its last argument),
/// else the desktop's opener. Whether it started.
fn open_browser(url: &str) -> bool {
    let mut command = match std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty())
    {
        Some(b) => {
            let mut words = b.split_whitespace();
            let mut c = std::process::Command::new(words.next().unwrap_or_default());
            c.args(words);
            c
        }
        None if cfg!(target_os = "macos") => std::process::Command::new("open"),
        None if cfg!(target_os = "windows") => {
            let mut c = std::process::Command::new("rundll32");
            c.arg("url.dll,FileProtocolHandler");
            c
        }
        None => std::process::Command::new("xdg-open"),
    };
    command
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .is_ok()
}

/// The PKCE S256 code challenge of `verifier` (RFC 7636 §4.2).
fn challenge_of(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn random_text(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

/// The authorization code flow with PKCE on a loopback redirect.
fn browser_flow(
    agent: &ureq::Agent,
    d: &Discovery,
    client_id: &str,
    scope: &str,
    open: bool,
    port: u16,
) -> Result<Tokens, Failure> {
    let auth = d.authorization_endpoint.as_deref().ok_or_else(|| {
        failed(format!(
            "{} offers no authorization endpoint; sign in with --device",
            d.issuer
        ))
    })?;
    if let Some(methods) = &d.code_challenge_methods_supported {
        if !methods.iter().any(|m| m == "S256") {
            return Err(failed(format!(
                "{} does not support PKCE with S256; sign in with --device",
                d.issuer
            )));
        }
    }
    let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
        failed(format!(
            "cannot listen on 127.0.0.1:{port} for the sign-in redirect: {e}"
        ))
    })?;
    let port = listener
        .local_addr()
        .map_err(|e| failed(e.to_string()))?
        .port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let verifier = random_text(32);
    let challenge = challenge_of(&verifier);
    let state = random_text(16);
    // OpenID Connect Core §11: offline access (a refresh token) is asked for with consent.
    let prompt = if scope.split(' ').any(|s| s == "offline_access") {
        "&prompt=consent"
    } else {
        ""
    };
    let url = format!(
        "{auth}{}response_type=code&client_id={}&redirect_uri={}&scope={}&state={state}&code_challenge={challenge}&code_challenge_method=S256{prompt}",
        if auth.contains('?') { '&' } else { '?' },
        percent_encode(client_id),
        percent_encode(&redirect),
        percent_encode(scope),
    );
    if open && open_browser(&url) {
        eprintln!("Opening your browser to sign in. If it does not open, visit:\n  {url}");
    } else {
        eprintln!("To sign in, open this address in a browser on this machine:\n  {url}");
    }
    let code = wait_for_code(&listener, &state, Duration::from_secs(300))?;
    let answer = post_form(
        agent,
        &d.token_endpoint,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("client_id", client_id),
            ("code_verifier", &verifier),
        ],
    )?;
    tokens_of(answer, None).map_err(|e| failed(format!("the issuer refused the sign-in: {e}")))
}

/// Serves the loopback redirect until it brings the code (or an error) for `state`.
fn wait_for_code(listener: &TcpListener, state: &str, limit: Duration) -> Result<String, Failure> {
    let deadline = Instant::now() + limit;
    listener
        .set_nonblocking(true)
        .map_err(|e| failed(e.to_string()))?;
    loop {
        let (stream, _) = match listener.accept() {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(failed(
                        "no sign-in came back within 5 minutes; run jit login again".to_string(),
                    ));
                }
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            Err(e) => return Err(failed(format!("the sign-in redirect: {e}"))),
        };
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let mut reader = BufReader::new(&stream);
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() {
            continue;
        }
        let target = line.split_whitespace().nth(1).unwrap_or("");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let reply = |status: &str, text: &str| {
            let body = format!(
                "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>jit</title></head><body><p>{text}</p></body></html>"
            );
            let mut s = &stream;
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        };
        if path != "/callback" {
            reply("404 Not Found", "Not here.");
            continue;
        }
        if query_param(query, "state").as_deref() != Some(state) {
            reply("400 Bad Request", "This sign-in does not belong to the jit login that is waiting. Run jit login again.");
            continue;
        }
        if let Some(error) = query_param(query, "error") {
            reply("400 Bad Request", "Sign-in failed. See the terminal.");
            let why = query_param(query, "error_description").unwrap_or_default();
            return Err(failed(format!(
                "the issuer refused the sign-in: {}{}",
                jit_core::text::one_line(&error),
                if why.is_empty() {
                    String::new()
                } else {
                    format!(": {}", jit_core::text::one_line(&why))
                }
            )));
        }
        match query_param(query, "code") {
            Some(code) => {
                reply(
                    "200 OK",
                    "Signed in. You can close this tab and go back to the terminal.",
                );
                return Ok(code);
            }
            None => reply("400 Bad Request", "No code came back. Run jit login again."),
        }
    }
}

/// The device authorization grant.
fn device_flow(
    agent: &ureq::Agent,
    d: &Discovery,
    client_id: &str,
    scope: &str,
) -> Result<Tokens, Failure> {
    let endpoint = d.device_authorization_endpoint.as_deref().ok_or_else(|| {
        failed(format!(
            "{} offers no device sign-in; sign in with --browser",
            d.issuer
        ))
    })?;
    let mut res = agent
        .post(endpoint)
        .send_form([("client_id", client_id), ("scope", scope)])
        .map_err(|e| failed(format!("cannot reach {endpoint}: {e}")))?;
    let v: Value = res
        .body_mut()
        .read_json()
        .map_err(|e| failed(format!("{endpoint}: {e}")))?;
    let (Some(device_code), Some(user_code), Some(uri)) = (
        v["device_code"].as_str(),
        v["user_code"].as_str(),
        v["verification_uri"].as_str(),
    ) else {
        return Err(failed(format!(
            "{endpoint} refused: {}",
            jit_core::text::one_line(
                v["error_description"]
                    .as_str()
                    .or(v["error"].as_str())
                    .unwrap_or("no device code")
            )
        )));
    };
    let mut interval = Duration::from_secs(v["interval"].as_u64().unwrap_or(5));
    let deadline = Instant::now() + Duration::from_secs(v["expires_in"].as_u64().unwrap_or(600));
    eprintln!(
        "To sign in, open {} and enter the code {}",
        jit_core::text::one_line(uri),
        jit_core::text::one_line(user_code)
    );
    if let Some(complete) = v["verification_uri_complete"].as_str() {
        eprintln!("  or open: {}", jit_core::text::one_line(complete));
    }
    eprintln!("Waiting for you to sign in...");
    loop {
        if Instant::now() >= deadline {
            return Err(failed(
                "the code expired before sign-in finished; run jit login again".to_string(),
            ));
        }
        std::thread::sleep(poll_interval(interval));
        let answer = post_form(
            agent,
            &d.token_endpoint,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", device_code),
                ("client_id", client_id),
            ],
        )?;
        match answer.error.as_deref() {
            Some("authorization_pending") => {}
            Some("slow_down") => interval += Duration::from_secs(5),
            Some("access_denied") => return Err(failed("the sign-in was declined".to_string())),
            Some("expired_token") => {
                return Err(failed(
                    "the code expired before sign-in finished; run jit login again".to_string(),
                ))
            }
            _ => {
                return tokens_of(answer, None)
                    .map_err(|e| failed(format!("the issuer refused the sign-in: {e}")))
            }
        }
    }
}

/// How long to wait between polls: the issuer's interval, shortened only by
/// `JIT_DEVICE_POLL_MS` (tests).
fn poll_interval(issuer_says: Duration) -> Duration {
    std::env::var("JIT_DEVICE_POLL_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(issuer_says)
}

/// The scopes to ask for: what the API names, and `offline_access` (for a refresh token) where
/// the issuer offers it or does not say.
fn scopes(asked: &[String], d: &Discovery) -> String {
    let mut all: Vec<String> = asked.to_vec();
    if !all.iter().any(|s| s == "openid") {
        all.insert(0, "openid".to_string());
    }
    let offered = d
        .scopes_supported
        .as_ref()
        .is_none_or(|s| s.iter().any(|x| x == "offline_access"));
    if offered && !all.iter().any(|s| s == "offline_access") {
        all.push("offline_access".to_string());
    }
    all.join(" ")
}

/// Signs in to the API at `api` and keeps its profile as `name` (the default one when it is
/// the first). What it prints is on stderr; the caller says who the API then says you are.
pub fn login(
    agent: &ureq::Agent,
    store: &Store,
    name: &str,
    api: &str,
    config: &ClientConfig,
    method: Method,
    open: bool,
) -> Result<(Profile, Option<Kept>), Failure> {
    let mut file = store.load().map_err(failed)?;
    let mut kept = None;
    let mut profile = Profile {
        api: api.to_string(),
        issuer: config.oidc_issuer.clone(),
        client_id: config.oidc_client_id.clone(),
        scopes: config.oidc_scopes.clone(),
    };
    if let (Some(issuer), Some(client_id)) = (&config.oidc_issuer, &config.oidc_client_id) {
        let d = discover(agent, issuer)?;
        let scope = scopes(&config.oidc_scopes, &d);
        profile.scopes = scope.split(' ').map(str::to_string).collect();
        let browser_port = match method {
            Method::Browser { port } => Some(port),
            Method::Device => None,
            Method::Choose => ((can_open_browser() && d.authorization_endpoint.is_some())
                || d.device_authorization_endpoint.is_none())
            .then_some(0),
        };
        let tokens = match browser_port {
            Some(port) => browser_flow(agent, &d, client_id, &scope, open, port)?,
            None => device_flow(agent, &d, client_id, &scope)?,
        };
        kept = Some(store.keep(name, &tokens).map_err(failed)?);
    } else if config.auth == "jwt" {
        return Err(failed(format!(
            "{api} takes tokens but names no OIDC issuer and client id in GET /v1/config; ask its operators"
        )));
    }
    if file.default.is_none() || file.profiles.is_empty() {
        file.default = Some(name.to_string());
    }
    file.profiles.insert(name.to_string(), profile.clone());
    store.save(&file).map_err(failed)?;
    Ok((profile, kept))
}

/// The bearer token for `name`: the kept one, refreshed when it ends within a minute.
pub fn bearer(
    agent: &ureq::Agent,
    store: &Store,
    name: &str,
    profile: &Profile,
) -> Result<String, Failure> {
    let Some(tokens) = store.tokens(name) else {
        return Err(needed(
            &format!("you are not signed in to {}", profile.api),
            name,
        ));
    };
    if tokens.expires_at - 60 > chrono::Utc::now().timestamp() {
        return Ok(tokens.access_token);
    }
    let (Some(refresh), Some(issuer), Some(client_id)) =
        (&tokens.refresh_token, &profile.issuer, &profile.client_id)
    else {
        return Err(needed(
            &format!("your sign-in to {} has expired", profile.api),
            name,
        ));
    };
    let d = discover(agent, issuer)?;
    let answer = post_form(
        agent,
        &d.token_endpoint,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", client_id),
        ],
    )?;
    match tokens_of(answer, Some(refresh.clone())) {
        Ok(fresh) => {
            store.keep(name, &fresh).map_err(failed)?;
            Ok(fresh.access_token)
        }
        Err(_) => {
            let _ = store.forget(name);
            Err(needed(
                &format!("your sign-in to {} has expired", profile.api),
                name,
            ))
        }
    }
}

/// Forgets `name`'s tokens, revoking the refresh token where the issuer allows. Whether there
/// were any.
pub fn logout(
    agent: &ureq::Agent,
    store: &Store,
    name: &str,
    profile: &Profile,
) -> Result<bool, Failure> {
    if let (Some(tokens), Some(issuer), Some(client_id)) =
        (store.tokens(name), &profile.issuer, &profile.client_id)
    {
        // Best effort: the tokens are forgotten here whatever the issuer says.
        if let (Ok(d), Some(refresh)) = (discover(agent, issuer), &tokens.refresh_token) {
            if let Some(revoke) = &d.revocation_endpoint {
                let _ = agent.post(revoke).send_form([
                    ("token", refresh.as_str()),
                    ("token_type_hint", "refresh_token"),
                    ("client_id", client_id.as_str()),
                ]);
            }
        }
    }
    store.forget(name).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_decoded() {
        let q = "code=a%2Fb+c&state=xyz&error_description=no%20way";
        assert_eq!(query_param(q, "code").as_deref(), Some("a/b c"));
        assert_eq!(query_param(q, "state").as_deref(), Some("xyz"));
        assert_eq!(
            query_param(q, "error_description").as_deref(),
            Some("no way")
        );
        assert_eq!(query_param(q, "missing"), None);
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_encode("openid jit/use"), "openid%20jit%2Fuse");
    }

    #[test]
    fn offline_access_is_asked_for_where_offered_or_unsaid() {
        let d = |s: Option<Vec<&str>>| Discovery {
            issuer: "i".into(),
            authorization_endpoint: None,
            token_endpoint: "t".into(),
            device_authorization_endpoint: None,
            revocation_endpoint: None,
            scopes_supported: s.map(|v| v.into_iter().map(String::from).collect()),
            code_challenge_methods_supported: None,
        };
        let asked = [
            "openid".to_string(),
            "email".to_string(),
            "jit/use".to_string(),
        ];
        assert_eq!(
            scopes(&asked, &d(None)),
            "openid email jit/use offline_access"
        );
        assert_eq!(
            scopes(&asked, &d(Some(vec!["openid"]))),
            "openid email jit/use"
        );
        assert_eq!(
            scopes(&["jit/use".to_string()], &d(Some(vec!["offline_access"]))),
            "openid jit/use offline_access"
        );
    }

    #[test]
    fn a_pkce_challenge_is_the_s256_of_its_verifier() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(random_text(32).len(), 43, "32 octets: the RFC's length");
    }
}
