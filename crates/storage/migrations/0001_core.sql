-- IMS 2.0 core schema: people, places and the catalogue.
--
-- The original plan was written for MongoDB; its "collections" are tables here and each of its
-- indexes is translated below (MongoDB 1/-1 -> ascending/descending btree columns, unique stays
-- unique, the text index becomes full-text search plus trigrams). Every index names the query it
-- serves. Where we deviate from the plan the comment says why.

CREATE EXTENSION IF NOT EXISTS pg_trgm;       -- trigram similarity: typo-tolerant search
CREATE EXTENSION IF NOT EXISTS fuzzystrmatch; -- edit distance: which similar word was meant

-- Keeps updated_at honest without trusting every UPDATE statement to set it.
CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

-- ---------------------------------------------------------------------------------------------
-- stores
CREATE TABLE stores (
    id          uuid PRIMARY KEY,
    code        text NOT NULL,
    name        text NOT NULL,
    city        text NOT NULL,
    phone       text NOT NULL,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- GET /stores pages by code; codes are what staff type at the till.
CREATE UNIQUE INDEX stores_code_key ON stores (code);
CREATE TRIGGER stores_touch BEFORE UPDATE ON stores FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- ---------------------------------------------------------------------------------------------
-- users
CREATE TABLE users (
    id                  uuid PRIMARY KEY,
    email               text NOT NULL,
    username            text NOT NULL,
    password_hash       text NOT NULL,
    roles               text[] NOT NULL CHECK (cardinality(roles) > 0
                            AND roles <@ ARRAY['admin','manager','sales','optometrist','technician']),
    store_ids           uuid[] NOT NULL DEFAULT '{}',
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    last_login_at       timestamptz,
    -- Sessions created at or before this are void (set on suspension and password changes);
    -- lets a cached session be checked against the (cached) profile without the database.
    sessions_valid_after timestamptz NOT NULL DEFAULT 'epoch',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
-- Plan: email unique, username unique. "Unique regardless of case" => unique on lower(); login
-- looks users up by lower(email) or lower(username), which these indexes serve.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
-- Plan: status, roles, createdAt, (lastLogin, status). GET /users?status=&role= pages by
-- created_at desc; roles is an array so the plan's multikey index becomes GIN.
CREATE INDEX users_status_idx ON users (status);
CREATE INDEX users_roles_idx ON users USING gin (roles);
CREATE INDEX users_created_at_idx ON users (created_at DESC, id DESC);
CREATE INDEX users_last_login_status_idx ON users (last_login_at, status);
CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- Bearer tokens. Only a SHA-256 of the token is stored: a leaked table grants nothing.
CREATE TABLE sessions (
    token_hash  bytea PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
-- Suspending a user revokes all their sessions; expired ones are purged by expiry.
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- Failed logins per account ('user:<id>', or 'login:<name>' for names that match no account, so
-- a lock-out never tells an attacker which names exist) and per client address ('address:<ip>').
-- Kept in the database so every instance of the service throttles the same attacker.
CREATE TABLE login_throttle (
    key             text PRIMARY KEY,
    failures        integer NOT NULL,
    window_started  timestamptz NOT NULL,
    locked_until    timestamptz
);

-- ---------------------------------------------------------------------------------------------
-- categories
CREATE TABLE categories (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    description text,
    parent_id   uuid REFERENCES categories (id),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX categories_name_key ON categories (lower(name));
-- GET /categories lists the active ones by name.
CREATE INDEX categories_status_name_idx ON categories (status, name);
CREATE TRIGGER categories_touch BEFORE UPDATE ON categories FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- ---------------------------------------------------------------------------------------------
-- products
CREATE TABLE products (
    id          uuid PRIMARY KEY,
    sku         text NOT NULL CHECK (sku ~ '^[A-Z0-9][A-Z0-9-]{2,31}$'),
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    category_id uuid NOT NULL REFERENCES categories (id),
    brand       text NOT NULL,
    price       bigint NOT NULL CHECK (price >= 0),          -- minor units (paise)
    cost        bigint CHECK (cost >= 0),                    -- minor units; never public
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'discontinued')),
    attributes  jsonb NOT NULL DEFAULT '{}',
    quantity    integer NOT NULL DEFAULT 0 CHECK (quantity >= 0),   -- sum over stores' inventory
    sales_count bigint NOT NULL DEFAULT 0 CHECK (sales_count >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- Plan: text(name, description). 'simple' keeps brand and model words unstemmed, so a
    -- prefix query ("aviat:*") matches what the customer typed; name outranks description.
    search      tsvector GENERATED ALWAYS AS (
                    setweight(to_tsvector('simple', name), 'A') ||
                    setweight(to_tsvector('simple', brand), 'A') ||
                    setweight(to_tsvector('simple', description), 'B')) STORED
);
-- Plan: sku unique. Serves GET /products/sku/{sku}.
CREATE UNIQUE INDEX products_sku_key ON products (sku);
-- Plan: category. Serves GET /categories/{id}/products and ?category= (paged by name).
CREATE INDEX products_category_idx ON products (category_id, name, id);
-- Plan: (status, quantity). Serves ?status=&inStock=.
CREATE INDEX products_status_quantity_idx ON products (status, quantity);
-- Plan: (brand, category). Serves ?brand= and ?brand=&category=.
CREATE INDEX products_brand_category_idx ON products (brand, category_id);
-- Plan: (price, quantity). Serves ?minPrice=&maxPrice= and sort=price (id breaks ties for paging).
CREATE INDEX products_price_quantity_idx ON products (price, quantity);
CREATE INDEX products_price_id_idx ON products (price, id);
-- Beyond the plan: sort=name and sort=-sales page through these; bestsellers is the top of the
-- second one.
CREATE INDEX products_name_id_idx ON products (name, id);
CREATE INDEX products_sales_idx ON products (sales_count DESC, id DESC);
-- Plan: text(name, description): GIN over the weighted tsvector for words and prefixes.
CREATE INDEX products_search_idx ON products USING gin (search);
CREATE TRIGGER products_touch BEFORE UPDATE ON products FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- Every word of the catalogue, so a misspelled query word can be corrected to the words it
-- was probably meant to be (trigram candidates, confirmed by edit distance, which also
-- forgives swapped letters) before the full-text index is asked. Words are only added: a
-- stale word merely matches nothing.
CREATE TABLE search_words (word text PRIMARY KEY);
CREATE INDEX search_words_trgm_idx ON search_words USING gin (word gin_trgm_ops);
CREATE FUNCTION remember_search_words() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_words (word)
    SELECT w FROM unnest(tsvector_to_array(NEW.search)) AS w WHERE w ~ '^[[:alnum:]]{3,}$'
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER products_search_words AFTER INSERT OR UPDATE OF name, brand, description ON products
    FOR EACH ROW EXECUTE FUNCTION remember_search_words();

-- ---------------------------------------------------------------------------------------------
-- customers
CREATE TABLE customers (
    id            uuid PRIMARY KEY,
    name          text NOT NULL,
    phone         text NOT NULL,          -- normalized: digits with an optional leading +
    email         text,
    date_of_birth date,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- GET /customers?phone= is how a till finds a walk-in customer. Phones are not unique: a family
-- often shares one.
CREATE INDEX customers_phone_idx ON customers (phone);
-- GET /customers?q= finds by part of a name.
CREATE INDEX customers_name_trgm_idx ON customers USING gin (name gin_trgm_ops);
CREATE INDEX customers_name_id_idx ON customers (name, id);
CREATE TRIGGER customers_touch BEFORE UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- ---------------------------------------------------------------------------------------------
-- Every create endpoint accepts Idempotency-Key: the first response is kept for 24 h and served
-- again for the same key and body; a different body with the same key is a 409.
CREATE TABLE idempotency_keys (
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key             text NOT NULL,
    request_hash    bytea NOT NULL,
    response_status smallint,
    response_body   jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Append-only record of sensitive reads and administrative writes (who, when, which).
CREATE TABLE audit_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    actor_id     uuid REFERENCES users (id),
    action       text NOT NULL,
    entity_type  text NOT NULL,
    entity_id    uuid NOT NULL,
    details      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_entity_idx ON audit_log (entity_type, entity_id, occurred_at DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, occurred_at DESC);
