//! What the template promises operators, read from infra/template.yaml: every function logs to
//! a group of its own with the retention the stack is given, and every alarm notifies the
//! alarm topic when one is given.

use std::path::Path;

use serde_json::{json, Value};

fn resources() -> serde_json::Map<String, Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml");
    let doc: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    // Short-form tags (!Ref X) come out as one-key maps ({"!Ref": "X"}).
    match serde_json::to_value(&doc["Resources"]).unwrap() {
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
