-- Porch's state: content items, their immutable bundles, deploy tasks with logs, API keys.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE content (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    guid               TEXT NOT NULL UNIQUE,
    name               TEXT NOT NULL UNIQUE,
    title              TEXT,
    description        TEXT NOT NULL DEFAULT '',
    app_mode           TEXT NOT NULL DEFAULT 'unknown',
    content_category   TEXT NOT NULL DEFAULT '',
    entrypoint         TEXT,
    primary_html       TEXT,
    access_type        TEXT NOT NULL DEFAULT 'all',
    vanity_path        TEXT UNIQUE,
    bundle_id          INTEGER,
    created_time       TEXT NOT NULL,
    updated_time       TEXT NOT NULL,
    last_deployed_time TEXT
);

CREATE TABLE bundles (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    content_id   INTEGER NOT NULL REFERENCES content(id) ON DELETE CASCADE,
    size         INTEGER NOT NULL,
    file_count   INTEGER NOT NULL,
    created_time TEXT NOT NULL,
    -- The manifest as shipped, or as inferred when the bundle had none.
    manifest     TEXT,
    -- uploaded | active | inactive | failed
    state        TEXT NOT NULL DEFAULT 'uploaded',
    metadata     TEXT
);
CREATE INDEX bundles_content ON bundles(content_id);

CREATE TABLE tasks (
    id           TEXT PRIMARY KEY NOT NULL,
    content_id   INTEGER REFERENCES content(id) ON DELETE SET NULL,
    bundle_id    INTEGER,
    kind         TEXT NOT NULL,
    finished     INTEGER NOT NULL DEFAULT 0,
    code         INTEGER NOT NULL DEFAULT 0,
    error        TEXT NOT NULL DEFAULT '',
    created_time TEXT NOT NULL,
    finished_time TEXT
);

CREATE TABLE task_lines (
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    idx     INTEGER NOT NULL,
    line    TEXT NOT NULL,
    PRIMARY KEY (task_id, idx)
);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    -- SHA-256 of the key, hex. The key itself is shown once and never stored.
    key_hash     TEXT NOT NULL UNIQUE,
    created_time TEXT NOT NULL,
    last_used_time TEXT
);
