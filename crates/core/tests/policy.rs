//! The approval engine's rules, one by one, on small catalogs.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use jit_core::catalog::{self, Catalog, Require};
use jit_core::policy::{
    decide, decide_auto, groups_needed, Membership, Refusal, RequestInput, Requester,
};
use jit_core::types::*;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn catalog(text: &str) -> Catalog {
    catalog::parse_files(&[("c.toml".into(), text.into())]).unwrap_or_else(|e| panic!("{e}"))
}

fn e(s: &str) -> Email {
    Email::parse(&format!("{s}@example.com")).unwrap()
}

fn g(s: &str) -> GroupName {
    GroupName::parse(s).unwrap()
}

fn membership(pairs: &[(&str, &[&str])]) -> Membership {
    pairs
        .iter()
        .map(|(grp, people)| (g(grp), people.iter().map(|p| e(p)).collect::<BTreeSet<_>>()))
        .collect()
}

fn input(bundle: &str, duration: &str) -> RequestInput {
    RequestInput {
        bundle: Some(BundleName::parse(bundle).unwrap()),
        duration: Some(GrantDuration::parse(duration).unwrap()),
        reason: Some("because".into()),
        ..RequestInput::default()
    }
}

fn matrix_catalog(risk: &str) -> Catalog {
    catalog(&format!(
        r#"
[[bundle]]
name = "b"
owner_team = "owners"
risk = "{risk}"
accounts = ["111111111111"]
statements = [{{ actions = ["s3:GetObject"], resources = ["*"] }}]

[[flow]]
name = "f"
requesters = ["*"]
bundles = ["b"]
max_duration = "30d"
"#
    ))
}

#[test]
fn the_risk_matrix_of_the_design_is_applied_cell_by_cell() {
    let m = membership(&[("owners", &["olga", "oscar"]), ("platform-team", &["pat"])]);
    let durations = ["1d", "7d", "14d", "15d"];
    // (risk, [owner outcome per column], [non-owner outcome per column]); a = auto, o = owner, p = platform
    let table = [
        ("low", "aaao", "aaoo"),
        ("medium", "aaoo", "aooo"),
        ("high", "aoop", "ooop"),
        ("critical", "oopp", "oopp"),
    ];
    for (risk, owner_row, other_row) in table {
        let cat = matrix_catalog(risk);
        for (row, person, groups) in [
            (owner_row, "olga", vec![g("owners")]),
            (other_row, "dan", vec![]),
        ] {
            for (col, d) in durations.iter().enumerate() {
                let who = Requester {
                    email: e(person),
                    groups: groups.clone(),
                };
                let plan = decide(&cat, &who, &m, &input("b", d), now()).unwrap().plan;
                let got = if plan.auto {
                    'a'
                } else if plan.groups[0].group == g("platform-team") {
                    'p'
                } else {
                    'o'
                };
                assert_eq!(
                    got,
                    row.as_bytes()[col] as char,
                    "{risk} {d} for {person}: {}",
                    plan.basis
                );
            }
        }
    }
}

const GROUPS_FLOW: &str = r#"
[[bundle]]
name = "b"
owner_team = "owners"
risk = "low"
accounts = ["111111111111", "222222222222"]
statements = [{ actions = ["s3:GetObject"], resources = ["*"] }]

[[flow]]
name = "f"
requesters = ["devs"]
bundles = ["b"]
max_duration = "4h"
default_duration = "2h"
ticket_pattern = "[A-Z]+-[0-9]+"
approval = { between = "any", groups = [{ name = "a", require = "all" }, { name = "b" }], escalate_to = ["c", "d"] }
"#;

#[test]
fn explicit_groups_keep_any_all_and_escalation_tiers() {
    let cat = catalog(GROUPS_FLOW);
    let m = membership(&[
        ("a", &["x", "y", "dev"]),
        ("b", &["z"]),
        ("c", &["p"]),
        ("d", &["q"]),
        ("owners", &[]),
        ("platform-team", &[]),
    ]);
    let who = Requester {
        email: e("dev"),
        groups: vec![g("devs"), g("a")],
    };
    let mut i = input("b", "1h");
    i.ticket = Some("OPS-1".into());
    let d = decide(&cat, &who, &m, &i, now()).unwrap();
    assert_eq!(d.plan.between, Require::Any);
    assert_eq!(d.plan.groups[0].require, Require::All);
    assert_eq!(
        d.plan.groups[0].members,
        [e("x"), e("y")].into(),
        "the requester is not their own approver"
    );
    assert_eq!(
        d.plan.groups[1].require,
        Require::Any,
        "require defaults to any"
    );
    assert_eq!(
        d.plan
            .tiers
            .iter()
            .map(|t| t.group.as_str())
            .collect::<Vec<_>>(),
        vec!["c", "d"]
    );
    assert_eq!(
        d.accounts.len(),
        2,
        "all the bundle's accounts unless some are named"
    );

    i.duration = None;
    assert_eq!(
        decide(&cat, &who, &m, &i, now()).unwrap().duration,
        GrantDuration::hours(2),
        "the flow's default"
    );
    let needed = groups_needed(&cat, &BundleName::parse("b").unwrap());
    for grp in ["a", "b", "c", "d", "owners", "platform-team"] {
        assert!(needed.contains(&g(grp)), "{grp}");
    }
}

