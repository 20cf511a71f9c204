//! The series: its pending minute, and one ring of rows per timeframe.

/// Seconds per primary data point: what the hour graph resolves.
pub const STEP: i64 = 60;

/// PVE's `timeframe`: which archive a graph reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeframe {
    Hour,
    Day,
    Week,
    Month,
    Year,
    Decade,
}

impl Timeframe {
    pub const ALL: [Timeframe; 6] = [Self::Hour, Self::Day, Self::Week, Self::Month, Self::Year, Self::Decade];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
            Self::Year => "year",
            Self::Decade => "decade",
        }
    }

    /// PDPs per row and rows kept: PVE's `pve2` layouts (70 rows of 1 min, 30 min, 3 h, 12 h,
    /// 1 week), and for the decade (PVE 9) 130 rows of 4 weeks.
    fn shape(self) -> (i64, usize) {
        match self {
            Self::Hour => (1, 70),
            Self::Day => (30, 70),
            Self::Week => (180, 70),
            Self::Month => (720, 70),
            Self::Year => (10_080, 70),
            Self::Decade => (40_320, 130),
        }
    }

    /// Seconds one row covers.
    pub fn resolution(self) -> i64 {
        self.shape().0 * STEP
    }

    /// Rows an answer has.
    pub fn rows(self) -> usize {
        self.shape().1
    }
}

/// PVE's `cf`: how a row's PDPs are consolidated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cf {
    Average,
    Max,
}

impl Cf {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "AVERAGE" => Some(Self::Average),
            "MAX" => Some(Self::Max),
            _ => None,
        }
    }
}

/// One row of an answer: its start time and one value per source (`None`: nothing known).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub time: i64,
    pub values: Vec<Option<f64>>,
}

/// Sums, maxima and counts of one row (or of the pending minute), per source.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Slot {
    pub(crate) time: i64,
    pub(crate) sum: Vec<f64>,
    pub(crate) max: Vec<f64>,
    pub(crate) count: Vec<u32>,
}

impl Slot {
    pub(crate) fn empty(time: i64, sources: usize) -> Self {
        Self { time, sum: vec![0.0; sources], max: vec![0.0; sources], count: vec![0; sources] }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.count.iter().all(|c| *c == 0)
    }

    fn add(&mut self, values: impl Iterator<Item = Option<f64>>) {
        for (i, v) in values.enumerate().take(self.count.len()) {
            let Some(v) = v.filter(|v| v.is_finite()) else { continue };
            self.max[i] = if self.count[i] == 0 { v } else { self.max[i].max(v) };
            self.sum[i] += v;
            self.count[i] += 1;
        }
    }

    fn averages(&self) -> impl Iterator<Item = Option<f64>> + '_ {
        self.sum.iter().zip(&self.count).map(|(s, c)| (*c > 0).then(|| s / f64::from(*c)))
    }

    fn value(&self, i: usize, cf: Cf) -> Option<f64> {
        (self.count[i] > 0).then(|| match cf {
            Cf::Average => self.sum[i] / f64::from(self.count[i]),
            Cf::Max => self.max[i],
        })
    }
}

/// One timeframe's rows, indexed by `(row time / resolution) mod rows`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Ring {
    pub(crate) timeframe: Timeframe,
    pub(crate) slots: Vec<Slot>,
}

impl Ring {
    fn new(timeframe: Timeframe, sources: usize) -> Self {
        Self { timeframe, slots: vec![Slot::empty(i64::MIN, sources); timeframe.rows()] }
    }

    fn row_time(&self, time: i64) -> i64 {
        let res = self.timeframe.resolution();
        time.div_euclid(res) * res
    }

    fn index(&self, row_time: i64) -> usize {
        (row_time.div_euclid(self.timeframe.resolution())).rem_euclid(self.slots.len() as i64) as usize
    }

    fn slot(&self, row_time: i64) -> Option<&Slot> {
        Some(&self.slots[self.index(row_time)]).filter(|s| s.time == row_time)
    }

    fn add_pdp(&mut self, pdp_time: i64, pdp: &[Option<f64>]) {
        let row_time = self.row_time(pdp_time);
        let index = self.index(row_time);
        let slot = &mut self.slots[index];
        if slot.time != row_time {
            *slot = Slot::empty(row_time, pdp.len());
        }
        slot.add(pdp.iter().copied());
    }
}

/// Everything kept of one measured thing (a node, a guest, a storage).
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub(crate) pending: Slot,
    pub(crate) rings: Vec<Ring>,
}

impl Series {
    pub fn new(sources: usize) -> Self {
        Self { pending: Slot::empty(i64::MIN, sources), rings: Timeframe::ALL.iter().map(|t| Ring::new(*t, sources)).collect() }
    }

    pub fn sources(&self) -> usize {
        self.pending.count.len()
    }

    /// Take one sample. Values beyond the series' sources, missing ones and non-finite ones are
    /// left out; a sample older than the minute being gathered is refused (`false`), so a clock
    /// stepped back cannot rewrite history.
    pub fn update(&mut self, time: i64, values: &[Option<f64>]) -> bool {
        let minute = time.div_euclid(STEP) * STEP;
        if minute < self.pending.time {
            return false;
        }
        if minute > self.pending.time {
            self.close_pending();
            self.pending = Slot::empty(minute, self.sources());
        }
        self.pending.add(values.iter().copied());
        true
    }

