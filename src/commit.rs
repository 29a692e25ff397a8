//! Writing the dataset: Parquet files staged, then moved into place.
//!
//! Layout (readable as is by DataFusion, DuckDB, Spark and pyarrow):
//! ```text
//! DATASET/events/part-<run>.parquet     one file per ingest run
//! DATASET/rejects/part-<run>.parquet    lines set aside, with reasons
//! DATASET/manifest/manifest.parquet     union of every manifest ingested
//! DATASET/links/links.parquet           union of every links file ingested
//! DATASET/_staging/<run>/               files being written
//! ```
//! Files are complete before they are renamed into the table directories,
//! so a reader never sees a half-written file. A run that fails leaves only
//! its staging directory, which is removed.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, RecordBatch, StringArray, StringBuilder, TimestampMicrosecondArray, TimestampMicrosecondBuilder};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::batch::{events_schema, links_schema, manifest_schema, rejects_schema};
use crate::error::{io_err, Error, Result};
use crate::manifest::{Link, Manifest, Recipient};

/// Table directories of a dataset.
pub const TABLES: [&str; 4] = ["events", "rejects", "manifest", "links"];

/// A dataset directory.
#[derive(Debug, Clone)]
pub struct Dataset {
    root: PathBuf,
}

fn props() -> WriterProperties {
    WriterProperties::builder().set_compression(Compression::SNAPPY).build()
}

impl Dataset {
    /// Opens a dataset, creating its directories if needed.
    pub fn create(root: &Path) -> Result<Self> {
        for t in TABLES.iter().chain(["_staging"].iter()) {
            let d = root.join(t);
            std::fs::create_dir_all(&d).map_err(io_err(&d))?;
        }
        Ok(Dataset { root: root.to_path_buf() })
    }

    /// The dataset root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Starts a run: files go to a staging directory until [`Staging::commit`].
    pub fn begin(&self) -> Result<Staging> {
        let now = chrono::Utc::now().format("%Y%m%dT%H%M%S%6fZ");
        let run_id = format!("{now}-{}", std::process::id());
        let dir = self.root.join("_staging").join(&run_id);
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(Staging { root: self.root.clone(), dir, run_id, events: None, rejects: None, done: false })
    }
}

/// A run's files in the making.
pub struct Staging {
    root: PathBuf,
    dir: PathBuf,
    run_id: String,
    events: Option<ArrowWriter<File>>,
    rejects: Option<ArrowWriter<File>>,
    done: bool,
}

fn writer(path: &Path, schema: arrow::datatypes::SchemaRef) -> Result<ArrowWriter<File>> {
    let f = File::create(path).map_err(io_err(path))?;
    ArrowWriter::try_new(f, schema, Some(props())).map_err(|source| Error::Parquet { path: path.to_path_buf(), source })
}

impl Staging {
    /// The run's id, also the name of its files.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Appends events.
    pub fn write_events(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let path = self.dir.join("events.parquet");
        if self.events.is_none() {
            self.events = Some(writer(&path, events_schema())?);
        }
        let w = self.events.as_mut().expect("just set");
        w.write(batch).map_err(|source| Error::Parquet { path, source })
    }

    /// Appends rejects.
    pub fn write_rejects(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let path = self.dir.join("rejects.parquet");
        if self.rejects.is_none() {
            self.rejects = Some(writer(&path, rejects_schema())?);
        }
        let w = self.rejects.as_mut().expect("just set");
        w.write(batch).map_err(|source| Error::Parquet { path, source })
    }

