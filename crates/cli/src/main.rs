//! `jit`: the command line. `jit catalog check|list|show` work on a catalog directory with no
//! service; everything else talks to the API: the one of a profile (`--profile`/`JIT_PROFILE`,
//! else the default profile, made by `jit login --api URL`), or `--api`/`JIT_API` (default
//! the local one). A profile signs in with OIDC (`jit login`); in local mode `--as`/`JIT_AS`
//! says who you are; `JIT_TOKEN` gives a bearer token outright (scripts).
//!
//! Exit codes: 0 success; 1 refused (rejected catalog, not allowed, not eligible, wrong state,
//! unknown thing); 2 usage errors; 3 failed (unreachable service, unreadable directory, a grant
//! that could not be applied); 4 sign-in needed.

mod access;
mod find;
mod keychain;
mod present;
mod profile;
mod remote;
mod session;
mod signin;

use jit_contract::{ApproveBody, ExtendBody, MessageBody, NewRequest};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use jit_core::catalog::{self, Approval, Catalog, LoadError, NotifyTarget, Strategy};
use jit_core::types::{BundleName, Risk};

/// Just-in-time AWS access.
#[derive(Parser)]
#[command(name = "jit", version, about)]
struct Cli {
    /// The API's base URL (default: the profile's, else the local one, http://127.0.0.1:8080).
    #[arg(long, env = "JIT_API", global = true)]
    api: Option<String>,
    /// The profile to use (see jit login); default: the config file's default profile.
    #[arg(long, env = "JIT_PROFILE", global = true)]
    profile: Option<String>,
    /// Who you are, in local mode (sent as X-Jit-User).
    #[arg(long = "as", env = "JIT_AS", global = true)]
    as_user: Option<String>,
    /// Print JSON instead of text (errors too, on stderr).
    #[arg(long, global = true)]
    json: bool,
    /// Show times in UTC rather than the local zone.
    #[arg(long, env = "JIT_UTC", global = true)]
    utc: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Clone)]
