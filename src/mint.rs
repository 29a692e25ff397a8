//! `mint`: recipients and links in; tokens, URLs and an nginx config out.
//!
//! Everything is validated before anything is written, so a bad row never
//! leaves half a campaign on disk. Each output file is written to a temporary
//! name and renamed, so a reader never sees a partial file.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{io_err, Error, Problem, Result};
use crate::manifest::{
    check_id, check_url, open_csv, parse_rfc3339_micros, problem, token_for, Link,
};
use crate::readtime::{READ_IMAGE, READ_RATE};

/// Where the secret comes from.
#[derive(Debug, Clone)]
pub enum SecretSource {
    /// Read from this file (trailing whitespace trimmed).
    File(PathBuf),
    /// Given directly (from `PIXELSIFT_SECRET`).
    Value(Vec<u8>),
    /// Use `OUT/secret.key`, creating it if missing.
    OutDir,
}

/// How nginx writes its access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogStyle {
    /// nginx's predefined `combined` format.
    #[default]
    Combined,
    /// One JSON object per line (`escape=json`), with `$msec` times.
    Json,
}

impl LogStyle {
    /// Parses `combined` or `json`.
    pub fn from_name(s: &str) -> Option<LogStyle> {
        match s {
            "combined" => Some(LogStyle::Combined),
            "json" => Some(LogStyle::Json),
            _ => None,
        }
    }
}

/// What `mint` needs.
#[derive(Debug, Clone)]
pub struct MintConfig {
    /// Recipients CSV: `campaign_id,recipient_id,variant,sent_at[,...]`.
    pub recipients: PathBuf,
    /// Links CSV: `campaign_id,link_id,url`.
    pub links: PathBuf,
    /// Public base URL of the tracking host, e.g. `https://t.example.com`.
    pub base_url: String,
    /// Output directory.
    pub out: PathBuf,
    /// Where the HMAC secret comes from.
    pub secret: SecretSource,
    /// nginx `listen` parameter.
    pub listen: String,
    /// nginx `server_name`; defaults to the base URL's host.
    pub server_name: Option<String>,
    /// nginx `access_log` path.
    pub access_log: String,
    /// Access log format.
    pub log_style: LogStyle,
    /// Proxies or CDNs whose `X-Forwarded-For` is trusted for the client address.
    pub real_ip_from: Vec<String>,
    /// Add one invisible trap link per campaign (see [`trap_link_id`]).
    pub trap_link: bool,
    /// Recipients who opted out of tracking: one id per line, or `campaign_id,recipient_id`.
    pub opt_out: Option<PathBuf>,
    /// One token per campaign and variant instead of per recipient.
    pub aggregate: bool,
    /// Add a read-time image per recipient lasting at most this many seconds.
    pub read_time: Option<u32>,
    /// Add a print pixel per recipient.
    pub print_pixel: bool,
    /// Where nginx will find the files mint writes (the read-time image);
    /// default: the output directory's absolute path.
    pub assets_dir: Option<String>,
}

impl MintConfig {
    /// The inputs and output, with nginx listening on port 80, logging in
    /// `combined` to the usual place, and no optional pieces.
    pub fn new(
        recipients: PathBuf,
        links: PathBuf,
        base_url: &str,
        out: PathBuf,
        secret: SecretSource,
    ) -> Self {
        MintConfig {
            recipients,
            links,
            base_url: base_url.to_string(),
            out,
            secret,
            listen: "80".into(),
            server_name: None,
            access_log: "/var/log/nginx/pixelsift.access.log".into(),
            log_style: LogStyle::Combined,
            real_ip_from: Vec::new(),
            trap_link: false,
            opt_out: None,
            aggregate: false,
            read_time: None,
            print_pixel: false,
            assets_dir: None,
        }
    }
}

/// The trap link id of a campaign: a fixed prefix and a hash of the campaign
/// id, so it fits the id pattern whatever the campaign id's length.
pub fn trap_link_id(campaign_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(campaign_id.as_bytes());
    format!(
        "{}{}",
        crate::classify::message::TRAP_PREFIX,
        crate::commit::hex(&h[..6])
    )
}

