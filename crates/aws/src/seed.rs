//! Fills an Identity Store with people and groups (local mode on moto, and the tests): each
//! person becomes a user whose user name and primary email are their address, as the product
//! expects of a real Identity Store.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_identitystore::types::{Email as UserEmail, MemberId, Name};
use aws_sdk_identitystore::Client;
use jit_core::types::{Email, GroupName};

/// Creates every group and member in the store `store_id`; returns everyone created.
pub async fn seed_identity_store(
    client: &Client,
    store_id: &str,
    groups: &[(GroupName, BTreeSet<Email>)],
) -> anyhow::Result<BTreeSet<Email>> {
    let mut users: BTreeMap<Email, String> = BTreeMap::new();
    for (group, members) in groups {
        let group_id = client
            .create_group()
            .identity_store_id(store_id)
            .display_name(group.as_str())
            .send()
            .await?
            .group_id;
        for m in members {
            if !users.contains_key(m) {
                let email = UserEmail::builder()
                    .value(m.as_str())
                    .primary(true)
                    .r#type("work")
                    .build();
                let name = Name::builder()
                    .given_name(m.as_str())
                    .family_name("Seeded")
                    .build();
                let user_id = client
                    .create_user()
                    .identity_store_id(store_id)
                    .user_name(m.as_str())
                    .display_name(m.as_str())
                    .name(name)
                    .emails(email)
                    .send()
                    .await?
                    .user_id;
                users.insert(m.clone(), user_id);
            }
            client
                .create_group_membership()
                .identity_store_id(store_id)
                .group_id(&group_id)
                .member_id(MemberId::UserId(users[m].clone()))
                .send()
                .await?;
        }
    }
    Ok(users.into_keys().collect())
}
