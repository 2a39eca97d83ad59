-- The SQLite schema of tracker.models, as SQLAlchemy's create_all writes it (generated from
-- it; tests/test_store.py fails when the two differ). A new database is made from this file
-- so that creating one needs no SQLAlchemy.

CREATE TABLE targets (
	id INTEGER NOT NULL,
	name VARCHAR NOT NULL,
	url VARCHAR NOT NULL,
	select_json VARCHAR NOT NULL,
	remove_json VARCHAR NOT NULL,
	schedule VARCHAR,
	tags_json VARCHAR NOT NULL,
	recipients_json VARCHAR NOT NULL,
	source VARCHAR NOT NULL,
	enabled BOOLEAN NOT NULL,
	origin VARCHAR NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id)
);

CREATE UNIQUE INDEX ix_targets_name ON targets (name);

CREATE TABLE daemon_heartbeat (
	id INTEGER NOT NULL,
	pid INTEGER NOT NULL,
	host VARCHAR NOT NULL,
	started_at DATETIME NOT NULL,
	beat_at DATETIME NOT NULL,
	PRIMARY KEY (id)
);

CREATE TABLE snapshots (
	id INTEGER NOT NULL,
	target_id INTEGER NOT NULL,
	source VARCHAR NOT NULL,
	url VARCHAR NOT NULL,
	final_url VARCHAR NOT NULL,
	status INTEGER,
	headers_json TEXT NOT NULL,
	content_type VARCHAR NOT NULL,
	charset VARCHAR,
	sha256 VARCHAR NOT NULL,
	size INTEGER NOT NULL,
	fetched_at DATETIME NOT NULL,
	captured_at DATETIME NOT NULL,
	memento_url VARCHAR,
	digest VARCHAR,
	quality VARCHAR NOT NULL,
	quality_reason VARCHAR,
	PRIMARY KEY (id),
	FOREIGN KEY(target_id) REFERENCES targets (id)
);

CREATE INDEX ix_snapshots_sha256 ON snapshots (sha256);

CREATE INDEX ix_snapshots_target_captured ON snapshots (target_id, captured_at);

CREATE TABLE fetch_state (
	target_id INTEGER NOT NULL,
	etag VARCHAR,
	last_modified VARCHAR,
	last_fingerprint VARCHAR,
	last_check_at DATETIME,
	last_result VARCHAR,
	last_error VARCHAR,
	last_success_at DATETIME,
	last_change_at DATETIME,
	consecutive_failures INTEGER NOT NULL,
	failing_since DATETIME,
	broken_alerted BOOLEAN NOT NULL,
	next_run_at DATETIME,
	PRIMARY KEY (target_id),
	FOREIGN KEY(target_id) REFERENCES targets (id)
);

CREATE TABLE versions (
	id INTEGER NOT NULL,
	target_id INTEGER NOT NULL,
	snapshot_id INTEGER NOT NULL,
	text_sha256 VARCHAR NOT NULL,
	normalizer_version INTEGER NOT NULL,
	captured_at DATETIME NOT NULL,
	source VARCHAR NOT NULL,
	size INTEGER NOT NULL,
	words INTEGER NOT NULL,
	effective_date VARCHAR,
	last_seen_at DATETIME NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT uq_versions_snapshot UNIQUE (snapshot_id),
	FOREIGN KEY(target_id) REFERENCES targets (id),
	FOREIGN KEY(snapshot_id) REFERENCES snapshots (id)
);

CREATE INDEX ix_versions_target_captured ON versions (target_id, captured_at);

CREATE TABLE check_log (
	id INTEGER NOT NULL,
	target_id INTEGER NOT NULL,
	checked_at DATETIME NOT NULL,
	result VARCHAR NOT NULL,
	detail VARCHAR,
	snapshot_id INTEGER,
	PRIMARY KEY (id),
	FOREIGN KEY(target_id) REFERENCES targets (id),
	FOREIGN KEY(snapshot_id) REFERENCES snapshots (id)
);

CREATE INDEX ix_check_log_target_time ON check_log (target_id, checked_at);

CREATE TABLE changes (
	id INTEGER NOT NULL,
	target_id INTEGER NOT NULL,
	from_version_id INTEGER NOT NULL,
	to_version_id INTEGER NOT NULL,
	material BOOLEAN NOT NULL,
	noise_only BOOLEAN NOT NULL,
	suspect BOOLEAN NOT NULL,
	severity VARCHAR NOT NULL,
	categories_json VARCHAR NOT NULL,
	summary VARCHAR NOT NULL,
	comparison_json TEXT NOT NULL,
	source VARCHAR NOT NULL,
	alert_state VARCHAR NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT uq_change UNIQUE (from_version_id, to_version_id),
	FOREIGN KEY(target_id) REFERENCES targets (id),
	FOREIGN KEY(from_version_id) REFERENCES versions (id),
	FOREIGN KEY(to_version_id) REFERENCES versions (id)
);

CREATE INDEX ix_changes_to_version_id ON changes (to_version_id);

CREATE INDEX ix_changes_target_id ON changes (target_id);

CREATE TABLE alerts (
	id INTEGER NOT NULL,
	kind VARCHAR NOT NULL,
	dedup_key VARCHAR NOT NULL,
	target_id INTEGER,
	change_id INTEGER,
	subject VARCHAR NOT NULL,
	recipients_json VARCHAR NOT NULL,
	body_text TEXT NOT NULL,
	body_html TEXT NOT NULL,
	status VARCHAR NOT NULL,
	attempts INTEGER NOT NULL,
	next_attempt_at DATETIME NOT NULL,
	last_error VARCHAR,
	created_at DATETIME NOT NULL,
	sent_at DATETIME,
	PRIMARY KEY (id),
	UNIQUE (dedup_key),
	FOREIGN KEY(target_id) REFERENCES targets (id),
	FOREIGN KEY(change_id) REFERENCES changes (id)
);
