//! What the template promises operators, read from infra/template.yaml: every function logs to
//! a group of its own with the retention the stack is given, and every alarm notifies the
//! alarm topic when one is given.

use std::path::Path;

use serde_json::{json, Value};

fn template(file: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../infra")
        .join(file);
    let doc: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    // Short-form tags (!Ref X) come out as one-key maps ({"!Ref": "X"}).
    serde_json::to_value(&doc).unwrap()
}

fn resources() -> serde_json::Map<String, Value> {
    match template("template.yaml")["Resources"].clone() {
        Value::Object(m) => m,
        other => panic!("Resources is not a map: {other}"),
    }
}

fn of_type<'a>(
    all: &'a serde_json::Map<String, Value>,
    kind: &str,
) -> Vec<(&'a String, &'a Value)> {
    all.iter().filter(|(_, r)| r["Type"] == kind).collect()
}

#[test]
fn every_function_logs_to_its_own_group_with_the_stacks_retention() {
    let all = resources();
    let functions = of_type(&all, "AWS::Serverless::Function");
    assert_eq!(functions.len(), 7, "seven functions");
    let mut groups = std::collections::BTreeSet::new();
    for (name, f) in functions {
        let config = &f["Properties"]["LoggingConfig"];
        assert_eq!(config["LogFormat"], "JSON", "{name}");
        let group = config["LogGroup"]["!Ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} names no log group of the stack: {config}"));
        let g = &all[group];
        assert_eq!(g["Type"], "AWS::Logs::LogGroup", "{name}: {group}");
        assert_eq!(
            g["Properties"]["RetentionInDays"],
            json!({"!Ref": "LogRetentionDays"}),
            "{group}"
        );
        // Made with its function, or not at all (the chat function exists only with Slack).
        assert_eq!(g.get("Condition"), f.get("Condition"), "{group}");
        assert!(groups.insert(group.to_string()), "{group} is shared");
    }
}

#[test]
fn every_alarm_notifies_the_alarm_topic_when_there_is_one() {
    let all = resources();
    let alarms = of_type(&all, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 9, "{} alarms", alarms.len());
    let action =
        json!({"!If": ["WithAlarmTopic", [{"!Ref": "AlarmTopicArn"}], {"!Ref": "AWS::NoValue"}]});
    for (name, a) in alarms {
        assert_eq!(a["Properties"]["AlarmActions"], action, "{name}");
        assert_eq!(a["Properties"]["OKActions"], action, "{name}");
    }
}

#[test]
fn the_dashboard_is_valid_json_naming_every_function_and_only_real_resources() {
    let all = resources();
    let sub = &all["Dashboard"]["Properties"]["DashboardBody"]["!Sub"];
    let (body, vars) = (sub[0].as_str().unwrap(), &sub[1]);
    // Every ${X} is a resource, a pseudo parameter or one of the Sub's own variables.
    let names = regex::Regex::new(r"\$\{([A-Za-z0-9:]+)\}").unwrap();
    for c in names.captures_iter(body) {
        let n = &c[1];
        assert!(
            all.contains_key(n) || n.starts_with("AWS::") || vars.get(n).is_some(),
            "the dashboard names ${{{n}}}, which is not in the template"
        );
    }
    let json = names.replace_all(body, "x");
    let doc: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let text = doc.to_string();
    assert!(doc["widgets"].as_array().unwrap().len() >= 8);
    for f in ["Intake", "Approval", "Grant", "Revoke", "Escalate", "Pod"] {
        assert!(
            body.contains(&format!("${{{f}Function}}")),
            "{f} is on the dashboard"
        );
    }
    for metric in [
        "DriftFindings",
        "SweepFailures",
        "IteratorAge",
        "5xx",
        "ThrottledRequests",
    ] {
        assert!(text.contains(metric), "{metric} is on the dashboard");
    }
}

#[test]
fn member_accounts_forward_exactly_the_denials_the_stack_listens_for() {
    let main = &resources()["PodFunction"]["Properties"]["Events"];
    let member = template("member-forwarding.yaml");
    let rule = &member["Resources"]["ForwardAccessDenied"]["Properties"];
    assert_eq!(
        rule["EventPattern"],
        main["LocalDenials"]["Properties"]["Pattern"]
    );
    assert_eq!(
        rule["EventPattern"],
        main["ForwardedDenials"]["Properties"]["Pattern"]
    );
    // The forwarding role may put events on the jit bus and nothing else.
    let role = &member["Resources"]["ForwardRole"]["Properties"];
    let statements = &role["Policies"][0]["PolicyDocument"]["Statement"];
    assert_eq!(statements.as_array().unwrap().len(), 1);
    assert_eq!(statements[0]["Action"], "events:PutEvents");
    assert_eq!(statements[0]["Resource"], json!({"!Ref": "JitBusArn"}));
}
