//! `pixelsift sql`: one query, or an interactive shell.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use pixelsift::query;

use super::OutputFormat;

/// Flags of `sql`.
#[derive(clap::Args)]
pub struct Args {
    /// Dataset directory, or its URL in object storage (s3://bucket/prefix).
    #[arg(long)]
    data: PathBuf,
    /// Run on an Apache DataFusion Ballista cluster: its scheduler, df://HOST:PORT.
    #[arg(long)]
    cluster: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: OutputFormat,
    /// A parameter, name=value (repeatable), used in the query as $name.
    #[arg(long = "param", value_parser = super::parse_param)]
    params: Vec<(String, String)>,
    /// Write to this file (atomically) instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The query, over tables events, rejects, manifest, links and tallies. Without
    /// it: a shell on a terminal, or statements read from stdin.
    query: Option<String>,
}

/// Runs `sql`.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let params = query::Params::new(a.params.clone())?;
    let rt = super::runtime()?;
    let Some(q) = &a.query else {
        return shell(&a, &params, &rt);
    };
    let (schema, batches) = rt.block_on(async {
        let ctx = super::session(&a.data, &params.days, a.cluster.as_deref()).await?;
        super::run_sql(&ctx, q, &params, a.cluster.is_some()).await
    })?;
    super::print_result(a.format, &schema, &batches, a.out.as_deref())?;
    Ok(ExitCode::SUCCESS)
}

const HELP: &str = "End SQL statements with ';'. Commands:\n  .tables          list the tables\n  .schema TABLE    show a table's columns\n  .help            this help\n  .quit            leave (or Ctrl-D)";

/// Runs one shell input: a dot command or a SQL statement. Errors are
/// printed and the shell goes on.
fn execute(
    input: &str,
    ctx: &datafusion::prelude::SessionContext,
    a: &Args,
    params: &query::Params,
    rt: &tokio::runtime::Runtime,
) -> bool {
    let input = input.trim();
    let sql = match input.split_whitespace().collect::<Vec<_>>().as_slice() {
        [] => return true,
        [".quit"] | [".exit"] => return false,
        [".help"] => {
            println!("{HELP}");
            return true;
        }
        [".tables"] => "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1".to_string(),
        [".schema", table] => format!(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = '{}' ORDER BY ordinal_position",
            table.replace('\'', "''")
        ),
        [cmd, ..] if cmd.starts_with('.') => {
            eprintln!("unknown command {cmd}; .help lists them");
            return true;
        }
        _ => input.trim_end_matches(';').to_string(),
    };
    match rt.block_on(super::run_sql(ctx, &sql, params, a.cluster.is_some())) {
        Ok((schema, batches)) => {
            if let Err(e) = super::print_result(a.format, &schema, &batches, None) {
                eprintln!("error: {}", super::error_text(&e));
            }
        }
        Err(e) => eprintln!("error: {e}"),
    }
    true
}

fn shell(
    a: &Args,
    params: &query::Params,
    rt: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    let ctx = rt.block_on(super::session(&a.data, &params.days, a.cluster.as_deref()))?;
    if !std::io::stdin().is_terminal() {
        // Statements from a pipe or file: `;` ends a statement, a dot command its line.
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        let mut pending = String::new();
        for line in text.lines() {
            if pending.trim().is_empty() && line.trim_start().starts_with('.') {
                if !execute(line, &ctx, a, params, rt) {
                    return Ok(ExitCode::SUCCESS);
                }
                continue;
            }
            pending.push_str(line);
            pending.push('\n');
            if line.trim_end().ends_with(';') {
                execute(&std::mem::take(&mut pending), &ctx, a, params, rt);
            }
        }
        execute(&pending, &ctx, a, params, rt);
        return Ok(ExitCode::SUCCESS);
    }
    let mut rl = rustyline::DefaultEditor::new()?;
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pixelsift_history"));
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    println!(
        "pixelsift sql on {}: tables events, rejects, manifest, links, tallies. .help for help.",
        a.data.display()
    );
    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() {
            "pixelsift> "
        } else {
            "      ...> "
        };
        match rl.readline(prompt) {
            Ok(line) => {
                if pending.is_empty() && line.trim_start().starts_with('.') {
                    let _ = rl.add_history_entry(line.as_str());
                    if !execute(&line, &ctx, a, params, rt) {
                        break;
                    }
                    continue;
                }
                pending.push_str(&line);
                pending.push('\n');
                if line.trim_end().ends_with(';') {
                    let stmt = std::mem::take(&mut pending);
                    let _ = rl.add_history_entry(stmt.trim());
                    execute(&stmt, &ctx, a, params, rt);
                }
            }
            Err(rustyline::error::ReadlineError::Interrupted) => pending.clear(),
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(h) = &history {
        let _ = rl.save_history(h);
    }
    Ok(ExitCode::SUCCESS)
}
