//! jit-local --slack as a person would try it: started as a process, sent a slash command
//! signed with the secret it keeps in its data directory, and a signed Approve click; the
//! Slack calls it made are read from its chat outbox (GET /local/slack).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use jit_slack::SigningSecret;
use serde_json::{json, Value};

struct Local {
    child: Child,
    url: String,
    secret: SigningSecret,
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path) -> Local {
    use std::io::BufRead;
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../catalog/examples");
    let mut child = Command::new(env!("CARGO_BIN_EXE_jit-local"))
        .args(["--port", "0", "--slack", "--catalog"])
        .arg(&examples)
        .arg("--data-dir")
        .arg(dir)
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
    let secret = std::fs::read_to_string(dir.join("slack-signing-secret"))
        .expect("jit-local keeps its Slack signing secret in the data directory");
    Local {
        child,
        url,
        secret: SigningSecret::new(secret),
    }
}

impl Local {
    fn outbox(&self) -> Value {
        ureq::get(&format!("{}/local/slack", self.url))
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap()
    }

    fn user(&self, email: &str) -> String {
        self.outbox()["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == email)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// POSTs `body` to `path`, signed now with `secret`; the status and the body.
    fn send(&self, path: &str, body: &str, secret: &SigningSecret) -> (u16, String) {
        let ts = chrono::Utc::now().timestamp();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut resp = agent
            .post(&format!("{}{path}", self.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", &ts.to_string())
            .header("x-slack-signature", &secret.sign(ts, body.as_bytes()))
            .send(body)
            .unwrap();
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap(),
        )
    }

    /// Waits (15 s at most) until the recorded calls satisfy `done`.
    fn until(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        for _ in 0..150 {
            let calls = self.outbox()["calls"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if done(&calls) {
                return calls;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting for {what}: {:#}", self.outbox());
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

fn posted_to<'a>(calls: &'a [Value], channel_of: &str) -> Vec<&'a Value> {
    let dm = format!("D{}", channel_of.trim_start_matches('U'));
    calls
        .iter()
        .filter(|c| c["method"] == "chat.postMessage" && c["answer"]["channel"] == dm.as_str())
        .collect()
}

#[test]
fn a_slash_command_and_an_approve_click_work_against_local_mode() {
    let dir = tempfile_dir();
    let local = start(&dir);
    let (carol, alice, bob) = (
        local.user("carol@example.com"),
        local.user("alice@example.com"),
        local.user("bob@example.com"),
    );
    let body = form(&[
        ("user_id", &carol),
        ("channel_id", "C0LOCAL01"),
        (
            "text",
            "request api-production --for 4h --reason \"read uploads for OPS-9\"",
        ),
    ]);
    // Unsigned, or signed with another secret: refused.
    let (status, said) = local.send("/slack/commands", &body, &SigningSecret::new("guess"));
    assert_eq!(status, 401, "{said}");
    let (status, said) = local.send("/slack/commands", &body, &local.secret);
    assert_eq!(status, 200, "{said}");
    assert!(said.contains("Asking for api-production"), "{said}");
    // api-production is high risk and carol is not on api-team: a card to each owner.
    let calls = local.until("cards to alice and bob", |c| {
        posted_to(c, &alice).len() == 1 && posted_to(c, &bob).len() == 1
    });
    let card = posted_to(&calls, &alice)[0];
    let text = card["args"]["blocks"].to_string();
    assert!(
        text.contains("carol@example.com") && text.contains("api-production"),
        "{text}"
    );
    let id = text
        .split("\"value\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();

    // Alice approves from her card: both cards are drawn again, and once the tick applies the
    // grant, carol hears until when.
    let payload = json!({ "type": "block_actions", "user": { "id": alice },
        "channel": { "id": format!("D{}", alice.trim_start_matches('U')) },
        "actions": [{ "action_id": "approve", "value": id }] });
    let (status, _) = local.send(
        "/slack/interactions",
        &form(&[("payload", &payload.to_string())]),
        &local.secret,
    );
    assert_eq!(status, 200);
    local.until("both cards redrawn and carol told", |c| {
        c.iter().filter(|c| c["method"] == "chat.update").count() >= 2
            && posted_to(c, &carol).iter().any(|m| {
                m["args"]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("active until")
            })
    });
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "jit-local-slack-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
