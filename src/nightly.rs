//! The nightly report: every report as CSV, and one self-contained
//! `index.html` with charts (inline SVG), tables and what was filtered.
//!
//! The page loads nothing: no script, no stylesheet, no font, no image
//! from anywhere, and its Content-Security-Policy forbids it to, so it can be
//! mailed, archived or opened offline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use crate::chart::{bars, hbars, Series, PALETTE};
use crate::error::{io_err, Result};
use crate::output::{html_escape, html_table, text_cells, write, Format};
use crate::query::{context_for, reports, run_sql_with, Params, Report};

/// What a result looks like as text, with columns found by name.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Table> {
        Ok(Table {
            header: schema.fields().iter().map(|f| f.name().clone()).collect(),
            rows: text_cells(schema, batches)?,
        })
    }

    fn col(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    fn num(&self, row: &[String], name: &str) -> f64 {
        self.col(name)
            .and_then(|i| row[i].parse().ok())
            .unwrap_or(0.0)
    }

    fn text<'a>(&self, row: &'a [String], name: &str) -> &'a str {
        self.col(name).map(|i| row[i].as_str()).unwrap_or("")
    }
}

/// Files the nightly report wrote.
#[derive(Debug, Clone)]
pub struct Nightly {
    /// The HTML page.
    pub index: PathBuf,
    /// One CSV per report.
    pub csvs: Vec<PathBuf>,
}

/// Runs every report (with `given` parameters where a report declares
/// them) and writes `out/<report>.csv` and `out/index.html`.
pub async fn nightly(
    data: &Path,
    out: &Path,
    queries: Option<&Path>,
    given: &[(String, String)],
) -> Result<Nightly> {
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    let mut csvs = Vec::new();
    let all: Vec<Report> = reports(queries)?;
    for r in &all {
        let mine: Vec<(String, String)> = given
            .iter()
            .filter(|(k, _)| r.params.iter().any(|(n, _)| n == k))
            .cloned()
            .collect();
        let params: Params = r.bind(&mine)?;
        let ctx = context_for(data, &params.days).await?;
        let (schema, batches) = run_sql_with(&ctx, &r.sql, &params).await?;
        let mut buf = Vec::new();
        write(&mut buf, Format::Csv, &schema, &batches)
            .map_err(|e| crate::Error::Config(format!("writing {}.csv: {e}", r.name)))?;
        let path = out.join(format!("{}.csv", r.name));
        crate::mint::write_atomic(&path, &buf)?;
        csvs.push(path);
        tables.insert(r.name.clone(), Table::new(&schema, &batches)?);
    }
    let html = page(data, given, &tables);
    let index = out.join("index.html");
    crate::mint::write_atomic(&index, html.as_bytes())?;
    Ok(Nightly { index, csvs })
}

