//! Arrow schemas of the dataset's tables and the builders that fill them.
//!
//! Timestamps are UTC microseconds. Column names and types are a contract
//! with users' SQL: add columns, never rename or retype them.

use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{
    DataType, Field, Float64Type, Int32Type, Int64Type, Schema, SchemaRef, TimeUnit,
    TimestampMicrosecondType,
};

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Schema of `events`.
pub fn events_schema() -> SchemaRef {
    // Built once: `conform` asks for it for every batch read back, and
    // forty-odd fields made afresh each time were a tenth of a
    // `reclassify`'s CPU in allocations.
    static SCHEMA: std::sync::OnceLock<SchemaRef> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(build_events_schema).clone()
}

fn build_events_schema() -> SchemaRef {
    let s = |n: &str| Field::new(n, DataType::Utf8, true);
    let req = |n: &str| Field::new(n, DataType::Utf8, false);
    Arc::new(Schema::new(vec![
        Field::new("ts", ts_type(), false),
        req("kind"),
        req("token"),
        req("campaign_id"),
        req("recipient_id"),
        s("variant"),
        s("link_id"),
        s("url"),
        Field::new("sent_at", ts_type(), false),
        Field::new("seconds_since_sent", DataType::Int64, false),
        req("ip"),
        req("method"),
        Field::new("status", DataType::Int32, false),
        Field::new("bytes", DataType::Int64, true),
        s("referer"),
        s("user_agent"),
        s("ua_name"),
        s("ua_category"),
        s("os"),
        s("country"),
        s("city"),
        s("time_zone"),
        Field::new("asn", DataType::Int64, true),
        s("as_org"),
        s("network"),
        req("class"),
        req("rule_id"),
        req("reason"),
        req("source_file"),
        Field::new("source_line", DataType::Int64, false),
        Field::new("forwarded", DataType::Boolean, false),
        Field::new("local_weekday", DataType::Int32, true),
        Field::new("local_hour", DataType::Int32, true),
        // Evidence: what the verdict rested on that cannot be recomputed
        // once the address is truncated or hashed, and the version of the
        // rules and lists that made it.
        s("rules_version"),
        s("network_cidr"),
        s("network_roles"),
        Field::new("ip_prefix", DataType::Int32, true),
        Field::new("burst_hits", DataType::Int32, true),
        Field::new("burst_seconds", DataType::Float64, true),
        Field::new("trap_hit", DataType::Boolean, true),
        Field::new("read_seconds", DataType::Float64, true),
    ]))
}

/// A batch of `events` as read from a file of any earlier version, with
/// the columns added since then filled with nulls.
pub fn conform(batch: &RecordBatch) -> RecordBatch {
    let schema = events_schema();
    if batch.schema().fields().len() == schema.fields().len() {
        return batch.clone();
    }
    let cols: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) => c.clone(),
            None => arrow::array::new_null_array(f.data_type(), batch.num_rows()),
        })
        .collect();
    RecordBatch::try_new(schema, cols).expect("added columns are nullable")
}

/// Schema of `rejects`.
pub fn rejects_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("source_file", DataType::Utf8, false),
        Field::new("source_line", DataType::Int64, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("detail", DataType::Utf8, false),
        Field::new("raw_line", DataType::Utf8, false),
    ]))
}

/// Schema of `manifest`.
pub fn manifest_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("token", DataType::Utf8, false),
        Field::new("campaign_id", DataType::Utf8, false),
        Field::new("recipient_id", DataType::Utf8, false),
        Field::new("variant", DataType::Utf8, true),
        Field::new("sent_at", ts_type(), false),
        // Opted-out rows are kept (tracked = false) so reports can say how
        // many there were; `recipients` > 1 in aggregate mode.
        Field::new("tracked", DataType::Boolean, true),
        Field::new("recipients", DataType::Int64, true),
    ]))
}

/// Schema of `links`.
pub fn links_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("link_id", DataType::Utf8, false),
        Field::new("campaign_id", DataType::Utf8, false),
        Field::new("url", DataType::Utf8, false),
    ]))
}

/// One event, borrowed from the stages that produced it.
#[derive(Debug, Clone, Copy)]
pub struct EventRow<'a> {
    /// Hit time, UTC microseconds.
    pub ts: i64,
    /// `open`, `click` or `read` ([`crate::track::Kind::as_str`]).
    pub kind: &'static str,
    /// The token.
    pub token: &'a str,
    /// Campaign (shared among the manifest's rows, like the variant).
    pub campaign_id: &'a Arc<str>,
    /// Recipient.
    pub recipient_id: &'a str,
    /// Variant (empty = null).
    pub variant: &'a Arc<str>,
    /// Link id for clicks.
    pub link_id: Option<&'a str>,
    /// Identity of the link (its position in the links file): rows with
    /// the same one share `link_id` and `url`.
    pub link_key: Option<u32>,
    /// Link destination for clicks.
    pub url: Option<&'a str>,
    /// Send time, UTC microseconds.
    pub sent_at: i64,
    /// Client address as stored.
    pub ip: &'a str,
    /// Request method.
    pub method: &'a str,
    /// Response status.
    pub status: u16,
    /// Body bytes.
    pub bytes: Option<u64>,
    /// Referer (empty = null).
    pub referer: &'a str,
    /// User agent (empty = null).
    pub user_agent: &'a str,
    /// Identity of the parsed user agent, unique for the run: rows with the
    /// same one share `user_agent`, `ua_name`, `ua_category` and `os`.
    pub ua_key: u64,
    /// Client name.
    pub ua_name: Option<&'a str>,
    /// Device category.
    pub ua_category: Option<&'a str>,
    /// OS.
    pub os: Option<&'a str>,
    /// Country code. This and the other place texts are interned for the
    /// run ([`crate::enrich::geo::intern`]) and the network texts shared (a
    /// list's): rows are keyed by where the text is.
    pub country: Option<&'static str>,
    /// City.
    pub city: Option<&'static str>,
    /// Time zone.
    pub time_zone: Option<&'static str>,
    /// AS number.
    pub asn: Option<u32>,
    /// AS organisation.
    pub as_org: Option<&'static str>,
    /// Operator of the listed network the address is in.
    pub network: Option<&'a Arc<str>>,
    /// Class.
    pub class: &'a str,
    /// Rule id.
    pub rule_id: &'a str,
    /// Reason.
    pub reason: &'a str,
    /// Input name.
    pub source_file: &'a str,
    /// Line number.
    pub source_line: u64,
    /// Weekday (0 = Sunday) in the reader's time zone, when known.
    pub local_weekday: Option<u8>,
    /// Hour of day in the reader's time zone, when known.
    pub local_hour: Option<u8>,
    /// Version of the rules and lists that made the verdict.
    pub rules_version: &'a str,
    /// The most specific listed range (or `AS…`) the address matched.
    pub network_cidr: Option<&'a Arc<str>>,
    /// Roles of every listed network the address is in (empty = null), as
    /// [`crate::classify::RoleSet::names_shared`] gives them.
    pub network_roles: &'static str,
    /// Leading bits of the address kept in `ip` (null when hashed).
    pub ip_prefix: Option<u8>,
    /// Seconds the read-time image stayed open, when measured.
    pub read_seconds: Option<f64>,
}

