-- Per-item memory ceiling for interactive workers, in bytes (Connect's `memory_limit`).
-- NULL = the server default (`porch serve --app-memory-limit`); 0 = no limit.
ALTER TABLE content ADD COLUMN memory_limit INTEGER;
