//! The commands that talk to the API: requests, approvals, audit, report, and the local clock.
//! Output is text for people by default (what happened and what is next), JSON with --json.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use jit_contract::{
    ApprovalList, AuditPage, DbCredentialsView, NewRequest, PromptsPage, Report, RequestList,
    RequestView,
};
use jit_core::lifecycle::Status;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

/// Exit codes that tell scripts what happened.
pub mod exit {
    /// Refused: not allowed, not eligible, wrong state, unknown thing.
    pub const REFUSED: u8 = 1;
    /// The command line or its input was wrong.
    pub const USAGE: u8 = 2;
    /// It failed: the service is unreachable or broken, or the grant could not be applied.
    pub const FAILED: u8 = 3;
    /// Sign-in needed: not signed in, or the sign-in expired or was refused.
    pub const SIGN_IN: u8 = 4;
}

/// Where and as whom to call.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    user: Option<String>,
    token: Option<String>,
    /// What to do when the API says "who are you?" (401).
    sign_in: String,
    /// Print JSON instead of text.
    pub json: bool,
}

/// The HTTP agent every call uses: rustls on the AWS SDK's crypto provider (aws-lc-rs; ureq
/// picks none by itself), 30 s per call, statuses read rather than raised, and a User-Agent
/// that names jit and its version.
pub(crate) fn agent() -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .unversioned_rustls_crypto_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .build();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .user_agent(concat!("jit/", env!("CARGO_PKG_VERSION")))
        .tls_config(tls)
        .build()
        .into()
}

/// An answer read as the contract type it should be. A field the API renamed or dropped fails
/// here, saying so, rather than printing as "?".
fn typed<T: DeserializeOwned>(path: &str, v: Value) -> Result<T, Failure> {
    serde_json::from_value(v).map_err(|e| Failure {
        code: exit::FAILED,
        message: format!(
            "the API's answer to {path} is not what this jit ({}) understands: {e}; \
             is jit older or newer than the API (see GET /v1/config)?",
            env!("CARGO_PKG_VERSION")
        ),
    })
}

pub(crate) fn as_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Whether `base` is this machine (where jit-local runs), not a deployment.
pub(crate) fn is_local(base: &str) -> bool {
    let authority = base
        .split("://")
        .nth(1)
        .unwrap_or(base)
        .split('/')
        .next()
        .unwrap_or("");
    ["localhost", "127.", "[::1]"]
        .iter()
        .any(|p| authority.starts_with(p))
}

/// A failed call, with the exit code it deserves.
#[derive(Debug)]
pub struct Failure {
    /// Exit code.
    pub code: u8,
    /// What to tell the person.
    pub message: String,
}

type Outcome = Result<Value, Failure>;

impl Client {
    /// A client for `base` (no trailing slash), as `user` (local mode) and/or with `token`;
    /// `sign_in` says how to sign in when the API asks who is calling.
    pub fn new(
        base: &str,
        user: Option<String>,
        token: Option<String>,
        sign_in: String,
        json: bool,
    ) -> Self {
        Self {
            agent: agent(),
            base: base.trim_end_matches('/').to_string(),
            user,
            token,
            sign_in,
            json,
        }
    }

