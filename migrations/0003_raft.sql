-- The replicated configuration store (corral-consensus): Raft log, vote, state machine.
CREATE TABLE raft_log (
    idx   INTEGER PRIMARY KEY NOT NULL,
    entry TEXT NOT NULL            -- JSON of openraft::Entry
);
-- vote, committed, last_purged (raft log side) and last_applied, membership (state machine side)
CREATE TABLE raft_meta (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
-- The state machine: a tree of JSON documents keyed by path, like PVE's /etc/pve.
CREATE TABLE config_kv (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
CREATE TABLE raft_snapshot (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    meta  TEXT NOT NULL,
    data  BLOB NOT NULL
);
