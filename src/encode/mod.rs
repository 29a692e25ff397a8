//! Rows -> Parquet pages while the parse goes on: a run's rows of a table
//! and day are encoded column by column into one row group per chunk (about
//! [`CHUNK_ROWS`] rows, one file each) as soon as they are made, so nothing
//! is written twice or read back.
//!
//! Columns that a later pass may still change (the message-level verdicts
//! of `events`) are deferred: each row keeps a small tag instead (with the
//! pages, once its chunk is closed), and
//! [`Encoder::seal`] encodes those columns from the tags and the changes
//! once the whole run is known, then writes each chunk's file. Finished
//! pages wait in memory up to a budget shared by every chunk and go to a
//! scratch file beyond it, and the unfinished pages of chunks still taking
//! rows are capped too ([`LIVE_MEMORY`]). A chunk that takes no more rows
//! writes its finished columns to what becomes its file at once, so what a
//! closed chunk holds in memory (page handles, page statistics and offsets:
//! about 20 KB a column) does not pile up over a long run: memory stays
//! bounded whatever the run's size and day spread. At the seal the deferred
//! columns and the footer are added to that file where it is
//! (`finish_in_place`), or a chunk still in memory is written whole; no
//! file stays open in between. Written files go to disk in the background
//! and are waited for together just before the commit ([`Encoder::durable`]).
//!
//! Most columns are encoded by encoders of our own, in parquet's layout
//! (`pages`): the text columns (`dictionary`) and the integer and time
//! columns (`numbers`); parquet's `ArrowColumnWriter` takes the rest.
//! Tables written at once (the manifest and links copies) go through the
//! same encoders as a [`WholeFile`].

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowWriterOptions, PageKey, PageStore,
    PageStoreArgs, PageStoreFactory,
};
use parquet::arrow::ArrowWriter;
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::ParquetError;
use parquet::file::metadata::{
    ColumnChunkMetaData, FileMetaData, PageIndexPolicy, ParquetMetaData, ParquetMetaDataBuilder,
    ParquetMetaDataOptions, ParquetMetaDataReader, ParquetMetaDataWriter, RowGroupMetaData,
};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::reader::ChunkReader;
use parquet::file::statistics::Statistics;
use parquet::file::writer::TrackedWrite;
use parquet::schema::types::SchemaDescriptor;
use rayon::prelude::*;

use crate::commit::AddedFile;
use crate::error::{io_err, Error, Result};

mod dictionary;
mod numbers;
mod pages;

use dictionary::DictionaryWriter;
use numbers::NumberWriter;
use pages::EncodedChunk;

/// Rows per chunk, and so at most per Parquet file a run writes to a
/// partition: big enough for good row groups, small enough that chunks
/// seal in parallel.
pub const CHUNK_ROWS: u64 = 1 << 20;

/// Encoded pages held in memory across all chunks before they go to the
/// scratch file (the 2M-line simulated log's events take about 80 MB;
/// pages beyond it cost one write and one read of compressed bytes).
pub const PAGE_MEMORY: usize = 96 << 20;

/// Rows of deferred columns made and encoded at once when a chunk is sealed.
const SEAL_SLICE: usize = 65_536;

/// Unfinished pages (at most 20,000 values a column) held by the chunks
/// still taking rows. Beyond it the least recently used chunk is closed,
/// and its day goes on in a new one: only logs whose days interleave
/// widely and heavily pay for it, with smaller files.
pub const LIVE_MEMORY: usize = 64 << 20;

/// Where finished pages wait for their file: memory up to a budget shared
/// by every chunk of a run, then one scratch file written at offsets handed
/// out atomically, so column writers on any thread share it without a lock.
#[derive(Debug)]
struct PagePool {
    budget: usize,
    resident: AtomicUsize,
    spill_path: PathBuf,
    spill: File,
    end: AtomicU64,
}

impl PagePool {
    fn new(spill_path: PathBuf, budget: usize) -> Result<Self> {
        let spill = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&spill_path)
            .map_err(io_err(&spill_path))?;
        Ok(PagePool {
            budget,
            resident: AtomicUsize::new(0),
            spill_path,
            spill,
            end: AtomicU64::new(0),
        })
    }
}

/// Files of the run to be on disk before its commit. Each file's writeback
/// is started as soon as it is written, and the waits for them are left to
/// the end, all at once: a seal that synced each file where it wrote it
/// kept a core waiting on the disk (9 files, 10-30 ms each, on the 4.3
/// M-line send) while the other had work.
#[derive(Debug, Default)]
struct Syncs {
    pending: std::sync::Mutex<Vec<(PathBuf, File)>>,
}

/// Files [`Syncs`] keeps open at most: beyond it the oldest is synced at
/// once, so a run of thousands of chunks stays well inside the usual limit
/// of 1,024 descriptors.
const SYNCS_OPEN: usize = 64;

/// Threads that wait on the disk together at the end of a run.
const SYNC_THREADS: usize = 8;

impl Syncs {
    /// Starts writing `file` (all its data is written) to disk; it is
    /// synced by [`Syncs::finish`].
    fn start(&self, path: &Path, file: File) -> Result<()> {
        start_writeback(&file);
        let oldest = {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            p.push((path.to_path_buf(), file));
            (p.len() > SYNCS_OPEN).then(|| p.remove(0))
        };
        match oldest {
            Some((path, f)) => f.sync_all().map_err(io_err(&path)),
            None => Ok(()),
        }
    }

    /// Waits until every started file is on disk.
    fn finish(&self) -> Result<()> {
        let files = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        wait_on_each(&files, |(path, f)| f.sync_all().map_err(io_err(path)))
    }
}

/// Runs `wait` on every item, several at once on plain threads (at most
/// [`SYNC_THREADS`]), not the pool's: each is a wait on the disk, and
/// there may be thousands. The first error, once all are done.
pub(crate) fn wait_on_each<T: Sync>(
    items: &[T],
    wait: impl Fn(&T) -> Result<()> + Sync,
) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let per_thread = items.len().div_ceil(SYNC_THREADS);
    let wait = &wait;
    std::thread::scope(|s| {
        let waits: Vec<_> = items
            .chunks(per_thread)
            .map(|part| s.spawn(move || part.iter().try_for_each(wait)))
            .collect();
        waits
            .into_iter()
            .try_for_each(|w| w.join().expect("a wait on the disk does not panic"))
    })
}

/// Asks the kernel to start writing `file`'s dirty pages now, without
/// waiting; the sync that follows later then finds most of them written.
/// Only a hint: errors surface at that sync.
fn start_writeback(file: &File) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is open for the call's duration (borrowed
        // from `file`); the call reads no memory of ours.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = file;
}

#[derive(Debug)]
struct PoolFactory(Arc<PagePool>);

impl PageStoreFactory for PoolFactory {
    fn create(&self, _args: &PageStoreArgs<'_>) -> parquet::errors::Result<Box<dyn PageStore>> {
        Ok(Box::new(Pages {
            pool: self.0.clone(),
            blobs: Vec::new(),
            resident: 0,
        }))
    }
}

enum Blob {
    Memory(Bytes),
    Spilled(u64, usize),
    Taken,
}

/// One column chunk's pages in the pool.
struct Pages {
    pool: Arc<PagePool>,
    blobs: Vec<Blob>,
    resident: usize,
}

fn spill_error(path: &Path, e: std::io::Error) -> ParquetError {
    ParquetError::General(format!("{}: {e}", path.display()))
}

impl Pages {
    /// Puts `value` in the scratch file, whatever the memory budget.
    fn put_on_disk(&mut self, value: &[u8]) -> parquet::errors::Result<PageKey> {
        let key = PageKey::new(self.blobs.len() as u64);
        let pool = &self.pool;
        let at = pool.end.fetch_add(value.len() as u64, Ordering::Relaxed);
        pool.spill
            .write_all_at(value, at)
            .map_err(|e| spill_error(&pool.spill_path, e))?;
        self.blobs.push(Blob::Spilled(at, value.len()));
        Ok(key)
    }
}

