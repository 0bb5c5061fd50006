-- How many stock rows of each store are low or out of stock, for the dashboard
-- (storage::dashboard::LOW_STOCK). Counting them from `inventory` read thousands of rows per
-- store (40% of a scale-1 store's 20,000 rows are low or out; 12 ms for one store, 86 ms for
-- the chain) on every dashboard miss, and a sale in the store forgets its dashboard, so under
-- the benchmark's mix this one count was the costliest statement after search. A row changes
-- status only when its quantity crosses zero or its reorder level, so keeping the counts is a
-- rare upsert in the writing transaction, and the dashboard reads at most two rows per store.
--
-- Kept by a trigger on inventory, in the writer's own transaction, so it is never behind. The
-- data generator loads inventory with `ims.bulk_load` on and fills the table once after
-- (refill_inventory_status_counts); TRUNCATE of stores cascades to it, and a TRUNCATE of
-- inventory alone empties it.
CREATE TABLE inventory_status_counts (
    store_id uuid NOT NULL REFERENCES stores (id),
    status   text NOT NULL CHECK (status IN ('low_stock', 'out_of_stock')),
    n        bigint NOT NULL,
    PRIMARY KEY (store_id, status)
);

CREATE FUNCTION count_inventory_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('ims.bulk_load', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status IN ('low_stock', 'out_of_stock')
       AND (TG_OP = 'DELETE' OR NEW.status IS DISTINCT FROM OLD.status
            OR NEW.store_id <> OLD.store_id) THEN
        UPDATE inventory_status_counts SET n = n - 1
        WHERE store_id = OLD.store_id AND status = OLD.status;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status IN ('low_stock', 'out_of_stock')
       AND (TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status
            OR NEW.store_id <> OLD.store_id) THEN
        INSERT INTO inventory_status_counts AS c (store_id, status, n)
        VALUES (NEW.store_id, NEW.status, 1)
        ON CONFLICT (store_id, status) DO UPDATE SET n = c.n + 1;
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
