//! The domain core of just-in-time AWS access: catalog as code, the approval engine, request
//! and grant lifecycles, grant planning, signed decision links, the audit chain, and the ports
//! through which adapters reach AWS. No AWS SDK and no HTTP here.

pub mod access;
pub mod audit;
pub mod catalog;
pub mod database;
pub mod lifecycle;
pub mod link;
pub mod notify;
pub mod plan;
pub mod policy;
pub mod ports;
pub mod prompt;
pub mod service;
pub mod sessions;
pub mod text;
pub mod types;
