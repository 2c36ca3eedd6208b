//! EventBridge Scheduler and SES v2 against moto server.

mod common;

use chrono::{DateTime, Utc};
use jit_aws::{AwsScheduler, SchedulerConfig, SesMailer};
use jit_core::ports::*;
use jit_core::types::{Email, RequestId};

fn config(group: &str) -> SchedulerConfig {
    SchedulerConfig {
        group: group.into(),
        role_arn: "arn:aws:iam::123456789012:role/jit-scheduler".into(),
        grant_target_arn: "arn:aws:lambda:us-east-1:123456789012:function:jit-grant".into(),
        revoke_target_arn: "arn:aws:lambda:us-east-1:123456789012:function:jit-revoke".into(),
        escalate_target_arn: "arn:aws:lambda:us-east-1:123456789012:function:jit-escalate".into(),
        dead_letter_arn: Some("arn:aws:sqs:us-east-1:123456789012:jit-dlq".into()),
        max_retries: 5,
        max_event_age_secs: 3_600,
    }
}

#[tokio::test]
async fn one_shot_schedules_are_created_once_carry_their_action_and_delete_themselves() {
    let sdk = common::sdk().await;
    let client = aws_sdk_scheduler::Client::new(&sdk);
    let group = common::unique("jit");
    client
        .create_schedule_group()
        .name(&group)
        .send()
        .await
        .unwrap();
    let scheduler = AwsScheduler::new(client.clone(), config(&group));

    let id = RequestId::parse("abcd0000ef01").unwrap();
    let at = DateTime::parse_from_rfc3339("2030-01-02T03:04:05Z")
        .unwrap()
        .with_timezone(&Utc);
    let end = Schedule::new(
        ScheduledAction::EndGrant {
            request_id: id.clone(),
        },
        at,
    );
    let escalate = Schedule::new(
        ScheduledAction::Escalate {
            request_id: id.clone(),
            tier: 1,
        },
        at,
    );
    scheduler.schedule(&end).await.unwrap();
    scheduler.schedule(&end).await.unwrap(); // already there: success, nothing new
    scheduler.schedule(&escalate).await.unwrap();

    let got = client
        .get_schedule()
        .name(&end.name)
        .group_name(&group)
        .send()
        .await
        .unwrap();
    assert_eq!(got.schedule_expression(), Some("at(2030-01-02T03:04:05)"));
    assert_eq!(got.schedule_expression_timezone(), Some("UTC"));
    assert_eq!(
        got.action_after_completion().map(|a| a.as_str()),
        Some("DELETE")
    );
    assert_eq!(
        got.flexible_time_window().map(|w| w.mode().as_str()),
        Some("OFF")
    );
    let target = got.target().unwrap();
    assert_eq!(
        target.arn(),
        "arn:aws:lambda:us-east-1:123456789012:function:jit-revoke"
    );
    assert_eq!(
        target.dead_letter_config().and_then(|d| d.arn()),
        Some("arn:aws:sqs:us-east-1:123456789012:jit-dlq")
    );
    assert_eq!(
        target
            .retry_policy()
            .and_then(|r| r.maximum_retry_attempts()),
        Some(5)
    );
    // What fires is exactly the action the service scheduled.
    let fired: ScheduledAction = serde_json::from_str(target.input().unwrap()).unwrap();
    assert_eq!(fired, end.action);
    let esc = client
        .get_schedule()
        .name(&escalate.name)
        .group_name(&group)
        .send()
        .await
        .unwrap();
    assert_eq!(
        esc.target().unwrap().arn(),
        "arn:aws:lambda:us-east-1:123456789012:function:jit-escalate"
    );

    let listed = client
        .list_schedules()
        .group_name(&group)
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.schedules().len(),
        2,
        "creating twice made one schedule"
    );

    scheduler.cancel(&end.name).await.unwrap();
    scheduler.cancel(&end.name).await.unwrap(); // gone already: success
    assert!(client
        .get_schedule()
        .name(&end.name)
        .group_name(&group)
        .send()
        .await
        .is_err());
}

#[tokio::test]
async fn approval_emails_are_sent_with_text_and_html() {
    let sdk = common::sdk().await;
    let client = aws_sdk_sesv2::Client::new(&sdk);
    let from = format!("{}@example.com", common::unique("jit"));
    client
        .create_email_identity()
        .email_identity(&from)
        .send()
        .await
        .unwrap();
    let mailer = SesMailer::new(client, &from);
    let subject = common::unique("Approve rds-prod-pii for carol");
    let message = Message {
        to: vec![
            Email::parse("dave@example.com").unwrap(),
            Email::parse("erin@example.com").unwrap(),
        ],
        subject: subject.clone(),
        text: "Approve: https://jit.example.com/v1/decisions/tok?action=approve".into(),
        html: "<a href=\"https://jit.example.com/v1/decisions/tok?action=approve\">Approve</a>"
            .into(),
        kind: MessageKind::ApprovalRequest,
        request_id: RequestId::parse("abcd0000ef02").unwrap(),
    };
    mailer.send(&message).await.unwrap();

    let data = common::moto_data();
    let sent = serde_json::to_string(&data["ses"]).unwrap();
    assert!(sent.contains(&subject), "moto recorded the email");
    assert!(
        sent.contains("decisions/tok?action=approve"),
        "with its link"
    );
    assert!(sent.contains("dave@example.com") && sent.contains("erin@example.com"));

    // An unverified sender is refused, as SES does.
    let unverified = SesMailer::new(
        aws_sdk_sesv2::Client::new(&sdk),
        "nobody@unverified.example.com",
    );
    assert!(unverified.send(&message).await.is_err());
}
