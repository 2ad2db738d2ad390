-- Per-item memory ceiling for interactive workers, in bytes (Connect's `memory_limit`).
-- NULL = the server default (`porch serve --app-memory-limit`); 0 = no limit.
ALTER TABLE content ADD COLUMN memory_limit INTEGER;
-- Largest bundle upload for this item, in bytes; NULL = `porch serve --max-bundle-bytes`.
ALTER TABLE content ADD COLUMN max_bundle_bytes INTEGER;
-- Longest render of this item, in seconds; NULL = `porch serve --render-timeout`.
ALTER TABLE content ADD COLUMN render_timeout INTEGER;
