//! Local mode under load: a release `jit-local` (its default SQLite store, in a directory of
//! its own) on a generated catalog of 10,000 people, driven by 16 and then 64 connections at
//! once, each sending its requests one after another. Four operations: the catalog, one
//! request's view, a submit that is granted at once, and an approval (of requests asked
//! beforehand). Then the catalog at scale: the demo catalog beside one of 500 bundles (the
//! default page, a search, everything at once). Prints requests a second and the latency's
//! p50 and p99; asserts only that every answer had the expected status.
//! Run by `scripts/bench.sh` (`target/release/jit-local` must be built).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PEOPLE: usize = 10_000;

/// One call of a load run: given the agent, the connection's number and the call's, its status.
type Op = Arc<dyn Fn(&ureq::Agent, usize, usize) -> u16 + Send + Sync>;
const PER_CONNECTION: usize = 100;

struct Local {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn person(i: usize) -> String {
    format!("p{i:05}@example.com")
}

/// A catalog where everyone may ask for `logs` (granted at once) and `deploy` (approved by
/// the one owner).
fn write_catalog(dir: &Path) {
    let people: Vec<String> = (0..PEOPLE).map(|i| format!("\"{}\"", person(i))).collect();
    std::fs::write(
        dir.join("directory.toml"),
        format!(
            "[[group]]\nname = \"people\"\nmembers = [{}]\n\n[[group]]\nname = \"owners\"\nmembers = [\"owner@example.com\"]\n\n[[group]]\nname = \"platform\"\nmembers = [\"admin@example.com\"]\n",
            people.join(", ")
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("catalog.toml"),
        r#"[settings]
platform_group = "platform"
admin_group = "platform"

[[bundle]]
name = "logs"
owner_team = "owners"
risk = "low"
accounts = ["111111111111"]
statements = [{ actions = ["logs:FilterLogEvents"], resources = ["*"] }]

[[bundle]]
name = "deploy"
owner_team = "owners"
risk = "medium"
accounts = ["111111111111"]
statements = [{ actions = ["lambda:UpdateFunctionCode"], resources = ["*"] }]

[[flow]]
name = "everyone"
requesters = ["people"]
bundles = ["logs"]
approval = "auto"

[[flow]]
name = "owned"
requesters = ["people"]
bundles = ["deploy"]
approval = { between = "any", groups = [{ name = "owners", require = "any" }] }
"#,
    )
    .unwrap();
}

/// A catalog of `n` bundles as a large organisation writes them: a few actions each, a
/// description, offered to everyone, granted at once.
fn write_bundles(dir: &Path, n: usize) {
    let services = [
        ("s3", "GetObject", "ListBucket"),
        ("logs", "FilterLogEvents", "GetLogEvents"),
        ("dynamodb", "GetItem", "Query"),
        ("lambda", "GetFunction", "ListFunctions"),
        ("ec2", "DescribeInstances", "DescribeVolumes"),
        ("rds", "DescribeDBInstances", "DescribeDBClusters"),
        ("sqs", "ReceiveMessage", "GetQueueAttributes"),
        ("kms", "Decrypt", "DescribeKey"),
    ];
    let mut text =
        String::from("[settings]\nplatform_group = \"platform\"\nadmin_group = \"platform\"\n\n");
    let mut names = Vec::new();
    for i in 0..n {
        let (svc, a, b) = services[i % services.len()];
        let name = format!("team{:03}-{svc}-read", i);
        text.push_str(&format!(
            "[[bundle]]\nname = \"{name}\"\ndescription = \"Read the {svc} resources of team {i:03} in production, for debugging and audits\"\nowner_team = \"owners\"\nrisk = \"low\"\naccounts = [\"111111111111\"]\nstatements = [{{ actions = [\"{svc}:{a}\", \"{svc}:{b}\"], resources = [\"arn:aws:{svc}:::team{i:03}-*\"] }}]\n\n"
        ));
        names.push(format!("\"{name}\""));
    }
    // A flow offers at most 200 bundles: one flow per hundred.
    for (k, chunk) in names.chunks(100).enumerate() {
        text.push_str(&format!(
            "[[flow]]\nname = \"everyone-{k}\"\nrequesters = [\"people\"]\nbundles = [{}]\napproval = \"auto\"\n\n",
            chunk.join(", ")
        ));
    }
    std::fs::write(dir.join("catalog.toml"), text).unwrap();
    std::fs::write(
        dir.join("directory.toml"),
        "[[group]]\nname = \"people\"\nmembers = [\"p00000@example.com\"]\n\n[[group]]\nname = \"owners\"\nmembers = [\"owner@example.com\"]\n\n[[group]]\nname = \"platform\"\nmembers = [\"admin@example.com\"]\n",
    )
    .unwrap();
}

fn start(bin: &Path) -> Local {
    start_with(bin, "load", write_catalog)
}

fn start_with(bin: &Path, tag: &str, write: impl FnOnce(&Path)) -> Local {
    let dir = std::env::temp_dir().join(format!("jit-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("catalog")).unwrap();
    write(&dir.join("catalog"));
    let mut child = Command::new(bin)
        .args(["--port", "0", "--catalog"])
        .arg(dir.join("catalog"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env_remove("AWS_ENDPOINT_URL")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{} does not start: {e}", bin.display()));
    let stdout = child.stdout.take().unwrap();
    let mut url = None;
    let mut lines = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok);
    for line in lines.by_ref() {
        if let Some(u) = line.strip_prefix("jit-local listening on ") {
            url = Some(u.to_string());
            break;
        }
    }
    // What it prints next (the emails it would send) is read and dropped: a closed pipe
    // would stop it.
    std::thread::spawn(move || lines.for_each(drop));
    Local {
        child,
        url: url.expect("jit-local says where it listens"),
        dir,
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// One call: its status.
fn call(agent: &ureq::Agent, method: &str, url: &str, who: &str, body: Option<&str>) -> u16 {
    let resp = match body {
        Some(b) => agent
            .post(url)
            .header("x-jit-user", who)
            .header("content-type", "application/json")
            .send(b),
        None if method == "GET" => agent.get(url).header("x-jit-user", who).call(),
        None => unreachable!(),
    };
    let mut resp = resp.expect("jit-local answers");
    let status = resp.status().as_u16();
    let _ = resp.body_mut().read_to_vec();
    status
}

/// `connections` threads at once, each making `per` calls of `op(thread, i)`; the rate, p50
/// and p99, and how many answers were not the expected status.
fn run(connections: usize, per: usize, expect: u16, op: Op) -> (f64, Duration, Duration, usize) {
    let wrong = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let handles: Vec<_> = (0..connections)
        .map(|c| {
            let op = op.clone();
            let wrong = wrong.clone();
            std::thread::spawn(move || {
                let agent = agent();
                let mut times = Vec::with_capacity(per);
                for i in 0..per {
                    let t = Instant::now();
                    if op(&agent, c, i) != expect {
                        wrong.fetch_add(1, Ordering::Relaxed);
                    }
                    times.push(t.elapsed());
                }
                times
            })
        })
        .collect();
    let mut times: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let elapsed = t0.elapsed();
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    (
        times.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        wrong.load(Ordering::Relaxed),
    )
}

fn main() {
    let bin = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/release/jit-local"));
    let local = start(&bin);
    let base = local.url.clone();
    // One request to view, asked by p00000.
    let seed = agent();
    let mut resp = seed
        .post(&format!("{base}/v1/requests"))
        .header("x-jit-user", &person(0))
        .header("content-type", "application/json")
        .send(r#"{"bundle":"logs","duration":"1h","reason":"seed"}"#)
        .unwrap();
    let seeded: serde_json::Value = resp.body_mut().read_json().unwrap();
    let view = format!("{base}/v1/requests/{}", seeded["id"].as_str().unwrap());

    println!(
        "local: a release jit-local (SQLite) with {PEOPLE} people; {PER_CONNECTION} calls a connection"
    );
    println!(
        "{:<34} {:>5} {:>10} {:>9} {:>9} {:>6}",
        "operation", "conns", "req/s", "p50 ms", "p99 ms", "wrong"
    );
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    // Each submit and each approval is a different person's, so none is refused for room.
    let next = Arc::new(AtomicUsize::new(1));
    for conns in [16, 64] {
        let cases: Vec<(&str, u16, Op)> = vec![
            ("GET /v1/catalog", 200, {
                let url = format!("{base}/v1/catalog");
                Arc::new(move |a, c, _| call(a, "GET", &url, &person(c), None))
            }),
            ("GET /v1/requests/{id}", 200, {
                let url = view.clone();
                Arc::new(move |a, _, _| call(a, "GET", &url, &person(0), None))
            }),
            ("POST /v1/requests (granted at once)", 201, {
                let url = format!("{base}/v1/requests");
                let next = next.clone();
                Arc::new(move |a, _, _| {
                    let who = person(next.fetch_add(1, Ordering::Relaxed) % PEOPLE);
                    call(
                        a,
                        "POST",
                        &url,
                        &who,
                        Some(r#"{"bundle":"logs","duration":"1h","reason":"load"}"#),
                    )
                })
            }),
        ];
        for (name, expect, op) in cases {
            let (rate, p50, p99, wrong) = run(conns, PER_CONNECTION, expect, op);
            println!(
                "{name:<34} {conns:>5} {rate:>10.0} {:>9.2} {:>9.2} {wrong:>6}",
                ms(p50),
                ms(p99)
            );
        }
        // Approvals: as many pending requests asked first (not timed), then approved at once.
        let asks = conns * PER_CONNECTION;
        let ids: Arc<Vec<String>> = Arc::new(
            (0..asks)
                .map(|_| {
                    let who = person(next.fetch_add(1, Ordering::Relaxed) % PEOPLE);
                    let mut r = seed
                        .post(&format!("{base}/v1/requests"))
                        .header("x-jit-user", &who)
                        .header("content-type", "application/json")
                        .send(r#"{"bundle":"deploy","duration":"1h","reason":"load"}"#)
                        .unwrap();
                    let v: serde_json::Value = r.body_mut().read_json().unwrap();
                    v["id"].as_str().unwrap_or_default().to_string()
                })
                .collect(),
        );
        let approve: Op = {
            let base = base.clone();
            let ids = ids.clone();
            Arc::new(move |a, c, i| {
                let id = &ids[c * PER_CONNECTION + i];
                call(
                    a,
                    "POST",
                    &format!("{base}/v1/requests/{id}/approve"),
                    "owner@example.com",
                    Some(r#"{"message":"ok"}"#),
                )
            })
        };
        let (rate, p50, p99, wrong) = run(conns, PER_CONNECTION, 200, approve);
        println!(
            "{:<34} {conns:>5} {rate:>10.0} {:>9.2} {:>9.2} {wrong:>6}",
            "POST /v1/requests/{id}/approve",
            ms(p50),
            ms(p99)
        );
    }
    drop(local);
    catalog_scale(&bin);
}

/// `GET /v1/catalog` on the demo catalog (catalog/examples) beside a catalog of 500 bundles:
/// the default page, everything at once, and a search, at 16 connections.
fn catalog_scale(bin: &Path) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let demo_dir = Path::new("catalog/examples");
    let demo = start_with(bin, "demo", |d| {
        for f in std::fs::read_dir(demo_dir).unwrap().map_while(Result::ok) {
            std::fs::copy(f.path(), d.join(f.file_name())).unwrap();
        }
    });
    let large = start_with(bin, "large", |d| write_bundles(d, 500));
    println!();
    println!(
        "{:<46} {:>5} {:>10} {:>9} {:>9} {:>9}",
        "catalog, 16 connections", "conns", "req/s", "p50 ms", "p99 ms", "KB"
    );
    let mut demo_rate = 0.0;
    for (label, local, who, query) in [
        (
            "demo catalog (9 bundles), GET /v1/catalog",
            &demo,
            "alice@example.com",
            "",
        ),
        (
            "500 bundles, GET /v1/catalog (a page of 100)",
            &large,
            "p00000@example.com",
            "",
        ),
        (
            "500 bundles, ?q=dynamodb (63 match)",
            &large,
            "p00000@example.com",
            "?q=dynamodb",
        ),
        (
            "500 bundles, ?limit=500 (all of them)",
            &large,
            "p00000@example.com",
            "?limit=500",
        ),
    ] {
        let url = format!("{}/v1/catalog{query}", local.url);
        let size = {
            let mut r = agent().get(&url).header("x-jit-user", who).call().unwrap();
            r.body_mut().read_to_vec().unwrap().len()
        };
        let who = who.to_string();
        let op: Op = Arc::new(move |a, _, _| call(a, "GET", &url, &who, None));
        let (rate, p50, p99, wrong) = run(16, PER_CONNECTION * 2, 200, op);
        assert_eq!(wrong, 0, "{label}: every answer 200");
        if demo_rate == 0.0 {
            demo_rate = rate;
        }
        println!(
            "{label:<46} {:>5} {rate:>10.0} {:>9.2} {:>9.2} {:>9.1}   {:.2}x the demo's time",
            16,
            ms(p50),
            ms(p99),
            size as f64 / 1024.0,
            demo_rate / rate
        );
    }
}