impl PageStore for Pages {
    fn put(&mut self, value: Bytes) -> parquet::errors::Result<PageKey> {
        let len = value.len();
        let pool = &self.pool;
        if pool.resident.fetch_add(len, Ordering::Relaxed) + len > pool.budget {
            pool.resident.fetch_sub(len, Ordering::Relaxed);
            return self.put_on_disk(&value);
        }
        self.resident += len;
        self.blobs.push(Blob::Memory(value));
        Ok(PageKey::new(self.blobs.len() as u64 - 1))
    }

    fn take(&mut self, key: PageKey) -> parquet::errors::Result<Bytes> {
        let slot = self
            .blobs
            .get_mut(key.get() as usize)
            .ok_or_else(|| ParquetError::General(format!("no page {}", key.get())))?;
        match std::mem::replace(slot, Blob::Taken) {
            Blob::Memory(b) => {
                self.resident -= b.len();
                self.pool.resident.fetch_sub(b.len(), Ordering::Relaxed);
                Ok(b)
            }
            Blob::Spilled(at, len) => {
                let mut buf = vec![0u8; len];
                self.pool
                    .spill
                    .read_exact_at(&mut buf, at)
                    .map_err(|e| spill_error(&self.pool.spill_path, e))?;
                Ok(Bytes::from(buf))
            }
            Blob::Taken => Err(ParquetError::General(format!(
                "page {} taken twice",
                key.get()
            ))),
        }
    }

    fn memory_size(&self) -> usize {
        self.resident
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        self.pool
            .resident
            .fetch_sub(self.resident, Ordering::Relaxed);
    }
}

/// One row group in the making, and the file it will be.
struct Chunk {
    day: String,
    k: usize,
    staged: String,
    schema: SchemaRef,
    /// Column writers by position; taken when the column is closed.
    writers: Vec<Option<ColumnEncoder>>,
    /// Closed columns by position, while they are in memory.
    done: Vec<Option<ClosedColumn>>,
    /// Once the chunk is closed before the seal: the file its written
    /// columns went to, in schema order, finished in place at the seal.
    written: Option<PathBuf>,
    /// A tag per row, for the deferred columns, while the chunk takes rows.
    tags: Vec<u16>,
    /// The tags once the chunk is closed: in the scratch file, so a run's
    /// tags, two bytes an event, do not grow memory with its size.
    stored_tags: Option<(Pages, PageKey)>,
    rows: u64,
    first_row: u64,
    live: bool,
    used: u64,
    /// Bytes its open column writers hold.
    memory: usize,
}

/// A table's file written whole (the manifest and links copies): its
/// columns encoded like the events', each on a core of its own, instead of
/// through parquet's writer one column after another at the end of a run.
pub struct WholeFile {
    path: String,
    staged: String,
    root: PathBuf,
    pool: Arc<PagePool>,
    /// Rows a row group holds at most.
    group: usize,
    syncs: Arc<Syncs>,
}

impl WholeFile {
    /// Writes `batch` in row groups of parquet's default size, and gives
    /// the file to add to the commit (synced before it).
    pub fn write(self, batch: &RecordBatch) -> Result<AddedFile> {
        let abs = self.root.join(&self.staged);
        let schema = batch.schema();
        let f = File::create(&abs).map_err(io_err(&abs))?;
        let mut file = splice_writer(f, schema.clone(), &self.pool, &abs)?;
        let group = self.group.max(1);
        let rows = batch.num_rows();
        for start in (0..rows).step_by(group) {
            let part = batch.slice(start, group.min(rows - start));
            let closed = column_writers(&schema, self.pool.clone(), &abs)?
                .into_par_iter()
                .zip(schema.fields().par_iter().zip(part.columns()))
                .map(|(mut w, (field, column))| {
                    w.write(field, column)?;
                    w.close()
                })
                .collect::<parquet::errors::Result<Vec<_>>>()
                .map_err(perr(&abs))?;
            splice_row_group(&mut file, closed, &abs)?;
        }
        let f = file.into_inner().map_err(perr(&abs))?;
        self.syncs.start(&abs, f)?;
        Ok(AddedFile {
            path: self.path,
            staged: self.staged,
            rows: rows as u64,
            counts: Vec::new(),
        })
    }
}

/// The dataset's writer properties, with finished pages going to the pool.
fn options(pool: Arc<PagePool>) -> ArrowWriterOptions {
    ArrowWriterOptions::new()
        .with_properties(crate::commit::writer_properties())
        .with_page_store_factory(Arc::new(PoolFactory(pool)))
}

/// A file writer of the dataset's properties over `out`, for column chunks
/// encoded apart and spliced in ([`splice_row_group`]).
fn splice_writer<W: std::io::Write + Send>(
    out: W,
    schema: SchemaRef,
    pool: &Arc<PagePool>,
    path: &Path,
) -> Result<parquet::file::writer::SerializedFileWriter<W>> {
    ArrowWriter::try_new_with_options(out, schema, options(pool.clone()))
        .and_then(|w| w.into_serialized_writer())
        .map(|(file, _)| file)
        .map_err(perr(path))
}

/// Appends a row group of the closed `columns`, in the file's column order.
fn splice_row_group<W: std::io::Write + Send>(
    file: &mut parquet::file::writer::SerializedFileWriter<W>,
    columns: impl IntoIterator<Item = ClosedColumn>,
    path: &Path,
) -> Result<()> {
    let mut rg = file.next_row_group().map_err(perr(path))?;
    for col in columns {
        col.append_to_row_group(&mut rg).map_err(perr(path))?;
    }
    rg.close().map_err(perr(path))?;
    Ok(())
}

fn perr(path: &Path) -> impl Fn(ParquetError) -> Error + '_ {
    move |source| Error::Parquet {
        path: path.to_path_buf(),
        source,
    }
}

/// A column's encoder: ours for the dictionary-encoded text columns
/// ([`dictionary`]) and the integer and time columns ([`numbers`]),
/// parquet's for the rest.
enum ColumnEncoder {
    Arrow(Box<ArrowColumnWriter>),
    Dictionary(DictionaryWriter),
    Int32(NumberWriter<i32>),
    Int64(NumberWriter<i64>),
}

/// A column whose encoder is closed, waiting for its file.
enum ClosedColumn {
    Arrow(ArrowColumnChunk),
    Ours(EncodedChunk),
}

impl ColumnEncoder {
    fn write(
        &mut self,
        field: &arrow::datatypes::FieldRef,
        column: &ArrayRef,
    ) -> parquet::errors::Result<()> {
        match self {
            ColumnEncoder::Arrow(w) => {
                for leaf in compute_leaves(field, column)? {
                    w.write(&leaf)?;
                }
                Ok(())
            }
            ColumnEncoder::Dictionary(w) => w.write(column.as_ref()),
            ColumnEncoder::Int32(w) => numbers::write_i32(w, column.as_ref()),
            ColumnEncoder::Int64(w) => numbers::write_i64(w, column.as_ref()),
        }
    }

    fn memory_size(&self) -> usize {
        match self {
            ColumnEncoder::Arrow(w) => w.memory_size(),
            ColumnEncoder::Dictionary(w) => w.memory_size(),
            ColumnEncoder::Int32(w) => w.memory_size(),
            ColumnEncoder::Int64(w) => w.memory_size(),
        }
    }

    fn close(self) -> parquet::errors::Result<ClosedColumn> {
        match self {
            ColumnEncoder::Arrow(w) => w.close().map(ClosedColumn::Arrow),
            ColumnEncoder::Dictionary(w) => w.close().map(ClosedColumn::Ours),
            ColumnEncoder::Int32(w) => w.close().map(ClosedColumn::Ours),
            ColumnEncoder::Int64(w) => w.close().map(ClosedColumn::Ours),
        }
    }
}

impl ClosedColumn {
    fn append_to_row_group<W: std::io::Write + Send>(
        self,
        rg: &mut parquet::file::writer::SerializedRowGroupWriter<'_, W>,
    ) -> parquet::errors::Result<()> {
        match self {
            ClosedColumn::Arrow(c) => c.append_to_row_group(rg),
            ClosedColumn::Ours(c) => c.append_to_row_group(rg),
        }
    }
}

