-- IMS 2.0 operations schema: orders (denormalized, partitioned by month), inventory and its
-- movements, prescriptions, workshop jobs and their history.

-- ---------------------------------------------------------------------------------------------
-- orders
--
-- Denormalized as the plan says: the customer's name and phone and every line's product id,
-- name, sku, quantity and unit price live in the row (items jsonb), so one read returns the whole
-- order and later product edits never rewrite history. Payments are kept in the row too.
--
-- Partitioned by month on created_at. PostgreSQL requires the partition key in every unique
-- index, hence PRIMARY KEY (id, created_at). Order ids are UUIDv7 whose embedded timestamp *is*
-- created_at (to the millisecond), so a lookup by id computes created_at and touches exactly one
-- partition. Order numbers are made unique across all partitions by order_keys below.
CREATE SEQUENCE order_number_seq START 1;
CREATE TABLE orders (
    id              uuid NOT NULL,
    created_at      timestamptz NOT NULL,
    order_number    text NOT NULL CHECK (order_number ~ '^ORD-[0-9]{4}-[0-9]{6,}$'),
    store_id        uuid NOT NULL REFERENCES stores (id),
    customer_id     uuid NOT NULL REFERENCES customers (id),
    customer_name   text NOT NULL,
    customer_phone  text NOT NULL,
    items           jsonb NOT NULL CHECK (jsonb_typeof(items) = 'array' AND jsonb_array_length(items) > 0),
    total           bigint NOT NULL CHECK (total >= 0),
    amount_paid     bigint NOT NULL DEFAULT 0 CHECK (amount_paid >= 0 AND amount_paid <= total),
    payments        jsonb NOT NULL DEFAULT '[]',
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN
                        ('pending','confirmed','in_workshop','ready','delivered','cancelled')),
    payment_status  text NOT NULL DEFAULT 'unpaid' CHECK (payment_status IN ('unpaid','partially_paid','paid')),
    created_by      uuid REFERENCES users (id),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