/// What `mint` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintSummary {
    /// Recipients minted.
    pub recipients: usize,
    /// Campaigns seen.
    pub campaigns: usize,
    /// Links written.
    pub links: usize,
    /// Set when mint created a new secret file.
    pub created_secret: Option<PathBuf>,
    /// Set when mint reused an existing `OUT/secret.key`.
    pub reused_secret: Option<PathBuf>,
    /// Recipients left untracked because they opted out.
    pub untracked: usize,
    /// Tokens minted (one per tracked recipient, or per campaign and variant in aggregate mode).
    pub tokens: usize,
    /// The read-time image written, if any.
    pub read_image: Option<PathBuf>,
}

/// Opted-out recipients: everywhere, or in one campaign.
#[derive(Debug, Default)]
struct OptOut {
    everywhere: HashSet<String>,
    in_campaign: HashSet<(String, String)>,
}

impl OptOut {
    fn read(path: &Path, problems: &mut Vec<Problem>) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        let mut o = OptOut::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let n = i as u64 + 1;
            let parts: Vec<&str> = line.split(',').map(str::trim).collect();
            let ok = match parts.as_slice() {
                // A header row is allowed.
                ["recipient_id"] | ["campaign_id", "recipient_id"] => true,
                [r] => check_id("recipient_id", r)
                    .map(|_| o.everywhere.insert(r.to_string()))
                    .is_ok(),
                [c, r] => check_id("campaign_id", c)
                    .and_then(|_| check_id("recipient_id", r))
                    .map(|_| o.in_campaign.insert((c.to_string(), r.to_string())))
                    .is_ok(),
                _ => false,
            };
            if !ok {
                problems.push(crate::manifest::problem(
                    path,
                    n,
                    format!("expected recipient_id or campaign_id,recipient_id, found {line:?}"),
                ));
            }
        }
        Ok(o)
    }

    fn contains(&self, campaign: &str, recipient: &str) -> bool {
        self.everywhere.contains(recipient)
            || self
                .in_campaign
                .contains(&(campaign.to_string(), recipient.to_string()))
    }
}

/// The token shared by every recipient of a campaign's variant in
/// aggregate mode. `*` never appears in a recipient id, so it cannot
/// collide with a recipient's token.
pub fn aggregate_token(secret: &[u8], campaign_id: &str, variant: &str) -> String {
    token_for(
        secret,
        campaign_id,
        &format!("{}{variant}", crate::manifest::AGGREGATE_ID),
    )
}

struct RecipientRow {
    campaign_id: String,
    recipient_id: String,
    variant: String,
    sent_at: String,
    extra: Vec<String>,
}