    /// The API's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Outcome {
        let url = format!("{}{path}", self.base);
        let unreachable = |e: ureq::Error| Failure {
            code: exit::FAILED,
            message: if is_local(&self.base) {
                format!("cannot reach the API at {}: {e}\nis jit-local running? start it with: cargo run -p jit-local", self.base)
            } else {
                format!("cannot reach the API at {}: {e}\ncheck the address (--api or JIT_API) and your network", self.base)
            },
        };
        let mut response = if method == "GET" {
            let mut req = self.agent.get(&url);
            for (k, v) in query {
                req = req.query(*k, v);
            }
            self.identify(req).call().map_err(unreachable)?
        } else {
            self.identify(self.agent.post(&url))
                .send_json(body.unwrap_or_else(|| json!({})))
                .map_err(unreachable)?
        };
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        if status < 400 {
            return Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)));
        }
        let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let message = parsed["error"]["message"]
            .as_str()
            // API Gateway's own answers (its JWT authorizer's 401, throttling) say {"message"}.
            .or(parsed["message"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| format!("HTTP {status}: {text}"));
        let code = match status {
            400 | 413 | 415 => exit::USAGE,
            401 => {
                return Err(Failure {
                    code: exit::SIGN_IN,
                    message: format!("{message}\n{}", self.sign_in),
                })
            }
            403 | 404 | 409 | 410 | 422 => exit::REFUSED,
            _ => exit::FAILED,
        };
        Err(Failure { code, message })
    }

    /// Says who is calling: the local-mode header and/or the bearer token.
    fn identify<B>(&self, mut req: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        if let Some(u) = &self.user {
            req = req.header("X-Jit-User", u);
        }
        if let Some(t) = &self.token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        req
    }

    fn get(&self, path: &str, query: &[(&str, String)]) -> Outcome {
        self.call("GET", path, query, None)
    }

    fn post(&self, path: &str, body: Value) -> Outcome {
        self.call("POST", path, &[], Some(body))
    }

    /// GET an API v1 answer as its contract type.
    pub(crate) fn get_as<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, Failure> {
        typed(path, self.get(path, query)?)
    }

    /// POST a contract body; the answer as its contract type.
    fn post_as<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, Failure> {
        typed(path, self.post(path, as_value(body))?)
    }

    pub(crate) fn show<T: Serialize>(&self, v: &T, text: impl FnOnce(&T) -> String) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
        } else {
            print!("{}", text(v));
        }
    }
}

fn time(v: &Value) -> String {
    v.as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| at(t.with_timezone(&Utc)))
        .unwrap_or_else(|| "-".into())
}

/// A time from the API, for people (see [`crate::present::at`]).
fn at(t: DateTime<Utc>) -> String {
    crate::present::at(t)
}

fn at_opt(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".to_string(), at)
}

fn paint(status: &str) -> String {
    crate::present::status(status)
}

/// One request in a few lines: what it is, where it is, what is next.
pub fn describe(r: &RequestView) -> String {
    let id = &r.id;
    let mut out = format!(
        "{id}  {} for {} ({}) by {}\n",
        r.bundle, r.duration, r.flow, r.requester
    );
    let line = match r.status {
        Status::Pending => {
            let mut s = format!(
                "{}: waiting for {}",
                paint("pending"),
                r.approval.waiting_for.as_deref().unwrap_or("approval")
            );
            if let (Some(to), Some(when)) = (&r.approval.escalates_to, r.approval.escalates_at) {
                s.push_str(&format!("; escalates to {to} at {}", at(when)));
            }
            s.push_str(&format!(
                "; expires unanswered at {}",
                at(r.approval.decide_by)
            ));
            s
        }
        Status::Approved => format!(
            "{} ({}); the grant is being applied, until {}",
            paint("approved"),
            r.approval.basis,
            at_opt(r.expires_at)
        ),
        Status::Active => {
            let mut line = format!(
                "{} until {}; end it early with: jit release {id}",
                paint("active"),
                at_opt(r.expires_at)
            );
            if let Some(a) = &r.access {
                line.push_str(&format!("\n  use it: {}", crate::access::where_it_is(a)));
            }
            line
        }
        Status::Failed | Status::Denied | Status::Revoked => format!(
            "{}: {}",
            paint(r.status.as_str()),
            r.status_reason.as_deref().unwrap_or("no reason given")
        ),
        other => paint(other.as_str()),
    };
    out.push_str(&format!("  {line}\n"));
    if let Some(removal) = &r.removal {
        out.push_str(&format!("  not yet removed: {removal}\n"));
    }
    if let Some(at) = r.removed_at {
        out.push_str(&format!("  access removed at {}\n", at.to_rfc3339()));
    }
    out
}

fn timeline(r: &RequestView) -> String {
    let mut out = String::new();
    for e in r.timeline.iter().flatten() {
        let msg = e
            .message
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {}  {:<18} {}{msg}\n",
            at(e.at),
            e.action.as_str(),
            e.actor
        ));
    }
    out
}

