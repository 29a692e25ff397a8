//! End-to-end tests of the `pixelsift` binary on the bundled, hand-counted fixtures.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{bin, fixtures, mint_demo, nginx_binary, run, stdout};

fn geo_args(dir: &Path) -> Vec<std::ffi::OsString> {
    let city = dir.join("city.mmdb");
    let asn = dir.join("asn.mmdb");
    std::fs::write(&city, pixelsift::demo::geoip_city_fixture()).unwrap();
    std::fs::write(&asn, pixelsift::demo::geoip_asn_fixture()).unwrap();
    vec![
        "--geoip-city".into(),
        city.into(),
        "--geoip-asn".into(),
        asn.into(),
    ]
}

fn ingest(manifest: &Path, data: &Path, geo: &[std::ffi::OsString], logs: &[&Path]) -> String {
    let out = run(bin()
        .arg("ingest")
        .arg("--manifest")
        .arg(manifest)
        .arg("--data")
        .arg(data)
        .args(geo)
        .args(logs));
    stdout(&out)
}

fn sql(data: &Path, query: &str) -> String {
    stdout(&run(bin()
        .arg("sql")
        .arg("--data")
        .arg(data)
        .args(["--format", "csv"])
        .arg(query)))
}

/// The demo log plus one line longer than a block, so every reject reason occurs.
fn demo_log_with_oversized_line(dir: &Path) -> PathBuf {
    let path = dir.join("access.log");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(pixelsift::demo::ACCESS_LOG.as_bytes()).unwrap();
    let long = format!(
        "203.0.113.10 - - [20/Nov/2026:10:00:00 +0100] \"GET /{} HTTP/1.1\" 414 0 \"-\" \"-\"\n",
        "a".repeat(pixelsift::lines::BLOCK_SIZE + 10)
    );
    f.write_all(long.as_bytes()).unwrap();
    path
}

#[test]
fn hand_counted_fixture_gives_hand_counted_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = mint_demo(tmp.path());
    let log = demo_log_with_oversized_line(tmp.path());
    let data = tmp.path().join("data");
    let geo = geo_args(tmp.path());
    let summary = ingest(&manifest, &data, &geo, &[&log]);

    // 28 lines = 16 events + 9 rejects (one per reason) + 3 ignored.
    assert!(summary.contains("lines read: 28"), "{summary}");
    assert!(summary.contains("events:   16"), "{summary}");
    assert!(summary.contains("rejects:  9"), "{summary}");
    assert!(summary.contains("ignored:  3"), "{summary}");

    // Worked out by hand from the comments in fixtures/demo/generate.py:
    // spring-sale: opened r01 r02(proxy) r04 r08, r07 by a click -> 5; r03 MPP only -> 1;
    // clicks r01 r07 -> 2; bots r05 x2 (scanner) + r06 (crawler) -> 3;
    // first opens 120, 600, 900, 7200 s -> median 750.
    // newsletter-47: s01, s02 opened; s03 MPP only; s02 clicked; first opens 300, 1500 -> 900.
    let csv = stdout(&run(bin()
        .args(["report", "campaign-summary", "--format", "csv", "--data"])
        .arg(&data)));
    assert_eq!(
        csv,
        "campaign_id,recipients,unique_opens,machine_only_opens,unique_clicks,bot_clicks,open_rate,click_rate,click_to_open_rate,median_seconds_to_open,untracked,open_hits,click_hits,note\n\
         newsletter-47,4,2,1,1,0,0.5,0.25,0.5,900.0,0,2,1,\n\
         spring-sale,10,5,1,2,3,0.5,0.2,0.4,750.0,0,5,2,\n"
    );

    let classes = sql(
        &data,
        "SELECT kind, class, rule_id, count(*) AS n FROM events GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    );
    assert_eq!(
        classes,
        "kind,class,rule_id,n\n\
         click,crawler,crawler.link_preview,1\n\
         click,human,default.human,3\n\
         click,scanner,scanner.head,1\n\
         click,scanner,scanner.network,1\n\
         open,apple_mpp,apple_mpp.prefetch,3\n\
         open,human,default.human,6\n\
         open,image_proxy,image_proxy.ua,1\n"
    );

    let rejects = sql(
        &data,
        "SELECT reason, source_line FROM rejects ORDER BY source_line",
    );
    assert_eq!(
        rejects,
        "reason,source_line\n\
         malformed_line,20\n\
         bad_timestamp,21\n\
         malformed_tracking_path,22\n\
         unknown_token,23\n\
         unknown_link,24\n\
         link_campaign_mismatch,25\n\
         unexpected_method,26\n\
         error_status,27\n\
         line_too_long,28\n"
    );

    // Enrichment from the fixture databases and the user agent, and UTC times.
    let r01 = sql(
        &data,
        "SELECT CAST(ts AS VARCHAR) AS ts, seconds_since_sent, country, city, asn, as_org, ua_name, os \
         FROM events WHERE recipient_id = 'r01' AND kind = 'open' ORDER BY ts LIMIT 1",
    );
    assert_eq!(
        r01,
        "ts,seconds_since_sent,country,city,asn,as_org,ua_name,os\n\
         2026-11-20T09:02:00Z,120,FR,Paris,64500,Example Broadband,Chrome,Windows 10\n"
    );
    let mpp = sql(
        &data,
        "SELECT DISTINCT network, reason FROM events WHERE class = 'apple_mpp'",
    );
    assert!(mpp.lines().count() == 2 && mpp.contains("Apple"), "{mpp}");
}

