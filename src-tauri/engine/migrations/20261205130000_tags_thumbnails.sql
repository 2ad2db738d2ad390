-- Connect's tag tree, the tags of each item, and each item's thumbnail (issue 14).

-- A tag's name is unique among its siblings; top-level tags (parent_id NULL) are siblings
-- of each other, hence the COALESCE in the index (NULLs never clash in a plain UNIQUE).
CREATE TABLE tags (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    parent_id    INTEGER REFERENCES tags(id) ON DELETE CASCADE,
    created_time TEXT NOT NULL,
    updated_time TEXT NOT NULL
);
CREATE UNIQUE INDEX tags_name_in_parent ON tags(COALESCE(parent_id, 0), name);
CREATE INDEX tags_parent ON tags(parent_id);

CREATE TABLE content_tags (
    content_id INTEGER NOT NULL REFERENCES content(id) ON DELETE CASCADE,
    tag_id     INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    PRIMARY KEY (content_id, tag_id)
);
CREATE INDEX content_tags_tag ON content_tags(tag_id);

-- One picture per item: uploaded by the publisher or captured by Porch (a generated card
-- is drawn on demand and never stored). The bytes were checked to be PNG, JPEG, GIF or WebP.
CREATE TABLE thumbnails (
    content_id   INTEGER PRIMARY KEY NOT NULL REFERENCES content(id) ON DELETE CASCADE,
    -- image/png | image/jpeg | image/gif | image/webp
    mime         TEXT NOT NULL,
    width        INTEGER NOT NULL,
    height       INTEGER NOT NULL,
    -- upload | capture
    source       TEXT NOT NULL,
    image        BLOB NOT NULL,
    updated_time TEXT NOT NULL
);