/// Runs mint: validates both files completely, then writes all outputs.
pub fn mint(cfg: &MintConfig) -> Result<MintSummary> {
    let base_url = cfg.base_url.trim_end_matches('/').to_string();
    for cidr in &cfg.real_ip_from {
        if crate::classify::networks::parse_cidr(cidr).is_none() {
            return Err(Error::Config(format!(
                "--real-ip-from {cidr:?} is not an address or CIDR"
            )));
        }
    }
    check_url(&base_url).map_err(|reason| Error::Config(format!("--base-url: {reason}")))?;
    let mut problems = Vec::new();
    let (extra_headers, recipients) = read_recipients(&cfg.recipients, &mut problems)?;
    let mut links = read_links(&cfg.links, &mut problems)?;
    let opt_out = match &cfg.opt_out {
        Some(p) => OptOut::read(p, &mut problems)?,
        None => OptOut::default(),
    };
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    if cfg.trap_link {
        let mut campaigns: Vec<&str> = recipients.iter().map(|r| r.campaign_id.as_str()).collect();
        campaigns.sort_unstable();
        campaigns.dedup();
        let traps: Vec<Link> = campaigns
            .into_iter()
            .map(|c| Link {
                link_id: trap_link_id(c),
                campaign_id: c.to_string(),
                url: format!("{base_url}/"),
            })
            .collect();
        links.extend(traps);
    }
    let (secret, created_secret, reused_secret) = resolve_secret(&cfg.secret, &cfg.out)?;

    std::fs::create_dir_all(&cfg.out).map_err(io_err(&cfg.out))?;
    if let Some(path) = &created_secret {
        write_secret(path, &secret)?;
    }

    let mut links_by_campaign: BTreeMap<&str, Vec<&Link>> = BTreeMap::new();
    for l in &links {
        links_by_campaign
            .entry(l.campaign_id.as_str())
            .or_default()
            .push(l);
    }

    let mut manifest = csv::Writer::from_writer(Vec::new());
    let mut header = vec![
        "token",
        "campaign_id",
        "recipient_id",
        "variant",
        "sent_at",
        "tracked",
        "recipients",
    ];
    // Extra columns describe people: aggregate mode keeps none of them.
    if !cfg.aggregate {
        header.extend(extra_headers.iter().map(String::as_str));
    }
    manifest.write_record(&header).map_err(csv_bug)?;

    let mut urls = csv::Writer::from_writer(Vec::new());
    let mut uheader: Vec<String> = [
        "campaign_id",
        "recipient_id",
        "variant",
        "token",
        "pixel_url",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let is_trap = |l: &Link| l.link_id.starts_with(crate::classify::message::TRAP_PREFIX);
    uheader.extend(
        links
            .iter()
            .filter(|l| !is_trap(l))
            .map(|l| format!("click_{}", l.link_id)),
    );
    if cfg.trap_link {
        uheader.push("trap_url".to_string());
    }
    if cfg.read_time.is_some() {
        uheader.push("read_time_url".to_string());
    }
    if cfg.print_pixel {
        uheader.push("print_url".to_string());
        uheader.push("print_css".to_string());
    }
    urls.write_record(&uheader).map_err(csv_bug)?;

    let mut campaigns = HashSet::new();
    let mut untracked = 0;
    let mut tokens = 0;
    // Aggregate mode: (campaign, variant, tracked) -> (earliest sent_at, people).
    let mut groups: BTreeMap<(&str, &str, bool), (i64, &str, u32)> = BTreeMap::new();
    for r in &recipients {
        campaigns.insert(r.campaign_id.as_str());
        let tracked = !opt_out.contains(&r.campaign_id, &r.recipient_id);
        untracked += usize::from(!tracked);
        let token = match (tracked, cfg.aggregate) {
            (false, _) => String::new(),
            (true, false) => token_for(&secret, &r.campaign_id, &r.recipient_id),
            (true, true) => aggregate_token(&secret, &r.campaign_id, &r.variant),
        };
        if cfg.aggregate {
            let sent = parse_rfc3339_micros(&r.sent_at).expect("checked when read");
            let g = groups
                .entry((&r.campaign_id, &r.variant, tracked))
                .or_insert((sent, &r.sent_at, 0));
            if sent < g.0 {
                *g = (sent, &r.sent_at, g.2);
            }
            g.2 += 1;
        } else {
            let mut row = vec![
                if tracked {
                    token.as_str()
                } else {
                    crate::manifest::UNTRACKED_TOKEN
                },
                &r.campaign_id,
                &r.recipient_id,
                &r.variant,
                &r.sent_at,
                if tracked { "true" } else { "false" },
                "1",
            ];
            row.extend(r.extra.iter().map(String::as_str));
            manifest.write_record(&row).map_err(csv_bug)?;
            tokens += usize::from(tracked);
        }

        // Opted out: no pixel, and links straight to their destination.
        let mut urow = vec![
            r.campaign_id.clone(),
            r.recipient_id.clone(),
            r.variant.clone(),
            token.clone(),
            if tracked {
                format!("{base_url}/o/{token}.gif")
            } else {
                String::new()
            },
        ];
        for l in links.iter().filter(|l| !is_trap(l)) {
            urow.push(match (l.campaign_id == r.campaign_id, tracked) {
                (false, _) => String::new(),
                (true, true) => format!("{base_url}/c/{token}/{}", l.link_id),
                (true, false) => l.url.clone(),
            });
        }
        if cfg.trap_link {
            urow.push(if tracked {
                format!("{base_url}/c/{token}/{}", trap_link_id(&r.campaign_id))
            } else {
                String::new()
            });
        }
        if cfg.read_time.is_some() {
            urow.push(if tracked {
                format!("{base_url}/t/{token}.gif")
            } else {
                String::new()
            });
        }
        if cfg.print_pixel {
            if tracked {
                let url = format!("{base_url}/p/{token}.gif");
                // Loaded only when the message is printed.
                urow.push(url.clone());
                urow.push(format!(
                    "@media print {{ .pixelsift-print {{ background-image: url('{url}'); }} }}"
                ));
            } else {
                urow.push(String::new());
                urow.push(String::new());
            }
        }
        urls.write_record(&urow).map_err(csv_bug)?;
    }
    for ((campaign, variant, tracked), (_, sent_at, n)) in &groups {
        let token = if *tracked {
            tokens += 1;
            aggregate_token(&secret, campaign, variant)
        } else {
            crate::manifest::UNTRACKED_TOKEN.to_string()
        };
        manifest
            .write_record([
                token.as_str(),
                campaign,
                crate::manifest::AGGREGATE_ID,
                variant,
                sent_at,
                if *tracked { "true" } else { "false" },
                &n.to_string(),
            ])
            .map_err(csv_bug)?;
    }

    let mut lcsv = csv::Writer::from_writer(Vec::new());
    lcsv.write_record(["link_id", "campaign_id", "url"])
        .map_err(csv_bug)?;
    for l in &links {
        lcsv.write_record([&l.link_id, &l.campaign_id, &l.url])
            .map_err(csv_bug)?;
    }

    let server_name = cfg
        .server_name
        .clone()
        .unwrap_or_else(|| host_of(&base_url).to_string());
    let assets = match &cfg.assets_dir {
        Some(d) => d.trim_end_matches('/').to_string(),
        None => std::fs::canonicalize(&cfg.out)
            .map_err(io_err(&cfg.out))?
            .to_string_lossy()
            .into_owned(),
    };
    if assets
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '$' | '{' | '}' | ';'))
    {
        return Err(Error::Config(format!(
            "the assets directory {assets:?} has characters nginx would interpret; choose another with --assets-dir"
        )));
    }
    let conf = nginx_conf(&NginxOptions {
        links: &links,
        listen: &cfg.listen,
        server_name: &server_name,
        access_log: &cfg.access_log,
        style: cfg.log_style,
        real_ip_from: &cfg.real_ip_from,
        read_time: cfg
            .read_time
            .map(|max| (max, format!("{assets}/{READ_IMAGE}"))),
        print_pixel: cfg.print_pixel,
    });
    let read_image = match cfg.read_time {
        Some(max) => {
            let p = cfg.out.join(READ_IMAGE);
            write_atomic(&p, &crate::readtime::read_time_gif(max))?;
            // nginx's workers (www-data) must read it; it holds nothing secret.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644))
                    .map_err(io_err(&p))?;
            }
            Some(p)
        }
        None => None,
    };

    write_atomic(
        &cfg.out.join("manifest.csv"),
        &manifest
            .into_inner()
            .map_err(|e| csv_bug(e.into_error().into()))?,
    )?;
    write_atomic(
        &cfg.out.join("links.csv"),
        &lcsv
            .into_inner()
            .map_err(|e| csv_bug(e.into_error().into()))?,
    )?;
    write_atomic(
        &cfg.out.join("urls.csv"),
        &urls
            .into_inner()
            .map_err(|e| csv_bug(e.into_error().into()))?,
    )?;
    write_atomic(&cfg.out.join("nginx.conf"), conf.as_bytes())?;

    Ok(MintSummary {
        recipients: recipients.len(),
        campaigns: campaigns.len(),
        links: links.len(),
        created_secret,
        reused_secret,
        untracked,
        tokens,
        read_image,
    })
}

