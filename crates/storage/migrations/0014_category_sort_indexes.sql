-- A category's products by price and by units sold, straight from an index.
--
-- GET /categories/{id}/products?sort=price (and ?sort=-sales) asks for one category's first
-- page in that order. The service plans each statement once per connection, for any
-- category (plan_cache_mode = force_generic_plan, storage::db), and without an index that
-- starts with the category that plan walked products_price_id_idx (or products_sales_idx)
-- from the start, reading past every product of the other categories: 8.8 ms a page by price
-- and 4.3 ms by sales under the benchmark's mix, where a page by name (products_category_idx)
-- takes a few hundredths of a millisecond. The id follows each order, as in the others, so a
-- page's cursor continues in the index.
CREATE INDEX products_category_price_idx ON products (category_id, price, id);
CREATE INDEX products_category_sales_idx ON products (category_id, sales_count DESC, id DESC);
