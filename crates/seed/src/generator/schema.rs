//! What the generator does to the database around the load, all inside its one transaction:
//! refuse a database that has data (or wipe it with `--force`), empty the tables it fills (so
//! COPY may freeze rows), create the months' order partitions, and take the bulk tables'
//! keys, indexes and foreign keys off while rows stream in, putting back exactly the
//! definitions the migrations made (read from the catalog, not repeated here).

use sqlx::PgConnection;

use storage::Result;

/// The tables the generator fills, parents first.
pub(crate) const GENERATED: &[&str] = &[
    "stores",
    "categories",
    "products",
    "customers",
    "inventory",
    "inventory_movements",
    "orders",
    "order_keys",
    "product_sales",
    "order_sales",
    "inventory_status_counts",
    "order_status_counts",
    "workshop_queue_counts",
    "prescriptions",
    "workshop_jobs",
    "workshop_job_history",
    // The archive's manifest (`ims archive`): its months belong to the chain being replaced
    // (the objects stay in the store; archiving a month again overwrites them).
    "archived_months",
    "archived_objects",
    "archived_orders",
];

/// Wiped only by `--force`: staff accounts and what hangs off them, and the catalogue's
/// search dictionary (filled again from the new products by their trigger).
const FORCED: &[&str] = &[
    "users",
    "sessions",
    "idempotency_keys",
    "audit_log",
    "login_throttle",
    "search_words",
];

/// The big tables: loaded without keys, indexes and foreign keys, which are rebuilt after.
const BULK: &[&str] = &[
    "products",
    "customers",
    "inventory",
    "inventory_movements",
    "orders",
    "order_keys",
    "prescriptions",
    "workshop_jobs",
    "workshop_job_history",
];

/// The generated tables that have rows, and whether generated account names are taken.
pub(crate) async fn existing_data(conn: &mut PgConnection) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for table in GENERATED {
        let any: bool = sqlx::query_scalar(&format!("SELECT EXISTS (SELECT 1 FROM {table})"))
            .fetch_one(&mut *conn)
            .await?;
        if any {
            found.push((*table).to_owned());
        }
    }
    let taken: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM users WHERE lower(username) ~ '^(admin[0-9]{2}|staff[0-9]{4,})$'",
    )
    .fetch_one(&mut *conn)
    .await?;
    if taken > 0 {
        found.push(format!("users named like generated staff ({taken})"));
    }
    Ok(found)
}

/// Empties the generated tables (and with `force` the user accounts too), restarting their
/// identity sequences. Done even on an empty database: COPY FREEZE needs a table truncated in
/// the same transaction.
pub(crate) async fn truncate(conn: &mut PgConnection, force: bool) -> Result<()> {
    let mut tables: Vec<String> = GENERATED.iter().map(|t| (*t).to_owned()).collect();
    if force {
        // Only those that exist in this schema version.
        let forced: Vec<String> = FORCED.iter().map(|t| (*t).to_owned()).collect();
        let existing: Vec<String> = sqlx::query_scalar(
            "SELECT t FROM unnest($1::text[]) t WHERE to_regclass(t) IS NOT NULL",
        )
        .bind(&forced)
        .fetch_all(&mut *conn)
        .await?;
        tables.extend(existing);
    }
    let sql = format!("TRUNCATE {} RESTART IDENTITY CASCADE", tables.join(", "));
    sqlx::raw_sql(&sql).execute(&mut *conn).await?;
    Ok(())
}

/// DDL taken off before the load, to put back after in this order.
#[derive(Debug, Default)]
pub(crate) struct Saved {
    /// Primary and unique keys, then plain indexes.
    pub indexes: Vec<String>,
    pub foreign_keys: Vec<String>,
}

