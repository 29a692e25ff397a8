//! Column chunks laid out as parquet's writer lays them out, for the
//! encoders of our own ([`super::dictionary`], [`super::numbers`]): v1
//! data pages of RLE/bit-packed definition levels and values (PLAIN,
//! dictionary indices or DELTA_BINARY_PACKED), Snappy or no compression, a
//! dictionary page first when there is one, and the chunk's metadata and
//! offset index, so the chunk is spliced into its row group like one of
//! parquet's.

use bytes::Bytes;
use parquet::arrow::arrow_writer::{PageKey, PageStore};
use parquet::basic::{Compression, Encoding, PageType};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{
    ColumnChunkMetaData, ColumnChunkMetaDataBuilder, OffsetIndexBuilder, PageEncodingStats,
};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::properties::{WriterProperties, WriterVersion};
use parquet::file::writer::{SerializedPageWriter, SerializedRowGroupWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

/// Values a data page holds at most: parquet's default row limit.
pub const PAGE_VALUES: usize = 20_000;

/// Dictionary bytes beyond which the rest of the chunk is written PLAIN:
/// parquet's default dictionary page limit, so readers meet the pages they
/// would from parquet's writer.
pub const DICTIONARY_LIMIT: usize = 1 << 20;

/// Bytes of PLAIN values that close a page: parquet's default page limit.
pub const PAGE_BYTES: usize = 1 << 20;

/// Rows written between checks of the page's and the dictionary's limits:
/// as often as parquet's writer checks them (its write batch).
pub const SEGMENT: usize = 1024;

/// Whether `props` ask for the layout made here for column `descr`: a
/// top-level column, Snappy or no compression, v1 pages, parquet's default
/// page and dictionary limits, an offset index, and no bloom filter or
/// statistics in page headers. Which value encodings an encoder makes is
/// its own to check.
pub fn layout_is_ours(descr: &ColumnDescPtr, props: &WriterProperties) -> bool {
    let path = descr.path();
    descr.max_rep_level() == 0
        && descr.max_def_level() <= 1
        && path.parts().len() == 1
        && props.bloom_filter_properties(path).is_none()
        && matches!(
            props.compression(path),
            Compression::SNAPPY | Compression::UNCOMPRESSED
        )
        && props.writer_version() == WriterVersion::PARQUET_1_0
        && props.data_page_row_count_limit() == PAGE_VALUES
        && props.dictionary_page_size_limit() == DICTIONARY_LIMIT
        && props.data_page_size_limit() == PAGE_BYTES
        && !props.offset_index_disabled()
        && !props.write_page_header_statistics(path)
}

/// The page an encoder of ours is filling: each row's definition level
/// (for a nullable column), and the values as dictionary indices or PLAIN
/// bytes.
#[derive(Default)]
pub struct Filling {
    /// Definition levels, 0 null and 1 present.
    pub defs: Vec<u8>,
    /// Dictionary indices of the values present.
    pub indices: Vec<u32>,
    /// PLAIN bytes of the values present.
    pub plain: Vec<u8>,
    /// Rows so far.
    pub rows: usize,
}

/// How a filled page's values go into its data page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Its PLAIN bytes as they are.
    Plain,
    /// Its PLAIN bytes, 64-bit integers, as DELTA_BINARY_PACKED.
    Delta,
    /// Its indices into a dictionary of so many entries.
    Indices(usize),
}

impl Filling {
    /// Hands the page, if it has rows, to `pages` in `form` and empties it.
    pub fn flush(&mut self, pages: &mut ChunkPages, nullable: bool, form: Form) -> Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let values = match form {
            Form::Plain => Values::Plain(&self.plain),
            Form::Delta => Values::Delta(&self.plain),
            Form::Indices(entries) => Values::Indices(&self.indices, entries),
        };
        pages.page(self.rows, nullable.then_some(self.defs.as_slice()), values)?;
        self.rows = 0;
        self.defs.clear();
        self.indices.clear();
        self.plain.clear();
        Ok(())
    }

    /// Bytes held.
    pub fn memory_size(&self) -> usize {
        self.defs.capacity() + self.indices.capacity() * 4 + self.plain.capacity()
    }
}