fn opt(b: &mut StringBuilder, v: Option<&str>) {
    match v {
        Some(s) if !s.is_empty() => b.append_value(s),
        _ => b.append_null(),
    }
}

/// Row-by-row builders of the events' columns, with the methods of arrow's
/// builders: a `Vec` of values, and a validity bitmap from the first null
/// on. Arrow's builders do the same in substance, but each append was a
/// call the row loop did not inline (about 7% of ingest's CPU samples in
/// stop 24's profile); these are small enough to be.
mod lean {
    use std::sync::Arc;

    use arrow::array::{ArrowPrimitiveType, BooleanBufferBuilder, PrimitiveArray, StringArray};
    use arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
    use arrow::datatypes::DataType;

    /// Validity as rows come: nothing until the first null.
    #[derive(Default)]
    struct Validity(Option<BooleanBufferBuilder>);

    impl Validity {
        #[inline(always)]
        fn valid(&mut self) {
            if let Some(b) = &mut self.0 {
                b.append(true);
            }
        }

        #[cold]
        fn first_null(&mut self, before: usize, cap: usize) -> &mut BooleanBufferBuilder {
            let mut b = BooleanBufferBuilder::new(cap.max(before + 1));
            b.append_n(before, true);
            self.0.insert(b)
        }

        #[inline]
        fn null(&mut self, before: usize, cap: usize) {
            match &mut self.0 {
                Some(b) => b.append(false),
                None => self.first_null(before, cap).append(false),
            }
        }

        fn finish(&mut self) -> Option<NullBuffer> {
            self.0.take().map(|mut b| NullBuffer::new(b.finish()))
        }
    }

    /// A column of fixed-width values.
    pub struct Prim<T: ArrowPrimitiveType> {
        values: Vec<T::Native>,
        valid: Validity,
        data_type: DataType,
    }

    impl<T: ArrowPrimitiveType> Prim<T> {
        /// Room for `cap` rows.
        pub fn with_capacity(cap: usize) -> Self {
            Prim {
                values: Vec::with_capacity(cap),
                valid: Validity::default(),
                data_type: T::DATA_TYPE,
            }
        }

        /// Times in zone `tz`.
        pub fn with_timezone(mut self, tz: &str) -> Self {
            if let DataType::Timestamp(unit, _) = T::DATA_TYPE {
                self.data_type = DataType::Timestamp(unit, Some(Arc::from(tz)));
            }
            self
        }

        /// Appends a value.
        #[inline(always)]
        pub fn append_value(&mut self, v: T::Native) {
            self.valid.valid();
            self.values.push(v);
        }

        /// Appends a null.
        #[inline]
        pub fn append_null(&mut self) {
            self.valid.null(self.values.len(), self.values.capacity());
            self.values.push(T::Native::default());
        }

        /// Appends a value or a null.
        #[inline(always)]
        pub fn append_option(&mut self, v: Option<T::Native>) {
            match v {
                Some(v) => self.append_value(v),
                None => self.append_null(),
            }
        }

        /// Takes the rows as an array; the builder starts again, empty.
        pub fn finish(&mut self) -> PrimitiveArray<T> {
            let values = std::mem::take(&mut self.values);
            PrimitiveArray::<T>::new(ScalarBuffer::from(values), self.valid.finish())
                .with_data_type(self.data_type.clone())
        }
    }

    /// A text column.
    pub struct Text {
        bytes: Vec<u8>,
        offsets: Vec<i32>,
        valid: Validity,
    }

    impl Text {
        /// Room for `items` rows of `bytes` bytes in all.
        pub fn with_capacity(items: usize, bytes: usize) -> Self {
            let mut offsets = Vec::with_capacity(items + 1);
            offsets.push(0);
            Text {
                bytes: Vec::with_capacity(bytes),
                offsets,
                valid: Validity::default(),
            }
        }

        #[inline(always)]
        fn end(&mut self) {
            let end =
                i32::try_from(self.bytes.len()).expect("a batch's text column is under 2 GiB");
            self.offsets.push(end);
        }

        /// Appends a text.
        #[inline(always)]
        pub fn append_value(&mut self, v: &str) {
            self.valid.valid();
            self.bytes.extend_from_slice(v.as_bytes());
            self.end();
        }

        /// Appends a null.
        #[inline]
        pub fn append_null(&mut self) {
            self.valid
                .null(self.offsets.len() - 1, self.offsets.capacity());
            self.end();
        }

        /// Appends a text, or a null when it is missing or empty.
        #[inline(always)]
        pub fn append_nonempty(&mut self, v: Option<&str>) {
            match v {
                Some(s) if !s.is_empty() => self.append_value(s),
                _ => self.append_null(),
            }
        }

        /// Takes the rows as an array; the builder starts again, empty.
        pub fn finish(&mut self) -> StringArray {
            let offsets = std::mem::replace(&mut self.offsets, vec![0]);
            let bytes = std::mem::take(&mut self.bytes);
            // SAFETY: the offsets start at 0, never decrease and end at the
            // bytes' length, and every value appended was a whole `&str`.
            unsafe {
                StringArray::new_unchecked(
                    OffsetBuffer::new_unchecked(ScalarBuffer::from(offsets)),
                    Buffer::from_vec(bytes),
                    self.valid.finish(),
                )
            }
        }
    }
}

use lean::{Prim, Text};
type Keys = Prim<arrow::datatypes::Int32Type>;

/// Columns whose values come from one looked-up thing (a user agent, a
/// link) and repeat with it: each row appends one key, shared by the
/// columns, and the values are copied once per thing per batch, as
/// dictionary arrays (an empty value is a null value). Parquet writes them
/// as plain strings, so files and readers see ordinary columns.
struct Keyed {
    keys: Keys,
    values: Vec<StringBuilder>,
    seen: foldhash::HashMap<u64, i32>,
    /// Things so far: asking a builder costs a call a row.
    count: i32,
}

