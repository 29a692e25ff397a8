//! `pixelsift explain`: every hit of one message, in time order, with its
//! verdict, the rule that decided it and what the rules saw.

use std::path::PathBuf;
use std::process::ExitCode;

use pixelsift::query;

use super::OutputFormat;

/// Flags of `explain`.
#[derive(clap::Args)]
pub struct Args {
    /// Dataset directory.
    #[arg(long)]
    data: PathBuf,
    /// The message's token.
    #[arg(
        long,
        required_unless_present = "recipient",
        conflicts_with = "recipient"
    )]
    token: Option<String>,
    /// The recipient (with --campaign for one message).
    #[arg(long)]
    recipient: Option<String>,
    /// The campaign, with --recipient.
    #[arg(long, requires = "recipient")]
    campaign: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: OutputFormat,
}

const HITS: &str = "SELECT ts, kind, link_id, method, status, class, rule_id, reason, forwarded, seconds_since_sent, \
    burst_hits, burst_seconds, trap_hit, read_seconds, ip, ip_prefix, network, network_cidr, network_roles, asn, as_org, \
    country, city, ua_name, ua_category, os, user_agent, rules_version, source_file, source_line \
    FROM events \
    WHERE ($token <> '' AND token = $token) \
       OR ($token = '' AND recipient_id = $recipient AND ($campaign = '' OR campaign_id = $campaign)) \
    ORDER BY ts, source_file, source_line";

const SET_ASIDE: &str = "SELECT r.source_file, r.source_line, r.reason, r.detail FROM rejects r \
    WHERE EXISTS (SELECT 1 FROM manifest m WHERE strpos(r.raw_line, m.token) > 0 \
        AND (($token <> '' AND m.token = $token) \
          OR ($token = '' AND m.recipient_id = $recipient AND ($campaign = '' OR m.campaign_id = $campaign)))) \
    ORDER BY r.source_file, r.source_line";

/// Runs `explain`.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let params = query::Params::new(vec![
        ("token".into(), a.token.clone().unwrap_or_default()),
        ("recipient".into(), a.recipient.clone().unwrap_or_default()),
        ("campaign".into(), a.campaign.clone().unwrap_or_default()),
    ])?;
    let rt = super::runtime()?;
    let ctx = rt.block_on(query::context(&a.data))?;
    let (schema, batches) = rt.block_on(query::run_sql_with(&ctx, HITS, &params))?;
    let n: usize = batches.iter().map(|b| b.num_rows()).sum();
    super::print_result(a.format, &schema, &batches, None)?;
    let (rs, rb) = rt.block_on(query::run_sql_with(&ctx, SET_ASIDE, &params))?;
    let m: usize = rb.iter().map(|b| b.num_rows()).sum();
    if m > 0 {
        println!("\nlines with this token that were set aside:");
        super::print_result(a.format, &rs, &rb, None)?;
    }
    if n == 0 && m == 0 {
        eprintln!("no hits for this message");
    }
    Ok(ExitCode::SUCCESS)
}
