-- The item itself as a variant row, so Connect's v0 variants API (`GET
-- /applications/{guid}/variants`, `POST /variants/{id}/render`, what posit-sdk's
-- `content.render()` calls) can name it with an id from the same id space as the named
-- variants. The row is made on first use; it has the empty name (which named variants may
-- not take), holds no parameters and is never listed by `/v1/content/{guid}/variants`.
-- Renders of the default variant keep `variant_id` NULL, as before.
ALTER TABLE variants ADD COLUMN is_default INTEGER NOT NULL DEFAULT 0;