/// An encoder per leaf column of `schema`. They need only the schema and
/// properties; the file they end up in is made at the seal.
fn column_writers(
    schema: &SchemaRef,
    pool: Arc<PagePool>,
    path: &Path,
) -> Result<Vec<ColumnEncoder>> {
    let (file, factory) =
        ArrowWriter::try_new_with_options(std::io::sink(), schema.clone(), options(pool.clone()))
            .and_then(|w| w.into_serialized_writer())
            .map_err(perr(path))?;
    let props = file.properties().clone();
    let descr = file.schema_descr();
    let leaves = factory.create_column_writers(0).map_err(perr(path))?;
    if leaves.len() != schema.fields().len() {
        return Err(Error::Config(format!(
            "bug: {} has nested columns, which the encoder does not take",
            path.display()
        )));
    }
    Ok(leaves
        .into_iter()
        .enumerate()
        .map(|(i, w)| {
            let d = descr.column(i);
            let store = || -> Box<dyn PageStore> {
                Box::new(Pages {
                    pool: pool.clone(),
                    blobs: Vec::new(),
                    resident: 0,
                })
            };
            let data_type = schema.field(i).data_type();
            if dictionary::takes(&d, data_type, &props) {
                ColumnEncoder::Dictionary(DictionaryWriter::new(d, &props, store()))
            } else if numbers::takes(&d, data_type, &props) {
                match d.physical_type() {
                    parquet::basic::Type::INT32 => {
                        ColumnEncoder::Int32(NumberWriter::new(d, &props, store()))
                    }
                    _ => ColumnEncoder::Int64(NumberWriter::new(d, &props, store())),
                }
            } else {
                ColumnEncoder::Arrow(Box::new(w))
            }
        })
        .collect())
}

impl Chunk {
    /// Encodes the batch's columns that are not deferred, in parallel.
    fn encode(&mut self, batch: &RecordBatch, deferred: &[usize], path: &Path) -> Result<()> {
        let fields = self.schema.fields();
        let jobs: Vec<_> = self
            .writers
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| !deferred.contains(i))
            .filter_map(|(i, w)| w.as_mut().map(|w| (w, &fields[i], batch.column(i))))
            .collect();
        jobs.into_par_iter()
            .try_for_each(|(w, f, c)| w.write(f, c))
            .map_err(perr(path))
    }

    /// Closes the columns that are not deferred: the chunk takes no more
    /// rows.
    fn close_columns(&mut self, deferred: &[usize], path: &Path) -> Result<()> {
        let closed: Vec<(usize, ClosedColumn)> = self
            .writers
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| !deferred.contains(i))
            .filter_map(|(i, w)| w.take().map(|w| (i, w)))
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|(i, w)| w.close().map(|c| (i, c)))
            .collect::<parquet::errors::Result<_>>()
            .map_err(perr(path))?;
        for (i, c) in closed {
            self.done[i] = Some(c);
        }
        // The deferred columns' writers, empty until the seal, still hold
        // their encoders' buffers: new ones are made at the seal instead.
        for &i in deferred {
            self.writers[i] = None;
        }
        self.live = false;
        self.memory = 0;
        Ok(())
    }

    /// Closes the chunk, and moves its written columns out of memory, into
    /// a file of their own beside the chunk's, which becomes the chunk's at
    /// the seal (see [`finish_in_place`]), and its tags into the scratch
    /// file.
    ///
    /// Held to the seal instead, a closed column's page handles, statistics
    /// and offsets came to about 20 KB, and so memory grew by about 1 MB
    /// for every million events of a run.
    fn close_to_file(
        &mut self,
        deferred: &[usize],
        path: &Path,
        pool: &Arc<PagePool>,
    ) -> Result<()> {
        self.close_columns(deferred, path)?;
        let written = written_path(path);
        let fields: Vec<_> = self
            .schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(i, _)| !deferred.contains(i))
            .map(|(_, f)| f.clone())
            .collect();
        let schema = Arc::new(arrow::datatypes::Schema::new(fields));
        let f = File::create(&written).map_err(io_err(&written))?;
        let mut file = splice_writer(f, schema, pool, &written)?;
        let done = self.done.iter_mut().filter_map(Option::take);
        splice_row_group(&mut file, done, &written)?;
        // Most of the chunk's bytes: to disk while the run goes on, so the
        // sync after its seal has little left to wait for.
        start_writeback(&file.into_inner().map_err(perr(&written))?);
        if !self.tags.is_empty() {
            let bytes: Vec<u8> = self.tags.iter().flat_map(|t| t.to_le_bytes()).collect();
            self.tags = Vec::new();
            let mut store = Pages {
                pool: pool.clone(),
                blobs: Vec::new(),
                resident: 0,
            };
            // On disk at once: in memory, the tags of a long run's closed
            // chunks took the page budget bit by bit (42 M events: 84 MB).
            let key = store.put_on_disk(&bytes).map_err(perr(path))?;
            self.stored_tags = Some((store, key));
        }
        self.written = Some(written);
        Ok(())
    }
}

/// Where a chunk closed before the seal keeps its written columns.
fn written_path(path: &Path) -> PathBuf {
    path.with_extension("written.parquet")
}

/// The metadata of a file of written columns, as the writer made it: page
/// indexes and every page's encoding statistics, so the chunk's file gets
/// what it would have had from the columns in memory.
fn read_written<R: ChunkReader>(file: &R, path: &Path) -> Result<ParquetMetaData> {
    ParquetMetaDataReader::new()
        .with_page_index_policy(PageIndexPolicy::Optional)
        .with_metadata_options(Some(
            ParquetMetaDataOptions::new().with_encoding_stats_as_mask(false),
        ))
        .parse_and_finish(file)
        .map_err(perr(path))
}

/// Column `j` of a file of written columns, as its writer closed it.
fn written_column(meta: &ParquetMetaData, j: usize, path: &Path) -> Result<ColumnCloseResult> {
    let rg = meta.row_group(0);
    let column = rg.column(j);
    let mut metadata = column.clone();
    if let Some(stats) = column.statistics() {
        // A writer also fills the deprecated min and max fields where the
        // order is signed, for old readers; read back, statistics no
        // longer say so.
        let signed = column.column_descr().sort_order().is_signed();
        metadata = metadata
            .into_builder()
            .set_statistics(with_old_min_max(stats, signed))
            .build()
            .map_err(perr(path))?;
    }
    Ok(ColumnCloseResult {
        bytes_written: column.compressed_size() as u64,
        rows_written: rg.num_rows() as u64,
        metadata,
        bloom_filter: None,
        column_index: meta
            .column_index()
            .and_then(|c| c[0].get(j))
            .filter(|c| !matches!(c, ColumnIndexMetaData::NONE))
            .cloned(),
        offset_index: meta.offset_index().and_then(|o| o[0].get(j)).cloned(),
    })
}

/// Where a column chunk's bytes begin and end in its file.
fn chunk_span(c: &ColumnChunkMetaData) -> (u64, u64) {
    let start = c.dictionary_page_offset().unwrap_or(c.data_page_offset()) as u64;
    (start, start + c.compressed_size() as u64)
}

/// `close`, its pages moved `by` bytes further into the file.
fn moved(mut close: ColumnCloseResult, by: i64, path: &Path) -> Result<ColumnCloseResult> {
    let m = &close.metadata;
    let data = m.data_page_offset() + by;
    let dictionary = m.dictionary_page_offset().map(|d| d + by);
    close.metadata = m
        .clone()
        .into_builder()
        .set_data_page_offset(data)
        .set_dictionary_page_offset(dictionary)
        .build()
        .map_err(perr(path))?;
    if let Some(o) = close.offset_index.as_mut() {
        for p in &mut o.page_locations {
            p.offset += by;
        }
    }
    Ok(close)
}

