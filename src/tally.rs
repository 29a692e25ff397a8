//! Tallies: the events' hits counted per campaign, recipient, kind and
//! class, in small files that the commit log ties to the events files they
//! count.
//!
//! Reports that ask about people (`campaign-summary`) would otherwise group
//! every hit by two string keys: over 42 M events that grouping was most of
//! a 3.3 s report, whatever DataFusion's settings. A file's tallies have a
//! row or two per person instead of a dozen hits.
//!
//! A run's tallies are one file, `tallies/part-RUN.parquet`, and its entry
//! in the commit log names the events files it counts
//! ([`crate::commit::AddedFile::counts`]): all of ingest's chunks (counted
//! in its message pass, which meets every hit with its final verdict, once
//! per person for the whole run: 0.66 M rows for 3.6 M events of a 4.3
//! M-line send, where a file a day took 2.3 M), or the one file a rewrite
//! (`compact`, `forget`, `reclassify`) wrote, counted by
//! [`crate::commit::Staging`] as its rows go by. A commit that removes an
//! events file removes every tallies file counting it, and counts the
//! other files that one counted again. A reader takes a tallies file only
//! while every file it counts is live (and, for a query limited to some
//! days, within them), and counts the events files no such tallies file
//! counts from their rows ([`crate::query`]): a dataset written before
//! tallies existed gives the same answers, only slower, until `compact`
//! rewrites it.

use std::hash::BuildHasher;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Int64Array, Int64Builder, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::error::Result;

/// The table's directory in a dataset.
pub const TABLE: &str = "tallies";

/// Schema of `tallies`. Rows add up: a person may have several rows of the
/// same kind and class in a file (one per token, or per part of a file too
/// big to count at once), so readers sum `hits` and take the least
/// `first_*` and the greatest `last_ts`.
pub fn schema() -> SchemaRef {
    let ts = DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("campaign_id", DataType::Utf8, false),
        Field::new("recipient_id", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("class", DataType::Utf8, false),
        Field::new("hits", DataType::Int64, false),
        Field::new("first_seconds", DataType::Int64, false),
        Field::new("first_ts", ts.clone(), false),
        Field::new("last_ts", ts, false),
    ]))
}

/// The dataset path of the tallies file called `name`. Tallies files are
/// not partitioned by day: ingest's counts each person once for the whole
/// run, whatever the days their hits fall on.
pub fn path(name: &str) -> String {
    format!("{TABLE}/part-{name}.parquet")
}

/// Some hits of one person, kind and class: how many, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Hits counted.
    pub hits: i64,
    /// The least `seconds_since_sent` among them.
    pub first_seconds: i64,
    /// The earliest hit, UTC microseconds.
    pub first_ts: i64,
    /// The latest hit, UTC microseconds.
    pub last_ts: i64,
}

impl Tally {
    /// One hit at `ts`, `seconds` after its message was sent.
    pub fn one(ts: i64, seconds: i64) -> Tally {
        Tally {
            hits: 1,
            first_seconds: seconds,
            first_ts: ts,
            last_ts: ts,
        }
    }

    /// Adds the hits of `other`.
    pub fn merge(&mut self, other: &Tally) {
        self.hits += other.hits;
        self.first_seconds = self.first_seconds.min(other.first_seconds);
        self.first_ts = self.first_ts.min(other.first_ts);
        self.last_ts = self.last_ts.max(other.last_ts);
    }
}

/// Builds a tallies batch row by row.
pub struct Rows {
    campaign: StringBuilder,
    recipient: StringBuilder,
    kind: StringBuilder,
    class: StringBuilder,
    hits: Int64Builder,
    first_seconds: Int64Builder,
    first_ts: TimestampMicrosecondBuilder,
    last_ts: TimestampMicrosecondBuilder,
}

impl Default for Rows {
    fn default() -> Self {
        Rows {
            campaign: StringBuilder::new(),
            recipient: StringBuilder::new(),
            kind: StringBuilder::new(),
            class: StringBuilder::new(),
            hits: Int64Builder::new(),
            first_seconds: Int64Builder::new(),
            first_ts: TimestampMicrosecondBuilder::new(),
            last_ts: TimestampMicrosecondBuilder::new(),
        }
    }
}

impl Rows {
    /// Appends one row.
    pub fn push(&mut self, campaign: &str, recipient: &str, kind: &str, class: &str, t: &Tally) {
        self.campaign.append_value(campaign);
        self.recipient.append_value(recipient);
        self.kind.append_value(kind);
        self.class.append_value(class);
        self.hits.append_value(t.hits);
        self.first_seconds.append_value(t.first_seconds);
        self.first_ts.append_value(t.first_ts);
        self.last_ts.append_value(t.last_ts);
    }

    /// The rows as a batch of [`schema`] (possibly empty).
    pub fn finish(mut self) -> Result<RecordBatch> {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.campaign.finish()),
            Arc::new(self.recipient.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.class.finish()),
            Arc::new(self.hits.finish()),
            Arc::new(self.first_seconds.finish()),
            Arc::new(self.first_ts.finish().with_timezone("UTC")),
            Arc::new(self.last_ts.finish().with_timezone("UTC")),
        ];
        Ok(RecordBatch::try_new(schema(), cols)?)
    }
}

