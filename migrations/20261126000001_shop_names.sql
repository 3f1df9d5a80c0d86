-- Storefronts greet shoppers with their shop's name (`GET /api/shop`), read as the application
-- role like the rest of a shop's public data. Row-level security lets that role see only the
-- organization in the request's claims, and only its id and name.
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON organizations TO furnitureops_app
    USING (id = (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid));

GRANT SELECT (id, name) ON organizations TO furnitureops_app;
