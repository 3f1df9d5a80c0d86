-- Tenant isolation enforced by Postgres itself.
--
-- The origin serves requests as furnitureops_app: no BYPASSRLS, owns nothing. Each request's
-- transaction sets request.jwt.claims (local to the transaction), and every tenant table lets
-- that role see and touch only rows of the organization in the claims. With no claims set, the
-- role sees nothing. Migrations keep running as the schema owner.

DO $$
BEGIN
    CREATE ROLE furnitureops_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
EXCEPTION
    -- Roles are cluster-wide: another database of this cluster may have made it already.
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

CREATE SCHEMA IF NOT EXISTS auth;

-- Supabase-compatible: the verified token's claims, or '{}' when none are set.
CREATE OR REPLACE FUNCTION auth.jwt() RETURNS jsonb
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb $$;

GRANT USAGE ON SCHEMA auth TO furnitureops_app;
GRANT EXECUTE ON FUNCTION auth.jwt() TO furnitureops_app;

ALTER TABLE inventory ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;

-- `(select ...)` makes Postgres evaluate the claim once per statement, not once per row.
CREATE POLICY tenant_isolation ON inventory TO furnitureops_app
    USING (organization_id = (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid))
    WITH CHECK (organization_id = (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid));

CREATE POLICY tenant_isolation ON orders TO furnitureops_app
    USING (organization_id = (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid))
    WITH CHECK (organization_id = (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid));

GRANT USAGE ON SCHEMA public TO furnitureops_app;
GRANT SELECT, INSERT ON inventory TO furnitureops_app;
GRANT UPDATE (name, price_cents, stock, updated_at) ON inventory TO furnitureops_app;
GRANT SELECT, INSERT ON orders TO furnitureops_app;

-- readyz compares applied migrations with the embedded ones. The table exists whenever sqlx
-- applies this file; it does not when the file is applied by hand (scripts/sqlx-prepare).
DO $$
BEGIN
    IF to_regclass('public._sqlx_migrations') IS NOT NULL THEN
        GRANT SELECT ON public._sqlx_migrations TO furnitureops_app;
    END IF;
END
$$;
