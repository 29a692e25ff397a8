//! Re-classification: the current rules and network lists run again over
//! stored events (message-level features included, now across every run in
//! scope) and the new verdicts are committed as one commit.
//!
//! What a stored event still tells: its user agent, method, status, kind,
//! times and AS number in full; its address only as far as the ip policy
//! kept it (`ip_prefix` bits). A truncated address is looked up again only
//! against ranges no longer than what was kept; the most specific range the
//! full address matched at ingest (`network_cidr`) still counts while it is
//! listed. A hashed address cannot be looked up again: its stored network
//! evidence stands, and the report counts such events.
//!
//! Two passes over the files keep memory at a compact verdict and a
//! message key per event in scope: the first classifies every row, reading
//! only the columns the rules use, a batch at a time; the second compares
//! each file's rows with what is stored, and reads and rewrites a file
//! again only when some of them changed.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{Int32Type, Int64Type, TimestampMicrosecondType};

use crate::batch::{verdicts_of, with_verdicts, StoredVerdict};
use crate::classify::message::{self, HitKey};
use crate::classify::{Classifier, Features, NetMatch, Networks, RoleSet, UaProfile, Verdict};
use crate::commit::{partition_day, AddedFile, Dataset, WriterLock};
use crate::error::{Error, Result};
use crate::track::Kind;

/// What to re-classify, and with what.
pub struct ReclassifyConfig {
    /// The rules to apply.
    pub classifier: Classifier,
    /// The network lists to apply.
    pub networks: Networks,
    /// First day (`YYYY-MM-DD`) in scope.
    pub since: Option<String>,
    /// Last day in scope.
    pub until: Option<String>,
    /// Report only; write nothing.
    pub dry_run: bool,
}

/// Hits that moved from one verdict to another.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Move {
    /// Class before.
    pub from: String,
    /// Class after.
    pub to: String,
    /// Rule before.
    pub from_rule: String,
    /// Rule that decided now.
    pub rule_id: String,
    /// Its reason.
    pub reason: String,
    /// How many hits.
    pub hits: u64,
}

/// What a re-classification found and did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReclassifyReport {
    /// Events in scope.
    pub events: u64,
    /// Hits whose class or deciding rule changed, grouped.
    pub moves: Vec<Move>,
    /// Rows with any verdict column changed (evidence and version included).
    pub rows_changed: u64,
    /// Files rewritten (or that would be, with `dry_run`).
    pub files_changed: usize,
    /// Events whose address could not be looked up again (hashed or unparsable).
    pub not_looked_up: u64,
    /// The version of the rules and lists applied.
    pub rules_version: String,
    /// The commit made, if any.
    pub commit: Option<u64>,
}

/// The first pass's verdict of one row, compactly.
struct Fresh<'c> {
    verdict: Verdict<'c>,
    /// The network match, or `None` for "keep what is stored" (address not
    /// looked up). Borrowed from the lists: a copy per event was two
    /// strings an event held through both passes.
    net: Option<(Option<&'c NetMatch>, RoleSet)>,
}

fn in_scope(cfg: &ReclassifyConfig, f: &AddedFile) -> bool {
    let Some(day) = partition_day(&f.path) else {
        return true;
    };
    cfg.since.as_deref().is_none_or(|s| day >= s) && cfg.until.as_deref().is_none_or(|u| day <= u)
}

/// A small number for a string, the same each time it is seen.
fn intern(map: &mut HashMap<String, u32>, s: &str) -> u32 {
    if let Some(&n) = map.get(s) {
        return n;
    }
    let n = map.len() as u32;
    map.insert(s.to_string(), n);
    n
}

/// The columns the first pass reads.
const PASS_ONE: &[&str] = &[
    "kind",
    "token",
    "link_id",
    "method",
    "user_agent",
    "ip",
    "network_cidr",
    "network_roles",
    "country",
    "recipient_id",
    "ts",
    "seconds_since_sent",
    "status",
    "asn",
    "ip_prefix",
];

/// The [`PASS_ONE`] columns of a batch read back, those a file of an
/// earlier version lacks as nulls.
fn pass_one_columns(b: &RecordBatch) -> Result<RecordBatch> {
    let schema = crate::batch::events_schema();
    let mut fields = Vec::with_capacity(PASS_ONE.len());
    let mut cols = Vec::with_capacity(PASS_ONE.len());
    for name in PASS_ONE {
        let f = schema.field_with_name(name)?;
        fields.push(f.clone().with_nullable(true));
        cols.push(match b.column_by_name(name) {
            Some(c) => c.clone(),
            None => arrow::array::new_null_array(f.data_type(), b.num_rows()),
        });
    }
    Ok(RecordBatch::try_new(
        std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
        cols,
    )?)
}

fn strs<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a StringArray> {
    b.column_by_name(name)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| Error::Config(format!("events file lacks string column {name}")))
}

