-- A store's dashboard kept current instead of forgotten (storage::dashboard::STORE_FIGURES).
--
-- Two things made every store dashboard a costly miss under load: each sale, restock or job
-- move in the store forgot it (24 times a second in the benchmark's busiest stores, 14%
-- hits), and its top products summed 30 days of quarter-hour rows (24,500 rows, 175 ms, for
-- the busiest store). This migration gives the figures a version and the top products a
-- running total, so a write can put the store's new figures in the cache (one cheap
-- statement after its commit) and a read never sums a month.

-- 1. The version: how many changes of a store's figures have committed. Each transaction that
-- changes them appends a row (orders placed, moved or cancelled; workshop jobs made or
-- moved; stock rows entering or leaving low/out of stock); the figures' statement reads
-- sum(n) in the same snapshot as the figures. A later snapshot sees every change an earlier
-- one saw, so a higher sum means newer figures and an equal one the same figures: the cache
-- keeps the highest (cache::Stale::Newer). Appended, never updated, for the reason of
-- inventory_status_counts (migration 0005): one counter row per store would serialize every
-- write of the store on its lock and deadlock transfers between two stores. The service's
-- upkeep folds the rows every ten seconds, which leaves the sums as they were.
CREATE TABLE dashboard_changes (
    store_id uuid NOT NULL REFERENCES stores (id),
    n        bigint NOT NULL
);
CREATE INDEX dashboard_changes_store_idx ON dashboard_changes (store_id);

CREATE FUNCTION note_dashboard_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('ims.bulk_load', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO dashboard_changes (store_id, n) VALUES (OLD.store_id, 1);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.store_id <> OLD.store_id) THEN
        INSERT INTO dashboard_changes (store_id, n) VALUES (NEW.store_id, 1);
    END IF;
    RETURN NULL;
END $$;

-- Orders: today's count and revenue, open orders by status, top products (a payment changes
-- none of them).
CREATE TRIGGER orders_note_dashboard AFTER INSERT OR UPDATE OF status, store_id OR DELETE ON orders
    FOR EACH ROW EXECUTE FUNCTION note_dashboard_change();
-- The workshop queue by status.
CREATE TRIGGER workshop_jobs_note_dashboard AFTER INSERT OR UPDATE OF status, store_id OR DELETE
    ON workshop_jobs FOR EACH ROW EXECUTE FUNCTION note_dashboard_change();
-- Low and out of stock: a stock row that changes status, comes or goes.
CREATE TRIGGER inventory_note_dashboard AFTER UPDATE ON inventory
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.store_id <> NEW.store_id)
    EXECUTE FUNCTION note_dashboard_change();
CREATE TRIGGER inventory_rows_note_dashboard AFTER INSERT OR DELETE ON inventory
    FOR EACH ROW EXECUTE FUNCTION note_dashboard_change();

-- 2. The top products' running totals: units and revenue per store and product over the
-- dashboard's 30-day window, so one store's top 10 is ten entries of an index.
-- `product_sales_window.start` is the window's first quarter hour; the service's upkeep
-- moves it to "business midnight 30 days ago" when a business day begins
-- (set_product_sales_window), subtracting the day that left the window. NULL: no totals are
-- kept (before the first upkeep, after a bulk load); the dashboard then sums product_sales,
-- as it does whenever the window is not the one it asks for.
CREATE TABLE product_sales_window (
    one   boolean PRIMARY KEY DEFAULT true CHECK (one),
    start timestamptz
);
INSERT INTO product_sales_window DEFAULT VALUES;

CREATE TABLE product_sales_totals (
    store_id   uuid NOT NULL REFERENCES stores (id),
    product_id uuid NOT NULL REFERENCES products (id),
    units      bigint NOT NULL,
    revenue    bigint NOT NULL,
    PRIMARY KEY (store_id, product_id)
);
-- One store's top products, in the dashboard's order.
CREATE INDEX product_sales_totals_top_idx ON product_sales_totals (store_id, units DESC, product_id);

-- product_sales as before (migration 0003), and the running totals when the order's quarter
-- hour is inside the window. The window's lock, shared here and exclusive while the window
-- moves, keeps a sale or cancellation from landing between the move's reading of the day
-- that leaves and its subtraction (it would be subtracted twice, or not at all).
CREATE OR REPLACE FUNCTION count_product_sales() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sign integer := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
    sold_at timestamptz := product_sales_slot(NEW.created_at);
