//! `jit catalog` as a person runs it: the binary, real files, its output and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn jit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jit"))
        .args(args)
        .output()
        .expect("jit runs")
}

fn examples() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../catalog/examples")
        .display()
        .to_string()
}

fn temp_catalog(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jit-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    dir
}

#[test]
fn check_accepts_the_examples_with_a_summary() {
    let out = jit(&["catalog", "check", &examples()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(": valid, version v"), "{stdout}");
    assert!(
        stdout.contains("10 bundles: low 3, medium 3, high 1, critical 3"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "5 flows: 3 by risk matrix, 1 with named approvers, 0 automatic, 1 break-glass"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("deprecated: ec2-readonly-legacy (successor ec2-readonly)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("disabled services: organizations"),
        "{stdout}"
    );
}

#[test]
fn check_prints_every_error_with_its_place_and_exits_1() {
    let dir = temp_catalog(
        "bad",
        &[
            ("a.toml", "[[bundle]]\nname = \"x\"\nowner_team = \"t\"\nrisk = \"hgh\"\naccounts = [\"1\"]\nstatements = [{ actions = [], resources = [\"*\"] }]\n"),
            ("b.toml", "[[flow]]\nname = \"f\"\nrequesters = [\"t\"]\nbundles = [\"y\"]\nmax_duraton = \"1h\"\n"),
        ],
    );
    let out = jit(&["catalog", "check", &dir.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let a = dir.join("a.toml").display().to_string();
    let b = dir.join("b.toml").display().to_string();
    for expected in [
        format!("{a}:4: bundle \"x\".risk: invalid risk level \"hgh\""),
        format!("{a}:5: bundle \"x\".accounts[0]: invalid AWS account id \"1\""),
        format!("{a}:6: bundle \"x\".statements[0].actions: a statement needs at least one action"),
        format!("{b}:4: flow \"f\".bundles: unknown bundle \"y\""),
        format!("{b}:5: flow \"f\".max_duraton: unknown field `max_duraton`; did you mean `max_duration`?"),
        "5 errors in".to_string(),
    ] {
        assert!(stderr.contains(&expected), "missing {expected:?} in:\n{stderr}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_missing_directory_and_bad_usage_have_their_own_exit_codes() {
    let out = jit(&["catalog", "check", "/no/such/dir"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /no/such/dir"));
    assert_eq!(jit(&["catalog", "frobnicate"]).status.code(), Some(2));
}

#[test]
fn list_and_show_describe_bundles_for_people() {
    let out = jit(&["catalog", "list", "--catalog", &examples()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.lines().any(|l| l.starts_with("rds-prod-pii")
            && l.contains("critical")
            && l.contains("prod-pii")),
        "{stdout}"
    );
    assert!(
        stdout.contains("ec2-readonly-legacy (deprecated)"),
        "{stdout}"
    );

    let out = jit(&["catalog", "show", "rds-prod-pii", "--catalog", &examples()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("allow rds-db:connect on arn:aws:rds-db:eu-west-1:222222222222:dbuser:db-ABCDEFGHIJKL/readonly"), "{stdout}");
    assert!(
        stdout.contains("approval: data-dbas (any) AND security (any)"),
        "{stdout}"
    );

    let out = jit(&["catalog", "show", "nope", "--catalog", &examples()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no bundle \"nope\""));
}

/// Typos the files alone cannot show: an action AWS does not have and a group the directory
/// does not have. `jit catalog check` refuses both with file and line and the nearest name, and
/// jit-local will not start with them.
#[test]
fn actions_and_groups_that_do_not_exist_are_refused_with_file_and_line() {
    let dir = temp_catalog(
        "typos",
        &[
            (
                "api.toml",
                r#"[[bundle]]
name = "api-logs"
description = "logs"
owner_team = "api-teem"
risk = "low"
accounts = ["111111111111"]
statements = [
  { actions = ["logs:FilterLogEvnts", "logs:Get*"], resources = ["*"] },
]

[[flow]]
name = "api"
description = "api"
requesters = ["api-team"]
bundles = ["api-logs"]
approval = "matrix"

[settings]
platform_group = "platform-team"
admin_group = "platform-team"
"#,
            ),
            (
                "directory.toml",
                r#"[[group]]
name = "api-team"
members = ["alice@example.com"]

[[group]]
name = "platform-team"
members = ["frank@example.com"]
"#,
            ),
        ],
    );
    let out = jit(&["catalog", "check", &dir.display().to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("api.toml:8: bundle \"api-logs\".statements[0].actions[0]: logs has no action \"FilterLogEvnts\"; did you mean logs:FilterLogEvents?"),
        "{stderr}"
    );
    assert!(
        stderr.contains("api.toml:4: bundle \"api-logs\".owner_team: there is no group \"api-teem\" in directory.toml; did you mean \"api-team\"?"),
        "{stderr}"
    );
    assert!(stderr.contains("2 errors"), "{stderr}");
    assert!(
        !stderr.contains("logs:Get*"),
        "a wildcard that matches is fine: {stderr}"
    );

    // jit-local sits beside jit (scripts/test.sh builds every binary before the tests).
    let local = Command::new(Path::new(env!("CARGO_BIN_EXE_jit")).with_file_name("jit-local"))
        .args([
            "--port",
            "0",
            "--in-memory",
            "--catalog",
            &dir.display().to_string(),
        ])
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("jit-local runs");
    let said = String::from_utf8_lossy(&local.stderr);
    assert_eq!(local.status.code(), Some(1), "{said}");
    assert!(
        said.contains("FilterLogEvnts") && said.contains("api-teem"),
        "{said}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
