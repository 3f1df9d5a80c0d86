-- A batch of buys of one item in one call.
--
-- A batch used to be eight statements (begin, claims, kill switch, key locks, key lookup, item
-- lock, writes, commit), each a round trip; for a lone buyer that was most of the time spent,
-- and under load the item's row lock was held across all of them. These functions run the same
-- steps inside the database, as the calling role, so row-level security applies exactly as
-- before. A single `SELECT ... FROM buy_batch(...)` is a transaction of its own.

-- The switch that stops `org`'s sales now, if any; the global switch wins over the shop's.
CREATE FUNCTION sales_pause(org uuid)
    RETURNS TABLE (reason text, cooldown_until timestamptz)
    LANGUAGE sql STABLE AS $$
    SELECT k.reason, k.cooldown_until FROM kill_switches k
    WHERE k.organization_id IN (org, '00000000-0000-0000-0000-000000000000') AND k.engaged
    ORDER BY k.organization_id = '00000000-0000-0000-0000-000000000000' DESC
    LIMIT 1
$$;

-- Settles idempotency keys before anything is sold: takes each key's advisory lock without
-- waiting, then (in a later statement, so it sees whatever the previous holder committed)
-- reads what the key already holds. One row per position `n` of the arrays, whose state is
-- 'none' (no key), 'in_flight' (another request holds the key), 'fresh', 'replay' (with the
-- stored answer) or 'reused' (the key answered another request). A NULL key means "no key".
-- Each key is one primary-key probe per live partition, whatever the statistics say: the
-- `LIMIT 1` keeps the lookup a nested loop, and with sequential scans off the planner cannot
-- pick one for a day's partition that looked empty when the plan was made (a new day's
-- partition has no statistics until autovacuum analyzes it, while it fills at flash-sale
-- speed). The plan is made once per session: planning the lookup across the daily partitions
-- costs more than running it.
CREATE FUNCTION settle_idempotency_keys(
    org uuid, lock_ids bigint[], subs text[], keys text[], fingerprints bytea[], since timestamptz)
    RETURNS TABLE (n integer, state text, response_status smallint, response_body bytea)
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
                WHEN NOT locked[k.i::integer] THEN 'in_flight'
                WHEN s.fingerprint IS NULL THEN 'fresh'
                WHEN s.fingerprint = k.fingerprint THEN 'replay'
                ELSE 'reused' END,
           CASE WHEN s.fingerprint = k.fingerprint THEN s.response_status END,
           CASE WHEN s.fingerprint = k.fingerprint THEN s.response_body END
    FROM unnest(subs, keys, fingerprints) WITH ORDINALITY AS k(sub, key, fingerprint, i)
    LEFT JOIN LATERAL (
        SELECT c.fingerprint, c.response_status, c.response_body FROM idempotency_keys c
        WHERE c.organization_id = org AND c.created_at >= since
          AND c.customer_sub = k.sub AND c.idempotency_key = k.key
        LIMIT 1
    ) AS s ON locked[k.i::integer]
    ORDER BY k.i;
END
$$;