impl Keyed {
    fn new(columns: usize, cap: usize) -> Self {
        Keyed {
            keys: Keys::with_capacity(cap),
            values: (0..columns).map(|_| StringBuilder::new()).collect(),
            seen: foldhash::HashMap::default(),
            count: 0,
        }
    }

    /// Appends the row of thing `id`, whose values are `vals` (`None` or
    /// empty = null); `vals` is called only for a thing new to the batch.
    fn append<'v, const N: usize>(&mut self, id: u64, vals: impl FnOnce() -> [Option<&'v str>; N]) {
        let next = self.count;
        let k = *self.seen.entry(id).or_insert(next);
        if k == next {
            self.count += 1;
            for (b, v) in self.values.iter_mut().zip(vals()) {
                match v {
                    Some(s) if !s.is_empty() => b.append_value(s),
                    _ => b.append_null(),
                }
            }
        }
        self.keys.append_value(k);
    }

    fn append_null(&mut self) {
        self.keys.append_null();
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        self.seen.clear();
        self.count = 0;
        let keys = self.keys.finish();
        self.values
            .iter_mut()
            .map(|v| dictionary(&keys, v.finish()))
            .collect()
    }
}

/// Where a text of a [`Group`] is, and what keeps it there while the batch
/// is built.
#[derive(Clone, Copy)]
enum Held<'a> {
    /// Shared (a campaign, a GeoIP record's place, a list's operator): the
    /// batch holds a clone of the `Arc`.
    Shared(&'a Arc<str>),
    /// There for the whole run.
    Static(&'static str),
    /// No text.
    Missing,
}

impl Held<'_> {
    fn of(v: Option<&Arc<str>>) -> Held<'_> {
        v.map_or(Held::Missing, Held::Shared)
    }

    /// A text kept for the whole run (an interned GeoIP name), or none.
    fn lasting(v: Option<&'static str>) -> Held<'static> {
        v.map_or(Held::Missing, Held::Static)
    }

    #[inline]
    fn text(&self) -> Option<&str> {
        match self {
            Held::Shared(a) => Some(a),
            Held::Static(s) => Some(s),
            Held::Missing => None,
        }
    }

    /// Address and length: the same for the same text held the same way.
    #[inline]
    fn place(&self) -> (usize, usize) {
        self.text()
            .map_or((0, 0), |s| (s.as_ptr() as usize, s.len()))
    }
}

/// Text columns of few distinct values that come together, each text
/// shared for the run or held by its rows (the send: kind, campaign and
/// variant; a GeoIP record's place; a network list's operator and range):
/// a row appends one key for the group, found in a small table by where
/// its texts are, without hashing any text, and each combination's texts
/// are copied once a batch. Rows of one place share its texts whatever
/// the address, so a batch of thousands of addresses holds a few dozen
/// places; the encoder then maps keys instead of interning every row's
/// texts again.
struct Group<const N: usize> {
    keys: Keys,
    values: [StringBuilder; N],
    /// Columns where an empty text is a value, not a null.
    required: [bool; N],
    /// Open addressing by where the texts are: (places, key), a key of -1
    /// for a free slot.
    slots: Vec<([(usize, usize); N], i32)>,
    /// The batch's shared texts, held so that no address is freed and
    /// reused for another text before the batch is finished.
    pins: Vec<Arc<str>>,
}

impl<const N: usize> Group<N> {
    fn new(cap: usize, required: [bool; N]) -> Self {
        Group {
            keys: Keys::with_capacity(cap),
            values: std::array::from_fn(|_| StringBuilder::new()),
            required,
            slots: vec![([(0, 0); N], -1); 64],
            pins: Vec::new(),
        }
    }

