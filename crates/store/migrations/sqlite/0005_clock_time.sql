-- A test clock's time as a column: clock writes only move it forward, and status filters read
-- each clock intent's own time.

ALTER TABLE test_clocks ADD COLUMN frozen_time INTEGER NOT NULL DEFAULT 0;
UPDATE test_clocks SET frozen_time = json_extract(doc, '$.frozen_time');
