//! AWS adapters for the core's ports, on the official AWS SDK for Rust: the DynamoDB ledger,
//! Identity Center containers and assignments, IAM role policies, EventBridge Scheduler,
//! SES v2 and the Identity Store. The same code runs against AWS and against moto server
//! (set `AWS_ENDPOINT_URL`).

pub mod budget;
pub mod cards;
pub mod dynamo;
pub mod error;
pub mod identity;
pub mod messaging;
pub mod retry;
pub mod seed;
pub mod table;

pub use budget::SharedBudget;
pub use dynamo::{DynamoCatalogs, DynamoStore, Leases};
pub use identity::{AwsGrantor, IdentityConfig};
pub use messaging::{AwsScheduler, IdentityStoreDirectory, SchedulerConfig, SesMailer};
