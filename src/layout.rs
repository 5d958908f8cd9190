//! Where a scan runs in memory: the axis, lanes and result shape of every caller (the CPU
//! path, the GPU planner, the benchmark and the tests), and the segments a lane restarts at.
//!
//! Every scan is seen as a scan down the columns of a row-major matrix of `rows x cols`
//! elements, restarted every `lane_len` rows: `axis=None` and the last axis are one column
//! (`cols == 1`), any other axis has `cols` = the product of the later dimensions.

use crate::error::{Error, Result};

/// The scan as columns of a row-major matrix, segmented into lanes of `lane_len` rows.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Rows (the product of the dimensions up to and including the axis).
    pub rows: u64,
    /// Columns: independent lanes side by side in memory.
    pub cols: u64,
    /// Rows per lane: a scan restarts at every multiple of it.
    pub lane_len: u64,
}

impl Geometry {
    /// Resolves a shape and numpy axis (`None` flattens) into a geometry and the result shape.
    pub fn resolve(shape: &[usize], axis: Option<isize>) -> Result<(Geometry, Vec<usize>)> {
        // numpy treats a 0-d array as 1-d of length 1.
        let shape: Vec<usize> = if shape.is_empty() {
            vec![1]
        } else {
            shape.to_vec()
        };
        let total = element_count(&shape)? as u64;
        match axis {
            None => Ok((
                Geometry {
                    rows: total,
                    cols: 1,
                    lane_len: total,
                },
                vec![total as usize],
            )),
            Some(a) => {
                let ax = normalize_axis(a, shape.len())?;
                let outer: u64 = shape[..ax].iter().map(|&d| d as u64).product();
                let cols: u64 = shape[ax + 1..].iter().map(|&d| d as u64).product();
                let lane_len = shape[ax] as u64;
                Ok((
                    Geometry {
                        rows: outer * lane_len,
                        cols,
                        lane_len,
                    },
                    shape,
                ))
            }
        }
    }

    /// Number of elements.
    pub fn len(&self) -> u64 {
        self.rows * self.cols
    }

    /// True when there is nothing to scan.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of lanes down each column.
    pub fn lanes(&self) -> u64 {
        self.rows.checked_div(self.lane_len).unwrap_or(0)
    }
}

/// numpy's axis (negative from the end) as an index below `ndim`.
pub fn normalize_axis(axis: isize, ndim: usize) -> Result<usize> {
    let norm = if axis < 0 { axis + ndim as isize } else { axis };
    if norm < 0 || norm >= ndim as isize {
        return Err(Error::AxisOutOfBounds { axis, ndim });
    }
    Ok(norm as usize)
}

/// The product of `shape`, or `Overflow` if it overflows.
pub fn element_count(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::Overflow(format!("shape {shape:?} overflows usize")))
}

/// Checked offsets `[0, s1, ..., L]` at which every lane restarts (CSR row pointers): they
/// start at 0, end at the lane length and never decrease; repeated offsets are empty segments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segments {
    offsets: Vec<u64>,
}

impl Segments {
    /// One segment per lane.
    pub fn whole(lane_len: u64) -> Segments {
        Segments {
            offsets: vec![0, lane_len],
        }
    }

    /// Checks `offsets` against a lane of `lane_len` elements.
    pub fn new(offsets: &[i64], lane_len: u64) -> Result<Segments> {
        let bad = |why: String| Err(Error::Segments(why));
        match (offsets.first(), offsets.last()) {
            (None, _) | (_, None) => {
                return bad(format!(
                    "the offsets are empty: they must run from 0 to the axis length {lane_len}"
                ))
            }
            (Some(&first), _) if first != 0 => {
                return bad(format!("the offsets must start at 0, not {first}"))
            }
            (_, Some(&last)) if last != lane_len as i64 => {
                return bad(format!(
                    "the offsets must end at the axis length {lane_len}, not {last}"
                ))
            }
            _ => {}
        }
        if let Some(i) = offsets.windows(2).position(|w| w[1] < w[0]) {
            return bad(format!(
                "the offsets decrease at index {}: {} after {}",
                i + 1,
                offsets[i + 1],
                offsets[i]
            ));
        }
        Ok(Segments {
            offsets: offsets.iter().map(|&o| o as u64).collect(),
        })
    }

