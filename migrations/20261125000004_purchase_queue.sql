-- The durable purchase queue for `Prefer: respond-async` buys.
--
-- A buy is stored here in the request's transaction and answered 202. Workers claim pending rows
-- with FOR UPDATE SKIP LOCKED and apply them in the same transaction that records the outcome,
-- so a worker that dies mid-batch rolls back and another worker takes the rows: no purchase is
-- lost or applied twice.
CREATE TABLE purchase_queue (
    organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id               uuid NOT NULL,
    seq              bigint GENERATED ALWAYS AS IDENTITY,
    customer_sub     text NOT NULL,
    item_id          uuid NOT NULL,
    quantity         integer NOT NULL CHECK (quantity > 0),
    request_id       text NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'confirmed', 'rejected')),
    order_id         uuid,
    reason           text,
    enqueued_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    decided_at       timestamptz,
    PRIMARY KEY (organization_id, id)
);
-- Workers scan only what is still pending, oldest first.
CREATE INDEX purchase_queue_pending_idx ON purchase_queue (seq) WHERE status = 'pending';

ALTER TABLE purchase_queue ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON purchase_queue TO furnitureops_app
    USING (organization_id = (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid))
    WITH CHECK (organization_id = (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid));
GRANT SELECT, INSERT ON purchase_queue TO furnitureops_app;
GRANT UPDATE (status, order_id, reason, decided_at) ON purchase_queue TO furnitureops_app;

-- Workers serve every tenant, so claiming looks across tenants: this function (owned by the
-- schema owner) is the one narrow door through row-level security. It locks the rows it
-- returns; everything done with them afterwards runs under each tenant's own claims. Tenants
-- whose sales are paused (or all, under the global switch) are left waiting.
CREATE FUNCTION claim_purchases(batch_size integer)
    RETURNS TABLE (organization_id uuid, id uuid, customer_sub text, item_id uuid,
                   quantity integer, request_id text)
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT q.organization_id, q.id, q.customer_sub, q.item_id, q.quantity, q.request_id
    FROM purchase_queue q
    WHERE q.status = 'pending'
      AND NOT EXISTS (
          SELECT 1 FROM kill_switches k
          WHERE k.engaged
            AND k.organization_id IN (q.organization_id, '00000000-0000-0000-0000-000000000000'))
    ORDER BY q.seq
    LIMIT batch_size
    FOR UPDATE OF q SKIP LOCKED
$$;
REVOKE ALL ON FUNCTION claim_purchases(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION claim_purchases(integer) TO furnitureops_app;

-- How many purchases wait, and since when (for metrics and the drain benchmark).
CREATE FUNCTION purchase_queue_depth(OUT pending bigint, OUT oldest timestamptz)
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT count(*), min(enqueued_at) FROM purchase_queue WHERE status = 'pending'
$$;
REVOKE ALL ON FUNCTION purchase_queue_depth() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purchase_queue_depth() TO furnitureops_app;