fn csv_bug(e: csv::Error) -> Error {
    Error::Config(format!("writing CSV in memory: {e}"))
}

fn host_of(base_url: &str) -> &str {
    let rest = base_url
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(base_url);
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    host.rsplit_once(':')
        .filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
        .map(|(h, _)| h)
        .unwrap_or(host)
}

fn read_recipients(
    path: &Path,
    problems: &mut Vec<Problem>,
) -> Result<(Vec<String>, Vec<RecipientRow>)> {
    let mut rdr = open_csv(path)?;
    let header = crate::manifest::check_header(
        path,
        &mut rdr,
        &["campaign_id", "recipient_id", "variant", "sent_at"],
    )?;
    let extra_headers: Vec<String> = header[4..].to_vec();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let start = problems.len();
    let mut at = 0;
    for rec in rdr.records() {
        at = crate::manifest::row_at(&rec, at);
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                problems.push(problem(path, at, format!("unreadable row: {e}")));
                continue;
            }
        };
        if rec.len() != header.len() {
            problems.push(problem(
                path,
                at,
                format!("expected {} columns, found {}", header.len(), rec.len()),
            ));
            continue;
        }
        let before = problems.len();
        for (what, v) in [("campaign_id", &rec[0]), ("recipient_id", &rec[1])] {
            if let Err(reason) = check_id(what, v) {
                problems.push(problem(path, at, reason));
            }
        }
        if !rec[2].is_empty() {
            if let Err(reason) = check_id("variant", &rec[2]) {
                problems.push(problem(path, at, reason));
            }
        }
        if let Err(reason) = parse_rfc3339_micros(&rec[3]) {
            problems.push(problem(path, at, reason));
        }
        if problems.len() > before {
            continue;
        }
        if !seen.insert((rec[0].to_string(), rec[1].to_string())) {
            problems.push(problem(
                path,
                at,
                format!(
                    "recipient {} appears twice in campaign {}",
                    &rec[1], &rec[0]
                ),
            ));
            continue;
        }
        out.push(RecipientRow {
            campaign_id: rec[0].to_string(),
            recipient_id: rec[1].to_string(),
            variant: rec[2].to_string(),
            sent_at: rec[3].to_string(),
            extra: rec.iter().skip(4).map(str::to_string).collect(),
        });
    }
    crate::manifest::name_lines(path, &mut problems[start..]);
    Ok((extra_headers, out))
}