/// A chunk closed before the seal becomes its file where its written
/// columns already are: the deferred columns (`done`, the only ones left
/// there) go after them, then page indexes and a footer for every column,
/// and the file is renamed to `dst`. Its column chunks are then not in
/// schema order, which Parquet allows (readers find each chunk by the
/// offsets in the footer). Copied into a new file instead, the written
/// columns cost the seal a second write and a read of most of a long run's
/// events.
fn finish_in_place(
    written: &Path,
    dst: &Path,
    schema: &SchemaRef,
    rows: u64,
    mut done: Vec<Option<ClosedColumn>>,
    pool: Arc<PagePool>,
    syncs: &Syncs,
) -> Result<()> {
    let file = File::options()
        .read(true)
        .write(true)
        .open(written)
        .map_err(io_err(written))?;
    let meta = read_written(&file, written)?;
    let data_end = meta
        .row_group(0)
        .columns()
        .iter()
        .map(|c| chunk_span(c).1)
        .max()
        .unwrap_or(4);

    let positions: Vec<usize> = (0..done.len()).filter(|&i| done[i].is_some()).collect();
    let deferred = if positions.is_empty() {
        None
    } else {
        Some(deferred_file(schema, &positions, &mut done, &pool, dst)?)
    };
    let (sub_start, sub_end) = match &deferred {
        Some((bytes, meta)) => {
            let (start, end) = meta
                .row_group(0)
                .columns()
                .iter()
                .map(chunk_span)
                .fold((u64::MAX, 0), |(a, b), (s, e)| (a.min(s), b.max(e)));
            file.write_all_at(&bytes[start as usize..end as usize], data_end)
                .map_err(io_err(written))?;
            (start, end)
        }
        None => (0, 0),
    };
    let by = data_end as i64 - sub_start as i64;

    // Every column in schema order, wherever its chunk is.
    let mut columns = Vec::with_capacity(schema.fields().len());
    let (mut next_written, mut next_sub) = (0, 0);
    for i in 0..schema.fields().len() {
        if let Some((_, sub_meta)) = deferred.as_ref().filter(|_| positions.contains(&i)) {
            columns.push(moved(written_column(sub_meta, next_sub, dst)?, by, dst)?);
            next_sub += 1;
        } else {
            columns.push(written_column(&meta, next_written, written)?);
            next_written += 1;
        }
    }
    let (probe, _) =
        ArrowWriter::try_new_with_options(std::io::sink(), schema.clone(), options(pool))
            .and_then(|w| w.into_serialized_writer())
            .map_err(perr(dst))?;
    let props = probe.properties().clone();
    let descr = Arc::new(SchemaDescriptor::new(
        probe.schema_descr().root_schema_ptr(),
    ));
    let total: i64 = columns.iter().map(|c| c.metadata.uncompressed_size()).sum();
    let mut column_index = Vec::with_capacity(columns.len());
    let mut offset_index = Vec::with_capacity(columns.len());
    let mut chunks = Vec::with_capacity(columns.len());
    for c in columns {
        column_index.push(c.column_index.unwrap_or(ColumnIndexMetaData::NONE));
        offset_index.push(c.offset_index.ok_or_else(|| {
            Error::Config(format!(
                "bug: a column of {} has no offset index",
                written.display()
            ))
        })?);
        chunks.push(c.metadata);
    }
    let row_group = RowGroupMetaData::builder(descr.clone())
        .set_column_metadata(chunks)
        .set_total_byte_size(total)
        .set_num_rows(rows as i64)
        .set_sorting_columns(props.sorting_columns().cloned())
        .set_ordinal(0)
        .set_file_offset(meta.row_group(0).file_offset().unwrap_or(4))
        .build()
        .map_err(perr(dst))?;
    let file_meta = FileMetaData::new(
        props.writer_version().as_num(),
        rows as i64,
        Some(props.created_by().to_string()),
        props.key_value_metadata().cloned(),
        descr,
        None,
    );
    let full = ParquetMetaDataBuilder::new(file_meta)
        .add_row_group(row_group)
        .set_column_index(Some(vec![column_index]))
        .set_offset_index(Some(vec![offset_index]))
        .build();
    let footer_at = data_end + (sub_end - sub_start);
    // The footer's page index offsets are counted from the file's start,
    // so the writer is first told of the bytes before it.
    let mut footer = Vec::new();
    let mut out = TrackedWrite::new(Tail {
        skip: footer_at,
        out: &mut footer,
    });
    let zeros = [0u8; 1 << 16];
    let mut left = footer_at as usize;
    while left > 0 {
        let n = left.min(zeros.len());
        std::io::Write::write_all(&mut out, &zeros[..n]).map_err(io_err(written))?;
        left -= n;
    }
    // `out` is dropped within, and its buffer flushed into `footer`.
    ParquetMetaDataWriter::new_with_tracked(out, &full)
        .finish()
        .map_err(perr(dst))?;
    file.write_all_at(&footer, footer_at)
        .map_err(io_err(written))?;
    // The old footer may have reached further than the new one.
    file.set_len(footer_at + footer.len() as u64)
        .map_err(io_err(written))?;
    std::fs::rename(written, dst).map_err(io_err(dst))?;
    syncs.start(dst, file)
}

/// The deferred columns at `positions` of `done` as a file of their own,
/// in memory, with its metadata: parquet's writer lays out their chunks and
/// makes their metadata and page indexes.
fn deferred_file(
    schema: &SchemaRef,
    positions: &[usize],
    done: &mut [Option<ClosedColumn>],
    pool: &Arc<PagePool>,
    dst: &Path,
) -> Result<(Bytes, ParquetMetaData)> {
    let fields: Vec<_> = positions.iter().map(|&i| schema.field(i).clone()).collect();
    let sub_schema = Arc::new(arrow::datatypes::Schema::new(fields));
    let mut sub = splice_writer(Vec::new(), sub_schema, pool, dst)?;
    let columns = positions
        .iter()
        .map(|&i| done[i].take().expect("a deferred column, closed"));
    splice_row_group(&mut sub, columns, dst)?;
    let bytes = Bytes::from(sub.into_inner().map_err(perr(dst))?);
    let meta = read_written(&bytes, dst)?;
    Ok((bytes, meta))
}

/// Collects what is written to it after letting the first `skip` bytes go
/// by: a [`TrackedWrite`] over it counts them, and writes nothing there.
struct Tail<'a> {
    skip: u64,
    out: &'a mut Vec<u8>,
}

impl std::io::Write for Tail<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.skip > 0 {
            let n = (self.skip as usize).min(buf.len());
            self.skip -= n as u64;
            return Ok(n);
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `stats`, also written in the deprecated min and max fields when `signed`.
fn with_old_min_max(stats: &Statistics, signed: bool) -> Statistics {
    match stats.clone() {
        Statistics::Boolean(s) => Statistics::Boolean(s.with_backwards_compatible_min_max(signed)),
        Statistics::Int32(s) => Statistics::Int32(s.with_backwards_compatible_min_max(signed)),
        Statistics::Int64(s) => Statistics::Int64(s.with_backwards_compatible_min_max(signed)),
        Statistics::Int96(s) => Statistics::Int96(s.with_backwards_compatible_min_max(signed)),
        Statistics::Float(s) => Statistics::Float(s.with_backwards_compatible_min_max(signed)),
        Statistics::Double(s) => Statistics::Double(s.with_backwards_compatible_min_max(signed)),
        Statistics::ByteArray(s) => {
            Statistics::ByteArray(s.with_backwards_compatible_min_max(signed))
        }
        Statistics::FixedLenByteArray(s) => {
            Statistics::FixedLenByteArray(s.with_backwards_compatible_min_max(signed))
        }
    }
}

/// The revisable columns of a chunk, made at seal time from its rows' tags.
pub type Revise<'a, T> = dyn Fn(&T, u64, &[u16]) -> Vec<ArrayRef> + Sync + 'a;

/// A run's tables being encoded, by table and day.
pub struct Encoder {
    root: PathBuf,
    run: String,
    chunk_rows: u64,
    page_memory: usize,
    live_memory: usize,
    pool: Option<Arc<PagePool>>,
    declared: BTreeMap<String, (SchemaRef, Vec<usize>)>,
    chunks: BTreeMap<(String, String), Vec<Chunk>>,
    tick: u64,
    syncs: Arc<Syncs>,
}

impl Encoder {
    /// An encoder staging under `root/_staging/<run>/`.
    pub fn new(root: &Path, run: &str) -> Self {
        Encoder {
            root: root.to_path_buf(),
            run: run.to_string(),
            chunk_rows: CHUNK_ROWS,
            page_memory: PAGE_MEMORY,
            live_memory: LIVE_MEMORY,
            pool: None,
            declared: BTreeMap::new(),
            chunks: BTreeMap::new(),
            tick: 0,
            syncs: Arc::default(),
        }
    }

