//! pixelsift: email open and click analytics from web-server access logs.
//!
//! Modules are listed in the order a log line travels through them: from
//! bytes on disk to a row in the Parquet dataset, then to SQL.
#![deny(missing_docs)]

pub mod batch;
pub mod chart;
pub mod classify;
#[cfg(feature = "ballista")]
pub mod cluster;
pub mod commit;
pub mod demo;
pub mod dialect;
pub mod encode;
pub mod enrich;
pub mod error;
pub mod input;
pub mod lines;
pub mod maintain;
pub mod manifest;
pub mod mint;
pub mod nightly;
pub mod output;
pub mod pipeline;
pub mod privacy;
pub mod query;
pub mod readtime;
pub mod reclassify;
pub mod registry;
pub mod remote;
pub mod simulate;
pub mod track;

pub use error::{Error, Result};
