-- Secrets every instance of the service must share, made once by the first instance that
-- needs one (storage::service_keys). Today only `cursor`: the HMAC key that signs pagination
-- cursors when IMS_CURSOR_KEY is not set. A cursor made by one instance must be accepted by
-- the next (the gateway balances requests, and cached product pages carry cursors), and every
-- instance of a deployment already shares this database. Not a credential: whoever holds it
-- can only make cursors the service would have made anyway.
CREATE TABLE service_keys (
    name       text PRIMARY KEY,
    key        bytea NOT NULL CHECK (length(key) >= 32),
    created_at timestamptz NOT NULL DEFAULT now()
);
