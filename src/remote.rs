//! Object storage: logs read straight from buckets, datasets kept in them.
//!
//! A dataset at `s3://bucket/prefix` (or `gs://`, `az://`, `file://`) has
//! the layout of a local one (see [`crate::commit`]) without `_staging` or
//! `_lock`. Object stores have no rename and no lock, so the commit is a
//! conditional write instead: a writer uploads its Parquet files under
//! names no other run uses, then creates `_log/<seq>.json` only if no
//! object has that name (`PutMode::Create`: `If-None-Match: *` on S3,
//! generation 0 on GCS, `If-None-Match` on Azure). Of two writers that
//! read the same log, one creates the record and the other is refused,
//! deletes its uploads and starts again from the new log, where the
//! registry shows what the winner took. Files no record names are invisible
//! to readers, who replay `_log/` exactly as they do on disk.
//!
//! Commands work on a local checkout: the log (and, for commands that
//! rewrite data, the live files) is copied into a temporary local dataset,
//! the command runs there unchanged, and its new commit records are
//! published. The pipeline, the rules and the readers are the same code
//! whatever the storage.

use std::path::Path;

use crate::error::Error;

/// Whether a `--data` or log argument names object storage (`scheme://...`)
/// rather than a local path.
pub fn is_remote(p: &Path) -> bool {
    p.to_str().is_some_and(is_url)
}

/// Whether `s` is a URL with a scheme pixelsift reads as object storage.
pub fn is_url(s: &str) -> bool {
    match s.split_once("://") {
        Some((scheme, _)) => {
            !scheme.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+')
        }
        None => false,
    }
}

/// The error for object storage in a build without it.
pub fn not_built(url: &str) -> Error {
    Error::Config(format!(
        "{url}: this pixelsift was built without object storage; build it with `--features cloud`"
    ))
}

#[cfg(feature = "cloud")]
pub use cloud::*;

#[cfg(feature = "cloud")]
mod cloud {
    use std::io::Read;
    use std::path::Path;
    use std::sync::{Arc, OnceLock};

    use bytes::Bytes;
    use futures::stream::{BoxStream, StreamExt, TryStreamExt};
    use object_store::path::Path as ObjPath;
    use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
    use url::Url;

    use crate::commit::{CommitRecord, Dataset, Snapshot};
    use crate::error::{io_err, Error, Result};
    use crate::input::glob_match;

