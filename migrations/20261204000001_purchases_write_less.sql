-- A purchase writes less: its idempotency record is its order (or its queued buy), and a batch
-- of purchases writes one audit row, not one per sale. Measured in docs/performance.md, "What a
-- purchase writes"; every guarantee the tests pin is kept.
--
-- Keys. A synchronous buy wrote its order and, beside it, a row of `idempotency_keys` (a
-- partitioned table whose lookups probe every live day), and an async buy its queue row and
-- such a record. Now a purchase's key, fingerprint and answer are columns of the order or of the
-- queued buy, found through one unique index each (`settle_purchase_keys`): one row per
-- purchase, not two, and one probe per table instead of one per live day. A purchase's key is
-- kept as long as the purchase is, so a retry is answered from the purchase itself, however
-- late; nothing is deleted, so retention needs no `DELETE` still. Other keyed writes (the
-- admin's) keep `idempotency_keys` and its daily partitions. The keys are compared byte for
-- byte (`COLLATE "C"`): a key is an opaque string, not text in a language. Records written
-- before this migration are copied onto their purchases (their answers name the order or the
-- purchase), so a retry across the upgrade still finds its answer.
--
-- Audit. `buy_batch` inserted an audit row per confirmed order: a heap tuple, a primary-key
-- entry, a sequence value and two `jsonb` objects per sale. Now the batch writes one row whose
-- `sales` holds each sale's who, what and request id in order (`audit_sale`), and the stock
-- before it; `created_at` is the batch's commit time as it was each sale's. `audit_entries`
-- reads the log as entries again: a batch row expanded into its sales, numbered
-- `id * 1024 + position`, so a cursor still orders every entry, sales within a batch included.
-- Rows written one per sale before this migration read as they did (position 0).
--
-- Rollout: `buy_batch` loses its last argument, so migrate with `origin migrate` and roll the
-- origins right after, as one step.

-- `key_hash` is the key's lock id (the origin's `idempotency::lock_id`: the first 8 bytes of
-- SHA-256 over shop, buyer, a zero byte and key). Indexing it, not the key's text, makes each
-- order's index entry two fixed-size columns: a unique index on (shop, key, buyer) cost 7.6 us
-- per order inserted, this one a fraction of it. A lookup compares the key and the buyer too,
-- so two keys that share a hash are told apart; that the same key is not used twice at once is
-- the advisory lock's job, on the same hash, as it was.
ALTER TABLE orders
    ADD COLUMN key_hash bigint,
    ADD COLUMN idempotency_key text COLLATE "C",
    ADD COLUMN fingerprint bytea,
    ADD COLUMN response_body bytea,
    ADD CONSTRAINT orders_key_with_its_answer
        CHECK (num_nulls(key_hash, idempotency_key, fingerprint, response_body) IN (0, 4));
CREATE INDEX orders_by_key_hash ON orders (organization_id, key_hash) WHERE key_hash IS NOT NULL;

ALTER TABLE purchase_queue
    ADD COLUMN key_hash bigint,
    ADD COLUMN idempotency_key text COLLATE "C",
    ADD COLUMN fingerprint bytea,
    ADD COLUMN response_body bytea,
    ADD CONSTRAINT purchase_queue_key_with_its_answer
        CHECK (num_nulls(key_hash, idempotency_key, fingerprint, response_body) IN (0, 4));
CREATE INDEX purchase_queue_by_key_hash
    ON purchase_queue (organization_id, key_hash) WHERE key_hash IS NOT NULL;

-- The origin's `idempotency::lock_id`, for the records copied below (and a test that the two
-- agree).
CREATE FUNCTION purchase_key_hash(org uuid, sub text, key text) RETURNS bigint
    LANGUAGE sql IMMUTABLE
    RETURN ('x' || encode(substr(sha256(uuid_send(org) || convert_to(sub, 'UTF8') || '\x00'::bytea
                                       || convert_to(key, 'UTF8')), 1, 8), 'hex'))::bit(64)::bigint;