    fn close_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let pdp: Vec<Option<f64>> = self.pending.averages().collect();
        for ring in &mut self.rings {
            ring.add_pdp(self.pending.time, &pdp);
        }
    }

    /// The time of the newest sample's minute, if any sample was ever taken.
    pub fn last_update(&self) -> Option<i64> {
        (self.pending.time != i64::MIN).then_some(self.pending.time)
    }

    /// The timeframe's rows ending with the one that holds `now`, oldest first, as PVE answers
    /// `rrddata`: always `timeframe.rows()` rows, unknown values as `None`. The minute still
    /// being gathered counts, so the newest row is live.
    pub fn rows(&self, timeframe: Timeframe, cf: Cf, now: i64) -> Vec<Row> {
        let ring = &self.rings[Timeframe::ALL.iter().position(|t| *t == timeframe).unwrap_or(0)];
        let res = timeframe.resolution();
        let end = ring.row_time(now);
        let start = end - (timeframe.rows() as i64 - 1) * res;
        (0..timeframe.rows() as i64)
            .map(|i| {
                let time = start + i * res;
                let mut slot = ring.slot(time).cloned().unwrap_or_else(|| Slot::empty(time, self.sources()));
                if !self.pending.is_empty() && ring.row_time(self.pending.time) == time {
                    let pdp: Vec<Option<f64>> = self.pending.averages().collect();
                    slot.add(pdp.into_iter());
                }
                Row { time, values: (0..self.sources()).map(|s| slot.value(s, cf)).collect() }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(rows: &[Row], source: usize) -> Vec<Option<f64>> {
        rows.iter().map(|r| r.values[source]).collect()
    }

    #[test]
    fn a_minute_of_samples_is_one_averaged_point() {
        let mut s = Series::new(1);
        for (t, v) in [(600, 1.0), (620, 2.0), (640, 6.0)] {
            assert!(s.update(t, &[Some(v)]));
        }
        let rows = s.rows(Timeframe::Hour, Cf::Average, 650);
        assert_eq!(rows.len(), 70);
        assert_eq!(rows.last().unwrap().time, 600);
        assert_eq!(rows.last().unwrap().values, [Some(3.0)]);
        assert!(rows[..69].iter().all(|r| r.values == [None]));
        // The maximum of one minute is its average: a PDP is the unit of consolidation.
        assert_eq!(s.rows(Timeframe::Hour, Cf::Max, 650).last().unwrap().values, [Some(3.0)]);
    }

    #[test]
    fn coarser_rows_average_and_max_their_minutes() {
        let mut s = Series::new(2);
        // 30 minutes, one sample each, of 0..30; the second source is never known.
        for m in 0..30 {
            s.update(m * 60, &[Some(m as f64), None]);
        }
        s.update(30 * 60, &[Some(100.0), None]); // closes minute 29; starts the next day row
        let rows = s.rows(Timeframe::Day, Cf::Average, 30 * 60);
        assert_eq!(rows.len(), 70);
        let first = &rows[68];
        assert_eq!(first.time, 0);
        assert_eq!(first.values, [Some(14.5), None]);
        assert_eq!(rows[69].values, [Some(100.0), None]);
        assert_eq!(s.rows(Timeframe::Day, Cf::Max, 30 * 60)[68].values, [Some(29.0), None]);
    }

    #[test]
    fn gaps_stay_unknown_and_old_rows_leave() {
        let mut s = Series::new(1);
        s.update(0, &[Some(1.0)]);
        s.update(10 * 60, &[Some(2.0)]);
        let rows = s.rows(Timeframe::Hour, Cf::Average, 10 * 60);
        assert_eq!(values(&rows[59..], 0), [Some(1.0), None, None, None, None, None, None, None, None, None, Some(2.0)]);
        // Seventy-five minutes in, the first minute is out of the hour's window and of its ring.
        s.update(75 * 60, &[Some(3.0)]);
        let rows = s.rows(Timeframe::Hour, Cf::Average, 75 * 60);
        assert!(rows.iter().all(|r| r.time > 0));
        assert_eq!(rows.iter().filter(|r| r.values[0].is_some()).count(), 2);
    }

    #[test]
    fn a_clock_stepped_back_cannot_rewrite_history() {
        let mut s = Series::new(1);
        assert!(s.update(600, &[Some(1.0)]));
        assert!(!s.update(500, &[Some(9.0)]));
        assert!(s.update(610, &[Some(f64::NAN)]));
        assert_eq!(s.rows(Timeframe::Hour, Cf::Max, 600).last().unwrap().values, [Some(1.0)]);
    }

    #[test]
    fn a_series_never_grows() {
        let mut s = Series::new(3);
        let size = |s: &Series| s.rings.iter().map(|r| r.slots.len()).sum::<usize>();
        let before = size(&s);
        for m in 0..200_000 {
            s.update(m * 60, &[Some(1.0), Some(2.0), Some(3.0)]);
        }
        assert_eq!(size(&s), before);
        for tf in Timeframe::ALL {
            let rows = s.rows(tf, Cf::Average, 199_999 * 60);
            assert_eq!(rows.len(), tf.rows());
            assert_eq!(rows.last().unwrap().values, [Some(1.0), Some(2.0), Some(3.0)], "{tf:?}");
        }
    }

    #[test]
    fn timeframes_and_cfs_parse_as_pve_names_them() {
        assert_eq!(Timeframe::parse("week"), Some(Timeframe::Week));
        assert_eq!(Timeframe::parse("century"), None);
        assert_eq!(Cf::parse("MAX"), Some(Cf::Max));
        assert_eq!(Cf::parse("max"), None);
        assert_eq!(Timeframe::Year.resolution(), 7 * 24 * 3600);
    }
}
