//! Catalog as code: the example catalog loads, and every kind of mistake is reported with its
//! file, line and field, all at once.

use std::path::Path;

use jit_core::catalog::{self, Approval, CatalogError, MatrixCell, Require, Strategy};
use jit_core::types::{BundleName, GrantDuration, Risk};

fn parse(text: &str) -> Result<catalog::Catalog, Vec<CatalogError>> {
    catalog::parse_files(&[("test.toml".to_string(), text.to_string())]).map_err(|e| e.0)
}

fn errors(text: &str) -> Vec<CatalogError> {
    match parse(text) {
        Ok(_) => panic!("expected the catalog to be rejected"),
        Err(e) => e,
    }
}

/// Asserts that some error sits on `line`, names `field` and says `fragment`.
fn has(errors: &[CatalogError], line: usize, field: &str, fragment: &str) {
    assert!(
        errors.iter().any(|e| e.file == "test.toml"
            && e.line == line
            && e.field == field
            && e.message.contains(fragment)),
        "no error at line {line} on {field} containing {fragment:?}; got:\n{}",
        errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

const GOOD_BUNDLE: &str = r#"
[[bundle]]
name = "logs"
owner_team = "ops"
risk = "low"
accounts = ["111111111111"]
statements = [{ actions = ["logs:GetLogEvents"], resources = ["*"] }]
"#;

#[test]
fn the_example_catalog_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../catalog/examples");
    let cat = catalog::load_dir(&dir).expect("example catalog is valid");
    assert_eq!(cat.bundles.len(), 10);
    assert_eq!(cat.flows.len(), 5);
    let pii = &cat.flows[&"prod-pii".parse().unwrap()];
    match &pii.approval {
        Approval::Groups(g) => {
            assert_eq!(g.between, Require::All);
            assert_eq!(g.groups.len(), 2);
        }
        other => panic!("prod-pii should use explicit groups, got {other:?}"),
    }
    assert!(pii
        .ticket_pattern
        .as_ref()
        .unwrap()
        .regex
        .is_match("SEC-42"));
    assert!(!pii
        .ticket_pattern
        .as_ref()
        .unwrap()
        .regex
        .is_match("see SEC-42"));
    assert!(cat.flows[&"break-glass".parse().unwrap()].break_glass);
    assert!(cat.service_disabled("organizations"));
    let legacy = &cat.bundles[&BundleName::parse("ec2-readonly-legacy").unwrap()];
    assert_eq!(
        legacy
            .deprecated
            .as_ref()
            .unwrap()
            .successor
            .as_ref()
            .unwrap()
            .as_str(),
        "ec2-readonly"
    );
    let support = &cat.bundles[&BundleName::parse("support-console").unwrap()];
    assert!(matches!(support.strategy, Strategy::Assignment { .. }));
}

#[test]
fn defaults_apply_when_fields_are_left_out() {
    let text = format!(
        "{GOOD_BUNDLE}\n[[flow]]\nname = \"f\"\nrequesters = [\"ops\"]\nbundles = [\"logs\"]\n"
    );
    let cat = parse(&text).unwrap();
    let flow = cat.flows.values().next().unwrap();
    assert!(matches!(flow.approval, Approval::Matrix));
    assert_eq!(flow.max_duration, GrantDuration::hours(8));
    assert_eq!(flow.default_duration, GrantDuration::hours(1));
    assert_eq!(flow.escalate_to[0].as_str(), "platform-team");
    assert_eq!(cat.settings.admin_group.as_str(), "platform-team");
    let bundle = cat.bundles.values().next().unwrap();
    assert_eq!(bundle.strategy, Strategy::Container);
    assert_eq!(bundle.risk, Risk::Low);
}

#[test]
fn unknown_fields_are_all_reported_with_line_and_a_suggestion() {
    let errs = errors(
        r#"
[[bundle]]
name = "logs"
owner_tem = "ops"
risk = "low"
accounts = ["111111111111"]
statements = [{ actions = ["logs:GetLogEvents"], resource = ["*"] }]
colour = "blue"

[[flow]]
name = "f"
requesters = ["ops"]
bundles = ["logs"]
approval = { groups = [{ name = "sec", requires = "any" }] }
"#,
    );
    has(
        &errs,
        4,
        "bundle \"logs\".owner_tem",
        "did you mean `owner_team`?",
    );
    has(
        &errs,
        7,
        "bundle \"logs\".statements[0].resource",
        "did you mean `resources`?",
    );
    has(
        &errs,
        8,
        "bundle \"logs\".colour",
        "expected one of: name, description",
    );
    has(
        &errs,
        14,
        "flow \"f\".approval.groups[0].requires",
        "did you mean `require`?",
    );
}

#[test]
fn an_unknown_bundle_in_a_flow_is_named_with_a_suggestion() {
    let errs = errors(&format!(
        "{GOOD_BUNDLE}\n[[flow]]\nname = \"f\"\nrequesters = [\"ops\"]\nbundles = [\"log\"]\n"
    ));
    has(
        &errs,
        12,
        "flow \"f\".bundles",
        "unknown bundle \"log\" (did you mean \"logs\"?)",
    );
}

#[test]
fn empty_requesters_default_above_max_and_bad_values_are_reported_together() {
    let errs = errors(
        r#"
[[bundle]]
name = "logs"
owner_team = "ops"
risk = "severe"
accounts = ["11111111111"]
statements = [{ actions = [], resources = ["bucket"] }]

[[flow]]
name = "f"
requesters = []
bundles = ["logs"]
max_duration = "1h"
default_duration = "4h"
"#,
    );
    has(
        &errs,
        5,
        "bundle \"logs\".risk",
        "use one of low, medium, high, critical",
    );
    has(&errs, 6, "bundle \"logs\".accounts[0]", "exactly 12 digits");
    has(
        &errs,
        7,
        "bundle \"logs\".statements[0].actions",
        "at least one action",
    );
    has(
        &errs,
        7,
        "bundle \"logs\".statements[0].resources[0]",
        "expected arn:aws",
    );
    has(
        &errs,
        11,
        "flow \"f\".requesters",
        "requester list is empty",
    );
    has(
        &errs,
        14,
        "flow \"f\".default_duration",
        "longer than max_duration 1h",
    );
}

#[test]
fn duplicate_names_point_at_the_first_definition_across_files() {
    let files = vec![
        ("a.toml".to_string(), GOOD_BUNDLE.to_string()),
        (
            "b.toml".to_string(),
            format!("# another file\n{GOOD_BUNDLE}"),
        ),
    ];
    let errs = catalog::parse_files(&files).unwrap_err().0;
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].file, "b.toml");
    assert_eq!(errs[0].line, 3);
    assert!(
        errs[0]
            .message
            .contains("duplicate name; first defined at a.toml:2"),
        "{}",
        errs[0]
    );
}