#[test]
fn nobody_but_the_requester_means_refusal_when_no_tier_can_help() {
    let cat =
        catalog(&GROUPS_FLOW.replace("escalate_to = [\"c\", \"d\"]", "escalate_to = [\"c\"]"));
    let m = membership(&[("a", &["dev"]), ("b", &["dev"]), ("c", &["dev"])]);
    let who = Requester {
        email: e("dev"),
        groups: vec![g("devs")],
    };
    let mut i = input("b", "1h");
    i.ticket = Some("OPS-1".into());
    assert_eq!(
        decide(&cat, &who, &m, &i, now()),
        Err(Refusal::NoApprover(BundleName::parse("b").unwrap()))
    );

    let cat =
        catalog(&GROUPS_FLOW.replace("ticket_pattern", "self_approval = true\nticket_pattern"));
    let d = decide(&cat, &who, &m, &i, now()).unwrap();
    assert!(
        d.plan.groups[0].members.contains(&e("dev")),
        "a flow may allow self-approval"
    );
}

#[test]
fn the_least_demanding_admitting_flow_is_chosen() {
    let cat = catalog(
        r#"
[[bundle]]
name = "b"
owner_team = "owners"
risk = "critical"
accounts = ["111111111111"]
statements = [{ actions = ["s3:GetObject"], resources = ["*"] }]

[[flow]]
name = "a-strict"
requesters = ["devs"]
bundles = ["b"]

[[flow]]
name = "z-oncall"
requesters = ["oncall"]
bundles = ["b"]
approval = "auto"
"#,
    );
    let m = membership(&[("owners", &["o"]), ("platform-team", &["p"])]);
    let both = Requester {
        email: e("dev"),
        groups: vec![g("devs"), g("oncall")],
    };
    assert_eq!(
        decide(&cat, &both, &m, &input("b", "1h"), now())
            .unwrap()
            .flow
            .as_str(),
        "z-oncall"
    );
    let dev = Requester {
        email: e("dev"),
        groups: vec![g("devs")],
    };
    let d = decide(&cat, &dev, &m, &input("b", "1h"), now()).unwrap();
    assert_eq!(d.flow.as_str(), "a-strict");
    assert!(!d.plan.auto);
    let mut named = input("b", "1h");
    named.flow = Some(FlowName::parse("z-oncall").unwrap());
    assert!(matches!(
        decide(&cat, &dev, &m, &named, now()),
        Err(Refusal::NotEligible { .. })
    ));
}

/// A submit granted at once is decided without listing anyone's groups: `decide_auto` answers
/// exactly when `decide` approves automatically, with the same decision, whatever the approver
/// groups hold (nobody, only the requester, or others) and whichever flows admit the person.
#[test]
fn granted_at_once_is_decided_from_the_requesters_own_groups() {
    let flows = r#"
[[flow]]
name = "a-strict"
requesters = ["devs"]
bundles = ["b"]

[[flow]]
name = "z-oncall"
requesters = ["oncall"]
bundles = ["b"]
approval = "auto"

[[flow]]
name = "m-matrix"
requesters = ["*"]
bundles = ["b"]
max_duration = "30d"
"#;
    let memberships = [
        Membership::new(),
        membership(&[("owners", &["olga"]), ("platform-team", &["olga"])]),
        membership(&[("owners", &["olga", "oscar"]), ("platform-team", &["pat"])]),
    ];
    let mut auto = 0;
    let mut waits = 0;
    for risk in ["low", "medium", "high", "critical"] {
        let cat = catalog(&format!(
            "[[bundle]]\nname = \"b\"\nowner_team = \"owners\"\nrisk = \"{risk}\"\naccounts = [\"111111111111\"]\nstatements = [{{ actions = [\"s3:GetObject\"], resources = [\"*\"] }}]\n{flows}"
        ));
        for groups in [
            vec![],
            vec![g("owners")],
            vec![g("devs")],
            vec![g("oncall")],
            vec![g("devs"), g("owners")],
        ] {
            let who = Requester {
                email: e("olga"),
                groups,
            };
            for d in ["1h", "1d", "7d", "15d"] {
                let ask = input("b", d);
                let quick = decide_auto(&cat, &who, &ask, now());
                for m in &memberships {
                    let full = decide(&cat, &who, m, &ask, now());
                    match (&quick, &full) {
                        (Some(q), Ok(f)) if f.plan.auto => {
                            assert_eq!(
                                (&q.flow, q.duration, &q.accounts, &q.plan.basis),
                                (&f.flow, f.duration, &f.accounts, &f.plan.basis)
                            );
                            auto += 1;
                        }
                        (None, Ok(f)) => {
                            assert!(!f.plan.auto, "{risk} {d} {:?}: {f:?}", who.groups);
                            waits += 1;
                        }
                        (None, Err(_)) => waits += 1,
                        (q, f) => panic!("{risk} {d} {:?}: {q:?} against {f:?}", who.groups),
                    }
                }
            }
        }
    }
    assert!(
        auto > 20 && waits > 20,
        "both kinds were tried: {auto} auto, {waits} not"
    );
}

#[test]
fn start_times_and_bounded_text_are_checked() {
    let cat = matrix_catalog("low");
    let m = membership(&[]);
    let who = Requester {
        email: e("dev"),
        groups: vec![],
    };
    let mut i = input("b", "1h");
    i.start_at = Some(now() - chrono::Duration::hours(1));
    assert_eq!(decide(&cat, &who, &m, &i, now()), Err(Refusal::BadStart));
    i.start_at = Some(now() + chrono::Duration::days(31));
    assert_eq!(decide(&cat, &who, &m, &i, now()), Err(Refusal::BadStart));
    i.start_at = Some(now() + chrono::Duration::days(1));
    assert!(decide(&cat, &who, &m, &i, now()).is_ok());
    i.reason = Some("x".repeat(1_001));
    assert_eq!(
        decide(&cat, &who, &m, &i, now()),
        Err(Refusal::TooLong {
            field: "reason",
            max: 1_000
        })
    );
}
