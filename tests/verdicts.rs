//! Verdicts that last: network lists as data, re-classification of stored
//! events, and what it leaves untouched.

mod common;

use std::path::Path;

use common::{bin, fixtures, ingest, mint_demo, ok, rows, run, sql};

fn ingest_demo(dir: &Path) -> std::path::PathBuf {
    let minted = mint_demo(dir);
    let data = dir.join("data");
    ingest(&minted, &data, &[&fixtures().join("access.log")]);
    data
}

fn log_len(data: &Path) -> usize {
    std::fs::read_dir(data.join("_log")).unwrap().count()
}

/// Adding one range to the scanner list moves exactly the hits from it.
/// Hand count: fixtures/demo/access.log has five hits from 198.51.100.0/24
/// (generate.py): a human open (Apple Mail on a Mac), a Slack link preview
/// (crawler), a human click from an iPhone, and an Android Gmail open and
/// click. All five become `scanner.network`; nothing else moves.
#[test]
fn one_added_range_moves_exactly_its_hits_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = ingest_demo(tmp.path());
    let before = sql(
        &data,
        "SELECT source_line, class, rule_id, ip FROM events ORDER BY source_line",
    );
    let rows_before = rows(&data, &[]);
    std::fs::write(
        tmp.path().join("acme.txt"),
        "# Acme mail gateway\n198.51.100.0/24\n",
    )
    .unwrap();
    ok(bin()
        .args([
            "networks",
            "add",
            "--role",
            "scanner",
            "--operator",
            "Acme Gateway",
            "--data",
        ])
        .arg(&data)
        .arg(tmp.path().join("acme.txt")));
    let listed = ok(bin().args(["networks", "--data"]).arg(&data));
    assert!(
        listed.contains("acme") && listed.contains("builtin:networks.csv"),
        "{listed}"
    );

    // A dry run reports and writes nothing.
    let commits = log_len(&data);
    let dry = ok(bin()
        .args(["reclassify", "--dry-run", "--format", "csv", "--data"])
        .arg(&data));
    assert_eq!(log_len(&data), commits);
    assert_eq!(rows(&data, &[]), rows_before, "--dry-run wrote nothing");
    let table = |t: &str| -> Vec<String> { t.lines().skip(1).map(str::to_string).collect() };
    let expected = vec![
        "human,scanner,4,default.human,scanner.network,request came from an email security gateway's network".to_string(),
        "crawler,scanner,1,crawler.link_preview,scanner.network,request came from an email security gateway's network".to_string(),
    ];
    assert_eq!(table(&dry), expected);

    let real = ok(bin()
        .args(["reclassify", "--format", "csv", "--data"])
        .arg(&data));
    assert_eq!(table(&real), expected);
    assert_eq!(log_len(&data), commits + 1, "one commit");
    let after = sql(
        &data,
        "SELECT source_line, class, rule_id, ip FROM events ORDER BY source_line",
    );
    let (mut moved, mut same) = (0, 0);
    for (b, a) in before.lines().zip(after.lines()).skip(1) {
        if b.ends_with(",198.51.100.0") {
            assert!(a.contains(",scanner,scanner.network,"), "{a}");
            moved += 1;
        } else {
            assert_eq!(a, b);
            same += 1;
        }
    }
    assert_eq!((moved, same), (5, 11));
    let ev = sql(&data, "SELECT DISTINCT network, network_cidr, network_roles FROM events WHERE ip = '198.51.100.0'");
    assert_eq!(
        ev.lines().nth(1),
        Some("Acme Gateway,198.51.100.0/24,scanner")
    );
    let versions = sql(
        &data,
        "SELECT count(DISTINCT rules_version) AS v FROM events",
    );
    assert_eq!(
        versions.lines().nth(1),
        Some("1"),
        "every verdict now carries the new version"
    );

    // Unchanged rules: a second run moves nothing and commits nothing.
    let again = ok(bin()
        .args(["reclassify", "--format", "csv", "--data"])
        .arg(&data));
    assert_eq!(table(&again), Vec::<String>::new());
    assert_eq!(log_len(&data), commits + 1);

    // Removing the list and re-classifying restores the first verdicts.
    ok(bin()
        .args(["networks", "remove", "acme", "--data"])
        .arg(&data));
    ok(bin().args(["reclassify", "--data"]).arg(&data));
    assert_eq!(
        sql(
            &data,
            "SELECT source_line, class, rule_id, ip FROM events ORDER BY source_line"
        ),
        before
    );
}

