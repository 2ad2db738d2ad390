-- Identical page views (same item, device, bundle, variant, render and path) that arrive in
-- one write batch (about a second) are stored as one row with their number: a client
-- reloading a page thousands of times a second costs one row a second, not thousands.
-- `started` is the first of them, `ended` the last; every count sums `hits`.
ALTER TABLE usage_events ADD COLUMN hits INTEGER NOT NULL DEFAULT 1;