/// People counted at once by a [`Counter`] before it writes their rows
/// out and starts afresh (about 100 MB of keys): a file with more people
/// gets a few rows per person instead of one, and memory stays bounded.
const COUNTER_KEYS: usize = 1 << 20;

/// Counts the rows of events batches (the files `compact`, `forget` and
/// `reclassify` write) into tallies.
pub struct Counter {
    /// Keys held before the rows so far are written out.
    cap: usize,
    /// Each key's index in `tallies`, found by hash. Keys are the four
    /// strings, each after its length (so no value can run into the next),
    /// end to end in `keys`; looked up without allocating, and hashed with
    /// foldhash (std's SipHash was 8.5% of a `forget`'s CPU).
    table: hashbrown::HashTable<u32>,
    keys: Vec<u8>,
    ends: Vec<usize>,
    hashes: Vec<u64>,
    /// In the order their keys were first met: the same batches give the
    /// same rows, with no sort (sorting a million keys' strings was a fifth
    /// of a `forget`).
    tallies: Vec<Tally>,
    hasher: foldhash::fast::FixedState,
    key: Vec<u8>,
    rows: Rows,
    /// A batch lacked a column or held a null where events have none: the
    /// file gets no tallies, and readers count it from its rows.
    broken: bool,
}

impl Default for Counter {
    fn default() -> Self {
        Counter::with_cap(COUNTER_KEYS)
    }
}

impl Counter {
    /// A counter holding at most `cap` keys at once.
    fn with_cap(cap: usize) -> Self {
        Counter {
            cap: cap.max(1),
            table: hashbrown::HashTable::new(),
            keys: Vec::new(),
            ends: Vec::new(),
            hashes: Vec::new(),
            tallies: Vec::new(),
            hasher: foldhash::fast::FixedState::default(),
            key: Vec::new(),
            rows: Rows::default(),
            broken: false,
        }
    }

    /// Counts the rows of an events batch.
    pub fn add(&mut self, batch: &RecordBatch) {
        if self.broken || batch.num_rows() == 0 {
            return;
        }
        let text = |name: &str| -> Option<StringArray> {
            let c = batch.column_by_name(name)?;
            let c = arrow::compute::cast(c, &DataType::Utf8).ok()?;
            let s = c.as_any().downcast_ref::<StringArray>()?.clone();
            (s.null_count() == 0).then_some(s)
        };
        let (Some(campaign), Some(recipient), Some(kind), Some(class)) = (
            text("campaign_id"),
            text("recipient_id"),
            text("kind"),
            text("class"),
        ) else {
            self.broken = true;
            return;
        };
        let ts = batch
            .column_by_name("ts")
            .and_then(|c| c.as_any().downcast_ref::<TimestampMicrosecondArray>())
            .filter(|c| c.null_count() == 0);
        let secs = batch
            .column_by_name("seconds_since_sent")
            .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
            .filter(|c| c.null_count() == 0);
        let (Some(ts), Some(secs)) = (ts, secs) else {
            self.broken = true;
            return;
        };
        for i in 0..batch.num_rows() {
            self.key.clear();
            for s in [
                campaign.value(i),
                recipient.value(i),
                kind.value(i),
                class.value(i),
            ] {
                self.key.extend_from_slice(&(s.len() as u32).to_le_bytes());
                self.key.extend_from_slice(s.as_bytes());
            }
            let one = Tally::one(ts.value(i), secs.value(i));
            let (keys, ends) = (&self.keys, &self.ends);
            let at = |j: u32| {
                let j = j as usize;
                &keys[if j == 0 { 0 } else { ends[j - 1] }..ends[j]]
            };
            let h = self.hasher.hash_one(self.key.as_slice());
            if let Some(&j) = self.table.find(h, |&j| at(j) == self.key.as_slice()) {
                self.tallies[j as usize].merge(&one);
                continue;
            }
            if self.tallies.len() >= self.cap {
                self.spill();
            }
            let j = self.tallies.len() as u32;
            self.keys.extend_from_slice(&self.key);
            self.ends.push(self.keys.len());
            self.hashes.push(h);
            self.tallies.push(one);
            let hashes = &self.hashes;
            self.table.insert_unique(h, j, |&k| hashes[k as usize]);
        }
    }

    /// Moves the counts so far into rows, in the order their keys were
    /// first met, and starts afresh.
    fn spill(&mut self) {
        let mut start = 0;
        for (t, &end) in self.tallies.iter().zip(&self.ends) {
            let key = &self.keys[start..end];
            start = end;
            let mut parts = [""; 4];
            let mut at = 0;
            for p in &mut parts {
                let n = u32::from_le_bytes(key[at..at + 4].try_into().expect("4 bytes")) as usize;
                *p = std::str::from_utf8(&key[at + 4..at + 4 + n]).expect("made from str");
                at += 4 + n;
            }
            let [c, r, k, cl] = parts;
            self.rows.push(c, r, k, cl, t);
        }
        self.table.clear();
        self.keys.clear();
        self.ends.clear();
        self.hashes.clear();
        self.tallies.clear();
    }

