//! Sign-in end to end, with real tokens: jit-local checking bearer tokens from the OpenID
//! Connect provider scripts/test.sh starts (tests/oidc/server.mjs, the `oidc-provider`
//! package), and people signing in with `jit login`, in the browser (authorization code with
//! PKCE on a loopback redirect) and with a device code, then asking, approving and using.

mod common;
use common::*;

fn start_signed() -> Local {
    // The test provider's access tokens name the API `urn:jit:api` (aud) and the CLI
    // `jit-cli` (client_id), as Okta's and Entra ID's do.
    start_with(&[
        "--in-memory",
        "--oidc-issuer",
        &issuer(),
        "--oidc-audience",
        "urn:jit:api",
    ])
}

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn login_then_request_approve_and_use_with_real_tokens() {
    let local = start_signed();
    // Carol keeps her sign-in where jit keeps it by default: the OS keyring.
    let mut carol = Someone::new(&local, "carol");
    carol.keyring = true;
    let dave = Someone::new(&local, "dave");
    let erin = Someone::new(&local, "erin");

    // Before signing in: exit 4, naming the command.
    let out = carol.jit(&["--api", &local.url, "whoami"]);
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("jit login --api"), "{}", stderr(&out));

    // Carol signs in with the browser; jit remembers the API as her default profile.
    let said = carol.login_in_browser(&local.url);
    assert!(
        said.contains(&format!("Signed in to {} as carol@example.com", local.url)),
        "{said}"
    );
    // Where the machine has one (this one: see the profile unit test), the OS keyring.
    let in_keyring = said.contains("kept in the OS keyring");
    assert!(
        in_keyring || said.contains("readable only by you"),
        "{said}"
    );
    let config = std::fs::read_to_string(carol.config.join("config.toml")).unwrap();
    assert!(config.contains("default = \"default\""), "{config}");
    assert!(config.contains(&issuer()), "{config}");
    assert_eq!(
        carol.config.join("credentials/default.json").exists(),
        !in_keyring,
        "a token file only where there is no keyring"
    );
    assert!(!said.contains("eyJ"), "tokens are never printed: {said}");

    // From now on one profile is all she needs: no --api, no --as.
    let me = carol.ok(&["whoami"]);
    assert!(me.contains("carol@example.com"), "{me}");
    assert!(me.contains("groups: data"), "{me}");
    assert!(
        me.contains("prod-pii") && me.contains("rds-prod-pii"),
        "{me}"
    );
    let asked: serde_json::Value = serde_json::from_str(&carol.ok(&[
        "--json",
        "request",
        "rds-prod-pii",
        "--for",
        "1h",
        "--reason",
        "INC-7 customer data",
        "--ticket",
        "INC-7",
        "--no-wait",
    ]))
    .unwrap();
    let id = asked["id"].as_str().unwrap().to_string();
    assert_eq!(asked["requester"], "carol@example.com");
    assert_eq!(asked["status"], "pending");

    // Dave signs in with a device code, Erin with the browser; both approve.
    let said = dave.login_on_device(&local.url);
    assert!(said.contains("enter the code"), "{said}");
    assert!(said.contains("Signed in to"), "{said}");
    assert!(dave.ok(&["approvals"]).contains(&id));
    dave.ok(&["approve", &id, "-m", "ok for INC-7"]);
    erin.login_in_browser(&local.url);
    erin.ok(&["approve", &id, "-m", "fine"]);

    // Carol's grant is active, and the audit names each person as their token did.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let v: serde_json::Value =
            serde_json::from_str(&carol.ok(&["--json", "status", &id])).unwrap();
        if v["status"] == "active" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never active: {v}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let audit = carol.ok(&["audit", "--bundle", "rds-prod-pii", "--csv"]);
    for who in ["carol@example.com", "dave@example.com", "erin@example.com"] {
        assert!(audit.contains(who), "{who} in the audit: {audit}");
    }

    // A local-mode header is no way around the tokens.
    let out = local.jit(Some("frank"), &["list"]);
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("X-Jit-User is not accepted"),
        "{}",
        stderr(&out)
    );

    // Signing out takes the tokens out of the keyring too (and leaves none behind).
    for who in [&carol, &dave, &erin] {
        assert!(who.ok(&["logout"]).contains("Signed out of"));
    }
    assert_eq!(code(&carol.jit(&["whoami"])), Some(4));
}

