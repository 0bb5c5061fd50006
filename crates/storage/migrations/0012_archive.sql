-- Archival of old months (issue 16, `ims archive`, crates/archive). A month of orders, with the
-- month's inventory movements, workshop job history and audit rows, is written as Parquet to an
-- object store, read back and checked, and only then are its rows dropped from PostgreSQL.
--
-- The manifest: one row per month that was ever archived, moving through
--   writing  -> the objects are being written (they may be partial or missing);
--   written  -> every object was read back and matched the rows (counts, sums, SHA-256);
--   archived -> the partition was detached and dropped, in the same transaction that set this;
--   restored -> `ims archive restore` put the rows back, in the transaction that set this.
-- A run that finds a month in `writing` or `written` (a process that died) deletes its objects
-- and starts the month again: the rows are still all in PostgreSQL, so nothing is lost, and
-- only the step that sets `archived` removes them, so nothing is in both places as live data.
CREATE TABLE archived_months (
    month        date PRIMARY KEY CHECK (month = date_trunc('month', month)::date),
    state        text NOT NULL CHECK (state IN ('writing', 'written', 'archived', 'restored')),
    -- The orders' count and sum of totals when the month was archived (NULL while writing).
    orders       bigint,
    orders_total bigint,
    started_at   timestamptz NOT NULL DEFAULT now(),
    archived_at  timestamptz,
    restored_at  timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- The objects of a month: one Parquet file per table, its row count, a sum that checks the
-- content (orders: totals; inventory_movements: deltas; the others: ids) and its SHA-256.
CREATE TABLE archived_objects (
    month      date NOT NULL REFERENCES archived_months (month) ON DELETE CASCADE,
    table_name text NOT NULL CHECK (table_name IN
                   ('orders', 'inventory_movements', 'workshop_job_history', 'audit_log')),
    path       text NOT NULL,
    rows       bigint NOT NULL,
    checksum   bigint NOT NULL,
    sha256     text NOT NULL,
    bytes      bigint NOT NULL,
    PRIMARY KEY (month, table_name)
);

-- Where an archived order is: the order's keys and the columns a list filters on, so
-- `GET /orders/{id}`, a customer's history and `GET /orders?...` find archived orders without
-- opening the archive (only the orders they return are read from it). Inserted in the
-- transaction that drops the partition, deleted in the one that restores it.
CREATE TABLE archived_orders (
    id             uuid PRIMARY KEY,
    created_at     timestamptz NOT NULL,
    month          date NOT NULL REFERENCES archived_months (month),
    customer_id    uuid NOT NULL,
    store_id       uuid NOT NULL,
    status         text NOT NULL,
    payment_status text NOT NULL
);
-- Serves a customer's history (GET /customers/{id}/orders), newest first.
CREATE INDEX archived_orders_customer_idx ON archived_orders (customer_id, created_at DESC, id DESC);
-- Serves GET /orders (newest first) and its date ranges.
CREATE INDEX archived_orders_created_idx ON archived_orders (created_at DESC, id DESC);
-- Serves restore (a month's keys are deleted).
CREATE INDEX archived_orders_month_idx ON archived_orders (month);

-- The append-only tables are read and deleted a month at a time by archival. Their rows are
-- appended in time order, so a BRIN index (a few pages for millions of rows, nearly free to
-- maintain) finds a month without reading the whole table.
CREATE INDEX inventory_movements_created_brin ON inventory_movements USING brin (created_at);
CREATE INDEX workshop_job_history_changed_brin ON workshop_job_history USING brin (changed_at);
CREATE INDEX audit_log_occurred_brin ON audit_log USING brin (occurred_at);