    #[inline]
    fn slot(&self, places: &[(usize, usize); N]) -> usize {
        // Fibonacci hashing of the addresses: the top bits of the product,
        // as many as the table has slots.
        let mut h = 0u64;
        for (addr, _) in places {
            h = (h ^ *addr as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
        (h >> (64 - self.slots.len().trailing_zeros())) as usize
    }

    /// Appends a row's texts.
    #[inline]
    fn append(&mut self, texts: [Held<'_>; N]) {
        let places = texts.map(|t| t.place());
        let mask = self.slots.len() - 1;
        let mut i = self.slot(&places);
        loop {
            let (p, k) = &self.slots[i];
            if *k < 0 {
                break;
            }
            if *p == places {
                self.keys.append_value(*k);
                return;
            }
            i = (i + 1) & mask;
        }
        let k = self.add(texts);
        self.slots[i] = (places, k);
        self.keys.append_value(k);
        // At most half full, so a probe ends soon at a free slot.
        if (k as usize + 1) * 2 > self.slots.len() {
            self.grow();
        }
    }

    #[cold]
    fn add(&mut self, texts: [Held<'_>; N]) -> i32 {
        let k = self.values[0].len() as i32;
        for ((b, t), required) in self.values.iter_mut().zip(texts).zip(self.required) {
            match t.text() {
                Some(s) if required || !s.is_empty() => b.append_value(s),
                _ => b.append_null(),
            }
            if let Held::Shared(a) = t {
                self.pins.push(a.clone());
            }
        }
        k
    }

    #[cold]
    fn grow(&mut self) {
        let size = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![([(0, 0); N], -1); size]);
        let mask = self.slots.len() - 1;
        for e in old.into_iter().filter(|e| e.1 >= 0) {
            let mut i = self.slot(&e.0);
            while self.slots[i].1 >= 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = e;
        }
    }

    fn finish(&mut self) -> [ArrayRef; N] {
        self.slots.fill(([(0, 0); N], -1));
        self.pins.clear();
        let keys = self.keys.finish();
        self.values
            .each_mut()
            .map(|v| dictionary(&keys, v.finish()))
    }
}

/// A dictionary array of keys this module handed out, each the index of a
/// value appended to `values`: built without arrow's check of every key,
/// which ran once per column, and several columns share their keys.
fn dictionary(
    keys: &arrow::array::PrimitiveArray<arrow::datatypes::Int32Type>,
    values: arrow::array::StringArray,
) -> ArrayRef {
    debug_assert!(keys
        .iter()
        .flatten()
        .all(|k| k >= 0 && (k as usize) < arrow::array::Array::len(&values)));
    // SAFETY: every key appended is the position a value was appended at
    // (Keyed::append, Group::append, Repeated::append), below the values'
    // count, and the keys' type is the dictionary's key type.
    Arc::new(unsafe {
        arrow::array::DictionaryArray::new_unchecked(keys.clone(), Arc::new(values))
    })
}

/// The type of a keyed column as [`EventBuilder`] makes it.
fn keyed_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// A string column of one value for a whole batch, usually (the input's
/// name, the rules version): a row appends a key, the value is kept once.
struct Repeated {
    keys: Keys,
    values: StringBuilder,
    last: String,
    /// Values so far: asking the builder costs a call a row.
    count: i32,
}

impl Repeated {
    fn new(cap: usize) -> Self {
        Repeated {
            keys: Keys::with_capacity(cap),
            values: StringBuilder::new(),
            last: String::new(),
            count: 0,
        }
    }

    fn append(&mut self, v: &str) {
        if self.count == 0 || self.last != v {
            self.values.append_value(v);
            self.last.clear();
            self.last.push_str(v);
            self.count += 1;
        }
        self.keys.append_value(self.count - 1);
    }

    fn finish(&mut self) -> ArrayRef {
        self.last.clear();
        self.count = 0;
        dictionary(&self.keys.finish(), self.values.finish())
    }
}

/// Column builders for `events`.
pub struct EventBuilder {
    ts: Prim<TimestampMicrosecondType>,
    strs: Vec<Text>,
    /// user_agent, ua_name, ua_category, os by user agent.
    ua: Keyed,
    /// link_id, url by link.
    link: Keyed,
    /// kind, campaign_id, variant.
    send: Group<3>,
    /// country, city, time_zone, as_org.
    place: Group<4>,
    /// network, network_cidr, network_roles.
    net: Group<3>,
    source_file: Repeated,
    rules_version: Repeated,
    sent_at: Prim<TimestampMicrosecondType>,
    secs: Prim<Int64Type>,
    status: Prim<Int32Type>,
    bytes: Prim<Int64Type>,
    asn: Prim<Int64Type>,
    line: Prim<Int64Type>,
    local_weekday: Prim<Int32Type>,
    local_hour: Prim<Int32Type>,
    ip_prefix: Prim<Int32Type>,
    read_seconds: Prim<Float64Type>,
    verdicts: bool,
    len: usize,
    len_at_finish: usize,
}

// Positions in `strs`, in schema order.
const S_TOKEN: usize = 0;
const S_RECIPIENT: usize = 1;
const S_IP: usize = 2;
const S_METHOD: usize = 3;
const S_REFERER: usize = 4;
const S_CLASS: usize = 5;
const S_RULE: usize = 6;
const S_REASON: usize = 7;
const N_STRS: usize = 8;

/// Typical bytes per value of each string column, in `strs` order: the
/// builders start that big, so a block's rows fit without regrowing.
const TYPICAL_LEN: [usize; N_STRS] = [22, 10, 14, 3, 8, 8, 16, 44];

/// The schema of the batches [`EventBuilder::finish`] makes: the events
/// schema, with the keyed and repeated columns as dictionaries.
pub fn events_built_schema() -> SchemaRef {
    let keyed = [
        "link_id",
        "url",
        "user_agent",
        "ua_name",
        "ua_category",
        "os",
        "source_file",
        "rules_version",
        "kind",
        "campaign_id",
        "variant",
        "country",
        "city",
        "time_zone",
        "as_org",
        "network",
        "network_cidr",
        "network_roles",
    ];
    Arc::new(Schema::new(
        events_schema()
            .fields()
            .iter()
            .map(|f| {
                if keyed.contains(&f.name().as_str()) {
                    Field::new(f.name(), keyed_type(), f.is_nullable())
                } else {
                    f.as_ref().clone()
                }
            })
            .collect::<Vec<_>>(),
    ))
}

impl EventBuilder {
    /// Builders sized for `cap` rows.
    pub fn with_capacity(cap: usize) -> Self {
        EventBuilder {
            ts: Prim::with_capacity(cap).with_timezone("UTC"),
            strs: TYPICAL_LEN
                .iter()
                .map(|len| Text::with_capacity(cap, cap * len))
                .collect(),
            ua: Keyed::new(4, cap),
            link: Keyed::new(2, cap),
            send: Group::new(cap, [true, true, false]),
            place: Group::new(cap, [false; 4]),
            net: Group::new(cap, [false; 3]),
            source_file: Repeated::new(cap),
            rules_version: Repeated::new(cap),
            sent_at: Prim::with_capacity(cap).with_timezone("UTC"),
            secs: Prim::with_capacity(cap),
            status: Prim::with_capacity(cap),
            bytes: Prim::with_capacity(cap),
            asn: Prim::with_capacity(cap),
            line: Prim::with_capacity(cap),
            local_weekday: Prim::with_capacity(cap),
            local_hour: Prim::with_capacity(cap),
            ip_prefix: Prim::with_capacity(cap),
            read_seconds: Prim::with_capacity(cap),
            verdicts: true,
            len: 0,
            len_at_finish: 0,
        }
    }

    /// Leaves `class`, `rule_id` and `reason` empty: for rows whose
    /// verdicts are written later from tags (see [`crate::encode`]).
    pub fn without_verdicts(mut self) -> Self {
        self.verdicts = false;
        self
    }

    /// Rows appended since the last [`EventBuilder::finish`].
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no rows are pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends one event.
    pub fn append(&mut self, r: &EventRow<'_>) {
        self.ts.append_value(r.ts);
        let s = &mut self.strs;
        self.send.append([
            Held::Static(r.kind),
            Held::Shared(r.campaign_id),
            Held::Shared(r.variant),
        ]);
        s[S_TOKEN].append_value(r.token);
        s[S_RECIPIENT].append_value(r.recipient_id);
        match r.link_key {
            Some(k) => self.link.append(k as u64, || [r.link_id, r.url]),
            None => self.link.append_null(),
        }
        s[S_IP].append_value(r.ip);
        s[S_METHOD].append_value(r.method);
        s[S_REFERER].append_nonempty(Some(r.referer));
        self.ua.append(r.ua_key, || {
            [Some(r.user_agent), r.ua_name, r.ua_category, r.os]
        });
        self.place.append([
            Held::lasting(r.country),
            Held::lasting(r.city),
            Held::lasting(r.time_zone),
            Held::lasting(r.as_org),
        ]);
        self.net.append([
            Held::of(r.network),
            Held::of(r.network_cidr),
            Held::Static(r.network_roles),
        ]);
        if self.verdicts {
            s[S_CLASS].append_value(r.class);
            s[S_RULE].append_value(r.rule_id);
            s[S_REASON].append_value(r.reason);
        }
        self.source_file.append(r.source_file);
        self.rules_version.append(r.rules_version);
        self.ip_prefix.append_option(r.ip_prefix.map(i32::from));
        self.read_seconds.append_option(r.read_seconds);
        self.sent_at.append_value(r.sent_at);
        self.secs
            .append_value((r.ts - r.sent_at).div_euclid(1_000_000));
        self.status.append_value(r.status as i32);
        self.bytes.append_option(r.bytes.map(|b| b as i64));
        self.asn.append_option(r.asn.map(|a| a as i64));
        self.line.append_value(r.source_line as i64);
        self.local_weekday
            .append_option(r.local_weekday.map(i32::from));
        self.local_hour.append_option(r.local_hour.map(i32::from));
        self.len += 1;
    }

    /// Takes the pending rows as a batch of [`events_built_schema`]: the
    /// events' columns, some as dictionaries. `forwarded`, `trap_hit` and
    /// the burst columns are false and null here: only the message-level
    /// pass can tell.
    pub fn finish(&mut self) -> RecordBatch {
        let n = self.len;
        self.len_at_finish = n;
        self.len = 0;
        let mut s: Vec<ArrayRef> = self
            .strs
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        if !self.verdicts {
            let empty: ArrayRef = Arc::new(arrow::array::StringArray::new_repeated("", n));
            for i in [S_CLASS, S_RULE, S_REASON] {
                s[i] = empty.clone();
            }
        }
        let mut take =
            |i: usize| std::mem::replace(&mut s[i], Arc::new(arrow::array::NullArray::new(0)));
        let [kind, campaign, variant] = self.send.finish();
        let [country, city, tz, as_org] = self.place.finish();
        let [network, net_cidr, net_roles] = self.net.finish();
        let mut ua = self.ua.finish().into_iter();
        let mut link = self.link.finish().into_iter();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.ts.finish()),
            kind,
            take(S_TOKEN),
            campaign,
            take(S_RECIPIENT),
            variant,
            link.next().expect("link_id"),
            link.next().expect("url"),
            Arc::new(self.sent_at.finish()),
            Arc::new(self.secs.finish()),
            take(S_IP),
            take(S_METHOD),
            Arc::new(self.status.finish()),
            Arc::new(self.bytes.finish()),
            take(S_REFERER),
            ua.next().expect("user_agent"),
            ua.next().expect("ua_name"),
            ua.next().expect("ua_category"),
            ua.next().expect("os"),
            country,
            city,
            tz,
            Arc::new(self.asn.finish()),
            as_org,
            network,
            take(S_CLASS),
            take(S_RULE),
            take(S_REASON),
            self.source_file.finish(),
            Arc::new(self.line.finish()),
            Arc::new(arrow::array::BooleanArray::from(vec![false; n])),
            Arc::new(self.local_weekday.finish()),
            Arc::new(self.local_hour.finish()),
            self.rules_version.finish(),
            net_cidr,
            net_roles,
            Arc::new(self.ip_prefix.finish()),
            arrow::array::new_null_array(&DataType::Int32, n),
            arrow::array::new_null_array(&DataType::Float64, n),
            Arc::new(arrow::array::BooleanArray::from(vec![false; n])),
            Arc::new(self.read_seconds.finish()),
        ];
        RecordBatch::try_new(events_built_schema(), cols).expect("event columns match the schema")
    }
}

/// Column builders for `rejects`.
pub struct RejectBuilder {
    file: StringBuilder,
    line: Int64Builder,
    reason: StringBuilder,
    detail: StringBuilder,
    raw: StringBuilder,
    len: usize,
}

impl Default for RejectBuilder {
    fn default() -> Self {
        RejectBuilder {
            file: StringBuilder::new(),
            line: Int64Builder::new(),
            reason: StringBuilder::new(),
            detail: StringBuilder::new(),
            raw: StringBuilder::new(),
            len: 0,
        }
    }
}

impl RejectBuilder {
    /// Rows pending.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no rows are pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends one reject. Raw bytes that are not UTF-8 are kept with
    /// U+FFFD in their place (nginx itself escapes such bytes as `\xHH`).
    pub fn append(&mut self, file: &str, line: u64, reason: &str, detail: &str, raw: &[u8]) {
        self.file.append_value(file);
        self.line.append_value(line as i64);
        self.reason.append_value(reason);
        self.detail.append_value(detail);
        self.raw.append_value(String::from_utf8_lossy(raw));
        self.len += 1;
    }

