//! `jit`: the command line. This part works on a catalog directory, with no service:
//! `jit catalog check|list|show`.
//!
//! Exit codes: 0 success, 1 the catalog was rejected or the thing asked for does not exist,
//! 2 usage errors (from clap), 3 the directory could not be read.

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Work with a catalog directory (bundles and access flows as TOML).
    #[command(subcommand)]
    Catalog(CatalogCommand),
}

#[derive(Subcommand)]
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
    match cli.command {
        Command::Catalog(CatalogCommand::Check { dir }) => with_catalog(&dir, |cat| {
            print!("{}", summary(&dir, cat));
            ExitCode::SUCCESS
        }),
        Command::Catalog(CatalogCommand::List { catalog }) => with_catalog(&catalog, |cat| {
            print!("{}", list(cat));
            ExitCode::SUCCESS
        }),
        Command::Catalog(CatalogCommand::Show { bundle, catalog }) => {
            with_catalog(&catalog, |cat| {
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
            })
        }
    }
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