/// Drops foreign keys touching the bulk tables, their plain indexes, then their primary and
/// unique keys; returns the statements that recreate them (keys, indexes, foreign keys).
pub(crate) async fn drop_keys(conn: &mut PgConnection) -> Result<Saved> {
    let bulk: Vec<String> = BULK.iter().map(|t| (*t).to_owned()).collect();
    let foreign: Vec<(String, String)> = sqlx::query_as(
        "SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname),
                format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname,
                       pg_get_constraintdef(oid))
           FROM pg_constraint
          WHERE contype = 'f' AND conparentid = 0
            AND (conrelid IN (SELECT to_regclass(t) FROM unnest($1::text[]) t)
                 OR confrelid IN (SELECT to_regclass(t) FROM unnest($1::text[]) t))
          ORDER BY conrelid::regclass::text, conname",
    )
    .bind(&bulk)
    .fetch_all(&mut *conn)
    .await?;
    // A partitioned table's index reads `ON ONLY parent`, which would recreate it without
    // its partitions' indexes (and invalid): put it back recursing, as the migration made it.
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT format('DROP INDEX %I.%I', i.schemaname, i.indexname),
                CASE WHEN t.relkind = 'p' THEN regexp_replace(i.indexdef, ' ON ONLY ', ' ON ')
                     ELSE i.indexdef END
           FROM pg_indexes i
           JOIN pg_class t ON t.oid = format('%I.%I', i.schemaname, i.tablename)::regclass
          WHERE i.schemaname = current_schema() AND i.tablename = ANY($1)
            AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                             WHERE c.conindid = format('%I.%I', i.schemaname, i.indexname)::regclass
                               AND c.contype IN ('p', 'u', 'x'))
          ORDER BY i.tablename, i.indexname",
    )
    .bind(&bulk)
    .fetch_all(&mut *conn)
    .await?;
    let keys: Vec<(String, String)> = sqlx::query_as(
        "SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname),
                format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname,
                       pg_get_constraintdef(oid))
           FROM pg_constraint
          WHERE contype IN ('p', 'u') AND conparentid = 0
            AND conrelid IN (SELECT to_regclass(t) FROM unnest($1::text[]) t)
          ORDER BY conrelid::regclass::text, conname",
    )
    .bind(&bulk)
    .fetch_all(&mut *conn)
    .await?;
    for (drop, _) in foreign.iter().chain(&indexes).chain(&keys) {
        sqlx::raw_sql(drop).execute(&mut *conn).await?;
    }
    Ok(Saved {
        indexes: keys
            .into_iter()
            .chain(indexes)
            .map(|(_, create)| create)
            .collect(),
        foreign_keys: foreign.into_iter().map(|(_, create)| create).collect(),
    })
}

/// Runs one saved statement.
pub(crate) async fn execute(conn: &mut PgConnection, statement: &str) -> Result<()> {
    sqlx::raw_sql(statement).execute(&mut *conn).await?;
    Ok(())
}

/// Creates the monthly order partitions from `first_month` through three months ahead.
pub(crate) async fn ensure_partitions(
    conn: &mut PgConnection,
    first_month: chrono::NaiveDate,
) -> Result<()> {
    sqlx::query("SELECT ensure_order_partitions($1, 3)")
        .bind(first_month)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Lets new orders and jobs continue after the generated numbers.
pub(crate) async fn advance_sequences(
    conn: &mut PgConnection,
    orders: usize,
    jobs: usize,
) -> Result<()> {
    sqlx::query("SELECT setval('order_number_seq', $1), setval('job_number_seq', $2)")
        .bind(orders as i64)
        .bind(jobs as i64)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The dashboard's sales figures of the last 32 days, its low-stock, open-order and
/// workshop-queue counts, a statement each: orders, inventory and jobs were loaded with
/// `ims.bulk_load` on, which their per-row triggers skip.
pub(crate) async fn fill_product_sales(conn: &mut PgConnection, now_ms: i64) -> Result<()> {
    let now = chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
    sqlx::query("SELECT refill_product_sales($1 - interval '32 days')")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    sqlx::query("SELECT refill_order_sales($1 - interval '32 days')")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    // Inventory, orders and workshop jobs too were loaded with their counting triggers
    // skipped (migrations 0005, 0007, 0015).
    for refill in [
        "SELECT refill_inventory_status_counts()",
        "SELECT refill_order_status_counts()",
        "SELECT refill_workshop_queue_counts()",
    ] {
        sqlx::query(refill).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Fresh planner statistics for everything loaded.
pub(crate) async fn analyze(conn: &mut PgConnection) -> Result<()> {
    let sql = format!("ANALYZE {}, users", GENERATED.join(", "));
    sqlx::raw_sql(&sql).execute(&mut *conn).await?;
    Ok(())
}
