-- How many orders of each store are open in each status, for the dashboard
-- (storage::dashboard::OPEN_ORDERS). Counting them from `orders` read every open order of
-- the store in every monthly partition (4.2 ms a store under the benchmark's mix), and a
-- sale forgets the store's dashboard, so after the low-stock counts (migration 0005) and
-- today's sales (0006) this count was, with the top products, the costliest statement of
-- the mix.
--
-- The same shape as migration 0005: a trigger appends +1/-1 rows in the writer's own
-- transaction when an order enters or leaves an open status, never updates a counter row
-- (two transactions moving orders of one store in opposite directions would lock two
-- counters in opposite orders and deadlock), and the service's hourly upkeep folds the rows
-- into one per store and status (storage::dashboard::compact_order_status_counts). The data
-- generator loads orders with `ims.bulk_load` on and fills the table once after
-- (refill_order_status_counts); TRUNCATE of stores cascades to it.
CREATE TABLE order_status_counts (
    store_id uuid NOT NULL REFERENCES stores (id),
    status   text NOT NULL CHECK (status IN ('pending', 'confirmed', 'in_workshop', 'ready')),
    n        bigint NOT NULL
);
CREATE INDEX order_status_counts_store_idx ON order_status_counts (store_id);

CREATE FUNCTION count_order_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('ims.bulk_load', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE')
       AND OLD.status IN ('pending', 'confirmed', 'in_workshop', 'ready')
       AND (TG_OP = 'DELETE' OR NEW.status IS DISTINCT FROM OLD.status
            OR NEW.store_id <> OLD.store_id) THEN
        INSERT INTO order_status_counts (store_id, status, n) VALUES (OLD.store_id, OLD.status, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE')
       AND NEW.status IN ('pending', 'confirmed', 'in_workshop', 'ready')
       AND (TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status
            OR NEW.store_id <> OLD.store_id) THEN
        INSERT INTO order_status_counts (store_id, status, n) VALUES (NEW.store_id, NEW.status, 1);
    END IF;
    RETURN NULL;
END $$;

-- On the partitioned table: PostgreSQL clones the trigger onto every partition, those made
-- ahead each month included.
CREATE TRIGGER orders_count_status AFTER INSERT OR UPDATE OF status, store_id OR DELETE ON orders
    FOR EACH ROW EXECUTE FUNCTION count_order_status();

-- Rebuilds the table from orders (this migration, and the generator after its bulk load).
CREATE FUNCTION refill_order_status_counts() RETURNS void LANGUAGE sql AS $$
    DELETE FROM order_status_counts;
    INSERT INTO order_status_counts (store_id, status, n)
    SELECT store_id, status, count(*) FROM orders
    WHERE status IN ('pending', 'confirmed', 'in_workshop', 'ready')
    GROUP BY store_id, status;
$$;

SELECT refill_order_status_counts();