/// A range longer than what a truncated address keeps cannot be applied to
/// old events, and is not guessed at.
#[test]
fn truncated_addresses_are_not_matched_to_finer_ranges() {
    let tmp = tempfile::tempdir().unwrap();
    let data = ingest_demo(tmp.path());
    let before = sql(
        &data,
        "SELECT source_line, class FROM events ORDER BY source_line",
    );
    std::fs::write(tmp.path().join("fine.txt"), "198.51.100.0/25\n").unwrap();
    ok(bin()
        .args(["networks", "add", "--role", "scanner", "--data"])
        .arg(&data)
        .arg(tmp.path().join("fine.txt")));
    let out = ok(bin()
        .args(["reclassify", "--format", "csv", "--data"])
        .arg(&data));
    assert_eq!(out.lines().count(), 1, "nothing moves: {out}");
    assert_eq!(
        sql(
            &data,
            "SELECT source_line, class FROM events ORDER BY source_line"
        ),
        before
    );
}

/// Apple's egress file is taken whole (about 14,000 prefixes in reality;
/// here a generated one of the same size in documentation and benchmark
/// ranges), looked up, and used by the next ingest.
#[test]
fn private_relay_egress_file_is_taken_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let mut egress = String::new();
    for i in 0..4_000u32 {
        // 198.18.0.0/15 in /28s.
        let a = (198u32 << 24) | (18 << 16) | (i << 4);
        egress.push_str(&format!(
            "{}/28,GB,GB-EN,London,\n",
            std::net::Ipv4Addr::from(a)
        ));
    }
    for i in 0..10_000u32 {
        egress.push_str(&format!(
            "2001:db8:{:x}:{:x}::/64,US,US-CA,Los Angeles,\n",
            i / 256,
            i % 256
        ));
    }
    std::fs::write(tmp.path().join("egress-ip-ranges.csv"), &egress).unwrap();
    let data = tmp.path().join("data");
    let added = ok(bin()
        .args(["networks", "add", "--data"])
        .arg(&data)
        .arg(tmp.path().join("egress-ip-ranges.csv")));
    assert!(added.contains("14000 ranges"), "{added}");
    let hit = ok(bin()
        .args(["networks", "lookup", "2001:db8:27:f::1", "--data"])
        .arg(&data));
    assert!(
        hit.contains("iCloud Private Relay") && hit.contains("apple_mpp"),
        "{hit}"
    );
    let v4 = ok(bin()
        .args(["networks", "lookup", "198.18.62.129", "--data"])
        .arg(&data));
    assert!(
        v4.contains("198.18.62.128/28") && v4.contains("London"),
        "{v4}"
    );
    let miss = ok(bin()
        .args(["networks", "lookup", "198.20.0.1", "--data"])
        .arg(&data));
    assert!(miss.contains("no listed network"), "{miss}");

    // A bad line is refused with its number, and nothing is added.
    std::fs::write(
        tmp.path().join("bad.csv"),
        "10.0.0.0/8,US,,,\n10.0.0.300/8,US,,,\n",
    )
    .unwrap();
    let out = bin()
        .args(["networks", "add", "--data"])
        .arg(&data)
        .arg(tmp.path().join("bad.csv"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.csv") && err.contains("line 2"), "{err}");
    assert!(!data.join("_networks/bad.csv").exists());
    run(bin().args(["networks", "--data"]).arg(&data));
}
