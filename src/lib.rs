//! pixelsift: email open and click analytics from web-server access logs.
//!
//! Modules are listed in the order a log line travels through them: from
//! bytes on disk to a row in the Parquet dataset, then to SQL.
#![deny(missing_docs)]

pub mod error;
pub mod manifest;
pub mod mint;
pub mod input;
pub mod registry;
pub mod lines;
pub mod dialect;
pub mod track;
pub mod enrich;
pub mod classify;
pub mod privacy;
pub mod batch;
pub mod commit;
pub mod pipeline;
pub mod maintain;
pub mod query;
pub mod output;
pub mod chart;
pub mod nightly;
pub mod demo;

pub use error::{Error, Result};
