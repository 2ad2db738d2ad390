-- Rendered content: every render with its trigger, status and output; the one viewers see.

CREATE TABLE renders (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    content_id   INTEGER NOT NULL REFERENCES content(id) ON DELETE CASCADE,
    bundle_id    INTEGER NOT NULL,
    -- deploy | manual | schedule | watch
    trigger      TEXT NOT NULL,
    -- running | success | failed
    status       TEXT NOT NULL DEFAULT 'running',
    started_time TEXT NOT NULL,
    finished_time TEXT,
    output_size  INTEGER NOT NULL DEFAULT 0,
    error        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX renders_content ON renders(content_id, id);

ALTER TABLE content ADD COLUMN render_id INTEGER;
