-- Admins may remove their shop's items (`DELETE /api/admin/items/{item_id}`). Row-level
-- security's tenant policy already scopes a delete to the token's shop; the item's pictures
-- go with it (`item_images` references it `ON DELETE CASCADE`) and their objects with the edge's
-- next sweep. An item with orders stays: the trigger `items_with_orders_stay` refuses its
-- delete, and the origin answers 409.
GRANT DELETE ON inventory TO furnitureops_app;