    /// Rows per chunk from now on.
    pub fn set_chunk_rows(&mut self, rows: u64) {
        self.chunk_rows = rows.max(1);
    }

    /// Bytes of encoded pages held in memory before they go to disk.
    pub fn set_page_memory(&mut self, bytes: usize) {
        self.page_memory = bytes;
    }

    /// Bytes of unfinished pages that chunks taking rows may hold.
    pub fn set_live_memory(&mut self, bytes: usize) {
        self.live_memory = bytes;
    }

    /// The schema of `table`'s files, and its columns written only at
    /// [`Encoder::seal`], from tags. Rows may come with any column as a
    /// dictionary of the schema's type. An undeclared table's files take
    /// the schema of its first rows and defer nothing.
    pub fn declare(&mut self, table: &str, schema: SchemaRef, deferred: Vec<usize>) {
        self.declared.insert(table.to_string(), (schema, deferred));
    }

    fn deferred(&self, table: &str) -> Vec<usize> {
        self.declared
            .get(table)
            .map(|d| d.1.clone())
            .unwrap_or_default()
    }

    /// True while some table has rows not yet sealed.
    pub fn pending(&self) -> Option<&str> {
        self.chunks.keys().next().map(|(t, _)| t.as_str())
    }

    fn scratch(&self) -> PathBuf {
        self.root.join("_staging").join(&self.run)
    }

    /// A file for the whole of `table`, to be written at once with
    /// [`WholeFile::write`], beside (and while) this encoder seals.
    pub fn whole_file(&mut self, table: &str) -> Result<WholeFile> {
        let path = format!("{table}/{table}-{}.parquet", self.run);
        let staged = format!("_staging/{}/{table}.parquet", self.run);
        self.whole_file_at(path, staged)
    }

    /// A [`WholeFile`] for the dataset path `path`, staged at `staged`
    /// (both relative to the root).
    pub fn whole_file_at(&mut self, path: String, staged: String) -> Result<WholeFile> {
        Ok(WholeFile {
            path,
            staged,
            root: self.root.clone(),
            pool: self.pool()?,
            group: crate::commit::writer_properties()
                .max_row_group_row_count()
                .unwrap_or(usize::MAX),
            syncs: self.syncs.clone(),
        })
    }

    /// Starts writing a finished file of the run to disk: it is synced
    /// with the others by [`Encoder::durable`].
    pub fn sync_later(&self, path: &Path, file: File) -> Result<()> {
        self.syncs.start(path, file)
    }

    /// Returns once every file the run wrote (sealed chunks, whole files,
    /// and those given to [`Encoder::sync_later`]) is on disk.
    pub fn durable(&self) -> Result<()> {
        self.syncs.finish()
    }

    fn pool(&mut self) -> Result<Arc<PagePool>> {
        if self.pool.is_none() {
            let path = self.scratch().join("pages.spill");
            self.pool = Some(Arc::new(PagePool::new(path, self.page_memory)?));
        }
        Ok(self.pool.clone().expect("just made"))
    }

    /// Appends rows to `table` and `day`; `tags` has one entry per row for
    /// the deferred columns (empty when the table defers none).
    pub fn write(
        &mut self,
        table: &str,
        day: &str,
        batch: &RecordBatch,
        tags: &[u16],
    ) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.tick += 1;
        let tick = self.tick;
        let key = (table.to_string(), day.to_string());
        let deferred = self.deferred(table);
        let needs_new = self
            .chunks
            .get(&key)
            .and_then(|c| c.last())
            .is_none_or(|c| !c.live || c.rows >= self.chunk_rows);
        if needs_new {
            let schema = match self.declared.get(table) {
                Some((s, _)) => s.clone(),
                None => batch.schema(),
            };
            self.open(&key, schema)?;
        }
        let root = self.root.clone();
        let c = self
            .chunks
            .get_mut(&key)
            .and_then(|c| c.last_mut())
            .expect("a live chunk");
        let path = root.join(&c.staged);
        let same = c.schema.fields().len() == batch.num_columns()
            && c.schema
                .fields()
                .iter()
                .zip(batch.schema().fields())
                .all(|(a, b)| {
                    a.name() == b.name()
                        && match b.data_type() {
                            arrow::datatypes::DataType::Dictionary(_, v) => {
                                v.as_ref() == a.data_type()
                            }
                            t => t == a.data_type(),
                        }
                });
        if !same {
            return Err(Error::Config(format!(
                "bug: rows for {} do not have the chunk's columns",
                path.display()
            )));
        }
        c.encode(batch, &deferred, &path)?;
        if !deferred.is_empty() {
            c.tags.extend_from_slice(tags);
        }
        c.rows += batch.num_rows() as u64;
        c.used = tick;
        c.memory = c.writers.iter().flatten().map(|w| w.memory_size()).sum();
        self.cap_live(&key)
    }

    /// Closes the least recently used chunks other than `keep`'s until the
    /// live ones hold at most the live memory.
    fn cap_live(&mut self, keep: &(String, String)) -> Result<()> {
        let mut live: Vec<(u64, usize, (String, String))> = self
            .chunks
            .iter()
            .filter_map(|(k, cs)| {
                cs.last()
                    .filter(|c| c.live)
                    .map(|c| (c.used, c.memory, k.clone()))
            })
            .collect();
        let mut total: usize = live.iter().map(|l| l.1).sum();
        live.sort();
        for (_, memory, k) in live {
            if total <= self.live_memory {
                break;
            }
            if &k == keep {
                continue;
            }
            self.close_last(&k)?;
            total -= memory;
        }
        Ok(())
    }

    fn close_last(&mut self, key: &(String, String)) -> Result<()> {
        let d = self.deferred(&key.0);
        let pool = self.pool()?;
        let c = self
            .chunks
            .get_mut(key)
            .and_then(|c| c.last_mut())
            .expect("a chunk to close");
        let path = self.root.join(&c.staged);
        c.close_to_file(&d, &path, &pool)
    }

    /// Starts a chunk for `key`, closing the key's last one.
    fn open(&mut self, key: &(String, String), schema: SchemaRef) -> Result<()> {
        if self
            .chunks
            .get(key)
            .and_then(|c| c.last())
            .is_some_and(|c| c.live)
        {
            self.close_last(key)?;
        }
        let pool = self.pool()?;
        let chunks = self.chunks.entry(key.clone()).or_default();
        let k = chunks.len();
        let first_row = chunks.last().map_or(0, |c| c.first_row + c.rows);
        let (table, day) = key;
        let staged = format!("_staging/{}/{table}-{day}-{k}.parquet", self.run);
        let abs = self.root.join(&staged);
        let writers: Vec<Option<ColumnEncoder>> = column_writers(&schema, pool, &abs)?
            .into_iter()
            .map(Some)
            .collect();
        let n = writers.len();
        chunks.push(Chunk {
            day: day.clone(),
            k,
            staged,
            schema,
            writers,
            done: (0..n).map(|_| None).collect(),
            written: None,
            tags: Vec::new(),
            stored_tags: None,
            rows: 0,
            first_row,
            live: true,
            used: self.tick,
            memory: 0,
        });
        Ok(())
    }

    /// The dataset path [`Encoder::seal`] gives chunk `k` of `table` and `day`.
    pub fn chunk_path(&self, table: &str, day: &str, k: usize) -> String {
        chunk_path(table, day, &self.run, k)
    }