/// A data page's values.
pub enum Values<'a> {
    /// PLAIN bytes.
    Plain(&'a [u8]),
    /// PLAIN bytes of 64-bit integers, to be written DELTA_BINARY_PACKED.
    Delta(&'a [u8]),
    /// Indices into a dictionary of so many entries.
    Indices(&'a [u32], usize),
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

/// The finished pages of one column chunk, in a page store like parquet's
/// own (memory up to a budget, then a scratch file).
pub struct ChunkPages {
    store: Box<dyn PageStore>,
    /// Snappy, or no compression.
    snappy: bool,
    pages: Vec<Finished>,
    rows: u64,
    body: Vec<u8>,
}

impl ChunkPages {
    /// No pages yet of column `descr`; they will go to `store`, compressed
    /// as `props` say (Snappy or none: [`layout_is_ours`]).
    pub fn new(store: Box<dyn PageStore>, descr: &ColumnDescPtr, props: &WriterProperties) -> Self {
        ChunkPages {
            store,
            snappy: props.compression(descr.path()) == Compression::SNAPPY,
            pages: Vec::new(),
            rows: 0,
            body: Vec::new(),
        }
    }

    /// Encodes, compresses and stores a data page of `rows` rows: the
    /// definition levels `defs` (one a row, for a nullable column), then
    /// the `values`.
    pub fn page(&mut self, rows: usize, defs: Option<&[u8]>, values: Values<'_>) -> Result<()> {
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        if let Some(defs) = defs {
            levels(defs, &mut body);
        }
        let encoding = match values {
            Values::Plain(bytes) => {
                body.extend_from_slice(bytes);
                Encoding::PLAIN
            }
            Values::Delta(bytes) => {
                delta_binary_packed(bytes, &mut body);
                Encoding::DELTA_BINARY_PACKED
            }
            Values::Indices(indices, entries) => {
                let width = bit_width(entries.saturating_sub(1) as u32);
                body.push(width);
                hybrid(indices, width, &mut body);
                Encoding::RLE_DICTIONARY
            }
        };
        self.data_page(body, rows, encoding)
    }

    fn data_page(&mut self, body: Vec<u8>, rows: usize, encoding: Encoding) -> Result<()> {
        let page = Page::DataPage {
            buf: self.compress(&body)?,
            num_values: rows as u32,
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
            rows,
            encoding,
        });
        self.rows += rows as u64;
        self.body = body;
        Ok(())
    }

    /// `data` as the chunk's pages hold it.
    fn compress(&self, data: &[u8]) -> Result<Bytes> {
        Ok(match self.snappy {
            true => Bytes::from(compress(data)?),
            false => Bytes::copy_from_slice(data),
        })
    }

    /// Rows in the finished pages.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Bytes held in memory: the finished pages the store keeps there and
    /// the page buffer.
    pub fn memory_size(&self) -> usize {
        self.store.memory_size() + self.body.capacity()
    }

    /// Finishes the chunk of column `descr`: the `dictionary` page (its
    /// PLAIN values and their count), if any, then the data pages; `with`
    /// adds to the metadata (statistics), `column_index` is the page
    /// index's, if any, and `page_bytes` each page's value bytes before
    /// encoding (a text column's, with statistics) for the offset index.
    pub fn close(
        self,
        descr: &ColumnDescPtr,
        dictionary: Option<(&[u8], usize)>,
        with: impl FnOnce(ColumnChunkMetaDataBuilder) -> ColumnChunkMetaDataBuilder,
        column_index: Option<ColumnIndexMetaData>,
        page_bytes: Option<&[i64]>,
    ) -> Result<EncodedChunk> {
        let mut dict_page = Bytes::new();
        let mut uncompressed = 0;
        let mut stats = Vec::new();
        // As parquet's writer lists them: RLE for the levels, then the
        // dictionary page's and every data page's encoding.
        let mut encodings = vec![Encoding::RLE];
        if let Some((values, count)) = dictionary {
            let page = Page::DictionaryPage {
                buf: self.compress(values)?,
                num_values: count as u32,
                encoding: Encoding::PLAIN,
                is_sorted: false,
            };
            (dict_page, uncompressed) = serialize(CompressedPage::new(page, values.len()))?;
            stats.push(PageEncodingStats {
                page_type: PageType::DICTIONARY_PAGE,
                encoding: Encoding::PLAIN,
                count: 1,
            });
            encodings.push(Encoding::PLAIN);
        }
        for p in &self.pages {
            if !encodings.contains(&p.encoding) {
                encodings.push(p.encoding);
            }
        }
        let mut offsets = OffsetIndexBuilder::new();
        let mut at = dict_page.len();
        for (n, p) in self.pages.iter().enumerate() {
            offsets.append_unencoded_byte_array_data_bytes(page_bytes.map(|b| b[n]));
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
        let builder = ColumnChunkMetaData::builder(descr.clone())
            .set_compression(match self.snappy {
                true => Compression::SNAPPY,
                false => Compression::UNCOMPRESSED,
            })
            .set_encodings(encodings)
            .set_page_encoding_stats(stats)
            .set_total_compressed_size(at as i64)
            .set_total_uncompressed_size(uncompressed as i64)
            .set_num_values(self.rows as i64)
            .set_data_page_offset(dict_page.len() as i64)
            .set_dictionary_page_offset(dictionary.map(|_| 0));
        let metadata = with(builder).build()?;
        Ok(EncodedChunk {
            dict_page,
            pages: self.pages.iter().map(|p| p.key).collect(),
            store: self.store,
            close: ColumnCloseResult {
                bytes_written: at as u64,
                rows_written: self.rows,
                metadata,
                bloom_filter: None,
                column_index,
                offset_index: Some(offsets.build()),
            },
        })
    }
}

/// A closed column chunk of ours, waiting for its file.
pub struct EncodedChunk {
    dict_page: Bytes,
    pages: Vec<PageKey>,
    store: Box<dyn PageStore>,
    close: ColumnCloseResult,
}

impl EncodedChunk {
    /// Writes the chunk as the row group's next column.
    pub fn append_to_row_group<W: std::io::Write + Send>(
        mut self,
        rg: &mut SerializedRowGroupWriter<'_, W>,
    ) -> Result<()> {
        let mut parts = Vec::with_capacity(self.pages.len() + 1);
        parts.push(std::mem::take(&mut self.dict_page));
        for key in std::mem::take(&mut self.pages) {
            parts.push(self.store.take(key)?);
        }
        rg.append_column(&PageChain::new(parts), self.close)
    }
}

/// A column chunk's pages read as one run of bytes, without joining them.
/// Joined first, every chunk's bytes were copied once more into fresh
/// memory the kernel had to fault in and zero: on the 4.3 M-line send,
/// CPU median 6.33 -> 6.10 s without it (6 alternating runs).
pub struct PageChain {
    parts: std::sync::Arc<[Bytes]>,
    len: u64,
}

impl PageChain {
    /// The chunk whose bytes are `parts`, in order.
    pub fn new(parts: Vec<Bytes>) -> Self {
        let len = parts.iter().map(|p| p.len() as u64).sum();
        PageChain {
            parts: parts.into(),
            len,
        }
    }
}

impl parquet::file::reader::Length for PageChain {
    fn len(&self) -> u64 {
        self.len
    }
}

impl parquet::file::reader::ChunkReader for PageChain {
    type T = ChainRead;

    fn get_read(&self, start: u64) -> Result<ChainRead> {
        let mut r = ChainRead {
            parts: self.parts.clone(),
            part: 0,
            at: 0,
        };
        let mut skip = start;
        while let Some(p) = r.parts.get(r.part) {
            if skip < p.len() as u64 {
                r.at = skip as usize;
                break;
            }
            skip -= p.len() as u64;
            r.part += 1;
        }
        Ok(r)
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes> {
        use std::io::Read;
        let mut out = Vec::with_capacity(length);
        self.get_read(start)?
            .take(length as u64)
            .read_to_end(&mut out)?;
        if out.len() != length {
            return Err(ParquetError::EOF(format!(
                "{length} bytes from {start} asked of a chunk of {}",
                self.len
            )));
        }
        Ok(Bytes::from(out))
    }
}

/// Reads a [`PageChain`] from a place in it on.
pub struct ChainRead {
    parts: std::sync::Arc<[Bytes]>,
    part: usize,
    at: usize,
}

impl std::io::Read for ChainRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(p) = self.parts.get(self.part) {
            let left = &p[self.at..];
            if left.is_empty() {
                self.part += 1;
                self.at = 0;
                continue;
            }
            let n = left.len().min(buf.len());
            buf[..n].copy_from_slice(&left[..n]);
            self.at += n;
            return Ok(n);
        }
        Ok(0)
    }
}

/// Appends a v1 page's definition levels (0 null, 1 present): their
/// length, then the levels one bit each in the hybrid encoding.
fn levels(defs: &[u8], out: &mut Vec<u8>) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    hybrid(defs, 1, out);
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

pub fn compress(data: &[u8]) -> Result<Vec<u8>> {
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

/// A column index finished with the boundary order its pages' bounds
/// kept: ascending when every page's bounds were at least the last one's,
/// descending when at most, else unordered (ascending wins when both).
pub fn finish_index(
    mut index: parquet::file::metadata::ColumnIndexBuilder,
    ascending: bool,
    descending: bool,
) -> Result<ColumnIndexMetaData> {
    use parquet::basic::BoundaryOrder;
    index.set_boundary_order(match (ascending, descending) {
        (true, _) => BoundaryOrder::ASCENDING,
        (false, true) => BoundaryOrder::DESCENDING,
        (false, false) => BoundaryOrder::UNORDERED,
    });
    index.build()
}

/// Bits needed for values up to `max`.
fn bit_width(max: u32) -> u8 {
    (32 - max.leading_zeros()) as u8
}

/// Appends `values` in parquet's RLE/bit-packed hybrid encoding, `width`
/// bits a value: runs of 8 or more equal values as one repeated value,
/// the rest bit-packed in groups of 8 (the last group padded with zeros,
/// which readers skip by the page's value count).
///
/// Only runs of 8 or more can be repeated values, and each of them covers
/// a whole aligned block of 4 values: the values are read 4 at a time and a
/// run is looked for only where a block is all one value. Looking at every
/// value for the end of its run cost a mispredicted branch a value on
/// dictionary indices, which seldom repeat: 4% of an ingest's CPU.
pub fn hybrid<T: Copy + Into<u32> + PartialEq>(values: &[T], width: u8, out: &mut Vec<u8>) {
    let n = values.len();
    let mut literal = 0;
    // Where the last run found ended: runs are disjoint, none starts before.
    let mut done = 0;
    let mut k = 0;
    while k + 4 <= n {
        let v = values[k];
        if values[k + 1] != v || values[k + 2] != v || values[k + 3] != v {
            k += 4;
            continue;
        }
        let mut i = k;
        while i > done && values[i - 1] == v {
            i -= 1;
        }
        let mut j = k + 4;
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
        done = j;
        k = j.next_multiple_of(4);
    }
    bit_packed(&values[literal..], width, out);
}

/// Appends `values` as one bit-packed run: groups of 8 values, each group
/// `width` bytes, least significant bit first.
fn bit_packed<T: Copy + Into<u32>>(values: &[T], width: u8, out: &mut Vec<u8>) {
    if values.is_empty() {
        return;
    }
    let groups = values.len().div_ceil(8);
    uleb128(((groups as u64) << 1) | 1, out);
    let w = width as usize;
    out.reserve(groups * w);
    let mut chunks = values.chunks_exact(8);
    // Up to 16 bits a value, a group is packed in one register and written
    // at once rather than byte by byte.
    if w <= 16 {
        for c in &mut chunks {
            let mut acc = 0u128;
            for (i, &v) in c.iter().enumerate() {
                acc |= u128::from(v.into()) << (i * w);
            }
            out.extend_from_slice(&acc.to_le_bytes()[..w]);
        }
    }
    let tail = if w <= 16 { chunks.remainder() } else { values };
    let pad = groups * 8 - values.len();
    let mut acc = 0u64;
    let mut bits = 0u32;
    for v in tail
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

/// Values a DELTA_BINARY_PACKED miniblock holds, and miniblocks a block:
/// parquet's writer's choice for 64-bit integers.
const DELTA_MINIBLOCK: usize = 64;
const DELTA_MINIBLOCKS: usize = 4;

/// Appends the 64-bit integers of `plain` (PLAIN, little-endian) in
/// parquet's DELTA_BINARY_PACKED encoding: a header (block size,
/// miniblocks a block, values, first value), then blocks of the
/// differences between neighbours, each as its least difference and, a
/// miniblock at a time, the rest bit-packed at the miniblock's width. The
/// last miniblock is padded with zeros, and the widths of miniblocks the
/// last block does not need are 0 with no bytes, as the format asks.
pub fn delta_binary_packed(plain: &[u8], out: &mut Vec<u8>) {
    const BLOCK: usize = DELTA_MINIBLOCK * DELTA_MINIBLOCKS;
    let mut values = plain
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")));
    let n = plain.len() / 8;
    let zigzag = |v: i64| ((v << 1) ^ (v >> 63)) as u64;
    uleb128(BLOCK as u64, out);
    uleb128(DELTA_MINIBLOCKS as u64, out);
    uleb128(n as u64, out);
    let Some(first) = values.next() else {
        uleb128(0, out);
        return;
    };
    uleb128(zigzag(first), out);
    let mut prev = first;
    let mut deltas = [0i64; BLOCK];
    let mut left = n - 1;
    while left > 0 {
        let m = left.min(BLOCK);
        for d in &mut deltas[..m] {
            let v = values.next().expect("n values");
            *d = v.wrapping_sub(prev);
            prev = v;
        }
        left -= m;
        let min = *deltas[..m].iter().min().expect("a delta");
        uleb128(zigzag(min), out);
        let widths = out.len();
        out.extend_from_slice(&[0; DELTA_MINIBLOCKS]);
        for (k, mini) in deltas[..m].chunks(DELTA_MINIBLOCK).enumerate() {
            let max = mini.iter().map(|&d| d.wrapping_sub(min) as u64).max();
            let width = 64 - max.expect("a delta").leading_zeros();
            out[widths + k] = width as u8;
            if width == 0 {
                continue;
            }
            // Up to 64 bits a value and fewer than 8 left over: 72 bits.
            let mut acc = 0u128;
            let mut bits = 0;
            for i in 0..DELTA_MINIBLOCK {
                let v = mini.get(i).map_or(0, |&d| d.wrapping_sub(min) as u64);
                acc |= u128::from(v) << bits;
                bits += width;
                while bits >= 8 {
                    out.push(acc as u8);
                    acc >>= 8;
                    bits -= 8;
                }
            }
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

    #[test]
    fn a_page_chain_reads_as_its_pages_joined() {
        use parquet::file::reader::{ChunkReader, Length};
        use std::io::Read;
        // Pages of uneven sizes, an empty one among them, and a page
        // longer than the 8 KB a copy asks for at a time.
        let sizes = [0usize, 3, 9000, 1, 0, 20_000, 7];
        let mut joined = Vec::new();
        let mut parts = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            let page: Vec<u8> = (0..n).map(|j| (i * 31 + j * 7) as u8).collect();
            joined.extend_from_slice(&page);
            parts.push(Bytes::from(page));
        }
        let chain = PageChain::new(parts);
        assert_eq!(chain.len(), joined.len() as u64);
        for start in [0, 1, 3, 4, 9002, 9003, 9004, 29_000, joined.len()] {
            let mut out = Vec::new();
            let mut r = chain.get_read(start as u64).unwrap();
            let mut buf = [0u8; 8192];
            loop {
                let n = r.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
            assert_eq!(out, joined[start..], "from {start}");
            let len = (joined.len() - start).min(10_000);
            assert_eq!(
                chain.get_bytes(start as u64, len).unwrap(),
                joined[start..start + len]
            );
        }
        assert!(chain.get_bytes(29_000, joined.len()).is_err());
    }

    /// The encoding as first written, a value at a time: what `hybrid`
    /// must still give.
    fn hybrid_one_at_a_time<T: Copy + Into<u32> + PartialEq>(
        values: &[T],
        width: u8,
        out: &mut Vec<u8>,
    ) {
        let packed = |values: &[T], out: &mut Vec<u8>| {
            if values.is_empty() {
                return;
            }
            let groups = values.len().div_ceil(8);
            uleb128(((groups as u64) << 1) | 1, out);
            let (mut acc, mut bits) = (0u64, 0u32);
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
        };
        let (n, mut literal, mut i) = (values.len(), 0, 0);
        while i < n {
            let v = values[i];
            let mut j = i + 1;
            while j < n && values[j] == v {
                j += 1;
            }
            let pad = (8 - (i - literal) % 8) % 8;
            if j - i >= pad + 8 {
                let start = i + pad;
                packed(&values[literal..start], out);
                uleb128(((j - start) as u64) << 1, out);
                let v: u32 = v.into();
                out.extend_from_slice(&v.to_le_bytes()[..(width as usize).div_ceil(8)]);
                literal = j;
            }
            i = j;
        }
        packed(&values[literal..], out);
    }

    /// `hybrid` gives what encoding a value at a time gives, on runs of
    /// every length from 1 to 40 at every offset, between literals of
    /// every kind, at widths 0 to 32.
    #[test]
    fn hybrid_matches_encoding_a_value_at_a_time() {
        let mut next = crate::testing::xorshift(0x853c_49e6_748f_ea9b);
        for width in 0..=32u8 {
            let max = if width == 32 {
                u32::MAX
            } else {
                (1u32 << width) - 1
            };
            for case in 0..300 {
                let mut v: Vec<u32> = Vec::new();
                let len = (next() % 200) as usize;
                while v.len() < len {
                    let value = (next() as u32) & max;
                    // Mostly short runs, some long ones, some at the very end.
                    let run = match next() % 4 {
                        0 => 1 + (next() % 40) as usize,
                        1 => 8 + (next() % 4) as usize,
                        _ => 1 + (next() % 3) as usize,
                    };
                    v.extend(std::iter::repeat_n(value, run));
                }
                let (mut ours, mut theirs) = (Vec::new(), Vec::new());
                hybrid(&v, width, &mut ours);
                hybrid_one_at_a_time(&v, width, &mut theirs);
                assert_eq!(ours, theirs, "width {width}, case {case}: {v:?}");
            }
        }
        // Definition levels: bytes, long runs of 1 with nulls between.
        let mut defs = vec![1u8; 5000];
        for k in [0, 3, 7, 8, 15, 16, 17, 100, 101, 102, 4990, 4999] {
            defs[k] = 0;
        }
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        hybrid(&defs, 1, &mut ours);
        hybrid_one_at_a_time(&defs, 1, &mut theirs);
        assert_eq!(ours, theirs);
    }

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
}