#[test]
fn tokens_are_refreshed_silently_and_a_dead_sign_in_says_how_to_sign_in_again() {
    let local = start_signed();
    // Bob keeps his in the file (JIT_TOKEN_STORE=file, or a machine with no keyring).
    let bob = Someone::new(&local, "bob");
    let said = bob.login_in_browser(&local.url);
    let path = bob.config.join("credentials/default.json");
    assert!(said.contains("readable only by you"), "{said}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let dir = std::fs::metadata(path.parent().unwrap()).unwrap();
        assert_eq!(dir.permissions().mode() & 0o777, 0o700);
    }
    let kept = std::fs::read_to_string(&path).unwrap();
    assert!(!said.contains(&kept[20..60]), "tokens are never printed");
    let read = || -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    };
    let before = read();
    assert!(
        before["refresh_token"].is_string(),
        "offline_access was asked for"
    );

    // The access token has (as far as jit knows) run out: the next command refreshes it.
    let mut stale = before.clone();
    stale["expires_at"] = serde_json::json!(0);
    std::fs::write(&path, stale.to_string()).unwrap();
    assert!(bob.ok(&["whoami"]).contains("bob@example.com"));
    let after = read();
    assert_ne!(after["access_token"], before["access_token"], "a new token");
    assert!(after["expires_at"].as_i64().unwrap() > 0);

    // A refresh token the issuer no longer honours: sign-in needed, exit 4, saying how.
    let mut dead = after.clone();
    dead["expires_at"] = serde_json::json!(0);
    dead["refresh_token"] = serde_json::json!("revoked-or-expired");
    std::fs::write(&path, dead.to_string()).unwrap();
    let out = bob.jit(&["list"]);
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sign in: jit login"),
        "{}",
        stderr(&out)
    );

    // --json: the error as JSON too.
    let out = bob.jit(&["--json", "list"]);
    assert_eq!(code(&out), Some(4));
    let e: serde_json::Value = serde_json::from_str(stderr(&out).trim()).unwrap();
    assert_eq!(e["error"]["exit"], 4);

    // Signed in again, on a fixed redirect port (for an IdP that registers the exact URI),
    // then out: the tokens are gone and the next call asks for sign-in.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let out = bob
        .command(
            &["login", "--port", &port],
            &[("BROWSER", &person(&bob.email))],
        )
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "redirect_uri=http%3A%2F%2F127.0.0.1%3A{port}%2Fcallback"
        )),
        "{said}"
    );
    assert!(bob.ok(&["logout"]).contains("Signed out of"));
    assert!(!path.exists(), "logout forgets the tokens");
    let out = bob.jit(&["list"]);
    assert_eq!(code(&out), Some(4));
    assert!(bob.ok(&["logout"]).contains("not signed in"));
}

#[test]
fn profiles_name_apis_and_a_wrong_profile_says_how_to_make_it() {
    let local = start_signed();
    let plain = start_with(&["--in-memory"]);
    let grace = Someone::new(&local, "grace");
    grace.login_in_browser(&local.url);

    // A second API under its own name; a jit-local without OIDC needs no sign-in.
    let out = grace.ok(&["--api", &plain.url, "--profile", "plain", "login"]);
    assert!(out.contains("--as you@example.com"), "{out}");
    let mine = grace.ok(&["--profile", "plain", "--as", "grace@example.com", "whoami"]);
    assert!(mine.contains(&plain.url), "{mine}");
    // The default profile is still the first.
    assert!(grace.ok(&["whoami"]).contains(&local.url));
    // JIT_PROFILE picks one too.
    let out = grace
        .command(
            &["--as", "grace@example.com", "whoami"],
            &[("JIT_PROFILE", "plain")],
        )
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&plain.url));

    let out = grace.jit(&["--profile", "staging", "list"]);
    assert_eq!(code(&out), Some(2));
    assert!(
        stderr(&out).contains("jit login --api URL --profile staging"),
        "{}",
        stderr(&out)
    );
    let out = grace.jit(&["--profile", "../etc", "list"]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
}
