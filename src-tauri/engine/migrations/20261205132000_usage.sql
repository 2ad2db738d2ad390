-- Usage: what viewers did, recorded by the usage observer (src/usage/) off the request path.
-- Kept apart from the content tables: nothing here references them, and writing here
-- invalidates no library cache and sends no library event. No address, name or user agent
-- is stored; a device is a random cookie value or, for clients without cookies, a hash of
-- address and user agent with a salt that changes daily and is never stored.

-- Raw events, kept `usage_retention_days` (default 90), then folded into usage_daily.
CREATE TABLE usage_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    content_guid TEXT NOT NULL,
    -- 'view': one HTML page load of a static or rendered item (not its assets);
    -- 'session': one app session (see usage::sessions for the one definition).
    kind         TEXT NOT NULL CHECK (kind IN ('view', 'session')),
    device       TEXT NOT NULL,
    bundle_id    INTEGER,
    variant_id   INTEGER,
    render_id    INTEGER,
    -- The path below the item (page views only), without the query.
    path         TEXT,
    -- Unix milliseconds; a page view ends when it starts.
    started      INTEGER NOT NULL,
    ended        INTEGER NOT NULL
);
CREATE INDEX usage_events_content ON usage_events(content_guid, started);
CREATE INDEX usage_events_started ON usage_events(started);

-- Per-day totals of the events older than the retention.
CREATE TABLE usage_daily (
    content_guid TEXT NOT NULL,
    -- YYYY-MM-DD, UTC.
    day          TEXT NOT NULL,
    views        INTEGER NOT NULL,
    sessions     INTEGER NOT NULL,
    -- Distinct devices that day.
    devices      INTEGER NOT NULL,
    -- Total length of that day's sessions.
    session_ms   INTEGER NOT NULL,
    -- Unix milliseconds of the day's last event.
    last_seen    INTEGER NOT NULL,
    PRIMARY KEY (content_guid, day)
);