#[test]
fn missing_fields_and_strategy_rules_are_explained() {
    let errs = errors(
        r#"
[[bundle]]
name = "support"
risk = "low"
strategy = "assignment"
accounts = ["111111111111"]

[[bundle]]
name = "logs2"
owner_team = "ops"
risk = "low"
strategy = "container"
permission_set = "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef"
accounts = ["111111111111"]
"#,
    );
    has(
        &errs,
        2,
        "bundle \"support\".owner_team",
        "missing: name the Identity Store group",
    );
    has(
        &errs,
        5,
        "bundle \"support\".permission_set",
        "needs the permission set ARN",
    );
    has(
        &errs,
        13,
        "bundle \"logs2\".permission_set",
        "only used by strategy = \"assignment\"",
    );
    has(
        &errs,
        8,
        "bundle \"logs2\".statements",
        "missing: list the permissions",
    );
}

#[test]
fn syntax_and_type_errors_name_their_line() {
    let errs = errors("[[bundle]]\nname = \"x\"\nrisk = low\n");
    has(&errs, 3, "syntax", "not valid TOML");
    let errs = errors(
        "[[bundle]]\nname = \"x\"\nowner_team = \"ops\"\nrisk = \"low\"\naccounts = 111111111111\n",
    );
    has(&errs, 5, "type", "check the value's type");
}

#[test]
fn break_glass_flows_must_notify_and_stay_short_and_unapproved() {
    let errs = errors(&format!(
        "{GOOD_BUNDLE}\n[[flow]]\nname = \"bg\"\nrequesters = [\"ops\"]\nbundles = [\"logs\"]\nbreak_glass = true\nmax_duration = \"1d\"\napproval = {{ groups = [{{ name = \"sec\" }}] }}\n"
    ));
    has(&errs, 9, "flow \"bg\".notify", "must notify someone");
    has(&errs, 14, "flow \"bg\".max_duration", "at most 12h");
    has(&errs, 15, "flow \"bg\".approval", "remove approval");
}

#[test]
fn successors_must_exist_and_ticket_patterns_must_compile() {
    let errs = errors(&format!(
        "{GOOD_BUNDLE}deprecated = true\nsuccessor = \"logz\"\n\n[[flow]]\nname = \"f\"\nrequesters = [\"ops\"]\nbundles = [\"logs\"]\nticket_pattern = \"[A-Z\"\n"
    ));
    has(
        &errs,
        9,
        "bundle \"logs\".successor",
        "unknown bundle \"logz\" (did you mean \"logs\"?)",
    );
    has(
        &errs,
        15,
        "flow \"f\".ticket_pattern",
        "not a valid regular expression",
    );
}

#[test]
fn the_risk_matrix_can_be_overridden_and_is_checked() {
    let cat = parse(&format!(
        "{GOOD_BUNDLE}\n[risk_matrix]\nlow = [\"owner\", \"owner\", \"owner\", \"platform\"]\n"
    ))
    .unwrap();
    assert_eq!(
        cat.matrix.cell(Risk::Low, GrantDuration::hours(1)).0,
        MatrixCell::Owner
    );
    assert_eq!(
        cat.matrix.cell(Risk::Critical, GrantDuration::days(30)).0,
        MatrixCell::Platform
    );
    let errs = errors("[risk_matrix]\nlow = [\"owner\", \"sometimes\", \"owner\", \"owner\"]\nhigh = [\"owner\"]\n");
    has(&errs, 2, "risk_matrix.low[1]", "unknown cell \"sometimes\"");
    has(&errs, 3, "risk_matrix.high", "give 4 cells");
}

#[test]
fn the_version_is_a_content_hash_that_ignores_formatting() {
    let a = parse(GOOD_BUNDLE).unwrap().version();
    let reformatted = GOOD_BUNDLE
        .replace(" = ", "=")
        .replace("\n[[bundle]]", "\n# comment\n[[bundle]]");
    assert_eq!(parse(&reformatted).unwrap().version(), a);
    let changed = parse(&GOOD_BUNDLE.replace("\"low\"", "\"medium\""))
        .unwrap()
        .version();
    assert_ne!(changed, a);
    assert!(a.starts_with('v') && a.len() == 17);
}

#[test]
fn an_empty_directory_is_an_error_that_says_so() {
    let dir = std::env::temp_dir().join(format!("jit-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("directory.toml"), "").unwrap();
    let err = catalog::load_dir(&dir).unwrap_err();
    assert!(err.to_string().contains("holds no catalog files"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
