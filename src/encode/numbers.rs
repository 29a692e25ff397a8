//! Integer and time columns (status, bytes, ASN, local hour and weekday,
//! seconds since sent, line numbers, times), written without parquet's
//! per-value path: its writer walks each value through its dictionary's
//! hash table or its PLAIN encoder, its run-length encoder and its
//! statistics one call at a time. Here a page's values are taken a slice
//! at a time, with the page's minimum, maximum and nulls kept as they go.
//!
//! What comes out is what parquet's writer makes for the dataset's
//! properties (in the layout of [`super::pages`]): a dictionary where the
//! properties ask for one (PLAIN once it passes its limit), PLAIN values
//! otherwise, the chunk's statistics (minimum, maximum, nulls, also in the
//! deprecated fields, as parquet's writer does for signed types), the
//! definition level histograms, and a column index of every page's
//! minimum, maximum and nulls with its boundary order.

use std::collections::HashMap;

use arrow::array::{Array, AsArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType};
use parquet::basic::{Encoding, Type as PhysicalType};
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{ColumnIndexBuilder, LevelHistogram};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::schema::types::ColumnDescPtr;

use super::pages::{
    self, ChunkPages, EncodedChunk, Filling, Form, DICTIONARY_LIMIT, PAGE_BYTES, PAGE_VALUES,
    SEGMENT,
};

/// A physical integer type: its PLAIN bytes and its statistics.
pub trait Number: Copy + Ord + Eq + std::hash::Hash + Send + 'static {
    /// Bytes of one PLAIN value.
    const BYTES: usize;
    /// Appends the PLAIN (little-endian) bytes.
    fn plain(self, out: &mut Vec<u8>);
    /// The chunk's statistics.
    fn statistics(min: Option<Self>, max: Option<Self>, nulls: u64) -> Statistics;
}

impl Number for i32 {
    const BYTES: usize = 4;
    fn plain(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn statistics(min: Option<Self>, max: Option<Self>, nulls: u64) -> Statistics {
        Statistics::Int32(
            ValueStatistics::new(min, max, None, Some(nulls), false)
                .with_backwards_compatible_min_max(true),
        )
    }
}

impl Number for i64 {
    const BYTES: usize = 8;
    fn plain(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn statistics(min: Option<Self>, max: Option<Self>, nulls: u64) -> Statistics {
        Statistics::Int64(
            ValueStatistics::new(min, max, None, Some(nulls), false)
                .with_backwards_compatible_min_max(true),
        )
    }
}

/// Whether column `descr` of arrow type `data_type` is written here under
/// `props`: 32-bit integers, 64-bit integers or microsecond times, with
/// or without a dictionary or statistics, PLAIN or (64-bit, without a
/// dictionary) DELTA_BINARY_PACKED, in the layout of [`pages`](super::pages).
pub fn takes(descr: &ColumnDescPtr, data_type: &DataType, props: &WriterProperties) -> bool {
    let physical = match data_type {
        DataType::Int32 => PhysicalType::INT32,
        DataType::Int64 | DataType::Timestamp(TimeUnit::Microsecond, _) => PhysicalType::INT64,
        _ => return false,
    };
    let encoding_is_ours = match props.encoding(descr.path()) {
        None => true,
        Some(Encoding::DELTA_BINARY_PACKED) => {
            physical == PhysicalType::INT64 && !props.dictionary_enabled(descr.path())
        }
        Some(_) => false,
    };
    descr.physical_type() == physical && encoding_is_ours && pages::layout_is_ours(descr, props)
}

/// One column chunk of integers being encoded.
pub struct NumberWriter<T: Number> {
    descr: ColumnDescPtr,
    nullable: bool,
    dictionary: bool,
    statistics: EnabledStatistics,
    /// The dictionary is full (or there is none): values go in as they are.
    plain: bool,
    /// Values without a dictionary are written DELTA_BINARY_PACKED: the
    /// page collects their PLAIN bytes, encoded when it is flushed.
    delta: bool,
    // The dictionary: values in order of first appearance.
    index: HashMap<T, u32, foldhash::fast::FixedState>,
    values: Vec<T>,
    last: Option<(T, u32)>,
    // The page being filled.
    page: Filling,
    page_nulls: usize,
    page_min_max: Option<(T, T)>,
    // The chunk.
    min_max: Option<(T, T)>,
    nulls: u64,
    column_index: ColumnIndexBuilder,
    last_page_min_max: Option<(T, T)>,
    ascending: bool,
    descending: bool,
    pages: ChunkPages,
}

impl<T: Number> NumberWriter<T> {
    /// A writer for column `descr` under `props`, whose finished pages go
    /// to `store`.
    pub fn new(
        descr: ColumnDescPtr,
        props: &WriterProperties,
        store: Box<dyn parquet::arrow::arrow_writer::PageStore>,
    ) -> Self {
        let dictionary = props.dictionary_enabled(descr.path());
        let delta = props.encoding(descr.path()) == Some(Encoding::DELTA_BINARY_PACKED);
        let pages = ChunkPages::new(store, &descr, props);
        let statistics = props.statistics_enabled(descr.path());
        let mut column_index = ColumnIndexBuilder::new(descr.physical_type());
        if statistics != EnabledStatistics::Page {
            column_index.to_invalid();
        }
        NumberWriter {
            nullable: descr.max_def_level() > 0,
            descr,
            dictionary,
            statistics,
            plain: !dictionary,
            delta,
            index: HashMap::default(),
            values: Vec::new(),
            last: None,
            page: Filling::default(),
            page_nulls: 0,
            page_min_max: None,
            min_max: None,
            nulls: 0,
            column_index,
            last_page_min_max: None,
            ascending: true,
            descending: true,
            pages,
        }
    }

