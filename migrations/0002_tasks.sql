-- Tasks (long-running work with a UPID). The log itself is a file under <data>/tasks/.
CREATE TABLE tasks (
    upid      TEXT PRIMARY KEY NOT NULL,
    node      TEXT NOT NULL,
    pid       INTEGER NOT NULL,
    pstart    INTEGER NOT NULL,
    starttime INTEGER NOT NULL,
    type      TEXT NOT NULL,
    id        TEXT NOT NULL,
    user      TEXT NOT NULL,
    endtime   INTEGER,
    status    TEXT
);
CREATE INDEX tasks_by_start ON tasks (starttime DESC);
