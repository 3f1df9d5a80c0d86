-- Custom domains an owner claims and proves, instead of an operator adding them.
--
-- A claim is a row of `domains` in status `pending` until its checks pass. Several shops may
-- hold unverified claims of one hostname (a squatter's claim must not block the real owner);
-- only one may have it active, which the partial unique index guarantees. Rows that were there
-- before (added by `origin tenant add`) stay active, and each shop's oldest is its primary.
--
-- The owner reads and writes its shop's rows under row-level security like every tenant table.
-- What crosses shops goes through two narrow SECURITY DEFINER functions: the edge's lookup of
-- one hostname, and the facts a claim needs about other shops (is it live there, was it lately).

CREATE TYPE domain_status AS ENUM ('pending', 'active', 'failed');

ALTER TABLE domains
    ADD COLUMN status             domain_status NOT NULL DEFAULT 'active',
    ADD COLUMN is_primary         boolean NOT NULL DEFAULT false,
    -- The HTTP challenge: the edge answers `{CHALLENGE_PREFIX}{http_token}` with `http_body`.
    ADD COLUMN http_token         text CHECK (length(http_token) BETWEEN 16 AND 128),
    ADD COLUMN http_body          text CHECK (length(http_body) BETWEEN 16 AND 256),
    -- The TXT record `_furnitureops.{host}` must hold this when `txt_required`.
    ADD COLUMN txt_value          text CHECK (length(txt_value) BETWEEN 16 AND 256),
    ADD COLUMN txt_required       boolean NOT NULL DEFAULT false,
    -- An unverified claim lapses then; NULL for active rows.
    ADD COLUMN expires_at         timestamptz,
    ADD COLUMN last_checked_at    timestamptz,
    ADD COLUMN reason             text CHECK (length(reason) <= 500),
    -- Cloudflare for SaaS: the custom hostname's id, and its hostname and certificate status.
    ADD COLUMN cloudflare_id      text CHECK (length(cloudflare_id) <= 64),
    ADD COLUMN hostname_status    text CHECK (length(hostname_status) <= 64),
    ADD COLUMN certificate_status text CHECK (length(certificate_status) <= 64),
    ADD CONSTRAINT domains_primary_is_active CHECK (NOT is_primary OR status = 'active'),
    ADD CONSTRAINT domains_claims_carry_challenges CHECK (
        status = 'active'
        OR (http_token IS NOT NULL AND http_body IS NOT NULL AND txt_value IS NOT NULL
            AND expires_at IS NOT NULL));

UPDATE domains SET is_primary = true
 WHERE (organization_id, host) IN (
     SELECT DISTINCT ON (organization_id) organization_id, host
       FROM domains ORDER BY organization_id, created_at, host);

-- A hostname is claimed once per shop, and live for one shop at most.
ALTER TABLE domains DROP CONSTRAINT domains_pkey;
ALTER TABLE domains ADD PRIMARY KEY (organization_id, host);
DROP INDEX domains_organization_id_idx;
CREATE UNIQUE INDEX domains_live_host_idx ON domains (host) WHERE status = 'active';
CREATE INDEX domains_host_idx ON domains (host);
CREATE UNIQUE INDEX domains_one_primary_idx ON domains (organization_id) WHERE is_primary;

-- Hostnames that were live, and until when: a hostname live for another shop in the last 30
-- days needs the TXT proof, so a dangling CNAME left by a former shop cannot be taken over.
CREATE TABLE domain_history (
    host             text NOT NULL,
    organization_id  uuid NOT NULL,
    active_until     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (host, active_until, organization_id)
);

CREATE FUNCTION record_domain_history() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF OLD.status = 'active' AND (TG_OP = 'DELETE' OR NEW.status <> 'active') THEN
        INSERT INTO domain_history (host, organization_id) VALUES (OLD.host, OLD.organization_id)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER domains_record_history AFTER UPDATE OF status OR DELETE ON domains
    FOR EACH ROW EXECUTE FUNCTION record_domain_history();

ALTER TABLE domains ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON domains TO furnitureops_app
    USING (organization_id = (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid))
    WITH CHECK (organization_id = (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid)
                AND organization_id <> '00000000-0000-0000-0000-000000000000');

GRANT SELECT, INSERT, DELETE ON domains TO furnitureops_app;
GRANT UPDATE (status, is_primary, http_token, http_body, txt_value, txt_required, expires_at,
              last_checked_at, reason, cloudflare_id, hostname_status, certificate_status)
    ON domains TO furnitureops_app;

-- What the edge learns of one hostname: the shop it serves (active only) with the shop's
-- primary hostname when that is another, and the HTTP challenges of unverified, unexpired
-- claims. Read across shops on purpose; it reveals nothing a request to the hostname would not.
CREATE FUNCTION edge_host_lookup(wanted text)
    RETURNS TABLE (organization_id uuid, primary_host text, http_token text, http_body text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT d.organization_id,
           (SELECT p.host FROM domains p
             WHERE p.organization_id = d.organization_id AND p.is_primary AND p.host <> d.host),
           NULL, NULL
      FROM domains d
     WHERE d.host = wanted AND d.status = 'active'
    UNION ALL
    SELECT NULL, NULL, d.http_token, d.http_body
      FROM domains d
     WHERE d.host = wanted AND d.status <> 'active' AND d.expires_at > now()
$$;

-- What a claim by the calling shop (its claims' org id) must know of other shops' use of
-- `wanted`: whether it is live for another shop now, and whether it was in the last 30 days.
CREATE FUNCTION domain_claim_facts(wanted text)
    RETURNS TABLE (live_elsewhere boolean, lately_elsewhere boolean)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH caller AS (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid AS org_id)
    SELECT EXISTS (SELECT 1 FROM domains d, caller c
                    WHERE d.host = wanted AND d.status = 'active'
                      AND d.organization_id IS DISTINCT FROM c.org_id),
           EXISTS (SELECT 1 FROM domain_history h, caller c
                    WHERE h.host = wanted AND h.organization_id IS DISTINCT FROM c.org_id
                      AND h.active_until > now() - interval '30 days')
      FROM caller
$$;

REVOKE ALL ON FUNCTION edge_host_lookup(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION domain_claim_facts(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION record_domain_history() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION edge_host_lookup(text) TO furnitureops_app;
GRANT EXECUTE ON FUNCTION domain_claim_facts(text) TO furnitureops_app;
