//! Catalog as code: bundles and access flows kept in TOML files, validated with every error
//! located by file, line and field, and versioned by content hash.

pub mod known;
mod model;
mod parse;

pub use model::*;
pub use parse::{
    load_dir, parse_files, read_files, CatalogError, CatalogErrors, LoadError,
    BREAK_GLASS_MAX_SECS, DIRECTORY_FILE,
};
