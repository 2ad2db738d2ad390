-- Linked folders: an item that follows a folder on this computer (redeploy on save).

CREATE TABLE links (
    content_id    INTEGER PRIMARY KEY REFERENCES content(id) ON DELETE CASCADE,
    -- Absolute, canonical path of the folder.
    path          TEXT NOT NULL,
    -- watching | broken | redeploying
    status        TEXT NOT NULL DEFAULT 'watching',
    -- Why the link is broken or the last redeploy failed (NULL when all is well).
    error         TEXT,
    -- RFC 3339 time the last redeploy ended, and how: success | failed.
    last_redeploy TEXT,
    last_result   TEXT,
    -- The task holding the last redeploy's log.
    last_task_id  TEXT,
    -- Fingerprint of the folder's bundled files at the last redeploy (or link), so a
    -- restart redeploys only when the folder changed while Porch was not watching.
    fingerprint   TEXT,
    created_time  TEXT NOT NULL
);