-- Buys `item` for a batch of orders (the arrays, one position per order, in arrival order):
-- settles their keys, locks the item row once, fills the orders first come first served (an
-- order that does not fit is refused and later ones may still be filled), then writes the
-- stock, every order, audit row and idempotency record (the confirmed answer the caller built,
-- `confirmed_bodies`) and the stock event in one statement. Refusals write nothing. Returns one
-- row per order: outcome 'confirmed', 'out_of_stock' (with `available`), 'unknown_item',
-- 'paused' (with the switch's reason and cooldown), or a key state from
-- `settle_idempotency_keys` ('in_flight', 'replay' with the stored answer, 'reused').
CREATE FUNCTION buy_batch(
    claims text, org uuid, item uuid,
    subs text[], quantities integer[], request_ids text[], order_ids uuid[],
    confirmed_bodies bytea[], lock_ids bigint[], keys text[], fingerprints bytea[],
    keys_since timestamptz)
    RETURNS TABLE (n integer, outcome text, available integer, response_status smallint,
                   response_body bytea, paused_reason text, paused_until timestamptz)
    LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    size integer := cardinality(subs);
    pause record;
    settled record;
    outcomes text[] := array_fill(NULL::text, ARRAY[size]);
    availables integer[] := array_fill(NULL::integer, ARRAY[size]);
    statuses smallint[] := array_fill(NULL::smallint, ARRAY[size]);
    bodies bytea[] := array_fill(NULL::bytea, ARRAY[size]);
    stock_left integer;
    price bigint;
    -- The stock before each confirmed order, NULL for the others.
    stock_before integer[] := array_fill(NULL::integer, ARRAY[size]);
    units integer := 0;
    announced text;
BEGIN
    PERFORM set_config('request.jwt.claims', claims, true);
    SELECT * INTO pause FROM sales_pause(org);
    IF FOUND THEN
        RETURN QUERY
        SELECT i, 'paused', NULL::integer, NULL::smallint, NULL::bytea,
               pause.reason, pause.cooldown_until
        FROM generate_series(1, size) AS i;
        RETURN;
    END IF;

    FOR settled IN
        SELECT * FROM settle_idempotency_keys(org, lock_ids, subs, keys, fingerprints, keys_since)
    LOOP
        IF settled.state NOT IN ('none', 'fresh') THEN
            outcomes[settled.n] := settled.state;
            statuses[settled.n] := settled.response_status;
            bodies[settled.n] := settled.response_body;
        END IF;
    END LOOP;

    SELECT i.stock, i.price_cents INTO stock_left, price
    FROM inventory i WHERE i.organization_id = org AND i.id = item
    FOR UPDATE;
    FOR i IN 1 .. size LOOP
        CONTINUE WHEN outcomes[i] IS NOT NULL;
        IF stock_left IS NULL THEN
            outcomes[i] := 'unknown_item';
        ELSIF quantities[i] <= stock_left THEN
            outcomes[i] := 'confirmed';
            stock_before[i] := stock_left;
            stock_left := stock_left - quantities[i];
            units := units + quantities[i];
        ELSE
            outcomes[i] := 'out_of_stock';
            availables[i] := stock_left;
        END IF;
    END LOOP;

    IF units > 0 THEN
        -- Every array read once, in step (`unnest`), so the cost stays linear in the batch.
        WITH sold_stock AS (
            UPDATE inventory SET stock = stock - units, updated_at = now()
            WHERE organization_id = org AND id = item
            RETURNING stock
        ), sale AS (
            SELECT * FROM unnest(subs, quantities, request_ids, order_ids, confirmed_bodies,
                                 keys, fingerprints, stock_before)
                AS s(sub, quantity, request_id, order_id, body, key, fingerprint, before)
            WHERE s.before IS NOT NULL
        ), placed AS (
            INSERT INTO orders (organization_id, id, item_id, customer_sub, quantity, unit_price_cents)
            SELECT org, s.order_id, item, s.sub, s.quantity, price FROM sale s
        ), audited AS (
            INSERT INTO audit_log (organization_id, actor_sub, action, target, before, after, request_id)
            SELECT org, s.sub, 'purchase', 'item:' || item,
                   jsonb_build_object('stock', s.before),
                   jsonb_build_object('stock', s.before - s.quantity,
                                      'order_id', s.order_id, 'quantity', s.quantity),
                   s.request_id
            FROM sale s
        ), remembered AS (
            INSERT INTO idempotency_keys
                (organization_id, customer_sub, idempotency_key, fingerprint,
                 response_status, response_body, request_id)
            SELECT org, s.sub, s.key, s.fingerprint, 201, s.body, s.request_id
            FROM sale s
            WHERE s.key IS NOT NULL
        )
        -- Delivered to listeners only if this commits (see the origin's `events`).
        SELECT pg_notify('furnitureops_stock',
                         json_build_object('org_id', org, 'item_id', item, 'stock', stock)::text)
        INTO announced
        FROM sold_stock;
    END IF;

    RETURN QUERY
    SELECT i, outcomes[i], availables[i], statuses[i], bodies[i], NULL::text, NULL::timestamptz
    FROM generate_series(1, size) AS i;
END
$$;
