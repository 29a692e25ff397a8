//! Every report of `queries/` on the hand-counted demo fixture, with rows
//! worked out by hand from `fixtures/demo/generate.py` (each line's comment
//! says who did what, when, from where).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

mod common;
use common::{bin, run};

/// The demo dataset (with the fixture GeoIP databases), built once.
fn data() -> &'static Path {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        run(bin().arg("demo").arg("--keep").arg(&dir));
        dir.join("dataset")
    })
}

fn report(name: &str, params: &[&str]) -> String {
    let mut c = bin();
    c.args(["report", name, "--format", "csv", "--data"])
        .arg(data());
    for p in params {
        c.args(["--param", p]);
    }
    String::from_utf8(run(&mut c).stdout).unwrap()
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[test]
fn variants_with_z_test() {
    // spring-sale A = r01 r03 r05 r07 r09: opened r01, r07 (by a click); clicked r01, r07.
    //             B = r02 r04 r06 r08 r10: opened r02 (proxy), r04, r08; no human click.
    let out = report("variants", &[]);
    let rows = lines(&out);
    assert_eq!(rows[0], "campaign_id,variant,baseline,recipients,unique_opens,unique_clicks,open_rate,click_rate,open_rate_diff,open_p_value,open_diff_ci_low,open_diff_ci_high,click_rate_diff,click_p_value,click_diff_ci_low,click_diff_ci_high,untracked,open_hits,click_hits,opens_per_recipient,clicks_per_recipient,note");
    assert_eq!(
        rows[1],
        "newsletter-47,,,4,2,1,0.5,0.25,0.0,,,,0.0,,,,0,2,1,0.5,0.25,"
    );
    assert_eq!(
        rows[2],
        "spring-sale,A,A,5,2,2,0.4,0.4,0.0,,,,0.0,,,,0,2,2,0.4,0.4,"
    );
    let b: Vec<&str> = rows[3].split(',').collect();
    assert_eq!(
        b[..8],
        ["spring-sale", "B", "A", "5", "3", "0", "0.6", "0.0"]
    );
    let f = |i: usize| b[i].parse::<f64>().unwrap();
    // Independent values: Python 3.11, math.erfc(abs(z) / math.sqrt(2)) with
    // z = (p2 - p1) / sqrt(p (1 - p) (1/n1 + 1/n2)), p pooled:
    //   opens  z = 0.6324555320336757  -> p = 0.5270892568655383
    //   clicks z = -1.5811388300841895 -> p = 0.11384629800665812
    // Wald 95% intervals: (p2 - p1) +- 1.959963984540054 sqrt(p1 q1 / n1 + p2 q2 / n2).
    let close =
        |got: f64, want: f64, tol: f64| assert!((got - want).abs() < tol, "{got} vs {want}");
    close(f(8), 0.2, 1e-12);
    close(f(9), 0.5270892568655383, 1e-6);
    close(f(10), -0.40727262970319683, 1e-12);
    close(f(11), 0.8072726297031969, 1e-12);
    close(f(12), -0.4, 1e-12);
    close(f(13), 0.11384629800665812, 1e-6);
    close(f(14), -0.8294065944921177, 1e-12);
    close(f(15), 0.029406594492117688, 1e-12);
}

#[test]
fn time_to_open_buckets() {
    // First human/proxy opens: spring 120 s, 600 s, 900 s, 7200 s; newsletter 300 s, 1500 s.
    let out = report("time-to-open", &[]);
    let want = "campaign_id,bucket_order,bucket,recipients,share\n\
        newsletter-47,1,<1m,0,0.0\nnewsletter-47,2,1-5m,0,0.0\nnewsletter-47,3,5-15m,1,0.5\nnewsletter-47,4,15-60m,1,0.5\n\
        newsletter-47,5,1-3h,0,0.0\nnewsletter-47,6,3-12h,0,0.0\nnewsletter-47,7,12-24h,0,0.0\nnewsletter-47,8,1-3d,0,0.0\nnewsletter-47,9,>3d,0,0.0\n\
        spring-sale,1,<1m,0,0.0\nspring-sale,2,1-5m,1,0.25\nspring-sale,3,5-15m,1,0.25\nspring-sale,4,15-60m,1,0.25\n\
        spring-sale,5,1-3h,1,0.25\nspring-sale,6,3-12h,0,0.0\nspring-sale,7,12-24h,0,0.0\nspring-sale,8,1-3d,0,0.0\nspring-sale,9,>3d,0,0.0\n";
    assert_eq!(out, want);
}

#[test]
fn engagement_hours() {
    // 2026-11-20 is a Friday (5): r01 09:02, r04 09:15, r08 11:00 UTC (r02's proxy open is not a human one).
    // 2026-11-21 is a Saturday (6): s01 07:35, s02 07:55. All are in Paris or Berlin, UTC+1 in November.
    assert_eq!(
        report("engagement-hours", &[]),
        "campaign_id,clock,weekday,hour,first_opens\n\
         newsletter-47,local,6,8,2\nnewsletter-47,utc,6,7,2\n\
         spring-sale,local,5,10,2\nspring-sale,local,5,12,1\nspring-sale,utc,5,9,2\nspring-sale,utc,5,11,1\n"
    );
}

#[test]
fn clients_and_hidden_share() {
    // spring human open hits: r01 Chrome x2, r04 Apple Mail, r08 Outlook; all 7 open hits
    // include r02 (proxy) and r03, r04 (MPP). newsletter: s01 Thunderbird, s02 Gmail app; s03 MPP of 3.
    let want = "campaign_id,dimension,value,opens,share\n\
        newsletter-47,client,Gmail for Android,1,0.5\nnewsletter-47,client,Thunderbird,1,0.5\n\
        newsletter-47,device,pc,1,0.5\nnewsletter-47,device,smartphone,1,0.5\n\
        newsletter-47,hidden,apple_mpp,1,0.3333333333333333\n\
        newsletter-47,os,Android,1,0.5\nnewsletter-47,os,Windows 10,1,0.5\n\
        spring-sale,client,Chrome,2,0.5\nspring-sale,client,Apple Mail,1,0.25\nspring-sale,client,Outlook,1,0.25\n\
        spring-sale,device,pc,4,1.0\n\
        spring-sale,hidden,apple_mpp,2,0.2857142857142857\nspring-sale,hidden,image_proxy,1,0.14285714285714285\n\
        spring-sale,os,Windows 10,2,0.5\nspring-sale,os,Mac OSX,1,0.25\nspring-sale,os,Windows,1,0.25\n";
    assert_eq!(report("clients", &[]), want);
}

#[test]
fn geo_leaves_proxies_out_and_says_so() {
    // 203.0.113.0/24 is Paris and 198.51.100.0/24 Berlin in the fixture database.
    let want = "campaign_id,country,city,opens,clicks,proxy_hits_left_out\n\
        newsletter-47,DE,Berlin,1,1,1\nnewsletter-47,FR,Paris,1,0,1\n\
        spring-sale,FR,Paris,3,1,3\nspring-sale,DE,Berlin,1,1,3\n";
    assert_eq!(report("geo", &[]), want);
}

#[test]
fn links() {
    let want = "campaign_id,link_id,url,human_clicks,unique_clickers,click_share,bot_clicks\n\
        newsletter-47,l-news,https://example.com/news/47,1,1,1.0,0\n\
        spring-sale,l-blog,https://example.com/blog/spring,1,1,0.5,2\n\
        spring-sale,l-shop,https://shop.example.com/spring?utm_source=mail,1,1,0.5,1\n";
    assert_eq!(report("links", &[]), want);
}

#[test]
fn bots_by_class_and_rule_and_day_pruning() {
    let out = report("bots", &[]);
    let rows = lines(&out);
    assert_eq!(rows.len(), 11, "{out}");
    assert!(rows.contains(&"spring-sale,2026-11-20,click,scanner,scanner.network,request came from an email security gateway's network,1"));
    assert!(rows.contains(&"spring-sale,2026-11-20,open,apple_mpp,apple_mpp.prefetch,Apple Mail Privacy Protection prefetch (Apple prefetch user agent from an Apple/Private Relay network),2"));
    // since/until prune the day partitions (and filter): only the 21st is left.
    let out = report("bots", &["since=2026-11-21", "until=2026-11-21"]);
    assert!(
        lines(&out)[1..]
            .iter()
            .all(|r| r.starts_with("newsletter-47,2026-11-21,")),
        "{out}"
    );
    assert_eq!(lines(&out).len(), 4);
    let out = report("bots", &["campaign=spring-sale"]);
    assert!(
        lines(&out)[1..]
            .iter()
            .all(|r| r.starts_with("spring-sale,")),
        "{out}"
    );
}

#[test]
fn inactive_recipients() {
    // Nobody received 3 campaigns: none with the default n=3.
    assert_eq!(
        report("inactive", &[]),
        "recipient_id,campaigns,last_sent_at,machine_only_campaigns\n"
    );
    // With n=1: no human signal in their one campaign (r03 MPP only, r05 scanned, r06 crawled,
    // r09 and r10 only rejected lines; s03 MPP only, s04 nothing).
    assert_eq!(
        report("inactive", &["n=1"]),
        "recipient_id,campaigns,last_sent_at,machine_only_campaigns\n\
         r03,1,2026-11-20T09:00:00Z,1\nr05,1,2026-11-20T09:00:00Z,1\nr06,1,2026-11-20T09:00:00Z,1\n\
         r09,1,2026-11-20T09:00:00Z,0\nr10,1,2026-11-20T09:00:00Z,0\n\
         s03,1,2026-11-21T07:30:00Z,1\ns04,1,2026-11-21T07:30:00Z,0\n"
    );
}

#[test]
fn leads_ranked_by_the_documented_score() {
    let out = report("leads", &[]);
    let rows: Vec<Vec<&str>> = lines(&out)[1..]
        .iter()
        .map(|l| l.split(',').collect())
        .collect();
    // newest event: s02's click, 2026-11-21T07:56:00Z.
    let newest = chrono::DateTime::parse_from_rfc3339("2026-11-21T07:56:00Z").unwrap();
    let score = |opens: f64, clicks: f64, days: f64, last: &str| {
        let last = chrono::DateTime::parse_from_rfc3339(last).unwrap();
        let d = (newest - last).num_seconds() as f64 / 86400.0;
        opens + 3.0 * clicks + 2.0 * (days - 1.0).max(0.0) + 5.0 * 0.5f64.powf(d / 7.0)
    };
    let want = [
        ("r01", 2.0, 1.0, 1.0, "2026-11-20T10:00:00Z"),
        ("s02", 1.0, 1.0, 1.0, "2026-11-21T07:56:00Z"),
        ("r07", 0.0, 1.0, 0.0, "2026-11-20T10:06:40Z"),
        ("s01", 1.0, 0.0, 1.0, "2026-11-21T07:35:00Z"),
        ("r08", 1.0, 0.0, 1.0, "2026-11-20T11:00:00Z"),
        ("r04", 1.0, 0.0, 1.0, "2026-11-20T09:15:00Z"),
        ("r02", 1.0, 0.0, 1.0, "2026-11-20T09:10:00Z"),
    ];
    assert_eq!(rows.len(), want.len(), "{out}");
    for (i, (r, (id, o, c, d, last))) in rows.iter().zip(want).enumerate() {
        assert_eq!(r[0], (i + 1).to_string());
        assert_eq!(
            (r[1], r[2], r[3], r[4], r[5]),
            (id, &*o.to_string(), &*c.to_string(), &*d.to_string(), last),
            "{out}"
        );
        let got: f64 = r[6].parse().unwrap();
        assert!((got - score(o, c, d, last)).abs() < 1e-9, "{id}: {got}");
    }
}

#[test]
fn parameters_are_checked_and_bound_not_pasted() {
    let out = bin()
        .args(["report", "links", "--param", "nope=1", "--data"])
        .arg(data())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("has no parameter \"nope\"; it takes: campaign, since, until"));
    let out = bin()
        .args(["report", "bots", "--param", "since=yesterday", "--data"])
        .arg(data())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected a date"));
    // A value that would be an injection if pasted is just a campaign name that matches nothing.
    assert_eq!(lines(&report("links", &["campaign=x' OR '1'='1"])).len(), 1);
}

