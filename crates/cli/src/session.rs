//! Which API a command talks to and as whom, and the commands that set that up: `jit login`,
//! `jit logout`, `jit whoami`.
//!
//! The API is `--api` (or `JIT_API`) when given, else the profile's (`--profile`,
//! `JIT_PROFILE`, else the config file's default), else the local one. A profile's sign-in is
//! used when the API is the profile's; `JIT_TOKEN` overrides it (scripts), and `--as` names
//! the caller to a jit-local that takes the X-Jit-User header.

use jit_contract::{ClientConfig, WhoAmI};
use serde_json::Value;

use crate::find::table;
use crate::profile::{valid_name, Config, Profile, Store};
use crate::remote::{as_value, exit, is_local, Client, Failure};
use crate::signin::{self, Method};
use crate::{Cli, Command};

/// Where jit-local listens by default.
const LOCAL: &str = "http://127.0.0.1:8080";

fn usage(message: String) -> Failure {
    Failure {
        code: exit::USAGE,
        message,
    }
}

fn same_api(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// The profile a command means, by name, if any.
fn chosen(cli: &Cli, file: &Config, store: &Store) -> Result<Option<(String, Profile)>, Failure> {
    let Some(name) = cli.profile.clone().or_else(|| file.default.clone()) else {
        return Ok(None);
    };
    valid_name(&name).map_err(usage)?;
    match file.profiles.get(&name) {
        Some(p) => Ok(Some((name, p.clone()))),
        None if cli.profile.is_some() => Err(usage(format!(
            "there is no profile {name:?} in {}; make it with: jit login --api URL --profile {name}",
            store.config_path().display()
        ))),
        None => Ok(None),
    }
}

/// The client for this command: its API, and the token or local identity it sends.
pub fn open(cli: &Cli) -> Result<Client, Failure> {
    let store = Store::locate();
    let file = store.load().map_err(usage)?;
    let logging_in = matches!(cli.command, Command::Login { .. });
    let chosen = match chosen(cli, &file, &store) {
        // `jit login --api URL --profile NEW` makes the profile.
        Err(_) if logging_in && cli.api.is_some() => None,
        other => other?,
    };
    let api = cli
        .api
        .clone()
        .or_else(|| chosen.as_ref().map(|(_, p)| p.api.clone()))
        .unwrap_or_else(|| LOCAL.to_string());
    let applies = chosen
        .as_ref()
        .filter(|(_, p)| same_api(&p.api, &api) && p.issuer.is_some());
    let sign_in = match applies {
        Some((name, _)) => format!("sign in: {}", signin::login_command(name)),
        None if is_local(&api) => format!(
            "say who you are: --as you@example.com (or, when this jit-local signs people in, jit login --api {api})"
        ),
        None => format!("sign in: jit login --api {api}"),
    };
    let token = match std::env::var("JIT_TOKEN").ok().filter(|t| !t.is_empty()) {
        Some(t) => Some(t),
        None if logging_in || matches!(cli.command, Command::Logout) => None,
        None => match applies {
            Some((name, p)) => Some(signin::bearer(&crate::remote::agent(), &store, name, p)?),
            None => None,
        },
    };
    Ok(Client::new(
        &api,
        cli.as_user.clone(),
        token,
        sign_in,
        cli.json,
    ))
}

/// `jit login`.
pub fn login(
    cli: &Cli,
    c: &Client,
    browser: bool,
    device: bool,
    no_browser: bool,
    port: u16,
) -> Result<Value, Failure> {
    let store = Store::locate();
    let file = store.load().map_err(usage)?;
    let api = c.base().to_string();
    let name = match &cli.profile {
        Some(n) => n.clone(),
        None => match file.profiles.iter().find(|(_, p)| same_api(&p.api, &api)) {
            Some((n, _)) => n.clone(),
            None if cli.api.is_none() && file.profiles.is_empty() => {
                return Err(usage(
                    "which API? jit login --api URL (the address your platform team gave you)".to_string(),
                ))
            }
            None if !file.profiles.contains_key("default") => "default".to_string(),
            None => {
                return Err(usage(format!(
                    "the profile \"default\" is {}; name this one: jit login --api {api} --profile NAME",
                    file.profiles["default"].api
                )))
            }
        },
    };
    valid_name(&name).map_err(usage)?;
    let config: ClientConfig = c.get_as("/v1/config", &[])?;
    let method = match (browser, device) {
        _ if port != 0 => Method::Browser { port },
        (true, _) => Method::Browser { port },
        (_, true) => Method::Device,
        _ => Method::Choose,
    };
    let agent = crate::remote::agent();
    let (profile, kept) = signin::login(&agent, &store, &name, &api, &config, method, !no_browser)?;
    if profile.issuer.is_none() {
        let v = serde_json::json!({ "profile": name, "api": api, "auth": config.auth });
        c.show(&v, |_| {
            format!("{api} is a jit-local that takes no sign-in: say who you are with --as you@example.com.\nSaved as the profile {name}.\n")
        });
        return Ok(v);
    }
    let token = signin::bearer(&agent, &store, &name, &profile)?;
    let signed_in = Client::new(
        &api,
        None,
        Some(token),
        signin::login_command(&name),
        c.json,
    );
    let me: WhoAmI = signed_in.get_as("/v1/me", &[])?;
    signed_in.show(&me, |me| {
        format!(
            "Signed in to {api} as {} (profile {name}; the sign-in is kept in {}).\n",
            jit_core::text::one_line(&me.email),
            kept.as_ref()
                .map_or_else(|| "nowhere".to_string(), |k| k.to_string())
        )
    });
    Ok(as_value(&me))
}

/// `jit logout`.
pub fn logout(cli: &Cli) -> Result<Value, Failure> {
    let store = Store::locate();
    let file = store.load().map_err(usage)?;
    let Some((name, profile)) = chosen(cli, &file, &store)? else {
        return Err(usage(
            "no profile to sign out of; jit login makes one".to_string(),
        ));
    };
    let was = signin::logout(&crate::remote::agent(), &store, &name, &profile)?;
    let v = serde_json::json!({ "profile": name, "api": profile.api, "signed_out": was });
    if cli.json {
        println!("{v}");
    } else if was {
        println!("Signed out of {} (profile {name}).", profile.api);
    } else {
        println!(
            "You were not signed in to {} (profile {name}).",
            profile.api
        );
    }
    Ok(v)
}

/// `jit whoami`.
pub fn whoami(c: &Client) -> Result<Value, Failure> {
    let me: WhoAmI = c.get_as("/v1/me", &[])?;
    c.show(&me, |me| {
        let line = jit_core::text::one_line;
        let mut out = format!("{} at {}\n", line(&me.email), c.base());
        out.push_str(&format!(
            "groups: {}\n",
            if me.groups.is_empty() {
                "none".to_string()
            } else {
                me.groups
                    .iter()
                    .map(|g| line(g))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ));
        if me.admin {
            out.push_str("admin:  yes (may revoke and review)\n");
        }
        if me.flows.is_empty() {
            out.push_str("You may not ask through any flow; ask your platform team.\n");
        } else {
            out.push_str("Flows you may ask through:\n");
            let rows: Vec<Vec<String>> = me
                .flows
                .iter()
                .map(|f| {
                    vec![
                        line(&f.flow.name),
                        line(&f.flow.approval),
                        f.flow.max_duration.clone(),
                        line(&f.bundles.join(", ")),
                    ]
                })
                .collect();
            out.push_str(&table(&["FLOW", "APPROVAL", "MAX", "BUNDLES"], &rows));
        }
        out
    });
    Ok(as_value(&me))
}
