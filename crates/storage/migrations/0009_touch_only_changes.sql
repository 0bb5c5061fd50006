-- updated_at moves only when the row changed: a PATCH that sets nothing new (`{}`, or every
-- field to the value it has) used to bump it all the same, telling clients that polled it
-- that something changed when nothing had.
--
-- The trigger's arguments name columns left out of the comparison: generated columns, which
-- a BEFORE trigger sees as NULL in NEW (products.search), so the row would always differ.
CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ignored text[] := coalesce(TG_ARGV::text[], '{}');
BEGIN
    IF (to_jsonb(NEW) - ignored) IS DISTINCT FROM (to_jsonb(OLD) - ignored) THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER products_touch ON products;
CREATE TRIGGER products_touch BEFORE UPDATE ON products
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at('search');