-- The live records of purchases, onto their purchases.
UPDATE orders o
SET key_hash = purchase_key_hash(k.organization_id, k.customer_sub, k.idempotency_key),
    idempotency_key = k.idempotency_key, fingerprint = k.fingerprint,
    response_body = k.response_body
FROM idempotency_keys k
WHERE k.organization_id = o.organization_id AND k.customer_sub = o.customer_sub
  AND k.response_status = 201
  AND convert_from(k.response_body, 'UTF8')::jsonb ->> 'order_id' = o.id::text;
UPDATE purchase_queue q
SET key_hash = purchase_key_hash(k.organization_id, k.customer_sub, k.idempotency_key),
    idempotency_key = k.idempotency_key, fingerprint = k.fingerprint,
    response_body = k.response_body
FROM idempotency_keys k
WHERE k.organization_id = q.organization_id AND k.customer_sub = q.customer_sub
  AND k.response_status = 202
  AND convert_from(k.response_body, 'UTF8')::jsonb ->> 'purchase_id' = q.id::text;

-- An order names an item of its shop. The foreign key checked that once per order row, each
-- check a `FOR KEY SHARE` lock on the item's row: on a hot item, whose row every concurrent
-- batch also updates, each of those locks joined a multixact, hundreds per batch. Now the check
-- runs once per statement, one lock per item named (`orders_name_their_items`), and the other
-- side keeps its `NO ACTION`: an item that has orders cannot be deleted or renumbered
-- (`items_with_orders_stay`; the application role can do neither anyway). The concurrency is
-- the foreign key's: the shared lock makes a delete wait for the inserting transaction, and a
-- delete that went first leaves nothing to lock, so the insert fails.
ALTER TABLE orders DROP CONSTRAINT orders_organization_id_item_id_fkey;

CREATE FUNCTION orders_name_their_items() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$
DECLARE
    named bigint;
    held bigint;
BEGIN
    SELECT count(*) INTO named FROM (SELECT DISTINCT organization_id, item_id FROM new_orders) n;
    SELECT count(*) INTO held FROM (
        SELECT 1 FROM inventory i
        WHERE (i.organization_id, i.id) IN (SELECT organization_id, item_id FROM new_orders)
        FOR KEY SHARE OF i
    ) h;
    IF held < named THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'an order names an item its shop does not hold',
            TABLE = 'orders', CONSTRAINT = 'orders_name_their_items';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER orders_name_their_items AFTER INSERT ON orders
    REFERENCING NEW TABLE AS new_orders
    FOR EACH STATEMENT EXECUTE FUNCTION orders_name_their_items();
CREATE TRIGGER orders_still_name_their_items AFTER UPDATE ON orders
    REFERENCING NEW TABLE AS new_orders
    FOR EACH STATEMENT EXECUTE FUNCTION orders_name_their_items();

CREATE FUNCTION items_with_orders_stay() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM orders o
               WHERE o.organization_id = OLD.organization_id AND o.item_id = OLD.id) THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('item %s has orders', OLD.id),
            TABLE = 'inventory', CONSTRAINT = 'orders_name_their_items';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER items_with_orders_stay AFTER DELETE ON inventory
    FOR EACH ROW EXECUTE FUNCTION items_with_orders_stay();