#[test]
fn plain_and_gzip_give_identical_datasets_read_back_independently() {
    use flate2::write::GzEncoder;
    let tmp = tempfile::tempdir().unwrap();
    let manifest = mint_demo(tmp.path());
    let geo = geo_args(tmp.path());
    let plain = tmp.path().join("access.log");
    std::fs::write(&plain, pixelsift::demo::ACCESS_LOG).unwrap();
    let gz = tmp.path().join("access.log.1.gz");
    let mut enc = GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(pixelsift::demo::ACCESS_LOG.as_bytes())
        .unwrap();
    enc.finish().unwrap();

    let (d1, d2) = (tmp.path().join("d1"), tmp.path().join("d2"));
    let s1 = ingest(&manifest, &d1, &geo, &[&plain]);
    let s2 = ingest(&manifest, &d2, &geo, &[&gz]);
    // The summaries differ only in the file and dataset names.
    let body = |s: &str, d: &Path| {
        s.lines()
            .skip(1)
            .collect::<Vec<_>>()
            .join("\n")
            .replace(&d.display().to_string(), "")
    };
    assert_eq!(body(&s1, &d1), body(&s2, &d2));
    assert!(
        s2.starts_with(&format!("read {} as combined: 27 lines", gz.display())),
        "{s2}"
    );

    let rows1 = read_rows(&d1.join("events"));
    let rows2 = read_rows(&d2.join("events"));
    assert_eq!(rows1.len(), 16);
    assert_eq!(rows1, rows2);
    // Spot-check a row through the independent reader: r08's 304 open.
    let r08 = rows1
        .iter()
        .find(|r| r.contains(r#"recipient_id="r08""#))
        .expect("r08 has an event");
    assert!(r08.starts_with("date=2026-11-20 "), "{r08}");
    assert!(
        r08.contains("status=304")
            && r08.contains(r#"class="human""#)
            && r08.contains(r#"kind="open""#),
        "{r08}"
    );
}

/// Rows of the events table, without `source_file`, which names the input
/// and so differs between the two runs.
fn read_rows(dir: &Path) -> Vec<String> {
    common::rows(dir, &["source_file"])
}

#[test]
fn mint_is_keyed_reproducible_and_refuses_bad_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let a = mint_demo(&tmp.path().join("a"));
    let b = mint_demo(&tmp.path().join("b"));
    let ma = std::fs::read_to_string(a.join("manifest.csv")).unwrap();
    assert_eq!(ma, std::fs::read_to_string(b.join("manifest.csv")).unwrap());
    assert!(
        ma.starts_with(
            "token,campaign_id,recipient_id,variant,sent_at,tracked,recipients,segment\n"
        ),
        "{ma}"
    );
    assert_eq!(ma.lines().count(), 15);
    // The committed log was generated with the same contract (fixtures/demo/generate.py).
    let first_token = ma.lines().nth(1).unwrap().split(',').next().unwrap();
    assert!(pixelsift::demo::ACCESS_LOG.contains(&format!("/o/{first_token}.gif")));

    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let f = fixtures();
    run(bin()
        .args(["mint", "--base-url", "https://t.example.com"])
        .arg("--recipients")
        .arg(f.join("recipients.csv"))
        .arg("--links")
        .arg(f.join("links.csv"))
        .arg("--out")
        .arg(&other)
        .env("PIXELSIFT_SECRET", "another-secret-of-enough-length"));
    let mo = std::fs::read_to_string(other.join("manifest.csv")).unwrap();
    let tokens = |m: &str| {
        m.lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert!(tokens(&ma).iter().zip(tokens(&mo)).all(|(x, y)| *x != y));

    // urls.csv: one row per recipient, one click column per link.
    let urls = std::fs::read_to_string(a.join("urls.csv")).unwrap();
    let header = urls.lines().next().unwrap();
    assert_eq!(
        header,
        "campaign_id,recipient_id,variant,token,pixel_url,click_l-shop,click_l-blog,click_l-news"
    );
    let r01 = urls.lines().nth(1).unwrap();
    assert!(r01.contains(&format!("https://t.example.com/o/{first_token}.gif")));
    assert!(r01.contains(&format!("https://t.example.com/c/{first_token}/l-shop")));

    // No secret given: one is created with mode 0600 and reused next time.
    let fresh = tmp.path().join("fresh");
    let out = run(bin()
        .args(["mint", "--base-url", "https://t.example.com"])
        .arg("--recipients")
        .arg(f.join("recipients.csv"))
        .arg("--links")
        .arg(f.join("links.csv"))
        .arg("--out")
        .arg(&fresh)
        .env_remove("PIXELSIFT_SECRET"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("created a new secret"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(fresh.join("secret.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // Bad rows: each is named with its line, blank lines counted, in a
    // file with CRLF line ends (a spreadsheet's export) too; nothing is
    // written.
    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("r.csv"),
        "campaign_id,recipient_id,variant,sent_at\r\nc1,ok,A,2026-01-01T00:00:00Z\r\n\r\nc1,bad id,A,2026-01-01T00:00:00Z\r\nc1,r3,A,yesterday\r\nc1,ok,B,2026-01-01T00:00:00Z\r\n",
    )
    .unwrap();
    std::fs::write(bad.join("l.csv"), "campaign_id,link_id,url\nc1,l1,https://e.com/\n\nc1,l2,javascript:alert(1)\nc1,L1,https://e.com/x\n").unwrap();
    let out = bin()
        .args([
            "mint",
            "--base-url",
            "https://t.example.com",
            "--secret-file",
        ])
        .arg(f.join("secret.key"))
        .arg("--recipients")
        .arg(bad.join("r.csv"))
        .arg("--links")
        .arg(bad.join("l.csv"))
        .arg("--out")
        .arg(bad.join("out"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "r.csv:4: recipient_id \"bad id\"",
        "r.csv:5: sent_at \"yesterday\"",
        "r.csv:6: recipient ok appears twice",
        "l.csv:4: url \"javascript:alert(1)\"",
        "l.csv:5: link_id L1 appears twice",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert!(
        !bad.join("out").exists(),
        "nothing may be written on bad input"
    );
}

#[test]
fn generated_nginx_conf_passes_nginx_t() {
    let Some(nginx) = nginx_binary() else {
        assert!(
            std::env::var("CI").is_err(),
            "nginx is required in CI (.ci/run installs it)"
        );
        eprintln!("skipping: nginx is not installed");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let minted = mint_demo(tmp.path());
    let conf = std::fs::read_to_string(minted.join("nginx.conf")).unwrap();
    // One map entry per link, never per recipient.
    assert_eq!(conf.matches("\"l-").count(), 3, "{conf}");
    let prefix = tmp.path().join("nginx");
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    let main = prefix.join("nginx.conf");
    std::fs::write(
        &main,
        format!(
            "error_log {p}/logs/error.log;\npid {p}/nginx.pid;\nevents {{}}\nhttp {{\n  include {m};\n}}\n",
            p = prefix.display(),
            m = minted.join("nginx.conf").display()
        ),
    )
    .unwrap();
    let out = Command::new(nginx)
        .arg("-t")
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&main)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "nginx -t failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn report_list_and_output_formats() {
    let listing = stdout(&run(bin().args(["report", "--list"])));
    assert!(listing.starts_with("campaign-summary"), "{listing}");
    assert!(listing.contains("One row per campaign"), "{listing}");

    let tmp = tempfile::tempdir().unwrap();
    let manifest = mint_demo(tmp.path());
    let data = tmp.path().join("data");
    let log = tmp.path().join("a.log");
    std::fs::write(&log, pixelsift::demo::ACCESS_LOG).unwrap();
    ingest(&manifest, &data, &[], &[&log]);
    let q = "SELECT campaign_id, count(*) AS n FROM manifest GROUP BY 1 ORDER BY 1";
    let json = stdout(&run(bin()
        .args(["sql", "--format", "json", "--data"])
        .arg(&data)
        .arg(q)));
    assert_eq!(
        json.trim(),
        r#"[{"campaign_id":"newsletter-47","n":4},{"campaign_id":"spring-sale","n":10}]"#
    );
    let md = stdout(&run(bin()
        .args(["sql", "--format", "markdown", "--data"])
        .arg(&data)
        .arg(q)));
    assert_eq!(
        md,
        "| campaign_id | n |\n|---|---|\n| newsletter-47 | 4 |\n| spring-sale | 10 |\n"
    );
    let empty = stdout(&run(bin()
        .args(["sql", "--format", "csv", "--data"])
        .arg(&data)
        .arg("SELECT token FROM events WHERE false")));
    assert_eq!(empty, "token\n");
    let table = stdout(&run(bin().args(["sql", "--data"]).arg(&data).arg(q)));
    assert_eq!(
        table.lines().filter(|l| l.starts_with("| ")).count(),
        3,
        "{table}"
    );
}

/// An error names its file and says what went wrong once: the library's
/// I/O errors carry their cause in their own message, and the command
/// line used to print it again as the error's source.
#[test]
fn an_error_names_the_file_and_its_cause_once() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = mint_demo(tmp.path());
    let missing = tmp.path().join("no-such.log");
    let out = bin()
        .arg("ingest")
        .arg("--manifest")
        .arg(&manifest)
        .arg("--data")
        .arg(tmp.path().join("data"))
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("pixelsift: "))
        .unwrap_or_else(|| panic!("an error line: {err}"));
    assert!(line.contains(&missing.display().to_string()), "{line}");
    assert_eq!(
        line.matches("No such file or directory").count(),
        1,
        "{line}"
    );
}