-- Plan: (customerId, createdAt desc). Serves GET /customers/{id}/orders.
CREATE INDEX orders_customer_created_idx ON orders (customer_id, created_at DESC);
-- Plan: status, paymentStatus. Serves GET /orders?status= and ?paymentStatus= (newest first, so
-- created_at rides along; the plan's single-column form would sort every match).
CREATE INDEX orders_status_idx ON orders (status, created_at DESC);
CREATE INDEX orders_payment_status_idx ON orders (payment_status, created_at DESC);
-- Plan: createdAt desc. Serves GET /orders (newest first) and date ranges.
CREATE INDEX orders_created_idx ON orders (created_at DESC);
-- Beyond the plan: store staff list their own store's orders, newest first.
CREATE INDEX orders_store_created_idx ON orders (store_id, created_at DESC);
-- Beyond the plan: the dashboard counts open orders per store and status. Open orders are a
-- small, recent share of all orders, so a partial index keeps that count off the closed ones.
CREATE INDEX orders_open_idx ON orders (store_id, status)
    WHERE status IN ('pending', 'confirmed', 'in_workshop', 'ready');
-- Within a partition, a number lookup (after order_keys gave the month) is an index probe.
CREATE INDEX orders_number_idx ON orders (order_number);
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- Plan: orderNumber unique. A unique index on a partitioned table must contain the partition
-- key, which would only make numbers unique per month; this small unpartitioned registry makes
-- them unique for all time, maps a number to its order's partition, and is the target of
-- foreign keys that point at an order.
CREATE TABLE order_keys (
    order_id     uuid PRIMARY KEY,
    order_number text NOT NULL,
    created_at   timestamptz NOT NULL
);
CREATE UNIQUE INDEX order_keys_number_key ON order_keys (order_number);

-- Creates the monthly partitions from `first_month` through `months_ahead` months after the
-- current one; returns how many it created. Called by migrations, at service start-up and
-- by the data generator for history, so inserts never find their month missing.
CREATE FUNCTION ensure_order_partitions(first_month date, months_ahead integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    m       date := date_trunc('month', first_month)::date;
    last_m  date := (date_trunc('month', now()) + make_interval(months => months_ahead))::date;
    part    text;
    created integer := 0;
BEGIN
    WHILE m <= last_m LOOP
        part := format('orders_y%sm%s', to_char(m, 'YYYY'), to_char(m, 'MM'));
        IF to_regclass(part) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF orders FOR VALUES FROM (%L) TO (%L)',
                           part, m::timestamptz, (m + interval '1 month')::timestamptz);
            created := created + 1;
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
    RETURN created;
END $$;
SELECT ensure_order_partitions((now() - interval '1 month')::date, 3);

-- ---------------------------------------------------------------------------------------------
-- inventory: one row per (product, store), never negative.
CREATE TABLE inventory (
    product_id    uuid NOT NULL REFERENCES products (id),
    store_id      uuid NOT NULL REFERENCES stores (id),
    quantity      integer NOT NULL DEFAULT 0 CHECK (quantity >= 0),
    reorder_level integer NOT NULL DEFAULT 5 CHECK (reorder_level >= 0),
    status        text GENERATED ALWAYS AS (CASE
                      WHEN quantity = 0 THEN 'out_of_stock'
                      WHEN quantity <= reorder_level THEN 'low_stock'
                      ELSE 'in_stock' END) STORED,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- Plan: (productId, storeId) unique. Serves GET /stores/{s}/inventory/{p} and order placement.
    PRIMARY KEY (product_id, store_id)
);
-- Plan: (storeId, quantity). Serves GET /stores/{s}/inventory, paged by quantity; product_id
-- completes the key so a page resumes inside a run of equal quantities.
CREATE INDEX inventory_store_quantity_idx ON inventory (store_id, quantity, product_id);
-- Plan: status. Beyond the plan it leads with the store, because every status query is scoped
-- to one store (?status=, low-stock count on the dashboard).
CREATE INDEX inventory_status_idx ON inventory (status);
CREATE INDEX inventory_store_status_idx ON inventory (store_id, status, quantity, product_id);

-- Append-only: every change of a row's quantity; per row they sum to its quantity.
CREATE TABLE inventory_movements (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id  uuid NOT NULL,
    store_id    uuid NOT NULL,
    delta       integer NOT NULL CHECK (delta <> 0),
    kind        text NOT NULL CHECK (kind IN
                    ('initial','sale','cancellation','adjustment','transfer_in','transfer_out')),
    reason      text,
    order_id    uuid,
    transfer_id uuid,
    actor_id    uuid REFERENCES users (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (product_id, store_id) REFERENCES inventory (product_id, store_id)
);
-- Serves GET /stores/{s}/inventory/{p}/movements (newest first).
CREATE INDEX inventory_movements_row_idx ON inventory_movements (product_id, store_id, id DESC);

-- ---------------------------------------------------------------------------------------------
-- prescriptions (eye data is validated by the domain before it gets here)
CREATE TABLE prescriptions (
    id          uuid PRIMARY KEY,
    customer_id uuid NOT NULL REFERENCES customers (id),
    patient_id  uuid NOT NULL REFERENCES customers (id),
    test_date   date NOT NULL,
    expires_at  date NOT NULL CHECK (expires_at > test_date),
    right_eye   jsonb NOT NULL,
    left_eye    jsonb NOT NULL,
    notes       text NOT NULL DEFAULT '',
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active','expired','superseded')),
    created_by  uuid REFERENCES users (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- Plan: (patientId, testDate desc). Serves GET /prescriptions?patientId= (newest test first).
CREATE INDEX prescriptions_patient_test_idx ON prescriptions (patient_id, test_date DESC);
-- Plan: customerId, status. Serves ?customerId= and GET /customers/{id}/prescriptions.
CREATE INDEX prescriptions_customer_idx ON prescriptions (customer_id, test_date DESC);
CREATE INDEX prescriptions_status_idx ON prescriptions (status);
CREATE TRIGGER prescriptions_touch BEFORE UPDATE ON prescriptions FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- ---------------------------------------------------------------------------------------------
-- workshop jobs
CREATE SEQUENCE job_number_seq START 1;
CREATE TABLE workshop_jobs (
    id              uuid PRIMARY KEY,
    job_number      text NOT NULL CHECK (job_number ~ '^JOB-[0-9]{4}-[0-9]{6,}$'),
    order_id        uuid NOT NULL REFERENCES order_keys (order_id),
    store_id        uuid NOT NULL REFERENCES stores (id),
    prescription_id uuid REFERENCES prescriptions (id),
    priority        text NOT NULL DEFAULT 'normal' CHECK (priority IN ('low','normal','high','urgent')),
    -- The queue is ordered urgent first; a rank column keeps that order in the index.
    priority_rank   smallint GENERATED ALWAYS AS (CASE priority
                        WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END) STORED,
    status          text NOT NULL DEFAULT 'queued' CHECK (status IN
                        ('queued','in_progress','quality_check','completed','cancelled')),
    instructions    text NOT NULL DEFAULT '',
    created_by      uuid REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz
);
-- Plan: jobNumber unique. Serves GET /workshop/jobs/number/{n}.
CREATE UNIQUE INDEX workshop_jobs_number_key ON workshop_jobs (job_number);
-- Plan: (status, priority). The queue reads "priority, then oldest", so the rank and created_at
-- complete the plan's index; the store-led twin serves store staff, who see only their store.
CREATE INDEX workshop_jobs_queue_idx ON workshop_jobs (status, priority_rank, created_at);
CREATE INDEX workshop_jobs_store_queue_idx ON workshop_jobs (store_id, status, priority_rank, created_at);
-- Plan: orderId. Serves GET /orders/{id}/jobs.
CREATE INDEX workshop_jobs_order_idx ON workshop_jobs (order_id);
-- Plan: createdAt desc.
CREATE INDEX workshop_jobs_created_idx ON workshop_jobs (created_at DESC);
CREATE TRIGGER workshop_jobs_touch BEFORE UPDATE ON workshop_jobs FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- Every status change of a job: who, when, from what to what, and why.
CREATE TABLE workshop_job_history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      uuid NOT NULL REFERENCES workshop_jobs (id),
    from_status text,
    to_status   text NOT NULL,
    note        text NOT NULL DEFAULT '',
    changed_by  uuid REFERENCES users (id),
    changed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workshop_job_history_job_idx ON workshop_job_history (job_id, id);
