-- This node's round-robin archives (graphs), one row per series: `node`, `qemu/<vmid>`,
-- `storage/<id>`. `data` is corral-rrd's encoding; its size is fixed by the series' sources.
CREATE TABLE rrd (
    key  TEXT PRIMARY KEY NOT NULL,
    data BLOB NOT NULL
);
