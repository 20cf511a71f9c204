//! Round-robin archives as PVE keeps them for its graphs (rrdtool's `pve2-*` layouts), without
//! rrdtool: samples arrive at any pace; each minute's samples are averaged into one primary data
//! point (PDP), and every PDP is consolidated into one archive per timeframe, a ring of rows
//! that holds both the average and the maximum of the PDPs its row covers. A series therefore
//! never grows: its size is fixed by its number of sources.
//!
//! Pure: no clock, no I/O. The caller passes times in seconds since the epoch, stores the bytes
//! of [`Series::encode`] and gets them back through [`Series::decode`].

mod archive;
mod codec;

pub use archive::{Cf, Row, Series, Timeframe, STEP};
pub use codec::DecodeError;