#[test]
fn output_formats_files_and_csv_safety() {
    let q = "SELECT '=HYPERLINK(1)' AS f, '+1' AS p, 'plain' AS s, -5 AS n";
    let csv = String::from_utf8(
        run(bin()
            .args(["sql", "--format", "csv", "--data"])
            .arg(data())
            .arg(q))
        .stdout,
    )
    .unwrap();
    assert_eq!(csv, "f,p,s,n\n'=HYPERLINK(1),'+1,plain,-5\n");
    let nd = String::from_utf8(
        run(bin()
            .args(["sql", "--format", "ndjson", "--data"])
            .arg(data())
            .arg("SELECT link_id FROM links ORDER BY 1"))
        .stdout,
    )
    .unwrap();
    assert_eq!(
        nd,
        "{\"link_id\":\"l-blog\"}\n{\"link_id\":\"l-news\"}\n{\"link_id\":\"l-shop\"}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("summary.parquet");
    run(bin()
        .args(["report", "campaign-summary", "--format", "parquet", "--out"])
        .arg(&pq)
        .arg("--data")
        .arg(data()));
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let r = SerializedFileReader::new(std::fs::File::open(&pq).unwrap()).unwrap();
    assert_eq!(r.metadata().file_metadata().num_rows(), 2);
    let html = dir.path().join("t.html");
    run(bin()
        .args(["report", "links", "--format", "html", "--out"])
        .arg(&html)
        .arg("--data")
        .arg(data()));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("<td>https://shop.example.com/spring?utm_source=mail</td>"),
        "{page}"
    );
    let out = bin()
        .args(["report", "links", "--format", "parquet", "--data"])
        .arg(data())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--out"));
}