    /// Appends the rows of `values`, null where `nulls` says.
    pub fn write(&mut self, values: &[T], nulls: Option<&NullBuffer>) -> Result<()> {
        let nulls = nulls.filter(|n| n.null_count() > 0);
        if nulls.is_some() && !self.nullable {
            return Err(ParquetError::General(format!(
                "column {} is required but a value is null",
                self.descr.path()
            )));
        }
        let mut start = 0;
        while start < values.len() {
            let end = (start + SEGMENT.min(PAGE_VALUES - self.page.rows)).min(values.len());
            match nulls {
                None => {
                    if self.nullable {
                        self.page.defs.resize(self.page.defs.len() + end - start, 1);
                    }
                    let segment = &values[start..end];
                    if self.plain {
                        // A PLAIN segment at once: its bounds, then its bytes.
                        if let (Some(&lo), Some(&hi)) = (segment.iter().min(), segment.iter().max())
                        {
                            self.page_min_max = Some(match self.page_min_max {
                                Some((l, h)) => (l.min(lo), h.max(hi)),
                                None => (lo, hi),
                            });
                        }
                        self.page.plain.reserve(segment.len() * T::BYTES);
                        for &v in segment {
                            v.plain(&mut self.page.plain);
                        }
                    } else {
                        for &v in segment {
                            self.value(v);
                        }
                    }
                }
                Some(nulls) => {
                    for (i, &v) in values.iter().enumerate().take(end).skip(start) {
                        let valid = nulls.is_valid(i);
                        self.page.defs.push(valid as u8);
                        if valid {
                            self.value(v);
                        } else {
                            self.page_nulls += 1;
                        }
                    }
                }
            }
            self.page.rows += end - start;
            start = end;
            if !self.plain && self.values.len() * T::BYTES >= DICTIONARY_LIMIT {
                // As parquet does: the page so far keeps its indices, and
                // the rest of the chunk is written PLAIN.
                self.flush_page()?;
                self.plain = true;
            } else if self.page.rows >= PAGE_VALUES || self.page.plain.len() >= PAGE_BYTES {
                self.flush_page()?;
            }
        }
        Ok(())
    }

