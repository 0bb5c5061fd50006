-- Units and revenue sold per store, product and quarter hour, for the dashboard's top 10
-- products of the last 30 days (storage::dashboard::TOP_PRODUCTS). Summing 30 days of these
-- small rows replaces unnesting 30 days of orders' JSON items, which cost 60-80 ms a
-- dashboard under load (docs/benchmarks.md). Quarter hours, not days: the dashboard's window
-- starts at the chain's local midnight, which is a quarter hour in UTC for every real time
-- zone (India's is 18:30), so the window is exact without the database knowing the zone.
--
-- Kept by triggers on orders, in the order's own transaction, so it is never behind: a new
-- order adds its lines, a cancellation takes them back. Rows older than the window are
-- purged by the service's hourly upkeep (purge_product_sales).
CREATE TABLE product_sales (
    store_id   uuid NOT NULL REFERENCES stores (id),
    slot       timestamptz NOT NULL,
    product_id uuid NOT NULL REFERENCES products (id),
    units      bigint NOT NULL,
    revenue    bigint NOT NULL,
    -- Serves the top products of one store (store_id = ANY($2) AND slot in the window), and
    -- the upsert of every order line.
    PRIMARY KEY (store_id, slot, product_id)
);
-- Serves the chain-wide top products (slot in the window, every store) and the purge.
CREATE INDEX product_sales_slot_idx ON product_sales (slot);

CREATE FUNCTION product_sales_slot(at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$ SELECT date_bin('15 minutes', at, timestamptz '2000-01-01 00:00+00') $$;

-- Adds `sign` times the lines of an order (1: placed, -1: cancelled). The data generator
-- loads orders with `ims.bulk_load` on and fills the table once after (refill_product_sales).
CREATE FUNCTION count_product_sales() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sign integer := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
BEGIN
    IF current_setting('ims.bulk_load', true) = 'on' THEN
        RETURN NULL;
    END IF;
    INSERT INTO product_sales AS s (store_id, slot, product_id, units, revenue)
    SELECT NEW.store_id, product_sales_slot(NEW.created_at), (item->>'productId')::uuid,
           sign * sum((item->>'quantity')::bigint), sign * sum((item->>'lineTotal')::bigint)
    FROM jsonb_array_elements(NEW.items) AS item
    GROUP BY 3
    -- In product order, as stock is locked: two orders never wait on each other in a cycle.
    ORDER BY 3
    ON CONFLICT (store_id, slot, product_id) DO UPDATE
        SET units = s.units + excluded.units, revenue = s.revenue + excluded.revenue;
    RETURN NULL;
END $$;

CREATE TRIGGER orders_count_sales AFTER INSERT ON orders
    FOR EACH ROW EXECUTE FUNCTION count_product_sales();
CREATE TRIGGER orders_uncount_cancelled_sales AFTER UPDATE OF status ON orders
    FOR EACH ROW WHEN (NEW.status = 'cancelled' AND OLD.status <> 'cancelled')
    EXECUTE FUNCTION count_product_sales();

-- Rebuilds the table from the orders since `since` (this migration, and the generator after
-- its bulk load).
CREATE FUNCTION refill_product_sales(since timestamptz) RETURNS void LANGUAGE sql AS $$
    DELETE FROM product_sales;
    INSERT INTO product_sales (store_id, slot, product_id, units, revenue)
    SELECT o.store_id, product_sales_slot(o.created_at), (item->>'productId')::uuid,
           sum((item->>'quantity')::bigint), sum((item->>'lineTotal')::bigint)
    FROM orders o CROSS JOIN LATERAL jsonb_array_elements(o.items) AS item
    WHERE o.created_at >= since AND o.status <> 'cancelled'
    GROUP BY 1, 2, 3;
$$;
SELECT refill_product_sales(now() - interval '32 days');