fn chromium() -> Option<PathBuf> {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

#[test]
fn nightly_html_renders_in_headless_chromium_and_fetches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nightly");
    run(bin()
        .args(["report", "nightly", "--out"])
        .arg(&out)
        .arg("--data")
        .arg(data()));
    for r in [
        "campaign-summary",
        "variants",
        "time-to-open",
        "clients",
        "geo",
        "links",
        "bots",
        "inactive",
        "leads",
        "daily",
    ] {
        assert!(out.join(format!("{r}.csv")).exists(), "{r}.csv");
    }
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    // Self-contained: nothing that could make a browser fetch, and a policy forbidding it.
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));
    for bad in [
        "<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import",
    ] {
        assert!(!html.contains(bad), "the page contains {bad}");
    }
    let Some(chromium) = chromium() else {
        assert!(
            std::env::var("CI").is_err(),
            "chromium is required in CI (.ci/run installs it)"
        );
        eprintln!("skipping the browser check: chromium is not installed");
        return;
    };
    let profile = dir.path().join("profile");
    let dom = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", out.join("index.html").display()))
        .output()
        .unwrap();
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    // The rendered page has the charts and the numbers.
    assert!(
        dom.matches("<svg").count() >= 4,
        "charts: {}",
        dom.matches("<svg").count()
    );
    for text in [
        "Hits per day",
        "Time to first open",
        "Share of human opens by client",
        "What was counted, and what was filtered",
    ] {
        assert!(dom.contains(text), "missing {text}");
    }
    // campaign-summary rows, the MPP count and the A/B p-value from the hand-checked tests.
    assert!(dom.contains("<td>spring-sale</td><td style=\"text-align:right\">10</td><td style=\"text-align:right\">5</td>"), "summary row");
    assert!(dom.contains("apple_mpp.prefetch"));
    assert!(dom.contains("0.5271"), "variant p-value");
    assert!(
        dom.contains("33.3%"),
        "Chrome's share of human opens (2 of 6)"
    );
}

