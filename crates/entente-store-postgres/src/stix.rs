//! PostgreSQL's STIX rows: writing them in an append (versions, the latest flag) and reading
//! them for TAXII.

use crate::{Cols, PgStore, be};
use entente_domain::PartnerCode;
use entente_log::ParsedEntry;
use entente_store::codec::partner;
use entente_store::*;
use sqlx::{AssertSqlSafe, Postgres, Transaction};
use std::collections::HashMap;

impl PgStore {
    /// The STIX part of `append`: deletions, then new rows (a version held already is ignored),
    /// then exactly one `latest` row per touched object.
    pub(crate) async fn append_stix(
        tx: &mut Transaction<'_, Postgres>,
        entries: &[ParsedEntry],
        projections: &[Projection],
    ) -> Result<()> {
        for p in projections {
            if let Projection::StixDelete {
                collection,
                stix_id,
            } = p
            {
                sqlx::query("DELETE FROM stix_rows WHERE collection = $1 AND stix_id = $2")
                    .bind(collection)
                    .bind(stix_id)
                    .execute(&mut **tx)
                    .await
                    .map_err(be)?;
            }
        }
        let stix: Vec<&StixRow> = projections
            .iter()
            .filter_map(|p| match p {
                Projection::Stix(r) => Some(r),
                _ => None,
            })
            .collect();
        if stix.is_empty() {
            return Ok(());
        }
        let bodies: HashMap<u64, &str> = entries
            .iter()
            .map(|e| (e.header.seq, e.body.as_str()))
            .collect();
        // One copy of each column as an array: the rows go in with one statement per chunk.
        let mut cols: [Vec<String>; 13] = Default::default();
        for r in &stix {
            let raw = match r.span {
                Some(sp) => bodies
                    .get(&sp.seq)
                    .and_then(|b| b.get(sp.start..sp.start + sp.len))
                    .ok_or_else(|| {
                        StoreError::Backend(format!(
                            "{}: its span is not inside an entry of this append",
                            r.stix_id
                        ))
                    })?
                    .to_owned(),
                None => r.raw.clone(),
            };
            let vals = [
                r.collection.clone(),
                r.stix_id.clone(),
                r.stix_type.clone(),
                r.version.clone(),
                r.spec_version.clone(),
                r.date_added.clone(),
                r.origin.to_string(),
                r.audience.key(),
                r.tlp.as_str().to_owned(),
                r.author.clone(),
                r.named_users.join(","),
                raw,
                String::new(),
            ];
            for (c, v) in cols.iter_mut().zip(vals) {
                c.push(v);
            }
        }
        let [
            coll,
            id,
            ty,
            ver,
            spec,
            added,
            origin,
            aud,
            tlp,
            author,
            named,
            raw,
            _,
        ] = cols;
        sqlx::query(
            "INSERT INTO stix_rows (collection, stix_id, stix_type, version, spec_version, date_added,
               latest, origin, audience, tlp, author, named_users, raw)
             SELECT c, i, t, v, s, d, FALSE, o, a, l, u, n, r FROM UNNEST(
               $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
               $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
               AS x(c, i, t, v, s, d, o, a, l, u, n, r)
             -- An object id belongs to the origin that first published it (H2).
             WHERE NOT EXISTS (SELECT 1 FROM stix_rows h
                               WHERE h.collection = x.c AND h.stix_id = x.i AND h.origin <> x.o)
             ON CONFLICT (collection, stix_id, version) DO NOTHING",
        )
        .bind(&coll)
        .bind(&id)
        .bind(&ty)
        .bind(&ver)
        .bind(&spec)
        .bind(&added)
        .bind(&origin)
        .bind(&aud)
        .bind(&tlp)
        .bind(&author)
        .bind(&named)
        .bind(&raw)
        .execute(&mut **tx)
        .await
        .map_err(be)?;
        sqlx::query(
            "UPDATE stix_rows s SET latest = (s.version = m.newest)
             FROM (SELECT collection, stix_id, MAX(version) AS newest FROM stix_rows
                   WHERE (collection, stix_id) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))
                   GROUP BY collection, stix_id) m
             WHERE s.collection = m.collection AND s.stix_id = m.stix_id
               AND s.latest IS DISTINCT FROM (s.version = m.newest)",
        )
        .bind(&coll)
        .bind(&id)
        .execute(&mut **tx)
        .await
        .map_err(be)?;
        Ok(())
    }

    pub(crate) async fn read_stix_owners(
        &self,
        collection: &str,
        ids: &[&str],
    ) -> Result<Vec<(String, PartnerCode)>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT ON (stix_id) stix_id, origin FROM stix_rows
             WHERE collection = $1 AND stix_id = ANY($2) ORDER BY stix_id, pos",
        )
        .bind(collection)
        .bind(ids)
        .fetch_all(&self.pool)
        .await
        .map_err(be)?;
        rows.into_iter()
            .map(|(id, o)| Ok((id, partner(o)?)))
            .collect()
    }

    pub(crate) async fn read_stix(&self, q: &StixQuery) -> Result<Vec<StixRow>> {
        // Values are always bound; only the shape of the statement is built here.
        let mut sql = String::from("SELECT * FROM stix_rows s WHERE collection = $1");
        let mut n = 1;
        let mut next = || {
            n += 1;
            n
        };
        let mut texts: Vec<&str> = vec![];
        let mut lists: Vec<&[String]> = vec![];
        for a in [&q.added_after, &q.after].into_iter().flatten() {
            sql.push_str(&format!(" AND date_added > ${}", next()));
            texts.push(a);
        }
        let mut list_at = vec![];
        for (col, vals) in [
            ("stix_id", &q.ids),
            ("stix_type", &q.types),
            ("spec_version", &q.spec_versions),
        ] {
            if !vals.is_empty() {
                let i = next();
                sql.push_str(&format!(" AND {col} = ANY(${i})"));
                list_at.push(i);
                lists.push(vals);
            }
        }
        match &q.versions {
            VersionFilter::Last => sql.push_str(" AND latest"),
            VersionFilter::First => sql.push_str(
                " AND version = (SELECT MIN(version) FROM stix_rows f
                   WHERE f.collection = s.collection AND f.stix_id = s.stix_id)",
            ),
            VersionFilter::All => {}
            VersionFilter::Exact(v) => {
                sql.push_str(&format!(" AND version = ANY(${})", next()));
                lists.push(v);
            }
        }
        sql.push_str(&format!(" ORDER BY date_added LIMIT ${}", next()));
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(&q.collection);
        for t in texts {
            query = query.bind(t);
        }
        for l in lists {
            query = query.bind(l);
        }
        let rows = query
            .bind(q.limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(be)?;
        rows.iter()
            .map(|r| rows::stix(&Cols(r), &q.collection))
            .collect()
    }
}