/// `jit request`: asks, then waits (up to 30 s) while the grant is applied.
pub fn request(c: &Client, ask: NewRequest, wait: bool, decided: Option<Duration>) -> Outcome {
    let scheduled = ask.start_at.is_some();
    let mut r: RequestView = c.post_as("/v1/requests", &ask)?;
    if let Some(limit) = decided {
        r = crate::find::until_decided(c, r, limit)?;
    }
    // A grant with a later start is applied then; anything else is applied within seconds.
    if wait && !scheduled && r.status == Status::Approved {
        if !c.json {
            eprint!("applying");
        }
        let started = Instant::now();
        while r.status == Status::Approved && started.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(300));
            if !c.json {
                eprint!(".");
            }
            r = c.get_as(&format!("/v1/requests/{}", r.id), &[])?;
        }
        if !c.json {
            eprintln!();
        }
    }
    c.show(&r, describe);
    if r.status == Status::Failed {
        return Err(Failure {
            code: exit::FAILED,
            message: format!(
                "the grant could not be applied: {}",
                r.status_reason.as_deref().unwrap_or("")
            ),
        });
    }
    Ok(as_value(&r))
}

/// `jit status [id]`.
pub fn status(c: &Client, id: Option<&str>) -> Outcome {
    match id {
        Some(id) => {
            let r: RequestView = c.get_as(&format!("/v1/requests/{id}"), &[])?;
            c.show(&r, |r| format!("{}{}", describe(r), timeline(r)));
            Ok(as_value(&r))
        }
        None => list(c, None),
    }
}

/// `jit list`.
pub fn list(c: &Client, status: Option<String>) -> Outcome {
    let mut q = vec![("mine", "true".to_string())];
    if let Some(s) = status {
        q.push(("status", s));
    }
    let v: RequestList = c.get_as("/v1/requests", &q)?;
    c.show(&v, |v| {
        if v.requests.is_empty() {
            "no requests\n".into()
        } else {
            v.requests.iter().map(describe).collect()
        }
    });
    Ok(as_value(&v))
}

/// `jit approvals`.
pub fn approvals(c: &Client) -> Outcome {
    let v: ApprovalList = c.get_as("/v1/approvals", &[])?;
    c.show(&v, |v| {
        if v.approvals.is_empty() {
            "nothing waits for you\n".into()
        } else {
            v.approvals
                .iter()
                .map(|r| {
                    format!(
                        "{}  reason: {}\n  decide: jit approve {id} -m \"…\"  |  jit deny {id} -m \"…\"\n",
                        describe(r),
                        r.reason,
                        id = r.id
                    )
                })
                .collect()
        }
    });
    Ok(as_value(&v))
}

/// approve, deny, cancel, release, revoke, review, extend: one POST of that operation's own
/// body, and the request afterwards.
pub fn act<B: Serialize>(c: &Client, id: &str, verb: &str, body: &B) -> Outcome {
    let r: RequestView = c.post_as(&format!("/v1/requests/{id}/{verb}"), body)?;
    c.show(&r, describe);
    Ok(as_value(&r))
}

/// `jit db-credentials ID`: a new database password, printed for the person alone (never
/// kept by the CLI).
pub fn db_credentials(c: &Client, id: &str) -> Outcome {
    let v: DbCredentialsView =
        c.post_as(&format!("/v1/requests/{id}/db-credentials"), &json!({}))?;
    c.show(&v, |v| {
        format!(
            "database {} at {}:{}\n  user:        {}\n  password:    {}\n  valid until: {}\n  connect:     {}\n(each call issues a new password; the one before stops working for new sign-ins)\n",
            v.database,
            v.endpoint,
            v.port,
            v.user,
            v.password,
            v.valid_until.to_rfc3339(),
            v.psql
        )
    });
    Ok(as_value(&v))
}

