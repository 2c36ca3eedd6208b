//! What the end-to-end tests share: jit-local started as a process on a free port, the jit
//! binary, and a browser's two requests (GET a page, POST a form).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running jit-local, stopped when dropped; its console output is collected.
pub struct Local {
    pub child: Child,
    pub url: String,
    pub console: Arc<Mutex<Vec<String>>>,
    /// Its data directory.
    pub dir: PathBuf,
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn bin(name: &str) -> PathBuf {
    let jit = PathBuf::from(env!("CARGO_BIN_EXE_jit"));
    let path = jit.with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --workspace --bins` (scripts/test.sh does)",
        path.display()
    );
    path
}

pub fn examples() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../catalog/examples")
        .display()
        .to_string()
}

pub fn start() -> Local {
    start_with(&[])
}

/// A data directory no other test uses.
pub fn fresh_dir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "jit-local-test-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn start_with(extra: &[&str]) -> Local {
    start_in(&fresh_dir(), extra)
}

/// jit-local keeping its state in `dir`.
pub fn start_in(dir: &Path, extra: &[&str]) -> Local {
    let mut child = Command::new(bin("jit-local"))
        .args(["--port", "0", "--catalog", &examples()])
        .args(["--data-dir", &dir.display().to_string()])
        .args(extra)
        .env_remove("AWS_ENDPOINT_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("jit-local starts");
    let stdout = child.stdout.take().unwrap();
    let console = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let lines = console.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("jit-local listening on ") {
                let _ = tx.send(url.to_string());
            }
            lines.lock().unwrap().push(line);
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("jit-local prints where it listens");
    Local {
        child,
        url,
        console,
        dir: dir.to_path_buf(),
    }
}

impl Local {
    pub fn jit(&self, user: Option<&str>, args: &[&str]) -> Output {
        let mut cmd = Command::new(bin("jit"));
        cmd.args(["--api", &self.url]);
        if let Some(u) = user {
            cmd.args(["--as", &format!("{u}@example.com")]);
        }
        cmd.args(args)
            .env_remove("JIT_API")
            .env_remove("JIT_AS")
            .env_remove("JIT_TOKEN")
            .env_remove("JIT_PROFILE")
            .env("JIT_CONFIG_DIR", self.dir.join("no-config"))
            .output()
            .expect("jit runs")
    }

    /// Runs jit and returns stdout, asserting success.
    pub fn ok(&self, user: Option<&str>, args: &[&str]) -> String {
        let out = self.jit(user, args);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(
            out.status.success(),
            "jit {args:?} failed ({:?}): {stdout}{stderr}",
            out.status.code()
        );
        stdout.to_string()
    }

    pub fn json(&self, user: Option<&str>, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(user, &all)).unwrap()
    }

    /// The link printed on the console for `person`'s newest approval email, waiting for it.
    pub fn link_for(&self, person: &str, since: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            {
                let lines = self.console.lock().unwrap();
                let mut to_person = false;
                for line in lines.iter().skip(since) {
                    if line.starts_with("✉  to ") {
                        to_person = line.contains(&format!("{person}@example.com"));
                    } else if to_person {
                        if let Some(url) = line.trim().strip_prefix("Approve: ") {
                            return url.split('?').next().unwrap().to_string();
                        }
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no approval link for {person} on the console"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn console_len(&self) -> usize {
        self.console.lock().unwrap().len()
    }
}

/// POSTs the confirmation form behind a decision link, as a browser would.
pub fn press(url: &str, form: &str) -> String {
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "POST /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    )
    .unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).unwrap();
    page
}

/// GETs `url` as a browser would and returns the whole answer, head included.
pub fn get_text(url: &str) -> String {
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).unwrap();
    page
}

pub fn wait_until(local: &Local, user: &str, id: &str, status: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = local.json(Some(user), &["status", id]);
        if r["status"] == status {
            return r;
        }
        assert!(Instant::now() < deadline, "{id} never became {status}: {r}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The OpenID Connect provider scripts/test.sh started (tests/oidc/server.mjs).
pub fn issuer() -> String {
    std::env::var("JIT_TEST_OIDC_ISSUER").expect(
        "JIT_TEST_OIDC_ISSUER is not set: the sign-in tests need the OIDC provider that \
         scripts/test.sh starts (node tests/oidc/server.mjs); run them through it",
    )
}

/// The command that plays a person at a browser (tests/oidc/person.mjs), signing in as
/// `email`; it takes the address to open as its last argument, as $BROWSER does.
pub fn person(email: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc/person.mjs");
    format!("node {} {email}", script.display())
}

/// Someone with a jit config directory of their own (profiles and tokens).
pub struct Someone {
    pub email: String,
    pub config: PathBuf,
    /// Keep tokens in the OS keyring (jit's default) rather than the file.
    pub keyring: bool,
}

impl Someone {
    pub fn new(local: &Local, name: &str) -> Self {
        let config = local.dir.join(format!("config-{name}"));
        Self {
            email: format!("{name}@example.com"),
            config,
            keyring: false,
        }
    }

    /// jit with this person's config, no other identity, and `env` set.
    pub fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(bin("jit"));
        cmd.args(args)
            .env_remove("JIT_API")
            .env_remove("JIT_AS")
            .env_remove("JIT_TOKEN")
            .env_remove("JIT_PROFILE")
            .env_remove("BROWSER")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env("JIT_CONFIG_DIR", &self.config)
            .env("JIT_DEVICE_POLL_MS", "200");
        if self.keyring {
            cmd.env_remove("JIT_TOKEN_STORE");
        } else {
            cmd.env("JIT_TOKEN_STORE", "file");
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs jit as this person; its output.
    pub fn jit(&self, args: &[&str]) -> Output {
        self.command(args, &[]).output().expect("jit runs")
    }

    /// Runs jit as this person, asserting success; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.jit(args);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(
            out.status.success(),
            "jit {args:?} as {} failed ({:?}): {stdout}{stderr}",
            self.email,
            out.status.code()
        );
        stdout.to_string()
    }

    /// `jit login --api URL --browser`, the browser being tests/oidc/person.mjs.
    pub fn login_in_browser(&self, api: &str) -> String {
        let out = self
            .command(
                &["--api", api, "login", "--browser"],
                &[("BROWSER", &person(&self.email))],
            )
            .output()
            .expect("jit login runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "jit login --browser failed: {text}");
        text
    }

    /// `jit login --api URL --device`: reads the address it prints and has the person open it
    /// (as they would on their phone), then waits for jit to finish.
    pub fn login_on_device(&self, api: &str) -> String {
        let mut child = self
            .command(&["--api", api, "login", "--device"], &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("jit login runs");
        let stderr = child.stderr.take().unwrap();
        let mut seen = String::new();
        let mut lines = BufReader::new(stderr).lines();
        let complete = loop {
            let line = lines
                .next()
                .expect("jit login --device prints where to sign in")
                .unwrap();
            seen.push_str(&line);
            seen.push('\n');
            if let Some(url) = line.trim().strip_prefix("or open: ") {
                break url.to_string();
            }
        };
        let mut words = person(&self.email)
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>();
        let program = words.remove(0);
        let signed = Command::new(program)
            .args(words)
            .arg(&complete)
            .output()
            .expect("node runs");
        assert!(
            signed.status.success(),
            "the person could not sign in at {complete}: {}",
            String::from_utf8_lossy(&signed.stderr)
        );
        for line in lines.map_while(Result::ok) {
            seen.push_str(&line);
            seen.push('\n');
        }
        let out = child.wait_with_output().unwrap();
        seen.push_str(&String::from_utf8_lossy(&out.stdout));
        assert!(out.status.success(), "jit login --device failed: {seen}");
        seen
    }
}
