//! Consent: opted-out recipients are never tracked, and aggregate tracking
//! keeps no recipient identity anywhere in the dataset.

mod common;

use std::path::Path;

use common::{assert_tallies_match, bin, fixtures, ingest, mint_demo_with, ok, sql};

fn mint(dir: &Path, out: &str, extra: &[&str]) -> std::path::PathBuf {
    let mut flags = vec!["--trap-link"];
    flags.extend_from_slice(extra);
    mint_demo_with(dir, out, &flags)
}

/// campaign-summary as CSV, and the cells of one campaign's row.
fn summary_row(data: &Path, campaign: &str) -> (String, Vec<String>) {
    let csv = ok(bin()
        .args(["report", "campaign-summary", "--format", "csv", "--data"])
        .arg(data));
    let row = csv
        .lines()
        .find(|l| l.starts_with(&format!("{campaign},")))
        .unwrap_or_else(|| panic!("no row for {campaign}:\n{csv}"))
        .split(',')
        .map(str::to_string)
        .collect();
    (csv, row)
}

/// urls.csv as (recipient_id -> its row's cells by column name).
fn urls(minted: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let text = std::fs::read_to_string(minted.join("urls.csv")).unwrap();
    let mut lines = text.lines();
    let head: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    lines
        .map(|l| {
            head.iter()
                .cloned()
                .zip(l.split(',').map(str::to_string))
                .collect()
        })
        .collect()
}

#[test]
fn opted_out_recipients_appear_in_no_url_and_no_event() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // r02 opts out of everything, r03 of spring-sale only.
    std::fs::write(
        dir.join("optout.txt"),
        "# unsubscribed from tracking\nr02\nspring-sale,r03\n",
    )
    .unwrap();
    let plain = mint(dir, "plain", &[]);
    let minted = mint(
        dir,
        "minted",
        &["--opt-out", dir.join("optout.txt").to_str().unwrap()],
    );
    let tokens_of =
        |rows: &[std::collections::BTreeMap<String, String>], who: &str| -> Vec<String> {
            rows.iter()
                .filter(|r| r["recipient_id"] == who)
                .map(|r| r["token"].clone())
                .collect()
        };
    let plain_rows = urls(&plain);
    let rows = urls(&minted);
    let everything = [
        std::fs::read_to_string(minted.join("urls.csv")).unwrap(),
        std::fs::read_to_string(minted.join("manifest.csv")).unwrap(),
        std::fs::read_to_string(minted.join("nginx.conf")).unwrap(),
    ]
    .concat();
    for who in ["r02", "r03"] {
        for t in tokens_of(&plain_rows, who) {
            assert!(
                !everything.contains(&t),
                "{who}'s token {t} is still minted"
            );
        }
        let r = rows.iter().find(|r| r["recipient_id"] == who).unwrap();
        assert_eq!(
            (r["token"].as_str(), r["pixel_url"].as_str()),
            ("", ""),
            "{r:?}"
        );
        assert_eq!(
            r["click_l-shop"],
            "https://shop.example.com/spring?utm_source=mail"
        );
        assert_eq!(r["trap_url"], "");
        assert!(r.values().all(|v| !v.contains("t.example.com")), "{r:?}");
    }
    let r01 = rows.iter().find(|r| r["recipient_id"] == "r01").unwrap();
    assert!(r01["pixel_url"].starts_with("https://t.example.com/o/"));

    // The demo log still has their hits (it was written for everyone): they
    // join to nothing and are set aside, never counted.
    let data = dir.join("data");
    ingest(&minted, &data, &[&fixtures().join("access.log")]);
    assert_eq!(
        sql(
            &data,
            "SELECT count(*) AS n FROM events WHERE recipient_id IN ('r02', 'r03')"
        ),
        "n\n0\n"
    );
    assert_eq!(
        sql(
            &data,
            "SELECT recipient_id, tracked, recipients FROM manifest WHERE NOT tracked ORDER BY 1"
        ),
        "recipient_id,tracked,recipients\nr02,false,1\nr03,false,1\n"
    );
    // spring-sale: 10 recipients, 2 opted out -> 8 in the denominator.
    // Opened: r01, r04, r07 (by its click), r08 = 4 (r02's proxy open is
    // gone); r03's MPP-only open is gone too -> 0 machine-only; clicked r01,
    // r07; bot clicks unchanged (3). Open hits: r01 twice, r04, r08 = 4.
    let (summary, spring) = summary_row(&data, "spring-sale");
    let spring: Vec<&str> = spring.iter().map(String::as_str).collect();
    assert_eq!(
        spring[..6],
        ["spring-sale", "8", "4", "0", "2", "3"],
        "{summary}"
    );
    assert_eq!(spring[6..8], ["0.5", "0.25"], "{summary}");
    assert_eq!(
        spring[10..],
        [
            "2",
            "4",
            "2",
            "opted-out recipients are not in the denominator"
        ],
        "{summary}"
    );
    let tiers = ok(bin()
        .args([
            "report",
            "recipients",
            "--format",
            "csv",
            "--param",
            "campaign=spring-sale",
            "--data",
        ])
        .arg(&data));
    assert!(
        tiers.contains("spring-sale,r02,untracked,0,0,0,0,"),
        "{tiers}"
    );
    assert!(
        tiers.contains("spring-sale,r03,untracked,0,0,0,0,"),
        "{tiers}"
    );
}

