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
//! Snappy-compressed, with an offset index. Most columns written here have
//! no statistics (see `commit::NO_STATISTICS`); for those that do (the
//! kind and the campaign), the chunk's minimum, maximum and nulls, and a
//! column index of every page's, as parquet's writer makes them.

use arrow::array::{Array, AsArray, DictionaryArray, StringArray};
use arrow::datatypes::{DataType, Int32Type};
use hashbrown::HashTable;
use parquet::arrow::arrow_writer::PageStore;
use parquet::basic::{ConvertedType, LogicalType};
use parquet::data_type::ByteArray;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{ColumnIndexBuilder, LevelHistogram};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::schema::types::ColumnDescPtr;
use std::hash::BuildHasher;

use super::pages::{
    self, ChunkPages, EncodedChunk, Filling, Form, DICTIONARY_LIMIT, PAGE_BYTES, PAGE_VALUES,
    SEGMENT,
};

/// A remapped key not yet looked up in this batch.
const UNSEEN: u32 = u32::MAX;

/// A remapped key whose value is null.
const NULL: u32 = u32::MAX - 1;

/// Whether column `descr` of arrow type `data_type` is written here under
/// `props`: text, with a dictionary or without (the token, address,
/// recipient and referer columns: PLAIN from the start), with statistics
/// or without, in the layout of [`pages`](super::pages).
pub fn takes(descr: &ColumnDescPtr, data_type: &DataType, props: &WriterProperties) -> bool {
    let text = match data_type {
        DataType::Utf8 => true,
        DataType::Dictionary(k, v) => **k == DataType::Int32 && **v == DataType::Utf8,
        _ => false,
    };
    // Text is PLAIN or dictionary indices here; other encodings go to
    // parquet's writer.
    text && props.encoding(descr.path()).is_none() && pages::layout_is_ours(descr, props)
}

/// The statistics of a text column that has them: its values' bounds,
/// nulls and bytes, per page and for the chunk, and the column index.
struct TextStats {
    /// A column index of every page's bounds, besides the chunk's.
    page_level: bool,
    utf8: bool,
    /// Bytes the chunk's bounds and the column index's keep at most.
    truncate: Option<usize>,
    index_truncate: Option<usize>,
    /// PLAIN values' bounds and bytes on the page being filled (the pages
    /// of indices are looked over when they are finished).
    page_bounds: Option<(Vec<u8>, Vec<u8>)>,
    page_bytes: i64,
    bounds: Option<(Vec<u8>, Vec<u8>)>,
    nulls: u64,
    bytes: i64,
    /// Each page's value bytes (before encoding), for the offset index.
    pages_bytes: Vec<i64>,
    column_index: ColumnIndexBuilder,
    last_page: Option<(Vec<u8>, Vec<u8>)>,
    ascending: bool,
    descending: bool,
}

impl TextStats {
    fn new(descr: &ColumnDescPtr, props: &WriterProperties) -> Option<Box<Self>> {
        let level = props.statistics_enabled(descr.path());
        if level == EnabledStatistics::None {
            return None;
        }
        let mut column_index = ColumnIndexBuilder::new(descr.physical_type());
        if level != EnabledStatistics::Page {
            column_index.to_invalid();
        }
        Some(Box::new(TextStats {
            page_level: level == EnabledStatistics::Page,
            utf8: descr.logical_type_ref() == Some(&LogicalType::String)
                || descr.converted_type() == ConvertedType::UTF8,
            truncate: props.statistics_truncate_length(),
            index_truncate: props.column_index_truncate_length(),
            page_bounds: None,
            page_bytes: 0,
            bounds: None,
            nulls: 0,
            bytes: 0,
            pages_bytes: Vec::new(),
            column_index,
            last_page: None,
            ascending: true,
            descending: true,
        }))
    }

    /// A PLAIN value on the page being filled.
    fn plain(&mut self, v: &[u8]) {
        self.page_bytes += v.len() as i64;
        widen(&mut self.page_bounds, v, v);
    }

