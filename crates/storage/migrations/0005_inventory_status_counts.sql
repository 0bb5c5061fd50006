-- How many stock rows of each store are low or out of stock, for the dashboard
-- (storage::dashboard::LOW_STOCK). Counting them from `inventory` read thousands of rows per
-- store (40% of a scale-1 store's 20,000 rows are low or out; 12 ms for one store, 86 ms for
-- the chain) on every dashboard miss, and a sale in the store forgets its dashboard, so under
-- the benchmark's mix this one count was the costliest statement after search.
--
-- A row changes status only when its quantity crosses zero or its reorder level; a trigger
-- then appends +1/-1 rows here, in the writer's own transaction, so the sums are never
-- behind. Appended, never updated: an upsert of one counter row per store and status would
-- lock it, and two stock changes of one store whose rows move in opposite directions (one
-- into low stock, one out of it) would lock the two counters in opposite orders and
-- deadlock. The service's hourly upkeep folds the rows into one per store and status
-- (storage::dashboard::compact_inventory_status_counts), so a dashboard sums a handful.
-- The data generator loads inventory with `ims.bulk_load` on and fills the table once after
-- (refill_inventory_status_counts); TRUNCATE of stores cascades to it, and a TRUNCATE of
-- inventory alone empties it.
CREATE TABLE inventory_status_counts (
    store_id uuid NOT NULL REFERENCES stores (id),
    status   text NOT NULL CHECK (status IN ('low_stock', 'out_of_stock')),
    n        bigint NOT NULL
);
CREATE INDEX inventory_status_counts_store_idx ON inventory_status_counts (store_id);

CREATE FUNCTION count_inventory_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('ims.bulk_load', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status IN ('low_stock', 'out_of_stock')
       AND (TG_OP = 'DELETE' OR NEW.status IS DISTINCT FROM OLD.status
            OR NEW.store_id <> OLD.store_id) THEN
        INSERT INTO inventory_status_counts (store_id, status, n)
        VALUES (OLD.store_id, OLD.status, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status IN ('low_stock', 'out_of_stock')
       AND (TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status
            OR NEW.store_id <> OLD.store_id) THEN
        INSERT INTO inventory_status_counts (store_id, status, n)
        VALUES (NEW.store_id, NEW.status, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER inventory_count_status AFTER INSERT OR UPDATE OR DELETE ON inventory
    FOR EACH ROW EXECUTE FUNCTION count_inventory_status();

CREATE FUNCTION forget_inventory_status_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM inventory_status_counts;
    RETURN NULL;
END $$;

CREATE TRIGGER inventory_truncated AFTER TRUNCATE ON inventory
    FOR EACH STATEMENT EXECUTE FUNCTION forget_inventory_status_counts();

-- Rebuilds the table from inventory (this migration, and the generator after its bulk load).
CREATE FUNCTION refill_inventory_status_counts() RETURNS void LANGUAGE sql AS $$
    DELETE FROM inventory_status_counts;
    INSERT INTO inventory_status_counts (store_id, status, n)
    SELECT store_id, status, count(*) FROM inventory
    WHERE status IN ('low_stock', 'out_of_stock')
    GROUP BY store_id, status;
$$;

SELECT refill_inventory_status_counts();