#[test]
fn aggregate_tracking_keeps_no_recipient_identity() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("optout.txt"), "r09\n").unwrap();
    let minted = mint(
        dir,
        "minted",
        &[
            "--tracking",
            "aggregate",
            "--opt-out",
            dir.join("optout.txt").to_str().unwrap(),
        ],
    );
    let rows = urls(&minted);
    let path_of = |who: &str, col: &str| {
        let r = rows.iter().find(|r| r["recipient_id"] == who).unwrap();
        r[col]
            .trim_start_matches("https://t.example.com")
            .to_string()
    };
    // Same variant, same token: r01 and r03 (A) share one, r02 (B) has another.
    assert_eq!(path_of("r01", "pixel_url"), path_of("r03", "pixel_url"));
    assert_ne!(path_of("r01", "pixel_url"), path_of("r02", "pixel_url"));
    let thunderbird =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:115.0) Gecko/20100101 Thunderbird/115.5.0";
    let line = |ip: &str, hms: &str, path: &str, status: u16| {
        format!("{ip} - - [20/Nov/2026:{hms} +0000] \"GET {path} HTTP/1.1\" {status} 43 \"-\" \"{thunderbird}\"\n")
    };
    // Hand count, spring-sale: A opens 3 (r01, r03, r05), B opens 1 (r02);
    // clicks: r01 on l-shop and, two seconds later from another network,
    // r03 on l-blog. On one shared token that is two people, not a burst:
    // both stay human.
    let log = [
        line(
            "203.0.113.10",
            "10:00:00",
            &path_of("r01", "pixel_url"),
            200,
        ),
        line(
            "203.0.113.11",
            "10:01:00",
            &path_of("r03", "pixel_url"),
            200,
        ),
        line(
            "203.0.113.12",
            "10:02:00",
            &path_of("r05", "pixel_url"),
            200,
        ),
        line(
            "203.0.113.13",
            "10:03:00",
            &path_of("r02", "pixel_url"),
            200,
        ),
        line(
            "203.0.113.10",
            "10:05:00",
            &path_of("r01", "click_l-shop"),
            302,
        ),
        line(
            "192.0.2.77",
            "10:05:02",
            &path_of("r03", "click_l-blog"),
            302,
        ),
    ]
    .concat();
    std::fs::write(dir.join("access.log"), log).unwrap();
    let data = dir.join("data");
    ingest(&minted, &data, &[&dir.join("access.log")]);

    let ids: Vec<String> = std::fs::read_to_string(fixtures().join("recipients.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 14);
    for table in ["events", "rejects", "manifest", "links", "tallies"] {
        let all = sql(&data, &format!("SELECT * FROM {table}"));
        for cell in all.split([',', '\n', '/', ' ', '"']) {
            assert!(
                !ids.iter().any(|id| id == cell),
                "{table} holds recipient id {cell:?}:\n{all}"
            );
        }
    }
    assert_eq!(
        sql(&data, "SELECT DISTINCT recipient_id FROM events UNION SELECT DISTINCT recipient_id FROM manifest"),
        "recipient_id\n*\n"
    );
    assert_eq!(
        sql(
            &data,
            "SELECT kind, class, count(*) AS n FROM events GROUP BY 1, 2 ORDER BY 1, 2"
        ),
        "kind,class,n\nclick,human,2\nopen,human,4\n"
    );
    // The shared tokens' hits are counted in tallies too (the message
    // pass, which counts everyone else's, never sees them).
    let counted = assert_tallies_match(&data);
    assert_eq!(counted.lines().count(), 1 + 2, "{counted}");
    let (summary, spring) = summary_row(&data, "spring-sale");
    let spring: Vec<&str> = spring.iter().map(String::as_str).collect();
    // 10 recipients, r09 opted out -> 9; unique counts and rates are null.
    assert_eq!(
        spring[..6],
        ["spring-sale", "9", "", "", "", "0"],
        "{summary}"
    );
    assert_eq!(spring[6..10], ["", "", "", ""], "{summary}");
    assert_eq!(spring[10..13], ["1", "4", "2"], "{summary}");
    assert!(
        spring[13].contains("unique counts are not available"),
        "{summary}"
    );
    let variants = ok(bin()
        .args([
            "report",
            "variants",
            "--format",
            "csv",
            "--param",
            "campaign=spring-sale",
            "--data",
        ])
        .arg(&data));
    let v: Vec<Vec<&str>> = variants
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    // A: r01 r03 r05 r07 r09 -> 4 tracked, 1 untracked; 3 opens, 2 clicks. B: 5, 1 open.
    assert_eq!(
        (v[0][1], v[0][3], v[0][4], v[0][16], v[0][17], v[0][18]),
        ("A", "4", "", "1", "3", "2"),
        "{variants}"
    );
    assert_eq!(
        (v[1][1], v[1][3], v[1][17], v[1][18]),
        ("B", "5", "1", "0"),
        "{variants}"
    );
    assert_eq!(v[0][19], "0.75", "{variants}");
    // Reports that need people say so or leave aggregate campaigns out.
    let links = ok(bin()
        .args([
            "report",
            "links",
            "--format",
            "csv",
            "--param",
            "campaign=spring-sale",
            "--data",
        ])
        .arg(&data));
    let shop: Vec<&str> = links
        .lines()
        .find(|l| l.contains(",l-shop,"))
        .unwrap()
        .split(',')
        .collect();
    assert_eq!(
        (shop[3], shop[4]),
        ("1", ""),
        "one human click, no unique count: {links}"
    );
    let tto = ok(bin()
        .args(["report", "time-to-open", "--format", "csv", "--data"])
        .arg(&data));
    assert_eq!(tto.lines().count(), 1, "{tto}");
    // Re-classifying does not take the shared token for one message either.
    let moved = ok(bin()
        .args(["reclassify", "--format", "csv", "--data"])
        .arg(&data));
    assert_eq!(moved.lines().count(), 1, "nothing moves: {moved}");
    // Nobody is a recipient in the tiers: aggregate tokens stand for no one.
    let tiers = ok(bin()
        .args(["report", "recipients", "--format", "csv", "--data"])
        .arg(&data));
    assert_eq!(tiers.lines().count(), 1, "{tiers}");
}