    #[inline]
    fn value(&mut self, v: T) {
        self.page_min_max = Some(match self.page_min_max {
            Some((lo, hi)) => (lo.min(v), hi.max(v)),
            None => (v, v),
        });
        if self.plain {
            v.plain(&mut self.page.plain);
            return;
        }
        // Neighbouring rows often repeat a value (a status, a line's
        // hour): the last one is checked before the table.
        let i = match self.last {
            Some((l, i)) if l == v => i,
            _ => {
                let next = self.values.len() as u32;
                let i = *self.index.entry(v).or_insert(next);
                if i == next {
                    self.values.push(v);
                }
                self.last = Some((v, i));
                i
            }
        };
        self.page.indices.push(i);
    }

    /// Encodes, compresses and stores the page being filled, and notes its
    /// statistics.
    fn flush_page(&mut self) -> Result<()> {
        let rows = self.page.rows;
        if rows == 0 {
            return Ok(());
        }
        let form = match (self.plain, self.delta) {
            (true, true) => Form::Delta,
            (true, false) => Form::Plain,
            (false, _) => Form::Indices(self.values.len()),
        };
        self.page.flush(&mut self.pages, self.nullable, form)?;

        let nulls = self.page_nulls as i64;
        match self.page_min_max {
            None => self
                .column_index
                .append(true, Vec::new(), Vec::new(), nulls),
            Some((lo, hi)) => {
                if let Some((last_lo, last_hi)) = self.last_page_min_max {
                    self.ascending &= last_lo <= lo && last_hi <= hi;
                    self.descending &= lo <= last_lo && hi <= last_hi;
                }
                self.last_page_min_max = Some((lo, hi));
                let (mut a, mut b) = (Vec::new(), Vec::new());
                lo.plain(&mut a);
                hi.plain(&mut b);
                self.column_index.append(false, a, b, nulls);
                self.min_max = Some(match self.min_max {
                    Some((l, h)) => (l.min(lo), h.max(hi)),
                    None => (lo, hi),
                });
            }
        }
        let histogram = self
            .nullable
            .then(|| LevelHistogram::from(vec![nulls, (rows - self.page_nulls) as i64]));
        self.column_index.append_histograms(&None, &histogram);
        self.nulls += self.page_nulls as u64;
        self.page_nulls = 0;
        self.page_min_max = None;
        Ok(())
    }

    /// Bytes held in memory: the dictionary, the page being filled and the
    /// finished pages the store keeps in memory.
    pub fn memory_size(&self) -> usize {
        self.index.capacity() * (std::mem::size_of::<T>() + 5)
            + self.values.capacity() * std::mem::size_of::<T>()
            + self.page.memory_size()
            + self.pages.memory_size()
    }

