//! Embedding vectors of passages, by model and content hash (see
//! `migrations/*/0004_passage_vectors.sql`).

use super::{Conn, DbRow, SqlBackend, SqlStore};
use crate::model::Millis;
use crate::storage::{Error, Result, Vectors};
use sqlx::{Database, Decode, Encode, Row, Type};

/// Rows per statement: well under both backends' limits on bound values.
const CHUNK: usize = 500;

/// A vector as stored: little-endian f32s.
pub(crate) fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn from_bytes(b: &[u8]) -> Result<Vec<f32>> {
    if !b.len().is_multiple_of(4) {
        return Err(Error::Corrupt(format!(
            "a stored vector of {} bytes is not f32s",
            b.len()
        )));
    }
    Ok(b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

#[async_trait::async_trait]
impl<B> Vectors for SqlStore<B>
where
    B: SqlBackend,
    for<'c> &'c mut Conn<B::Db>: sqlx::Executor<'c, Database = B::Db>,
    for<'c> &'c sqlx::Pool<B::Db>: sqlx::Executor<'c, Database = B::Db>,
    <B::Db as Database>::Arguments: sqlx::IntoArguments<B::Db>,
    for<'q> String: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> Vec<u8>: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'r> &'r str: sqlx::ColumnIndex<DbRow<B>>,
    usize: sqlx::ColumnIndex<DbRow<B>>,
{
    async fn vectors(&self, model: &str, hashes: &[String]) -> Result<Vec<(String, Vec<f32>)>> {
        let mut out = Vec::new();
        for chunk in hashes.chunks(CHUNK) {
            let mut select = sqlx::QueryBuilder::<B::Db>::new(
                "SELECT content_sha256, vector FROM passage_vectors WHERE model = ",
            );
            select.push_bind(model.to_string());
            select.push(" AND content_sha256 IN (");
            let mut list = select.separated(", ");
            for h in chunk {
                list.push_bind(h.clone());
            }
            select.push(")");
            for row in select.build().fetch_all(self.backend.reader()).await? {
                let sha: String = row.try_get("content_sha256")?;
                let bytes: Vec<u8> = row.try_get("vector")?;
                out.push((sha, from_bytes(&bytes)?));
            }
        }
        Ok(out)
    }

    async fn put_vectors(
        &self,
        model: &str,
        vectors: Vec<(String, Vec<f32>)>,
        now: Millis,
    ) -> Result<()> {
        if vectors.is_empty() {
            return Ok(());
        }
        let model = model.to_string();
        self.backend
            .write(move |tx| {
                Box::pin(async move {
                    for chunk in vectors.chunks(CHUNK) {
                        let mut insert = sqlx::QueryBuilder::<B::Db>::new(
                            "INSERT INTO passage_vectors (model, content_sha256, vector, created_at) ",
                        );
                        insert.push_values(chunk, |mut row, (sha, v)| {
                            row.push_bind(model.clone())
                                .push_bind(sha.clone())
                                .push_bind(to_bytes(v))
                                .push_bind(now);
                        });
                        // Another replica may have stored the same text's vector first.
                        insert.push(" ON CONFLICT (model, content_sha256) DO NOTHING");
                        insert.build().execute(&mut *tx).await?;
                    }
                    Ok(((), vec![]))
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vector_survives_its_bytes_and_odd_bytes_are_refused() {
        let v = vec![0.25, -1.5, f32::MIN_POSITIVE, 3.0e7];
        assert_eq!(from_bytes(&to_bytes(&v)).unwrap(), v);
        assert!(matches!(from_bytes(&[0, 0, 0]), Err(Error::Corrupt(_))));
    }
}