CREATE TRIGGER items_with_orders_keep_their_key AFTER UPDATE OF organization_id, id ON inventory
    FOR EACH ROW
    WHEN (OLD.organization_id IS DISTINCT FROM NEW.organization_id OR OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION items_with_orders_stay();

-- Locks every key of a batch of purchases (without waiting) and reads what each already holds:
-- the order it bought (201) or the buy it queued (202). As `settle_idempotency_keys`, for
-- purchases.
CREATE FUNCTION settle_purchase_keys(
    org uuid, lock_ids bigint[], subs text[], keys text[], fingerprints bytea[])
    RETURNS TABLE (n integer, state idempotency_key_state, response_status smallint,
                   response_body bytea)
    LANGUAGE plpgsql
    SET plan_cache_mode = force_generic_plan
    SET enable_seqscan = off
    AS $$
#variable_conflict use_column
DECLARE
    locked boolean[];
BEGIN
    locked := ARRAY(
        SELECT pg_try_advisory_xact_lock(l.id)
        FROM unnest(lock_ids) WITH ORDINALITY AS l(id, i) ORDER BY l.i);
    -- One probe per key, on the key's hash: never costlier than the primary key, so the plan
    -- cached at a batch's first call stays right as the tables grow. (One `= ANY` scan of all
    -- the batch's keys read 4.3 us a key against 6.5 on a large analysed table, but a plan
    -- cached while the tables were young filtered every keyed row of the shop instead.)
    RETURN QUERY
    SELECT k.i::integer,
           CASE WHEN k.key IS NULL THEN 'none'
                WHEN s.fingerprint IS NULL AND locked[k.i::integer] THEN 'fresh'
                WHEN s.fingerprint IS NULL THEN 'in_flight'
                WHEN s.fingerprint = k.fingerprint THEN 'replay'
                ELSE 'reused' END::idempotency_key_state,
           CASE WHEN s.fingerprint = k.fingerprint THEN s.status END,
           CASE WHEN s.fingerprint = k.fingerprint THEN s.body END
    FROM unnest(lock_ids, subs, keys, fingerprints) WITH ORDINALITY
        AS k(hash, sub, key, fingerprint, i)
    LEFT JOIN LATERAL (
        SELECT o.fingerprint, 201::smallint AS status, o.response_body AS body FROM orders o
        WHERE o.organization_id = org AND o.key_hash = k.hash
          AND o.idempotency_key = k.key COLLATE "C" AND o.customer_sub = k.sub
        UNION ALL
        SELECT q.fingerprint, 202::smallint, q.response_body FROM purchase_queue q
        WHERE q.organization_id = org AND q.key_hash = k.hash
          AND q.idempotency_key = k.key COLLATE "C" AND q.customer_sub = k.sub
        LIMIT 1
    ) AS s ON k.key IS NOT NULL
    ORDER BY k.i;
END
$$;

-- A sale's order carries its key and answer; no record beside it.
DROP FUNCTION record_sales(uuid, uuid, bigint, boolean[], text[], integer[], text[], uuid[],
                           bytea[], text[], bytea[]);
CREATE FUNCTION record_sales(org uuid, item uuid, price bigint, selling boolean[],
    subs text[], quantities integer[], order_ids uuid[], confirmed_bodies bytea[],
    lock_ids bigint[], keys text[], fingerprints bytea[]) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO orders (organization_id, id, item_id, customer_sub, quantity, unit_price_cents,
                        key_hash, idempotency_key, fingerprint, response_body)
    SELECT org, s.order_id, item, s.sub, s.quantity, price,
           CASE WHEN s.key IS NOT NULL THEN s.hash END, s.key,
           CASE WHEN s.key IS NOT NULL THEN s.fingerprint END,
           CASE WHEN s.key IS NOT NULL THEN s.body END
    FROM unnest(selling, subs, quantities, order_ids, confirmed_bodies, lock_ids, keys,
                fingerprints)
        AS s(selling, sub, quantity, order_id, body, hash, key, fingerprint)
    WHERE s.selling;
END
$$;

DROP FUNCTION buy_batch(text, uuid, uuid, text[], integer[], text[], uuid[], bytea[], bigint[],
                        text[], bytea[], timestamptz);

CREATE TYPE audit_sale AS (
    actor_sub text,
    quantity integer,
    request_id text,
    order_id uuid,
    stock_before integer
);

