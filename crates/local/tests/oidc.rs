//! `jit-local --oidc-issuer` checks bearer tokens as the deployed JWT authorizer does. A real
//! token from the OpenID Connect provider scripts/test.sh starts (tests/oidc/server.mjs) is
//! taken; tokens wrong in exactly one way are refused with 401 and a reason. The wrong ones are
//! signed with the provider's own key (it writes it for the tests) unless the point is the key.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

struct Local {
    child: Child,
    url: String,
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn issuer() -> String {
    std::env::var("JIT_TEST_OIDC_ISSUER").expect(
        "JIT_TEST_OIDC_ISSUER is not set: these tests need the OIDC provider that \
         scripts/test.sh starts (node tests/oidc/server.mjs); run them through it",
    )
}

fn keys() -> PathBuf {
    PathBuf::from(std::env::var("JIT_TEST_OIDC_KEYS").expect(
        "JIT_TEST_OIDC_KEYS is not set: scripts/test.sh sets it beside JIT_TEST_OIDC_ISSUER",
    ))
}

fn start(extra: &[&str]) -> Local {
    use std::io::BufRead;
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../catalog/examples");
    let mut child = Command::new(env!("CARGO_BIN_EXE_jit-local"))
        .args(["--port", "0", "--in-memory", "--catalog"])
        .arg(&examples)
        .args(["--oidc-issuer", &issuer()])
        .args(if extra.contains(&"--oidc-audience") {
            &[][..]
        } else {
            // The API, as the test provider's access tokens name it.
            &["--oidc-audience", "urn:jit:api"][..]
        })
        .args(extra)
        .env_remove("AWS_ENDPOINT_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("jit-local starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(url) = line.strip_prefix("jit-local listening on ") {
                let _ = tx.send(url.to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("jit-local prints where it listens");
    Local { child, url }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// GET `path` with `token` (and any extra header); the status and the JSON answer.
fn get(
    local: &Local,
    path: &str,
    token: Option<&str>,
    header: Option<(&str, &str)>,
) -> (u16, Value) {
    let mut req = agent().get(format!("{}{path}", local.url));
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    if let Some((k, v)) = header {
        req = req.header(k, v);
    }
    let mut res = req.call().unwrap();
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A token as the provider issues it after `email` signs in with a device code (the person
/// played by tests/oidc/person.mjs).
fn real_token(email: &str) -> String {
    let iss = issuer();
    let a = agent();
    let scope = "openid email offline_access jit/use";
    let started: Value = a
        .post(format!("{iss}/device/auth"))
        .send_form([("client_id", "jit-cli"), ("scope", scope)])
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    let person = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc/person.mjs");
    let signed = Command::new("node")
        .arg(&person)
        .arg(email)
        .arg(started["verification_uri_complete"].as_str().unwrap())
        .output()
        .expect("node runs");
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let answer: Value = a
        .post(format!("{iss}/token"))
        .send_form([
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", started["device_code"].as_str().unwrap()),
            ("client_id", "jit-cli"),
        ])
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    answer["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token: {answer}"))
        .to_string()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims as the provider writes them for `email`.
fn claims(email: &str) -> Value {
    json!({
        "iss": issuer(), "sub": email, "email": email, "aud": "urn:jit:api",
        "client_id": "jit-cli", "scope": "jit/use", "iat": now(), "exp": now() + 300,
    })
}

fn sign_with(pem: &str, kid: &str, alg: Algorithm, claims: &Value) -> String {
    let key = std::fs::read(keys().join(pem)).unwrap();
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(&key).unwrap()).unwrap()
}

/// Signed with the provider's own key, under its key id.
fn signed(claims: &Value) -> String {
    let kid = std::fs::read_to_string(keys().join("kid")).unwrap();
    sign_with("signing.pem", kid.trim(), Algorithm::RS256, claims)
}

fn b64(v: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

#[test]
fn a_real_token_names_the_caller_and_the_config_names_the_issuer() {
    let local = start(&[]);
    let config = get(&local, "/v1/config", None, None).1;
    assert_eq!(config["auth"], "jwt");
    assert_eq!(config["oidc_issuer"], issuer());
    assert_eq!(config["oidc_client_id"], "jit-cli");
    assert_eq!(config["oidc_scopes"], json!(["openid", "email", "jit/use"]));

    let token = real_token("carol@example.com");
    let (status, me) = get(&local, "/v1/me", Some(&token), None);
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["email"], "carol@example.com");
    assert_eq!(me["groups"], json!(["data"]));

    // The header that names callers in plain local mode names no one here.
    let (status, body) = get(
        &local,
        "/v1/me",
        None,
        Some(("X-Jit-User", "frank@example.com")),
    );
    assert_eq!(status, 401, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("X-Jit-User is not accepted"));
    // With a token, the token decides.
    let (_, me) = get(
        &local,
        "/v1/me",
        Some(&token),
        Some(("X-Jit-User", "frank@example.com")),
    );
    assert_eq!(me["email"], "carol@example.com");
    // Public routes stay public.
    assert_eq!(get(&local, "/v1/openapi.json", None, None).0, 200);
}

#[test]
fn tokens_wrong_in_any_one_way_are_refused_with_401_and_why() {
    let local = start(&[]);
    let kid = std::fs::read_to_string(keys().join("kid")).unwrap();
    let kid = kid.trim();
    // The forging is right: unchanged claims under the real key are taken.
    let (status, me) = get(
        &local,
        "/v1/me",
        Some(&signed(&claims("bob@example.com"))),
        None,
    );
    assert_eq!(status, 200, "{me}");

    let with = |k: &str, v: Value| {
        let mut c = claims("bob@example.com");
        c[k] = v;
        c
    };
    let without = |k: &str| {
        let mut c = claims("bob@example.com");
        c.as_object_mut().unwrap().remove(k);
        c
    };
    let public_pem = {
        // The public half, as an HMAC secret: the classic algorithm confusion.
        let jwks: Value = agent()
            .get(format!("{}/jwks", issuer()))
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap();
        jwks["keys"][0]["n"].as_str().unwrap().to_string()
    };
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some(kid.to_string());
    let confused = jsonwebtoken::encode(
        &hs,
        &claims("bob@example.com"),
        &EncodingKey::from_secret(public_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    let none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT", "kid": kid})
            .to_string()
            .as_bytes()),
        b64(claims("bob@example.com").to_string().as_bytes())
    );
    let mut for_another_app = with("aud", json!("urn:other:api"));
    for_another_app["client_id"] = json!("other-app");
    let mut other = claims("bob@example.com");
    other["iss"] = json!("https://idp.example.net");
    let cases: Vec<(&str, String, &str)> = vec![
        ("wrong audience", signed(&for_another_app), "audience"),
        ("expired", signed(&with("exp", json!(now() - 5))), "expired"),
        (
            "not yet valid",
            signed(&with("nbf", json!(now() + 600))),
            "refused",
        ),
        ("alg none", none, "not a signed JWT"),
        ("HS256 with the public key", confused, "only RS256"),
        (
            "wrong key",
            sign_with(
                "stranger.pem",
                kid,
                Algorithm::RS256,
                &claims("bob@example.com"),
            ),
            "signature",
        ),
        (
            "foreign issuer, its own key",
            sign_with("stranger.pem", "their-key", Algorithm::RS256, &other),
            "does not publish",
        ),
        (
            "foreign issuer, the real key",
            signed(&other),
            "issued by someone else",
        ),
        ("no scope", signed(&without("scope")), "scope jit/use"),
        (
            "another scope",
            signed(&with("scope", json!("openid email"))),
            "scope jit/use",
        ),
        ("no email", signed(&without("email")), "email claim"),
        (
            "an email that is not one",
            signed(&with("email", json!("bob"))),
            "email",
        ),
        ("no expiry", signed(&without("exp")), "refused"),
        ("not a JWT", "abc".to_string(), "not a signed JWT"),
    ];
    for (what, token, why) in cases {
        let (status, body) = get(&local, "/v1/me", Some(&token), None);
        assert_eq!(status, 401, "{what}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(why), "{what}: {message}");
    }
    // A Bearer with nothing after it, and another scheme, are no tokens either.
    let (status, _) = get(
        &local,
        "/v1/me",
        None,
        Some(("Authorization", "Basic Ym9iOng=")),
    );
    assert_eq!(status, 401);
}

#[test]
fn the_audience_and_scope_are_the_deployment_s_to_set() {
    // As API Gateway: a token with no aud is for the audience its client_id names (Cognito's
    // access tokens); with an aud, client_id does not count. No scope required here.
    let local = start(&["--oidc-audience", "jit-cli", "--oidc-scope", ""]);
    let mut cognito_like = claims("alice@example.com");
    let c = cognito_like.as_object_mut().unwrap();
    c.remove("aud");
    c.remove("scope");
    let (status, me) = get(&local, "/v1/me", Some(&signed(&cognito_like)), None);
    assert_eq!(status, 200, "{me}");
    let (status, body) = get(
        &local,
        "/v1/me",
        Some(&signed(&claims("alice@example.com"))),
        None,
    );
    assert_eq!(
        status, 401,
        "aud urn:jit:api is not jit-cli, whatever client_id says: {body}"
    );
    cognito_like["client_id"] = json!("other-app");
    assert_eq!(
        get(&local, "/v1/me", Some(&signed(&cognito_like)), None).0,
        401
    );
    assert_eq!(
        get(&local, "/v1/config", None, None).1["oidc_scopes"],
        json!(["openid", "email"])
    );
    // An issuer that is not one stops jit-local at once, saying so.
    let out = Command::new(env!("CARGO_BIN_EXE_jit-local"))
        .args([
            "--port",
            "0",
            "--in-memory",
            "--oidc-issuer",
            "http://127.0.0.1:9/nowhere",
        ])
        .arg("--catalog")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../catalog/examples"))
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("cannot use the OIDC issuer http://127.0.0.1:9/nowhere"),
        "{said}"
    );
}
