-- One shop cannot stall the purchase queue for the others.
--
-- Claims used to walk every pending purchase in queue order: a shop with a long backlog held
-- every other shop's buys behind its own, and while it was paused each claim stepped over its
-- whole backlog again (the rows stay pending), which costs more the longer the pause lasts.
-- Now each shop's backlog is counted in `purchase_queue_backlog` (kept exact by the same
-- transactions that queue and decide purchases), which lets enqueueing refuse buys past a cap
-- per shop, and lets a claim pick the shops that have work and are not paused, share the batch
-- between them, and read each one's oldest rows through an index of its own. A paused shop's
-- rows are never read, however many there are.
CREATE TABLE purchase_queue_backlog (
    organization_id uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    pending         integer NOT NULL DEFAULT 0 CHECK (pending >= 0)
);
INSERT INTO purchase_queue_backlog (organization_id, pending)
SELECT q.organization_id, count(*) FROM purchase_queue q WHERE q.status = 'pending'
GROUP BY q.organization_id;

ALTER TABLE purchase_queue_backlog ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON purchase_queue_backlog TO furnitureops_app
    USING (organization_id = (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid))
    WITH CHECK (organization_id = (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid));
GRANT SELECT, INSERT ON purchase_queue_backlog TO furnitureops_app;
GRANT UPDATE (pending) ON purchase_queue_backlog TO furnitureops_app;

-- Each shop's pending purchases in queue order.
CREATE INDEX purchase_queue_shop_pending_idx ON purchase_queue (organization_id, seq)
    WHERE status = 'pending';
DROP INDEX purchase_queue_pending_idx;

-- Claims up to `batch_size` pending purchases, shared fairly between the shops that have some
-- and whose sales are not paused: at most `batch_size` such shops, picked at random when there
-- are more; the shops with the fewest waiting first, each taking its share of what is left
-- (what a small backlog does not use goes to the larger ones), oldest first within a shop.
CREATE OR REPLACE FUNCTION claim_purchases(batch_size integer)
    RETURNS TABLE (organization_id uuid, id uuid, customer_sub text, item_id uuid,
                   quantity integer, request_id text)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
#variable_conflict use_column
DECLARE
    shops uuid[];
    waiting integer[];
    shop_count integer;
    still_wanted integer := batch_size;
    taken integer;
BEGIN
    IF EXISTS (SELECT 1 FROM kill_switches g
               WHERE g.engaged AND g.organization_id = '00000000-0000-0000-0000-000000000000') THEN
        RETURN;
    END IF;
    SELECT array_agg(w.organization_id ORDER BY w.pending), array_agg(w.pending ORDER BY w.pending)
    INTO shops, waiting
    FROM (
        SELECT b.organization_id, b.pending FROM purchase_queue_backlog b
        WHERE b.pending > 0
          AND b.organization_id <> ALL (ARRAY(
              SELECT k.organization_id FROM kill_switches k WHERE k.engaged))
        ORDER BY random()
        LIMIT batch_size
    ) w;
    shop_count := coalesce(cardinality(shops), 0);
    FOR i IN 1 .. shop_count LOOP
        RETURN QUERY
        SELECT q.organization_id, q.id, q.customer_sub, q.item_id, q.quantity, q.request_id
        FROM purchase_queue q
        WHERE q.organization_id = shops[i] AND q.status = 'pending'
        ORDER BY q.seq
        LIMIT greatest(1, least(waiting[i], still_wanted / (shop_count - i + 1)))
        FOR UPDATE OF q SKIP LOCKED;
        GET DIAGNOSTICS taken = ROW_COUNT;
        still_wanted := still_wanted - taken;
        EXIT WHEN still_wanted <= 0;
    END LOOP;
END
$$;

-- How many purchases wait, and since when: from the backlog counts and each shop's oldest row.
CREATE OR REPLACE FUNCTION purchase_queue_depth(OUT pending bigint, OUT oldest timestamptz)
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT coalesce(sum(b.pending), 0)::bigint, min(o.enqueued_at)
    FROM purchase_queue_backlog b
    CROSS JOIN LATERAL (
        SELECT q.enqueued_at FROM purchase_queue q
        WHERE q.organization_id = b.organization_id AND q.status = 'pending'
        ORDER BY q.seq LIMIT 1
    ) o
    WHERE b.pending > 0
$$;