    /// The days `table` has chunks for.
    pub fn days(&self, table: &str) -> Vec<String> {
        self.chunks
            .keys()
            .filter(|(t, _)| t == table)
            .map(|(_, d)| d.clone())
            .collect()
    }

    /// Where each chunk of `table` and `day` ends (exclusive row numbers
    /// within the day): row `r` is in the first chunk ending after it.
    pub fn chunk_ends(&self, table: &str, day: &str) -> Vec<u64> {
        self.chunks
            .get(&(table.to_string(), day.to_string()))
            .map(|chunks| chunks.iter().map(|c| c.first_row + c.rows).collect())
            .unwrap_or_default()
    }

    /// Writes every chunk of `table` as a staged Parquet file, in parallel.
    /// For each chunk `prepare(day, k)` is called once, then
    /// `revise(prepared, first_row, tags)` gives the deferred columns in
    /// their order for each slice of its rows in turn; `first_row` is the
    /// slice's first row, counted within the day across the run.
    pub fn seal<T>(
        &mut self,
        table: &str,
        prepare: impl Fn(&str, usize) -> Result<T> + Sync,
        revise: &Revise<'_, T>,
    ) -> Result<Vec<AddedFile>> {
        let deferred = self.deferred(table);
        let keys: Vec<(String, String)> = self
            .chunks
            .keys()
            .filter(|(t, _)| t == table)
            .cloned()
            .collect();
        let mut jobs = Vec::new();
        for key in keys {
            jobs.extend(self.chunks.remove(&key).expect("listed"));
        }
        let pool = self.pool()?;
        let root = &self.root;
        let run = &self.run;
        let syncs = &*self.syncs;
        jobs.into_par_iter()
            .map(|mut c| -> Result<AddedFile> {
                let dst = root.join(&c.staged);
                if c.live {
                    c.close_columns(&deferred, &dst)?;
                }
                let tags: Vec<u16> = match c.stored_tags.take() {
                    Some((mut store, key)) => store
                        .take(key)
                        .map_err(perr(&dst))?
                        .chunks_exact(2)
                        .map(|b| u16::from_le_bytes([b[0], b[1]]))
                        .collect(),
                    None => std::mem::take(&mut c.tags),
                };
                let prepared = prepare(&c.day, c.k)?;
                // The deferred columns are made and encoded a slice of rows
                // at a time, so a chunk's seal holds no whole column of them.
                let fields = c.schema.fields().clone();
                let mut fresh: Vec<Option<ColumnEncoder>> =
                    column_writers(&c.schema, pool.clone(), &dst)?
                        .into_iter()
                        .map(Some)
                        .collect();
                let mut writers: Vec<ColumnEncoder> = deferred
                    .iter()
                    .map(|&i| fresh[i].take().expect("a writer per column"))
                    .collect();
                drop(fresh);
                for start in (0..tags.len()).step_by(SEAL_SLICE) {
                    let end = (start + SEAL_SLICE).min(tags.len());
                    let cols = revise(&prepared, c.first_row + start as u64, &tags[start..end]);
                    if cols.len() != deferred.len() {
                        return Err(Error::Config(format!(
                            "bug: {} deferred columns of {table}, {} made",
                            deferred.len(),
                            cols.len()
                        )));
                    }
                    for ((w, &i), col) in writers.iter_mut().zip(&deferred).zip(&cols) {
                        w.write(&fields[i], col).map_err(perr(&dst))?;
                    }
                }
                for (w, &i) in writers.into_iter().zip(&deferred) {
                    c.done[i] = Some(w.close().map_err(perr(&dst))?);
                }
                match c.written.take() {
                    Some(written) => {
                        let done = std::mem::take(&mut c.done);
                        finish_in_place(
                            &written,
                            &dst,
                            &c.schema,
                            c.rows,
                            done,
                            pool.clone(),
                            syncs,
                        )?;
                    }
                    None => {
                        let f = File::create(&dst).map_err(io_err(&dst))?;
                        let mut file = splice_writer(f, c.schema.clone(), &pool, &dst)?;
                        let columns = std::mem::take(&mut c.done)
                            .into_iter()
                            .collect::<Option<Vec<_>>>()
                            .ok_or_else(|| {
                                Error::Config(format!(
                                    "bug: a column of {} is neither in memory nor written",
                                    dst.display()
                                ))
                            })?;
                        splice_row_group(&mut file, columns, &dst)?;
                        let file = file.into_inner().map_err(perr(&dst))?;
                        syncs.start(&dst, file)?;
                    }
                }
                Ok(AddedFile {
                    path: chunk_path(table, &c.day, run, c.k),
                    staged: c.staged,
                    rows: c.rows,
                    counts: Vec::new(),
                })
            })
            .collect()
    }
}

/// Where chunk `k` of `table` and `day` of run `run` goes in the dataset.
fn chunk_path(table: &str, day: &str, run: &str, k: usize) -> String {
    format!("{table}/date={day}/part-{run}-{k}.parquet")
}

/// What the encoders' tests share: writing the same rows with ours and
/// with parquet's writer, and reading them back.
#[cfg(test)]
pub(super) mod both {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::DataType;

