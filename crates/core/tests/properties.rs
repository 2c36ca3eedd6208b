//! Property tests: the container policy always mirrors the live grants; no sequence of commands
//! reaches active without the approval policy satisfied; replaying any command changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use jit_core::catalog::{Require, Statement};
use jit_core::lifecycle::{Command, Request, Status, Submission};
use jit_core::plan::{GrantSpec, PolicyDocument, POLICY_BUDGET};
use jit_core::policy::{ApprovalPlan, Decision, GroupRule, Tier};
use jit_core::types::*;
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn id(n: u16) -> RequestId {
    RequestId::parse(&format!("grant{n:05}")).unwrap()
}

#[derive(Debug, Clone)]
enum ContainerOp {
    Grant {
        n: u16,
        minutes: i64,
        actions: Vec<u8>,
        buckets: Vec<u8>,
    },
    Expire {
        n: u16,
    },
}

fn container_op() -> impl Strategy<Value = ContainerOp> {
    prop_oneof![
        (
            0u16..12,
            1i64..10_000,
            prop::collection::vec(0u8..6, 1..4),
            prop::collection::vec(0u8..6, 1..4)
        )
            .prop_map(|(n, minutes, actions, buckets)| ContainerOp::Grant {
                n,
                minutes,
                actions,
                buckets
            }),
        (0u16..12).prop_map(|n| ContainerOp::Expire { n }),
    ]
}

const ACTIONS: [&str; 6] = [
    "s3:GetObject",
    "s3:PutObject",
    "s3:*",
    "logs:GetLogEvents",
    "ec2:Describe*",
    "rds-db:connect",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_container_holds_exactly_the_live_grants_with_their_expiries(ops in prop::collection::vec(container_op(), 1..60)) {
        let mut doc = PolicyDocument::default();
        let mut live: BTreeMap<RequestId, DateTime<Utc>> = BTreeMap::new();
        for op in ops {
            match op {
                ContainerOp::Grant { n, minutes, actions, buckets } => {
                    let expires_at = t0() + Duration::minutes(minutes);
                    let statements = vec![Statement {
                        actions: actions.iter().map(|a| IamAction::parse(ACTIONS[*a as usize]).unwrap()).collect(),
                        resources: buckets.iter().map(|b| ResourceArn::parse(&format!("arn:aws:s3:::bucket-{b}/*")).unwrap()).collect(),
                    }];
                    let grant = GrantSpec {
                        id: id(n),
                        statements,
                        accounts: vec![AccountId::parse("111111111111").unwrap()],
                        starts_at: None,
                        expires_at,
                    };
                    match doc.with(&grant, POLICY_BUDGET) {
                        Ok(next) => {
                            doc = next;
                            live.insert(id(n), expires_at);
                        }
                        Err(e) => prop_assert!(e.needed > e.room, "refused only when it does not fit"),
                    }
                }
                ContainerOp::Expire { n } => {
                    doc = doc.without(&id(n));
                    live.remove(&id(n));
                }
            }
            let in_doc: BTreeSet<RequestId> = doc.grant_ids();
            prop_assert_eq!(&in_doc, &live.keys().cloned().collect::<BTreeSet<_>>());
            for (gid, expiry) in &live {
                let written = doc.expiry_of(gid).unwrap();
                prop_assert_eq!(written, expiry.format("%Y-%m-%dT%H:%M:%SZ").to_string());
            }
            for st in &doc.statements {
                prop_assert!(st.pointer("/Condition/DateLessThan/aws:CurrentTime").is_some(), "every statement expires");
            }
            prop_assert!(doc.size() <= POLICY_BUDGET);
        }
    }
}

// ---- lifecycle ---------------------------------------------------------------------------------

const PEOPLE: [&str; 5] = ["ann", "ben", "cat", "dov", "eve"];
const GROUPS: [&str; 4] = ["g0", "g1", "g2", "g3"];

fn person(i: usize) -> Email {
    Email::parse(&format!("{}@example.com", PEOPLE[i % PEOPLE.len()])).unwrap()
}

fn group(i: usize) -> GroupName {
    GroupName::parse(GROUPS[i % GROUPS.len()]).unwrap()
}

#[derive(Debug, Clone)]
struct Setup {
    requester: usize,
    auto: bool,
    between_all: bool,
    first: Vec<(usize, bool)>,
    tiers: Vec<usize>,
    /// membership[g] = people in group g (bitmask).
    membership: [u8; 4],
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        0usize..5,
        prop::bool::weighted(0.15),
        any::<bool>(),
        prop::collection::vec((0usize..4, any::<bool>()), 1..3),
        prop::collection::vec(0usize..4, 0..3),
        [any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()],
    )
        .prop_map(
            |(requester, auto, between_all, first, tiers, membership)| Setup {
                requester,
                auto,
                between_all,
                first,
                tiers,
                membership,
            },
        )
}

fn members_of(s: &Setup, g: usize) -> BTreeSet<Email> {
    (0..5)
        .filter(|p| s.membership[g] & (1 << p) != 0)
        .map(person)
        .filter(|p| *p != person(s.requester))
        .collect()
}

fn groups_of(s: &Setup, p: usize) -> Vec<GroupName> {
    (0..4)
        .filter(|g| s.membership[*g] & (1 << (p % 5)) != 0)
        .map(group)
        .collect()
}

