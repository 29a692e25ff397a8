//! The whole loop with the real nginx: mint a campaign, serve it with mint's
//! own nginx.conf, send the requests mail clients, proxies, scanners and
//! people send, check what nginx answered, then ingest nginx's real access
//! log and check the campaign summary against what was sent.
//!
//! In CI (`CI` set) a missing nginx fails the test; elsewhere it is skipped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{free_port, nginx_binary, ok};

struct Nginx {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts nginx in the foreground as a child, with its own prefix, pid, logs
/// and temp paths under `dir`, serving `minted/nginx.conf`.
fn start_nginx(nginx: &Path, dir: &Path, minted: &Path, port: u16, log: PathBuf) -> Nginx {
    let prefix = dir.join("nginx");
    for d in ["logs", "tmp"] {
        std::fs::create_dir_all(prefix.join(d)).unwrap();
    }
    let main = prefix.join("nginx.conf");
    std::fs::write(
        &main,
        format!(
            "daemon off;\nmaster_process off;\nerror_log {p}/logs/error.log warn;\npid {p}/nginx.pid;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  client_body_temp_path {p}/tmp/body;\n  proxy_temp_path {p}/tmp/proxy;\n  \
             fastcgi_temp_path {p}/tmp/fastcgi;\n  uwsgi_temp_path {p}/tmp/uwsgi;\n  scgi_temp_path {p}/tmp/scgi;\n  \
             include {m};\n}}\n",
            p = prefix.display(),
            m = minted.join("nginx.conf").display()
        ),
    )
    .unwrap();
    let t = Command::new(nginx)
        .arg("-t")
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&main)
        .output()
        .unwrap();
    assert!(
        t.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&t.stderr)
    );
    let child = Command::new(nginx)
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&main)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not start; see {}",
            prefix.join("logs/error.log").display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Nginx { child, port, log }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on its own connection, written by hand so the test
/// controls every byte (HEAD, raw percent-encoding, over-long paths).
fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: t.example.com\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const GIMG: &str =
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)";
const APPLEMAIL: &str =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)";
const SLACK: &str = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)";
const TBIRD: &str = "Mozilla/5.0 (Windows NT 10.0; WOW64; rv:60.0) Gecko/20100101 Thunderbird/60.7.0 Lightning/6.2.7";

fn check_pixel(r: &Response) {
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("image/gif"));
    assert!(
        r.header("Cache-Control")
            .is_some_and(|c| c.contains("no-store")),
        "{:?}",
        r.headers
    );
    let b = &r.body;
    assert!(
        b.starts_with(b"GIF89a") || b.starts_with(b"GIF87a"),
        "not a GIF: {b:?}"
    );
    assert_eq!(u16::from_le_bytes([b[6], b[7]]), 1, "width");
    assert_eq!(u16::from_le_bytes([b[8], b[9]]), 1, "height");
    // A transparent GIF carries a Graphic Control Extension with its
    // transparency flag set.
    let gce = b
        .windows(3)
        .position(|w| w == [0x21, 0xF9, 0x04])
        .expect("graphic control extension");
    assert_eq!(b[gce + 3] & 1, 1, "transparency flag");
}

/// The nginx binary; `None` (the test skips) only outside CI.
fn nginx_or_skip() -> Option<PathBuf> {
    let found = nginx_binary();
    if found.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "nginx is required in CI (.ci/run installs it)"
        );
        eprintln!("skipping: nginx is not installed");
    }
    found
}

/// The README's first deployment step: mint `recipients` and `links` (CSV
/// text) for nginx on `port`, logging to `log`, trusting X-Forwarded-For
/// from loopback (so tests can play any client address), with `extra` flags.
fn mint_for_nginx(
    dir: &Path,
    port: u16,
    log: &Path,
    recipients: &str,
    links: &str,
    extra: &[&str],
) -> PathBuf {
    std::fs::write(dir.join("recipients.csv"), recipients).unwrap();
    std::fs::write(dir.join("links.csv"), links).unwrap();
    std::fs::write(
        dir.join("secret.key"),
        "e2e-secret-for-tests-only-0123456789",
    )
    .unwrap();
    let minted = dir.join("minted");
    ok(common::bin()
        .args([
            "mint",
            "--base-url",
            "https://t.example.com",
            "--real-ip-from",
            "127.0.0.1",
        ])
        .args(extra)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--access-log")
        .arg(log)
        .arg("--recipients")
        .arg(dir.join("recipients.csv"))
        .arg("--links")
        .arg(dir.join("links.csv"))
        .arg("--secret-file")
        .arg(dir.join("secret.key"))
        .arg("--out")
        .arg(&minted));
    minted
}

