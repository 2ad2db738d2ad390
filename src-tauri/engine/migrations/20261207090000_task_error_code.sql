-- The code of a failed task's error (`ErrorCode` as its JSON string: `Failed` for a runtime
-- failure such as a crashed installer or a render that failed, `InvalidManifest` for a bundle
-- that cannot be used, ...), so a client branches on it as on an API error's `porch_code`.
-- NULL while running, on success, and for tasks finished before this column existed.
ALTER TABLE tasks ADD COLUMN error_code TEXT;