fn read_links(path: &Path, problems: &mut Vec<Problem>) -> Result<Vec<Link>> {
    let mut rdr = open_csv(path)?;
    crate::manifest::check_header(path, &mut rdr, &["campaign_id", "link_id", "url"])?;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let start = problems.len();
    let mut at = 0;
    for rec in rdr.records() {
        at = crate::manifest::row_at(&rec, at);
        let rec = match rec {
            Ok(r) if r.len() == 3 => r,
            Ok(r) => {
                problems.push(problem(
                    path,
                    at,
                    format!("expected 3 columns, found {}", r.len()),
                ));
                continue;
            }
            Err(e) => {
                problems.push(problem(path, at, format!("unreadable row: {e}")));
                continue;
            }
        };
        let before = problems.len();
        for (what, v) in [("campaign_id", &rec[0]), ("link_id", &rec[1])] {
            if let Err(reason) = check_id(what, v) {
                problems.push(problem(path, at, reason));
            }
        }
        if let Err(reason) = check_url(&rec[2]) {
            problems.push(problem(path, at, reason));
        }
        if rec[1].starts_with(crate::classify::message::TRAP_PREFIX) {
            problems.push(problem(
                path,
                at,
                format!(
                    "link ids starting with {} are reserved for trap links",
                    crate::classify::message::TRAP_PREFIX
                ),
            ));
        }
        if problems.len() > before {
            continue;
        }
        // nginx's map compares keys case-insensitively, so ids that differ
        // only by case would redirect to one destination.
        if !seen.insert(rec[1].to_ascii_lowercase()) {
            problems.push(problem(
                path,
                at,
                format!(
                    "link_id {} appears twice (ids are unique across the file, ignoring case)",
                    &rec[1]
                ),
            ));
            continue;
        }
        out.push(Link {
            link_id: rec[1].to_string(),
            campaign_id: rec[0].to_string(),
            url: rec[2].to_string(),
        });
    }
    crate::manifest::name_lines(path, &mut problems[start..]);
    Ok(out)
}

const MIN_SECRET: usize = 16;

fn resolve_secret(
    src: &SecretSource,
    out: &Path,
) -> Result<(Vec<u8>, Option<PathBuf>, Option<PathBuf>)> {
    let check = |s: Vec<u8>, from: &str| -> Result<Vec<u8>> {
        if s.len() < MIN_SECRET {
            return Err(Error::Config(format!(
                "the secret from {from} is {} bytes; at least {MIN_SECRET} are needed",
                s.len()
            )));
        }
        Ok(s)
    };
    match src {
        SecretSource::File(p) => Ok((
            check(read_secret(p)?, &p.display().to_string())?,
            None,
            None,
        )),
        SecretSource::Value(v) => Ok((check(v.clone(), "PIXELSIFT_SECRET")?, None, None)),
        SecretSource::OutDir => {
            let p = out.join("secret.key");
            if p.exists() {
                Ok((
                    check(read_secret(&p)?, &p.display().to_string())?,
                    None,
                    Some(p),
                ))
            } else {
                let mut raw = [0u8; 32];
                let mut f = std::fs::File::open("/dev/urandom").map_err(io_err("/dev/urandom"))?;
                std::io::Read::read_exact(&mut f, &mut raw).map_err(io_err("/dev/urandom"))?;
                let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
                Ok((hex.into_bytes(), Some(p), None))
            }
        }
    }
}