fn run_loop(style: &str) {
    let Some(nginx) = nginx_or_skip() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Sent an hour ago, so times to open are about 3600 s.
    let sent = chrono::Utc::now() - chrono::Duration::seconds(3600);
    let sent = sent.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut recipients = String::from("campaign_id,recipient_id,variant,sent_at\n");
    for r in 1..=10 {
        recipients.push_str(&format!(
            "spring,r{r:02},{},{sent}\n",
            if r % 2 == 0 { "B" } else { "A" }
        ));
    }
    for r in 1..=4 {
        recipients.push_str(&format!("news,s{r:02},,{sent}\n"));
    }
    let links = "campaign_id,link_id,url\nspring,l-shop,https://shop.example.com/spring?utm_source=mail\nspring,l-blog,https://example.com/blog\nnews,l-news,https://example.com/news/47\n";

    // The deployment steps of README.md: mint, include the config, start nginx.
    let port = free_port();
    let log = dir.join("nginx/logs/pixelsift.access.log");
    let minted = mint_for_nginx(dir, port, &log, &recipients, links, &["--log-style", style]);
    let nginx = start_nginx(&nginx, dir, &minted, port, log);
    let urls = std::fs::read_to_string(minted.join("urls.csv")).unwrap();
    let token = |rid: &str| -> String {
        let row = urls
            .lines()
            .find(|l| l.split(',').nth(1) == Some(rid))
            .unwrap();
        row.split(',').nth(3).unwrap().to_string()
    };
    let p = nginx.port;
    let xff = |ip: &'static str| ("X-Forwarded-For", ip);

    // r01: a person in Chrome opens twice (the second a revalidation) and clicks a link.
    let r = request(
        p,
        "GET",
        &format!("/o/{}.gif", token("r01")),
        &[("User-Agent", CHROME), xff("203.0.113.10")],
    );
    check_pixel(&r);
    let r = request(
        p,
        "GET",
        &format!("/o/{}.gif", token("r01")),
        &[
            ("User-Agent", CHROME),
            xff("203.0.113.10"),
            ("If-None-Match", "\"x\""),
            ("If-Modified-Since", "Thu, 01 Jan 2026 00:00:00 GMT"),
        ],
    );
    assert!(r.status == 200 || r.status == 304, "{}", r.status);
    let r = request(
        p,
        "GET",
        &format!("/c/{}/l-shop", token("r01")),
        &[("User-Agent", CHROME), xff("203.0.113.10")],
    );
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("Location"),
        Some("https://shop.example.com/spring?utm_source=mail")
    );
    // r07: another person follows the other link (one person clicking two
    // links within seconds would look like a link scanner's burst).
    let r = request(
        p,
        "GET",
        &format!("/c/{}/l-blog", token("r07")),
        &[("User-Agent", CHROME), xff("198.51.100.20")],
    );
    assert_eq!(r.header("Location"), Some("https://example.com/blog"));
    // r02: Gmail's image proxy.
    check_pixel(&request(
        p,
        "GET",
        &format!("/o/{}.gif", token("r02")),
        &[("User-Agent", GIMG), xff("66.249.84.10")],
    ));
    // r03: Apple Mail Privacy Protection prefetch from Apple's network.
    check_pixel(&request(
        p,
        "GET",
        &format!("/o/{}.gif", token("r03")),
        &[("User-Agent", "Mozilla/5.0"), xff("17.58.0.5")],
    ));
    // r04: a security gateway: HEAD on one link, GET from Exchange Online Protection on the other.
    let r = request(
        p,
        "HEAD",
        &format!("/c/{}/l-shop", token("r04")),
        &[("User-Agent", CHROME), xff("192.0.2.50")],
    );
    assert_eq!(r.status, 302);
    assert!(r.body.is_empty());
    let r = request(
        p,
        "GET",
        &format!("/c/{}/l-blog", token("r04")),
        &[("User-Agent", CHROME), xff("40.92.1.10")],
    );
    assert_eq!(r.status, 302);
    // r05: a link preview bot.
    assert_eq!(
        request(
            p,
            "GET",
            &format!("/c/{}/l-shop", token("r05")),
            &[("User-Agent", SLACK), xff("198.51.100.30")]
        )
        .status,
        302
    );
    // r06: Apple Mail on a Mac, with the token's first character percent-encoded.
    let t6 = token("r06");
    let enc = format!("/o/%{:02X}{}.gif", t6.as_bytes()[0], &t6[1..]);
    check_pixel(&request(
        p,
        "GET",
        &enc,
        &[("User-Agent", APPLEMAIL), xff("198.51.100.7")],
    ));
    // No mail client HEADs an image: a HEAD on a pixel is a scanner, whatever its user agent.
    let r = request(
        p,
        "HEAD",
        &format!("/o/{}.gif", token("s01")),
        &[("User-Agent", TBIRD), xff("203.0.113.99")],
    );
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    // s01 opens for real too.
    check_pixel(&request(
        p,
        "GET",
        &format!("/o/{}.gif", token("s01")),
        &[("User-Agent", TBIRD), xff("203.0.113.99")],
    ));

    // Requests that must not count: each is answered, logged, and accounted for.
    check_pixel(&request(
        p,
        "GET",
        "/o/AAAAAAAAAAAAAAAAAAAAAA.gif",
        &[("User-Agent", CHROME)],
    )); // unknown token
    let r = request(
        p,
        "GET",
        &format!("/c/{}/l-nope", token("r01")),
        &[("User-Agent", CHROME)],
    );
    assert_eq!(r.status, 404, "unknown link");
    assert!(r.header("Location").is_none(), "no open redirect");
    let r = request(
        p,
        "GET",
        &format!("/c/{}/https:%2F%2Fevil.example", token("r01")),
        &[("User-Agent", CHROME)],
    );
    assert_eq!(r.status, 404);
    assert!(r.header("Location").is_none(), "no open redirect");
    let long = format!("/o/{}.gif", "A".repeat(3000));
    assert_eq!(
        request(p, "GET", &long, &[("User-Agent", CHROME)]).status,
        404
    ); // malformed path
    assert_eq!(
        request(p, "GET", "/favicon.ico", &[("User-Agent", CHROME)]).status,
        404
    ); // not ours
    let log = nginx.log.clone();
    drop(nginx);

    // Ingest nginx's own log.
    let data = dir.join("data");
    let out = ok(common::bin()
        .arg("ingest")
        .arg("--manifest")
        .arg(&minted)
        .arg("--data")
        .arg(&data)
        .arg(&log));
    let want_dialect = if style == "json" {
        "nginx-json"
    } else {
        "combined"
    };
    // 17 requests: 12 tracking hits, 4 rejects, 1 not ours.
    assert!(
        out.contains(&format!("as {want_dialect}: 17 lines")),
        "{out}"
    );
    assert!(out.contains("events:   12"), "{out}");
    assert!(out.contains("open  scanner      1"), "{out}");
    assert!(out.contains("rejects:  4"), "{out}");
    assert!(out.contains("ignored:  1"), "{out}");
    let csv = ok(common::bin()
        .args(["report", "campaign-summary", "--format", "csv", "--data"])
        .arg(&data));
    let rows: Vec<Vec<String>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    // news: s01 opened (its HEAD was a scanner) -> 1 of 4; nothing else.
    assert_eq!(
        rows[0][..6],
        ["news", "4", "1", "0", "0", "0"].map(String::from),
        "{csv}"
    );
    // spring: opened r01, r02 (proxy), r06, r07 (by its click) -> 4; r03 MPP only -> 1;
    // clicked r01, r07 -> 2; bot clicks: r04 HEAD + r04 EOP + r05 Slackbot -> 3.
    assert_eq!(
        rows[1][..6],
        ["spring", "10", "4", "1", "2", "3"].map(String::from),
        "{csv}"
    );
    assert_eq!(
        rows[1][6..9],
        ["0.4", "0.2", "0.5"].map(String::from),
        "{csv}"
    );
    let median: f64 = rows[1][9].parse().unwrap();
    assert!((3590.0..3900.0).contains(&median), "median {median}");
    let rejects = ok(common::bin()
        .args(["sql", "--format", "csv", "--data"])
        .arg(&data)
        .arg("SELECT reason, count(*) AS n FROM rejects GROUP BY 1 ORDER BY 1"));
    assert_eq!(
        rejects,
        "reason,n\nmalformed_tracking_path,2\nunknown_link,1\nunknown_token,1\n"
    );
    let ips = ok(common::bin()
        .args(["sql", "--format", "csv", "--data"])
        .arg(&data)
        .arg("SELECT DISTINCT ip FROM events WHERE recipient_id = 'r03'"));
    // The address comes from X-Forwarded-For (realip), and is stored
    // truncated to its /24 by the default --ip-policy.
    assert_eq!(ips, "ip\n17.58.0.0\n");
}

