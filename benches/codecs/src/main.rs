//! Writes the given Parquet files again with each compression codec and
//! reads them back, in alternating rounds: CPU seconds to write and to read
//! every column, and the size. Every other writer property is taken from
//! the input files (which columns have a dictionary, which have statistics),
//! so the codec is the only difference from what pixelsift wrote. It holds
//! the files' rows in memory: give it a few files.
//!
//! With `--columns`, it writes each column alone with Snappy instead and
//! prints the CPU each column's encoding takes (the fastest of the rounds):
//! what the Parquet writer costs per value, column by column.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

/// The codecs compared: Snappy is what pixelsift writes.
fn codecs() -> Vec<(&'static str, Compression)> {
    vec![
        ("snappy", Compression::SNAPPY),
        ("lz4_raw", Compression::LZ4_RAW),
        (
            "zstd(1)",
            Compression::ZSTD(ZstdLevel::try_new(1).expect("a zstd level")),
        ),
        ("none", Compression::UNCOMPRESSED),
    ]
}

/// CPU seconds (user + system) this process has used; the machines these
/// run on are shared, so CPU time is steadier than wall time.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// The writer properties `meta`'s first row group was written with, but for
/// the codec: a dictionary where its columns have one, statistics where
/// they have them, and columns written DELTA_BINARY_PACKED (which pixelsift
/// leaves uncompressed) as they are.
fn properties(meta: &ParquetMetaData, codec: Compression) -> WriterProperties {
    let mut b = WriterProperties::builder().set_compression(codec);
    for c in meta.row_group(0).columns() {
        let path = c.column_path().clone();
        b = b.set_column_dictionary_enabled(path.clone(), c.dictionary_page_offset().is_some());
        if c.statistics().is_none() {
            b = b.set_column_statistics_enabled(path.clone(), EnabledStatistics::None);
        }
        let delta = c.page_encoding_stats().is_some_and(|s| {
            s.iter()
                .any(|p| p.encoding == parquet::basic::Encoding::DELTA_BINARY_PACKED)
        });
        if delta {
            b = b
                .set_column_encoding(path.clone(), parquet::basic::Encoding::DELTA_BINARY_PACKED)
                .set_column_compression(path, c.compression());
        }
    }
    b.build()
}

struct Input {
    meta: ParquetMetaData,
    batches: Vec<RecordBatch>,
}

fn read(path: &Path) -> Result<Input, Box<dyn std::error::Error>> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?;
    let meta = builder.metadata().as_ref().clone();
    let batches = builder.build()?.collect::<Result<Vec<_>, _>>()?;
    Ok(Input { meta, batches })
}

/// CPU seconds to write each column of `inputs` alone, with the properties
/// of the files' own: the fastest of `rounds`, largest first.
fn per_column(
    inputs: &[Input],
    rows: usize,
    rounds: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    use arrow::datatypes::Schema;
    use std::sync::Arc;
    let schema = inputs[0].batches.first().ok_or("an empty file")?.schema();
    let mut costs = Vec::new();
    for (c, field) in schema.fields().iter().enumerate() {
        let alone = Arc::new(Schema::new(vec![field.as_ref().clone()]));
        let mut best = f64::MAX;
        let mut size = 0;
        for _ in 0..rounds {
            let start = cpu_seconds();
            size = 0;
            for input in inputs {
                // Set by column path: the lone column keeps its own.
                let props = properties(&input.meta, Compression::SNAPPY);
                let mut out = Vec::new();
                let mut w = ArrowWriter::try_new(&mut out, alone.clone(), Some(props))?;
                for b in &input.batches {
                    w.write(&RecordBatch::try_new(
                        alone.clone(),
                        vec![b.column(c).clone()],
                    )?)?;
                }
                w.close()?;
                size += out.len();
            }
            best = best.min(cpu_seconds() - start);
        }
        costs.push((field.name().clone(), best, size));
    }
    let total: f64 = costs.iter().map(|c| c.1).sum();
    costs.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!("{rows} rows, each column written alone with Snappy; fastest of {rounds} rounds");
    println!(
        "{:22} {:>9} {:>7} {:>10} {:>9}",
        "column", "CPU", "share", "ns/value", "MB"
    );
    for (name, secs, size) in &costs {
        println!(
            "{name:22} {secs:>8.3}s {:>6.1}% {:>10.1} {:>9.1}",
            100.0 * secs / total,
            secs * 1e9 / rows as f64,
            *size as f64 / 1e6
        );
    }
    println!("{:22} {total:>8.3}s", "all columns");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rounds = 5;
    let mut columns = false;
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rounds" => rounds = args.next().ok_or("--rounds takes a number")?.parse()?,
            "--columns" => columns = true,
            _ => paths.push(PathBuf::from(a)),
        }
    }
    if paths.is_empty() {
        return Err("usage: pixelsift-codecs [--rounds N] [--columns] FILE.parquet...".into());
    }
    let inputs: Vec<Input> = paths
        .iter()
        .map(|p| read(p).map_err(|e| format!("{}: {e}", p.display())))
        .collect::<Result<_, _>>()?;
    let rows: usize = inputs
        .iter()
        .flat_map(|i| &i.batches)
        .map(|b| b.num_rows())
        .sum();
    if columns {
        return per_column(&inputs, rows, rounds);
    }
    let out = std::env::temp_dir().join(format!("pixelsift-codecs-{}", std::process::id()));
    println!(
        "{} files, {rows} rows; {rounds} rounds, each codec in turn",
        inputs.len()
    );
    let mut seen: Vec<(&str, Vec<f64>, Vec<f64>, u64)> = codecs()
        .into_iter()
        .map(|(n, _)| (n, Vec::new(), Vec::new(), 0))
        .collect();
    for _ in 0..rounds {
        for (k, (_, codec)) in codecs().into_iter().enumerate() {
            std::fs::create_dir_all(&out)?;
            let start = cpu_seconds();
            let mut size = 0;
            for (i, input) in inputs.iter().enumerate() {
                let p = out.join(format!("{i}.parquet"));
                let schema = input.batches.first().ok_or("an empty file")?.schema();
                let props = properties(&input.meta, codec);
                let mut w = ArrowWriter::try_new(File::create(&p)?, schema, Some(props))?;
                for b in &input.batches {
                    w.write(b)?;
                }
                w.close()?;
                size += std::fs::metadata(&p)?.len();
            }
            let written = cpu_seconds();
            let mut back = 0;
            for i in 0..inputs.len() {
                let f = File::open(out.join(format!("{i}.parquet")))?;
                for b in ParquetRecordBatchReaderBuilder::try_new(f)?.build()? {
                    back += b?.num_rows();
                }
            }
            if back != rows {
                return Err(format!("read back {back} rows of {rows}").into());
            }
            seen[k].1.push(written - start);
            seen[k].2.push(cpu_seconds() - written);
            seen[k].3 = size;
            std::fs::remove_dir_all(&out)?;
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "{:10} {:>16} {:>16} {:>10}",
        "codec", "write CPU (med)", "read CPU (med)", "MB"
    );
    for (name, mut w, mut r, size) in seen {
        println!(
            "{name:10} {:>15.2}s {:>15.2}s {:>10.1}",
            median(&mut w),
            median(&mut r),
            size as f64 / 1e6
        );
    }
    Ok(())
}