    /// Writes rows `0..rows` of `batch` (of schema `built`, for a file of
    /// `file_schema`) 1,000 at a time with our encoder and with parquet's
    /// writer, both under the dataset's properties: parquet's writer checks
    /// its limits after each write batch (at most 1,024 rows), so its pages
    /// then end where ours do. Returns the directory, our file, parquet's
    /// file, and the encoders the dataset's properties choose.
    pub(super) fn write(
        file_schema: &SchemaRef,
        built: &SchemaRef,
        rows: usize,
        batch: impl Fn(std::ops::Range<usize>) -> RecordBatch,
    ) -> (tempfile::TempDir, PathBuf, PathBuf, Vec<ColumnEncoder>) {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("_staging/r")).unwrap();
        let pool = Arc::new(PagePool::new(tmp.path().join("pool"), 1 << 20).unwrap());
        let encoders = column_writers(file_schema, pool, tmp.path()).unwrap();
        let mut enc = Encoder::new(tmp.path(), "r");
        enc.declare("t", file_schema.clone(), vec![]);
        for start in (0..rows).step_by(1_000) {
            enc.write("t", "d", &batch(start..start + 1_000), &[])
                .unwrap();
        }
        let added = enc
            .seal("t", |_, _| Ok(()), &|_: &(), _, _| Vec::new())
            .unwrap();
        let ours = tmp.path().join(&added[0].staged);
        let theirs = tmp.path().join("parquet.parquet");
        let mut w = ArrowWriter::try_new(
            File::create(&theirs).unwrap(),
            built.clone(),
            Some(crate::commit::writer_properties()),
        )
        .unwrap();
        for start in (0..rows).step_by(1_000) {
            w.write(&batch(start..start + 1_000)).unwrap();
        }
        w.close().unwrap();
        (tmp, ours, theirs, encoders)
    }

    /// Column `name` of the file at `path`, as texts.
    pub fn texts(path: &Path, name: &str) -> Vec<Option<String>> {
        crate::commit::read_parquet(path)
            .unwrap()
            .iter()
            .flat_map(|b| {
                let c =
                    arrow::compute::cast(b.column_by_name(name).unwrap(), &DataType::Utf8).unwrap();
                let s = c.as_string::<i32>().clone();
                (0..s.len())
                    .map(|i| s.is_valid(i).then(|| s.value(i).to_string()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The file's metadata, page indexes included.
    pub fn meta(path: &Path) -> ParquetMetaData {
        read_written(&File::open(path).unwrap(), path).unwrap()
    }

    /// Column `i` of both files' first row group has the same statistics,
    /// values, encodings, page encodings, dictionary or none, and pages
    /// starting at the same rows.
    pub fn same_chunks(a: &ParquetMetaData, b: &ParquetMetaData, i: usize, name: &str) {
        let (ca, cb) = (a.row_group(0).column(i), b.row_group(0).column(i));
        assert_eq!(ca.statistics(), cb.statistics(), "{name}: statistics");
        assert_eq!(ca.num_values(), cb.num_values(), "{name}: values");
        assert_eq!(
            ca.encodings_mask(),
            cb.encodings_mask(),
            "{name}: encodings"
        );
        assert_eq!(
            ca.page_encoding_stats(),
            cb.page_encoding_stats(),
            "{name}: page encodings"
        );
        assert_eq!(
            ca.dictionary_page_offset().is_some(),
            cb.dictionary_page_offset().is_some(),
            "{name}: dictionary"
        );
        assert_eq!(first_rows(a, i), first_rows(b, i), "{name}: pages");
    }

    /// [`same_chunks`], and the same level histogram and column index: for
    /// a column with statistics.
    pub fn same_indexed_chunks(a: &ParquetMetaData, b: &ParquetMetaData, i: usize, name: &str) {
        same_chunks(a, b, i, name);
        let (ca, cb) = (a.row_group(0).column(i), b.row_group(0).column(i));
        assert_eq!(
            ca.definition_level_histogram(),
            cb.definition_level_histogram(),
            "{name}: level histogram"
        );
        assert_eq!(
            a.column_index().unwrap()[0][i],
            b.column_index().unwrap()[0][i],
            "{name}: column index"
        );
    }

    /// The first row of each page of column `i` in the first row group.
    pub fn first_rows(meta: &ParquetMetaData, i: usize) -> Vec<i64> {
        meta.offset_index().unwrap()[0][i]
            .page_locations()
            .iter()
            .map(|p| p.first_row_index)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};

    /// Six days interleaved row by row, three rows a chunk and every page
    /// on disk: each file holds its day's rows in order, and the deferred
    /// column is made from the tags at seal. With no live memory, every
    /// day's chunk is closed when another day takes a row, and rows still
    /// all come back.
    #[test]
    fn interleaved_days_spilled_pages_and_deferred_columns_come_back_whole() {
        for live_memory in [LIVE_MEMORY, 0] {
            interleaved(live_memory);
        }
    }

    /// Files waiting for their sync stay under the cap of open ones however
    /// many a run writes, keep what was written, and are all let go once
    /// synced.
    #[test]
    fn files_waiting_for_their_sync_stay_few_and_keep_their_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let syncs = Syncs::default();
        let n = SYNCS_OPEN * 2 + 5;
        for i in 0..n {
            let path = tmp.path().join(format!("f{i}"));
            let mut f = File::create(&path).unwrap();
            std::io::Write::write_all(&mut f, format!("file {i}").as_bytes()).unwrap();
            syncs.start(&path, f).unwrap();
            let open = syncs.pending.lock().unwrap().len();
            assert_eq!(open, (i + 1).min(SYNCS_OPEN));
        }
        syncs.finish().unwrap();
        assert!(syncs.pending.lock().unwrap().is_empty());
        for i in 0..n {
            let text = std::fs::read_to_string(tmp.path().join(format!("f{i}"))).unwrap();
            assert_eq!(text, format!("file {i}"));
        }
        // Nothing left to wait for: a second call returns at once.
        syncs.finish().unwrap();
    }

    /// A table written whole comes back as written, in row groups of the
    /// size asked for, each column with the statistics the dataset's
    /// properties ask for.
    #[test]
    fn a_whole_file_reads_back_in_row_groups() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("_staging/r")).unwrap();
        let mut enc = Encoder::new(tmp.path(), "r");
        let mut file = enc.whole_file("manifest").unwrap();
        file.group = 1_000;
        let rows: Vec<_> = (0..2_500)
            .map(|i| crate::manifest::Recipient {
                token: format!("{i:022}").into(),
                campaign_id: ["c1", "c2"][i / 1_500].into(),
                recipient_id: format!("r{i}").into(),
                variant: "".into(),
                sent_at: 1_790_000_000_000_000 + i as i64,
                tracked: i % 3 != 0,
                recipients: 1,
            })
            .collect();
        let batch = crate::batch::recipients_batch(&rows.iter().collect::<Vec<_>>());
        let added = file.write(&batch).unwrap();
        assert_eq!(added.rows, 2_500);
        assert_eq!(added.path, "manifest/manifest-r.parquet");
        let path = tmp.path().join(&added.staged);
        let back = crate::commit::read_parquet(&path).unwrap();
        let back = arrow::compute::concat_batches(&batch.schema(), &back).unwrap();
        assert_eq!(back, batch);
        let meta = both::meta(&path);
        let groups: Vec<i64> = meta.row_groups().iter().map(|g| g.num_rows()).collect();
        assert_eq!(groups, [1_000, 1_000, 500]);
        let campaign = |g: usize| {
            let s = meta.row_group(g).column(1).statistics().unwrap();
            (
                s.min_bytes_opt().unwrap().to_vec(),
                s.max_bytes_opt().unwrap().to_vec(),
            )
        };
        assert_eq!(campaign(0), (b"c1".to_vec(), b"c1".to_vec()));
        assert_eq!(campaign(1), (b"c1".to_vec(), b"c2".to_vec()));
        assert_eq!(campaign(2), (b"c2".to_vec(), b"c2".to_vec()));
        assert!(
            meta.row_group(0).column(0).statistics().is_none(),
            "token: none"
        );
    }

    /// A chunk closed before the seal (its written columns in a file of
    /// their own, finished in place at the seal) holds what one whose
    /// columns stayed in memory holds: the same bytes for every column
    /// chunk, the same statistics, page encoding statistics, page indexes
    /// (pages at the same places within their chunk), file metadata and
    /// rows. Only where each chunk sits differs: the deferred columns come
    /// after the others.
    #[test]
    fn a_chunk_closed_early_holds_what_one_in_memory_holds() {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("verdict", DataType::Utf8, false),
            Field::new("text", DataType::Utf8, true),
            Field::new("score", DataType::Float64, true),
        ]));
        let file_of = |close_early: bool| -> Bytes {
            let tmp = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(tmp.path().join("_staging/r")).unwrap();
            let mut enc = Encoder::new(tmp.path(), "r");
            enc.set_live_memory(if close_early { 0 } else { LIVE_MEMORY });
            enc.declare("t", schema.clone(), vec![1, 3]);
            for (day, from) in [("a", 0i64), ("b", 50_000)] {
                let n: Vec<i64> = (from..from + 50_000).collect();
                let text: Vec<Option<String>> = n
                    .iter()
                    .map(|n| (n % 7 != 0).then(|| format!("text {}", n % 1000)))
                    .collect();
                let b = RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(Int64Array::from(n)),
                        Arc::new(StringArray::from(vec!["x"; 50_000])),
                        Arc::new(StringArray::from(text)),
                        Arc::new(arrow::array::Float64Array::from(vec![None; 50_000])),
                    ],
                )
                .unwrap();
                let tags: Vec<u16> = (0..50_000).map(|i| (i % 5) as u16).collect();
                enc.write("t", day, &b, &tags).unwrap();
            }
            let written = tmp.path().join("_staging/r/t-a-0.written.parquet");
            assert_eq!(written.exists(), close_early);
            let added = enc
                .seal("t", |_, _| Ok(()), &|_: &(), first, tags| {
                    let verdicts: Vec<String> = tags.iter().map(|t| format!("v{t}")).collect();
                    let scores: Vec<Option<f64>> = tags
                        .iter()
                        .enumerate()
                        .map(|(i, &t)| (t != 0).then(|| (first + i as u64) as f64 / 8.0))
                        .collect();
                    vec![
                        Arc::new(StringArray::from(verdicts)) as ArrayRef,
                        Arc::new(arrow::array::Float64Array::from(scores)) as ArrayRef,
                    ]
                })
                .unwrap();
            assert!(!written.exists());
            let a = added.iter().find(|f| f.path.contains("date=a")).unwrap();
            Bytes::from(std::fs::read(tmp.path().join(&a.staged)).unwrap())
        };
        let in_memory = file_of(false);
        let closed_early = file_of(true);
        let meta = |b: &Bytes| read_written(b, Path::new("test")).unwrap();
        let (m, e) = (meta(&in_memory), meta(&closed_early));
        let (fm, fe) = (m.file_metadata(), e.file_metadata());
        assert_eq!(fm.num_rows(), 50_000);
        assert_eq!(fm.num_rows(), fe.num_rows());
        assert_eq!(fm.version(), fe.version());
        assert_eq!(fm.created_by(), fe.created_by());
        assert_eq!(fm.key_value_metadata(), fe.key_value_metadata());
        assert_eq!(fm.schema_descr(), fe.schema_descr());
        assert_eq!(fm.column_orders(), fe.column_orders());
        let (rm, re) = (m.row_group(0), e.row_group(0));
        assert_eq!(rm.num_rows(), re.num_rows());
        assert_eq!(rm.total_byte_size(), re.total_byte_size());
        assert_eq!(rm.file_offset(), re.file_offset());
        let starts = |rg: &RowGroupMetaData| -> Vec<u64> {
            rg.columns().iter().map(|c| chunk_span(c).0).collect()
        };
        let early = starts(re);
        assert!(
            starts(rm).is_sorted(),
            "in memory, chunks are in schema order"
        );
        assert!(
            early[1] > early[2] && early[3] > early[2],
            "deferred chunks come last"
        );
        let (cm, ce) = (m.column_index().unwrap(), e.column_index().unwrap());
        let (om, oe) = (m.offset_index().unwrap(), e.offset_index().unwrap());
        for j in 0..4 {
            let (a, b) = (rm.column(j), re.column(j));
            let (sa, ea) = chunk_span(a);
            let (sb, eb) = chunk_span(b);
            assert_eq!(
                in_memory.slice(sa as usize..ea as usize),
                closed_early.slice(sb as usize..eb as usize),
                "column {j}'s bytes"
            );
            assert_eq!(a.statistics(), b.statistics(), "column {j}");
            assert_eq!(
                a.page_encoding_stats(),
                b.page_encoding_stats(),
                "column {j}"
            );
            assert_eq!(a.compression(), b.compression());
            assert_eq!(a.num_values(), b.num_values());
            assert_eq!(a.uncompressed_size(), b.uncompressed_size());
            assert_eq!(
                a.definition_level_histogram(),
                b.definition_level_histogram()
            );
            assert_eq!(
                a.dictionary_page_offset().map(|d| d as u64 - sa),
                b.dictionary_page_offset().map(|d| d as u64 - sb)
            );
            assert_eq!(
                a.data_page_offset() as u64 - sa,
                b.data_page_offset() as u64 - sb
            );
            assert_eq!(cm[0][j], ce[0][j], "column {j}'s column index");
            let pages = |o: &parquet::file::page_index::offset_index::OffsetIndexMetaData,
                         start: u64| {
                o.page_locations()
                    .iter()
                    .map(|p| {
                        (
                            p.offset as u64 - start,
                            p.compressed_page_size,
                            p.first_row_index,
                        )
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                pages(&om[0][j], sa),
                pages(&oe[0][j], sb),
                "column {j}'s pages"
            );
            assert!(om[0][j].page_locations().len() > 1 || j == 1);
        }
        let rows = |b: Bytes| -> Vec<RecordBatch> {
            ParquetRecordBatchReaderBuilder::try_new(b)
                .unwrap()
                .build()
                .unwrap()
                .collect::<std::result::Result<_, _>>()
                .unwrap()
        };
        let (ra, rb) = (rows(in_memory), rows(closed_early));
        assert_eq!(ra, rb);
        let scores =
            arrow::compute::concat(&ra.iter().map(|b| b.column(3).as_ref()).collect::<Vec<_>>())
                .unwrap();
        assert_eq!(scores.null_count(), 10_000);
        assert_eq!(
            scores
                .as_primitive::<arrow::datatypes::Float64Type>()
                .value(1),
            1.0 / 8.0
        );
    }

    fn interleaved(live_memory: usize) {
        let tmp = tempfile::tempdir().unwrap();
        let run = "r1";
        std::fs::create_dir_all(tmp.path().join("_staging").join(run)).unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("text", DataType::Utf8, false),
            Field::new("verdict", DataType::Utf8, false),
        ]));
        let mut enc = Encoder::new(tmp.path(), run);
        enc.set_chunk_rows(3);
        enc.set_page_memory(0);
        enc.set_live_memory(live_memory);
        enc.declare("t", schema.clone(), vec![2]);
        for n in 0..60i64 {
            let day = format!("d{}", n % 6);
            let b = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(vec![n])),
                    Arc::new(StringArray::from(vec![format!("row {n}")])),
                    Arc::new(StringArray::from(vec!["provisional"])),
                ],
            )
            .unwrap();
            enc.write("t", &day, &b, &[(n % 4) as u16]).unwrap();
            // A table that defers nothing: its chunks closed early are
            // finished in place with no column added.
            enc.write("plain", &day, &b, &[]).unwrap();
        }
        let per_chunk = if live_memory == 0 { 1 } else { 3 };
        let ends: Vec<u64> = (1..=10u64)
            .filter(|e| e % per_chunk == 0 || *e == 10)
            .collect();
        assert_eq!(enc.chunk_ends("t", "d1"), ends);
        let added = enc
            .seal(
                "t",
                |day, k| Ok(format!("{day}/{k}")),
                &|p: &String, first, tags| {
                    let v: Vec<String> = tags
                        .iter()
                        .enumerate()
                        .map(|(i, t)| format!("{p} row {} tag {t}", first + i as u64))
                        .collect();
                    vec![Arc::new(StringArray::from(v)) as ArrayRef]
                },
            )
            .unwrap();
        assert_eq!(enc.pending(), Some("plain"));
        assert_eq!(added.len(), 6 * ends.len());
        let mut seen = 0;
        for f in &added {
            let batches = crate::commit::read_parquet(&tmp.path().join(&f.staged)).unwrap();
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            assert_eq!(rows as u64, f.rows);
            let day: i64 = f.path.split("date=d").nth(1).unwrap()[..1].parse().unwrap();
            let k: u64 = f
                .path
                .rsplit('-')
                .next()
                .unwrap()
                .trim_end_matches(".parquet")
                .parse()
                .unwrap();
            for b in &batches {
                assert_eq!(b.schema(), schema);
                let ns = b.column(0).as_primitive::<Int64Type>();
                for i in 0..b.num_rows() {
                    let n = ns.value(i);
                    let within = (n / 6) as u64;
                    assert_eq!(n % 6, day);
                    assert_eq!(within / per_chunk, k, "row {n} in chunk {k}");
                    assert_eq!(b.column(1).as_string::<i32>().value(i), format!("row {n}"));
                    assert_eq!(
                        b.column(2).as_string::<i32>().value(i),
                        format!("d{day}/{k} row {within} tag {}", n % 4)
                    );
                    assert!(!b.column(2).is_null(i));
                    seen += 1;
                }
            }
        }
        assert_eq!(seen, 60);
        let plain = enc
            .seal("plain", |_, _| Ok(()), &|_: &(), _, _| Vec::new())
            .unwrap();
        assert!(enc.pending().is_none());
        let mut ns = Vec::new();
        for f in &plain {
            let file = File::open(tmp.path().join(&f.staged)).unwrap();
            for b in
                parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(file, 1024).unwrap()
            {
                let b = b.unwrap();
                let col = b.column(0).as_primitive::<Int64Type>();
                for i in 0..b.num_rows() {
                    let n = col.value(i);
                    assert_eq!(b.column(1).as_string::<i32>().value(i), format!("row {n}"));
                    assert_eq!(b.column(2).as_string::<i32>().value(i), "provisional");
                    ns.push(n);
                }
            }
        }
        ns.sort();
        assert_eq!(ns, (0..60).collect::<Vec<_>>());
        let left: Vec<_> = std::fs::read_dir(tmp.path().join("_staging").join(run))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".written.parquet"))
            .collect();
        assert!(left.is_empty(), "written columns' files removed: {left:?}");
        assert!(
            std::fs::metadata(tmp.path().join("_staging/r1/pages.spill"))
                .unwrap()
                .len()
                > 0,
            "pages went to the scratch file"
        );
    }
}
