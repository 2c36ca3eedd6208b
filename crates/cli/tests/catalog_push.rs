//! `jit catalog push` against moto server (started by scripts/test.sh): publishes once, keeps
//! the files that make the version, and refuses an invalid catalog before touching AWS.

use std::path::Path;
use std::process::Command;

use jit_core::ports::CatalogStore;

fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL is not set: run `bash scripts/test.sh`, which starts moto")
}

#[tokio::test]
async fn push_publishes_a_version_once_and_refuses_an_invalid_catalog() {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let template = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml"),
    )
    .unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(&template).unwrap();
    let table = format!("jit-push-{}", &jit_core::link::nonce()[..10]);
    jit_aws::table::create_table(
        &client,
        &table,
        &serde_json::to_value(&doc["Resources"]["Table"]["Properties"]).unwrap(),
    )
    .await
    .unwrap();

    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../catalog/examples");
    let push_with = |dir: &Path, extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_jit"))
            .args([
                "catalog",
                "push",
                &dir.display().to_string(),
                "--table",
                &table,
            ])
            .args(["--by", "frank@example.com"])
            .args(extra)
            .env("AWS_ENDPOINT_URL", endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .output()
            .unwrap()
    };
    let push = |dir: &Path| push_with(dir, &[]);
    let out = push(&examples);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let version = jit_core::catalog::load_dir(&examples).unwrap().version();
    assert!(
        stdout.contains(&format!("published {version} (10 bundles, 5 flows)")),
        "{stdout}"
    );
    let again = push(&examples);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already the catalog in force"));

    let current = jit_aws::DynamoCatalogs::new(client.clone(), &table)
        .current()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.version, version);
    assert_eq!(current.published_by, "frank@example.com");
    assert_eq!(
        jit_core::catalog::parse_files(&current.files)
            .unwrap()
            .version(),
        version,
        "the stored files are that catalog"
    );
    assert!(
        !current
            .files
            .iter()
            .any(|(name, _)| name == "directory.toml"),
        "the directory is not part of the catalog"
    );

    let bad = std::env::temp_dir().join(format!("jit-push-bad-{}", std::process::id()));
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("a.toml"), "[[bundle]]\nname = \"x\"\n").unwrap();
    let out = push(&bad);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        jit_aws::DynamoCatalogs::new(client, &table)
            .current()
            .await
            .unwrap()
            .unwrap()
            .version,
        version,
        "nothing published"
    );
    std::fs::remove_dir_all(bad).unwrap();

    // With the Identity Store named, every group the catalog names must be in it: one missing
    // group refuses the push, naming it with its file and line, and nothing is published.
    let ids = aws_sdk_identitystore::Client::new(&sdk);
    let store = format!("d-{}", &jit_core::link::nonce()[..10]);
    let mut groups = jit_memory::MemoryDirectory::load(&examples)
        .unwrap()
        .groups();
    groups.retain(|(g, _)| g.as_str() != "security");
    jit_aws::seed::seed_identity_store(&ids, &store, &groups)
        .await
        .unwrap();
    let changed = std::env::temp_dir().join(format!("jit-push-groups-{}", std::process::id()));
    std::fs::create_dir_all(&changed).unwrap();
    for f in std::fs::read_dir(&examples).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, changed.join(f.file_name().unwrap())).unwrap();
    }
    // A new version (a description changed), so a push would publish it.
    let api = changed.join("api.toml");
    let text = std::fs::read_to_string(&api).unwrap();
    let at = text.find("description").unwrap();
    let quote = at + text[at..].find('"').unwrap() + 1;
    std::fs::write(
        &api,
        format!("{}Changed: {}", &text[..quote], &text[quote..]),
    )
    .unwrap();
    let push_checked = |dir: &Path| push_with(dir, &["--identity-store", &store]);
    let out = push_checked(&changed);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "there is no group \"security\" in the Identity Store {store}"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("data.toml:"),
        "located in its file: {stderr}"
    );
    let catalogs = jit_aws::DynamoCatalogs::new(aws_sdk_dynamodb::Client::new(&sdk), &table);
    assert_eq!(
        catalogs.current().await.unwrap().unwrap().version,
        version,
        "nothing published"
    );
    // With the group there, the same push publishes.
    let all = jit_memory::MemoryDirectory::load(&examples)
        .unwrap()
        .groups();
    let security: Vec<_> = all
        .into_iter()
        .filter(|(g, _)| g.as_str() == "security")
        .collect();
    jit_aws::seed::seed_identity_store(&ids, &store, &security)
        .await
        .unwrap();
    let out = push_checked(&changed);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(catalogs.current().await.unwrap().unwrap().version, version);
    std::fs::remove_dir_all(changed).unwrap();
}