/// Reads a secret file, trimming trailing whitespace (editors add a newline).
pub fn read_secret(path: &Path) -> Result<Vec<u8>> {
    let mut s = std::fs::read(path).map_err(io_err(path))?;
    while s.last().is_some_and(|b| b.is_ascii_whitespace()) {
        s.pop();
    }
    Ok(s)
}

fn write_secret(path: &Path, secret: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(secret)
        .and_then(|_| f.write_all(b"\n"))
        .and_then(|_| f.sync_all())
        .map_err(io_err(path))
}

/// Writes a file so that readers see the old or the new content, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(io_err(path))?;
    tmp.persist(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

/// What the nginx config is made of.
#[derive(Debug, Clone)]
pub struct NginxOptions<'a> {
    /// The links, for the redirect map.
    pub links: &'a [Link],
    /// `listen` value.
    pub listen: &'a str,
    /// `server_name` value.
    pub server_name: &'a str,
    /// `access_log` path.
    pub access_log: &'a str,
    /// Log format.
    pub style: LogStyle,
    /// Trusted proxies for `X-Forwarded-For`.
    pub real_ip_from: &'a [String],
    /// The read-time image: maximum seconds, and its path for nginx.
    pub read_time: Option<(u32, String)>,
    /// Serve the print pixel.
    pub print_pixel: bool,
}

/// Name of the `log_format` mint defines for the read-time image in
/// combined style: `combined` plus ` rt=$request_time`.
pub const TIMED_LOG_FORMAT: &str = "pixelsift_timed";

/// User agents that fetch images whole on a reader's behalf, ahead of or
/// instead of the reader: webmail image proxies and Apple Mail Privacy
/// Protection's prefetch (`Mozilla/5.0` and nothing else). nginx sends them
/// the read-time image at full speed: a trickle would only hold up (or time
/// out) their fetch, and it measures nobody's reading anyway.
pub const WHOLE_FETCHERS: &[&str] = &[
    "~*GoogleImageProxy",
    "~*YahooMailProxy",
    "~*ggpht\\.com",
    "\"Mozilla/5.0\"",
];

/// Name of the JSON `log_format` mint defines.
pub const JSON_LOG_FORMAT: &str = "pixelsift_json";