    /// Takes the pending rows as a batch.
    pub fn finish(&mut self) -> RecordBatch {
        self.len = 0;
        RecordBatch::try_new(
            rejects_schema(),
            vec![
                Arc::new(self.file.finish()),
                Arc::new(self.line.finish()),
                Arc::new(self.reason.finish()),
                Arc::new(self.detail.finish()),
                Arc::new(self.raw.finish()),
            ],
        )
        .expect("reject columns match the schema")
    }
}

/// The manifest copy as a batch.
pub fn recipients_batch(rows: &[&crate::manifest::Recipient]) -> RecordBatch {
    let (mut t, mut c, mut r, mut v) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    let mut sent = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut tracked = arrow::array::BooleanBuilder::new();
    let mut count = Int64Builder::new();
    for x in rows {
        t.append_value(&x.token);
        c.append_value(&x.campaign_id);
        r.append_value(&x.recipient_id);
        opt(&mut v, Some(&x.variant));
        sent.append_value(x.sent_at);
        tracked.append_value(x.tracked);
        count.append_value(x.recipients as i64);
    }
    RecordBatch::try_new(
        manifest_schema(),
        vec![
            Arc::new(t.finish()),
            Arc::new(c.finish()),
            Arc::new(r.finish()),
            Arc::new(v.finish()),
            Arc::new(sent.finish()),
            Arc::new(tracked.finish()),
            Arc::new(count.finish()),
        ],
    )
    .expect("manifest columns match the schema")
}

/// The links copy as a batch.
pub fn links_batch(rows: &[&crate::manifest::Link]) -> RecordBatch {
    let (mut l, mut c, mut u) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    for x in rows {
        l.append_value(&x.link_id);
        c.append_value(&x.campaign_id);
        u.append_value(&x.url);
    }
    RecordBatch::try_new(
        links_schema(),
        vec![
            Arc::new(l.finish()),
            Arc::new(c.finish()),
            Arc::new(u.finish()),
        ],
    )
    .expect("links columns match the schema")
}

fn string_col<'a>(b: &'a RecordBatch, name: &str) -> Option<&'a arrow::array::StringArray> {
    b.column_by_name(name)?.as_any().downcast_ref()
}

