-- A purchase's key is unique by the database, not only by the origin's advisory lock: the
-- indexes the lookups use (shop, key hash) become unique. The lock still serialises a key's
-- first uses, so an honest race waits instead of failing; the index is what holds if a writer
-- ever skips the lock (a bug, a hand-written repair), and a second order under one key is
-- then refused instead of written. Two keys whose 64-bit hashes collide cannot both be kept in
-- one shop: the second purchase fails; one such pair is expected only after about four billion
-- keyed purchases of one shop. Measured in docs/operations.md ("Purchase keys"): the unique
-- index costs an insert no measurable time over the plain one (it descends the same tree).
DROP INDEX orders_by_key_hash;
CREATE UNIQUE INDEX orders_by_key_hash
    ON orders (organization_id, key_hash) WHERE key_hash IS NOT NULL;

DROP INDEX purchase_queue_by_key_hash;
CREATE UNIQUE INDEX purchase_queue_by_key_hash
    ON purchase_queue (organization_id, key_hash) WHERE key_hash IS NOT NULL;
