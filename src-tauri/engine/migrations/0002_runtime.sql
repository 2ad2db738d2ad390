-- Interactive content: Connect's runtime settings per item (NULL = server default) and
-- the publisher's environment variables.

ALTER TABLE content ADD COLUMN min_processes INTEGER;
ALTER TABLE content ADD COLUMN max_processes INTEGER;
ALTER TABLE content ADD COLUMN max_conns_per_process INTEGER;
ALTER TABLE content ADD COLUMN load_factor REAL;
ALTER TABLE content ADD COLUMN idle_timeout INTEGER;
ALTER TABLE content ADD COLUMN init_timeout INTEGER;
ALTER TABLE content ADD COLUMN connection_timeout INTEGER;
ALTER TABLE content ADD COLUMN read_timeout INTEGER;

CREATE TABLE content_env (
    content_id INTEGER NOT NULL REFERENCES content(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (content_id, name)
);