    /// The runtime object-store I/O runs on when the caller is not async
    /// (ingest's reader threads, the commit protocol).
    pub fn runtime() -> &'static tokio::runtime::Runtime {
        static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
        RT.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("pixelsift-io")
                .enable_all()
                .build()
                .expect("starting the I/O runtime")
        })
    }

    fn store_err(what: &str) -> impl FnOnce(object_store::Error) -> Error + '_ {
        move |e| Error::Config(format!("{what}: {e}"))
    }

    /// The store serving a URL's bucket, configured from the environment:
    /// `AWS_*` (endpoint, region, keys, `AWS_ALLOW_HTTP` for plain-HTTP
    /// servers), `GOOGLE_*`, `AZURE_*`, as the `object_store` crate reads them.
    pub fn store_for(url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let what = url.as_str();
        let store: Arc<dyn ObjectStore> = match url.scheme() {
            "s3" | "s3a" => Arc::new(
                object_store::aws::AmazonS3Builder::from_env()
                    .with_url(what)
                    .build()
                    .map_err(store_err(what))?,
            ),
            "gs" => Arc::new(
                object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_url(what)
                    .build()
                    .map_err(store_err(what))?,
            ),
            "az" | "adl" | "azure" | "abfs" | "abfss" => Arc::new(
                object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(what)
                    .build()
                    .map_err(store_err(what))?,
            ),
            "http" | "https" => Arc::new(
                object_store::http::HttpBuilder::new()
                    .with_url(bucket_url(url).as_str())
                    .build()
                    .map_err(store_err(what))?,
            ),
            "file" => Arc::new(object_store::local::LocalFileSystem::new()),
            other => {
                return Err(Error::Config(format!(
                    "{what}: unknown storage scheme {other:?}; use s3://, gs://, az://, http(s):// or file://"
                )))
            }
        };
        Ok(store)
    }

    /// `scheme://bucket`: the part of a URL a store is registered under.
    pub fn bucket_url(url: &Url) -> Url {
        let mut u = url.clone();
        u.set_path("");
        u.set_query(None);
        u.set_fragment(None);
        u
    }

    fn parse(url: &str) -> Result<Url> {
        Url::parse(url).map_err(|e| Error::Config(format!("{url}: not a URL ({e})")))
    }

    fn key_of(url: &Url) -> Result<ObjPath> {
        ObjPath::from_url_path(url.path())
            .map_err(|e| Error::Config(format!("{url}: bad object path ({e})")))
    }

    /// One log object to ingest.
    #[derive(Debug, Clone)]
    pub struct ObjectInput {
        /// Its full URL, which is also the name runs record.
        pub url: String,
        /// Its size in bytes.
        pub size: u64,
        store: Arc<dyn ObjectStore>,
        key: ObjPath,
    }

    impl PartialEq for ObjectInput {
        fn eq(&self, other: &Self) -> bool {
            self.url == other.url
        }
    }
    impl Eq for ObjectInput {}

    impl ObjectInput {
        /// Streams the object's bytes (compression is detected by the caller).
        pub fn open(&self) -> Result<Box<dyn Read + Send>> {
            let got = runtime()
                .block_on(self.store.get(&self.key))
                .map_err(store_err(&self.url))?;
            Ok(Box::new(StreamRead {
                stream: got.into_stream(),
                buf: Bytes::new(),
                url: self.url.clone(),
            }))
        }
    }

    /// A blocking reader over an object's byte stream, for the parse
    /// pipeline's reader thread.
    struct StreamRead {
        stream: BoxStream<'static, object_store::Result<Bytes>>,
        buf: Bytes,
        url: String,
    }

    impl Read for StreamRead {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            while self.buf.is_empty() {
                match runtime().block_on(self.stream.next()) {
                    None => return Ok(0),
                    Some(Ok(b)) => self.buf = b,
                    Some(Err(e)) => {
                        return Err(std::io::Error::other(format!("{}: {e}", self.url)))
                    }
                }
            }
            let n = out.len().min(self.buf.len());
            out[..n].copy_from_slice(&self.buf[..n]);
            self.buf = self.buf.slice(n..);
            Ok(n)
        }
    }

    /// The log objects a URL names: the object itself, or every object
    /// under it as a prefix whose file name matches `glob`, in key order.
    pub fn list_inputs(url: &str, glob: &str) -> Result<Vec<ObjectInput>> {
        let u = parse(url)?;
        let store = store_for(&u)?;
        let key = key_of(&u)?;
        runtime().block_on(async {
            if !url.ends_with('/') {
                if let Ok(meta) = store.head(&key).await {
                    return Ok(vec![ObjectInput {
                        url: url.to_string(),
                        size: meta.size,
                        store: store.clone(),
                        key,
                    }]);
                }
            }
            let prefix = (!key.as_ref().is_empty()).then_some(&key);
            let mut metas: Vec<object_store::ObjectMeta> = store
                .list(prefix)
                .try_collect()
                .await
                .map_err(store_err(url))?;
            metas.retain(|m| {
                m.location
                    .filename()
                    .is_some_and(|n| glob_match(glob.as_bytes(), n.as_bytes()))
            });
            metas.sort_by(|a, b| a.location.cmp(&b.location));
            if metas.is_empty() {
                return Err(Error::Config(format!(
                    "{url}: no object there, and none under it matching {glob:?}"
                )));
            }
            let base = bucket_url(&u);
            Ok(metas
                .into_iter()
                .map(|m| ObjectInput {
                    url: format!("{}/{}", base.as_str().trim_end_matches('/'), m.location),
                    size: m.size,
                    store: store.clone(),
                    key: m.location,
                })
                .collect())
        })
    }

    /// An object-store registry that makes the store of any bucket URL on
    /// first use, configured from the environment (see [`store_for`]): the
    /// same settings then serve pixelsift, a scheduler and its executors.
    #[derive(Debug, Default)]
    pub struct EnvStores {
        known: datafusion::execution::object_store::DefaultObjectStoreRegistry,
    }

    impl datafusion::execution::object_store::ObjectStoreRegistry for EnvStores {
        fn register_store(
            &self,
            url: &Url,
            store: Arc<dyn ObjectStore>,
        ) -> Option<Arc<dyn ObjectStore>> {
            self.known.register_store(url, store)
        }

        fn deregister_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
            self.known.deregister_store(url)
        }

        fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
            if let Ok(s) = self.known.get_store(url) {
                return Ok(s);
            }
            let store = store_for(url)
                .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
            self.known.register_store(url, store.clone());
            Ok(store)
        }
    }

    /// A runtime whose object stores come from [`EnvStores`].
    pub fn runtime_env(
    ) -> datafusion::error::Result<Arc<datafusion::execution::runtime_env::RuntimeEnv>> {
        datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::new(EnvStores::default()))
            .build_arc()
    }

    /// Reads a Parquet object with range requests: its footer with one
    /// request for the end of the object, then the column chunks asked for.
    struct RangeReader {
        store: Arc<dyn ObjectStore>,
        key: ObjPath,
    }

    fn parquet_err(e: object_store::Error) -> parquet::errors::ParquetError {
        parquet::errors::ParquetError::External(Box::new(e))
    }

    impl parquet::arrow::async_reader::AsyncFileReader for RangeReader {
        fn get_bytes(
            &mut self,
            range: std::ops::Range<u64>,
        ) -> futures::future::BoxFuture<'_, parquet::errors::Result<Bytes>> {
            Box::pin(async move {
                self.store
                    .get_range(&self.key, range)
                    .await
                    .map_err(parquet_err)
            })
        }

        fn get_byte_ranges(
            &mut self,
            ranges: Vec<std::ops::Range<u64>>,
        ) -> futures::future::BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
            Box::pin(async move {
                self.store
                    .get_ranges(&self.key, &ranges)
                    .await
                    .map_err(parquet_err)
            })
        }

        fn get_metadata<'a>(
            &'a mut self,
            options: Option<&'a parquet::arrow::arrow_reader::ArrowReaderOptions>,
        ) -> futures::future::BoxFuture<
            'a,
            parquet::errors::Result<Arc<parquet::file::metadata::ParquetMetaData>>,
        > {
            Box::pin(async move {
                let m = parquet::file::metadata::ParquetMetaDataReader::new()
                    .with_arrow_reader_options(options)
                    .load_via_suffix_and_finish(self)
                    .await?;
                Ok(Arc::new(m))
            })
        }
    }

    impl parquet::arrow::async_reader::MetadataSuffixFetch for &mut RangeReader {
        fn fetch_suffix(
            &mut self,
            suffix: usize,
        ) -> futures::future::BoxFuture<'_, parquet::errors::Result<Bytes>> {
            let options = object_store::GetOptions {
                range: Some(object_store::GetRange::Suffix(suffix as u64)),
                ..Default::default()
            };
            Box::pin(async move {
                let got = self
                    .store
                    .get_opts(&self.key, options)
                    .await
                    .map_err(parquet_err)?;
                got.bytes().await.map_err(parquet_err)
            })
        }
    }

    impl crate::commit::FileReader for RemoteDataset {
        fn columns(
            &self,
            f: &crate::commit::AddedFile,
            names: &[&str],
        ) -> Result<crate::commit::Batches> {
            self.read_columns(&f.path, names)
        }

        fn in_events_order(&self, f: &crate::commit::AddedFile) -> Result<bool> {
            Ok(crate::commit::sorted_as_events(&*self.footer(&f.path)?))
        }

        /// Reads of objects wait on round trips (two or three a file), not
        /// on the cores: a look-over of a few thousand files took one
        /// round trip per file and core.
        fn concurrency(&self) -> usize {
            16
        }
    }

    /// A dataset kept in object storage.
    #[derive(Debug, Clone)]
    pub struct RemoteDataset {
        url: String,
        bucket: Url,
        store: Arc<dyn ObjectStore>,
        root: ObjPath,
    }

    /// How a publish ended.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Published {
        /// These sequence numbers were committed.
        Committed(Vec<u64>),
        /// The checkout made no commit: nothing to publish.
        Nothing,
        /// Another writer committed this sequence number first; our uploads
        /// were deleted and the work must be redone on the new log.
        Conflict(u64),
    }

    /// The file in a checkout recording what it started from.
    const CHECKOUT_STATE: &str = "_checkout.json";

    fn file_hash(p: &Path) -> Result<String> {
        use sha2::Digest;
        let b = std::fs::read(p).map_err(io_err(p))?;
        Ok(crate::commit::hex(&sha2::Sha256::digest(&b)))
    }

    /// Files under a table prefix that no record names are deleted once
    /// they are this old: uploads of runs that were killed before their
    /// commit. Younger ones may belong to a writer still uploading or about
    /// to commit; a day leaves room for the largest uploads.
    const ORPHAN_GRACE: chrono::TimeDelta = chrono::TimeDelta::hours(24);

    impl RemoteDataset {
        /// A dataset at `url` (it need not exist yet).
        pub fn open(url: &str) -> Result<Self> {
            let url = url.trim_end_matches('/').to_string();
            let u = parse(&url)?;
            Ok(RemoteDataset {
                store: store_for(&u)?,
                root: key_of(&u)?,
                bucket: bucket_url(&u),
                url,
            })
        }

        /// A dataset at `url` in a store configured by the caller (credentials
        /// or clients of its own, an in-memory store in tests).
        pub fn with_store(url: &str, store: Arc<dyn ObjectStore>) -> Result<Self> {
            let url = url.trim_end_matches('/').to_string();
            let u = parse(&url)?;
            Ok(RemoteDataset {
                store,
                root: key_of(&u)?,
                bucket: bucket_url(&u),
                url,
            })
        }

        /// The dataset's URL, without a trailing slash.
        pub fn url(&self) -> &str {
            &self.url
        }

        /// `scheme://bucket`, under which the store is registered with DataFusion.
        pub fn bucket(&self) -> &Url {
            &self.bucket
        }

        /// The store holding the dataset.
        pub fn store(&self) -> Arc<dyn ObjectStore> {
            self.store.clone()
        }

        /// URL of a file given relative to the dataset root.
        pub fn file_url(&self, rel: &str) -> String {
            format!("{}/{rel}", self.url)
        }

        fn key(&self, rel: &str) -> ObjPath {
            ObjPath::from_iter(
                self.root.parts().chain(
                    rel.split('/')
                        .filter(|p| !p.is_empty())
                        .map(object_store::path::PathPart::from),
                ),
            )
        }

        async fn list_names(&self, dir: &str) -> Result<Vec<object_store::ObjectMeta>> {
            let prefix = self.key(dir);
            let mut metas: Vec<object_store::ObjectMeta> = self
                .store
                .list(Some(&prefix))
                .try_collect()
                .await
                .map_err(store_err(&self.file_url(dir)))?;
            metas.sort_by(|a, b| a.location.cmp(&b.location));
            Ok(metas)
        }

        /// Every commit record, in order.
        pub async fn log(&self) -> Result<Vec<CommitRecord>> {
            let metas = self.list_names("_log").await?;
            let names: Vec<ObjPath> = metas
                .into_iter()
                .map(|m| m.location)
                .filter(|p| p.filename().is_some_and(|n| n.ends_with(".json")))
                .collect();
            let store = self.store.clone();
            let bodies: Vec<(ObjPath, Bytes)> = futures::stream::iter(names)
                .map(|p| {
                    let store = store.clone();
                    async move {
                        let b = store.get(&p).await?.bytes().await?;
                        Ok::<_, object_store::Error>((p, b))
                    }
                })
                .buffered(16)
                .try_collect()
                .await
                .map_err(store_err(&self.file_url("_log")))?;
            let mut out = Vec::with_capacity(bodies.len());
            for (p, b) in bodies {
                let rec = crate::commit::parse_record(&b).map_err(|e| {
                    Error::Config(format!(
                        "{}: {e}",
                        self.bucket
                            .join(p.as_ref())
                            .map(|u| u.to_string())
                            .unwrap_or_else(|_| p.to_string())
                    ))
                })?;
                out.push(rec);
            }
            Ok(out)
        }

        /// The state after replaying the log.
        pub async fn snapshot(&self) -> Result<Snapshot> {
            Ok(Snapshot::replay(&self.log().await?))
        }

        /// Copies the dataset into the local directory `dir` (created):
        /// its log, its network lists, and the live files of `tables`.
        /// Returns the last sequence number copied.
        pub async fn checkout(&self, dir: &Path, tables: &[&str]) -> Result<u64> {
            let log = self.log().await?;
            let snap = Snapshot::replay(&log);
            let rels: Vec<String> = tables
                .iter()
                .flat_map(|t| snap.files.get(*t))
                .flat_map(|t| t.keys().cloned())
                .collect();
            self.checkout_files(dir, &log, &rels).await
        }

        /// Copies the dataset as `log` leaves it into the local directory
        /// `dir` (created): the log, the network lists, and of its files
        /// only `rels`, the ones a command was found to need. Returns the
        /// last sequence number of `log`.
        pub async fn checkout_files(
            &self,
            dir: &Path,
            log: &[CommitRecord],
            rels: &[String],
        ) -> Result<u64> {
            let local = Dataset::create(dir)?;
            for rec in log {
                local.import_record(rec)?;
            }
            let mut lists = Vec::new();
            for m in self
                .list_names(crate::classify::networks::DATASET_DIR)
                .await?
            {
                let rel = self.relative(&m.location);
                self.download(&rel, &dir.join(&rel)).await?;
                lists.push((rel.clone(), file_hash(&dir.join(&rel))?));
            }
            // What the network lists were, so publishing sends only what the
            // command changed (and not a stale copy over a newer list).
            let state = serde_json::to_vec(&lists)
                .map_err(|e| Error::Config(format!("encoding the checkout state: {e}")))?;
            let p = dir.join(CHECKOUT_STATE);
            std::fs::write(&p, state).map_err(io_err(&p))?;
            futures::stream::iter(rels)
                .map(|rel| async move { self.download(rel, &dir.join(rel)).await })
                .buffer_unordered(8)
                .try_collect::<Vec<()>>()
                .await?;
            Ok(log.last().map_or(0, |r| r.seq))
        }

        /// The footer of dataset file `rel`, read with one range request
        /// for the end of the object. Blocks on the I/O runtime.
        fn footer(&self, rel: &str) -> Result<Arc<parquet::file::metadata::ParquetMetaData>> {
            use parquet::arrow::async_reader::AsyncFileReader;
            let mut reader = RangeReader {
                store: self.store.clone(),
                key: self.key(rel),
            };
            runtime()
                .block_on(reader.get_metadata(None))
                .map_err(|e| Error::Config(format!("{}: {e}", self.file_url(rel))))
        }

        /// The named columns of dataset file `rel`, read with range
        /// requests (the footer, then those columns' chunks), a batch at a
        /// time: a look-over that downloads columns, not files. Blocks on
        /// the I/O runtime; call it from outside it.
        pub fn read_columns(&self, rel: &str, names: &[&str]) -> Result<crate::commit::Batches> {
            use futures::StreamExt;
            use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
            let what = self.file_url(rel);
            let perr = |e: parquet::errors::ParquetError| Error::Config(format!("{what}: {e}"));
            let reader = RangeReader {
                store: self.store.clone(),
                key: self.key(rel),
            };
            let builder = runtime()
                .block_on(ParquetRecordBatchStreamBuilder::new(reader))
                .map_err(perr)?;
            let mask = parquet::arrow::ProjectionMask::columns(
                builder.parquet_schema(),
                names.iter().copied(),
            );
            let mut stream = builder.with_projection(mask).build().map_err(perr)?;
            Ok(Box::new(std::iter::from_fn(move || {
                runtime()
                    .block_on(stream.next())
                    .map(|b| b.map_err(|e| Error::Config(format!("{what}: {e}"))))
            })))
        }

        fn relative(&self, key: &ObjPath) -> String {
            let root: &str = self.root.as_ref();
            let k: &str = key.as_ref();
            k.strip_prefix(root)
                .unwrap_or(k)
                .trim_start_matches('/')
                .to_string()
        }

        async fn get_bytes(&self, rel: &str) -> Result<Bytes> {
            let what = self.file_url(rel);
            let got = self
                .store
                .get(&self.key(rel))
                .await
                .map_err(store_err(&what))?;
            got.bytes().await.map_err(store_err(&what))
        }

        async fn download(&self, rel: &str, to: &Path) -> Result<()> {
            let bytes = self.get_bytes(rel).await?;
            if let Some(d) = to.parent() {
                std::fs::create_dir_all(d).map_err(io_err(d))?;
            }
            std::fs::write(to, &bytes).map_err(io_err(to))
        }

        async fn upload(&self, from: &Path, rel: &str) -> Result<()> {
            const PART: usize = 16 << 20;
            let key = self.key(rel);
            let what = self.file_url(rel);
            let len = std::fs::metadata(from).map_err(io_err(from))?.len();
            if len as usize <= PART {
                let body = std::fs::read(from).map_err(io_err(from))?;
                self.store
                    .put(&key, PutPayload::from(body))
                    .await
                    .map_err(store_err(&what))?;
                return Ok(());
            }
            let upload = self
                .store
                .put_multipart(&key)
                .await
                .map_err(store_err(&what))?;
            let mut w = object_store::WriteMultipart::new_with_chunk_size(upload, PART);
            let mut f = std::fs::File::open(from).map_err(io_err(from))?;
            let mut buf = vec![0u8; PART];
            loop {
                let n = f.read(&mut buf).map_err(io_err(from))?;
                if n == 0 {
                    break;
                }
                w.wait_for_capacity(4).await.map_err(store_err(&what))?;
                w.write(&buf[..n]);
            }
            w.finish().await.map_err(store_err(&what))?;
            Ok(())
        }

        /// Publishes the commits a command made in a checkout taken at
        /// `base`: uploads their files, then creates their records, each
        /// only if its sequence number is still free. Deletes what the
        /// commits removed, and uploads of killed runs.
        pub async fn publish(&self, dir: &Path, base: u64) -> Result<Published> {
            let local = Dataset::open(dir)?;
            let mine: Vec<CommitRecord> =
                local.log()?.into_iter().filter(|r| r.seq > base).collect();
            self.publish_lists(dir).await?;
            if mine.is_empty() {
                return Ok(Published::Nothing);
            }
            let mut done = Vec::new();
            for rec in mine {
                let mut rec = rec;
                let uploads: Vec<String> = rec.add.iter().map(|a| a.path.clone()).collect();
                futures::stream::iter(uploads.iter().cloned())
                    .map(|rel| async move { self.upload(&dir.join(&rel), &rel).await })
                    .buffer_unordered(4)
                    .try_collect::<Vec<()>>()
                    .await?;
                // Objects are written in place: no staging on the remote side.
                for a in &mut rec.add {
                    a.staged = a.path.clone();
                }
                let body = serde_json::to_vec_pretty(&rec)
                    .map_err(|e| Error::Config(format!("encoding commit record: {e}")))?;
                let name = format!("_log/{:020}.json", rec.seq);
                let opts = PutOptions {
                    mode: PutMode::Create,
                    ..Default::default()
                };
                // The commit point.
                let res = self
                    .store
                    .put_opts(&self.key(&name), PutPayload::from(body), opts)
                    .await;
                match res {
                    Ok(_) => {}
                    Err(object_store::Error::AlreadyExists { .. }) => {
                        // A retried request of ours may have landed already.
                        if !self.record_is(&name, &rec.run).await? {
                            for rel in &uploads {
                                let _ = self.store.delete(&self.key(rel)).await;
                            }
                            return Ok(Published::Conflict(rec.seq));
                        }
                    }
                    Err(e) => return Err(store_err(&self.file_url(&name))(e)),
                }
                for rel in &rec.remove {
                    self.delete(rel).await?;
                }
                done.push(rec.seq);
            }
            self.sweep().await?;
            Ok(Published::Committed(done))
        }

        /// Uploads the network lists a command added or changed in the
        /// checkout, and deletes those it removed.
        async fn publish_lists(&self, dir: &Path) -> Result<()> {
            let p = dir.join(CHECKOUT_STATE);
            let before: Vec<(String, String)> = match std::fs::read(&p) {
                Ok(b) => serde_json::from_slice(&b)
                    .map_err(|e| Error::Config(format!("{}: {e}", p.display())))?,
                Err(e) => return Err(io_err(&p)(e)),
            };
            let ndir = dir.join(crate::classify::networks::DATASET_DIR);
            let mut now = Vec::new();
            if let Ok(rd) = std::fs::read_dir(&ndir) {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.ends_with(".csv") {
                        let rel = format!("{}/{name}", crate::classify::networks::DATASET_DIR);
                        now.push((rel, file_hash(&e.path())?));
                    }
                }
            }
            for (rel, hash) in &now {
                if !before.iter().any(|(r, h)| r == rel && h == hash) {
                    self.upload(&dir.join(rel), rel).await?;
                }
            }
            for (rel, _) in &before {
                if !now.iter().any(|(r, _)| r == rel) {
                    self.delete(rel).await?;
                }
            }
            Ok(())
        }

        async fn record_is(&self, name: &str, run: &str) -> Result<bool> {
            let b = self.get_bytes(name).await?;
            Ok(serde_json::from_slice::<CommitRecord>(&b).is_ok_and(|r| r.run == run))
        }

        async fn delete(&self, rel: &str) -> Result<()> {
            match self.store.delete(&self.key(rel)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(store_err(&self.file_url(rel))(e)),
            }
        }

        /// Deletes table files no record keeps live: files commits removed
        /// (again, in case a writer was killed before deleting them) and,
        /// after [`ORPHAN_GRACE`], uploads no commit ever took.
        pub async fn sweep(&self) -> Result<usize> {
            let snap = self.snapshot().await?;
            let now = chrono::Utc::now();
            let mut gone = 0;
            for table in crate::commit::TABLES {
                let live = snap.files.get(table);
                for m in self.list_names(table).await? {
                    let rel = self.relative(&m.location);
                    if live.is_some_and(|l| l.contains_key(&rel)) {
                        continue;
                    }
                    if now - m.last_modified < ORPHAN_GRACE {
                        continue;
                    }
                    self.delete(&rel).await?;
                    gone += 1;
                }
            }
            Ok(gone)
        }
    }
}
