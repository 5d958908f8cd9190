//! Run-time settings of the chained scan that tests and `gpuscan selftest` vary without a
//! rebuild, and the diagnostic counters the kernels keep.

/// Faults the GPU path can be made to inject on purpose, to drive its rare paths on any
/// adapter: the chained scan's long fallback chains and late publications, and a host scan
/// failing between batches. All off by default; results must be the same with any of the
/// chained scan's.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Faults {
    /// Owners of tile rows `r` with `(r + 1) & mask == 0` publish nothing, so their successors
    /// must reduce those tiles themselves (0: off; 1: every other tile row, 3: every fourth).
    pub unpublished_mask: u32,
    /// Every owner publishes only after it has stored its rows.
    pub publish_late: bool,
    /// Seeds busy waits of pseudo-random length before an owner stores and publishes (0: none).
    pub delay_seed: u32,
    /// A host scan fails with a mapping error before its batch of this number (from 1), after
    /// the batches before it were scanned and read back (0: off).
    pub fail_batch: u32,
}

impl Faults {
    /// No fault: the normal kernels.
    pub const NONE: Faults = Faults {
        unpublished_mask: 0,
        publish_late: false,
        delay_seed: 0,
        fail_batch: 0,
    };

    /// Tile rows whose owners stay silent, as [`Faults::unpublished_mask`] describes.
    pub fn unpublished(mut self, mask: u32) -> Faults {
        self.unpublished_mask = mask;
        self
    }

    /// Host scans fail before their batch `k` (from 1), as [`Faults::fail_batch`] describes.
    pub fn fail_at_batch(mut self, k: u32) -> Faults {
        self.fail_batch = k;
        self
    }

    /// Owners publish after storing, with busy waits seeded by `seed` (0: no waits).
    pub fn late(mut self, seed: u32) -> Faults {
        self.publish_late = true;
        self.delay_seed = seed;
        self
    }
}

/// What the chained scan's kernels counted since the counters were last taken
/// ([`crate::Context::take_counters`]).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Times a workgroup reduced a predecessor's tile itself.
    pub fallbacks: u64,
    /// Publications that found a slot already holding other bits than their own. Always 0 on
    /// a correct adapter: every writer of a slot reduces the same input with the same code.
    pub mismatches: u64,
}

/// The chained scan's settings for one context.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tuning {
    pub spin_limit: u32,
    pub faults: Faults,
}
