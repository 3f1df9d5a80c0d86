-- Claiming walks the pending index in queue order and stops after `batch_size` rows.
--
-- The first version checked the kill switches with a per-row anti-join, which let the planner
-- fetch every pending row, join and sort them before taking the first few: 44 ms per claim with
-- 40,000 purchases waiting. Reading the engaged switches once, up front, leaves an ordered
-- index scan that stops at the limit whatever the queue's length.
CREATE OR REPLACE FUNCTION claim_purchases(batch_size integer)
    RETURNS TABLE (organization_id uuid, id uuid, customer_sub text, item_id uuid,
                   quantity integer, request_id text)
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT q.organization_id, q.id, q.customer_sub, q.item_id, q.quantity, q.request_id
    FROM purchase_queue q
    WHERE q.status = 'pending'
      AND q.organization_id <> ALL (ARRAY(SELECT k.organization_id FROM kill_switches k WHERE k.engaged))
      AND NOT EXISTS (
          SELECT 1 FROM kill_switches g
          WHERE g.engaged AND g.organization_id = '00000000-0000-0000-0000-000000000000')
    ORDER BY q.seq
    LIMIT batch_size
    FOR UPDATE OF q SKIP LOCKED
$$;
