//! Dictionary-encoded text columns, written without parquet's per-value
//! path: its writer hashes and compares every value again to find its
//! dictionary index, even when the value comes as an Arrow dictionary
//! (apache/arrow-rs#10465), and then walks each index through a run-length
//! encoder one at a time. Here an Arrow dictionary's values are looked up
//! once a batch and each row only maps its key; a plain string is looked up
//! once, and a page's indices are encoded in one pass when it is full.
//!
//! What comes out is parquet's own layout, as its writer makes it for the
//! dataset's properties: a PLAIN dictionary page, then v1 data pages of
//! RLE/bit-packed definition levels and RLE_DICTIONARY indices (PLAIN
//! values once the dictionary passes its size limit), every page
//! Snappy-compressed, with an offset index; no statistics, which the
//! columns written here have turned off (see `commit::NO_STATISTICS`).

use arrow::array::{Array, AsArray, DictionaryArray, StringArray};
use arrow::datatypes::{DataType, Int32Type};
use bytes::Bytes;
use hashbrown::HashTable;
use parquet::arrow::arrow_writer::{PageKey, PageStore};
use parquet::basic::{Compression, Encoding, PageType};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{ColumnChunkMetaData, OffsetIndexBuilder, PageEncodingStats};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::writer::{SerializedPageWriter, SerializedRowGroupWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;
use std::hash::BuildHasher;

/// Values a data page holds at most: parquet's default row limit.
const PAGE_VALUES: usize = 20_000;

/// Dictionary bytes beyond which the rest of the chunk is written PLAIN:
/// parquet's default dictionary page limit, so readers meet the pages they
/// would from parquet's writer.
const DICTIONARY_LIMIT: usize = 1 << 20;

/// Bytes of PLAIN values that close a page: parquet's default page limit.
const PAGE_BYTES: usize = 1 << 20;

/// Rows written between checks of the page's and the dictionary's limits:
/// as often as parquet's writer checks them (its write batch).
const SEGMENT: usize = 1024;

/// A remapped key not yet looked up in this batch.
const UNSEEN: u32 = u32::MAX;

/// A remapped key whose value is null.
const NULL: u32 = u32::MAX - 1;

/// Whether column `descr` of arrow type `data_type` is written here under
/// `props`: top-level text with a dictionary, Snappy, v1 pages, and no
/// statistics or bloom filter (the layout this writer makes).
pub fn takes(descr: &ColumnDescPtr, data_type: &DataType, props: &WriterProperties) -> bool {
    let path = descr.path();
    let text = match data_type {
        DataType::Utf8 => true,
        DataType::Dictionary(k, v) => **k == DataType::Int32 && **v == DataType::Utf8,
        _ => false,
    };
    text && descr.max_rep_level() == 0
        && descr.max_def_level() <= 1
        && path.parts().len() == 1
        && props.dictionary_enabled(path)
        && props.statistics_enabled(path) == EnabledStatistics::None
        && props.bloom_filter_properties(path).is_none()
        && props.compression(path) == Compression::SNAPPY
        && props.writer_version() == WriterVersion::PARQUET_1_0
        && props.data_page_row_count_limit() >= PAGE_VALUES
        && props.dictionary_page_size_limit() == DICTIONARY_LIMIT
        && props.data_page_size_limit() == PAGE_BYTES
        && !props.offset_index_disabled()
}

/// A finished data page in the store.
struct Finished {
    key: PageKey,
    /// Bytes with its header, as stored.
    len: usize,
    /// Bytes with its header before compression.
    uncompressed: usize,
    rows: usize,
    encoding: Encoding,
}

/// One column chunk being encoded: the chunk's dictionary, the page being
/// filled, and the finished pages (in a page store, like parquet's own).
pub struct DictionaryWriter {
    descr: ColumnDescPtr,
    nullable: bool,
    store: Box<dyn PageStore>,
    // The dictionary: values in order of first appearance, found by hash.
    table: HashTable<u32>,
    hashes: Vec<u64>,
    values: Vec<u8>,
    ends: Vec<usize>,
    hasher: foldhash::fast::FixedState,
    /// The dictionary is past its limit: values go into pages as they are.
    plain: bool,
    // The page being filled.
    defs: Vec<u8>,
    indices: Vec<u32>,
    plain_values: Vec<u8>,
    page_rows: usize,
    // What is done.
    pages: Vec<Finished>,
    rows: u64,
    /// Per batch: each Arrow dictionary key's index in ours.
    remap: Vec<u32>,
    body: Vec<u8>,
}

impl DictionaryWriter {
    /// A writer for column `descr` whose finished pages go to `store`.
    pub fn new(descr: ColumnDescPtr, store: Box<dyn PageStore>) -> Self {
        DictionaryWriter {
            nullable: descr.max_def_level() > 0,
            descr,
            store,
            table: HashTable::new(),
            hashes: Vec::new(),
            values: Vec::new(),
            ends: Vec::new(),
            hasher: foldhash::fast::FixedState::default(),
            plain: false,
            defs: Vec::new(),
            indices: Vec::new(),
            plain_values: Vec::new(),
            page_rows: 0,
            pages: Vec::new(),
            rows: 0,
            remap: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Appends the rows of `array`: text, plain or as an Arrow dictionary.
    pub fn write(&mut self, array: &dyn Array) -> Result<()> {
        match array.data_type() {
            DataType::Utf8 => self.write_strings(array.as_string::<i32>()),
            DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
                self.write_dictionary(array.as_dictionary::<Int32Type>())
            }
            t => Err(ParquetError::General(format!(
                "column {} is text, not {t}",
                self.descr.path()
            ))),
        }
    }

    /// Rows `start..` of the array that fit in the page being filled, at
    /// most [`SEGMENT`]; empty once the dictionary is full.
    fn segment(&self, start: usize, len: usize) -> std::ops::Range<usize> {
        if self.plain {
            return start..start;
        }
        start..(start + SEGMENT.min(PAGE_VALUES - self.page_rows)).min(len)
    }

    /// After a segment of rows: closes the page when full, and goes PLAIN
    /// once the dictionary passes its limit (the page so far keeps its
    /// indices, as parquet's writer does).
    fn segment_done(&mut self, rows: usize) -> Result<()> {
        self.page_rows += rows;
        if self.values.len() > DICTIONARY_LIMIT {
            self.flush_page()?;
            self.plain = true;
        } else if self.page_rows >= PAGE_VALUES {
            self.flush_page()?;
        }
        Ok(())
    }

    fn write_strings(&mut self, a: &StringArray) -> Result<()> {
        let offsets = a.value_offsets();
        let data = a.value_data();
        let value = |i: usize| &data[offsets[i] as usize..offsets[i + 1] as usize];
        let nulls = a.nulls().filter(|n| n.null_count() > 0);
        if nulls.is_some() && !self.nullable {
            return Err(self.required());
        }
        let mut start = 0;
        loop {
            let rows = self.segment(start, a.len());
            if rows.is_empty() {
                break;
            }
            let n = rows.len();
            match nulls {
                None => {
                    if self.nullable {
                        self.defs.resize(self.defs.len() + n, 1);
                    }
                    for i in rows.clone() {
                        let k = self.intern(value(i));
                        self.indices.push(k);
                    }
                }
                Some(nulls) => {
                    for i in rows.clone() {
                        let valid = nulls.is_valid(i);
                        self.defs.push(valid as u8);
                        if valid {
                            let k = self.intern(value(i));
                            self.indices.push(k);
                        }
                    }
                }
            }
            start = rows.end;
            self.segment_done(n)?;
        }
        // PLAIN once the dictionary is full: value by value.
        for i in start..a.len() {
            self.push(a.is_valid(i).then(|| value(i)))?;
        }
        Ok(())
    }

    fn write_dictionary(&mut self, d: &DictionaryArray<Int32Type>) -> Result<()> {
        let values = d.values().as_string::<i32>();
        let keys = d.keys();
        self.remap.clear();
        self.remap.resize(values.len(), UNSEEN);
        let mut start = 0;
        loop {
            let rows = self.segment(start, d.len());
            if rows.is_empty() {
                break;
            }
            let n = rows.len();
            for i in rows.clone() {
                let mut m = NULL;
                if keys.is_valid(i) {
                    let k = keys.value(i) as usize;
                    m = self.remap[k];
                    if m == UNSEEN {
                        m = if values.is_valid(k) {
                            self.intern(values.value(k).as_bytes())
                        } else {
                            NULL
                        };
                        self.remap[k] = m;
                    }
                }
                if m == NULL {
                    if !self.nullable {
                        return Err(self.required());
                    }
                    self.defs.push(0);
                } else {
                    if self.nullable {
                        self.defs.push(1);
                    }
                    self.indices.push(m);
                }
            }
            start = rows.end;
            self.segment_done(n)?;
        }
        for i in start..d.len() {
            let v = keys
                .is_valid(i)
                .then(|| keys.value(i) as usize)
                .filter(|&k| values.is_valid(k))
                .map(|k| values.value(k).as_bytes());
            self.push(v)?;
        }
        Ok(())
    }

    fn required(&self) -> ParquetError {
        ParquetError::General(format!(
            "column {} is required but a value is null",
            self.descr.path()
        ))
    }

    /// The value's index in the dictionary, added if new.
    fn intern(&mut self, v: &[u8]) -> u32 {
        let h = self.hasher.hash_one(v);
        let (values, ends) = (&self.values, &self.ends);
        let at = |i: u32| {
            let i = i as usize;
            let start = if i == 0 { 0 } else { ends[i - 1] };
            &values[start..ends[i]]
        };
        if let Some(&i) = self.table.find(h, |&i| at(i) == v) {
            return i;
        }
        let i = self.ends.len() as u32;
        self.values.extend_from_slice(v);
        self.ends.push(self.values.len());
        self.hashes.push(h);
        let hashes = &self.hashes;
        self.table.insert_unique(h, i, |&j| hashes[j as usize]);
        i
    }

    /// Appends one row's value to a PLAIN page.
    fn push(&mut self, v: Option<&[u8]>) -> Result<()> {
        match v {
            None if !self.nullable => return Err(self.required()),
            None => self.defs.push(0),
            Some(v) => {
                if self.nullable {
                    self.defs.push(1);
                }
                self.plain_values
                    .extend_from_slice(&(v.len() as u32).to_le_bytes());
                self.plain_values.extend_from_slice(v);
            }
        }
        self.page_rows += 1;
        if self.page_rows >= PAGE_VALUES || self.plain_values.len() >= PAGE_BYTES {
            self.flush_page()?;
        }
        Ok(())
    }

    /// Encodes, compresses and stores the page being filled.
    fn flush_page(&mut self) -> Result<()> {
        if self.page_rows == 0 {
            return Ok(());
        }
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        if self.nullable {
            let at = body.len();
            body.extend_from_slice(&[0; 4]);
            hybrid(&self.defs, 1, &mut body);
            let len = (body.len() - at - 4) as u32;
            body[at..at + 4].copy_from_slice(&len.to_le_bytes());
        }
        let encoding = if self.plain {
            body.extend_from_slice(&self.plain_values);
            Encoding::PLAIN
        } else {
            let width = bit_width(self.ends.len().saturating_sub(1) as u32);
            body.push(width);
            hybrid(&self.indices, width, &mut body);
            Encoding::RLE_DICTIONARY
        };
        let page = Page::DataPage {
            buf: Bytes::from(compress(&body)?),
            num_values: self.page_rows as u32,
            encoding,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        };
        let (bytes, uncompressed) = serialize(CompressedPage::new(page, body.len()))?;
        let len = bytes.len();
        let key = self.store.put(bytes)?;
        self.pages.push(Finished {
            key,
            len,
            uncompressed,
            rows: self.page_rows,
            encoding,
        });
        self.rows += self.page_rows as u64;
        self.page_rows = 0;
        self.defs.clear();
        self.indices.clear();
        self.plain_values.clear();
        self.body = body;
        Ok(())
    }

    /// Bytes held in memory: the dictionary, the page being filled and the
    /// finished pages the store keeps in memory.
    pub fn memory_size(&self) -> usize {
        self.values.capacity()
            + self.ends.capacity() * 8
            + self.hashes.capacity() * 8
            + self.table.capacity() * 4
            + self.defs.capacity()
            + self.indices.capacity() * 4
            + self.plain_values.capacity()
            + self.body.capacity()
            + self.store.memory_size()
    }

    /// Finishes the chunk: its dictionary page first, then its data pages.
    pub fn close(mut self) -> Result<DictionaryChunk> {
        self.flush_page()?;
        let mut dict = Vec::with_capacity(self.values.len() + 4 * self.ends.len());
        let mut start = 0;
        for &end in &self.ends {
            dict.extend_from_slice(&((end - start) as u32).to_le_bytes());
            dict.extend_from_slice(&self.values[start..end]);
            start = end;
        }
        let page = Page::DictionaryPage {
            buf: Bytes::from(compress(&dict)?),
            num_values: self.ends.len() as u32,
            encoding: Encoding::PLAIN,
            is_sorted: false,
        };
        let (dict_page, dict_uncompressed) = serialize(CompressedPage::new(page, dict.len()))?;

        let mut stats = vec![PageEncodingStats {
            page_type: PageType::DICTIONARY_PAGE,
            encoding: Encoding::PLAIN,
            count: 1,
        }];
        let mut encodings = vec![Encoding::PLAIN, Encoding::RLE, Encoding::RLE_DICTIONARY];
        let mut offsets = OffsetIndexBuilder::new();
        let mut at = dict_page.len();
        let mut uncompressed = dict_uncompressed;
        for p in &self.pages {
            match stats.last_mut() {
                Some(s) if s.page_type == PageType::DATA_PAGE && s.encoding == p.encoding => {
                    s.count += 1
                }
                _ => stats.push(PageEncodingStats {
                    page_type: PageType::DATA_PAGE,
                    encoding: p.encoding,
                    count: 1,
                }),
            }
            offsets.append_offset_and_size(at as i64, p.len as i32);
            offsets.append_row_count(p.rows as i64);
            at += p.len;
            uncompressed += p.uncompressed;
        }
        encodings.dedup();
        let metadata = ColumnChunkMetaData::builder(self.descr.clone())
            .set_compression(Compression::SNAPPY)
            .set_encodings(encodings)
            .set_page_encoding_stats(stats)
            .set_total_compressed_size(at as i64)
            .set_total_uncompressed_size(uncompressed as i64)
            .set_num_values(self.rows as i64)
            .set_data_page_offset(dict_page.len() as i64)
            .set_dictionary_page_offset(Some(0))
            .build()?;
        Ok(DictionaryChunk {
            dict_page,
            pages: self.pages.iter().map(|p| p.key).collect(),
            store: self.store,
            close: ColumnCloseResult {
                bytes_written: at as u64,
                rows_written: self.rows,
                metadata,
                bloom_filter: None,
                column_index: None,
                offset_index: Some(offsets.build()),
            },
        })
    }
}

/// A closed column chunk, waiting for its file.
pub struct DictionaryChunk {
    dict_page: Bytes,
    pages: Vec<PageKey>,
    store: Box<dyn PageStore>,
    close: ColumnCloseResult,
}

impl DictionaryChunk {
    /// Writes the chunk as the row group's next column.
    pub fn append_to_row_group<W: std::io::Write + Send>(
        mut self,
        rg: &mut SerializedRowGroupWriter<'_, W>,
    ) -> Result<()> {
        let mut all = Vec::with_capacity(self.close.metadata.compressed_size() as usize);
        all.extend_from_slice(&self.dict_page);
        for key in std::mem::take(&mut self.pages) {
            all.extend_from_slice(&self.store.take(key)?);
        }
        rg.append_column(&Bytes::from(all), self.close)
    }
}

fn compress(data: &[u8]) -> Result<Vec<u8>> {
    snap::raw::Encoder::new()
        .compress_vec(data)
        .map_err(|e| ParquetError::External(Box::new(e)))
}

/// A page with its header, as a file holds it, and its size before
/// compression (header included).
fn serialize(page: CompressedPage) -> Result<(Bytes, usize)> {
    let mut sink = TrackedWrite::new(Vec::with_capacity(page.data().len() + 64));
    let spec = SerializedPageWriter::new(&mut sink).write_page(page)?;
    Ok((Bytes::from(sink.into_inner()?), spec.uncompressed_size))
}

/// Bits needed for values up to `max`.
fn bit_width(max: u32) -> u8 {
    (32 - max.leading_zeros()) as u8
}

/// Appends `values` in parquet's RLE/bit-packed hybrid encoding, `width`
/// bits a value: runs of 8 or more equal values as one repeated value,
/// the rest bit-packed in groups of 8 (the last group padded with zeros,
/// which readers skip by the page's value count).
pub fn hybrid<T: Copy + Into<u32> + PartialEq>(values: &[T], width: u8, out: &mut Vec<u8>) {
    let n = values.len();
    let mut literal = 0;
    let mut i = 0;
    while i < n {
        let v = values[i];
        let mut j = i + 1;
        while j < n && values[j] == v {
            j += 1;
        }
        // Literals before a run go out in whole groups of 8, so the run
        // gives up its first few values to fill the last group.
        let pad = (8 - (i - literal) % 8) % 8;
        if j - i >= pad + 8 {
            let start = i + pad;
            bit_packed(&values[literal..start], width, out);
            uleb128(((j - start) as u64) << 1, out);
            let v: u32 = v.into();
            out.extend_from_slice(&v.to_le_bytes()[..(width as usize).div_ceil(8)]);
            literal = j;
        }
        i = j;
    }
    bit_packed(&values[literal..], width, out);
}

fn bit_packed<T: Copy + Into<u32>>(values: &[T], width: u8, out: &mut Vec<u8>) {
    if values.is_empty() {
        return;
    }
    let groups = values.len().div_ceil(8);
    uleb128(((groups as u64) << 1) | 1, out);
    let mut acc = 0u64;
    let mut bits = 0u32;
    let pad = groups * 8 - values.len();
    for v in values
        .iter()
        .map(|&v| v.into())
        .chain(std::iter::repeat_n(0u32, pad))
    {
        acc |= (v as u64) << bits;
        bits += width as u32;
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
}

fn uleb128(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{column_writers, ColumnEncoder, Encoder, PagePool};
    use arrow::array::{ArrayRef, Int32Array, RecordBatch};
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    /// Worked by hand from the format's definition: ten 1s are one
    /// repeated run (header 10 << 1, then the value in one byte), and the
    /// 2 and 3 after them one bit-packed group of 8 (header 1 << 1 | 1),
    /// 2 bits each, least significant first: 0b11_10, then zero padding.
    #[test]
    fn hybrid_encodes_runs_and_groups_as_the_format_says() {
        let mut out = Vec::new();
        hybrid(&[1u32, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3], 2, &mut out);
        assert_eq!(out, vec![0x14, 0x01, 0x03, 0x0e, 0x00]);
        // Three literals before a run of 14: the run lends 5 values to
        // fill the group, and the 9 left are a run of their own.
        out.clear();
        let mut v = vec![0u8, 1, 0];
        v.extend([1; 14]);
        hybrid(&v, 1, &mut out);
        assert_eq!(out, vec![0x03, 0b1111_1010, 0x12, 0x01]);
        // A run of 10 after those 3 would keep only 5 of its own after
        // lending 5: too few, so all 13 values are bit-packed (2 groups).
        out.clear();
        hybrid(&v[..13], 1, &mut out);
        assert_eq!(out, vec![0x05, 0b1111_1010, 0b0001_1111]);
        // A run too short to stand alone stays in the literals.
        out.clear();
        hybrid(&[5u32; 7], 3, &mut out);
        assert_eq!(out, vec![0x03, 0x6d, 0xdb, 0x16]);
        assert_eq!(bit_width(0), 0);
        assert_eq!(bit_width(1), 1);
        assert_eq!(bit_width(255), 8);
        assert_eq!(bit_width(256), 9);
    }

    fn column(values: &[Option<String>]) -> ArrayRef {
        Arc::new(StringArray::from(values.to_vec()))
    }

    /// Columns the dataset writes without statistics go through this
    /// writer: plain strings with nulls and empty strings, an Arrow
    /// dictionary with null keys and a null value, a column whose
    /// dictionary passes 1 MB (so its later pages are PLAIN), a column of
    /// nulls only and a required one. Read back by parquet's own reader,
    /// every value is what was written, and the metadata tells the pages.
    #[test]
    fn dictionary_columns_read_back_as_written() {
        let rows = 70_000usize;
        let names = ["city", "user_agent", "url", "variant", "method"];
        let file_schema = Arc::new(Schema::new(
            names
                .iter()
                .map(|n| Field::new(*n, DataType::Utf8, *n != "method"))
                .collect::<Vec<_>>(),
        ));
        let built = Arc::new(Schema::new(
            file_schema
                .fields()
                .iter()
                .map(|f| {
                    if f.name() == "user_agent" {
                        Field::new(
                            f.name(),
                            DataType::Dictionary(
                                Box::new(DataType::Int32),
                                Box::new(DataType::Utf8),
                            ),
                            true,
                        )
                    } else {
                        f.as_ref().clone()
                    }
                })
                .collect::<Vec<_>>(),
        ));
        let city: Vec<Option<String>> = (0..rows)
            .map(|i| match i % 31 {
                0 => None,
                1 => Some(String::new()),
                k => Some(format!("city {k}")),
            })
            .collect();
        let agents = ["Mozilla/5.0 A", "Mozilla/5.0 B", "", "curl/8"];
        let ua_key = |i: usize| (i % 11 != 3).then_some((i % 5) as i32);
        let ua: Vec<Option<String>> = (0..rows)
            .map(|i| match ua_key(i) {
                Some(4) | None => None,
                Some(k) => Some(agents[k as usize].to_string()),
            })
            .collect();
        let url: Vec<Option<String>> = (0..rows)
            .map(|i| Some(format!("https://example.com/{i:08}/{}", "x".repeat(i % 40))))
            .collect();
        let variant: Vec<Option<String>> = vec![None; rows];
        let method: Vec<Option<String>> = (0..rows)
            .map(|i| Some(if i % 1000 == 0 { "HEAD" } else { "GET" }.to_string()))
            .collect();

        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("_staging/r")).unwrap();
        // The dataset's properties send every one of these columns here.
        let pool = Arc::new(PagePool::new(tmp.path().join("pool"), 1 << 20).unwrap());
        let encoders = column_writers(&file_schema, pool, tmp.path()).unwrap();
        assert!(encoders
            .iter()
            .all(|e| matches!(e, ColumnEncoder::Dictionary(_))));
        let mut enc = Encoder::new(tmp.path(), "r");
        enc.declare("t", file_schema.clone(), vec![]);
        for start in (0..rows).step_by(7_000) {
            let end = start + 7_000;
            // user_agent as EventBuilder makes it: one dictionary a batch,
            // with a null value besides null keys.
            let values = StringArray::from(vec![
                Some(agents[0]),
                Some(agents[1]),
                Some(agents[2]),
                Some(agents[3]),
                None,
            ]);
            let keys = Int32Array::from((start..end).map(ua_key).collect::<Vec<_>>());
            let ua_col: ArrayRef = Arc::new(DictionaryArray::new(keys, Arc::new(values)));
            let b = RecordBatch::try_new(
                built.clone(),
                vec![
                    column(&city[start..end]),
                    ua_col,
                    column(&url[start..end]),
                    column(&variant[start..end]),
                    column(&method[start..end]),
                ],
            )
            .unwrap();
            enc.write("t", "d", &b, &[]).unwrap();
        }
        let added = enc
            .seal("t", |_, _| Ok(()), &|_: &(), _, _| Vec::new())
            .unwrap();
        assert_eq!(added.len(), 1);
        let path = tmp.path().join(&added[0].staged);

        let batches = crate::commit::read_parquet(&path).unwrap();
        let got = |name: &str| -> Vec<Option<String>> {
            batches
                .iter()
                .flat_map(|b| {
                    let c = arrow::compute::cast(b.column_by_name(name).unwrap(), &DataType::Utf8)
                        .unwrap();
                    let s = c.as_string::<i32>().clone();
                    (0..s.len())
                        .map(|i| s.is_valid(i).then(|| s.value(i).to_string()))
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        assert!(got("city") == city, "city");
        assert!(got("user_agent") == ua, "user_agent");
        assert!(got("url") == url, "url");
        assert!(got("variant") == variant, "variant");
        assert!(got("method") == method, "method");

        let meta =
            crate::encode::read_written(&std::fs::File::open(&path).unwrap(), &path).unwrap();
        let rg = meta.row_group(0);
        let stats = |i: usize| -> Vec<(PageType, Encoding, i32)> {
            rg.column(i)
                .page_encoding_stats()
                .unwrap()
                .iter()
                .map(|s| (s.page_type, s.encoding, s.count))
                .collect()
        };
        let dict = (PageType::DICTIONARY_PAGE, Encoding::PLAIN, 1);
        // 70,000 rows: pages of 20,000, 20,000, 20,000 and 10,000.
        assert_eq!(
            stats(0),
            vec![dict, (PageType::DATA_PAGE, Encoding::RLE_DICTIONARY, 4)]
        );
        // 70,000 urls of 29-68 bytes pass 1 MB after about 23,000 rows:
        // the page then being filled ends there, and PLAIN pages follow.
        let url_stats = stats(2);
        assert_eq!(url_stats[0], dict);
        assert_eq!(url_stats[1].1, Encoding::RLE_DICTIONARY);
        assert_eq!(url_stats[1].2, 2);
        assert_eq!(url_stats[2].1, Encoding::PLAIN);
        for i in 0..names.len() {
            let c = rg.column(i);
            assert_eq!(c.num_values(), rows as i64, "{}", names[i]);
            assert!(c.statistics().is_none(), "{}", names[i]);
            assert_eq!(c.dictionary_page_offset(), Some(c.byte_range().0 as i64));
        }
        let offsets = meta.offset_index().unwrap();
        let first_rows: Vec<i64> = offsets[0][0]
            .page_locations()
            .iter()
            .map(|p| p.first_row_index)
            .collect();
        assert_eq!(first_rows, vec![0, 20_000, 40_000, 60_000]);
    }
}
