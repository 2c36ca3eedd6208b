//! Creating the ledger table from its CloudFormation definition (the `Table` resource's
//! `Properties` in `infra/template.yaml`, as JSON), so tests and local mode use exactly the
//! keys, indexes, stream and TTL that are deployed.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use serde_json::Value;

use crate::error::{fault, Fault};

/// The definition could not be read, or the table could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// Something the definition should have is missing or malformed.
    #[error("table definition: {0}")]
    Definition(String),
    /// DynamoDB refused.
    #[error("creating table {table}: {source:#}")]
    Create {
        /// The table.
        table: String,
        /// Why.
        source: anyhow::Error,
    },
}

fn def(msg: &str) -> TableError {
    TableError::Definition(msg.to_string())
}

fn str_at<'a>(v: &'a Value, key: &str) -> Result<&'a str, TableError> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| def(&format!("missing {key}")))
}

fn key_schema(v: &Value) -> Result<Vec<KeySchemaElement>, TableError> {
    v.as_array()
        .ok_or_else(|| def("KeySchema is not a list"))?
        .iter()
        .map(|k| {
            let kind = match str_at(k, "KeyType")? {
                "HASH" => KeyType::Hash,
                "RANGE" => KeyType::Range,
                other => return Err(def(&format!("KeyType {other}"))),
            };
            KeySchemaElement::builder()
                .attribute_name(str_at(k, "AttributeName")?)
                .key_type(kind)
                .build()
                .map_err(|e| def(&e.to_string()))
        })
        .collect()
}

/// Creates `table` as `properties` describe it and switches TTL on. A table that already
/// exists is left as it is.
pub async fn create_table(
    client: &Client,
    table: &str,
    properties: &Value,
) -> Result<(), TableError> {
    let attributes = properties
        .get("AttributeDefinitions")
        .and_then(Value::as_array)
        .ok_or_else(|| def("missing AttributeDefinitions"))?
        .iter()
        .map(|a| {
            let kind = match str_at(a, "AttributeType")? {
                "S" => ScalarAttributeType::S,
                "N" => ScalarAttributeType::N,
                "B" => ScalarAttributeType::B,
                other => return Err(def(&format!("AttributeType {other}"))),
            };
            AttributeDefinition::builder()
                .attribute_name(str_at(a, "AttributeName")?)
                .attribute_type(kind)
                .build()
                .map_err(|e| def(&e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let indexes = properties
        .get("GlobalSecondaryIndexes")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|i| {
                    let projection = match i
                        .pointer("/Projection/ProjectionType")
                        .and_then(Value::as_str)
                    {
                        Some("KEYS_ONLY") => ProjectionType::KeysOnly,
                        _ => ProjectionType::All,
                    };
                    GlobalSecondaryIndex::builder()
                        .index_name(str_at(i, "IndexName")?)
                        .set_key_schema(Some(key_schema(
                            i.get("KeySchema")
                                .ok_or_else(|| def("index without KeySchema"))?,
                        )?))
                        .projection(Projection::builder().projection_type(projection).build())
                        .build()
                        .map_err(|e| def(&e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let stream = properties
        .pointer("/StreamSpecification/StreamViewType")
        .and_then(Value::as_str)
        .map(|v| {
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(v))
                .build()
                .expect("stream_enabled is set")
        });
    let created = client
        .create_table()
        .table_name(table)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(
            properties
                .get("KeySchema")
                .ok_or_else(|| def("missing KeySchema"))?,
        )?))
        .set_global_secondary_indexes(indexes)
        .billing_mode(BillingMode::PayPerRequest)
        .set_stream_specification(stream)
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e) => match fault(e) {
            Fault::Other(e) if format!("{e:#}").contains("ResourceInUseException") => return Ok(()),
            Fault::Other(e) => {
                return Err(TableError::Create {
                    table: table.into(),
                    source: e,
                })
            }
            other => {
                return Err(TableError::Create {
                    table: table.into(),
                    source: anyhow::anyhow!("{other:?}"),
                })
            }
        },
    }
    if let Some(ttl) = properties
        .pointer("/TimeToLiveSpecification/AttributeName")
        .and_then(Value::as_str)
    {
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(ttl)
            .enabled(true)
            .build()
            .expect("both fields set");
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(|e| TableError::Create {
                table: table.into(),
                source: anyhow::Error::new(e),
            })?;
    }
    Ok(())
}