    /// Finishes the chunk: its dictionary page first, if any, then its data
    /// pages, with the chunk's statistics and column index.
    pub fn close(mut self) -> Result<EncodedChunk> {
        self.flush_page()?;
        let mut dict = Vec::with_capacity(self.values.len() * T::BYTES);
        for &v in &self.values {
            v.plain(&mut dict);
        }
        let rows = self.pages.rows() as i64;
        let column_index = if self.statistics == EnabledStatistics::Page {
            let (up, down) = (self.ascending, self.descending);
            Some(super::pages::finish_index(self.column_index, up, down)?)
        } else {
            None
        };
        let statistics = (self.statistics != EnabledStatistics::None).then(|| {
            let (lo, hi) = self.min_max.unzip();
            T::statistics(lo, hi, self.nulls)
        });
        let histogram = (self.nullable && statistics.is_some())
            .then(|| LevelHistogram::from(vec![self.nulls as i64, rows - self.nulls as i64]));
        let dictionary = self
            .dictionary
            .then_some((dict.as_slice(), self.values.len()));
        self.pages.close(
            &self.descr,
            dictionary,
            |b| match statistics {
                Some(s) => b
                    .set_statistics(s)
                    .set_definition_level_histogram(histogram),
                None => b,
            },
            column_index,
            None,
        )
    }
}

/// Appends an Arrow column to the writer of its physical type.
pub fn write_i32(w: &mut NumberWriter<i32>, array: &dyn Array) -> Result<()> {
    match array.data_type() {
        DataType::Int32 => {
            let a = array.as_primitive::<Int32Type>();
            w.write(a.values(), a.nulls())
        }
        t => Err(ParquetError::General(format!("an INT32 column, not {t}"))),
    }
}

/// Appends an Arrow column to the writer of its physical type.
pub fn write_i64(w: &mut NumberWriter<i64>, array: &dyn Array) -> Result<()> {
    match array.data_type() {
        DataType::Int64 => {
            let a = array.as_primitive::<Int64Type>();
            w.write(a.values(), a.nulls())
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let a = array.as_primitive::<TimestampMicrosecondType>();
            w.write(a.values(), a.nulls())
        }
        t => Err(ParquetError::General(format!("an INT64 column, not {t}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::ColumnEncoder;
    use arrow::array::{ArrayRef, Int32Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
    use arrow::datatypes::{Field, Schema};
    use parquet::basic::{BoundaryOrder, Encoding};
    use std::sync::Arc;

    /// The dataset's integer and time columns, written by this writer and
    /// by parquet's own, come out the same: the same values read back, and
    /// the same statistics, column index (pages' minimums, maximums, nulls,
    /// boundary order, level histograms), page encodings and page rows.
    /// The rows cover ascending and unordered columns, nulls, a page of
    /// nulls only, a dictionary that passes 1 MB (later pages PLAIN) and
    /// columns without a dictionary. Rows come 1,000 at a time: parquet's
    /// writer checks its limits after each write batch (at most 1,024
    /// rows), so its pages then end at 20,000 rows, as ours do (with other
    /// batch sizes its pages end a little later; readers do not mind).
    /// A file's rows as one batch of `schema`.
    fn read_back(schema: &Arc<Schema>, path: &std::path::Path) -> RecordBatch {
        let batches = crate::commit::read_parquet(path).unwrap();
        arrow::compute::concat_batches(schema, &batches).unwrap()
    }

    /// The columns the dataset writes DELTA_BINARY_PACKED come back whole
    /// whatever their steps: the extremes of the type (differences that
    /// wrap), runs of one value (miniblocks of width 0), nulls, and pages
    /// whose last block is part full, with parquet's writer agreeing on
    /// pages, encodings and statistics.
    #[test]
    fn delta_columns_read_back_whole() {
        let rows = 41_000usize;
        let schema = Arc::new(Schema::new(vec![
            Field::new("source_line", DataType::Int64, false),
            Field::new("seconds_since_sent", DataType::Int64, true),
        ]));
        let wild = |i: usize| match i % 7 {
            0 => i64::MIN,
            1 => i64::MAX,
            2 => 0,
            3 => -(i as i64) * 1_000_003,
            _ => (i as i64 * 2_654_435_761) % 1_000_000_007,
        };
        let batch = |r: std::ops::Range<usize>| {
            let cols: Vec<ArrayRef> = vec![
                // Steady, then a run of one value, then the extremes.
                Arc::new(Int64Array::from_iter_values(r.clone().map(|i| match i {
                    0..10_000 => i as i64 + 1,
                    10_000..30_000 => 7,
                    _ => wild(i),
                }))),
                Arc::new(Int64Array::from_iter(
                    r.map(|i| (i % 11 != 0).then(|| wild(i))),
                )),
            ];
            RecordBatch::try_new(schema.clone(), cols).unwrap()
        };
        let (_tmp, ours, theirs, encoders) =
            crate::encode::both::write(&schema, &schema, rows, batch);
        assert!(encoders
            .iter()
            .all(|e| matches!(e, ColumnEncoder::Int64(_))));
        let read = |p: &std::path::Path| read_back(&schema, p);
        assert_eq!(read(&ours), batch(0..rows));
        assert_eq!(read(&theirs), batch(0..rows));
        use crate::encode::both::meta;
        let (a, b) = (meta(&ours), meta(&theirs));
        for i in 0..2 {
            crate::encode::both::same_indexed_chunks(&a, &b, i, schema.field(i).name());
            let c = a.row_group(0).column(i);
            assert_eq!(c.compression(), parquet::basic::Compression::UNCOMPRESSED);
            assert!(c
                .page_encoding_stats()
                .unwrap()
                .iter()
                .all(|s| s.encoding == Encoding::DELTA_BINARY_PACKED));
        }
        // The first page's 20,000 rows step by 1, then by 0: widths of 0,
        // a few bytes each 256 rows (PLAIN would take 160,000).
        let pages = a.offset_index().unwrap()[0][0].page_locations().clone();
        assert!(pages[0].compressed_page_size < 1_000, "{pages:?}");
    }

    #[test]
    fn integer_columns_match_parquets_writer() {
        let rows = 150_000usize;
        let ts_type = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let schema = Arc::new(Schema::new(vec![
            Field::new("ts", ts_type, false),
            Field::new("seconds_since_sent", DataType::Int64, false),
            Field::new("status", DataType::Int32, false),
            Field::new("bytes", DataType::Int64, true),
            Field::new("asn", DataType::Int64, true),
            Field::new("local_hour", DataType::Int32, true),
            Field::new("source_line", DataType::Int64, false),
        ]));
        let batch = |r: std::ops::Range<usize>| {
            let cols: Vec<ArrayRef> = vec![
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(
                        r.clone().map(|i| 1_790_000_000_000_000 + i as i64 * 1_000),
                    )
                    .with_timezone("UTC"),
                ),
                Arc::new(Int64Array::from_iter_values(
                    r.clone().map(|i| (i as i64 * 7919) % 86_400 - 600),
                )),
                Arc::new(Int32Array::from_iter_values(
                    r.clone().map(|i| [200, 200, 304, 404][i % 4]),
                )),
                Arc::new(Int64Array::from_iter(
                    r.clone().map(|i| (i % 13 != 0).then_some(i as i64 * 3)),
                )),
                Arc::new(Int64Array::from_iter(r.clone().map(|i| {
                    (!(40_000..60_000).contains(&i)).then_some(64_500 + (i % 9) as i64)
                }))),
                Arc::new(Int32Array::from_iter(
                    r.clone()
                        .map(|i| (i % 5 != 0).then_some((i / 100 % 24) as i32)),
                )),
                Arc::new(Int64Array::from_iter_values(r.map(|i| i as i64 + 1))),
            ];
            RecordBatch::try_new(schema.clone(), cols).unwrap()
        };
        let (_tmp, ours, theirs, encoders) =
            crate::encode::both::write(&schema, &schema, rows, batch);
        assert!(encoders
            .iter()
            .all(|e| matches!(e, ColumnEncoder::Int32(_) | ColumnEncoder::Int64(_))));

        let read = |p: &std::path::Path| read_back(&schema, p);
        assert_eq!(read(&ours), batch(0..rows));
        assert_eq!(read(&theirs), batch(0..rows));

        use crate::encode::both::meta;
        let (a, b) = (meta(&ours), meta(&theirs));
        let ra = a.row_group(0);
        for i in 0..schema.fields().len() {
            crate::encode::both::same_indexed_chunks(&a, &b, i, schema.field(i).name());
        }
        // What the rows were made to cover.
        let stats = |i: usize| ra.column(i).page_encoding_stats().unwrap().clone();
        assert!(
            stats(3).iter().any(|s| s.encoding == Encoding::PLAIN),
            "bytes falls back"
        );
        assert_eq!(
            ra.column(6).dictionary_page_offset(),
            None,
            "source_line: no dictionary"
        );
        assert_eq!(
            a.column_index().unwrap()[0][0].get_boundary_order(),
            Some(BoundaryOrder::ASCENDING),
            "ts's pages ascend"
        );
    }
}