/// Renders the nginx config: a `map` from link id to destination (one entry
/// per link, never per recipient) and a server block for pixels and clicks.
/// It belongs in nginx's `http` context (for example `include`d from it).
pub fn nginx_conf(o: &NginxOptions<'_>) -> String {
    let mut s = String::new();
    s.push_str("# Generated by `pixelsift mint`. Include it in nginx's http {} context.\n");
    s.push_str("# Destinations come only from links.csv: an unknown link id answers 404,\n");
    s.push_str("# so this host can never be used as an open redirect.\n");
    s.push_str("map $pixelsift_link_id $pixelsift_destination {\n    default \"\";\n");
    for l in o.links {
        // Ids and URLs were checked: no quotes, `$`, braces or whitespace.
        s.push_str(&format!("    \"{}\" \"{}\";\n", l.link_id, l.url));
    }
    s.push_str("}\n\n");
    let log_format = match o.style {
        LogStyle::Combined => "combined",
        LogStyle::Json => {
            s.push_str(&format!(
                "# $msec is UTC with milliseconds; escape=json keeps every line valid JSON.\n\
                 log_format {JSON_LOG_FORMAT} escape=json '{{\"msec\":\"$msec\",\"remote_addr\":\"$remote_addr\",'\n    \
                 '\"request_method\":\"$request_method\",\"request_uri\":\"$request_uri\",\"status\":\"$status\",'\n    \
                 '\"body_bytes_sent\":\"$body_bytes_sent\",\"http_referer\":\"$http_referer\",'\n    \
                 '\"http_user_agent\":\"$http_user_agent\",\"http_x_forwarded_for\":\"$http_x_forwarded_for\",'\n    \
                 '\"request_time\":\"$request_time\"}}';\n\n"
            ));
            JSON_LOG_FORMAT
        }
    };
    let mut extra = String::new();
    if let Some((max, image)) = &o.read_time {
        let timed = match o.style {
            LogStyle::Combined => {
                s.push_str(&format!(
                    "# combined plus the request's duration, for the read-time image.\n\
                     log_format {TIMED_LOG_FORMAT} '$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent '\n    \
                     '\"$http_referer\" \"$http_user_agent\" rt=$request_time';\n\n"
                ));
                TIMED_LOG_FORMAT
            }
            LogStyle::Json => JSON_LOG_FORMAT,
        };
        s.push_str("# Fetchers that take images whole get the read-time image at once.\n");
        s.push_str("map $http_user_agent $pixelsift_read_rate {\n");
        s.push_str(&format!("    default {READ_RATE};\n"));
        for ua in WHOLE_FETCHERS {
            s.push_str(&format!("    {ua} 0;\n"));
        }
        s.push_str("}\n\n");
        extra.push_str(&format!(
            r#"
    # Read time: a transparent GIF sent at {READ_RATE} bytes/s, lasting about {max} s. A mail
    # client keeps downloading it while the message is open; when the reader
    # closes it the download stops and nginx logs how long it lasted
    # ($request_time, status 499 for a reader who left before the end).
    location ~ "^/t/[A-Za-z0-9_-]{{22}}\.gif$" {{
        access_log {access_log} {timed};
        add_header Cache-Control "no-store, no-cache, must-revalidate, max-age=0" always;
        add_header Pragma "no-cache" always;
        add_header Expires "Thu, 01 Jan 1970 00:00:00 GMT" always;
        default_type image/gif;
        etag off;
        if_modified_since off;
        limit_rate_after 0;
        limit_rate $pixelsift_read_rate;
        postpone_output 0;
        sendfile off;
        alias {image};
    }}
"#,
            access_log = o.access_log,
        ));
    }
    if o.print_pixel {
        extra.push_str(
            r#"
    # Print: a transparent GIF that only the print stylesheet asks for.
    location ~ "^/p/[A-Za-z0-9_-]{22}\.gif$" {
        add_header Cache-Control "no-store, no-cache, must-revalidate, max-age=0" always;
        add_header Pragma "no-cache" always;
        add_header Expires "Thu, 01 Jan 1970 00:00:00 GMT" always;
        empty_gif;
    }
"#,
        );
    }
    let mut real_ip = String::new();
    if !o.real_ip_from.is_empty() {
        real_ip.push_str("\n    # The client address is the reader's, not the proxy's or CDN's.\n");
        for c in o.real_ip_from {
            real_ip.push_str(&format!("    set_real_ip_from {c};\n"));
        }
        real_ip.push_str("    real_ip_header X-Forwarded-For;\n    real_ip_recursive on;\n");
    }
    let (listen, server_name, access_log) = (o.listen, o.server_name, o.access_log);
    s.push_str(&format!(
        r#"server {{
    listen {listen};
    server_name {server_name};
    access_log {access_log} {log_format};
{real_ip}
    # Opens: a transparent 1x1 GIF that no cache may keep, so every open reaches the log.
    location ~ "^/o/[A-Za-z0-9_-]{{22}}\.gif$" {{
        add_header Cache-Control "no-store, no-cache, must-revalidate, max-age=0" always;
        add_header Pragma "no-cache" always;
        add_header Expires "Thu, 01 Jan 1970 00:00:00 GMT" always;
        empty_gif;
    }}

    # Clicks: 302 to the link's destination, 404 for an unknown link id.
    location ~ "^/c/(?<pixelsift_token>[A-Za-z0-9_-]{{22}})/(?<pixelsift_link_id>[A-Za-z0-9._-]{{1,64}})$" {{
        add_header Cache-Control "no-store" always;
        if ($pixelsift_destination = "") {{
            return 404;
        }}
        return 302 $pixelsift_destination;
    }}
{extra}
    location / {{
        return 404;
    }}
}}
"#
    ));
    s
}