/// `jit audit`.
pub fn audit(
    c: &Client,
    from: Option<String>,
    to: Option<String>,
    user: Option<String>,
    bundle: Option<String>,
    csv: bool,
) -> Outcome {
    let mut q = Vec::new();
    for (k, v) in [
        (
            "from",
            from.map(|t| crate::present::when("--from", &t))
                .transpose()?,
        ),
        (
            "to",
            to.map(|t| crate::present::when("--to", &t)).transpose()?,
        ),
        ("user", user),
        ("bundle", bundle),
    ] {
        if let Some(v) = v {
            q.push((k, v));
        }
    }
    if csv {
        q.push(("format", "csv".to_string()));
        let v = c.get("/v1/audit", &q)?;
        print!("{}", v.as_str().unwrap_or_default());
        return Ok(v);
    }
    let v: AuditPage = c.get_as("/v1/audit", &q)?;
    c.show(&v, |v| {
        if v.records.is_empty() {
            return "no audit records in that range\n".into();
        }
        let rows: Vec<Vec<String>> = v
            .records
            .iter()
            .map(|e| {
                vec![
                    at(e.at),
                    e.request_id.to_string(),
                    e.action.as_str().to_string(),
                    paint(e.status.as_str()),
                    e.actor.to_string(),
                    e.bundle.to_string(),
                    e.requester.to_string(),
                    e.message.clone().unwrap_or_default(),
                ]
            })
            .collect();
        crate::find::table(
            &[
                "TIME", "REQUEST", "ACTION", "STATUS", "BY", "BUNDLE", "FOR", "MESSAGE",
            ],
            &rows,
        )
    });
    Ok(as_value(&v))
}

fn percent(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{:.0}%", r * 100.0))
}

/// `jit report`.
pub fn report(c: &Client) -> Outcome {
    let v: Report = c.get_as("/v1/report", &[])?;
    c.show(&v, |v| {
        let median = v
            .median_seconds_to_access
            .map_or("-".into(), |s| format!("{s:.1}s"));
        format!(
            "{} to {}\n  requests {}  auto-approved {} ({})  approved {}  denied {}  expired {}  failed {}\n  median time to access {median}\n  active grants {}  standing exceptions {}  break-glass awaiting review {}\n",
            at(v.from), at(v.to), v.requests, v.auto_approved, percent(v.auto_approval_rate), v.approved, v.denied, v.expired, v.failed,
            v.active_grants, v.standing_exceptions.ids.len(), v.break_glass_awaiting_review.len()
        ) + &format!(
            "  access-denied prompts {}  requested from {} ({})  dismissed {}  unanswered {}\n",
            v.prompts.sent, v.prompts.requested, percent(v.prompts.conversion_rate),
            v.prompts.abandoned, v.prompts.abandoned_expired
        )
    });
    Ok(as_value(&v))
}

/// `jit local advance`.
pub fn advance(c: &Client, by: &str) -> Outcome {
    let v = c.post("/local/clock", json!({ "advance": by }))?;
    c.show(&v, |v| {
        let fired: Vec<&str> = v["fired"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut out = format!("local time is now {}\n", time(&v["now"]));
        if fired.is_empty() {
            out.push_str("  nothing fell due\n");
        }
        for f in fired {
            out.push_str(&format!("  fired {f}\n"));
        }
        out
    });
    Ok(v)
}

/// `jit local identity`: the simulated AWS side.
pub fn identity(c: &Client) -> Outcome {
    let v = c.get("/local/identity", &[])?;
    c.show(&v, |v| {
        let mut out = String::new();
        for (person, doc) in v["containers"].as_object().into_iter().flatten() {
            let statements = doc["Statement"].as_array().cloned().unwrap_or_default();
            out.push_str(&format!(
                "{person}: permission set with {} statement(s)\n",
                statements.len()
            ));
            for s in statements {
                let expires = s
                    .pointer("/Condition/DateLessThan/aws:CurrentTime")
                    .and_then(Value::as_str)
                    .unwrap_or("-");
                out.push_str(&format!(
                    "  {}  {}  on {}  until {expires}\n",
                    s["Sid"].as_str().unwrap_or("?"),
                    s["Action"],
                    s["Resource"]
                ));
            }
        }
        for (key, holders) in v["assignments"].as_object().into_iter().flatten() {
            out.push_str(&format!("assignment {key} held by {holders}\n"));
        }
        if out.is_empty() {
            "no grants in the simulated AWS side\n".into()
        } else {
            out
        }
    });
    Ok(v)
}

/// `jit local link`: the newest decision link in the outbox for `email`, without its `?action`.
pub fn link(c: &Client, email: &str, prompt: bool) -> Outcome {
    let v = c.get("/local/outbox", &[])?;
    let wanted = email.trim().to_ascii_lowercase();
    let (kind, marker, what) = if prompt {
        ("access-prompt", "/v1/prompts/", "access-denied prompt")
    } else {
        ("approval-request", "/v1/decisions/", "decision")
    };
    let found = v["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .filter(|m| {
            m["kind"] == kind
                && m["to"]
                    .as_array()
                    .is_some_and(|to| to.iter().any(|t| t == wanted.as_str()))
        })
        .find_map(|m| {
            m["text"].as_str()?.lines().find_map(|l| {
                let at = l.find("http")?;
                let url = &l[at..];
                url.contains(marker)
                    .then(|| url.split('?').next().unwrap_or(url).to_string())
            })
        });
    match found {
        Some(url) => {
            if c.json {
                println!("{}", json!({ "link": url }));
            } else {
                println!("{url}");
            }
            Ok(json!({ "link": url }))
        }
        None => Err(Failure {
            code: exit::REFUSED,
            message: format!("no {what} link has been emailed to {email}"),
        }),
    }
}

