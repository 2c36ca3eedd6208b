//! The chat function's AWS parts against moto server: the Slack secret read from Secrets
//! Manager, and jobs through an SQS queue, each as the function uses them.

use chat::{JobQueue, SlackSecret, SqsQueue};
use jit_slack::Job;

async fn sdk() -> aws_config::SdkConfig {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!("AWS_ENDPOINT_URL is not set: run these tests through scripts/test.sh, which starts moto server")
    });
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        std::process::id() as u64 * 1000 + rand_suffix()
    )
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        % 1000
}

#[tokio::test]
async fn the_slack_secret_comes_from_secrets_manager_and_a_bad_one_is_named() {
    let sdk = sdk().await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = unique("jit-slack");
    client
        .create_secret()
        .name(&name)
        .secret_string(r#"{"signing_secret": "abc123", "bot_token": "xoxb-1-2-3"}"#)
        .send()
        .await
        .unwrap();
    let secret = SlackSecret::read(&client, &name).await.unwrap();
    assert_eq!(
        secret.signing_secret.sign(1, b"x"),
        jit_slack::SigningSecret::new("abc123").sign(1, b"x")
    );
    let bad = unique("jit-slack-bad");
    client
        .create_secret()
        .name(&bad)
        .secret_string(r#"{"signing_secret": "abc123"}"#)
        .send()
        .await
        .unwrap();
    let e = SlackSecret::read(&client, &bad)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no bot_token") && e.contains(&bad), "{e}");
    let e = SlackSecret::read(&client, "no-such-secret")
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no-such-secret"), "{e}");
}

#[tokio::test]
async fn jobs_go_through_the_queue_whole() {
    let sdk = sdk().await;
    let client = aws_sdk_sqs::Client::new(&sdk);
    let url = client
        .create_queue()
        .queue_name(unique("jit-slack-jobs"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue = SqsQueue {
        client: client.clone(),
        url: url.clone(),
    };
    let job = Job::Release {
        user: "U0CAROL".into(),
        request: jit_core::types::RequestId::parse("01a207a23280f7895743").unwrap(),
    };
    queue.send(&job).await.unwrap();
    let got = client
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    let body = got.messages()[0].body().unwrap();
    assert_eq!(serde_json::from_str::<Job>(body).unwrap(), job);
}
