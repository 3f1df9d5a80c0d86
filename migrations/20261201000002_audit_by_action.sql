-- The admin console filters the audit log by action, newest first. Purchases are nearly every
-- row (one per unit sold), so a filter for the rarer actions (item changes, kill-switch flips)
-- would otherwise walk back through every purchase of the shop. The index leaves purchases
-- out: a sale's inserts evaluate its predicate and write nothing to it, and a filter for
-- purchases is served by the primary key, where nearly every row matches.
CREATE INDEX audit_log_by_action ON audit_log (organization_id, action, id)
    WHERE action <> 'purchase';