/// `jit prompts`: access-denied prompts and what became of them.
pub fn prompts(
    c: &Client,
    from: Option<String>,
    to: Option<String>,
    user: Option<String>,
) -> Outcome {
    let from = from
        .map(|t| crate::present::when("--from", &t))
        .transpose()?;
    let to = to.map(|t| crate::present::when("--to", &t)).transpose()?;
    let q: Vec<(&str, String)> = [("from", from), ("to", to), ("user", user)]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    let v: PromptsPage = c.get_as("/v1/prompts", &q)?;
    c.show(&v, |v| {
        if v.prompts.is_empty() {
            return "no prompts in this period\n".to_string();
        }
        let mut out = String::new();
        for p in &v.prompts {
            let outcome = match &p.request_id {
                Some(id) => format!("{} (request {id})", p.status.as_str()),
                None => p.status.as_str().to_string(),
            };
            out.push_str(&format!(
                "{}  {}  {} denied {}{}; offered {}: {outcome}\n",
                at(p.sent_at),
                p.id,
                p.person,
                p.action,
                p.resource
                    .as_deref()
                    .map(|r| format!(" on {r}"))
                    .unwrap_or_default(),
                if p.offered.is_empty() {
                    "nothing".to_string()
                } else {
                    p.offered.join(", ")
                },
            ));
        }
        out
    });
    Ok(as_value(&v))
}

/// `jit local deny FILE`: hands jit-local a CloudTrail event, as EventBridge does the pod.
pub fn deny(c: &Client, file: &std::path::Path) -> Outcome {
    let text = if file.as_os_str() == "-" {
        let mut t = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut t).map(|_| t)
    } else {
        std::fs::read_to_string(file)
    }
    .map_err(|e| Failure {
        code: exit::USAGE,
        message: format!("cannot read {}: {e}", file.display()),
    })?;
    let event: Value = serde_json::from_str(&text).map_err(|e| Failure {
        code: exit::USAGE,
        message: format!("{} is not JSON: {e}", file.display()),
    })?;
    let v = c.post("/local/cloudtrail", event)?;
    c.show(&v, |v| {
        let person = v["person"].as_str().unwrap_or("?");
        let action = v["action"].as_str().unwrap_or("?");
        match v["outcome"].as_str().unwrap_or("") {
            "prompted" => format!(
                "prompted {person} for {action}: offered {} (jit local link {person} --prompt)\n",
                v["offers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "service-disabled" => {
                format!("told {person} that the service of {action} is disabled\n")
            }
            "quiet" => {
                format!("{person} was prompted for {action} within the hour; nothing sent\n")
            }
            "no-bundle" => {
                format!("no bundle {person} may ask for allows {action}; nothing sent\n")
            }
            _ => format!(
                "ignored: {}\n",
                v["why"].as_str().unwrap_or("not an access denial")
            ),
        }
    });
    Ok(v)
}
