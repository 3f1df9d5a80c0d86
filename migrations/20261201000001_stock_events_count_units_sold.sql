-- A batch's stock notification says how many units it sold.
--
-- The admin console's live sale view counts units sold per second from the notifications every
-- origin process already receives (one per committed batch, not per purchase). The stock level
-- alone cannot say it: a restock or an edit changes the level too, and a process that starts
-- listening has no level to subtract from. `buy_batch` is otherwise unchanged from the
-- migration `overlapping_batches_of_an_item`: same arguments, same result, same locks.

CREATE OR REPLACE FUNCTION buy_batch(
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