fn page(data: &Path, given: &[(String, String)], t: &BTreeMap<String, Table>) -> String {
    let mut s = String::new();
    s.push_str("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    // Nothing may be fetched: the page is complete as it is.
    s.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n");
    s.push_str("<title>pixelsift nightly report</title>\n<style>\n");
    s.push_str("body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}\n");
    s.push_str("td,th{border:1px solid #ccc;padding:2px 8px;font-size:13px}th{background:#f3f3f3}.sig{font-weight:bold;color:#b00}table{display:block;overflow-x:auto}\n");
    s.push_str(
        "section{margin-bottom:2em}p.note{color:#555;font-size:13px}\n</style></head><body>\n",
    );
    s.push_str("<h1>pixelsift nightly report</h1>\n");
    let scope: Vec<String> = given.iter().map(|(k, v)| format!("{k}={v}")).collect();
    s.push_str(&format!(
        "<p class=\"note\">Dataset {} &middot; generated {} UTC{}</p>\n",
        html_escape(&data.display().to_string()),
        chrono::Utc::now().format("%Y-%m-%d %H:%M"),
        if scope.is_empty() {
            String::new()
        } else {
            format!(" &middot; {}", html_escape(&scope.join(" ")))
        }
    ));

    if let Some(x) = t.get("campaign-summary") {
        s.push_str("<section><h2>Campaigns</h2>\n");
        s.push_str("<p class=\"note\">Opens count people: human opens, opens through webmail image proxies, and human clicks. Apple MPP prefetches, scanners and crawlers are not opens; they are counted apart.</p>\n");
        s.push_str(&html_table(&x.header, &x.rows));
        s.push_str("</section>\n");
    }
    if let Some(x) = t.get("daily") {
        let labels: Vec<String> = x
            .rows
            .iter()
            .map(|r| x.text(r, "day").to_string())
            .collect();
        let series: Vec<Series> = [
            ("human opens", "human_opens"),
            ("proxy opens", "proxy_opens"),
            ("MPP opens", "mpp_opens"),
            ("human clicks", "human_clicks"),
            ("bot hits", "bot_hits"),
        ]
        .iter()
        .enumerate()
        .map(|(i, (name, col))| Series {
            name: name.to_string(),
            values: x.rows.iter().map(|r| x.num(r, col)).collect(),
            color: PALETTE[i],
        })
        .collect();
        s.push_str("<section><h2>Opens and clicks over time</h2>\n");
        s.push_str(&bars("Hits per day", &labels, &series));
        s.push_str("</section>\n");
    }
    if let Some(x) = t.get("time-to-open") {
        let mut buckets: Vec<(i64, String, f64)> = Vec::new();
        for r in &x.rows {
            let order = x.num(r, "bucket_order") as i64;
            match buckets.iter_mut().find(|b| b.0 == order) {
                Some(b) => b.2 += x.num(r, "recipients"),
                None => buckets.push((
                    order,
                    x.text(r, "bucket").to_string(),
                    x.num(r, "recipients"),
                )),
            }
        }
        buckets.sort_by_key(|b| b.0);
        let labels: Vec<String> = buckets.iter().map(|b| b.1.clone()).collect();
        let series = [Series {
            name: "recipients".into(),
            values: buckets.iter().map(|b| b.2).collect(),
            color: PALETTE[0],
        }];
        s.push_str("<section><h2>Time to first open</h2>\n");
        s.push_str(&bars(
            "Recipients by delay from sending to first open",
            &labels,
            &series,
        ));
        s.push_str("</section>\n");
    }
    if let Some(x) = t.get("clients") {
        let mut by_client: BTreeMap<String, f64> = BTreeMap::new();
        let mut hidden: BTreeMap<String, f64> = BTreeMap::new();
        for r in &x.rows {
            match x.text(r, "dimension") {
                "client" => {
                    *by_client.entry(x.text(r, "value").to_string()).or_default() +=
                        x.num(r, "opens")
                }
                "hidden" => {
                    *hidden.entry(x.text(r, "value").to_string()).or_default() += x.num(r, "opens")
                }
                _ => {}
            }
        }
        let total: f64 = by_client.values().sum();
        let mut items: Vec<(String, f64)> = by_client
            .into_iter()
            .map(|(k, v)| (k, if total > 0.0 { v / total } else { 0.0 }))
            .collect();
        items.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        s.push_str("<section><h2>Email clients</h2>\n");
        s.push_str(&hbars("Share of human opens by client", &items, true));
        if !hidden.is_empty() {
            let h: Vec<String> = hidden.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            s.push_str(&format!(
                "<p class=\"note\">Open hits hidden behind proxies and MPP: {}</p>\n",
                html_escape(&h.join(", "))
            ));
        }
        s.push_str("</section>\n");
    }
    if let Some(x) = t.get("bots") {
        let mut by_class: BTreeMap<String, f64> = BTreeMap::new();
        let mut by_rule: BTreeMap<(String, String, String), f64> = BTreeMap::new();
        for r in &x.rows {
            *by_class.entry(x.text(r, "class").to_string()).or_default() += x.num(r, "hits");
            *by_rule
                .entry((
                    x.text(r, "class").into(),
                    x.text(r, "rule_id").into(),
                    x.text(r, "reason").into(),
                ))
                .or_default() += x.num(r, "hits");
        }
        let items: Vec<(String, f64)> = by_class.into_iter().collect();
        s.push_str("<section><h2>What was counted, and what was filtered</h2>\n");
        s.push_str(&hbars("Hits by class", &items, false));
        let header = vec![
            "class".to_string(),
            "rule".into(),
            "reason".into(),
            "hits".into(),
        ];
        let rows: Vec<Vec<String>> = by_rule
            .into_iter()
            .map(|((c, id, why), n)| vec![c, id, why, format!("{n}")])
            .collect();
        s.push_str(&html_table(&header, &rows));
        s.push_str("</section>\n");
    }
    if let Some(x) = t.get("variants") {
        s.push_str("<section><h2>A/B tests</h2>\n<p class=\"note\">Against the first variant of each campaign; two-sided two-proportion z-test. <span class=\"sig\">Bold red</span>: p &lt; 0.05.</p>\n");
        let cols = [
            "campaign_id",
            "variant",
            "recipients",
            "open_rate",
            "open_rate_diff",
            "open_p_value",
            "click_rate",
            "click_rate_diff",
            "click_p_value",
        ];
        s.push_str("<table><thead><tr>");
        for c in cols {
            s.push_str(&format!("<th>{c}</th>"));
        }
        s.push_str("</tr></thead><tbody>\n");
        for r in &x.rows {
            s.push_str("<tr>");
            for c in cols {
                let v = x.text(r, c);
                let shown = match v.parse::<f64>() {
                    Ok(f) if c != "recipients" => format!("{f:.4}"),
                    _ => v.to_string(),
                };
                let sig = c.ends_with("p_value") && v.parse::<f64>().is_ok_and(|p| p < 0.05);
                s.push_str(&format!(
                    "<td{}>{}</td>",
                    if sig { " class=\"sig\"" } else { "" },
                    html_escape(&shown)
                ));
            }
            s.push_str("</tr>\n");
        }
        s.push_str("</tbody></table></section>\n");
    }
    for (name, title) in [
        ("links", "Links"),
        ("geo", "Where people read (proxy and MPP hits left out)"),
    ] {
        if let Some(x) = t.get(name) {
            s.push_str(&format!("<section><h2>{title}</h2>\n"));
            s.push_str(&html_table(&x.header, &x.rows));
            s.push_str("</section>\n");
        }
    }
    s.push_str("<p class=\"note\">Every table is also written as CSV beside this page.</p>\n</body></html>\n");
    s
}
