//! End to end: `jit-local` started as a process on a free port, driven through the `jit`
//! binary as the README's quickstart does, with the test clock moving time.

mod common;
use common::*;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn the_quickstart_works_as_written() {
    quickstart(&start());
}

#[test]
fn the_quickstart_works_on_the_aws_adapters_against_moto() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL is not set: run `bash scripts/test.sh`, which starts moto");
    let template = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../infra/template.yaml")
        .display()
        .to_string();
    let local = start_with(&["--aws-endpoint", &endpoint, "--template", &template]);
    assert!(local
        .console
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("uses the AWS adapters")));
    quickstart(&local);
}

fn quickstart(local: &Local) {
    // An auto-approved bundle: active at once, with its statement and time condition.
    let out = local.ok(
        Some("alice"),
        &[
            "request",
            "api-logs-read",
            "--for",
            "4h",
            "--reason",
            "debug 5xx",
        ],
    );
    assert!(out.contains("active until"), "{out}");
    let identity = local.ok(None, &["local", "identity"]);
    assert!(
        identity.contains("alice@example.com: permission set with 1 statement(s)")
            && identity.contains("until 20"),
        "{identity}"
    );

    // A bundle that needs two groups: pending, then approved through each approver's link.
    let mark = local.console_len();
    let out = local.ok(
        Some("carol"),
        &[
            "request",
            "rds-prod-pii",
            "--for",
            "1h",
            "--reason",
            "INC-7 customer data",
            "--ticket",
            "INC-7",
        ],
    );
    assert!(out.contains("pending: waiting for data-dbas (any) AND security (any); escalates to platform-team at"), "{out}");
    let id = local.json(Some("carol"), &["list", "--status", "pending"])["requests"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for approver in ["dave", "erin"] {
        let printed = local.link_for(approver, mark);
        let link = local.ok(None, &["local", "link", &format!("{approver}@example.com")]);
        assert_eq!(
            link.trim(),
            printed,
            "jit local link gives the link the console printed"
        );
        let page = press(link.trim(), "action=approve&message=ok");
        assert!(
            page.contains("200 OK") && page.contains("Thank you"),
            "{page}"
        );
    }
    let active = wait_until(local, "carol", &id, "active");
    assert_eq!(active["votes"].as_array().unwrap().len(), 2);
    assert!(local
        .ok(None, &["local", "identity"])
        .contains("carol@example.com: permission set with 1 statement(s)"));

    // Past the expiry both statements are gone, and the audit shows every step.
    let out = local.ok(None, &["local", "advance", "5h"]);
    assert!(out.contains(&format!("fired jit-end-{id}")), "{out}");
    let identity = local.ok(None, &["local", "identity"]);
    assert!(
        identity.contains("alice@example.com: permission set with 0 statement(s)"),
        "{identity}"
    );
    assert!(
        identity.contains("carol@example.com: permission set with 0 statement(s)"),
        "{identity}"
    );
    let audit = local.ok(Some("bob"), &["audit", "--bundle", "rds-prod-pii"]);
    for step in [
        "requested",
        "awaiting-approval",
        "voted",
        "approved",
        "activated",
        "ended",
    ] {
        assert!(audit.contains(step), "{step} missing from:\n{audit}");
    }
    let csv = local.ok(Some("bob"), &["audit", "--csv"]);
    assert!(csv.starts_with("at,request_id,seq,actor,action"), "{csv}");
    let report = local.ok(Some("bob"), &["report"]);
    assert!(
        report.contains("requests 2  auto-approved 1 (50%)"),
        "{report}"
    );

    // Permission on demand: a CloudTrail denial becomes a prompt, the prompt a grant.
    let event = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/cloudtrail-s3-access-denied.json")
        .display()
        .to_string();
    let out = local.ok(None, &["local", "deny", &event]);
    assert!(
        out.contains("prompted alice@example.com for s3:GetObject: offered api-production"),
        "{out}"
    );
    let again = local.ok(None, &["local", "deny", &event]);
    assert!(again.contains("nothing sent"), "{again}");
    let link = local.ok(None, &["local", "link", "alice@example.com", "--prompt"]);
    assert!(link.contains("/v1/prompts/"), "{link}");
    let page = press(link.trim(), "action=request&reason=read+the+failed+upload");
    assert!(
        page.contains("200 OK") && page.contains("is approved"),
        "{page}"
    );
    let mine = local.json(Some("alice"), &["list", "--status", "approved"]);
    let id = mine["requests"]
        .as_array()
        .unwrap()
        .iter()
        .chain(
            local.json(Some("alice"), &["list", "--status", "active"])["requests"]
                .as_array()
                .unwrap(),
        )
        .find(|r| r["bundle"] == "api-production")
        .map(|r| r["id"].as_str().unwrap().to_string())
        .expect("the request made from the prompt");
    wait_until(local, "alice", &id, "active");
    let prompts = local.ok(Some("bob"), &["prompts"]);
    assert!(
        prompts.contains("alice@example.com denied s3:GetObject on arn:aws:s3:::api-prod-assets/uploads/2026/report.csv; offered api-production: requested (request"),
        "{prompts}"
    );
    let report = local.ok(Some("bob"), &["report"]);
    assert!(
        report.contains("access-denied prompts 1  requested from 1 (100%)"),
        "{report}"
    );
    let missing = local.jit(None, &["local", "link", "grace@example.com", "--prompt"]);
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn silence_escalates_then_the_request_expires_on_the_test_clock() {
    let local = start();
    let out = local.ok(
        Some("carol"),
        &[
            "request",
            "rds-prod-pii",
            "--for",
            "1h",
            "--reason",
            "INC-8",
            "--ticket",
            "INC-8",
        ],
    );
    assert!(out.contains("pending"), "{out}");
    let id = local.json(Some("carol"), &["list"])["requests"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mark = local.console_len();

    local.ok(None, &["local", "advance", "1h"]);
    let escalated = local.json(Some("carol"), &["status", &id]);
    assert_eq!(escalated["approval"]["tier"], 1);
    assert!(escalated["approval"]["waiting_for"]
        .as_str()
        .unwrap()
        .contains("platform-team (escalated)"));
    local.link_for("frank", mark); // the platform team was emailed
    assert!(local.ok(Some("frank"), &["approvals"]).contains(&id));

    local.ok(None, &["local", "advance", "23h"]);
    let expired = local.json(Some("carol"), &["status", &id]);
    assert_eq!(expired["status"], "expired");
    let out = local.jit(Some("frank"), &["approve", &id, "-m", "late"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is expired; it cannot be approved"));
}

#[test]
fn refusals_say_what_to_do_with_distinct_exit_codes() {
    let local = start();
    let cases: &[(&str, &[&str], i32, &str)] = &[
        (
            "alice",
            &[
                "request",
                "ec2-readonly-legacy",
                "--for",
                "1h",
                "--reason",
                "x",
            ],
            1,
            "deprecated; ask for ec2-readonly instead",
        ),
        (
            "erin",
            &["request", "api-logs-read", "--for", "1h", "--reason", "x"],
            1,
            "offered to members of api-team, data, sre",
        ),
        (
            "alice",
            &["request", "api-logs-read", "--for", "30d", "--reason", "x"],
            1,
            "longer than the 14d",
        ),
        (
            "carol",
            &["request", "rds-prod-pii", "--for", "1h", "--reason", "x"],
            1,
            "requires a ticket reference matching",
        ),
        (
            "grace",
            &["request", "prod-admin", "--for", "30m", "--reason", "x"],
            1,
            "only available to you through break-glass flow break-glass",
        ),
        (
            "alice",
            &[
                "request",
                "api-logs-read",
                "--for",
                "forever",
                "--reason",
                "x",
            ],
            2,
            "invalid duration",
        ),
        (
            "alice",
            &["status", "0123456789abcdef"],
            1,
            "there is no request",
        ),
    ];
    for (user, args, code, fragment) in cases {
        let out = local.jit(Some(user), args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {stderr}");
        assert!(stderr.contains(fragment), "{args:?}: {stderr}");
    }
    // No caller: sign-in needed (4), saying how.
    let out = local.jit(None, &["list"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--as you@example.com"));

    let out = Command::new(bin("jit"))
        .args([
            "--api",
            "http://127.0.0.1:9",
            "--as",
            "a@example.com",
            "list",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the API"));

    // Break-glass, asked for explicitly, is granted at once and announced.
    let out = local.ok(
        Some("grace"),
        &[
            "request",
            "prod-admin",
            "--for",
            "30m",
            "--reason",
            "SEV1",
            "--flow",
            "break-glass",
        ],
    );
    assert!(out.contains("active until"), "{out}");
}

/// A client that never finishes its headers is cut off, and does not keep others out: the
/// probe's 400 half-open connections used to stay open for good.
#[test]
fn slow_clients_are_cut_off_and_do_not_block_others() {
    use std::net::TcpStream;
    let local = start_with(&["--header-timeout-ms", "500"]);
    let addr = local.url.trim_start_matches("http://").to_string();
    let slow: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).expect("connects");
            s.write_all(b"GET /v1/config HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                .unwrap();
            s
        })
        .collect();
    // Someone else is served meanwhile.
    let mut ok = TcpStream::connect(&addr).unwrap();
    ok.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    ok.write_all(b"GET /v1/config HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    ok.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Every slow one is closed by the server (its read ends), well before the client's own
    // 10-second limit would fire.
    for (i, mut s) in slow.into_iter().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut rest = Vec::new();
        match s.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("slow connection {i} is still open: {e}"),
        }
        let text = String::from_utf8_lossy(&rest);
        assert!(
            rest.is_empty() || text.starts_with("HTTP/1.1 408"),
            "connection {i} got {text}"
        );
    }
}

/// alice's active grant and carol's pending two-group request, with the decision link emailed
/// to dave: what a restart must keep.
fn grant_and_pending(local: &Local) -> (String, String, String) {
    let since = local.console_len();
    let id = |v: serde_json::Value| v["id"].as_str().unwrap().to_string();
    let active = id(local.json(
        Some("alice"),
        &[
            "request",
            "api-logs-read",
            "--for",
            "4h",
            "--reason",
            "debug 5xx",
        ],
    ));
    wait_until(local, "alice", &active, "active");
    let pending = id(local.json(
        Some("carol"),
        &[
            "request",
            "rds-prod-pii",
            "--for",
            "1h",
            "--reason",
            "INC-7 customer data",
            "--ticket",
            "INC-7",
        ],
    ));
    (active, pending, local.link_for("dave", since))
}

/// The restart: jit-local killed mid-flow (SIGKILL) and started again on the same data
/// directory keeps the pending request, the active grant in the simulated permission set, the
/// audit records, the clock, and the links already emailed (the signing key is kept).
#[test]
fn a_restart_keeps_requests_grants_links_audit_and_the_clock() {
    let dir = fresh_dir();
    let (active, pending, link, clock_before) = {
        let local = start_in(&dir, &[]);
        let (active, pending, link) = grant_and_pending(&local);
        let clock = local.json(None, &["local", "advance", "30m"])["now"]
            .as_str()
            .unwrap()
            .to_string();
        (active, pending, link, clock)
        // Dropped here: killed with SIGKILL, as a crash would.
    };

    let local = start_in(&dir, &[]);
    assert!(
        local
            .console
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("(2 requests so far)")),
        "{:?}",
        local.console.lock().unwrap()
    );
    let grant = local.json(Some("alice"), &["status", &active]);
    assert_eq!(grant["status"], "active");
    let actions: Vec<&str> = grant["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["requested", "auto-approved", "activated"]);
    let identity = local.json(None, &["local", "identity"]);
    assert!(
        identity.to_string().contains(&format!("Jit{active}")),
        "the permission set still holds the grant: {identity}"
    );
    let now = local.json(None, &["local", "advance", "1m"])["now"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        now > clock_before,
        "the clock kept its lead: {now} after {clock_before}"
    );

    // The link emailed before the restart still works, once (at the new port: a test's
    // jit-local picks a free one each start).
    let path = &link[link.find("/v1/").unwrap()..];
    let link = format!("{}{path}", local.url);
    let page = press(&link, "action=approve&message=ok");
    assert!(page.contains("200 OK"), "{page}");
    let r = local.json(Some("carol"), &["status", &pending]);
    assert_eq!(r["status"], "pending", "security has still to approve");
    assert_eq!(r["votes"].as_array().unwrap().len(), 1, "{r}");
    let again = press(&link, "action=approve&message=ok");
    assert!(again.contains("410"), "{again}");

    // Nothing from before the restart is printed again.
    assert!(
        !local
            .console
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("Approve rds-prod-pii")),
        "old emails are not printed again"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// On the AWS adapters (moto), a restart with the same data directory finds the table, the
/// Identity Store and the schedule group it made before, and signs with the same key: the
/// pending request is still there and the link emailed before the restart still decides it.
#[test]
fn a_restart_on_the_aws_adapters_reuses_the_table_and_the_key() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL is not set: run `bash scripts/test.sh`, which starts moto");
    let template = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../infra/template.yaml")
        .display()
        .to_string();
    let extra = ["--aws-endpoint", endpoint.as_str(), "--template", &template];
    let dir = fresh_dir();
    let (active, pending, link) = {
        let local = start_in(&dir, &extra);
        grant_and_pending(&local)
    };
    let local = start_in(&dir, &extra);
    assert!(
        local
            .console
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("as before the restart")),
        "{:?}",
        local.console.lock().unwrap()
    );
    assert_eq!(
        local.json(Some("alice"), &["status", &active])["status"],
        "active"
    );
    let path = &link[link.find("/v1/").unwrap()..];
    let page = press(&format!("{}{path}", local.url), "action=approve&message=ok");
    assert!(page.contains("200 OK"), "{page}");
    let r = local.json(Some("carol"), &["status", &pending]);
    assert_eq!(r["votes"].as_array().unwrap().len(), 1, "{r}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The CLI speaks TLS with the AWS SDK's crypto provider (named, since its HTTP client picks
/// none by itself): an https API that is not there is an error that says so, not a panic.
#[test]
fn an_https_api_gets_a_tls_client_with_a_crypto_provider() {
    // A server that accepts and hangs up: the client gets as far as its TLS handshake.
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in server.incoming().flatten() {
            drop(conn);
        }
    });
    let out = Command::new(bin("jit"))
        .args([
            "--api",
            &format!("https://{addr}"),
            "--as",
            "alice@example.com",
            "list",
        ])
        .env_remove("JIT_API")
        .env_remove("JIT_AS")
        .env_remove("JIT_TOKEN")
        .output()
        .expect("jit runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_ne!(out.status.code(), Some(101), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains(&addr.to_string()), "{stderr}");
}

/// "How do I use it?": an active grant names its role and accounts, the email says where to
/// open it (the access portal's link for that role in that account), and `jit aws-config`
/// writes the AWS CLI profiles that sign in to it.
#[test]
fn a_grant_says_where_it_is_and_aws_config_writes_profiles_for_it() {
    let portal = "https://d-1234567890.awsapps.com/start";
    let local = start_with(&["--access-portal-url", portal]);
    let out = local.ok(
        Some("alice"),
        &[
            "request",
            "api-logs-read",
            "--for",
            "4h",
            "--reason",
            "debug 5xx",
        ],
    );
    assert!(out.contains("use it: role jit-alice-"), "{out}");
    assert!(out.contains("in 111111111111"), "{out}");
    let view = local.json(Some("alice"), &["list"]);
    let access = &view["requests"][0]["access"];
    assert_eq!(access["kind"], "permission-set", "{view}");
    let role = access["role_name"].as_str().unwrap().to_string();

    let outbox = get_text(&format!("{}/local/outbox", local.url));
    let link = format!("{portal}/#/console?account_id=111111111111&role_name={role}");
    assert!(outbox.contains(&link), "the email links {link}: {outbox}");

    let config = local.ok(Some("alice"), &["aws-config"]);
    for line in [
        "[sso-session jit]",
        &format!("sso_start_url = {portal}"),
        "[profile jit-111111111111]",
        "sso_session = jit",
        "sso_account_id = 111111111111",
        &format!("sso_role_name = {role}"),
    ] {
        assert!(config.lines().any(|l| l == line), "{line:?} in:\n{config}");
    }
    let out = local.jit(Some("bob"), &["aws-config"]);
    assert_eq!(out.status.code(), Some(1), "bob has no grant");

    let bare = start();
    let out = bare.jit(Some("alice"), &["aws-config"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("AccessPortalUrl"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Finding and waiting: `jit bundles` searches what the API offers, an unknown bundle is
/// answered with the nearest name, and `jit request --wait` follows a request that needs
/// approval until it is decided and applied, or gives up, saying how to follow it.
#[test]
fn bundles_are_found_by_search_and_a_request_can_be_followed_until_decided() {
    let local = start();
    let found = local.ok(Some("alice"), &["bundles", "s3:GetObject"]);
    let lines: Vec<&str> = found.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{found}");
    assert!(
        lines.iter().any(|l| l.starts_with("api-production ")),
        "{found}"
    );
    assert!(!found.contains("ec2-readonly"), "only matches: {found}");
    // Columns line up: RISK starts at the same place in every row.
    let at = lines[0].find("RISK").unwrap();
    assert!(
        lines[1..]
            .iter()
            .all(|l| l[at..].starts_with(['l', 'm', 'h', 'c'])),
        "{found}"
    );

    let typo = local.jit(
        Some("alice"),
        &["request", "api-log-read", "--for", "1h", "--reason", "x"],
    );
    let said = String::from_utf8_lossy(&typo.stderr);
    assert!(said.contains("did you mean api-logs-read?"), "{said}");
    assert!(said.contains("`jit bundles`"), "{said}");

    // Followed until decided: two approvers decide while jit waits.
    let since = local.console_len();
    let follower = Command::new(bin("jit"))
        .args(["--api", &local.url, "--as", "carol@example.com"])
        .args([
            "request",
            "rds-prod-pii",
            "--for",
            "1h",
            "--reason",
            "INC-7 customer data",
        ])
        .args(["--ticket", "INC-7", "--wait", "30s"])
        .env_remove("JIT_API")
        .env_remove("JIT_AS")
        .env_remove("JIT_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for approver in ["dave", "erin"] {
        let link = local.link_for(approver, since);
        assert!(press(&link, "action=approve&message=ok").contains("200 OK"));
    }
    let out = follower.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("pending: waiting for"),
        "a status line while it waits: {stderr}"
    );
    assert!(
        !stderr.contains('\x1b') && !stderr.contains('\r'),
        "no control characters into a pipe: {stderr:?}"
    );
    assert!(stdout.contains("active until"), "{stdout}");

    // Nobody decides within the limit: it says so, and how to follow it.
    let out = local.jit(
        Some("bob"),
        &[
            "request",
            "rds-prod-pii",
            "--for",
            "1h",
            "--reason",
            "INC-8",
            "--ticket",
            "INC-8",
            "--wait",
            "2s",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("still pending after 2s; follow it with: jit status"),
        "{stderr}"
    );
}

#[test]
fn the_cli_reads_times_as_people_write_them_lines_up_the_audit_and_completes_itself() {
    let local = start_with(&["--in-memory"]);
    local.ok(
        Some("alice"),
        &[
            "request",
            "api-logs-read",
            "--for",
            "1h",
            "--reason",
            "debug 5xx",
        ],
    );
    let audit = local.ok(Some("bob"), &["audit", "--from", "yesterday", "--utc"]);
    let mut lines = audit.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("TIME") && header.contains("ACTION"),
        "{audit}"
    );
    let requester = header.find("  FOR").unwrap() + 2;
    for row in lines {
        assert!(row.contains(" UTC"), "--utc: {row}");
        assert_eq!(
            &row[requester..requester + "alice@example.com".len()],
            "alice@example.com",
            "columns line up: {audit}"
        );
        assert!(!row.contains('\x1b'), "no colour into a pipe");
    }
    assert_eq!(
        local
            .ok(Some("bob"), &["audit", "--from", "1h", "--to", "now"])
            .lines()
            .count(),
        audit.lines().count()
    );
    let out = local.jit(Some("bob"), &["audit", "--from", "last tuesday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("yesterday"));

    let script = local.ok(None, &["completions", "bash"]);
    for word in ["login", "whoami", "request", "--profile"] {
        assert!(script.contains(word), "the bash completion knows {word}");
    }
}

/// `jit-local --postgres URL`: a database bundle asked for with the CLI is granted on the real
/// server, `jit db-credentials` gives a password that psql signs in with, and release takes it
/// away (the session with it) again.
#[test]
fn a_database_grant_works_through_jit_local_and_psql() {
    let url = std::env::var("JIT_TEST_POSTGRES_URL").expect(
        "JIT_TEST_POSTGRES_URL is not set: run `bash scripts/test.sh`, which starts PostgreSQL",
    );
    // The example catalog's orders database, made once on the test server.
    let admin = |sql: &str| {
        Command::new("psql")
            .args([
                &format!("{url}/postgres"),
                "-v",
                "ON_ERROR_STOP=1",
                "-qAtc",
                sql,
            ])
            .output()
            .expect("psql runs")
    };
    let made = admin("CREATE DATABASE orders");
    let said = String::from_utf8_lossy(&made.stderr);
    assert!(
        made.status.success() || said.contains("already exists"),
        "{said}"
    );
    let seeded = Command::new("psql")
        .args([
            &format!("{url}/orders"),
            "-v",
            "ON_ERROR_STOP=1",
            "-qAtc",
            "CREATE TABLE IF NOT EXISTS orders (id int); TRUNCATE orders; INSERT INTO orders VALUES (1), (2), (3)",
        ])
        .output()
        .expect("psql runs");
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );

    let local = start_with(&["--postgres", &url]);
    let grant = local.json(
        Some("alice"),
        &[
            "request",
            "orders-db-read",
            "--for",
            "1h",
            "--reason",
            "check an order",
        ],
    );
    let id = grant["id"].as_str().unwrap().to_string();
    wait_until(&local, "alice", &id, "active");
    let shown = local.ok(Some("alice"), &["status", &id]);
    assert!(shown.contains("jit_alice_example_com"), "{shown}");

    // Only alice gets a password, and it works with psql.
    let refused = local.jit(Some("bob"), &["db-credentials", &id]);
    assert!(!refused.status.success());
    let creds = local.json(Some("alice"), &["db-credentials", &id]);
    let text = local.ok(Some("alice"), &["db-credentials", &id]);
    assert!(
        text.contains("password:") && text.contains("psql"),
        "{text}"
    );
    let creds2 = local.json(Some("alice"), &["db-credentials", &id]);
    assert_ne!(
        creds["password"], creds2["password"],
        "each call issues a new one"
    );
    let psql = |password: &str, sql: &str| {
        Command::new("psql")
            .arg(format!(
                "host={} port={} dbname=orders user={} sslmode=disable",
                creds2["endpoint"].as_str().unwrap(),
                creds2["port"],
                creds2["user"].as_str().unwrap()
            ))
            .args(["-qAtc", sql])
            .env("PGPASSWORD", password)
            .output()
            .expect("psql runs")
    };
    let count = psql(
        creds2["password"].as_str().unwrap(),
        "SELECT count(*) FROM orders",
    );
    assert_eq!(
        String::from_utf8_lossy(&count.stdout).trim(),
        "3",
        "{}",
        String::from_utf8_lossy(&count.stderr)
    );
    let old = psql(creds["password"].as_str().unwrap(), "SELECT 1");
    assert!(
        !old.status.success(),
        "the earlier password no longer signs in"
    );
    let write = psql(creds2["password"].as_str().unwrap(), "DELETE FROM orders");
    assert!(
        String::from_utf8_lossy(&write.stderr).contains("permission denied"),
        "read only"
    );

    // Release: the access is gone at once.
    local.ok(Some("alice"), &["release", &id]);
    let after = psql(
        creds2["password"].as_str().unwrap(),
        "SELECT count(*) FROM orders",
    );
    assert!(!after.status.success(), "released: no sign-in");
    let gone = local.jit(Some("alice"), &["db-credentials", &id]);
    assert!(!gone.status.success());
    // When the access was gone is on the record, and printed.
    let shown = local.ok(Some("alice"), &["status", &id]);
    assert!(shown.contains("access removed at "), "{shown}");
    let view = local.json(Some("alice"), &["status", &id]);
    assert!(view["removed_at"].is_string(), "{view}");
    let actions: Vec<&str> = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions.last(), Some(&"access-removed"), "{actions:?}");
}