    /// The offsets, from 0 to the lane length.
    pub fn offsets(&self) -> &[u64] {
        &self.offsets
    }

    /// Segments per lane (empty ones included).
    pub fn count(&self) -> usize {
        self.offsets.len() - 1
    }

    /// True when each lane is one segment.
    pub fn is_whole(&self) -> bool {
        self.offsets
            .iter()
            .all(|&o| o == 0 || o == *self.offsets.last().unwrap())
    }

    /// The same segments seen from the end of the lane (for reverse scans).
    pub fn mirrored(&self) -> Segments {
        let len = *self.offsets.last().unwrap();
        Segments {
            offsets: self.offsets.iter().rev().map(|&o| len - o).collect(),
        }
    }

    /// Whether position `p` (below the lane length) starts a segment.
    pub fn is_head(&self, p: u64) -> bool {
        self.offsets.binary_search(&p).is_ok()
    }
}

/// A scan's layout: the matrix, the direction, whether it is exclusive, and where its lanes
/// restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lanes {
    /// The matrix and its lanes.
    pub geometry: Geometry,
    /// Suffix scans: every lane is scanned from its end.
    pub reverse: bool,
    /// Element i combines the elements strictly before it (after it, in reverse).
    pub exclusive: bool,
    /// Where each lane restarts, in the lane's own (forward) positions.
    pub segments: Segments,
}

impl Lanes {
    /// A plain inclusive forward scan.
    pub fn plain(geometry: Geometry) -> Lanes {
        Lanes {
            geometry,
            reverse: false,
            exclusive: false,
            segments: Segments::whole(geometry.lane_len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_axes_like_numpy() {
        let (g, shape) = Geometry::resolve(&[2, 3, 4], Some(1)).unwrap();
        assert_eq!(
            g,
            Geometry {
                rows: 6,
                cols: 4,
                lane_len: 3
            }
        );
        assert_eq!(shape, vec![2, 3, 4]);
        let (g, shape) = Geometry::resolve(&[2, 3, 4], None).unwrap();
        assert_eq!((g.rows, g.cols, g.lane_len), (24, 1, 24));
        assert_eq!(shape, vec![24]);
        let (g, _) = Geometry::resolve(&[2, 3, 4], Some(-1)).unwrap();
        assert_eq!((g.rows, g.cols, g.lane_len), (24, 1, 4));
        let (g, _) = Geometry::resolve(&[2, 3, 4], Some(-3)).unwrap();
        assert_eq!((g.rows, g.cols, g.lane_len), (2, 12, 2));
        let (_, shape) = Geometry::resolve(&[], Some(0)).unwrap();
        assert_eq!(shape, vec![1]);
        for (axis, text) in [
            (3, "axis 3 is out of bounds for array of dimension 3"),
            (-4, "axis -4 is out of bounds for array of dimension 3"),
        ] {
            let e = Geometry::resolve(&[2, 3, 4], Some(axis)).unwrap_err();
            assert_eq!(e.to_string(), text);
        }
        let e = Geometry::resolve(&[], Some(1)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "axis 1 is out of bounds for array of dimension 1"
        );
        assert!(matches!(
            Geometry::resolve(&[usize::MAX, 3], None),
            Err(Error::Overflow(_))
        ));
    }

    #[test]
    fn segments_are_checked_and_mirrored() {
        let s = Segments::new(&[0, 0, 2, 5, 5], 5).unwrap();
        assert_eq!(s.count(), 4);
        assert_eq!(s.mirrored().offsets(), &[0, 0, 3, 5, 5]);
        assert!(s.is_head(2) && !s.is_head(3));
        assert!(!s.is_whole());
        assert!(Segments::new(&[0, 0, 5], 5).unwrap().is_whole());
        let cases: [(&[i64], &str); 4] = [
            (
                &[],
                "the offsets are empty: they must run from 0 to the axis length 5",
            ),
            (&[1, 5], "the offsets must start at 0, not 1"),
            (&[0, 4], "the offsets must end at the axis length 5, not 4"),
            (&[0, 3, 2, 5], "the offsets decrease at index 2: 2 after 3"),
        ];
        for (offsets, text) in cases {
            let e = Segments::new(offsets, 5).unwrap_err();
            assert_eq!(e.to_string(), format!("bad segment offsets: {text}"));
        }
    }
}