/// Reads manifest rows back from batches of the manifest copy.
pub fn recipients_from(batches: &[RecordBatch]) -> Vec<crate::manifest::Recipient> {
    use arrow::array::Array;
    let mut out = Vec::new();
    let mut names = crate::manifest::Names::default();
    for b in batches {
        let (Some(t), Some(c), Some(r), Some(v)) = (
            string_col(b, "token"),
            string_col(b, "campaign_id"),
            string_col(b, "recipient_id"),
            string_col(b, "variant"),
        ) else {
            continue;
        };
        let Some(s) = b.column_by_name("sent_at").and_then(|s| {
            s.as_any()
                .downcast_ref::<arrow::array::TimestampMicrosecondArray>()
        }) else {
            continue;
        };
        use arrow::array::AsArray;
        let tracked = b.column_by_name("tracked").map(|c| c.as_boolean().clone());
        let count = b
            .column_by_name("recipients")
            .map(|c| c.as_primitive::<arrow::datatypes::Int64Type>().clone());
        for i in 0..b.num_rows() {
            out.push(crate::manifest::Recipient {
                tracked: tracked.as_ref().is_none_or(|a| a.is_null(i) || a.value(i)),
                recipients: count
                    .as_ref()
                    .filter(|a| !a.is_null(i))
                    .map_or(1, |a| a.value(i) as u32),
                token: t.value(i).into(),
                campaign_id: names.get(c.value(i)),
                recipient_id: r.value(i).into(),
                variant: names.get(if v.is_null(i) { "" } else { v.value(i) }),
                sent_at: s.value(i),
            });
        }
    }
    out
}

/// Reads links back from batches of the links copy.
pub fn links_from(batches: &[RecordBatch]) -> Vec<crate::manifest::Link> {
    let mut out = Vec::new();
    for b in batches {
        let (Some(l), Some(c), Some(u)) = (
            string_col(b, "link_id"),
            string_col(b, "campaign_id"),
            string_col(b, "url"),
        ) else {
            continue;
        };
        for i in 0..b.num_rows() {
            out.push(crate::manifest::Link {
                link_id: l.value(i).into(),
                campaign_id: c.value(i).into(),
                url: u.value(i).into(),
            });
        }
    }
    out
}

/// The columns of `events` that the message-level pass may change, in the
/// order they are made by [`revisable_columns`].
pub const REVISABLE: [&str; 7] = [
    "class",
    "rule_id",
    "reason",
    "forwarded",
    "trap_hit",
    "burst_hits",
    "burst_seconds",
];

/// The [`REVISABLE`] columns of rows whose first verdicts are
/// `verdict(tag)` (class, rule, reason), with the message-level pass's
/// changes applied to the rows listed (ascending row numbers).
///
/// Class, rule and reason come as dictionary arrays sharing one key per
/// row: a slice holds a few dozen distinct verdicts, so each is copied
/// once and the encoder maps keys instead of looking up every row's text.
pub fn revisable_columns<'v>(
    tags: &[u16],
    verdict: impl Fn(u16) -> (&'v str, &'v str, &'v str),
    rows: &[(usize, &crate::classify::message::Change)],
) -> Vec<ArrayRef> {
    use arrow::array::{BooleanArray, DictionaryArray, Float64Array, Int32Array, StringArray};
    use arrow::buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};
    let n = tags.len();
    // Every row's verdict by its tag, in one pass; then the few changed
    // rows (a message-level finding is rare next to the rows) are set on
    // top: a row at a time through builders, this took about a third of
    // the seal's time.
    let mut verdicts: Vec<(&'v str, &'v str, &'v str)> = Vec::new();
    let mut by_tag: Vec<i32> = Vec::new();
    let mut keys: Vec<i32> = tags
        .iter()
        .map(|&tag| {
            let tag = tag as usize;
            if tag >= by_tag.len() {
                by_tag.resize(tag + 1, -1);
            }
            if by_tag[tag] < 0 {
                verdicts.push(verdict(tag as u16));
                by_tag[tag] = verdicts.len() as i32 - 1;
            }
            by_tag[tag]
        })
        .collect();
    let mut forwarded = arrow::buffer::MutableBuffer::new_null(n);
    let mut trap = arrow::buffer::MutableBuffer::new_null(n);
    let mut burst_valid = arrow::buffer::MutableBuffer::new_null(n);
    let mut hits = vec![0i32; n];
    let mut seconds = vec![0f64; n];
    for &(row, ch) in rows {
        if let Some((cl, ru, re)) = ch.class {
            let v = (cl.as_str(), ru, re);
            keys[row] = match verdicts.iter().position(|x| *x == v) {
                Some(k) => k as i32,
                None => {
                    verdicts.push(v);
                    verdicts.len() as i32 - 1
                }
            };
        }
        if ch.forwarded {
            arrow::util::bit_util::set_bit(forwarded.as_slice_mut(), row);
        }
        if ch.trap {
            arrow::util::bit_util::set_bit(trap.as_slice_mut(), row);
        }
        if let Some((h, sec)) = ch.burst {
            arrow::util::bit_util::set_bit(burst_valid.as_slice_mut(), row);
            hits[row] = h as i32;
            seconds[row] = sec;
        }
    }
    let bits = |b: arrow::buffer::MutableBuffer| BooleanBuffer::new(b.into(), 0, n);
    let burst_nulls = Some(NullBuffer::new(bits(burst_valid))).filter(|v| v.null_count() > 0);
    let keys = Int32Array::from(keys);
    let column = |pick: fn(&(&'v str, &'v str, &'v str)) -> &'v str| -> ArrayRef {
        let values = StringArray::from_iter_values(verdicts.iter().map(pick));
        // SAFETY: every key is a position in `verdicts`, whose values these
        // are, and the keys' type is the dictionary's key type.
        Arc::new(unsafe { DictionaryArray::new_unchecked(keys.clone(), Arc::new(values)) })
    };
    vec![
        column(|v| v.0),
        column(|v| v.1),
        column(|v| v.2),
        Arc::new(BooleanArray::new(bits(forwarded), None)),
        Arc::new(BooleanArray::new(bits(trap), None)),
        Arc::new(Int32Array::new(
            ScalarBuffer::from(hits),
            burst_nulls.clone(),
        )),
        Arc::new(Float64Array::new(ScalarBuffer::from(seconds), burst_nulls)),
    ]
}

/// The verdict of one stored event and the evidence it rests on: the
/// columns that the message-level pass and `reclassify` may change.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVerdict {
    /// `class`.
    pub class: String,
    /// `rule_id`.
    pub rule_id: String,
    /// `reason`.
    pub reason: String,
    /// `forwarded`.
    pub forwarded: bool,
    /// `rules_version`.
    pub rules_version: Option<String>,
    /// `network`.
    pub network: Option<String>,
    /// `network_cidr`.
    pub network_cidr: Option<String>,
    /// `network_roles`.
    pub network_roles: Option<String>,
    /// `burst_hits`.
    pub burst_hits: Option<i32>,
    /// `burst_seconds`.
    pub burst_seconds: Option<f64>,
    /// `trap_hit`.
    pub trap_hit: Option<bool>,
}

/// The verdict columns that [`StoredVerdict`] covers.
pub const VERDICT_COLUMNS: [&str; 11] = [
    "class",
    "rule_id",
    "reason",
    "forwarded",
    "rules_version",
    "network",
    "network_cidr",
    "network_roles",
    "burst_hits",
    "burst_seconds",
    "trap_hit",
];

/// Reads the verdict of every row of an `events` batch (any version, or
/// only its [`VERDICT_COLUMNS`]: columns it lacks read as nulls).
pub fn verdicts_of(batch: &RecordBatch) -> Vec<StoredVerdict> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, Int32Type};
    let schema = events_schema();
    let column = |n: &str| -> ArrayRef {
        batch.column_by_name(n).cloned().unwrap_or_else(|| {
            let f = schema.field_with_name(n).expect("an events column");
            arrow::array::new_null_array(f.data_type(), batch.num_rows())
        })
    };
    let st = |n: &str| column(n).as_string::<i32>().clone();
    let (class, rule, reason, version, network, cidr, roles) = (
        st("class"),
        st("rule_id"),
        st("reason"),
        st("rules_version"),
        st("network"),
        st("network_cidr"),
        st("network_roles"),
    );
    let fwd = column("forwarded").as_boolean().clone();
    let trap = column("trap_hit").as_boolean().clone();
    let bh = column("burst_hits").as_primitive::<Int32Type>().clone();
    let bs = column("burst_seconds")
        .as_primitive::<Float64Type>()
        .clone();
    let ostr =
        |a: &arrow::array::StringArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_string());
    (0..batch.num_rows())
        .map(|i| StoredVerdict {
            class: class.value(i).to_string(),
            rule_id: rule.value(i).to_string(),
            reason: reason.value(i).to_string(),
            forwarded: fwd.value(i),
            rules_version: ostr(&version, i),
            network: ostr(&network, i),
            network_cidr: ostr(&cidr, i),
            network_roles: ostr(&roles, i),
            burst_hits: (!bh.is_null(i)).then(|| bh.value(i)),
            burst_seconds: (!bs.is_null(i)).then(|| bs.value(i)),
            trap_hit: (!trap.is_null(i)).then(|| trap.value(i)),
        })
        .collect()
}

