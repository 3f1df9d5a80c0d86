-- The nil uuid keys the operators' global kill switch, which only the CLI (schema owner) may
-- flip. The tenant policies let a session whose claims name the nil uuid as its shop write that
-- row as if it were its own; the HTTP layer refuses such claims, and now so does the database.
DROP POLICY tenant_inserts ON kill_switches;
DROP POLICY tenant_updates ON kill_switches;
CREATE POLICY tenant_inserts ON kill_switches FOR INSERT TO furnitureops_app
    WITH CHECK (organization_id = (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid)
                AND organization_id <> '00000000-0000-0000-0000-000000000000');
CREATE POLICY tenant_updates ON kill_switches FOR UPDATE TO furnitureops_app
    USING (organization_id = (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid)
           AND organization_id <> '00000000-0000-0000-0000-000000000000')
    WITH CHECK (organization_id = (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid)
                AND organization_id <> '00000000-0000-0000-0000-000000000000');
