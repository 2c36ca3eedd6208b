//! Checks that need more than the catalog's own files: that every IAM action a bundle names is
//! one AWS has (against an offline list, `data/iam-actions.txt`, refreshed by
//! `scripts/refresh-iam-actions.sh`), and that every group a catalog names exists in a
//! directory. `jit catalog check`, `jit catalog push` and jit-local run them; the functions do
//! not (the catalog they load was checked when it was pushed, and their cold start stays short).
//!
//! Each mistake is located by file and line, found as the quoted name in the files.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use super::model::{Approval, Catalog, NotifyTarget};
use super::parse::{closest, CatalogError};
use crate::types::GroupName;

/// The offline list: service prefix → its actions (as AWS spells them).
static DATA: &str = include_str!("../../data/iam-actions.txt");

/// Every IAM action, by service prefix, keyed in lower case (IAM compares without case).
pub struct IamActions {
    services: HashMap<String, HashMap<String, &'static str>>,
    /// Where the list came from (its first line).
    pub source: &'static str,
}

static OFFLINE: LazyLock<IamActions> = LazyLock::new(|| {
    let mut services = HashMap::new();
    let mut source = "";
    for line in DATA.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            source = comment;
            continue;
        }
        let mut words = line.split(' ');
        let Some(service) = words.next().filter(|s| !s.is_empty()) else {
            continue;
        };
        let actions = words.map(|a| (a.to_ascii_lowercase(), a)).collect();
        services.insert(service.to_string(), actions);
    }
    IamActions { services, source }
});

impl IamActions {
    /// The list shipped with this build.
    pub fn offline() -> &'static IamActions {
        &OFFLINE
    }

    /// Whether `action` (`service:Action`, wildcards `*` and `?` allowed, or `*`) names at
    /// least one action AWS has; otherwise what is wrong, with the nearest name.
    pub fn check(&self, action: &str) -> Result<(), String> {
        if action == "*" {
            return Ok(());
        }
        let Some((service, name)) = action.split_once(':') else {
            return Err("expected service:Action".into());
        };
        let Some(actions) = self.services.get(&service.to_ascii_lowercase()) else {
            let names: Vec<&str> = self.services.keys().map(String::as_str).collect();
            return Err(match closest(service, &names) {
                Some(near) => {
                    format!("AWS has no service prefix {service:?}; did you mean {near:?}?")
                }
                None => format!("AWS has no service prefix {service:?}"),
            });
        };
        let lower = name.to_ascii_lowercase();
        if lower.contains(['*', '?']) {
            return if actions.keys().any(|a| glob(&lower, a)) {
                Ok(())
            } else {
                Err(format!("{action} matches no {service} action"))
            };
        }
        if actions.contains_key(&lower) {
            return Ok(());
        }
        let names: Vec<&str> = actions.values().copied().collect();
        Err(match closest(name, &names) {
            Some(near) => {
                format!("{service} has no action {name:?}; did you mean {service}:{near}?")
            }
            None => format!("{service} has no action {name:?}"),
        })
    }
}

/// `*` any run, `?` one character; both lower case already.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Where `quoted` (a value as written, in double quotes) first appears in `files`: the file and
/// its line; the first file's first line when it cannot be found (a value written with single
/// quotes, say).
fn locate(files: &[(String, String)], value: &str) -> (String, usize) {
    let needle = format!("\"{value}\"");
    let literal = format!("'{value}'");
    for (name, text) in files {
        if let Some(at) = text.find(&needle).or_else(|| text.find(&literal)) {
            return (name.clone(), text[..at].matches('\n').count() + 1);
        }
    }
    (files.first().map(|f| f.0.clone()).unwrap_or_default(), 1)
}