/// The batch (conformed to the current schema) with its verdict columns
/// replaced by `v`, one per row.
pub fn with_verdicts(batch: &RecordBatch, v: &[StoredVerdict]) -> RecordBatch {
    use arrow::array::{BooleanArray, Float64Array, Int32Array, StringArray};
    assert_eq!(batch.num_rows(), v.len(), "one verdict per row");
    let b = conform(batch);
    let schema = b.schema();
    let mut cols = b.columns().to_vec();
    let strs = |f: &dyn Fn(&StoredVerdict) -> Option<&str>| -> ArrayRef {
        Arc::new(v.iter().map(f).collect::<StringArray>())
    };
    for name in VERDICT_COLUMNS {
        let col: ArrayRef = match name {
            "class" => strs(&|x| Some(x.class.as_str())),
            "rule_id" => strs(&|x| Some(x.rule_id.as_str())),
            "reason" => strs(&|x| Some(x.reason.as_str())),
            "rules_version" => strs(&|x| x.rules_version.as_deref()),
            "network" => strs(&|x| x.network.as_deref()),
            "network_cidr" => strs(&|x| x.network_cidr.as_deref()),
            "network_roles" => strs(&|x| x.network_roles.as_deref()),
            "forwarded" => Arc::new(
                v.iter()
                    .map(|x| Some(x.forwarded))
                    .collect::<BooleanArray>(),
            ),
            "trap_hit" => Arc::new(v.iter().map(|x| x.trap_hit).collect::<BooleanArray>()),
            "burst_hits" => Arc::new(v.iter().map(|x| x.burst_hits).collect::<Int32Array>()),
            "burst_seconds" => {
                Arc::new(v.iter().map(|x| x.burst_seconds).collect::<Float64Array>())
            }
            _ => unreachable!("listed above"),
        };
        cols[schema.index_of(name).expect("events column")] = col;
    }
    RecordBatch::try_new(schema, cols).expect("same schema")
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};

    /// The verdict and evidence columns of a slice: each row's verdict by
    /// its tag, the changed rows' new class and evidence, false and null
    /// elsewhere.
    #[test]
    fn revisable_columns_hold_each_rows_verdict_and_evidence() {
        use crate::classify::message::Change;
        use crate::classify::Class;
        use arrow::datatypes::{Float64Type, Int32Type};
        let tags = [0u16, 1, 0, 2, 1, 0];
        let verdict = |t: u16| match t {
            0 => ("human", "default", "looks human"),
            1 => ("apple_mpp", "mpp", "Apple"),
            _ => ("crawler", "bot", "a bot"),
        };
        let burst = Change {
            class: Some((Class::Scanner, "message.link_burst", "links in a burst")),
            forwarded: false,
            burst: Some((3, 1.5)),
            trap: true,
        };
        let fwd = Change {
            class: None,
            forwarded: true,
            burst: None,
            trap: false,
        };
        let cols = revisable_columns(&tags, verdict, &[(0, &burst), (2, &fwd), (5, &burst)]);
        let text = |c: &ArrayRef| -> Vec<String> {
            let s = arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8).unwrap();
            let s = s.as_string::<i32>();
            (0..s.len()).map(|i| s.value(i).to_string()).collect()
        };
        assert_eq!(
            text(&cols[0]),
            [
                "scanner",
                "apple_mpp",
                "human",
                "crawler",
                "apple_mpp",
                "scanner"
            ]
        );
        assert_eq!(
            text(&cols[1]),
            [
                "message.link_burst",
                "mpp",
                "default",
                "bot",
                "mpp",
                "message.link_burst"
            ]
        );
        assert_eq!(text(&cols[2])[3], "a bot");
        let bools = |c: &ArrayRef| -> Vec<bool> {
            let b = c.as_boolean();
            assert_eq!(b.null_count(), 0);
            (0..b.len()).map(|i| b.value(i)).collect()
        };
        assert_eq!(bools(&cols[3]), [false, false, true, false, false, false]);
        assert_eq!(bools(&cols[4]), [true, false, false, false, false, true]);
        let hits = cols[5].as_primitive::<Int32Type>();
        let secs = cols[6].as_primitive::<Float64Type>();
        let opt = |i: usize| (hits.is_valid(i)).then(|| (hits.value(i), secs.value(i)));
        assert_eq!(
            (0..6).map(opt).collect::<Vec<_>>(),
            [Some((3, 1.5)), None, None, None, None, Some((3, 1.5))]
        );
        assert_eq!(secs.null_count(), 4);
        // Nothing changed: no nulls buffer needed, and no evidence.
        let cols = revisable_columns(&tags, verdict, &[]);
        assert_eq!(text(&cols[0])[3], "crawler");
        assert_eq!(cols[5].null_count(), 6);
    }

    fn row<'a>(ua_key: u64, ua: &'a str, name: Option<&'a str>, link: Option<u32>) -> EventRow<'a> {
        static CAMPAIGN: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| "c".into());
        static VARIANT: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| "".into());
        EventRow {
            ts: 1_790_000_000_000_000,
            kind: "open",
            token: "t",
            campaign_id: &CAMPAIGN,
            recipient_id: "r",
            variant: &VARIANT,
            link_id: link.map(|_| "c-l1"),
            link_key: link,
            url: link.map(|_| "https://example.com/"),
            sent_at: 1_790_000_000_000_000,
            ip: "192.0.2.0",
            method: "GET",
            status: 200,
            bytes: Some(43),
            referer: "",
            user_agent: ua,
            ua_key,
            ua_name: name,
            ua_category: None,
            os: Some(""),
            country: None,
            city: None,
            time_zone: None,
            asn: None,
            as_org: None,
            network: None,
            class: "human",
            rule_id: "default.human",
            reason: "no machine signal",
            source_file: if ua_key == 2 { "b.log" } else { "a.log" },
            source_line: 1,
            local_weekday: None,
            local_hour: None,
            rules_version: "rs-1",
            network_cidr: None,
            network_roles: "",
            ip_prefix: None,
            read_seconds: None,
        }
    }

    /// Keyed and repeated columns read back as the strings and nulls the
    /// rows gave: empty and missing values are nulls, a thing seen again
    /// reuses its values, and a changed repeated value is kept.
    #[test]
    fn keyed_columns_hold_each_rows_values() {
        let mut b = EventBuilder::with_capacity(4);
        b.append(&row(1, "Mozilla/5.0", Some("Firefox"), Some(7)));
        b.append(&row(2, "", None, None));
        b.append(&row(1, "Mozilla/5.0", Some("Firefox"), Some(7)));
        let batch = b.finish();
        let text = |name: &str| -> Vec<Option<String>> {
            let c =
                arrow::compute::cast(batch.column_by_name(name).unwrap(), &DataType::Utf8).unwrap();
            let s = c.as_string::<i32>();
            (0..s.len())
                .map(|i| (!s.is_null(i)).then(|| s.value(i).to_string()))
                .collect()
        };
        let some = |v: &str| Some(v.to_string());
        assert_eq!(
            text("user_agent"),
            vec![some("Mozilla/5.0"), None, some("Mozilla/5.0")]
        );
        assert_eq!(
            text("ua_name"),
            vec![some("Firefox"), None, some("Firefox")]
        );
        assert_eq!(text("os"), vec![None, None, None]);
        assert_eq!(
            text("url"),
            vec![
                some("https://example.com/"),
                None,
                some("https://example.com/")
            ]
        );
        assert_eq!(
            text("source_file"),
            vec![some("a.log"), some("b.log"), some("a.log")]
        );
        assert_eq!(text("rules_version"), vec![some("rs-1"); 3]);
        assert_eq!(text("class"), vec![some("human"); 3]);
        assert_eq!(batch.schema(), events_built_schema());
    }

    /// Place and network columns keyed by where their text is: each row
    /// reads back its own text, through a table that grows past its first
    /// size, texts equal but apart, empty texts (nulls), a static text, a
    /// text the caller drops at once (held by the batch, so its address is
    /// not reused for the next one), and a second batch after the first.
    #[test]
    fn shared_columns_hold_each_rows_text() {
        let places: Vec<Arc<str>> = (0..100).map(|i| format!("City {i}").into()).collect();
        let twin: Arc<str> = "City 7".into();
        let empty: Arc<str> = "".into();
        let mut b = EventBuilder::with_capacity(8);
        let mut want = Vec::new();
        for round in 0..2 {
            for i in 0..300usize {
                let mut r = row(1, "ua", None, None);
                let dropped: Arc<str>;
                let city = match i % 7 {
                    0 => None,
                    1 => Some(&empty),
                    2 => Some(&twin),
                    3 => {
                        dropped = format!("Gone {i}").into();
                        Some(&dropped)
                    }
                    _ => Some(&places[(i * 31 + round) % places.len()]),
                };
                // The city as GeoIP texts come (interned), the network as
                // a list's (shared, held by the batch).
                r.city = city.map(|c| crate::enrich::geo::intern(c));
                r.network = city;
                r.network_roles = if i % 2 == 0 { "apple,proxy" } else { "" };
                b.append(&r);
                want.push((
                    city.filter(|c| !c.is_empty()).map(|c| c.to_string()),
                    (i % 2 == 0).then(|| "apple,proxy".to_string()),
                ));
            }
            let batch = b.finish();
            let text = |name: &str| -> Vec<Option<String>> {
                let c = arrow::compute::cast(batch.column_by_name(name).unwrap(), &DataType::Utf8)
                    .unwrap();
                let s = c.as_string::<i32>();
                (0..s.len())
                    .map(|i| (!s.is_null(i)).then(|| s.value(i).to_string()))
                    .collect()
            };
            let cities: Vec<_> = want.iter().map(|w| w.0.clone()).collect();
            assert_eq!(text("city"), cities);
            assert_eq!(text("network"), cities);
            assert_eq!(
                text("network_roles"),
                want.iter().map(|w| w.1.clone()).collect::<Vec<_>>()
            );
            assert_eq!(text("country"), vec![None; 300]);
            // Few values a batch: 100 places, "City 7" twice (two texts),
            // 43 dropped texts, and one each for no city and an empty one.
            let dict = batch.column_by_name("city").unwrap().as_any_dictionary();
            assert!(
                dict.values().len() <= 100 + 1 + 43 + 2,
                "{}",
                dict.values().len()
            );
            assert_eq!(batch.schema(), events_built_schema());
            want.clear();
        }
        // What keeps an address from being reused: the batch holds each
        // shared text it keyed, once, until it is finished.
        let held: Arc<str> = "Held".into();
        let mut r = row(1, "ua", None, None);
        r.network = Some(&held);
        b.append(&r);
        b.append(&r);
        assert_eq!(Arc::strong_count(&held), 2);
        b.finish();
        assert_eq!(Arc::strong_count(&held), 1);
    }
}