/// The verdict a stored row gets now: the fresh per-hit verdict, the
/// network evidence looked up again (or the stored one, where the address
/// could not be), then the message-level change, if any.
fn revised(
    fr: &Fresh<'_>,
    o: &StoredVerdict,
    change: Option<&message::Change>,
    version: &str,
) -> StoredVerdict {
    let (network, network_cidr, network_roles) = match &fr.net {
        Some((m, roles)) => (
            m.as_ref().map(|m| m.operator.to_string()),
            m.as_ref().map(|m| m.cidr.to_string()),
            Some(roles.names()).filter(|s| !s.is_empty()),
        ),
        None => (
            o.network.clone(),
            o.network_cidr.clone(),
            o.network_roles.clone(),
        ),
    };
    let mut v = StoredVerdict {
        class: fr.verdict.class.as_str().to_string(),
        rule_id: fr.verdict.rule_id.to_string(),
        reason: fr.verdict.reason.to_string(),
        forwarded: false,
        rules_version: Some(version.to_string()),
        network,
        network_cidr,
        network_roles,
        burst_hits: None,
        burst_seconds: None,
        trap_hit: Some(false),
    };
    if let Some(c) = change {
        message::apply(c, &mut v);
    }
    v
}

/// Runs the current rules over the stored events in scope; commits the
/// changed files as one commit unless `dry_run`.
pub fn reclassify(
    dataset: &Dataset,
    lock: &WriterLock,
    cfg: &ReclassifyConfig,
) -> Result<ReclassifyReport> {
    for d in [&cfg.since, &cfg.until].into_iter().flatten() {
        if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err() {
            return Err(Error::Config(format!("{d:?} is not a date (YYYY-MM-DD)")));
        }
    }
    let snap = dataset.snapshot()?;
    let root = dataset.root();
    let files: Vec<(&AddedFile, PathBuf)> = snap
        .files
        .get("events")
        .into_iter()
        .flat_map(|m| m.values())
        .filter(|f| in_scope(cfg, f))
        .map(|f| {
            let p = if root.join(&f.path).exists() {
                root.join(&f.path)
            } else {
                root.join(&f.staged)
            };
            (f, p)
        })
        .collect();
    let version = cfg.classifier.version(&cfg.networks);
    let trap_prefix = cfg.classifier.message().trap_link_prefix.clone();
    let mut report = ReclassifyReport {
        rules_version: version.clone(),
        ..Default::default()
    };

    // Pass 1: every row's own verdict, and its key for the message pass.
    let mut profiles: HashMap<String, (String, UaProfile)> = HashMap::new();
    let mut tokens: HashMap<String, u32> = HashMap::new();
    let mut links: HashMap<String, u32> = HashMap::new();
    let mut fresh: Vec<Vec<Fresh<'_>>> = Vec::with_capacity(files.len());
    let mut hits: Vec<HitKey> = Vec::new();
    for (n_file, (_, path)) in files.iter().enumerate() {
        let mut rows = Vec::new();
        // A batch at a time, and only the columns the rules and the
        // message pass read: a day's file read whole was most of the
        // memory of a `reclassify`.
        for b in crate::commit::parquet_columns(path, Some(PASS_ONE))? {
            let b = pass_one_columns(&b?)?;
            let (kind, token, link, method, ua, ip, cidr, roles_s, country) = (
                strs(&b, "kind")?,
                strs(&b, "token")?,
                strs(&b, "link_id")?,
                strs(&b, "method")?,
                strs(&b, "user_agent")?,
                strs(&b, "ip")?,
                strs(&b, "network_cidr")?,
                strs(&b, "network_roles")?,
                strs(&b, "country")?,
            );
            let recipient = strs(&b, "recipient_id")?;
            let col = |n: &str| b.column_by_name(n).expect("conformed");
            let ts = col("ts").as_primitive::<TimestampMicrosecondType>();
            let secs = col("seconds_since_sent").as_primitive::<Int64Type>();
            let status = col("status").as_primitive::<Int32Type>();
            let asn = col("asn").as_primitive::<Int64Type>();
            let prefix = col("ip_prefix").as_primitive::<Int32Type>();
            for i in 0..b.num_rows() {
                let k = Kind::parse(kind.value(i)).unwrap_or(Kind::Open);
                let ua_text = if ua.is_null(i) { "" } else { ua.value(i) };
                // Rules read the per-agent profile, made once per distinct agent.
                if !profiles.contains_key(ua_text) {
                    let lower = ua_text.to_lowercase();
                    let p = cfg.classifier.ua_profile(ua_text, &lower);
                    profiles.insert(ua_text.to_string(), (lower, p));
                }
                let (lower, profile) = &profiles[ua_text];
                let asn_v = (!asn.is_null(i)).then(|| asn.value(i) as u32);
                let addr = ip.value(i).parse::<IpAddr>().ok();
                let known = (!prefix.is_null(i)).then(|| prefix.value(i).clamp(0, 128) as u8);
                let net = match (addr, known) {
                    (Some(a), Some(bits)) => {
                        let (mut m, mut roles) = cfg.networks.lookup_upto(a, bits);
                        // The finer range the full address matched, while still listed.
                        if !cidr.is_null(i) {
                            if let Some(fine) = cfg.networks.find_cidr(cidr.value(i)) {
                                if fine.len > bits {
                                    roles.insert(fine.role);
                                    if m.is_none_or(|c| fine.len > c.len) {
                                        m = Some(fine);
                                    }
                                }
                            }
                        }
                        if let Some(am) = asn_v.and_then(|a| cfg.networks.lookup_asn(a)) {
                            roles.insert(am.role);
                            m.get_or_insert(am);
                        }
                        Some((m, roles))
                    }
                    _ => {
                        report.not_looked_up += 1;
                        None
                    }
                };
                let roles = match &net {
                    Some((_, r)) => *r,
                    None if roles_s.is_null(i) => RoleSet::default(),
                    None => RoleSet::from_names(roles_s.value(i)),
                };
                let verdict = cfg.classifier.classify(&Features {
                    kind: k,
                    method: method.value(i).as_bytes(),
                    ua_lower: lower,
                    ua: ua_text,
                    ua_profile: Some(profile),
                    network_roles: roles,
                    seconds_since_sent: Some(secs.value(i)),
                    status: status.value(i).clamp(0, u16::MAX as i32) as u16,
                });
                let tok = intern(&mut tokens, token.value(i));
                let link_idx = (!link.is_null(i)).then(|| intern(&mut links, link.value(i)));
                // A shared aggregate token is many people, not one message.
                let aggregate = recipient.value(i) == crate::manifest::AGGREGATE_ID;
                if !aggregate {
                    hits.push(HitKey {
                        day: n_file as i64,
                        row: rows.len() as u32,
                        token: tok,
                        ts: ts.value(i),
                        kind: k,
                        link: link_idx,
                        trap: !link.is_null(i) && link.value(i).starts_with(&trap_prefix),
                        class: verdict.class,
                        country: (!country.is_null(i))
                            .then(|| <[u8; 2]>::try_from(country.value(i).as_bytes()).ok())
                            .flatten(),
                        asn: asn_v,
                    });
                }
                rows.push(Fresh { verdict, net });
            }
        }
        report.events += rows.len() as u64;
        fresh.push(rows);
    }
    let changes = message::analyse(&mut hits, cfg.classifier.message());
    drop(hits);

    // Pass 2: compare with what is stored; rewrite the files that differ.
    let mut moves: BTreeMap<(String, String, String, String, String), u64> = BTreeMap::new();
    let mut staging = if cfg.dry_run {
        None
    } else {
        Some(dataset.begin(lock)?)
    };
    let mut remove = Vec::new();
    // A file is compared first and rewritten only if some row changed,
    // then read again a batch at a time: holding a file's rewritten
    // batches until it was known whether they were needed took 1 GB for
    // 3.6 M events that did not change.
    for (n_file, (f, path)) in files.iter().enumerate() {
        let mut row = 0usize;
        let mut changed = false;
        for b in crate::commit::parquet_batches(path)? {
            let b = b?;
            for o in &verdicts_of(&b) {
                let v = revised(
                    &fresh[n_file][row],
                    o,
                    changes.get(&(n_file as i64, row as u32)),
                    &version,
                );
                if v != *o {
                    report.rows_changed += 1;
                    changed = true;
                    if v.class != o.class || v.rule_id != o.rule_id {
                        *moves
                            .entry((
                                o.class.clone(),
                                v.class.clone(),
                                o.rule_id.clone(),
                                v.rule_id.clone(),
                                v.reason.clone(),
                            ))
                            .or_default() += 1;
                    }
                }
                row += 1;
            }
        }
        if !changed {
            continue;
        }
        report.files_changed += 1;
        let Some(st) = staging.as_mut() else {
            continue;
        };
        let mut row = 0usize;
        for b in crate::commit::parquet_batches(path)? {
            let b = b?;
            let new: Vec<StoredVerdict> = verdicts_of(&b)
                .iter()
                .map(|o| {
                    let v = revised(
                        &fresh[n_file][row],
                        o,
                        changes.get(&(n_file as i64, row as u32)),
                        &version,
                    );
                    row += 1;
                    v
                })
                .collect();
            st.write("events", partition_day(&f.path), &with_verdicts(&b, &new))?;
        }
        remove.push(f.path.clone());
    }
    report.moves = moves
        .into_iter()
        .map(|((from, to, from_rule, rule_id, reason), hits)| Move {
            from,
            to,
            from_rule,
            rule_id,
            reason,
            hits,
        })
        .collect();
    report
        .moves
        .sort_by(|a, b| b.hits.cmp(&a.hits).then_with(|| a.cmp(b)));
    if let (Some(st), false) = (staging, remove.is_empty()) {
        let details = serde_json::json!({
            "rules_version": version,
            "since": cfg.since,
            "until": cfg.until,
            "events": report.events,
            "rows_changed": report.rows_changed,
            "moved": report.moves.iter().map(|m| serde_json::json!({
                "from": m.from, "to": m.to, "from_rule": m.from_rule, "rule_id": m.rule_id, "hits": m.hits,
            })).collect::<Vec<_>>(),
        });
        report.commit = Some(
            st.commit("reclassify", remove, Vec::new(), None, details)?
                .seq,
        );
    }
    Ok(report)
}