BEGIN
    IF current_setting('ims.bulk_load', true) = 'on' THEN
        RETURN NULL;
    END IF;
    INSERT INTO product_sales AS s (store_id, slot, product_id, units, revenue)
    SELECT NEW.store_id, sold_at, (item->>'productId')::uuid,
           sign * sum((item->>'quantity')::bigint), sign * sum((item->>'lineTotal')::bigint)
    FROM jsonb_array_elements(NEW.items) AS item
    GROUP BY 3
    -- In product order, as stock is locked: two orders never wait on each other in a cycle.
    ORDER BY 3
    ON CONFLICT (store_id, slot, product_id) DO UPDATE
        SET units = s.units + excluded.units, revenue = s.revenue + excluded.revenue;
    PERFORM pg_advisory_xact_lock_shared(hashtext('ims.product_sales_window'));
    -- A statement of its own after the lock: it sees a move committed while this waited.
    INSERT INTO product_sales_totals AS t (store_id, product_id, units, revenue)
    SELECT NEW.store_id, (item->>'productId')::uuid,
           sign * sum((item->>'quantity')::bigint), sign * sum((item->>'lineTotal')::bigint)
    FROM jsonb_array_elements(NEW.items) AS item
    WHERE sold_at >= (SELECT w.start FROM product_sales_window w)
    GROUP BY 2
    ORDER BY 2
    ON CONFLICT (store_id, product_id) DO UPDATE
        SET units = t.units + excluded.units, revenue = t.revenue + excluded.revenue;
    RETURN NULL;
END $$;

-- Moves the window to start at `new_start`; false if it already did. A move forward by at
-- most two days subtracts the quarter hours that left (product_sales keeps 32 days); any
-- other move (the first, after a bulk load or a long stop, or backwards after a change of
-- the business time zone) sums the window afresh. Sales wait for the move (the window's
-- lock): a day's subtraction is one statement over that day's rows.
CREATE FUNCTION set_product_sales_window(new_start timestamptz) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    old_start timestamptz;
BEGIN
    -- Every instance asks every minute: the lock, which makes sales wait, only for a move.
    IF (SELECT start FROM product_sales_window) IS NOT DISTINCT FROM new_start THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('ims.product_sales_window'));
    SELECT start INTO old_start FROM product_sales_window;
    IF old_start IS NOT DISTINCT FROM new_start THEN
        RETURN false;
    END IF;
    IF old_start IS NOT NULL AND new_start > old_start
       AND new_start <= old_start + interval '2 days' THEN
        UPDATE product_sales_totals t
        SET units = t.units - d.units, revenue = t.revenue - d.revenue
        FROM (SELECT store_id, product_id, sum(units) AS units, sum(revenue) AS revenue
              FROM product_sales WHERE slot >= old_start AND slot < new_start
              GROUP BY store_id, product_id) d
        WHERE t.store_id = d.store_id AND t.product_id = d.product_id;
        DELETE FROM product_sales_totals WHERE units = 0 AND revenue = 0;
    ELSE
        DELETE FROM product_sales_totals;
        INSERT INTO product_sales_totals (store_id, product_id, units, revenue)
        SELECT store_id, product_id, sum(units), sum(revenue)
        FROM product_sales WHERE slot >= new_start
        GROUP BY store_id, product_id
        HAVING sum(units) <> 0 OR sum(revenue) <> 0;
    END IF;
    UPDATE product_sales_window SET start = new_start;
    RETURN true;
END $$;

-- The generator's refill (migration 0003) leaves no running totals: the next upkeep sums them.
CREATE OR REPLACE FUNCTION refill_product_sales(since timestamptz) RETURNS void LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(hashtext('ims.product_sales_window'));
    DELETE FROM product_sales;
    INSERT INTO product_sales (store_id, slot, product_id, units, revenue)
    SELECT o.store_id, product_sales_slot(o.created_at), (item->>'productId')::uuid,
           sum((item->>'quantity')::bigint), sum((item->>'lineTotal')::bigint)
    FROM orders o CROSS JOIN LATERAL jsonb_array_elements(o.items) AS item
    WHERE o.created_at >= since AND o.status <> 'cancelled'
    GROUP BY 1, 2, 3;
    DELETE FROM product_sales_totals;
    UPDATE product_sales_window SET start = NULL;
$$;
