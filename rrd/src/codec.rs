//! The bytes a series is stored as: `CRRD`, a version, the number of sources, the pending
//! minute, then every row of every timeframe; an empty row is its time and a zero byte.
//! Little-endian throughout. Decoding checks every length, so a damaged or foreign blob is
//! an error, never a panic or a series of another shape.

use crate::archive::{Ring, Series, Slot};
use crate::Timeframe;

const MAGIC: &[u8; 4] = b"CRRD";
const VERSION: u8 = 1;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("not a corral round-robin series")]
    Magic,
    #[error("series format version {0} is not known")]
    Version(u8),
    #[error("series has {found} sources, {expected} expected")]
    Sources { found: usize, expected: usize },
    #[error("series data is truncated or has trailing bytes")]
    Length,
}

impl Series {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&(self.sources() as u16).to_le_bytes());
        put_slot(&mut out, &self.pending);
        for ring in &self.rings {
            for slot in &ring.slots {
                put_slot(&mut out, slot);
            }
        }
        out
    }

    /// The series `encode` wrote, if it has `sources` sources.
    pub fn decode(bytes: &[u8], sources: usize) -> Result<Series, DecodeError> {
        let mut r = Reader(bytes);
        if r.take(4)? != MAGIC {
            return Err(DecodeError::Magic);
        }
        let version = r.take(1)?[0];
        if version != VERSION {
            return Err(DecodeError::Version(version));
        }
        let found = u16::from_le_bytes(r.array()?) as usize;
        if found != sources {
            return Err(DecodeError::Sources { found, expected: sources });
        }
        let pending = r.slot(sources)?;
        let mut rings = Vec::with_capacity(Timeframe::ALL.len());
        for timeframe in Timeframe::ALL {
            let slots = (0..timeframe.rows()).map(|_| r.slot(sources)).collect::<Result<Vec<_>, _>>()?;
            rings.push(Ring { timeframe, slots });
        }
        if !r.0.is_empty() {
            return Err(DecodeError::Length);
        }
        Ok(Series { pending, rings })
    }
}

fn put_slot(out: &mut Vec<u8>, slot: &Slot) {
    out.extend_from_slice(&slot.time.to_le_bytes());
    if slot.is_empty() {
        out.push(0);
        return;
    }
    out.push(1);
    for i in 0..slot.count.len() {
        out.extend_from_slice(&slot.sum[i].to_le_bytes());
        out.extend_from_slice(&slot.max[i].to_le_bytes());
        out.extend_from_slice(&slot.count[i].to_le_bytes());
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Length);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        Ok(self.take(N)?.try_into().expect("take returned N bytes"))
    }

    fn slot(&mut self, sources: usize) -> Result<Slot, DecodeError> {
        let time = i64::from_le_bytes(self.array()?);
        let mut slot = Slot::empty(time, sources);
        match self.take(1)?[0] {
            0 => {}
            1 => {
                for i in 0..sources {
                    slot.sum[i] = f64::from_le_bytes(self.array()?);
                    slot.max[i] = f64::from_le_bytes(self.array()?);
                    slot.count[i] = u32::from_le_bytes(self.array()?);
                }
            }
            _ => return Err(DecodeError::Length),
        }
        Ok(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cf, Timeframe};

    fn sample_series() -> Series {
        let mut s = Series::new(2);
        for m in 0..5000 {
            s.update(m * 20, &[Some((m % 7) as f64), (m % 3 == 0).then_some(m as f64)]);
        }
        s
    }

    #[test]
    fn a_series_comes_back_as_it_was() {
        let s = sample_series();
        let back = Series::decode(&s.encode(), 2).unwrap();
        assert_eq!(back, s);
        for tf in Timeframe::ALL {
            assert_eq!(back.rows(tf, Cf::Max, 100_000), s.rows(tf, Cf::Max, 100_000));
        }
    }

    #[test]
    fn an_empty_series_is_small() {
        assert!(Series::new(12).encode().len() < 5000);
    }

    #[test]
    fn damaged_bytes_are_an_error() {
        let bytes = sample_series().encode();
        assert_eq!(Series::decode(&bytes, 3), Err(DecodeError::Sources { found: 2, expected: 3 }));
        assert_eq!(Series::decode(&bytes[..bytes.len() - 1], 2), Err(DecodeError::Length));
        assert_eq!(Series::decode(b"XRRD", 2), Err(DecodeError::Magic));
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Series::decode(&longer, 2), Err(DecodeError::Length));
        // Every prefix fails cleanly.
        for n in 0..bytes.len().min(400) {
            assert!(Series::decode(&bytes[..n], 2).is_err());
        }
    }
}