#[test]
fn sql_shell_reads_statements_and_dot_commands_from_stdin() {
    use std::io::Write;
    let mut child = bin()
        .args(["sql", "--format", "csv", "--data"])
        .arg(data())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b".tables\n.schema links\nSELECT count(*) AS n\n  FROM events;\nSELECT nope FROM events;\nSELECT 1 AS one;\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text,
        "table_name\nevents\nlinks\nmanifest\nrejects\ntallies\ntiers\n\
         column_name,data_type,is_nullable\nlink_id,Utf8View,NO\ncampaign_id,Utf8View,NO\nurl,Utf8View,NO\n\
         n\n16\none\n1\n"
    );
    // A failing statement is reported and the shell goes on.
    assert!(String::from_utf8_lossy(&out.stderr).contains("No field named nope"));
}

#[test]
fn recipient_tiers() {
    // spring-sale: r01 clicked and opened; r02 only through Gmail's proxy; r03 MPP only; r04 MPP and
    // a direct open; r05 scanned, r06 crawled: machines only; r07 clicked; r08 opened (304);
    // r09 and r10 only rejected lines: silent. newsletter-47: s01 and s02 opened, s03 MPP, s04 nothing.
    let out = report("recipients", &[]);
    let tiers: Vec<String> = lines(&out)[1..]
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            format!("{}:{}", f[1], f[2])
        })
        .collect();
    assert_eq!(
        tiers.join(" "),
        "s01:engaged s02:engaged s03:machine_only s04:silent \
         r01:engaged r02:proxied r03:machine_only r04:engaged r05:machine_only r06:machine_only \
         r07:engaged r08:engaged r09:silent r10:silent"
    );
    assert!(
        out.contains("spring-sale,r01,engaged,2,0,1,0,2026-11-20T09:02:00Z"),
        "{out}"
    );
}
