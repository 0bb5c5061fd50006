-- A product's stock sequence: bumped with its quantity and units sold by every stock change
-- (storage::stock::update_product_totals, under the product row's lock, so the sequence
-- orders the changes of one product). The cache keeps a product's stock figures beside its
-- cached bodies with this number and moves them forward on every sale instead of forgetting
-- the bodies (cache::Tally): a newer figure always wins, whatever order the writers' cache
-- updates arrive in. A constant default: adding it rewrites nothing.
ALTER TABLE products ADD COLUMN stock_seq bigint NOT NULL DEFAULT 0;
