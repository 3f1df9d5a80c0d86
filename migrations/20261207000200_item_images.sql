-- Product pictures. The bytes live in the edge's R2 bucket under `object_key`
-- ({org_id}/{sha256}.{ext}); this table keeps what the shop says about them (the item, the
-- order, the alt text) and what the edge read from them (type, size, dimensions). Deleting an
-- item deletes its pictures' rows; the edge's sweep then deletes the objects no row names.
-- A row with `size_of` is another size of that picture (the console uploads three widths):
-- it goes with its picture, which alone has a place in the item's order.
CREATE TABLE item_images (
    organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    item_id          uuid NOT NULL,
    position         integer NOT NULL CHECK (position >= 0),
    alt              text NOT NULL CHECK (length(alt) BETWEEN 1 AND 300),
    width            integer NOT NULL CHECK (width BETWEEN 1 AND 8192),
    height           integer NOT NULL CHECK (height BETWEEN 1 AND 8192),
    bytes            bigint NOT NULL CHECK (bytes BETWEEN 1 AND 10485760),
    content_type     text NOT NULL
        CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp', 'image/avif')),
    object_key       text NOT NULL CHECK (starts_with(object_key, organization_id::text || '/')),
    size_of          uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, item_id) REFERENCES inventory (organization_id, id)
        ON DELETE CASCADE,
    FOREIGN KEY (organization_id, size_of) REFERENCES item_images (organization_id, id)
        ON DELETE CASCADE
);

-- An item's pictures in order; and the sweep's question, which keys rows still name.
CREATE INDEX item_images_by_item ON item_images (organization_id, item_id, position, id);
CREATE INDEX item_images_by_key ON item_images (organization_id, object_key);
CREATE INDEX item_images_by_picture ON item_images (organization_id, size_of)
    WHERE size_of IS NOT NULL;

ALTER TABLE item_images ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON item_images TO furnitureops_app
    USING (organization_id = (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid))
    WITH CHECK (organization_id = (SELECT (auth.jwt() -> 'app_metadata' ->> 'org_id')::uuid));

GRANT SELECT, INSERT, DELETE ON item_images TO furnitureops_app;
GRANT UPDATE (position) ON item_images TO furnitureops_app;