#[test]
fn real_nginx_combined_log_round_trips() {
    run_loop("combined");
}

#[test]
fn real_nginx_json_log_round_trips() {
    run_loop("json");
}

/// Opens the read-time image as a mail client would, keeps the message open
/// for `hold` (reading what nginx trickles), then closes it. Returns how long
/// the connection was really open.
fn hold_read_image(port: u16, path: &str, ua: &str, ip: &str, hold: Duration) -> Duration {
    let start = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: t.example.com\r\nUser-Agent: {ua}\r\nX-Forwarded-For: {ip}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = [0u8; 4096];
    let mut got = Vec::new();
    while start.elapsed() < hold {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("{e}"),
        }
    }
    // What arrived first is the whole picture: a client shows it at once.
    let body = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| &got[i + 4..])
        .unwrap_or(&[]);
    assert!(
        body.len() >= 42 && body.starts_with(b"GIF89a"),
        "{} bytes",
        body.len()
    );
    let _ = s.shutdown(std::net::Shutdown::Both);
    drop(s);
    start.elapsed()
}

/// mint --read-time and --print-pixel with the real nginx: readers who keep
/// the message open about 1, 5 and 20 seconds get read times within 0.5 s
/// of that; a prefetch and an image proxy that take the image whole at once
/// get none; the print pixel comes back as a `print` event.
#[test]
fn real_nginx_measures_read_time_and_print() {
    let Some(nginx) = nginx_or_skip() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let sent = (chrono::Utc::now() - chrono::Duration::seconds(600))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut recipients = String::from("campaign_id,recipient_id,variant,sent_at\n");
    for r in 1..=6 {
        recipients.push_str(&format!("memo,m{r:02},,{sent}\n"));
    }
    let links = "campaign_id,link_id,url\nmemo,l-intranet,https://intranet.example.com/memo\n";
    let port = free_port();
    let log = dir.join("nginx/logs/pixelsift.access.log");
    let minted = mint_for_nginx(
        dir,
        port,
        &log,
        &recipients,
        links,
        &["--read-time", "25", "--print-pixel"],
    );
    let urls = std::fs::read_to_string(minted.join("urls.csv")).unwrap();
    let head: Vec<&str> = urls.lines().next().unwrap().split(',').collect();
    let col = |name: &str| head.iter().position(|h| *h == name).unwrap();
    let path_of = |rid: &str, name: &str| -> String {
        let row: Vec<&str> = urls
            .lines()
            .find(|l| l.split(',').nth(1) == Some(rid))
            .unwrap()
            .split(',')
            .collect();
        row[col(name)]
            .trim_start_matches("https://t.example.com")
            .to_string()
    };
    let css = &urls.lines().nth(1).unwrap()[urls
        .lines()
        .nth(1)
        .unwrap()
        .find("@media print")
        .expect("print_css")..];
    assert!(css.contains(&path_of("m01", "print_url")), "{css}");
    let nginx = start_nginx(&nginx, dir, &minted, port, log);
    let p = nginx.port;

    // The pixel, as every reader's client fetches it first.
    for (rid, ip) in [
        ("m01", "203.0.113.1"),
        ("m02", "203.0.113.2"),
        ("m03", "203.0.113.3"),
    ] {
        check_pixel(&request(
            p,
            "GET",
            &path_of(rid, "pixel_url"),
            &[("User-Agent", TBIRD), ("X-Forwarded-For", ip)],
        ));
    }
    // Three readers keep the message open about 1, 5 and 20 s, at once.
    let holds: Vec<(String, Duration)> = std::thread::scope(|s| {
        let jobs: Vec<_> = [
            ("m01", "203.0.113.1", 1.0),
            ("m02", "203.0.113.2", 5.0),
            ("m03", "203.0.113.3", 20.0),
        ]
        .into_iter()
        .map(|(rid, ip, secs)| {
            let path = path_of(rid, "read_time_url");
            s.spawn(move || {
                (
                    rid.to_string(),
                    hold_read_image(p, &path, TBIRD, ip, Duration::from_secs_f64(secs)),
                )
            })
        })
        .collect();
        // Meanwhile: Apple's prefetch (from Apple's network, UA "Mozilla/5.0")
        // and Gmail's image proxy take the image whole, at once.
        let t = Instant::now();
        let mpp = request(
            p,
            "GET",
            &path_of("m04", "read_time_url"),
            &[
                ("User-Agent", "Mozilla/5.0"),
                ("X-Forwarded-For", "17.58.63.10"),
            ],
        );
        let proxy = request(
            p,
            "GET",
            &path_of("m05", "read_time_url"),
            &[("User-Agent", GIMG), ("X-Forwarded-For", "66.249.84.10")],
        );
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "whole fetchers are not slowed: {:?}",
            t.elapsed()
        );
        let whole = std::fs::read(minted.join("readtime.gif")).unwrap();
        for r in [&mpp, &proxy] {
            assert_eq!(r.status, 200);
            assert_eq!(r.header("Content-Type"), Some("image/gif"));
            assert!(r
                .header("Cache-Control")
                .is_some_and(|c| c.contains("no-store")));
            assert_eq!(r.body, whole, "the whole image");
            check_pixel(r);
        }
        // m06 prints the message.
        check_pixel(&request(
            p,
            "GET",
            &path_of("m06", "print_url"),
            &[("User-Agent", TBIRD), ("X-Forwarded-For", "203.0.113.6")],
        ));
        jobs.into_iter().map(|j| j.join().unwrap()).collect()
    });
    // Give nginx a moment to notice the last close and write its line.
    std::thread::sleep(Duration::from_millis(500));
    let data = dir.join("data");
    ok(common::bin()
        .arg("ingest")
        .arg("--manifest")
        .arg(&minted)
        .arg("--data")
        .arg(&data)
        .arg(&nginx.log));
    let got = ok(common::bin()
        .args(["sql", "--format", "csv", "--data"])
        .arg(&data)
        .arg("SELECT recipient_id, kind, class, read_seconds FROM events WHERE kind IN ('read', 'print') ORDER BY recipient_id"));
    let rows: Vec<Vec<String>> = got
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), 6, "{got}");
    for (rid, held) in &holds {
        let r = rows.iter().find(|r| &r[0] == rid).unwrap();
        assert_eq!((r[1].as_str(), r[2].as_str()), ("read", "human"), "{got}");
        let secs: f64 = r[3].parse().unwrap();
        assert!(
            (secs - held.as_secs_f64()).abs() < 0.5,
            "{rid}: read {secs} s, held {held:?}\n{got}"
        );
    }
    let row = |rid: &str| rows.iter().find(|r| r[0] == rid).unwrap().join(",");
    assert_eq!(row("m04"), "m04,read,apple_mpp,", "{got}");
    assert_eq!(row("m05"), "m05,read,image_proxy,", "{got}");
    assert_eq!(row("m06"), "m06,print,human,", "{got}");

    // The read-time report: 3 human opens, all measured: one glance (1 s),
    // one skim (5 s), one read (20 s); the median is the skim.
    let rep = ok(common::bin()
        .args(["report", "read-time", "--format", "csv", "--data"])
        .arg(&data));
    let r: Vec<&str> = rep.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(r[..4], ["memo", "", "3", "3"], "{rep}");
    let share = |i: usize| r[i].parse::<f64>().unwrap();
    assert!(
        (share(4) - 1.0 / 3.0).abs() < 1e-9
            && (share(5) - 1.0 / 3.0).abs() < 1e-9
            && (share(6) - 1.0 / 3.0).abs() < 1e-9,
        "{rep}"
    );
    assert!((share(7) - holds[1].1.as_secs_f64()).abs() < 0.5, "{rep}");
}
