//! Arrow schemas of the dataset's tables and the builders that fill them.
//!
//! Timestamps are UTC microseconds. Column names and types are a contract
//! with users' SQL: add columns, never rename or retype them.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Int32Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Schema of `events`.
pub fn events_schema() -> SchemaRef {
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
    /// `open` or `click`.
    pub kind: &'a str,
    /// The token.
    pub token: &'a str,
    /// Campaign.
    pub campaign_id: &'a str,
    /// Recipient.
    pub recipient_id: &'a str,
    /// Variant (empty = null).
    pub variant: &'a str,
    /// Link id for clicks.
    pub link_id: Option<&'a str>,
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
    /// Client name.
    pub ua_name: Option<&'a str>,
    /// Device category.
    pub ua_category: Option<&'a str>,
    /// OS.
    pub os: Option<&'a str>,
    /// Country code.
    pub country: Option<&'a str>,
    /// City.
    pub city: Option<&'a str>,
    /// Time zone.
    pub time_zone: Option<&'a str>,
    /// AS number.
    pub asn: Option<u32>,
    /// AS organisation.
    pub as_org: Option<&'a str>,
    /// Operator of the listed network the address is in.
    pub network: Option<&'a str>,
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
    pub network_cidr: Option<&'a str>,
    /// Roles of every listed network the address is in (empty = null).
    pub network_roles: &'a str,
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

/// Column builders for `events`.
pub struct EventBuilder {
    ts: TimestampMicrosecondBuilder,
    strs: Vec<StringBuilder>,
    sent_at: TimestampMicrosecondBuilder,
    secs: Int64Builder,
    status: Int32Builder,
    bytes: Int64Builder,
    asn: Int64Builder,
    line: Int64Builder,
    local_weekday: Int32Builder,
    local_hour: Int32Builder,
    ip_prefix: Int32Builder,
    read_seconds: arrow::array::Float64Builder,
    len: usize,
    len_at_finish: usize,
}

// Positions in `strs`, in schema order.
const S_KIND: usize = 0;
const S_TOKEN: usize = 1;
const S_CAMPAIGN: usize = 2;
const S_RECIPIENT: usize = 3;
const S_VARIANT: usize = 4;
const S_LINK: usize = 5;
const S_URL: usize = 6;
const S_IP: usize = 7;
const S_METHOD: usize = 8;
const S_REFERER: usize = 9;
const S_UA: usize = 10;
const S_UA_NAME: usize = 11;
const S_UA_CAT: usize = 12;
const S_OS: usize = 13;
const S_COUNTRY: usize = 14;
const S_CITY: usize = 15;
const S_TZ: usize = 16;
const S_AS_ORG: usize = 17;
const S_NETWORK: usize = 18;
const S_CLASS: usize = 19;
const S_RULE: usize = 20;
const S_REASON: usize = 21;
const S_FILE: usize = 22;
const S_RULES_VERSION: usize = 23;
const S_NET_CIDR: usize = 24;
const S_NET_ROLES: usize = 25;
const N_STRS: usize = 26;

/// Typical bytes per value of each string column, in `strs` order: the
/// builders start that big, so a block's rows fit without regrowing.
const TYPICAL_LEN: [usize; N_STRS] = [
    5, 22, 8, 10, 1, 10, 40, 14, 3, 8, 110, 10, 6, 10, 2, 8, 14, 16, 16, 8, 16, 44, 32, 15, 14, 12,
];

impl EventBuilder {
    /// Builders sized for `cap` rows.
    pub fn with_capacity(cap: usize) -> Self {
        EventBuilder {
            ts: TimestampMicrosecondBuilder::with_capacity(cap).with_timezone("UTC"),
            strs: TYPICAL_LEN
                .iter()
                .map(|len| StringBuilder::with_capacity(cap, cap * len))
                .collect(),
            sent_at: TimestampMicrosecondBuilder::with_capacity(cap).with_timezone("UTC"),
            secs: Int64Builder::with_capacity(cap),
            status: Int32Builder::with_capacity(cap),
            bytes: Int64Builder::with_capacity(cap),
            asn: Int64Builder::with_capacity(cap),
            line: Int64Builder::with_capacity(cap),
            local_weekday: Int32Builder::with_capacity(cap),
            local_hour: Int32Builder::with_capacity(cap),
            ip_prefix: Int32Builder::with_capacity(cap),
            read_seconds: arrow::array::Float64Builder::with_capacity(cap),
            len: 0,
            len_at_finish: 0,
        }
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
        s[S_KIND].append_value(r.kind);
        s[S_TOKEN].append_value(r.token);
        s[S_CAMPAIGN].append_value(r.campaign_id);
        s[S_RECIPIENT].append_value(r.recipient_id);
        opt(&mut s[S_VARIANT], Some(r.variant));
        opt(&mut s[S_LINK], r.link_id);
        opt(&mut s[S_URL], r.url);
        s[S_IP].append_value(r.ip);
        s[S_METHOD].append_value(r.method);
        opt(&mut s[S_REFERER], Some(r.referer));
        opt(&mut s[S_UA], Some(r.user_agent));
        opt(&mut s[S_UA_NAME], r.ua_name);
        opt(&mut s[S_UA_CAT], r.ua_category);
        opt(&mut s[S_OS], r.os);
        opt(&mut s[S_COUNTRY], r.country);
        opt(&mut s[S_CITY], r.city);
        opt(&mut s[S_TZ], r.time_zone);
        opt(&mut s[S_AS_ORG], r.as_org);
        opt(&mut s[S_NETWORK], r.network);
        s[S_CLASS].append_value(r.class);
        s[S_RULE].append_value(r.rule_id);
        s[S_REASON].append_value(r.reason);
        s[S_FILE].append_value(r.source_file);
        s[S_RULES_VERSION].append_value(r.rules_version);
        opt(&mut s[S_NET_CIDR], r.network_cidr);
        opt(&mut s[S_NET_ROLES], Some(r.network_roles));
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

    /// Takes the pending rows as a batch. `forwarded`, `trap_hit` and the
    /// burst columns are false and null here: only the message-level pass
    /// can tell.
    pub fn finish(&mut self) -> RecordBatch {
        self.len_at_finish = self.len;
        self.len = 0;
        let mut s: Vec<ArrayRef> = self
            .strs
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        let mut take =
            |i: usize| std::mem::replace(&mut s[i], Arc::new(arrow::array::NullArray::new(0)));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.ts.finish()),
            take(S_KIND),
            take(S_TOKEN),
            take(S_CAMPAIGN),
            take(S_RECIPIENT),
            take(S_VARIANT),
            take(S_LINK),
            take(S_URL),
            Arc::new(self.sent_at.finish()),
            Arc::new(self.secs.finish()),
            take(S_IP),
            take(S_METHOD),
            Arc::new(self.status.finish()),
            Arc::new(self.bytes.finish()),
            take(S_REFERER),
            take(S_UA),
            take(S_UA_NAME),
            take(S_UA_CAT),
            take(S_OS),
            take(S_COUNTRY),
            take(S_CITY),
            take(S_TZ),
            Arc::new(self.asn.finish()),
            take(S_AS_ORG),
            take(S_NETWORK),
            take(S_CLASS),
            take(S_RULE),
            take(S_REASON),
            take(S_FILE),
            Arc::new(self.line.finish()),
            Arc::new(arrow::array::BooleanArray::from(vec![
                false;
                self.len_at_finish
            ])),
            Arc::new(self.local_weekday.finish()),
            Arc::new(self.local_hour.finish()),
            take(S_RULES_VERSION),
            take(S_NET_CIDR),
            take(S_NET_ROLES),
            Arc::new(self.ip_prefix.finish()),
            arrow::array::new_null_array(&DataType::Int32, self.len_at_finish),
            arrow::array::new_null_array(&DataType::Float64, self.len_at_finish),
            Arc::new(arrow::array::BooleanArray::from(vec![
                false;
                self.len_at_finish
            ])),
            Arc::new(self.read_seconds.finish()),
        ];
        RecordBatch::try_new(events_schema(), cols).expect("event columns match the schema")
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
                campaign_id: c.value(i).into(),
                recipient_id: r.value(i).into(),
                variant: if v.is_null(i) {
                    String::new()
                } else {
                    v.value(i).into()
                },
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
pub fn revisable_columns<'v>(
    tags: &[u16],
    verdict: impl Fn(u16) -> (&'v str, &'v str, &'v str),
    rows: &[(usize, &crate::classify::message::Change)],
) -> Vec<ArrayRef> {
    use arrow::array::{BooleanBuilder, Float64Builder};
    let n = tags.len();
    let mut c = StringBuilder::with_capacity(n, n * 6);
    let mut r = StringBuilder::with_capacity(n, n * 14);
    let mut w = StringBuilder::with_capacity(n, n * 24);
    let mut f = BooleanBuilder::with_capacity(n);
    let mut t = BooleanBuilder::with_capacity(n);
    let mut h = Int32Builder::with_capacity(n);
    let mut sec = Float64Builder::with_capacity(n);
    let mut next = rows.iter().peekable();
    for (i, &tag) in tags.iter().enumerate() {
        let change = match next.peek() {
            Some((row, ch)) if *row == i => {
                next.next();
                Some(*ch)
            }
            _ => None,
        };
        let (cl, ru, re) = match change.and_then(|ch| ch.class) {
            Some((cl, ru, re)) => (cl.as_str(), ru, re),
            None => verdict(tag),
        };
        c.append_value(cl);
        r.append_value(ru);
        w.append_value(re);
        f.append_value(change.is_some_and(|ch| ch.forwarded));
        t.append_value(change.is_some_and(|ch| ch.trap));
        h.append_option(change.and_then(|ch| ch.burst).map(|x| x.0 as i32));
        sec.append_option(change.and_then(|ch| ch.burst).map(|x| x.1));
    }
    vec![
        Arc::new(c.finish()),
        Arc::new(r.finish()),
        Arc::new(w.finish()),
        Arc::new(f.finish()),
        Arc::new(t.finish()),
        Arc::new(h.finish()),
        Arc::new(sec.finish()),
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
const VERDICT_COLUMNS: [&str; 11] = [
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

/// Reads the verdict of every row of an `events` batch (any version).
pub fn verdicts_of(batch: &RecordBatch) -> Vec<StoredVerdict> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, Int32Type};
    let b = conform(batch);
    let st = |n: &str| {
        b.column_by_name(n)
            .expect("conformed")
            .as_string::<i32>()
            .clone()
    };
    let (class, rule, reason, version, network, cidr, roles) = (
        st("class"),
        st("rule_id"),
        st("reason"),
        st("rules_version"),
        st("network"),
        st("network_cidr"),
        st("network_roles"),
    );
    let fwd = b
        .column_by_name("forwarded")
        .expect("conformed")
        .as_boolean()
        .clone();
    let trap = b
        .column_by_name("trap_hit")
        .expect("conformed")
        .as_boolean()
        .clone();
    let bh = b
        .column_by_name("burst_hits")
        .expect("conformed")
        .as_primitive::<Int32Type>()
        .clone();
    let bs = b
        .column_by_name("burst_seconds")
        .expect("conformed")
        .as_primitive::<Float64Type>()
        .clone();
    let ostr =
        |a: &arrow::array::StringArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_string());
    (0..b.num_rows())
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
