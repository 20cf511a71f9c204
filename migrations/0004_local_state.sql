-- Facts about this node that are not cluster configuration (e.g. its Raft node id).
CREATE TABLE local_state (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