    /// A page of `rows` rows is finished, `nulls` of them null, its values
    /// within `bounds` (none when all are null) and of `bytes` bytes.
    fn page(
        &mut self,
        rows: usize,
        nulls: usize,
        bounds: Option<(&[u8], &[u8])>,
        bytes: i64,
        nullable: bool,
    ) {
        match bounds {
            None => self
                .column_index
                .append(true, Vec::new(), Vec::new(), nulls as i64),
            Some((lo, hi)) => {
                if let Some((last_lo, last_hi)) = &self.last_page {
                    self.ascending &= last_lo.as_slice() <= lo && last_hi.as_slice() <= hi;
                    self.descending &= lo <= last_lo.as_slice() && hi <= last_hi.as_slice();
                }
                self.last_page = Some((lo.to_vec(), hi.to_vec()));
                let lo_index = truncate_min(self.utf8, self.index_truncate, lo).0;
                let hi_index = truncate_max(self.utf8, self.index_truncate, hi).0;
                self.column_index
                    .append(false, lo_index, hi_index, nulls as i64);
                widen(&mut self.bounds, lo, hi);
            }
        }
        let histogram =
            nullable.then(|| LevelHistogram::from(vec![nulls as i64, (rows - nulls) as i64]));
        self.column_index.append_histograms(&None, &histogram);
        self.nulls += nulls as u64;
        self.bytes += bytes;
        self.pages_bytes.push(bytes);
    }

    /// The chunk's statistics, as parquet's writer truncates them, and its
    /// column index.
    fn finish(
        self,
        rows: i64,
        nullable: bool,
    ) -> Result<(
        Statistics,
        Option<LevelHistogram>,
        Option<parquet::file::page_index::column_index::ColumnIndexMetaData>,
    )> {
        let stats = match &self.bounds {
            None => ValueStatistics::<ByteArray>::new(None, None, None, Some(self.nulls), false),
            Some((lo, hi)) => {
                let (lo, lo_cut) = truncate_min(self.utf8, self.truncate, lo);
                let (hi, hi_cut) = truncate_max(self.utf8, self.truncate, hi);
                ValueStatistics::new(
                    Some(lo.into()),
                    Some(hi.into()),
                    None,
                    Some(self.nulls),
                    false,
                )
                .with_min_is_exact(!lo_cut)
                .with_max_is_exact(!hi_cut)
            }
        };
        let histogram = nullable
            .then(|| LevelHistogram::from(vec![self.nulls as i64, rows - self.nulls as i64]));
        let column_index = if self.page_level {
            let (up, down) = (self.ascending, self.descending);
            Some(pages::finish_index(self.column_index, up, down)?)
        } else {
            None
        };
        Ok((Statistics::ByteArray(stats), histogram, column_index))
    }
}

/// Widens `bounds` to take in `lo..=hi`.
fn widen(bounds: &mut Option<(Vec<u8>, Vec<u8>)>, lo: &[u8], hi: &[u8]) {
    match bounds {
        None => *bounds = Some((lo.to_vec(), hi.to_vec())),
        Some((l, h)) => {
            if lo < l.as_slice() {
                *l = lo.to_vec();
            }
            if hi > h.as_slice() {
                *h = hi.to_vec();
            }
        }
    }
}

/// A lower bound of `v` of at most `len` bytes, as parquet's writer makes
/// it (whole UTF-8 characters for text), and whether it was cut.
fn truncate_min(utf8: bool, len: Option<usize>, v: &[u8]) -> (Vec<u8>, bool) {
    len.filter(|&l| v.len() > l)
        .and_then(|l| match std::str::from_utf8(v) {
            Ok(s) if utf8 => {
                let cut = (1..=l).rfind(|&x| s.is_char_boundary(x))?;
                Some(v[..cut].to_vec())
            }
            _ => Some(v[..l].to_vec()),
        })
        .map_or_else(|| (v.to_vec(), false), |t| (t, true))
}

/// An upper bound of `v` of at most `len` bytes, as parquet's writer makes
/// it: cut, then its last character (or byte) raised by one.
fn truncate_max(utf8: bool, len: Option<usize>, v: &[u8]) -> (Vec<u8>, bool) {
    len.filter(|&l| v.len() > l)
        .and_then(|l| match std::str::from_utf8(v) {
            Ok(s) if utf8 => {
                let cut = (l.saturating_sub(3)..=l).rfind(|&x| s.is_char_boundary(x))?;
                let s = s.get(..cut)?;
                // The last character that can be raised without growing.
                s.char_indices().rev().find_map(|(at, c)| {
                    let next = char::from_u32(c as u32 + 1)?;
                    (next.len_utf8() == c.len_utf8()).then(|| {
                        let mut out = s.as_bytes()[..at + c.len_utf8()].to_vec();
                        next.encode_utf8(&mut out[at..]);
                        out
                    })
                })
            }
            _ => {
                let mut out = v[..l].to_vec();
                for b in out.iter_mut().rev() {
                    let (raised, overflow) = b.overflowing_add(1);
                    *b = raised;
                    if !overflow {
                        return Some(out);
                    }
                }
                None
            }
        })
        .map_or_else(|| (v.to_vec(), false), |t| (t, true))
}