    /// The tallies of every row counted, or `None` when they could not be
    /// counted (see `broken`).
    pub fn finish(mut self) -> Result<Option<RecordBatch>> {
        if self.broken {
            return Ok(None);
        }
        self.spill();
        self.rows.finish().map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(rows: &[(&str, &str, &str, &str, i64, i64)]) -> RecordBatch {
        let s = |i: usize| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| [r.0, r.1, r.2, r.3][i]),
            ))
        };
        RecordBatch::try_from_iter(vec![
            ("campaign_id", s(0)),
            ("recipient_id", s(1)),
            ("kind", s(2)),
            ("class", s(3)),
            (
                "ts",
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.4))
                        .with_timezone("UTC"),
                ) as ArrayRef,
            ),
            (
                "seconds_since_sent",
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.5))) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    fn rows(b: &RecordBatch) -> Vec<String> {
        use arrow::array::AsArray;
        use arrow::datatypes::{Int64Type, TimestampMicrosecondType};
        let s = |i: usize| b.column(i).as_string::<i32>();
        let n = |i: usize| b.column(i).as_primitive::<Int64Type>();
        let t = |i: usize| b.column(i).as_primitive::<TimestampMicrosecondType>();
        (0..b.num_rows())
            .map(|i| {
                format!(
                    "{} {} {} {} hits={} first_s={} ts={}..{}",
                    s(0).value(i),
                    s(1).value(i),
                    s(2).value(i),
                    s(3).value(i),
                    n(4).value(i),
                    n(5).value(i),
                    t(6).value(i),
                    t(7).value(i)
                )
            })
            .collect()
    }

    #[test]
    fn a_counter_adds_up_each_person_kind_and_class() {
        let mut c = Counter::default();
        c.add(&events(&[
            ("c1", "ann", "open", "human", 50, 5),
            ("c1", "ann", "open", "apple_mpp", 10, 1),
            ("c1", "ann", "open", "human", 30, 3),
        ]));
        c.add(&events(&[
            ("c1", "ann", "open", "human", 90, 9),
            ("c1", "ann", "click", "human", 70, 7),
            // Values that would run together if joined without lengths.
            ("c1a", "nn", "open", "human", 1, 0),
            ("c2", "ann", "open", "human", 20, 2),
        ]));
        let b = c.finish().unwrap().unwrap();
        assert_eq!(
            rows(&b),
            // In the order each was first met.
            [
                "c1 ann open human hits=3 first_s=3 ts=30..90",
                "c1 ann open apple_mpp hits=1 first_s=1 ts=10..10",
                "c1 ann click human hits=1 first_s=7 ts=70..70",
                "c1a nn open human hits=1 first_s=0 ts=1..1",
                "c2 ann open human hits=1 first_s=2 ts=20..20",
            ]
        );
    }

    #[test]
    fn a_full_counter_writes_its_rows_out_and_the_sums_stay() {
        let hits: Vec<(String, i64)> = (0..50).map(|i| (format!("p{}", i % 7), i)).collect();
        let batch = events(
            &hits
                .iter()
                .map(|(p, i)| ("c1", p.as_str(), "open", "human", *i, *i))
                .collect::<Vec<_>>(),
        );
        let mut small = Counter::with_cap(3);
        small.add(&batch);
        let b = small.finish().unwrap().unwrap();
        // More rows than people: some were written out more than once.
        assert!(b.num_rows() > 7, "{}", b.num_rows());
        let mut per: std::collections::BTreeMap<String, i64> = Default::default();
        for r in rows(&b) {
            let mut f = r.split(' ');
            let who = f.nth(1).unwrap().to_string();
            let hits: i64 = r
                .split("hits=")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            *per.entry(who).or_default() += hits;
        }
        let mut want: std::collections::BTreeMap<String, i64> = Default::default();
        for (p, _) in &hits {
            *want.entry(p.clone()).or_default() += 1;
        }
        assert_eq!(per, want);
        let mut whole = Counter::default();
        whole.add(&batch);
        assert_eq!(whole.finish().unwrap().unwrap().num_rows(), 7);
    }

    #[test]
    fn a_batch_without_the_columns_leaves_no_tallies() {
        let mut c = Counter::default();
        c.add(&events(&[("c1", "ann", "open", "human", 50, 5)]));
        let lacking = events(&[("c1", "bob", "open", "human", 50, 5)])
            .project(&[0, 1, 2, 3, 4])
            .unwrap();
        c.add(&lacking);
        assert!(c.finish().unwrap().is_none());
        let empty = Counter::default().finish().unwrap().unwrap();
        assert_eq!(empty.num_rows(), 0);
        assert_eq!(empty.schema(), schema());
    }
}
