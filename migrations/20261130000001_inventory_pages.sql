-- Inventory is listed a page at a time in (name, id) order, resuming after the last item seen:
-- this index serves each page as one range scan, whatever the page's position.
CREATE INDEX inventory_by_name ON inventory (organization_id, name, id);
