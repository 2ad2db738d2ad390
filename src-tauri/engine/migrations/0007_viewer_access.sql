-- Who may view each item (issue 8): `network` (anyone who can reach the port), `local`
-- (this computer only) or `link` (whoever holds the secret link). Connect's access_type
-- stays for clients that read it; Porch enforces viewer_access.
ALTER TABLE content ADD COLUMN viewer_access TEXT NOT NULL DEFAULT 'network';
-- Items that were private before (any access_type other than `all` needed the key) stay
-- private: they become local, never network.
UPDATE content SET viewer_access = 'local' WHERE access_type <> 'all';
-- SHA-256 (hex) of the item's secret-link token; NULL when it has none. The token itself
-- is shown once and never stored.
ALTER TABLE content ADD COLUMN link_token_hash TEXT;
