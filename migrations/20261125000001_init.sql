-- Shops, the domains they are served on, their inventory and the orders placed against it.
-- Every tenant table carries organization_id and a composite primary key (organization_id, id),
-- so a row can only ever be addressed together with its tenant.

CREATE TABLE organizations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE domains (
    host             text PRIMARY KEY CHECK (host = lower(host) AND length(host) BETWEEN 1 AND 253),
    organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX domains_organization_id_idx ON domains (organization_id);

CREATE TABLE inventory (
    organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    sku              text NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    price_cents      bigint NOT NULL CHECK (price_cents >= 0),
    stock            integer NOT NULL CHECK (stock >= 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    UNIQUE (organization_id, sku)
);

CREATE TABLE orders (
    organization_id   uuid NOT NULL,
    id                uuid NOT NULL DEFAULT gen_random_uuid(),
    item_id           uuid NOT NULL,
    customer_sub      text NOT NULL,
    quantity          integer NOT NULL CHECK (quantity > 0),
    unit_price_cents  bigint NOT NULL CHECK (unit_price_cents >= 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, item_id) REFERENCES inventory (organization_id, id)
);
CREATE INDEX orders_item_idx ON orders (organization_id, item_id);
