//! Where archived months are kept: the object store named by `IMS_ARCHIVE_URL` (`file:///dir`
//! or `s3://bucket/prefix`), one Parquet object per table and month
//! (`<prefix>/<table>/<YYYY-MM>.parquet`), zstd-compressed.

use std::sync::Arc;

use arrow_array::RecordBatch;
use bytes::Bytes;
use chrono::NaiveDate;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};

use crate::table::{Columns, Spec};
use crate::{month_name, Error};

/// Rows per row group: a reader that wants one order decodes its month once and keeps it
/// (see [`crate::read`]), so groups are sized for compression, not for point reads.
const ROW_GROUP: usize = 16 * 1024;

/// The archive: an object store and the prefix inside it.
#[derive(Clone)]
pub struct Archive {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    /// The URL without credentials, for messages.
    pub url: String,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive").field("url", &self.url).finish()
    }
}

impl Archive {
    /// Opens the store at `url`: `file:///absolute/dir` (created if missing) or
    /// `s3://bucket/prefix` (credentials and region from the usual `AWS_*` variables, e.g.
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT` for an
    /// S3-compatible server).
    pub fn open(url: &str) -> Result<Archive, Error> {
        let parsed = url::Url::parse(url).map_err(|e| Error::Url(format!("{url:?}: {e}")))?;
        let (store, prefix): (Arc<dyn ObjectStore>, Path) = match parsed.scheme() {
            "file" => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|()| Error::Url(format!("{url:?} is not an absolute file path")))?;
                std::fs::create_dir_all(&dir)
                    .map_err(|e| Error::Url(format!("cannot create {}: {e}", dir.display())))?;
                let local = object_store::local::LocalFileSystem::new_with_prefix(&dir)?;
                (Arc::new(local), Path::default())
            }
            "s3" => {
                crate::store::install_tls();
                let s3 = object_store::aws::AmazonS3Builder::from_env()
                    .with_url(url)
                    .build()?;
                (Arc::new(s3), Path::from(parsed.path().trim_matches('/')))
            }
            other => {
                return Err(Error::Url(format!(
                    "scheme {other:?} is not supported (file:// or s3://)"
                )))
            }
        };
        let mut shown = parsed.clone();
        let _ = shown.set_password(None);
        let _ = shown.set_username("");
        Ok(Archive {
            store,
            prefix,
            url: shown.to_string(),
        })
    }

    /// The object of `table`'s `month`.
    pub fn path(&self, table: &str, month: NaiveDate) -> Path {
        self.prefix
            .clone()
            .join(table)
            .join(format!("{}.parquet", month_name(month)))
    }

    /// Writes `data` as the object at `path`; returns its size and SHA-256.
    pub async fn put(&self, path: &Path, bytes: Bytes) -> Result<(), Error> {
        self.store.put(path, PutPayload::from(bytes)).await?;
        Ok(())
    }

    pub async fn get(&self, path: &Path) -> Result<Bytes, Error> {
        Ok(self.store.get(path).await?.bytes().await?)
    }

    /// Deletes the object at `path`; a missing one is fine (undoing a step that never wrote).
    pub async fn delete(&self, path: &Path) -> Result<(), Error> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The hex SHA-256 of an object's bytes.
pub fn sha256(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A month of `spec`'s rows as a zstd-compressed Parquet file.
pub fn encode(spec: &Spec, data: &Columns) -> Result<Bytes, Error> {
    let batch = spec.to_batch(data)?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(ROW_GROUP))
        .build();
    let mut writer = ArrowWriter::try_new(Vec::new(), spec.schema(), Some(properties))?;
    writer.write(&batch)?;
    let bytes = writer.into_inner()?;
    Ok(Bytes::from(bytes))
}

/// The batches of a Parquet file.
pub fn decode(bytes: Bytes) -> Result<Vec<RecordBatch>, Error> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?
        .with_batch_size(ROW_GROUP)
        .build()?;
    let mut batches = Vec::new();
    for batch in reader {
        batches.push(batch?);
    }
    Ok(batches)
}

/// rustls needs one process-wide crypto provider; ring is the one already in the build.
/// rustls deprecates it for lacking post-quantum key exchange, which only aws-lc-rs has (the
/// long C build this crate avoids); classical TLS 1.3 to S3 is what other clients use today.
#[allow(deprecated)]
fn install_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
