//! `simulate`: a realistic synthetic send for benchmarks, demos and users'
//! own load tests. It writes recipients and links, mints them, and writes
//! access logs the way nginx would: people on many clients, webmail image
//! proxies, Apple's prefetch, security scanners that follow every link,
//! link-preview crawlers, and noise (other paths, unknown tokens, broken
//! lines), in time order, rotated and gzipped like logrotate leaves them.
//!
//! Every line's true nature is counted (`truth.json`), so a run can be
//! checked against what ingest makes of it. Addresses come from a range no
//! list names (100.64.0.0/10) for people, and from the published ranges of
//! the operators being played for machines; no real person's data is
//! involved. GeoIP databases for those ranges (`geoip/`, made-up places)
//! let ingest enrich as it would with real ones. Runs are reproducible
//! from `--seed`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{io_err, Result};

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Campaigns, sent one a day.
    pub campaigns: u32,
    /// Recipients per campaign.
    pub recipients: u32,
    /// Log lines to write, about (at least one session per message is written
    /// first only if this allows it; more lines mean more re-opens).
    pub lines: u64,
    /// Lines per log file before rotating.
    pub rotate_lines: u64,
    /// Seed of the random choices.
    pub seed: u64,
    /// Output directory.
    pub out: PathBuf,
}

/// What was written, by true nature.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimSummary {
    /// Lines written.
    pub lines: u64,
    /// Lines by true nature (`human_open`, `proxy_open`, `mpp_open`, ...).
    pub truth: BTreeMap<&'static str, u64>,
    /// Log files written, oldest first.
    pub files: Vec<PathBuf>,
}

/// xorshift64*: small, fast, reproducible; statistics quality is plenty here.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

/// People's mail clients (opens) and browsers (clicks).
const CLIENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:115.0) Gecko/20100101 Thunderbird/115.5.0",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Android-Gmail/64562652 (sw411dp; 420dpi) (r7 T)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
];
const BROWSERS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
];
const GMAIL_PROXY: &str =
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)";
const YAHOO_PROXY: &str =
    "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html";
const CRAWLERS: &[&str] = &[
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "TelegramBot (like TwitterBot)",
    "python-requests/2.31.0",
];
const NOISE_PATHS: &[&str] = &["/favicon.ico", "/robots.txt", "/wp-login.php", "/.env", "/"];

/// Address ranges of the operators played (network, prefix length), from
/// rules/networks.csv: Google (image proxy), Apple and a Private Relay
/// egress (prefetch), Exchange Online Protection (scanner), AWS (crawlers).
const GOOGLE: (u32, u8) = (0x42F9_5000, 20); // 66.249.80.0/20
const APPLE: (u32, u8) = (0x1100_0000, 8); // 17.0.0.0/8
const EOP: (u32, u8) = (0x285C_0000, 15); // 40.92.0.0/15
const CARRIER: (u32, u8) = (0x6440_0000, 10); // 100.64.0.0/10: no list names it

fn addr(rng: &mut Rng, (net, len): (u32, u8)) -> String {
    let host = rng.next() as u32 & (u32::MAX >> len);
    std::net::Ipv4Addr::from(net | host).to_string()
}

/// Where the simulated carrier's subscribers are: the carrier range is cut
/// into /18s, each placed in one of these (a few cities per country, so a
/// lookup walks a tree as deep as a real database's).
const PLACES: &[(&str, &str, &str, &str)] = &[
    ("DE", "Germany", "Berlin", "Europe/Berlin"),
    ("DE", "Germany", "Hamburg", "Europe/Berlin"),
    ("FR", "France", "Paris", "Europe/Paris"),
    ("FR", "France", "Lyon", "Europe/Paris"),
    ("GB", "United Kingdom", "London", "Europe/London"),
    ("NL", "Netherlands", "Amsterdam", "Europe/Amsterdam"),
    ("ES", "Spain", "Madrid", "Europe/Madrid"),
    ("IT", "Italy", "Milan", "Europe/Rome"),
    ("US", "United States", "New York", "America/New_York"),
    ("US", "United States", "Chicago", "America/Chicago"),
    ("US", "United States", "Denver", "America/Denver"),
    ("US", "United States", "Seattle", "America/Los_Angeles"),
    ("BR", "Brazil", "Sao Paulo", "America/Sao_Paulo"),
    ("IN", "India", "Mumbai", "Asia/Kolkata"),
    ("JP", "Japan", "Tokyo", "Asia/Tokyo"),
    ("AU", "Australia", "Sydney", "Australia/Sydney"),
];

