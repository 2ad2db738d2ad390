-- Variants of rendered content: named parameter sets that render and schedule independently.
-- The item's own render (content.render_id) is the default variant; renders and schedules
-- with a variant_id belong to that variant instead.

CREATE TABLE variants (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    content_id   INTEGER NOT NULL REFERENCES content(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    -- The parameters, a JSON object (Quarto -P, papermill-style notebook parameters,
    -- R Markdown params).
    parameters   TEXT NOT NULL DEFAULT '{}',
    -- The render viewers of this variant see.
    render_id    INTEGER,
    created_time TEXT NOT NULL,
    updated_time TEXT NOT NULL,
    UNIQUE (content_id, name)
);

ALTER TABLE renders ADD COLUMN variant_id INTEGER;
ALTER TABLE schedules ADD COLUMN variant_id INTEGER;
CREATE INDEX renders_variant ON renders(variant_id, id);