ALTER TABLE audit_log ADD COLUMN sales audit_sale[];
-- A batch's sales (about 20 kB for 256) are stored out of line, not compressed: pglz cost the
-- insert 2 to 4 us a sale, against about 80 bytes a sale kept uncompressed.
ALTER TABLE audit_log ALTER COLUMN sales SET STORAGE EXTERNAL;

-- The log as entries: a batch row expanded into its sales, any other row as it is. `id` orders
-- every entry (the audit API's cursor); `row_id` and `position` are the order an index gives.
-- Row-level security applies as to the table (`security_invoker`).
CREATE VIEW audit_entries WITH (security_invoker = true) AS
SELECT a.organization_id,
       a.id AS row_id,
       coalesce(s.n, 0) AS position,
       a.id * 1024 + coalesce(s.n, 0) AS id,
       coalesce(s.actor_sub, a.actor_sub) AS actor_sub,
       a.action,
       a.target,
       CASE WHEN s.n IS NULL THEN a.before
            ELSE jsonb_build_object('stock', s.stock_before) END AS before,
       CASE WHEN s.n IS NULL THEN a.after
            ELSE jsonb_build_object('stock', s.stock_before - s.quantity,
                                    'order_id', s.order_id, 'quantity', s.quantity) END AS after,
       coalesce(s.request_id, a.request_id) AS request_id,
       a.created_at
FROM audit_log a
LEFT JOIN LATERAL unnest(a.sales) WITH ORDINALITY
    AS s(actor_sub, quantity, request_id, order_id, stock_before, n) ON true;

GRANT SELECT ON audit_entries TO furnitureops_app;

-- The audit API numbers a batch's sales 1..1023 after its row's id.
ALTER TABLE audit_log ADD CONSTRAINT audit_log_sales_fit_a_page_cursor
    CHECK (cardinality(sales) BETWEEN 1 AND 1023);

CREATE FUNCTION buy_batch(claims text, org uuid, item uuid, subs text[], quantities integer[], request_ids text[], order_ids uuid[], confirmed_bodies bytea[], lock_ids bigint[], keys text[], fingerprints bytea[]) RETURNS TABLE(n integer, outcome public.purchase_outcome, available integer, response_status smallint, response_body bytea, paused_reason text, paused_until timestamp with time zone)
    LANGUAGE plpgsql
    AS $$
#variable_conflict use_column
DECLARE
    size integer := cardinality(subs);
    pause record;
    settled record;
    outcomes purchase_outcome[] := array_fill(NULL::purchase_outcome, ARRAY[size]);
    availables integer[] := array_fill(NULL::integer, ARRAY[size]);
    statuses smallint[] := array_fill(NULL::smallint, ARRAY[size]);
    bodies bytea[] := array_fill(NULL::bytea, ARRAY[size]);
    stock_left integer;
    price bigint;
    -- The stock before each confirmed order, NULL for the others.
    stock_before integer[] := array_fill(NULL::integer, ARRAY[size]);
    -- The orders whose rows are written.
    selling boolean[] := array_fill(false, ARRAY[size]);
    -- What the orders still to decide ask for together, and what was sold.
    wanted bigint;
    units integer := 0;
    -- True once the orders are written and the stock taken before the lock (see the top).
    sold_ahead boolean := false;
BEGIN
    PERFORM set_config('request.jwt.claims', claims, true);
    SELECT * INTO pause FROM sales_pause(org);
    IF FOUND THEN
        RETURN QUERY
        SELECT i, 'paused'::purchase_outcome, NULL::integer, NULL::smallint, NULL::bytea,
               pause.reason, pause.cooldown_until
        FROM generate_series(1, size) AS i;
        RETURN;
    END IF;

    FOR settled IN
        SELECT * FROM settle_purchase_keys(org, lock_ids, subs, keys, fingerprints)
    LOOP
        IF settled.state NOT IN ('none', 'fresh') THEN
            outcomes[settled.n] := settled.state::text::purchase_outcome;
            statuses[settled.n] := settled.response_status;
            bodies[settled.n] := settled.response_body;
        END IF;
    END LOOP;

    SELECT sum(u.quantity) INTO wanted
    FROM unnest(quantities, outcomes) AS u(quantity, outcome) WHERE u.outcome IS NULL;
    SELECT i.stock, i.price_cents INTO stock_left, price
    FROM inventory i WHERE i.organization_id = org AND i.id = item;
    IF wanted <= stock_left THEN
        FOR i IN 1 .. size LOOP
            selling[i] := outcomes[i] IS NULL;
        END LOOP;
        BEGIN
            PERFORM record_sales(org, item, price, selling, subs, quantities, order_ids,
                                 confirmed_bodies, lock_ids, keys, fingerprints);
            -- Waits for the row lock; then sees the stock as the last holder committed it.
            UPDATE inventory i SET stock = i.stock - wanted, updated_at = now()
            WHERE i.organization_id = org AND i.id = item
              AND i.stock >= wanted AND i.price_cents = price
            RETURNING i.stock + wanted INTO stock_left;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'stock or price changed' USING ERRCODE = 'FOB01';
            END IF;
            sold_ahead := true;
        EXCEPTION WHEN SQLSTATE 'FOB01' THEN
            -- The writes above are undone; sell one order at a time under the lock.
            sold_ahead := false;
            selling := array_fill(false, ARRAY[size]);
        END;
    END IF;
    -- (Nothing to sell when every order was answered by its key: no lock then.)
    IF NOT sold_ahead AND wanted IS NOT NULL THEN
        SELECT i.stock, i.price_cents INTO stock_left, price
        FROM inventory i WHERE i.organization_id = org AND i.id = item
        FOR UPDATE;
    END IF;

    FOR i IN 1 .. size LOOP
        CONTINUE WHEN outcomes[i] IS NOT NULL;
        IF stock_left IS NULL THEN
            outcomes[i] := 'unknown_item';
        ELSIF quantities[i] <= stock_left THEN
            outcomes[i] := 'confirmed';
            selling[i] := true;
            stock_before[i] := stock_left;
            stock_left := stock_left - quantities[i];
            units := units + quantities[i];
        ELSE
            outcomes[i] := 'out_of_stock';
            availables[i] := stock_left;
        END IF;
    END LOOP;

    IF units > 0 THEN
        IF NOT sold_ahead THEN
            PERFORM record_sales(org, item, price, selling, subs, quantities, order_ids,
                                 confirmed_bodies, lock_ids, keys, fingerprints);
            UPDATE inventory i SET stock = i.stock - units, updated_at = now()
            WHERE i.organization_id = org AND i.id = item;
        END IF;
        -- One audit row for the batch, one element per sale (see the top).
        INSERT INTO audit_log (organization_id, actor_sub, action, target, request_id, sales)
        SELECT org, 'origin', 'purchase', 'item:' || item, '',
               array_agg(ROW(s.sub, s.quantity, s.request_id, s.order_id, s.before)::audit_sale
                         ORDER BY s.n)
        FROM unnest(subs, quantities, request_ids, order_ids, stock_before) WITH ORDINALITY
            AS s(sub, quantity, request_id, order_id, before, n)
        WHERE s.before IS NOT NULL;
        -- Delivered to listeners only if this commits (see the origin's `events`).
        PERFORM pg_notify('furnitureops_stock',
                          json_build_object('org_id', org, 'item_id', item,
                                            'stock', stock_left, 'sold', units)::text);
    END IF;

    RETURN QUERY
    SELECT i, outcomes[i],
           CASE WHEN outcomes[i] = 'confirmed' THEN stock_left ELSE availables[i] END,
           statuses[i], bodies[i], NULL::text, NULL::timestamptz
    FROM generate_series(1, size) AS i;
END
$$;