    /// Finishes the files, merges the manifest copy, and moves everything into place.
    pub fn commit(mut self, manifest: &Manifest) -> Result<()> {
        let mut moves = Vec::new();
        for (table, w) in [("events", self.events.take()), ("rejects", self.rejects.take())] {
            if let Some(w) = w {
                let staged = self.dir.join(format!("{table}.parquet"));
                let f = w.into_inner().map_err(|source| Error::Parquet { path: staged.clone(), source })?;
                f.sync_all().map_err(io_err(&staged))?;
                moves.push((staged, self.root.join(table).join(format!("part-{}.parquet", self.run_id))));
            }
        }
        let mpath = self.root.join("manifest").join("manifest.parquet");
        let staged_m = self.dir.join("manifest.parquet");
        write_batch(&staged_m, &merged_manifest(&mpath, manifest.recipients())?)?;
        moves.push((staged_m, mpath));
        let lpath = self.root.join("links").join("links.parquet");
        let staged_l = self.dir.join("links.parquet");
        write_batch(&staged_l, &merged_links(&lpath, manifest.links())?)?;
        moves.push((staged_l, lpath));
        for (from, to) in moves {
            std::fs::rename(&from, &to).map_err(io_err(&to))?;
        }
        self.done = true;
        let _ = std::fs::remove_dir_all(&self.dir);
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn write_batch(path: &Path, batch: &RecordBatch) -> Result<()> {
    let mut w = writer(path, batch.schema())?;
    w.write(batch).map_err(|source| Error::Parquet { path: path.to_path_buf(), source })?;
    let f = w.into_inner().map_err(|source| Error::Parquet { path: path.to_path_buf(), source })?;
    f.sync_all().map_err(io_err(path))
}

/// Reads every batch of a Parquet file; a missing file reads as empty.
pub fn read_parquet(path: &Path) -> Result<Vec<RecordBatch>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(path)(e)),
    };
    let perr = |source| Error::Parquet { path: path.to_path_buf(), source };
    let reader = ParquetRecordBatchReaderBuilder::try_new(f).map_err(perr)?.build().map_err(perr)?;
    reader.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| Error::Arrow(e))
}

fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> Result<&'a T> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| Error::Config(format!("dataset table lacks column {name} of the expected type")))
}

fn merged_manifest(existing: &Path, new: &[Recipient]) -> Result<RecordBatch> {
    let mut rows: BTreeMap<String, Recipient> = BTreeMap::new();
    for b in read_parquet(existing)? {
        let (t, c, r, v) = (
            col::<StringArray>(&b, "token")?,
            col::<StringArray>(&b, "campaign_id")?,
            col::<StringArray>(&b, "recipient_id")?,
            col::<StringArray>(&b, "variant")?,
        );
        let s = col::<TimestampMicrosecondArray>(&b, "sent_at")?;
        for i in 0..b.num_rows() {
            let rec = Recipient {
                token: t.value(i).into(),
                campaign_id: c.value(i).into(),
                recipient_id: r.value(i).into(),
                variant: if v.is_null(i) { String::new() } else { v.value(i).into() },
                sent_at: s.value(i),
            };
            rows.insert(rec.token.clone(), rec);
        }
    }
    for r in new {
        rows.insert(r.token.clone(), r.clone());
    }
    let mut b = [StringBuilder::new(), StringBuilder::new(), StringBuilder::new(), StringBuilder::new()];
    let mut sent = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    for r in rows.values() {
        b[0].append_value(&r.token);
        b[1].append_value(&r.campaign_id);
        b[2].append_value(&r.recipient_id);
        if r.variant.is_empty() {
            b[3].append_null()
        } else {
            b[3].append_value(&r.variant)
        }
        sent.append_value(r.sent_at);
    }
    let [mut t, mut c, mut r, mut v] = b;
    Ok(RecordBatch::try_new(
        manifest_schema(),
        vec![Arc::new(t.finish()), Arc::new(c.finish()), Arc::new(r.finish()), Arc::new(v.finish()), Arc::new(sent.finish())],
    )?)
}

fn merged_links(existing: &Path, new: &[Link]) -> Result<RecordBatch> {
    let mut rows: BTreeMap<String, Link> = BTreeMap::new();
    for b in read_parquet(existing)? {
        let (l, c, u) =
            (col::<StringArray>(&b, "link_id")?, col::<StringArray>(&b, "campaign_id")?, col::<StringArray>(&b, "url")?);
        for i in 0..b.num_rows() {
            rows.insert(
                l.value(i).into(),
                Link { link_id: l.value(i).into(), campaign_id: c.value(i).into(), url: u.value(i).into() },
            );
        }
    }
    for l in new {
        rows.insert(l.link_id.clone(), l.clone());
    }
    let (mut l, mut c, mut u) = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    for x in rows.values() {
        l.append_value(&x.link_id);
        c.append_value(&x.campaign_id);
        u.append_value(&x.url);
    }
    Ok(RecordBatch::try_new(links_schema(), vec![Arc::new(l.finish()), Arc::new(c.finish()), Arc::new(u.finish())])?)
}
