-- The schema of the releases before versioned migrations, statement for
-- statement (`IF NOT EXISTS` everywhere), so their databases are adopted as
-- they are: this migration changes nothing in them and is recorded as done.
-- Never edit a released migration (sqlx checks its checksum); add a new file.
-- (The old advisory lock against instances starting together is sqlx's
-- migration lock now.)
CREATE TABLE IF NOT EXISTS fs_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fs_feeds (app_id TEXT NOT NULL, user_id TEXT NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (app_id, user_id));
CREATE TABLE IF NOT EXISTS fs_records (
        app_id TEXT NOT NULL, user_id TEXT NOT NULL, table_name TEXT NOT NULL, record_key TEXT NOT NULL,
        state TEXT NOT NULL, seq BIGINT NOT NULL, client_id TEXT NOT NULL, modified_at BIGINT NOT NULL,
        PRIMARY KEY (app_id, user_id, table_name, record_key));
CREATE INDEX IF NOT EXISTS fs_records_table_feed ON fs_records (app_id, user_id, table_name, seq);
CREATE INDEX IF NOT EXISTS fs_records_feed ON fs_records (app_id, user_id, seq);
INSERT INTO fs_meta (key, value) VALUES ('schema_version', '1') ON CONFLICT (key) DO NOTHING;
