-- Purchase outcomes and idempotency key states are Postgres enums, not free text.
--
-- `buy_batch` answered each order with a word (`confirmed`, `out_of_stock`, ...) and
-- `settle_idempotency_keys` each key with another, as `text`: a misspelt word in either the SQL
-- or the origin compiled and ran, and fell through to the origin's catch-all. Now the words are
-- the values of `purchase_outcome` and `idempotency_key_state`; the origin maps both with
-- `sqlx::Type`, so a word the other side does not know fails to decode instead of meaning
-- "in flight". The bodies are otherwise unchanged (same arguments, locks and writes). A
-- function's result type cannot be replaced in place, hence the drops.
--
-- Rollout: an origin of the previous release decodes these columns as text and fails on the
-- enums, so migrate with `origin migrate` and roll the origins right after, as one step.

CREATE TYPE idempotency_key_state AS ENUM ('none', 'fresh', 'in_flight', 'replay', 'reused');

-- What became of one order of a batch: sold, refused (stock, item, kill switch), or answered by
-- its idempotency key (`replay`, `reused`, `in_flight`).
CREATE TYPE purchase_outcome AS ENUM (
    'confirmed', 'out_of_stock', 'unknown_item', 'paused', 'replay', 'reused', 'in_flight');

DROP FUNCTION buy_batch(text, uuid, uuid, text[], integer[], text[], uuid[], bytea[], bigint[],
                        text[], bytea[], timestamptz);
DROP FUNCTION settle_idempotency_keys(uuid, bigint[], text[], text[], bytea[], timestamptz);

CREATE FUNCTION settle_idempotency_keys(
    org uuid, lock_ids bigint[], subs text[], keys text[], fingerprints bytea[], since timestamptz)
    RETURNS TABLE (n integer, state idempotency_key_state, response_status smallint, response_body bytea)
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
    RETURN QUERY
    SELECT k.i::integer,
           CASE WHEN k.key IS NULL THEN 'none'
                WHEN s.fingerprint IS NULL AND locked[k.i::integer] THEN 'fresh'
                WHEN s.fingerprint IS NULL THEN 'in_flight'
                WHEN s.fingerprint = k.fingerprint THEN 'replay'
                ELSE 'reused' END::idempotency_key_state,
           CASE WHEN s.fingerprint = k.fingerprint THEN s.response_status END,
           CASE WHEN s.fingerprint = k.fingerprint THEN s.response_body END
    FROM unnest(subs, keys, fingerprints) WITH ORDINALITY AS k(sub, key, fingerprint, i)
    LEFT JOIN LATERAL (
        SELECT c.fingerprint, c.response_status, c.response_body FROM idempotency_keys c
        WHERE c.organization_id = org AND c.created_at >= since
          AND c.created_at < now() + interval '1 hour'
          AND c.customer_sub = k.sub AND c.idempotency_key = k.key
        LIMIT 1
    ) AS s ON k.key IS NOT NULL
    ORDER BY k.i;
END
$$;

CREATE FUNCTION buy_batch(
    claims text, org uuid, item uuid,
    subs text[], quantities integer[], request_ids text[], order_ids uuid[],
    confirmed_bodies bytea[], lock_ids bigint[], keys text[], fingerprints bytea[],
    keys_since timestamptz)
    RETURNS TABLE (n integer, outcome purchase_outcome, available integer, response_status smallint,
                   response_body bytea, paused_reason text, paused_until timestamptz)
    LANGUAGE plpgsql AS $$
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
        SELECT * FROM settle_idempotency_keys(org, lock_ids, subs, keys, fingerprints, keys_since)
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
            PERFORM record_sales(org, item, price, selling,
                                 subs, quantities, request_ids, order_ids, confirmed_bodies,
                                 keys, fingerprints);
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
            PERFORM record_sales(org, item, price, selling,
                                 subs, quantities, request_ids, order_ids, confirmed_bodies,
                                 keys, fingerprints);
            UPDATE inventory i SET stock = i.stock - units, updated_at = now()
            WHERE i.organization_id = org AND i.id = item;
        END IF;
        INSERT INTO audit_log (organization_id, actor_sub, action, target, before, after, request_id)
        SELECT org, s.sub, 'purchase', 'item:' || item,
               jsonb_build_object('stock', s.before),
               jsonb_build_object('stock', s.before - s.quantity,
                                  'order_id', s.order_id, 'quantity', s.quantity),
               s.request_id
        FROM unnest(subs, quantities, request_ids, order_ids, stock_before)
            AS s(sub, quantity, request_id, order_id, before)
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
