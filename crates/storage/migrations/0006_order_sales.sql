-- Orders and revenue per store and quarter hour, for the dashboard's "today" figures
-- (storage::dashboard::TODAY). Counting today's orders read every order of the day: cheap
-- in a quiet shop, but the cost grew with the day (10 ms for a store with 2,100 orders, over
-- 100 ms for the chain with 100,000), and a sale forgets the dashboard, so under load the
-- dashboard's misses became the costliest statement of the benchmark's mix. Quarter hours,
-- as product_sales (migration 0003): the dashboard's day starts at the chain's local
-- midnight, a quarter hour in UTC for every real time zone.
--
-- Kept by triggers on orders, in the order's own transaction, so it is never behind: a new
-- order counts, a cancellation takes it back (an order's total never changes). The data
-- generator loads orders with `ims.bulk_load` on and fills the table once after
-- (refill_order_sales). Rows older than the window go with product_sales' hourly purge.
CREATE TABLE order_sales (
    store_id uuid NOT NULL REFERENCES stores (id),
    slot     timestamptz NOT NULL,
    orders   bigint NOT NULL,
    revenue  bigint NOT NULL,
    PRIMARY KEY (store_id, slot)
);
-- The chain-wide day.
CREATE INDEX order_sales_slot_idx ON order_sales (slot);

-- Adds `sign` times the order (1: placed, -1: cancelled).
CREATE FUNCTION count_order_sales() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sign integer := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
BEGIN
    IF current_setting('ims.bulk_load', true) = 'on' THEN
        RETURN NULL;
    END IF;
    INSERT INTO order_sales AS s (store_id, slot, orders, revenue)
    VALUES (NEW.store_id, product_sales_slot(NEW.created_at), sign, sign * NEW.total)
    ON CONFLICT (store_id, slot) DO UPDATE
        SET orders = s.orders + excluded.orders, revenue = s.revenue + excluded.revenue;
    RETURN NULL;
END $$;

CREATE TRIGGER orders_count_order_sales AFTER INSERT ON orders
    FOR EACH ROW WHEN (NEW.status <> 'cancelled') EXECUTE FUNCTION count_order_sales();
CREATE TRIGGER orders_uncount_cancelled_order AFTER UPDATE OF status ON orders
    FOR EACH ROW WHEN (NEW.status = 'cancelled' AND OLD.status <> 'cancelled')
    EXECUTE FUNCTION count_order_sales();

-- Rebuilds the table from the orders since `since` (this migration, and the generator after
-- its bulk load).
CREATE FUNCTION refill_order_sales(since timestamptz) RETURNS void LANGUAGE sql AS $$
    DELETE FROM order_sales;
    INSERT INTO order_sales (store_id, slot, orders, revenue)
    SELECT store_id, product_sales_slot(created_at), count(*), sum(total)
    FROM orders
    WHERE created_at >= since AND status <> 'cancelled'
    GROUP BY 1, 2;
$$;

SELECT refill_order_sales(now() - interval '32 days');
