//! A graph series as read back from the database.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for sources in [2, 10, 12] {
        if let Ok(mut series) = corral_rrd::Series::decode(data, sources) {
            assert_eq!(corral_rrd::Series::decode(&series.encode(), sources).as_ref(), Ok(&series));
            series.update(1_800_000_000, &vec![Some(1.0); sources]);
            for tf in corral_rrd::Timeframe::ALL {
                assert_eq!(series.rows(tf, corral_rrd::Cf::Max, 1_800_000_000).len(), tf.rows());
            }
        }
    }
});