/// One column chunk being encoded: the chunk's dictionary, the page being
/// filled, and the finished pages (in a page store, like parquet's own).
pub struct DictionaryWriter {
    descr: ColumnDescPtr,
    nullable: bool,
    /// The properties ask for a dictionary; without one, every value is
    /// PLAIN and the chunk has no dictionary page.
    dictionary: bool,
    // The dictionary: values in order of first appearance, found by hash.
    table: HashTable<u32>,
    hashes: Vec<u64>,
    values: Vec<u8>,
    ends: Vec<usize>,
    hasher: foldhash::fast::FixedState,
    /// The index last looked up.
    last: u32,
    /// The dictionary is past its limit: values go into pages as they are.
    plain: bool,
    // The page being filled.
    page: Filling,
    // What is done.
    pages: ChunkPages,
    /// Per batch: each Arrow dictionary key's index in ours.
    remap: Vec<u32>,
    /// For a column with statistics.
    stats: Option<Box<TextStats>>,
}

impl DictionaryWriter {
    /// A writer for column `descr` under `props`, whose finished pages go
    /// to `store`.
    pub fn new(descr: ColumnDescPtr, props: &WriterProperties, store: Box<dyn PageStore>) -> Self {
        let pages = ChunkPages::new(store, &descr, props);
        DictionaryWriter {
            stats: TextStats::new(&descr, props),
            dictionary: props.dictionary_enabled(descr.path()),
            plain: !props.dictionary_enabled(descr.path()),
            nullable: descr.max_def_level() > 0,
            descr,
            table: HashTable::new(),
            hashes: Vec::new(),
            values: Vec::new(),
            ends: Vec::new(),
            hasher: foldhash::fast::FixedState::default(),
            last: 0,
            page: Filling::default(),
            pages,
            remap: Vec::new(),
        }
    }

