--@postgres
-- A box's end of its part held until the part holds every match it counts (PostgreSQL; the twin
-- is migrations/sqlite/0011_search_finish_held.sql). Relays sharing the boxes' messages
--@sqlite
-- A box's end of its part held until the part holds every match it counts (SQLite; the twin
-- is migrations/postgres/0011_search_finish_held.sql). Relays sharing the boxes' messages
--@end
-- (the broker's shared subscription) may apply a box's `finished` event before a match it
-- sent earlier: the event is kept here with the number of results it counts, and applied
-- in the transaction that stores the last of them (docs/ops/scale.md).
ALTER TABLE search_boxes ADD COLUMN finish_results BIGINT;
ALTER TABLE search_boxes ADD COLUMN finish_event TEXT;
