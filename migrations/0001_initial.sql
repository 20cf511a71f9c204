-- Node-local tables of a standalone corral node. Cluster-wide tables move under the replicated
-- store when a cluster is created (later issue); their shape stays.

CREATE TABLE users (
    userid        TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT,
    enable        INTEGER NOT NULL DEFAULT 1,
    comment       TEXT,
    created       INTEGER NOT NULL
);

-- API token secrets are random UUIDs (122 bits); a SHA-256 of the secret is enough to store.
CREATE TABLE api_tokens (
    userid      TEXT NOT NULL REFERENCES users(userid) ON DELETE CASCADE,
    tokenid     TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    comment     TEXT,
    expire      INTEGER NOT NULL DEFAULT 0,
    privsep     INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (userid, tokenid)
);

-- Key material the cluster will share: ticket signing and CSRF keys.
CREATE TABLE secrets (
    name  TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
);

CREATE TABLE cluster_log (
    uid   INTEGER PRIMARY KEY AUTOINCREMENT,
    time  INTEGER NOT NULL,
    pri   INTEGER NOT NULL,
    tag   TEXT NOT NULL,
    pid   INTEGER NOT NULL,
    node  TEXT NOT NULL,
    user  TEXT NOT NULL,
    msg   TEXT NOT NULL
);

-- tower-sessions-sqlx-store's table, kept here so the schema lives in one place.
CREATE TABLE tower_sessions (
    id          TEXT PRIMARY KEY NOT NULL,
    data        BLOB NOT NULL,
    expiry_date INTEGER NOT NULL
);