    /// Appends the rows of `array`: text, plain or as an Arrow dictionary.
    pub fn write(&mut self, array: &dyn Array) -> Result<()> {
        match array.data_type() {
            DataType::Utf8 if !self.dictionary => {
                let a = array.as_string::<i32>();
                let (offsets, data) = (a.value_offsets(), a.value_data());
                self.write_plain(a.len(), |i| {
                    a.is_valid(i)
                        .then(|| &data[offsets[i] as usize..offsets[i + 1] as usize])
                })
            }
            DataType::Utf8 => self.write_strings(array.as_string::<i32>()),
            DataType::Dictionary(k, v)
                if **k == DataType::Int32 && **v == DataType::Utf8 && !self.dictionary =>
            {
                let d = array.as_dictionary::<Int32Type>();
                let (keys, values) = (d.keys(), d.values().as_string::<i32>());
                self.write_plain(d.len(), |i| {
                    keys.is_valid(i)
                        .then(|| keys.value(i) as usize)
                        .filter(|&k| values.is_valid(k))
                        .map(|k| values.value(k).as_bytes())
                })
            }
            DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
                self.write_dictionary(array.as_dictionary::<Int32Type>())
            }
            t => Err(ParquetError::General(format!(
                "column {} is text, not {t}",
                self.descr.path()
            ))),
        }
    }

    /// Appends `rows` values of a column without a dictionary, PLAIN, a
    /// segment at a time: the page's limits are checked after each segment,
    /// as parquet's writer checks them after each write batch, so its pages
    /// end where parquet's would.
    fn write_plain<'a>(
        &mut self,
        rows: usize,
        value: impl Fn(usize) -> Option<&'a [u8]>,
    ) -> Result<()> {
        let mut start = 0;
        while start < rows {
            let end = (start + SEGMENT.min(PAGE_VALUES - self.page.rows)).min(rows);
            for i in start..end {
                match value(i) {
                    None if !self.nullable => return Err(self.required()),
                    None => self.page.defs.push(0),
                    Some(v) => {
                        if self.nullable {
                            self.page.defs.push(1);
                        }
                        let plain = &mut self.page.plain;
                        plain.extend_from_slice(&(v.len() as u32).to_le_bytes());
                        plain.extend_from_slice(v);
                        if let Some(s) = &mut self.stats {
                            s.plain(v);
                        }
                    }
                }
            }
            self.page.rows += end - start;
            start = end;
            if self.page.rows >= PAGE_VALUES || self.page.plain.len() >= PAGE_BYTES {
                self.flush_page()?;
            }
        }
        Ok(())
    }

    /// Rows `start..` of the array that fit in the page being filled, at
    /// most [`SEGMENT`]; empty once the dictionary is full.
    fn segment(&self, start: usize, len: usize) -> std::ops::Range<usize> {
        if self.plain {
            return start..start;
        }
        start..(start + SEGMENT.min(PAGE_VALUES - self.page.rows)).min(len)
    }

    /// After a segment of rows: closes the page when full, and goes PLAIN
    /// once the dictionary passes its limit (the page so far keeps its
    /// indices, as parquet's writer does).
    fn segment_done(&mut self, rows: usize) -> Result<()> {
        self.page.rows += rows;
        // The dictionary page's size as parquet's writer reckons it: the
        // values with their 4-byte lengths.
        if self.values.len() + 4 * self.ends.len() >= DICTIONARY_LIMIT {
            self.flush_page()?;
            self.plain = true;
        } else if self.page.rows >= PAGE_VALUES {
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
                        self.page.defs.resize(self.page.defs.len() + n, 1);
                    }
                    for i in rows.clone() {
                        let k = self.intern(value(i));
                        self.page.indices.push(k);
                    }
                }
                Some(nulls) => {
                    for i in rows.clone() {
                        let valid = nulls.is_valid(i);
                        self.page.defs.push(valid as u8);
                        if valid {
                            let k = self.intern(value(i));
                            self.page.indices.push(k);
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
        let key_nulls = keys.nulls().is_some_and(|n| n.null_count() > 0);
        let mut start = 0;
        loop {
            let rows = self.segment(start, d.len());
            if rows.is_empty() {
                break;
            }
            let n = rows.len();
            // Without null keys, the segment's indices are mapped in one
            // pass and its definition levels set at once; a null value met
            // on the way sends the segment to the row-by-row path below.
            if !key_nulls {
                // The map and the page's indices are taken out of `self`
                // for the loop: with them behind `&mut self`, their
                // pointers were loaded again for every row.
                let mut remap = std::mem::take(&mut self.remap);
                let mut indices = std::mem::take(&mut self.page.indices);
                let before = indices.len();
                let mut null_value = false;
                indices.extend(keys.values()[rows.clone()].iter().map(|&k| {
                    let k = k as usize;
                    let mut m = remap[k];
                    if m == UNSEEN {
                        m = self.lookup(k, values);
                        remap[k] = m;
                    }
                    null_value |= m == NULL;
                    m
                }));
                self.remap = remap;
                self.page.indices = indices;
                if !null_value {
                    if self.nullable {
                        self.page.defs.resize(self.page.defs.len() + n, 1);
                    }
                    start = rows.end;
                    self.segment_done(n)?;
                    continue;
                }
                self.page.indices.truncate(before);
            }
            for i in rows.clone() {
                let mut m = NULL;
                if keys.is_valid(i) {
                    m = self.remapped(keys.value(i) as usize, values);
                }
                if m == NULL {
                    if !self.nullable {
                        return Err(self.required());
                    }
                    self.page.defs.push(0);
                } else {
                    if self.nullable {
                        self.page.defs.push(1);
                    }
                    self.page.indices.push(m);
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

    /// Our index of Arrow dictionary key `k` of this batch, whose values
    /// are `values`: looked up once a batch, [`NULL`] for a null value.
    /// Always inlined: called once a row, and left out of line (as a
    /// change elsewhere once made the compiler do) it cost 1.5% of ingest.
    #[inline(always)]
    fn remapped(&mut self, k: usize, values: &StringArray) -> u32 {
        let mut m = self.remap[k];
        if m == UNSEEN {
            m = self.lookup(k, values);
            self.remap[k] = m;
        }
        m
    }

    /// Our index of a batch's dictionary value `k`, the first time it is
    /// met in the batch: out of line, so the per-row loops stay small.
    #[inline(never)]
    fn lookup(&mut self, k: usize, values: &StringArray) -> u32 {
        if values.is_valid(k) {
            self.intern(values.value(k).as_bytes())
        } else {
            NULL
        }
    }

    fn required(&self) -> ParquetError {
        ParquetError::General(format!(
            "column {} is required but a value is null",
            self.descr.path()
        ))
    }

    /// The value's index in the dictionary, added if new.
    fn intern(&mut self, v: &[u8]) -> u32 {
        let (values, ends) = (&self.values, &self.ends);
        let at = |i: u32| {
            let i = i as usize;
            let start = if i == 0 { 0 } else { ends[i - 1] };
            &values[start..ends[i]]
        };
        // Neighbouring rows often share a value (the method, a network, a
        // run of one place): the last one is compared before hashing.
        if !ends.is_empty() && at(self.last) == v {
            return self.last;
        }
        let h = self.hasher.hash_one(v);
        if let Some(&i) = self.table.find(h, |&i| at(i) == v) {
            self.last = i;
            return i;
        }
        let i = self.ends.len() as u32;
        self.values.extend_from_slice(v);
        self.ends.push(self.values.len());
        self.hashes.push(h);
        let hashes = &self.hashes;
        self.table.insert_unique(h, i, |&j| hashes[j as usize]);
        self.last = i;
        i
    }

    /// Appends one row's value to a PLAIN page.
    fn push(&mut self, v: Option<&[u8]>) -> Result<()> {
        match v {
            None if !self.nullable => return Err(self.required()),
            None => self.page.defs.push(0),
            Some(v) => {
                if self.nullable {
                    self.page.defs.push(1);
                }
                self.page
                    .plain
                    .extend_from_slice(&(v.len() as u32).to_le_bytes());
                self.page.plain.extend_from_slice(v);
                if let Some(s) = &mut self.stats {
                    s.plain(v);
                }
            }
        }
        self.page.rows += 1;
        if self.page.rows >= PAGE_VALUES || self.page.plain.len() >= PAGE_BYTES {
            self.flush_page()?;
        }
        Ok(())
    }

    /// Encodes, compresses and stores the page being filled, and notes its
    /// statistics if the column has them.
    fn flush_page(&mut self) -> Result<()> {
        if self.page.rows > 0 {
            if let Some(s) = &mut self.stats {
                let nulls = if self.nullable {
                    self.page.defs.iter().filter(|&&d| d == 0).count()
                } else {
                    0
                };
                if self.plain {
                    let bounds = s.page_bounds.take();
                    let bytes = std::mem::take(&mut s.page_bytes);
                    let b = bounds.as_ref().map(|(l, h)| (l.as_slice(), h.as_slice()));
                    s.page(self.page.rows, nulls, b, bytes, self.nullable);
                } else {
                    let (values, ends) = (&self.values, &self.ends);
                    let at = |i: u32| {
                        let i = i as usize;
                        &values[if i == 0 { 0 } else { ends[i - 1] }..ends[i]]
                    };
                    // A page's indices repeat a few values: only an index
                    // unlike the last one and both bounds is compared.
                    let mut bytes = 0i64;
                    let mut bounds: Option<(u32, u32)> = None;
                    let mut last = u32::MAX;
                    for &i in &self.page.indices {
                        bytes += at(i).len() as i64;
                        if i == last {
                            continue;
                        }
                        last = i;
                        bounds = Some(match bounds {
                            None => (i, i),
                            Some((lo, hi)) if i == lo || i == hi => (lo, hi),
                            Some((lo, hi)) if at(i) < at(lo) => (i, hi),
                            Some((lo, hi)) if at(i) > at(hi) => (lo, i),
                            Some(b) => b,
                        });
                    }
                    let b = bounds.map(|(lo, hi)| (at(lo), at(hi)));
                    s.page(self.page.rows, nulls, b, bytes, self.nullable);
                }
            }
        }
        let form = match self.plain {
            true => Form::Plain,
            false => Form::Indices(self.ends.len()),
        };
        self.page.flush(&mut self.pages, self.nullable, form)
    }

    /// Bytes held in memory: the dictionary, the page being filled and the
    /// finished pages the store keeps in memory.
    pub fn memory_size(&self) -> usize {
        self.values.capacity()
            + self.ends.capacity() * 8
            + self.hashes.capacity() * 8
            + self.table.capacity() * 4
            + self.page.memory_size()
            + self.pages.memory_size()
    }

    /// Finishes the chunk: its dictionary page first, then its data pages.
    pub fn close(mut self) -> Result<EncodedChunk> {
        self.flush_page()?;
        let mut dict = Vec::with_capacity(self.values.len() + 4 * self.ends.len());
        let mut start = 0;
        for &end in &self.ends {
            dict.extend_from_slice(&((end - start) as u32).to_le_bytes());
            dict.extend_from_slice(&self.values[start..end]);
            start = end;
        }
        let dictionary = self
            .dictionary
            .then_some((dict.as_slice(), self.ends.len()));
        let Some(mut stats) = self.stats.take() else {
            return self.pages.close(&self.descr, dictionary, |b| b, None, None);
        };
        let bytes = std::mem::take(&mut stats.pages_bytes);
        let total = stats.bytes;
        let (statistics, histogram, column_index) =
            stats.finish(self.pages.rows() as i64, self.nullable)?;
        self.pages.close(
            &self.descr,
            dictionary,
            |b| {
                b.set_statistics(statistics)
                    .set_unencoded_byte_array_data_bytes(Some(total))
                    .set_definition_level_histogram(histogram)
            },
            column_index,
            Some(&bytes),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::both::{meta, texts};
    use crate::encode::{column_writers, ColumnEncoder, Encoder, PagePool};
    use arrow::array::{ArrayRef, Int32Array, RecordBatch};
    use arrow::datatypes::{Field, Schema, SchemaRef};
    use parquet::basic::{BoundaryOrder, Encoding, PageType};
    use std::sync::Arc;

    /// Writes rows `0..rows` with ours and with parquet's writer
    /// ([`both::write`](crate::encode::both::write)), checks that the
    /// dataset's properties send every column here and that both files
    /// read back as `want` (a column each); gives the directory and both
    /// files.
    fn write_both(
        file_schema: &SchemaRef,
        built: &SchemaRef,
        rows: usize,
        batch: impl Fn(std::ops::Range<usize>) -> RecordBatch,
        want: &[Vec<Option<String>>],
    ) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
        let (tmp, ours, theirs, encoders) =
            crate::encode::both::write(file_schema, built, rows, batch);
        assert!(encoders
            .iter()
            .all(|e| matches!(e, ColumnEncoder::Dictionary(_))));
        for (i, f) in file_schema.fields().iter().enumerate() {
            assert!(texts(&ours, f.name()) == want[i], "{}: ours", f.name());
            assert!(
                texts(&theirs, f.name()) == want[i],
                "{}: parquet's",
                f.name()
            );
        }
        (tmp, ours, theirs)
    }

    fn column(values: &[Option<String>]) -> ArrayRef {
        Arc::new(StringArray::from(values.to_vec()))
    }

    /// Text columns without a dictionary or statistics (token, recipient,
    /// address, referer) come out as parquet's writer makes them: the
    /// same values, no dictionary page, the same encodings, and pages that
    /// end at the same rows, whether a page fills by its rows (short
    /// values) or by its bytes (long ones). Covers nulls and empty texts,
    /// and an Arrow dictionary array written without a dictionary.
    #[test]
    fn plain_text_columns_match_parquets_writer() {
        let rows = 90_000usize;
        let file_schema = Arc::new(Schema::new(vec![
            Field::new("token", DataType::Utf8, false),
            Field::new("referer", DataType::Utf8, true),
            Field::new("recipient_id", DataType::Utf8, true),
        ]));
        let dict_type = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let built = Arc::new(Schema::new(vec![
            Field::new("token", DataType::Utf8, false),
            Field::new("referer", DataType::Utf8, true),
            Field::new("recipient_id", dict_type, true),
        ]));
        let token = |i: usize| format!("{:022}", i * 7_919);
        let referer = |i: usize| match i % 17 {
            0 => None,
            1 => Some(String::new()),
            k => Some(format!(
                "https://example.com/{i}/{}",
                "r".repeat(40 + k * 9)
            )),
        };
        let ids = ["r1", "a-longer-recipient-id", ""];
        let id_key = |i: usize| (i % 13 != 5).then_some((i % 4) as i32);
        let batch = |r: std::ops::Range<usize>| {
            let keys = Int32Array::from(r.clone().map(id_key).collect::<Vec<_>>());
            let values = StringArray::from(vec![Some(ids[0]), Some(ids[1]), Some(ids[2]), None]);
            RecordBatch::try_new(
                built.clone(),
                vec![
                    Arc::new(StringArray::from_iter_values(r.clone().map(token))),
                    Arc::new(StringArray::from(
                        r.clone().map(referer).collect::<Vec<_>>(),
                    )),
                    Arc::new(DictionaryArray::new(keys, Arc::new(values))),
                ],
            )
            .unwrap()
        };

        let want: [Vec<Option<String>>; 3] = [
            (0..rows).map(|i| Some(token(i))).collect(),
            (0..rows).map(referer).collect(),
            (0..rows)
                .map(|i| {
                    id_key(i)
                        .and_then(|k| ids.get(k as usize))
                        .map(|s| s.to_string())
                })
                .collect(),
        ];
        let (_tmp, ours, theirs) = write_both(&file_schema, &built, rows, batch, &want);
        let (a, b) = (meta(&ours), meta(&theirs));
        for (i, f) in file_schema.fields().iter().enumerate() {
            crate::encode::both::same_chunks(&a, &b, i, f.name());
            let no_dictionary = a.row_group(0).column(i).dictionary_page_offset().is_none();
            assert!(no_dictionary, "{}: no dictionary", f.name());
        }
        // What the rows were made to cover: pages ended by their rows
        // (tokens) and by their bytes (referers).
        let pages = |i: usize| a.offset_index().unwrap()[0][i].page_locations().len();
        assert_eq!(pages(0), rows.div_ceil(PAGE_VALUES));
        assert!(
            pages(1) > rows.div_ceil(PAGE_VALUES),
            "referers fill pages by bytes"
        );
    }

    /// Text columns with statistics (the kind and the campaign) come out
    /// as parquet's writer makes them: the same values, statistics (cut to
    /// 64 bytes, on a character's boundary, as parquet cuts them), column
    /// index (pages' bounds, nulls, boundary order, level histograms),
    /// offset index (with each page's value bytes), page encodings and page
    /// rows. The rows cover Arrow dictionaries and plain strings, nulls and
    /// a page of nulls only, values longer than 64 bytes with characters
    /// of several bytes, ascending and descending pages, and a dictionary
    /// that passes 1 MB (later pages PLAIN).
    #[test]
    fn text_columns_with_statistics_match_parquets_writer() {
        let rows = 90_000usize;
        let dict_type = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let file_schema = Arc::new(Schema::new(vec![
            Field::new("kind", DataType::Utf8, false),
            Field::new("campaign_id", DataType::Utf8, true),
            Field::new("up", DataType::Utf8, false),
            Field::new("down", DataType::Utf8, true),
            Field::new("long", DataType::Utf8, true),
        ]));
        let built = Arc::new(Schema::new(vec![
            Field::new("kind", dict_type.clone(), false),
            Field::new("campaign_id", dict_type, true),
            Field::new("up", DataType::Utf8, false),
            Field::new("down", DataType::Utf8, true),
            Field::new("long", DataType::Utf8, true),
        ]));
        let kinds = ["open", "click", "read"];
        let campaigns = [
            "spring-sale",
            "newsletter-47",
            "ÿ-campaign-name-longer-than-sixty-four-bytes-with-ümlauts-and-€uro-signs-at-the-end-€€",
        ];
        let kind = |i: usize| kinds[(i / 300 + i % 7 / 6) % 3];
        // Null on every 11th row, and on all of rows 40,000-60,000 (a
        // page of nulls only).
        let campaign = |i: usize| {
            (!i.is_multiple_of(11) && !(40_000..60_000).contains(&i))
                .then(|| campaigns[(i / 5_000) % 3])
        };
        // 90,000 distinct values of about 30 bytes: the dictionary passes
        // 1 MB and the later pages are PLAIN.
        let up = |i: usize| format!("{i:08}-{}", "u".repeat(20));
        let down = |i: usize| (i % 13 != 1).then(|| format!("{:06}", rows - i / 100));
        let long = |i: usize| match i % 9 {
            0 => None,
            1 => Some(String::new()),
            k => Some(format!("{}{}{k}", "é".repeat(31 + k), i % 50)),
        };
        let batch = |r: std::ops::Range<usize>| {
            let ks = Int32Array::from(
                r.clone()
                    .map(|i| kinds.iter().position(|k| *k == kind(i)).map(|p| p as i32))
                    .collect::<Vec<_>>(),
            );
            let cs = Int32Array::from(
                r.clone()
                    .map(|i| campaign(i).and_then(|c| campaigns.iter().position(|x| *x == c)))
                    .map(|p| p.map(|p| p as i32))
                    .collect::<Vec<_>>(),
            );
            RecordBatch::try_new(
                built.clone(),
                vec![
                    Arc::new(DictionaryArray::new(
                        ks,
                        Arc::new(StringArray::from(kinds.to_vec())),
                    )),
                    Arc::new(DictionaryArray::new(
                        cs,
                        Arc::new(StringArray::from(campaigns.to_vec())),
                    )),
                    Arc::new(StringArray::from_iter_values(r.clone().map(up))),
                    Arc::new(StringArray::from(r.clone().map(down).collect::<Vec<_>>())),
                    Arc::new(StringArray::from(r.map(long).collect::<Vec<_>>())),
                ],
            )
            .unwrap()
        };
        let want: [Vec<Option<String>>; 5] = [
            (0..rows).map(|i| Some(kind(i).to_string())).collect(),
            (0..rows).map(|i| campaign(i).map(str::to_string)).collect(),
            (0..rows).map(|i| Some(up(i))).collect(),
            (0..rows).map(down).collect(),
            (0..rows).map(long).collect(),
        ];
        let (_tmp, ours, theirs) = write_both(&file_schema, &built, rows, batch, &want);
        let (a, b) = (meta(&ours), meta(&theirs));
        let (ra, rb) = (a.row_group(0), b.row_group(0));
        for (i, f) in file_schema.fields().iter().enumerate() {
            let name = f.name();
            let (ca, cb) = (ra.column(i), rb.column(i));
            assert!(ca.statistics().is_some(), "{name}: statistics");
            assert_eq!(ca.statistics(), cb.statistics(), "{name}: statistics");
            assert_eq!(
                ca.unencoded_byte_array_data_bytes(),
                cb.unencoded_byte_array_data_bytes(),
                "{name}: value bytes"
            );
            if name == "up" {
                // Parquet's writer now cuts a write batch where the
                // dictionary would pass its limit; ours goes PLAIN after
                // the batch (as for the columns without statistics), so
                // the page before ends a little later. Each page's
                // bounds are then checked against its own rows.
                let index = &a.column_index().unwrap()[0][i];
                let firsts = crate::encode::both::first_rows(&a, i);
                for (p, &first) in firsts.iter().enumerate() {
                    let last = firsts.get(p + 1).map_or(rows, |&n| n as usize) - 1;
                    let parquet::file::page_index::column_index::ColumnIndexMetaData::BYTE_ARRAY(
                        index,
                    ) = index
                    else {
                        panic!("up: a text column index")
                    };
                    assert_eq!(index.min_value(p).unwrap(), up(first as usize).as_bytes());
                    assert_eq!(index.max_value(p).unwrap(), up(last).as_bytes());
                }
                continue;
            }
            crate::encode::both::same_indexed_chunks(&a, &b, i, name);
            assert_eq!(
                a.offset_index().unwrap()[0][i].unencoded_byte_array_data_bytes(),
                b.offset_index().unwrap()[0][i].unencoded_byte_array_data_bytes(),
                "{name}: offset index"
            );
        }
        // What the rows were made to cover.
        let order = |i: usize| a.column_index().unwrap()[0][i].get_boundary_order();
        assert_eq!(order(2), Some(BoundaryOrder::ASCENDING), "up");
        assert_eq!(order(3), Some(BoundaryOrder::DESCENDING), "down");
        let stats = |i: usize| ra.column(i).page_encoding_stats().unwrap().clone();
        assert!(
            stats(2).iter().any(|s| s.encoding == Encoding::PLAIN),
            "up falls back"
        );
        let campaign_max = ra
            .column(1)
            .statistics()
            .unwrap()
            .max_bytes_opt()
            .unwrap()
            .to_vec();
        assert!(campaign_max.len() <= 64 && !ra.column(1).statistics().unwrap().max_is_exact());
        assert!(
            std::str::from_utf8(&campaign_max).is_ok(),
            "cut on a character"
        );
        let long_min = ra
            .column(4)
            .statistics()
            .unwrap()
            .min_bytes_opt()
            .unwrap()
            .to_vec();
        assert!(long_min.is_empty(), "an empty text is the least");
    }

    /// Columns the dataset writes without statistics go through this
    /// writer: plain strings with nulls and empty strings, an Arrow
    /// dictionary with null keys and a null value (in some batches, in
    /// others a null value only, or neither), a column whose
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
        // Batches (7,000 rows) of three kinds: null keys and a null value;
        // no null key but the null value; neither.
        let ua_key = |i: usize| match (i / 7_000) % 3 {
            0 => (i % 11 != 3).then_some((i % 5) as i32),
            1 => Some((i % 5) as i32),
            _ => Some((i % 4) as i32),
        };
        let ua: Vec<Option<String>> = (0..rows)
            .map(|i| match ua_key(i) {
                Some(4) | None => None,
                Some(k) => Some(agents[k as usize].to_string()),
            })
            .collect();
        let url: Vec<Option<String>> = (0..rows)
            .map(|i| Some(format!("https://example.com/{i:08}/{}", "x".repeat(i % 60))))
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

        let got = |name: &str| crate::encode::both::texts(&path, name);
        assert!(got("city") == city, "city");
        assert!(got("user_agent") == ua, "user_agent");
        assert!(got("url") == url, "url");
        assert!(got("variant") == variant, "variant");
        assert!(got("method") == method, "method");

        let meta = crate::encode::both::meta(&path);
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
        // 70,000 distinct urls of 29-88 bytes (with their lengths, 63 on
        // average) make a 1 MB dictionary in under 17,000 rows: the first
        // page ends there, short, and PLAIN pages follow.
        let url_stats = stats(2);
        assert_eq!(
            url_stats[..2],
            [dict, (PageType::DATA_PAGE, Encoding::RLE_DICTIONARY, 1)]
        );
        assert_eq!(url_stats[2].1, Encoding::PLAIN);
        let url_pages = meta.offset_index().unwrap()[0][2].page_locations().clone();
        assert!((15_000..17_500).contains(&url_pages[1].first_row_index));
        for (i, name) in names.iter().enumerate() {
            let c = rg.column(i);
            assert_eq!(c.num_values(), rows as i64, "{name}");
            assert!(c.statistics().is_none(), "{name}");
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