fn build(s: &Setup) -> Request {
    let mut seen = BTreeSet::new();
    let groups: Vec<GroupRule> = s
        .first
        .iter()
        .filter(|(g, _)| seen.insert(*g))
        .map(|(g, all)| GroupRule {
            group: group(*g),
            require: if *all { Require::All } else { Require::Any },
            members: members_of(s, *g),
        })
        .collect();
    let plan = ApprovalPlan {
        auto: s.auto,
        between: if s.between_all {
            Require::All
        } else {
            Require::Any
        },
        groups: if s.auto { vec![] } else { groups },
        tiers: s
            .tiers
            .iter()
            .map(|g| Tier {
                group: group(*g),
                members: members_of(s, *g),
            })
            .collect(),
        start_tier: 0,
        escalate_after_secs: 3_600,
        request_ttl_secs: 86_400,
        break_glass: false,
        notify: vec![],
        basis: "test".into(),
        approve_in_chat: true,
        chat_channel: None,
    };
    let decision = Decision {
        flow: FlowName::parse("f").unwrap(),
        bundle: BundleName::parse("b").unwrap(),
        duration: GrantDuration::hours(4),
        accounts: vec![],
        plan,
    };
    let sub = Submission {
        requester: person(s.requester),
        reason: "r".into(),
        ticket: None,
        start_at: None,
        catalog_version: "v1".into(),
        place: None,
    };
    Request::submit(
        RequestId::parse("req00000001").unwrap(),
        &decision,
        sub,
        t0(),
    )
    .request
}

fn command() -> impl Strategy<Value = (u8, usize, usize, i64)> {
    (0u8..12, 0usize..5, 0usize..4, 0i64..400)
}

fn to_command(s: &Setup, r: &Request, (kind, p, n, _): (u8, usize, usize, i64)) -> Command {
    let who = person(p);
    match kind {
        0..=2 => Command::Approve {
            approver: who,
            groups: groups_of(s, p),
            message: String::new(),
            duration: (n == 3).then(|| GrantDuration::hours(1)),
        },
        3 => Command::Deny {
            approver: who,
            groups: groups_of(s, p),
            message: "no".into(),
        },
        4 => Command::Cancel { actor: who },
        5 => Command::Escalate { to_tier: n },
        6 => Command::ExpireUnanswered,
        7 => Command::Activate,
        8 => Command::Fail {
            reason: "boom".into(),
        },
        9 => Command::Release { actor: who },
        10 => Command::Revoke {
            actor: who,
            is_admin: n % 2 == 0,
            message: "m".into(),
        },
        _ => Command::Extend {
            actor: who,
            from: r.expires_at.unwrap_or(t0()),
            by: GrantDuration::hours(1),
            reason: "x".into(),
            max_total: GrantDuration::hours(8),
        },
    }
}

/// Independent statement of "approved": every vote counted came from a recorded member of the
/// group it counts for, and the groups combine as the plan says, or a reached tier approved.
fn policy_satisfied(r: &Request) -> bool {
    let p = &r.plan;
    if p.auto {
        return true;
    }
    let tier_ok = p.tiers.iter().take(r.tier).any(|t| {
        r.votes
            .iter()
            .any(|v| t.members.contains(&v.approver) && v.counts_for.contains(&t.group))
    });
    if tier_ok {
        return true;
    }
    let ok = |g: &GroupRule| {
        let voters: BTreeSet<&Email> = r
            .votes
            .iter()
            .filter(|v| g.members.contains(&v.approver) && v.counts_for.contains(&g.group))
            .map(|v| &v.approver)
            .collect();
        match g.require {
            Require::Any => !voters.is_empty(),
            Require::All => !g.members.is_empty() && g.members.iter().all(|m| voters.contains(m)),
        }
    };
    !p.groups.is_empty()
        && match p.between {
            Require::Any => p.groups.iter().any(ok),
            Require::All => p.groups.iter().all(ok),
        }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn nothing_is_granted_without_the_policy_satisfied_and_replays_change_nothing(
        s in setup(),
        commands in prop::collection::vec(command(), 1..40),
    ) {
        let mut r = build(&s);
        let mut now = t0();
        let mut records = r.audit_seq;
        for c in commands {
            now += Duration::minutes(c.3);
            let cmd = to_command(&s, &r, c);
            match r.apply(&cmd, now) {
                Ok(Some(t)) => {
                    prop_assert_eq!(t.request.version, r.version + 1);
                    prop_assert!(!t.events.is_empty(), "a change is always recorded");
                    prop_assert_eq!(t.request.audit_seq, records + t.events.len() as u64);
                    records = t.request.audit_seq;
                    let next = t.request;
                    if next.status.is_live() || matches!(next.status, Status::Released | Status::Revoked | Status::Ended | Status::Failed) {
                        prop_assert!(policy_satisfied(&next), "{:?} reached without approval: {:?}", next.status, next);
                    }
                    prop_assert!(next.votes.iter().all(|v| v.approver != next.requester), "self-approval is off");
                    // Replaying the same command on the new state is a no-op.
                    prop_assert_eq!(next.apply(&cmd, now), Ok(None), "replay of {:?}", cmd);
                    r = next;
                }
                Ok(None) => {}
                Err(_) => {}
            }
        }
        let mut statuses = vec![r.status];
        statuses.dedup();
        prop_assert!(Status::ALL.contains(&statuses[0]));
    }
}
