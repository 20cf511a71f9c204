//! Rows of PVE's `…/rrddata` answers: a `time` and, per data source, a number when one is
//! known (PVE leaves unknown values out). The same rows carry live samples: the server records
//! a row's values into its round-robin archives and sends the row as the `node-sample` event.

use serde::{Deserialize, Serialize};

/// A row type with a fixed list of data sources, in archive order.
pub trait RrdRow: Sized {
    const SOURCES: &'static [&'static str];
    fn from_values(time: i64, values: &[Option<f64>]) -> Self;
    fn values(&self) -> Vec<Option<f64>>;
    fn time(&self) -> i64;
}

macro_rules! rrd_row {
    ($(#[$meta:meta])* $name:ident { $($field:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
        pub struct $name {
            pub time: i64,
            $(#[serde(default, skip_serializing_if = "Option::is_none")] pub $field: Option<f64>,)*
        }

        impl RrdRow for $name {
            const SOURCES: &'static [&'static str] = &[$(stringify!($field)),*];

            fn from_values(time: i64, values: &[Option<f64>]) -> Self {
                let mut values = values.iter().copied();
                Self { time, $($field: values.next().flatten(),)* }
            }

            fn values(&self) -> Vec<Option<f64>> {
                vec![$(self.$field),*]
            }

            fn time(&self) -> i64 {
                self.time
            }
        }
    };
}

rrd_row! {
    /// `GET /nodes/{node}/rrddata`: CPU as a fraction of all CPUs, I/O wait as a fraction,
    /// bytes, network bytes per second.
    NodeRrdRow { cpu, maxcpu, iowait, loadavg, memtotal, memused, swaptotal, swapused, roottotal, rootused, netin, netout }
}

rrd_row! {
    /// `GET /nodes/{node}/qemu/{vmid}/rrddata`: CPU as a fraction of the guest's vCPUs, bytes,
    /// disk and network bytes per second.
    GuestRrdRow { cpu, maxcpu, mem, maxmem, disk, maxdisk, diskread, diskwrite, netin, netout }
}

rrd_row! {
    /// `GET /nodes/{node}/storage/{storage}/rrddata`: bytes.
    StorageRrdRow { total, used }
}

/// The console's timeframe menu, PVE's: value of `timeframe`, value of `cf`, label.
pub const TIMEFRAMES: &[(&str, &str, &str)] = &[
    ("hour", "AVERAGE", "Hour (average)"),
    ("hour", "MAX", "Hour (maximum)"),
    ("day", "AVERAGE", "Day (average)"),
    ("day", "MAX", "Day (maximum)"),
    ("week", "AVERAGE", "Week (average)"),
    ("week", "MAX", "Week (maximum)"),
    ("month", "AVERAGE", "Month (average)"),
    ("month", "MAX", "Month (maximum)"),
    ("year", "AVERAGE", "Year (average)"),
    ("year", "MAX", "Year (maximum)"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_are_left_out_as_pve_does() {
        let row = NodeRrdRow::from_values(60, &[Some(0.5), None, Some(0.01)]);
        assert_eq!(serde_json::to_value(row).unwrap(), serde_json::json!({"time": 60, "cpu": 0.5, "iowait": 0.01}));
        assert_eq!(row.values().len(), NodeRrdRow::SOURCES.len());
        let back: NodeRrdRow = serde_json::from_str(r#"{"time":60,"cpu":0.5,"iowait":0.01,"memused":123456.7}"#).unwrap();
        assert_eq!(back.memused, Some(123456.7));
        assert_eq!(StorageRrdRow::from_values(0, &[Some(2.0), Some(1.0)]).values(), [Some(2.0), Some(1.0)]);
    }
}