/// Every bundle action AWS does not have, by file and line.
pub fn unknown_actions(catalog: &Catalog, files: &[(String, String)]) -> Vec<CatalogError> {
    let known = IamActions::offline();
    let mut out = Vec::new();
    for b in catalog.bundles.values() {
        for (i, st) in b.statements.iter().enumerate() {
            for (j, a) in st.actions.iter().enumerate() {
                if let Err(message) = known.check(a.as_str()) {
                    let (file, line) = locate(files, a.as_str());
                    out.push(CatalogError {
                        file,
                        line,
                        field: format!("bundle {:?}.statements[{i}].actions[{j}]", b.name.as_str()),
                        message,
                    });
                }
            }
        }
    }
    out
}

/// Every group the catalog names, with what names it (for messages).
pub fn groups_named(catalog: &Catalog) -> BTreeMap<GroupName, String> {
    let mut out = BTreeMap::new();
    let mut add = |g: &GroupName, by: String| {
        out.entry(g.clone()).or_insert(by);
    };
    add(
        &catalog.settings.platform_group,
        "settings.platform_group".into(),
    );
    add(&catalog.settings.admin_group, "settings.admin_group".into());
    for g in &catalog.settings.escalate_to {
        add(g, "settings.escalate_to".into());
    }
    for b in catalog.bundles.values() {
        add(
            &b.owner_team,
            format!("bundle {:?}.owner_team", b.name.as_str()),
        );
    }
    for f in catalog.flows.values() {
        let flow = format!("flow {:?}", f.name.as_str());
        for g in &f.requesters {
            add(g, format!("{flow}.requesters"));
        }
        for g in &f.escalate_to {
            add(g, format!("{flow}.escalate_to"));
        }
        for n in &f.notify {
            if let NotifyTarget::Group(g) = n {
                add(g, format!("{flow}.notify"));
            }
        }
        if let Approval::Groups(groups) = &f.approval {
            for (g, _) in &groups.groups {
                add(g, format!("{flow}.approval.groups"));
            }
        }
    }
    out
}

/// The groups the catalog names that `exists` says are not in the directory, by file and line.
pub fn missing_groups(
    catalog: &Catalog,
    files: &[(String, String)],
    exists: impl Fn(&GroupName) -> bool,
    directory: &str,
) -> Vec<CatalogError> {
    let all = groups_named(catalog);
    let present: Vec<&str> = all
        .keys()
        .filter(|g| exists(g))
        .map(GroupName::as_str)
        .collect();
    all.iter()
        .filter(|(g, _)| !exists(g))
        .map(|(g, by)| {
            let (file, line) = locate(files, g.as_str());
            let near = closest(g.as_str(), &present)
                .map(|n| format!("; did you mean {n:?}?"))
                .unwrap_or_default();
            CatalogError {
                file,
                line,
                field: by.clone(),
                message: format!("there is no group {:?} in {directory}{near}", g.as_str()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_actions_pass_and_typos_are_named_with_the_nearest() {
        let k = IamActions::offline();
        assert!(k.source.contains("iam-data"), "{}", k.source);
        for ok in [
            "logs:FilterLogEvents",
            "LOGS:filterlogevents",
            "s3:Get*",
            "s3:*",
            "*",
            "ec2:Describe?nstances",
            "rds-db:connect",
        ] {
            assert_eq!(k.check(ok), Ok(()), "{ok}");
        }
        let e = k.check("logs:FilterLogEvnts").unwrap_err();
        assert!(e.contains("did you mean logs:FilterLogEvents"), "{e}");
        let e = k.check("lgos:GetLogEvents").unwrap_err();
        assert!(e.contains("did you mean \"logs\""), "{e}");
        assert!(k
            .check("s3:Frobnicate*")
            .unwrap_err()
            .contains("matches no s3 action"));
    }

    #[test]
    fn globs_match_as_iam_does() {
        assert!(glob("get*", "getobject"));
        assert!(glob("*object", "getobject"));
        assert!(glob("g?tobject", "getobject"));
        assert!(!glob("put*", "getobject"));
        assert!(glob("*", ""));
    }
}