enum Command {
    /// Sign in to an API (--api URL the first time): reads how from the API's GET /v1/config,
    /// signs in with its OIDC issuer, and keeps the API as a profile (the default one when it
    /// is the first).
    Login {
        /// Sign in with the browser (authorization code with PKCE on a loopback redirect).
        #[arg(long, conflicts_with = "device")]
        browser: bool,
        /// Sign in with a code entered on any device (device authorization grant).
        #[arg(long)]
        device: bool,
        /// Do not open a browser: print the address to open.
        #[arg(long, conflicts_with = "device")]
        no_browser: bool,
        /// The loopback port for the browser's redirect (default: any free one), for an IdP
        /// that wants the exact redirect URI registered: http://127.0.0.1:PORT/callback.
        #[arg(long, default_value_t = 0, conflicts_with = "device")]
        port: u16,
    },
    /// Forget the sign-in of a profile (revoking its refresh token where the issuer allows).
    Logout,
    /// Who the API says you are: your email, groups, and the flows you may ask through.
    Whoami,
    /// Print a shell completion script: jit completions bash > ~/.local/share/bash-completion/completions/jit
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Work with a catalog directory (bundles and access flows as TOML).
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Ask for a bundle; waits while the grant is applied (--no-wait returns at once).
    Request {
        /// The bundle.
        bundle: String,
        /// How long (30m, 4h, 7d, PT4H).
        #[arg(long = "for")]
        duration: Option<String>,
        /// Why you need it.
        #[arg(long)]
        reason: Option<String>,
        /// Ticket reference, when the flow asks for one.
        #[arg(long)]
        ticket: Option<String>,
        /// Only these accounts (repeat the flag).
        #[arg(long = "account")]
        accounts: Vec<String>,
        /// A later start (RFC 3339, e.g. 2026-12-01T09:00:00Z).
        #[arg(long)]
        start: Option<String>,
        /// A specific flow (needed for break-glass).
        #[arg(long)]
        flow: Option<String>,
        /// Return as soon as the request is recorded.
        #[arg(long, conflicts_with = "wait")]
        no_wait: bool,
        /// Follow a request that needs approval until it is decided (and applied), showing
        /// what it waits for; gives up after the time given (30s, 15m, 1h; default 15m).
        #[arg(long, num_args = 0..=1, default_missing_value = "15m", value_name = "LIMIT")]
        wait: Option<String>,
    },
    /// The bundles you can ask for, or those matching SEARCH (name, description, owner,
    /// service or action), with their risk, owner and what they grant.
    Bundles {
        /// Words to look for.
        search: Option<String>,
    },
    /// One request with its timeline, or your requests.
    Status {
        /// The request id.
        id: Option<String>,
    },
    /// Your requests, newest first.
    List {
        /// Only your own (the default and only listing).
        #[arg(long)]
        mine: bool,
        /// Only this status (pending, active, ...).
        #[arg(long)]
        status: Option<String>,
    },
    /// Requests waiting for your decision.
    Approvals,
    /// Approve a request (optionally for a shorter time).
    Approve {
        /// The request id.
        id: String,
        /// Your message.
        #[arg(short, long, default_value = "")]
        message: String,
        /// A shorter duration.
        #[arg(long = "for")]
        duration: Option<String>,
    },
    /// Deny a request, saying why.
    Deny {
        /// The request id.
        id: String,
        /// Why.
        #[arg(short, long)]
        message: String,
    },
    /// Withdraw your pending request.
    Cancel {
        /// The request id.
        id: String,
    },
    /// End your grant early.
    Release {
        /// The request id.
        id: String,
    },
    /// Get a new password for your active database grant (postgres bundles); it works until
    /// your last grant on that database instance ends. Each call issues a new one.
    DbCredentials {
        /// The request id.
        id: String,
    },
    /// Lengthen your active grant.
    Extend {
        /// The request id.
        id: String,
        /// By how much.
        #[arg(long = "for")]
        duration: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// AWS CLI profiles for your active grants (an sso-session for the access portal and a
    /// profile per account); add them to ~/.aws/config.
    AwsConfig,
    /// End someone's grant (admins).
    Revoke {
        /// The request id.
        id: String,
        /// Why.
        #[arg(short, long)]
        message: String,
    },
    /// Record the review of a break-glass grant (admins).
    Review {
        /// The request id.
        id: String,
        /// Findings.
        #[arg(short, long)]
        message: String,
    },
    /// Audit records (everyone may read them).
    Audit {
        /// From: yesterday, today, 2h or 7d (ago), 2026-12-01, or RFC 3339 (default 7d).
        #[arg(long)]
        from: Option<String>,
        /// To, written the same ways (default now).
        #[arg(long)]
        to: Option<String>,
        /// Only records by or about this person.
        #[arg(long)]
        user: Option<String>,
        /// Only records about this bundle.
        #[arg(long)]
        bundle: Option<String>,
        /// CSV instead of text.
        #[arg(long)]
        csv: bool,
    },
    /// Access-denied prompts and what became of them (everyone may read them).
    Prompts {
        /// From: yesterday, today, 2h or 7d (ago), 2026-12-01, or RFC 3339 (default 7d).
        #[arg(long)]
        from: Option<String>,
        /// To, written the same ways (default now).
        #[arg(long)]
        to: Option<String>,
        /// Only those sent to this person.
        #[arg(long)]
        user: Option<String>,
    },
    /// Metrics: time to access, auto-approval rate, active grants, break-glass reviews.
    Report,
    /// Local mode only: the test clock and the simulated AWS side.
    #[command(subcommand)]
    Local(LocalCommand),
}

#[derive(Subcommand, Clone)]
enum LocalCommand {
    /// Move local time forward and fire what falls due.
    Advance {
        /// How far (e.g. 2h).
        duration: String,
    },
    /// Show the simulated permission sets and assignments.
    Identity,
    /// Print the newest decision link emailed to a person (to open, or to post the form to).
    Link {
        /// The approver's email (with --prompt: the person prompted).
        email: String,
        /// The newest access-denied prompt's request link instead.
        #[arg(long)]
        prompt: bool,
    },
    /// Hand jit-local a CloudTrail access-denied event, as EventBridge hands it to the pod
    /// function (e.g. events/cloudtrail-s3-access-denied.json).
    Deny {
        /// The event file (`-` for standard input).
        file: PathBuf,
    },
}

#[derive(Subcommand, Clone)]
enum CatalogCommand {
    /// Validate a catalog: print every error with file, line and field, or a summary.
    Check {
        /// The catalog directory.
        #[arg(default_value = "catalog/examples")]
        dir: PathBuf,
    },
    /// List the bundles with their risk, owner and the flows that offer them.
    List {
        /// The catalog directory.
        #[arg(long, default_value = "catalog/examples")]
        catalog: PathBuf,
    },
    /// Validate and publish a catalog as the new version in force (AWS credentials as usual;
    /// AWS_ENDPOINT_URL points elsewhere, e.g. moto). Functions pick it up within a minute.
    Push {
        /// The catalog directory.
        #[arg(default_value = "catalog/examples")]
        dir: PathBuf,
        /// The ledger table.
        #[arg(long, env = "JIT_TABLE")]
        table: String,
        /// Who publishes (recorded with the version).
        #[arg(long, env = "JIT_AS")]
        by: Option<String>,
        /// The Identity Store (d-…) whose groups the catalog's group names are checked
        /// against before anything is published.
        #[arg(long, env = "JIT_IDENTITY_STORE_ID")]
        identity_store: Option<String>,
    },
    /// Show one bundle: its permissions and how it is approved.
    Show {
        /// The bundle's name.
        bundle: String,
        /// The catalog directory.
        #[arg(long, default_value = "catalog/examples")]
        catalog: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    present::init(cli.utc, cli.json);
    match cli.command {
        Command::Catalog(cmd) => return catalog_command(cmd),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "jit", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let outcome = match session::open(&cli) {
        Ok(client) => run(&cli, &client),
        Err(f) => Err(f),
    };
    match outcome {
        Ok(_) => ExitCode::SUCCESS,
        Err(f) => {
            if cli.json {
                let body = serde_json::json!({ "error": { "exit": f.code, "message": f.message } });
                eprintln!("{body}");
            } else {
                eprintln!("jit: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}

fn run(cli: &Cli, c: &remote::Client) -> Result<serde_json::Value, remote::Failure> {
    match cli.command.clone() {
        Command::Catalog(_) | Command::Completions { .. } => {
            unreachable!("handled before a client is made")
        }
        Command::Login {
            browser,
            device,
            no_browser,
            port,
        } => session::login(cli, c, browser, device, no_browser, port),
        Command::Logout => session::logout(cli),
        Command::Whoami => session::whoami(c),
        Command::Request {
            bundle,
            duration,
            reason,
            ticket,
            accounts,
            start,
            flow,
            no_wait,
            wait,
        } => match start
            .as_deref()
            .map(chrono::DateTime::parse_from_rfc3339)
            .transpose()
        {
            Err(_) => Err(remote::Failure {
                code: remote::exit::USAGE,
                message: format!(
                    "--start {:?}: write a time such as 2026-12-03T09:00:00Z (RFC 3339)",
                    start.unwrap_or_default()
                ),
            }),
            Ok(start_at) => match wait.as_deref().map(find::wait_for).transpose() {
                Err(f) => Err(f),
                Ok(decided) => remote::request(
                    c,
                    NewRequest {
                        bundle: bundle.as_str().into(),
                        duration: duration.as_deref().map(Into::into),
                        reason: reason.map(Into::into),
                        ticket: ticket.map(Into::into),
                        accounts: (!accounts.is_empty())
                            .then(|| accounts.iter().map(|a| a.as_str().into()).collect()),
                        start_at: start_at.map(|t| t.with_timezone(&chrono::Utc)),
                        flow: flow.as_deref().map(Into::into),
                    },
                    !no_wait,
                    decided,
                ),
            },
        },
        Command::Status { id } => remote::status(c, id.as_deref()),
        Command::List { mine: _, status } => remote::list(c, status),
        Command::AwsConfig => access::aws_config_command(c),
        Command::Bundles { search } => find::bundles(c, search),
        Command::Approvals => remote::approvals(c),
        Command::Approve {
            id,
            message,
            duration,
        } => remote::act(
            c,
            &id,
            "approve",
            &ApproveBody {
                message: message.into(),
                duration: duration.as_deref().map(Into::into),
            },
        ),
        Command::Deny { id, message } => remote::act(
            c,
            &id,
            "deny",
            &MessageBody {
                message: message.into(),
            },
        ),
        Command::Cancel { id } => remote::act(c, &id, "cancel", &serde_json::json!({})),
        Command::Release { id } => remote::act(c, &id, "release", &serde_json::json!({})),
        Command::DbCredentials { id } => remote::db_credentials(c, &id),
        Command::Extend {
            id,
            duration,
            reason,
        } => remote::act(
            c,
            &id,
            "extend",
            &ExtendBody {
                duration: duration.as_str().into(),
                reason: reason.into(),
            },
        ),
        Command::Revoke { id, message } => remote::act(
            c,
            &id,
            "revoke",
            &MessageBody {
                message: message.into(),
            },
        ),
        Command::Review { id, message } => remote::act(
            c,
            &id,
            "review",
            &MessageBody {
                message: message.into(),
            },
        ),
        Command::Audit {
            from,
            to,
            user,
            bundle,
            csv,
        } => remote::audit(c, from, to, user, bundle, csv),
        Command::Report => remote::report(c),
        Command::Prompts { from, to, user } => remote::prompts(c, from, to, user),
        Command::Local(LocalCommand::Advance { duration }) => remote::advance(c, &duration),
        Command::Local(LocalCommand::Identity) => remote::identity(c),
        Command::Local(LocalCommand::Link { email, prompt }) => remote::link(c, &email, prompt),
        Command::Local(LocalCommand::Deny { file }) => remote::deny(c, &file),
    }
}

fn catalog_command(cmd: CatalogCommand) -> ExitCode {
    match cmd {
        CatalogCommand::Check { dir } => with_catalog(&dir, |cat| {
            let mut errors = known_errors(&dir, cat);
            if let Some(groups) = directory_groups(&dir) {
                let files = catalog::read_files(&dir).unwrap_or_default();
                errors.extend(catalog::known::missing_groups(
                    cat,
                    &files,
                    |g| groups.contains(g.as_str()),
                    "directory.toml",
                ));
            }
            if !errors.is_empty() {
                return report_errors(&dir, &errors);
            }
            print!("{}", summary(&dir, cat));
            ExitCode::SUCCESS
        }),
        CatalogCommand::Push {
            dir,
            table,
            by,
            identity_store,
        } => with_catalog(&dir, |cat| {
            let errors = known_errors(&dir, cat);
            if !errors.is_empty() {
                return report_errors(&dir, &errors);
            }
            push(&dir, cat, &table, by, identity_store.as_deref())
        }),
        CatalogCommand::List { catalog } => with_catalog(&catalog, |cat| {
            print!("{}", list(cat));
            ExitCode::SUCCESS
        }),
        CatalogCommand::Show { bundle, catalog } => with_catalog(&catalog, |cat| {
            match BundleName::parse(&bundle).ok().and_then(|b| cat.bundle(&b)) {
                Some(_) => {
                    print!("{}", show(cat, &bundle));
                    ExitCode::SUCCESS
                }
                None => {
                    eprintln!("there is no bundle {bundle:?}; `jit catalog list` shows them");
                    ExitCode::from(1)
                }
            }
        }),
    }
}

fn push(
    dir: &Path,
    cat: &Catalog,
    table: &str,
    by: Option<String>,
    identity_store: Option<&str>,
) -> ExitCode {
    use jit_core::ports::{CatalogStore, CatalogVersion};
    let files = match catalog::read_files(dir) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(3);
        }
    };
    let by = by
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into());
    let version = CatalogVersion {
        version: cat.version(),
        published_at: chrono::Utc::now(),
        published_by: by,
        files,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let sdk = runtime.block_on(aws_config::load_defaults(
        aws_config::BehaviorVersion::latest(),
    ));
    // Every group the catalog names must exist in the live directory before it is published.
    match identity_store {
        Some(store) => {
            let directory = jit_aws::IdentityStoreDirectory::new(
                aws_sdk_identitystore::Client::new(&sdk),
                store,
            );
            let mut missing = std::collections::BTreeSet::new();
            for g in catalog::known::groups_named(cat).into_keys() {
                match runtime.block_on(directory.group_exists(&g)) {
                    Ok(true) => {}
                    Ok(false) => {
                        missing.insert(g);
                    }
                    Err(e) => {
                        eprintln!("cannot read the Identity Store {store}: {e}");
                        return ExitCode::from(3);
                    }
                }
            }
            if !missing.is_empty() {
                let errors = catalog::known::missing_groups(
                    cat,
                    &version.files,
                    |g| !missing.contains(g),
                    &format!("the Identity Store {store}"),
                );
                return report_errors(dir, &errors);
            }
        }
        None => eprintln!(
            "note: the catalog's groups were not checked against the Identity Store; give --identity-store d-… (JIT_IDENTITY_STORE_ID)"
        ),
    }
    let outcome = runtime.block_on(
        jit_aws::DynamoCatalogs::new(aws_sdk_dynamodb::Client::new(&sdk), table).publish(&version),
    );
    match outcome {
        Ok(true) => {
            println!("published {} ({} bundles, {} flows) to {table}; the functions use it within a minute", version.version, cat.bundles.len(), cat.flows.len());
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!(
                "{} is already the catalog in force in {table}; nothing to publish",
                version.version
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("could not publish to {table}: {e}");
            ExitCode::from(3)
        }
    }
}

/// Bundle actions AWS does not have (the offline list `scripts/refresh-iam-actions.sh` keeps).
fn known_errors(dir: &Path, cat: &Catalog) -> Vec<catalog::CatalogError> {
    let files = catalog::read_files(dir).unwrap_or_default();
    catalog::known::unknown_actions(cat, &files)
}

/// The groups of the catalog directory's `directory.toml` (local mode's directory), if it has one.
fn directory_groups(dir: &Path) -> Option<std::collections::BTreeSet<String>> {
    let text = std::fs::read_to_string(dir.join(catalog::DIRECTORY_FILE)).ok()?;
    let doc: toml::Value = toml::from_str(&text).ok()?;
    Some(
        doc.get("group")?
            .as_array()?
            .iter()
            .filter_map(|g| g.get("name")?.as_str().map(str::to_string))
            .collect(),
    )
}

/// Prints catalog errors as `jit catalog check` does; exit 1.
fn report_errors(dir: &Path, errors: &[catalog::CatalogError]) -> ExitCode {
    for e in errors {
        eprintln!(
            "{}:{}: {}: {}",
            dir.join(&e.file).display(),
            e.line,
            e.field,
            e.message
        );
    }
    let n = errors.len();
    eprintln!(
        "{n} error{} in {}; fix them and run `jit catalog check` again",
        if n == 1 { "" } else { "s" },
        dir.display()
    );
    ExitCode::from(1)
}

fn with_catalog(dir: &Path, then: impl FnOnce(&Catalog) -> ExitCode) -> ExitCode {
    match catalog::load_dir(dir) {
        Ok(cat) => then(&cat),
        Err(LoadError::Invalid(errors)) => {
            for e in &errors.0 {
                eprintln!(
                    "{}:{}: {}: {}",
                    dir.join(&e.file).display(),
                    e.line,
                    e.field,
                    e.message
                );
            }
            let n = errors.0.len();
            eprintln!(
                "{n} error{} in {}; fix them and run `jit catalog check` again",
                if n == 1 { "" } else { "s" },
                dir.display()
            );
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(3)
        }
    }
}

fn summary(dir: &Path, cat: &Catalog) -> String {
    let mut risks: BTreeMap<Risk, usize> = BTreeMap::new();
    for b in cat.bundles.values() {
        *risks.entry(b.risk).or_default() += 1;
    }
    let spread: Vec<String> = Risk::ALL
        .iter()
        .map(|r| format!("{r} {}", risks.get(r).copied().unwrap_or(0)))
        .collect();
    let count = |f: fn(&catalog::Flow) -> bool| cat.flows.values().filter(|fl| f(fl)).count();
    let mut out = format!("{}: valid, version {}\n", dir.display(), cat.version());
    out.push_str(&format!(
        "  {} bundles: {}\n",
        cat.bundles.len(),
        spread.join(", ")
    ));
    out.push_str(&format!(
        "  {} flows: {} by risk matrix, {} with named approvers, {} automatic, {} break-glass\n",
        cat.flows.len(),
        count(|f| matches!(f.approval, Approval::Matrix)),
        count(|f| matches!(f.approval, Approval::Groups(_))),
        count(|f| matches!(f.approval, Approval::Auto) && !f.break_glass),
        count(|f| f.break_glass),
    ));
    for b in cat.bundles.values() {
        if let Some(d) = &b.deprecated {
            let to = d
                .successor
                .as_ref()
                .map_or("no successor".to_string(), |s| format!("successor {s}"));
            out.push_str(&format!("  deprecated: {} ({to})\n", b.name));
        }
    }
    let unoffered: Vec<&str> = cat
        .bundles
        .keys()
        .filter(|b| cat.flows_for(b).next().is_none())
        .map(|b| b.as_str())
        .collect();
    if !unoffered.is_empty() {
        out.push_str(&format!(
            "  not offered by any flow (nobody can request them): {}\n",
            unoffered.join(", ")
        ));
    }
    if !cat.settings.disabled_services.is_empty() {
        out.push_str(&format!(
            "  disabled services: {}\n",
            cat.settings.disabled_services.join(", ")
        ));
    }
    out
}

fn list(cat: &Catalog) -> String {
    let mut out = format!(
        "{:<22} {:<9} {:<12} {:<15} flows\n",
        "BUNDLE", "RISK", "STRATEGY", "OWNER"
    );
    for b in cat.bundles.values() {
        let flows: Vec<&str> = cat.flows_for(&b.name).map(|f| f.name.as_str()).collect();
        let mut name = b.name.to_string();
        if b.deprecated.is_some() {
            name.push_str(" (deprecated)");
        }
        out.push_str(&format!(
            "{name:<22} {:<9} {:<12} {:<15} {}\n",
            b.risk,
            b.strategy.as_str(),
            b.owner_team,
            flows.join(", ")
        ));
    }
    out
}

fn show(cat: &Catalog, name: &str) -> String {
    let b = cat
        .bundle(&BundleName::parse(name).expect("checked by the caller"))
        .expect("checked by the caller");
    let mut out = format!("{}: {}\n", b.name, b.description);
    out.push_str(&format!(
        "  owner: {}   risk: {}   strategy: {}\n",
        b.owner_team,
        b.risk,
        b.strategy.as_str()
    ));
    if let Strategy::Assignment { permission_set } = &b.strategy {
        out.push_str(&format!("  permission set: {permission_set}\n"));
    }
    out.push_str(&format!(
        "  accounts: {}\n",
        b.accounts
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if let Some(m) = b.max_duration {
        out.push_str(&format!("  longest grant: {m}\n"));
    }
    for s in &b.statements {
        let actions: Vec<&str> = s.actions.iter().map(|a| a.as_str()).collect();
        let resources: Vec<&str> = s.resources.iter().map(|r| r.as_str()).collect();
        out.push_str(&format!(
            "  allow {} on {}\n",
            actions.join(", "),
            resources.join(", ")
        ));
    }
    for f in cat.flows_for(&b.name) {
        let who = if f.everyone {
            "everyone".to_string()
        } else {
            f.requesters
                .iter()
                .map(|g| g.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let how = match &f.approval {
            Approval::Auto if f.break_glass => {
                let notify: Vec<String> = f
                    .notify
                    .iter()
                    .map(|n| match n {
                        NotifyTarget::Person(p) => p.to_string(),
                        NotifyTarget::Group(g) => g.to_string(),
                    })
                    .collect();
                format!(
                    "break-glass: granted at once, notifies {}, reviewed afterwards",
                    notify.join(", ")
                )
            }
            Approval::Auto => "automatic".to_string(),
            Approval::Matrix => "by the risk matrix".to_string(),
            Approval::Groups(g) => {
                let join = if g.between == catalog::Require::All {
                    " AND "
                } else {
                    " OR "
                };
                g.groups
                    .iter()
                    .map(|(n, r)| format!("{n} ({r})"))
                    .collect::<Vec<_>>()
                    .join(join)
            }
        };
        out.push_str(&format!(
            "  flow {}: for {who}; up to {} (default {}); approval: {how}\n",
            f.name, f.max_duration, f.default_duration
        ));
    }
    out
}
