-- Schedules of rendered content, in Connect's shape, with Porch's options.

CREATE TABLE schedules (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    content_id   INTEGER NOT NULL REFERENCES content(id) ON DELETE CASCADE,
    -- Connect's fields: type, schedule, start_time, timezone (or cron), as JSON.
    definition   TEXT NOT NULL,
    enabled      INTEGER NOT NULL DEFAULT 1,
    publish      INTEGER NOT NULL DEFAULT 1,
    catch_up     INTEGER NOT NULL DEFAULT 1,
    email        INTEGER NOT NULL DEFAULT 0,
    -- Who gets the email: a JSON list of addresses.
    recipients   TEXT NOT NULL DEFAULT '[]',
    -- Attach the rendered HTML to the email.
    attach       INTEGER NOT NULL DEFAULT 0,
    -- The planned time of the last run handled (run or skipped), RFC 3339 UTC.
    last_planned TEXT,
    created_time TEXT NOT NULL,
    updated_time TEXT NOT NULL
);
CREATE INDEX schedules_content ON schedules(content_id);

-- What became of the email after a render ('' when none was due).
ALTER TABLE renders ADD COLUMN email_status TEXT NOT NULL DEFAULT '';
