-- A product's updated_at is when its catalogue entry last changed, not when its stock last
-- moved.
--
-- Every sale, restock and transfer updates the product's chain-wide figures (quantity,
-- sales_count, stock_seq), and the touch trigger of migration 0009 then turned the whole row
-- (description, attributes and search words included) into JSON twice to see whether it
-- changed, and moved updated_at because the figures had. That was work on the hottest row
-- of every sale, and it disagreed with the cache: the cache keeps a product's body apart
-- from its stock figures and refreshes only the figures when stock moves, so a cached read
-- kept the edit time while a read from the database showed the last sale's. The figures have
-- their own version (stock_seq, in the cache's tally); updated_at now means what PATCH
-- /products/{id} changed.
--
-- `UPDATE OF` fires the trigger only when the statement sets one of these columns, which the
-- stock statement (storage::stock) never does; the figures are also left out of the
-- comparison, so a statement that set both would move updated_at only for the edit.
DROP TRIGGER products_touch ON products;
CREATE TRIGGER products_touch
    BEFORE UPDATE OF sku, name, description, category_id, brand, price, cost, status, attributes
    ON products
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at('search', 'quantity', 'sales_count', 'stock_seq');
