-- How many workshop jobs of each store wait in each queue status, for the dashboard
-- (storage::dashboard::STORE_FIGURES and QUEUE). Every write of a store reads its figures
-- after the commit (migration 0011), and counting the jobs walked the store's entries of
-- `workshop_jobs_store_queue_idx` for each status: for a busy store of the benchmark's data
-- (500 open jobs) 0.19 of the figures' 0.45 ms, the largest part of the statement.
--
-- The same shape as migrations 0005 and 0007: a trigger appends +1/-1 rows in the writer's
-- own transaction when a job enters or leaves a queue status (never updating a counter row,
-- so two transactions cannot deadlock on counters), and the service's upkeep folds the rows
-- into one per store and status (storage::dashboard::compact_workshop_queue_counts). The
-- data generator loads jobs with `ims.bulk_load` on and fills the table once after
-- (refill_workshop_queue_counts); TRUNCATE of stores cascades to it.
CREATE TABLE workshop_queue_counts (
    store_id uuid NOT NULL REFERENCES stores (id),
    status   text NOT NULL CHECK (status IN ('queued', 'in_progress', 'quality_check')),
    n        bigint NOT NULL
);
CREATE INDEX workshop_queue_counts_store_idx ON workshop_queue_counts (store_id);

CREATE FUNCTION count_workshop_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('ims.bulk_load', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE')
       AND OLD.status IN ('queued', 'in_progress', 'quality_check')
       AND (TG_OP = 'DELETE' OR NEW.status IS DISTINCT FROM OLD.status
            OR NEW.store_id <> OLD.store_id) THEN
        INSERT INTO workshop_queue_counts (store_id, status, n) VALUES (OLD.store_id, OLD.status, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE')
       AND NEW.status IN ('queued', 'in_progress', 'quality_check')
       AND (TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status
            OR NEW.store_id <> OLD.store_id) THEN
        INSERT INTO workshop_queue_counts (store_id, status, n) VALUES (NEW.store_id, NEW.status, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER workshop_jobs_count_queue AFTER INSERT OR UPDATE OF status, store_id OR DELETE
    ON workshop_jobs FOR EACH ROW EXECUTE FUNCTION count_workshop_queue();

-- Rebuilds the table from the jobs (this migration, and the generator after its bulk load).
CREATE FUNCTION refill_workshop_queue_counts() RETURNS void LANGUAGE sql AS $$
    DELETE FROM workshop_queue_counts;
    INSERT INTO workshop_queue_counts (store_id, status, n)
    SELECT store_id, status, count(*) FROM workshop_jobs
    WHERE status IN ('queued', 'in_progress', 'quality_check')
    GROUP BY store_id, status;
$$;

SELECT refill_workshop_queue_counts();