/// Writes City and ASN databases (GeoLite2 shapes) for the simulated
/// address ranges into `dir`, so ingest of a simulated send enriches every
/// hit as it would with real databases: `--geoip-dir DIR/geoip`.
fn write_geoip(dir: &Path) -> Result<()> {
    use crate::demo::{asn, city};
    use crate::enrich::mmdb_writer::MmdbWriter;
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let note = "pixelsift simulate: made-up places for simulated ranges";
    let mut c = MmdbWriter::new("GeoLite2-City", note);
    let mut a = MmdbWriter::new("GeoLite2-ASN", note);
    let v4 = |n: u32| std::net::IpAddr::V4(std::net::Ipv4Addr::from(n));
    let bad = |e: crate::enrich::mmdb_writer::MmdbWriteError| {
        crate::Error::Config(format!("simulated GeoIP database: {e}"))
    };
    let (net, len) = CARRIER;
    for i in 0..(1u32 << (18 - len)) {
        let (iso, country, place, tz) = PLACES[i as usize % PLACES.len()];
        let at = v4(net | i << (32 - 18));
        c.insert(at, 18, city(iso, country, place, tz))
            .map_err(bad)?;
        let carrier = 64_512 + i % 8;
        a.insert(at, 18, asn(carrier, &format!("Example Carrier {}", i % 8)))
            .map_err(bad)?;
    }
    for ((net, len), place, number, org) in [
        (
            GOOGLE,
            (
                "US",
                "United States",
                "Mountain View",
                "America/Los_Angeles",
            ),
            15_169,
            "Google LLC",
        ),
        (
            APPLE,
            ("US", "United States", "Cupertino", "America/Los_Angeles"),
            714,
            "Apple Inc.",
        ),
        (
            EOP,
            ("US", "United States", "Redmond", "America/Los_Angeles"),
            8_075,
            "Microsoft Corporation",
        ),
    ] {
        let (iso, country, name, tz) = place;
        c.insert(v4(net), len, city(iso, country, name, tz))
            .map_err(bad)?;
        a.insert(v4(net), len, asn(number, org)).map_err(bad)?;
    }
    for (name, w) in [("sim-city.mmdb", c), ("sim-asn.mmdb", a)] {
        let p = dir.join(name);
        std::fs::write(&p, w.to_bytes()).map_err(io_err(&p))?;
    }
    Ok(())
}

/// How one recipient reads mail, fixed per recipient.
#[derive(Clone, Copy)]
enum Profile {
    /// Apple Mail with Privacy Protection: a prefetch, sometimes a real open too.
    AppleMail,
    /// Gmail on the web: opens through Google's image proxy.
    Gmail,
    /// Yahoo on the web.
    Yahoo,
    /// A desktop or mobile client fetching images itself.
    Direct,
    /// Behind a security gateway that scans every link on delivery.
    Scanned,
}

fn profile(rng: &mut Rng) -> Profile {
    match rng.below(100) {
        0..=29 => Profile::AppleMail,
        30..=54 => Profile::Gmail,
        55..=59 => Profile::Yahoo,
        60..=89 => Profile::Direct,
        _ => Profile::Scanned,
    }
}

struct Writer {
    dir: PathBuf,
    rotate: u64,
    in_file: u64,
    file: std::io::BufWriter<std::fs::File>,
    rotations: u32,
}

