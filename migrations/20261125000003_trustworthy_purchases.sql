-- Idempotency keys, the audit log and the kill switch.

-- Idempotency keys: one row per (tenant, user, key), holding the final response of the request
-- that first used the key. Range-partitioned by day so that retention is `DROP TABLE` of a whole
-- day instead of a WAL-flooding DELETE. A unique index cannot span partitions, so first uses are
-- serialised with a transaction-scoped advisory lock on the key, and lookups search every live
-- partition (a key first used at 23:59:59 is still found at 00:00:01).
CREATE TABLE idempotency_keys (
    organization_id  uuid NOT NULL,
    customer_sub     text NOT NULL,
    idempotency_key  text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    fingerprint      bytea NOT NULL,
    response_status  smallint NOT NULL,
    response_body    bytea NOT NULL,
    request_id       text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, customer_sub, idempotency_key, created_at)
) PARTITION BY RANGE (created_at);

-- Creates the daily partitions for [from_day, from_day + days). Safe to call repeatedly.
CREATE FUNCTION ensure_idempotency_partitions(from_day date, days integer) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    day date;
    created integer := 0;
    name text;
BEGIN
    FOR i IN 0 .. days - 1 LOOP
        day := from_day + i;
        name := format('idempotency_keys_p%s', to_char(day, 'YYYYMMDD'));
        IF to_regclass(name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF idempotency_keys FOR VALUES FROM (%L) TO (%L)',
                name, day::timestamptz AT TIME ZONE 'UTC', (day + 1)::timestamptz AT TIME ZONE 'UTC');
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END
$$;

-- Drops every daily partition that ends at or before `cutoff`. Returns the dropped names.
CREATE FUNCTION drop_idempotency_partitions_before(cutoff timestamptz) RETURNS SETOF text
    LANGUAGE plpgsql AS $$
DECLARE
    part record;
BEGIN
    FOR part IN
        SELECT c.relname
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'idempotency_keys'::regclass
          AND c.relname ~ '^idempotency_keys_p[0-9]{8}$'
          AND (to_date(substring(c.relname FROM '[0-9]{8}$'), 'YYYYMMDD') + 1)::timestamp
              <= cutoff AT TIME ZONE 'UTC'
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE %I', part.relname);
        RETURN NEXT part.relname;
    END LOOP;
END
$$;

-- Partitions are per UTC day; the session time zone must not shift their bounds.
ALTER FUNCTION ensure_idempotency_partitions(date, integer) SET timezone = 'UTC';
ALTER FUNCTION drop_idempotency_partitions_before(timestamptz) SET timezone = 'UTC';

SELECT ensure_idempotency_partitions((now() AT TIME ZONE 'UTC')::date - 1, 4);

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON idempotency_keys TO furnitureops_app
    USING (organization_id = (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid))
    WITH CHECK (organization_id = (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid));
GRANT SELECT, INSERT ON idempotency_keys TO furnitureops_app;

-- The audit log: append-only for the application (INSERT and SELECT, nothing else), written in
-- the same transaction as the change it records. `id` orders entries and is the paging cursor.
CREATE TABLE audit_log (
    organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    actor_sub        text NOT NULL,
    action           text NOT NULL,
    target           text NOT NULL,
    before           jsonb,
    after            jsonb,
    request_id       text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id)
);

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log TO furnitureops_app
    USING (organization_id = (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid))
    WITH CHECK (organization_id = (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid));
GRANT SELECT, INSERT ON audit_log TO furnitureops_app;

-- Kill switches: one row per tenant, plus the operators' global switch on the nil uuid, which
-- every tenant can read (it pauses everyone) but only the CLI (schema owner) can flip.
CREATE TABLE kill_switches (
    organization_id  uuid PRIMARY KEY,
    engaged          boolean NOT NULL DEFAULT false,
    reason           text,
    changed_at       timestamptz NOT NULL DEFAULT now(),
    changed_by       text NOT NULL DEFAULT 'system',
    cooldown_until   timestamptz
);

ALTER TABLE kill_switches ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_reads ON kill_switches FOR SELECT TO furnitureops_app
    USING (organization_id = (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid)
           OR organization_id = '00000000-0000-0000-0000-000000000000');
CREATE POLICY tenant_inserts ON kill_switches FOR INSERT TO furnitureops_app
    WITH CHECK (organization_id = (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid));
CREATE POLICY tenant_updates ON kill_switches FOR UPDATE TO furnitureops_app
    USING (organization_id = (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid))
    WITH CHECK (organization_id = (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid));
GRANT SELECT, INSERT, UPDATE ON kill_switches TO furnitureops_app;
