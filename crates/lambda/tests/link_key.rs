//! The link-signing key as the functions read it at start: from Secrets Manager (moto server),
//! never the environment; during a rotation, links signed with the previous key still verify.

use chrono::{TimeZone, Utc};
use jit_core::link::{LinkClaims, LinkError, LinkSigner};
use jit_core::types::{Email, RequestId};

async fn sdk() -> aws_config::SdkConfig {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!("AWS_ENDPOINT_URL is not set: run these tests through scripts/test.sh, which starts moto server")
    });
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

fn claims() -> LinkClaims {
    LinkClaims {
        request_id: RequestId::parse("0123456789abcdef0123").unwrap(),
        approver: Email::parse("dave@example.com").unwrap(),
        tier: 0,
        expires: 2_000_000_000,
        nonce: "n".into(),
    }
}

#[tokio::test]
async fn the_key_is_read_from_its_secret_and_a_rotation_keeps_old_links_working() {
    let client = aws_sdk_secretsmanager::Client::new(&sdk().await);
    let name = unique("jit-link-key");
    let old = "an-old-link-signing-key-of-32-bytes-or-more";
    let new = "a-new-link-signing-key-of-32-bytes-or-more!";
    client
        .create_secret()
        .name(&name)
        .secret_string(old)
        .send()
        .await
        .unwrap();
    let now = Utc.timestamp_opt(1_900_000_000, 0).unwrap();
    let before = jit_lambda::read_link_key(&client, &name).await.unwrap();
    let sent = before.sign(&claims());
    assert_eq!(before.verify(&sent, now, None).unwrap(), claims());

    // Rotation, step 1: the new key is current and the old one previous.
    client
        .put_secret_value()
        .secret_id(&name)
        .secret_string(format!(r#"{{"current": "{new}", "previous": "{old}"}}"#))
        .send()
        .await
        .unwrap();
    let during = jit_lambda::read_link_key(&client, &name).await.unwrap();
    assert_eq!(
        during.verify(&sent, now, None).unwrap(),
        claims(),
        "a link sent before still works"
    );
    let fresh = during.sign(&claims());
    assert_eq!(during.verify(&fresh, now, None).unwrap(), claims());

    // Step 2, once the links' lifetime has passed: the previous key is dropped.
    client
        .put_secret_value()
        .secret_id(&name)
        .secret_string(format!(r#"{{"current": "{new}"}}"#))
        .send()
        .await
        .unwrap();
    let after = jit_lambda::read_link_key(&client, &name).await.unwrap();
    assert_eq!(after.verify(&sent, now, None), Err(LinkError::Forged));
    assert_eq!(after.verify(&fresh, now, None).unwrap(), claims());
}

#[tokio::test]
async fn a_missing_or_weak_secret_is_named_without_its_value() {
    let client = aws_sdk_secretsmanager::Client::new(&sdk().await);
    let missing = unique("jit-link-missing");
    let e = jit_lambda::read_link_key(&client, &missing)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains(&missing), "{e}");
    let weak = unique("jit-link-weak");
    client
        .create_secret()
        .name(&weak)
        .secret_string("short-key")
        .send()
        .await
        .unwrap();
    let e = jit_lambda::read_link_key(&client, &weak)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("at least 32 bytes") && !e.contains("short-key"),
        "{e}"
    );
    let garbled = jit_lambda::link_signer(r#"{"previous": "x"}"#)
        .unwrap_err()
        .to_string();
    assert!(garbled.contains("current"), "{garbled}");
    let _: LinkSigner = jit_lambda::link_signer("k".repeat(32).as_str()).unwrap();
}