impl Writer {
    fn new(dir: &Path, rotate: u64) -> Result<Self> {
        let p = dir.join("access.log");
        let f = std::fs::File::create(&p).map_err(io_err(&p))?;
        Ok(Writer {
            dir: dir.to_path_buf(),
            rotate: rotate.max(1),
            in_file: 0,
            file: std::io::BufWriter::with_capacity(1 << 20, f),
            rotations: 0,
        })
    }

    fn line(&mut self, l: &[u8]) -> Result<()> {
        if self.in_file >= self.rotate {
            self.rotate_now()?;
        }
        self.file.write_all(l).map_err(io_err(&self.dir))?;
        self.in_file += 1;
        Ok(())
    }

    /// logrotate with `delaycompress`: access.log -> access.log.1, and the
    /// previous .1 is gzipped to .2.gz, .2.gz becomes .3.gz, and so on.
    fn rotate_now(&mut self) -> Result<()> {
        self.file.flush().map_err(io_err(&self.dir))?;
        let name = |k: u32| {
            self.dir.join(match k {
                0 => "access.log".to_string(),
                1 => "access.log.1".to_string(),
                k => format!("access.log.{k}.gz"),
            })
        };
        for k in (2..=self.rotations + 1).rev() {
            let from = name(k);
            if from.exists() {
                std::fs::rename(&from, name(k + 1)).map_err(io_err(&from))?;
            }
        }
        let one = name(1);
        if one.exists() {
            let data = std::fs::read(&one).map_err(io_err(&one))?;
            let gz = name(2);
            let f = std::fs::File::create(&gz).map_err(io_err(&gz))?;
            let mut enc = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
            enc.write_all(&data)
                .and_then(|_| enc.finish().map(|_| ()))
                .map_err(io_err(&gz))?;
            std::fs::remove_file(&one).map_err(io_err(&one))?;
        }
        std::fs::rename(name(0), &one).map_err(io_err(&one))?;
        let p = name(0);
        let f = std::fs::File::create(&p).map_err(io_err(&p))?;
        self.file = std::io::BufWriter::with_capacity(1 << 20, f);
        self.rotations += 1;
        self.in_file = 0;
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<PathBuf>> {
        self.file.flush().map_err(io_err(&self.dir))?;
        let mut files: Vec<PathBuf> = Vec::new();
        for k in (2..=self.rotations + 1).rev() {
            let p = self.dir.join(format!("access.log.{k}.gz"));
            if p.exists() {
                files.push(p);
            }
        }
        for n in ["access.log.1", "access.log"] {
            let p = self.dir.join(n);
            if p.exists() {
                files.push(p);
            }
        }
        Ok(files)
    }
}

/// nginx's `$time_local` of a time in microseconds, UTC.
fn time_local(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap_or_default()
        .format("%d/%b/%Y:%H:%M:%S +0000")
        .to_string()
}

/// Writes the simulated send into `cfg.out`: `recipients.csv`, `links.csv`,
/// `minted/` (mint's output), `logs/`, `geoip/` and `truth.json`.
pub fn simulate(cfg: &SimConfig) -> Result<SimSummary> {
    let out = &cfg.out;
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs).map_err(io_err(&logs))?;
    let mut rng = Rng(cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let start =
        1_790_000_000_000_000i64 - 1_790_000_000_000_000i64 % 86_400_000_000 + 9 * 3_600_000_000;
    let sent_at = |c: u32| start + c as i64 * 86_400_000_000;

    // Recipients and links.
    let mut rcsv = String::from("campaign_id,recipient_id,variant,sent_at\n");
    let mut lcsv = String::from("campaign_id,link_id,url\n");
    for c in 0..cfg.campaigns {
        let when = chrono::DateTime::from_timestamp_micros(sent_at(c))
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        for r in 0..cfg.recipients {
            rcsv.push_str(&format!(
                "c{c:03},u{r:07},{},{when}\n",
                if r % 2 == 0 { "A" } else { "B" }
            ));
        }
        for l in 0..3 {
            lcsv.push_str(&format!(
                "c{c:03},c{c:03}-l{l},https://shop.example.com/c{c}/l{l}\n"
            ));
        }
    }
    let rpath = out.join("recipients.csv");
    std::fs::write(&rpath, rcsv).map_err(io_err(&rpath))?;
    let lpath = out.join("links.csv");
    std::fs::write(&lpath, lcsv).map_err(io_err(&lpath))?;
    let secret = format!("simulated-send-{:016x}", cfg.seed);
    crate::mint::mint(&crate::mint::MintConfig::new(
        rpath,
        lpath,
        "https://t.example.com",
        out.join("minted"),
        crate::mint::SecretSource::Value(secret.clone().into_bytes()),
    ))?;

    // Sessions in time order until the line budget is spent: each picks a
    // message and plays its recipient's profile.
    let messages = cfg.campaigns as u64 * cfg.recipients as u64;
    let mut w = Writer::new(&logs, cfg.rotate_lines)?;
    let mut sum = SimSummary::default();
    let span = cfg.campaigns.max(1) as i64 * 86_400_000_000 + 2 * 86_400_000_000;
    let step = (span / cfg.lines.max(1) as i64).max(1);
    let mut now = start;
    let mut buf = Vec::with_capacity(512);
    let emit = |w: &mut Writer,
                sum: &mut SimSummary,
                truth: &'static str,
                line: &mut Vec<u8>|
     -> Result<()> {
        w.line(line)?;
        line.clear();
        sum.lines += 1;
        *sum.truth.entry(truth).or_default() += 1;
        Ok(())
    };
    while sum.lines < cfg.lines {
        now += step * 2;
        let m = rng.below(messages.max(1));
        let (c, r) = (
            (m / cfg.recipients.max(1) as u64) as u32,
            (m % cfg.recipients.max(1) as u64) as u32,
        );
        // Messages of campaigns not sent yet get noise instead.
        if messages == 0 || sent_at(c) > now || rng.chance(0.08) {
            let path = *rng.pick(NOISE_PATHS);
            let ip = addr(&mut rng, CARRIER);
            writeln!(
                buf,
                "{ip} - - [{}] \"GET {path} HTTP/1.1\" 404 153 \"-\" \"{}\"",
                time_local(now),
                rng.pick(BROWSERS)
            )
            .ok();
            emit(&mut w, &mut sum, "other_path", &mut buf)?;
            continue;
        }
        if rng.chance(0.002) {
            buf.extend_from_slice(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 - - broken\n");
            emit(&mut w, &mut sum, "malformed", &mut buf)?;
            continue;
        }
        if rng.chance(0.005) {
            writeln!(
                buf,
                "{} - - [{}] \"GET /o/AAAAAAAAAAAAAAAAAAAAAA.gif HTTP/1.1\" 200 43 \"-\" \"{}\"",
                addr(&mut rng, CARRIER),
                time_local(now),
                rng.pick(CLIENTS)
            )
            .ok();
            emit(&mut w, &mut sum, "unknown_token", &mut buf)?;
            continue;
        }
        let token =
            crate::manifest::token_for(secret.as_bytes(), &format!("c{c:03}"), &format!("u{r:07}"));
        // The profile is the recipient's, whatever the session.
        let mut prng = Rng((r as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D) ^ cfg.seed);
        prng.next();
        let person_ip = addr(&mut prng, CARRIER);
        let client = *prng.pick(CLIENTS);
        let browser = *prng.pick(BROWSERS);
        let t = |d: i64| time_local(now + d * 1_000_000);
        let open = format!("/o/{token}.gif");
        let link = |l: u64| format!("/c/{token}/c{c:03}-l{l}");
        let p = profile(&mut prng);
        // Whether a person is at the screen in this session (and may click).
        let mut person = false;
        match p {
            Profile::AppleMail if rng.chance(0.6) => {
                writeln!(
                    buf,
                    "{} - - [{}] \"GET {open} HTTP/1.1\" 200 43 \"-\" \"Mozilla/5.0\"",
                    addr(&mut rng, APPLE),
                    t(0)
                )
                .ok();
                emit(&mut w, &mut sum, "mpp_open", &mut buf)?;
            }
            Profile::Gmail | Profile::Yahoo => {
                let (ip, ua) = match p {
                    Profile::Yahoo => (addr(&mut rng, CARRIER), YAHOO_PROXY),
                    _ => (addr(&mut rng, GOOGLE), GMAIL_PROXY),
                };
                writeln!(
                    buf,
                    "{ip} - - [{}] \"GET {open} HTTP/1.1\" 200 43 \"-\" \"{ua}\"",
                    t(0)
                )
                .ok();
                emit(&mut w, &mut sum, "proxy_open", &mut buf)?;
                person = true;
            }
            Profile::Scanned if rng.chance(0.5) => {
                // The gateway on delivery: every link within a second, and the pixel.
                let gw = addr(&mut rng, EOP);
                for l in 0..3 {
                    writeln!(
                        buf,
                        "{gw} - - [{}] \"GET {} HTTP/1.1\" 302 145 \"-\" \"{browser}\"",
                        t(0),
                        link(l)
                    )
                    .ok();
                    emit(&mut w, &mut sum, "scanner_click", &mut buf)?;
                }
                writeln!(
                    buf,
                    "{gw} - - [{}] \"GET {open} HTTP/1.1\" 200 43 \"-\" \"{browser}\"",
                    t(1)
                )
                .ok();
                emit(&mut w, &mut sum, "scanner_open", &mut buf)?;
            }
            // Apple Mail and gateway users opening for real, and direct clients.
            _ => {
                writeln!(
                    buf,
                    "{person_ip} - - [{}] \"GET {open} HTTP/1.1\" 200 43 \"-\" \"{client}\"",
                    t(0)
                )
                .ok();
                emit(&mut w, &mut sum, "human_open", &mut buf)?;
                person = true;
            }
        }
        // A person clicks, sometimes; a shared link is previewed by a crawler, rarely.
        if person && rng.chance(0.15) {
            writeln!(
                buf,
                "{person_ip} - - [{}] \"GET {} HTTP/1.1\" 302 145 \"-\" \"{browser}\"",
                t(20),
                link(rng.below(3))
            )
            .ok();
            emit(&mut w, &mut sum, "human_click", &mut buf)?;
        }
        if rng.chance(0.01) {
            writeln!(
                buf,
                "{} - - [{}] \"GET {} HTTP/1.1\" 302 145 \"-\" \"{}\"",
                addr(&mut rng, CARRIER),
                t(60),
                link(rng.below(3)),
                rng.pick(CRAWLERS)
            )
            .ok();
            emit(&mut w, &mut sum, "crawler_click", &mut buf)?;
        }
    }
    sum.files = w.finish()?;
    let truth = serde_json::json!({
        "lines": sum.lines,
        "truth": sum.truth,
        "files": sum.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
        "seed": cfg.seed,
    });
    write_geoip(&out.join("geoip"))?;
    let tpath = out.join("truth.json");
    crate::mint::write_atomic(
        &tpath,
        serde_json::to_string_pretty(&truth)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproducible_rotated_and_accounted_for() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = SimConfig {
            campaigns: 2,
            recipients: 50,
            lines: 2_000,
            rotate_lines: 700,
            seed: 7,
            out: tmp.path().join("a"),
        };
        let a = simulate(&cfg).unwrap();
        let b = simulate(&SimConfig {
            out: tmp.path().join("b"),
            ..cfg.clone()
        })
        .unwrap();
        assert_eq!(a.truth, b.truth);
        assert!(a.lines >= 2_000 && a.lines < 2_010, "{}", a.lines);
        assert_eq!(a.truth.values().sum::<u64>(), a.lines);
        let names: Vec<String> = a
            .files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["access.log.2.gz", "access.log.1", "access.log"]);
        for k in [
            "human_open",
            "proxy_open",
            "mpp_open",
            "scanner_click",
            "human_click",
            "other_path",
        ] {
            assert!(
                a.truth.get(k).copied().unwrap_or(0) > 0,
                "{k}: {:?}",
                a.truth
            );
        }
    }
}
