//! The pure planning layer: how a scan is cut into chunks, levels and dispatches.
//!
//! Every cumsum is seen as a scan down the columns of a row-major matrix of `rows x cols`
//! elements, restarted every `lane_len` rows: `axis=None` and the last axis are one column
//! (`cols == 1`), any other axis has `cols` = the product of the later dimensions. Nothing here
//! touches a GPU, so tests check it directly.

use crate::error::{Error, Result};
pub use crate::layout::Geometry;
use crate::layout::Lanes;

/// Workgroup shape of the scan kernels; the WGSL prelude is generated from it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct TileConfig {
    /// Invocations per workgroup: a power of two.
    pub workgroup_size: u32,
    /// Consecutive rows each invocation scans in registers before the workgroup scan.
    pub elements_per_thread: u32,
}

impl Default for TileConfig {
    fn default() -> Self {
        // Measured on lavapipe (float32, 2^22 elements and 2048x2048 along either axis): 128 x 16
        // runs 2.6 times faster than 256 x 4, since fewer, fuller tiles need fewer barriers.
        TileConfig {
            workgroup_size: 128,
            elements_per_thread: 16,
        }
    }
}

/// Most columns one tile spans: 32 neighbouring columns make 128-byte rows of float32.
pub const MAX_TILE_COLS: u32 = 32;

impl TileConfig {
    /// Checks the shape against the adapter's workgroup limit.
    pub fn validate(&self, max_invocations: u32) -> Result<()> {
        let wg = self.workgroup_size;
        if !wg.is_power_of_two() || wg < 2 || wg > max_invocations {
            return Err(Error::InvalidArgument(format!(
                "workgroup size {wg} must be a power of two between 2 and {max_invocations}"
            )));
        }
        if !(1..=16).contains(&self.elements_per_thread) {
            return Err(Error::InvalidArgument(format!(
                "elements per thread {} must be between 1 and 16",
                self.elements_per_thread
            )));
        }
        Ok(())
    }

    /// Columns per tile for a matrix of `cols` columns: a power of two.
    pub fn tile_cols(&self, cols: u64) -> u32 {
        let want = cols.clamp(1, MAX_TILE_COLS as u64).next_power_of_two() as u32;
        want.min(MAX_TILE_COLS).min(self.workgroup_size)
    }

    /// Rows per tile when a tile spans `tile_cols` columns.
    pub fn tile_rows(&self, tile_cols: u32) -> u32 {
        (self.workgroup_size / tile_cols) * self.elements_per_thread
    }

    /// Elements one tile of a single column holds: `T` in the level arithmetic.
    pub fn tile_len(&self) -> u32 {
        self.workgroup_size * self.elements_per_thread
    }
}

/// The GPU scan algorithms; [`crate::Strategy::Auto`] resolves to one of them.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// Scan-then-propagate: every level scans its tiles in place (Blelloch trees in workgroup
    /// memory) and writes their totals; the totals are scanned the same way, then added back
    /// top-down. About four element moves per element.
    Blelloch,
    /// Reduce-then-scan: tiles are only reduced first, the totals scanned, then every tile is
    /// scanned once, seeded with the total before it. About three moves per element.
    ReduceThenScan,
    /// One pass: a chained scan with decoupled look-back and decoupled fallback. Two moves
    /// per element, the floor.
    Chained,
}

impl Algorithm {
    /// Every algorithm, in the order tables list them.
    pub const ALL: [Algorithm; 3] = [
        Algorithm::Blelloch,
        Algorithm::ReduceThenScan,
        Algorithm::Chained,
    ];

    /// The name the CLI and reports use.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Blelloch => "blelloch",
            Algorithm::ReduceThenScan => "reduce-then-scan",
            Algorithm::Chained => "chained",
        }
    }
}

/// The compute passes: WGSL entry points under `shaders/`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Pass {
    /// Scan tiles into the destination and write their totals.
    ScanTiles,
    /// Add the scanned total of the tile before to each tile of the destination.
    AddOffsets,
    /// Write tile totals without scanning.
    ReduceTiles,
    /// Scan tiles into the destination, seeded with the scanned total of the tile before.
    ScanSeeded,
    /// The single-pass chained scan.
    ChainedScan,
}

impl Pass {
    /// Every pass.
    pub const ALL: [Pass; 5] = [
        Pass::ScanTiles,
        Pass::AddOffsets,
        Pass::ReduceTiles,
        Pass::ScanSeeded,
        Pass::ChainedScan,
    ];

    /// The WGSL entry point.
    pub fn entry_point(self) -> &'static str {
        match self {
            Pass::ScanTiles => "scan_tiles",
            Pass::AddOffsets => "add_offsets",
            Pass::ReduceTiles => "reduce_tiles",
            Pass::ScanSeeded => "scan_seeded",
            Pass::ChainedScan => "chained_scan",
        }
    }
}

/// One dispatch of a chunk's scan: `pass` over `levels[level]`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PassStep {
    /// The kernel.
    pub pass: Pass,
    /// Index into [`Chunk::levels`].
    pub level: usize,
}

/// The device limits a plan must respect.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct DeviceLimits {
    /// Largest storage buffer binding, in bytes.
    pub max_binding_bytes: u64,
    /// Largest buffer, in bytes.
    pub max_buffer_bytes: u64,
    /// Alignment of storage binding offsets, in bytes.
    pub offset_alignment: u64,
    /// Largest workgroup count in one dispatch dimension.
    pub max_workgroups_per_dim: u32,
}

impl DeviceLimits {
    /// The most data bytes one chunk can hold: a binding, less the slack its aligned start may
    /// need, and never so many elements that a `u32` index overflows.
    pub fn chunk_capacity(&self, elem_size: u64) -> u64 {
        let bytes = (self.max_binding_bytes.min(self.max_buffer_bytes))
            .saturating_sub(self.offset_alignment)
            .max(elem_size);
        let bytes = bytes - bytes % elem_size;
        bytes.min((i32::MAX as u64) * elem_size)
    }
}

/// A byte range of a buffer.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct BufferRange {
    /// First byte.
    pub offset: u64,
    /// Bytes.
    pub size: u64,
}

impl BufferRange {
    /// The end (exclusive).
    pub fn end(&self) -> u64 {
        self.offset + self.size
    }
}

/// Workgroups of one dispatch, folded into a 2-D grid that stays within the per-dimension limit.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Dispatch {
    /// Workgroups that do work; the grid may hold a few more, which return at once.
    pub workgroups: u32,
    /// Grid size `[x, y]`.
    pub grid: [u32; 2],
}

impl Dispatch {
    /// A grid for `workgroups` workgroups.
    pub fn new(workgroups: u64, limits: &DeviceLimits) -> Result<Dispatch> {
        let max = limits.max_workgroups_per_dim as u64;
        let x = workgroups.clamp(1, max);
        let y = workgroups.div_ceil(x).max(1);
        if y > max {
            // The caller names the device (`Gpu::on_device`).
            return Err(Error::TooLarge {
                what: format!("a dispatch of {workgroups} workgroups"),
                limit: "max_compute_workgroups_per_dimension",
                requested: y,
                allowed: max,
                unit: "rows of workgroups",
                device: String::new(),
                origin: crate::LimitOrigin::Requested,
            });
        }
        if workgroups > u32::MAX as u64 {
            return Err(Error::Overflow(format!(
                "{workgroups} workgroups: the kernels count workgroups in 32 bits"
            )));
        }
        Ok(Dispatch {
            workgroups: workgroups as u32,
            grid: [x as u32, y as u32],
        })
    }
}

/// One level of the recursive scan within a chunk: level 0 scans the chunk's elements, level
/// `k` scans the tile totals that level `k - 1` wrote.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Level {
    /// Items down each column at this level.
    pub rows: u32,
    /// Base-level rows one item stands for (clamped to the chunk's rows so it fits a `u32`).
    pub span: u32,
    /// Where this level's items are: `None` for the chunk's own windows (level 0: read from the
    /// source, written to the destination), else a range of the scratch buffer, scanned there
    /// in place (each workgroup touches its own tile alone).
    pub items: Option<BufferRange>,
    /// Where this level writes its tile totals, in the scratch buffer.
    pub totals: BufferRange,
    /// Tile rows (`ceil(rows / tile_rows)`): the next level's row count.
    pub tiles_y: u32,
    /// The scan dispatch; the add-offsets pass of this level uses the same grid.
    pub dispatch: Dispatch,
}

/// Where a carry is copied from before the chunk that continues it is scanned.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CarrySource {
    /// The destination buffer (the row above, already scanned, in this batch).
    Output,
    /// The pending buffer, which holds the last row of the previous batch.
    Pending,
    /// The source buffer (the row above's input, for exclusive scans).
    Input,
    /// The input region of the pending buffer: the previous batch's last input row.
    PendingInput,
}

/// A copy of a row's elements into the carry buffer; ranges are widened to 4-byte alignment,
/// and `shift` says how many elements precede the first wanted one.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CarryCopy {
    /// The buffer copied from.
    pub source: CarrySource,
    /// Bytes copied.
    pub range: BufferRange,
    /// Elements in the copy before the row's first.
    pub shift: u32,
    /// Byte offset of the copy in the buffer it goes to.
    pub to: u64,
}

/// A piece of the data small enough for one binding: whole rows, or a column block of one row
/// when a single row is wider than a binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// First row, counted from the start of the batch.
    pub row: u64,
    /// First column.
    pub col: u64,
    /// Rows.
    pub rows: u32,
    /// Columns.
    pub cols: u32,
    /// The binding of the source buffer, its offset aligned.
    pub source: BufferRange,
    /// The binding of the destination buffer, its offset aligned.
    pub destination: BufferRange,
    /// Elements from either window's start to the chunk's first element.
    pub elem_offset: u32,
    /// First row of the chunk that starts a lane (`rows` when none does).
    pub first_head: u32,
    /// Rows per lane, clamped to `rows`.
    pub lane_len: u32,
    /// Position in its lane of the chunk's first row (in scan order).
    pub lane_pos: u32,
    /// Columns per tile.
    pub tile_cols: u32,
    /// Column tiles.
    pub tiles_x: u32,
    /// Rows per tile.
    pub tile_rows: u32,
    /// The row above the chunk, which its first row continues: copied into the carry buffer
    /// before the chunk's passes, which read it from a read-only binding.
    pub carry_in: Option<CarryCopy>,
    /// For exclusive scans, the row above's input too (its output holds the values before
    /// it), copied after it into the carry buffer.
    pub carry_in_input: Option<CarryCopy>,
    /// Element index of that input row's first value in the carry buffer.
    pub carry_input_offset: u32,
    /// Scan levels, bottom first; at least one. The chained scan has one level, whose
    /// `totals` is its look-back state (`u32` words, cleared before the dispatch).
    pub levels: Vec<Level>,
    /// The dispatches, in order.
    pub passes: Vec<PassStep>,
}

/// The whole plan for one batch: rows `[first_row, first_row + rows)` of a geometry, held at
/// the start of one buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanPlan {
    /// The pieces, in the order they are scanned.
    pub chunks: Vec<Chunk>,
    /// Copy of the batch's last row into the pending buffer, for the next batch.
    pub carry_out: Option<CarryCopy>,
    /// For exclusive scans, the copy of the batch's last input row into the pending buffer.
    pub carry_out_input: Option<CarryCopy>,
    /// Bytes of scratch (tile totals of every level) the largest chunk needs.
    pub scratch_bytes: u64,
    /// Bytes of the carry buffer.
    pub carry_bytes: u64,
    /// Bytes of the pending buffer.
    pub pending_bytes: u64,
    /// Rows are scanned from the last: the chunks' windows and carries are mirrored, and
    /// level 0 reads and writes row `r` of a window at row `rows - 1 - r`.
    pub reverse: bool,
    /// Level 0 stores the exclusive scan.
    pub exclusive: bool,
    /// Segment offsets the kernels search (`[0, ..., lane_len]` in scan order), when lanes
    /// restart inside.
    pub segments: Option<Vec<u32>>,
}

impl ScanPlan {
    /// Compute dispatches the plan records.
    pub fn dispatch_count(&self) -> usize {
        self.chunks.iter().map(|c| c.passes.len()).sum()
    }
}

fn align_down(x: u64, a: u64) -> u64 {
    x - x % a
}

fn align_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

/// A 4-byte-aligned copy range covering `count` elements from byte `start`.
fn carry_copy(source: CarrySource, start: u64, count: u64, elem_size: u64) -> CarryCopy {
    let offset = align_down(start, 4);
    let end = align_up(start + count * elem_size, 4);
    CarryCopy {
        source,
        range: BufferRange {
            offset,
            size: end - offset,
        },
        shift: ((start - offset) / elem_size) as u32,
        to: 0,
    }
}

/// Bytes of one row region of the carry or pending buffer, for rows of `n` elements: an
/// exclusive scan keeps the row's input in a second region after it.
fn row_region(n: u64, elem_size: u64) -> u64 {
    // One extra element absorbs the shift of an unaligned copy; 256 keeps the second region
    // aligned for any element.
    align_up((n + 4) * elem_size, 256)
}

/// Options of [`plan_scan`] beyond the geometry.
#[derive(Copy, Clone, Debug)]
pub struct BatchSpec {
    /// First row of the batch in the whole geometry.
    pub first_row: u64,
    /// Rows in the batch.
    pub rows: u64,
    /// Bytes per element on the device.
    pub elem_size: u64,
    /// Whether the pending buffer holds the previous batch's last row.
    pub pending: Option<u32>,
    /// Whether to copy this batch's last row to the pending buffer at the end.
    pub carry_out: bool,
    /// Whether the source is the destination. Only passes in which each workgroup touches its
    /// own tile alone may then run, so the chained scan is refused.
    pub in_place: bool,
}

/// Bytes of the chained scan's state for `tiles_y` tile rows of `cols` columns: the tile
/// counter, then per tile row and column an aggregate and an inclusive prefix with its
/// compensation, three values stored as one 16-bit piece per `u32` word.
pub fn chained_state_bytes(tiles_y: u64, cols: u64, elem_size: u64) -> u64 {
    4 * (1 + tiles_y * cols * 3 * (elem_size / 2))
}

/// The passes of one chunk's scan over `levels`, bottom level first.
fn chunk_passes(algorithm: Algorithm, levels: &[Level]) -> Vec<PassStep> {
    let step = |pass, level| PassStep { pass, level };
    let upper_adds = |from: usize| {
        (from..levels.len())
            .rev()
            .filter(|&k| levels[k].tiles_y > 1)
            .map(move |k| step(Pass::AddOffsets, k))
    };
    match algorithm {
        Algorithm::Chained if levels[0].tiles_y > 1 => vec![step(Pass::ChainedScan, 0)],
        Algorithm::ReduceThenScan if levels[0].tiles_y > 1 => {
            let mut passes = vec![step(Pass::ReduceTiles, 0)];
            passes.extend((1..levels.len()).map(|k| step(Pass::ScanTiles, k)));
            passes.extend(upper_adds(1));
            passes.push(step(Pass::ScanSeeded, 0));
            passes
        }
        // Blelloch, and any algorithm on a single tile row (which is one scan).
        _ => {
            let mut passes: Vec<_> = (0..levels.len())
                .map(|k| step(Pass::ScanTiles, k))
                .collect();
            passes.extend(upper_adds(0));
            passes
        }
    }
}

/// The levels of a chunk of `rows x cols` elements and the scratch bytes they use: each level
/// scans the tile totals of the one below until one tile row is left; the chained scan needs
/// one level whatever its height.
fn chunk_levels(
    algorithm: Algorithm,
    rows: u64,
    cols: u64,
    shape: (u64, u32),
    elem_size: u64,
    limits: &DeviceLimits,
) -> Result<(Vec<Level>, u64)> {
    let (tiles_x, tile_rows) = shape;
    let s = elem_size;
    let align = limits.offset_alignment;
    let mut levels = Vec::new();
    let first_tiles_y = rows.div_ceil(tile_rows as u64);
    if algorithm == Algorithm::Chained && first_tiles_y > 1 {
        let totals = BufferRange {
            offset: 0,
            size: chained_state_bytes(first_tiles_y, cols, s),
        };
        levels.push(Level {
            rows: rows as u32,
            span: 1,
            items: None,
            totals,
            tiles_y: first_tiles_y as u32,
            dispatch: Dispatch::new(tiles_x * first_tiles_y, limits)?,
        });
        return Ok((levels, totals.end()));
    }
    let mut level_rows = rows;
    let mut span = 1u64;
    let mut scratch = 0u64;
    let mut items = None;
    loop {
        let tiles_y = level_rows.div_ceil(tile_rows as u64);
        // A single tile row writes no totals; its binding still needs one element.
        let totals = BufferRange {
            offset: scratch,
            size: align_up(if tiles_y > 1 { tiles_y * cols * s } else { s }, 4),
        };
        scratch = align_up(totals.end(), align);
        levels.push(Level {
            rows: level_rows as u32,
            span: span.min(rows) as u32,
            items,
            totals,
            tiles_y: tiles_y as u32,
            dispatch: Dispatch::new(tiles_x * tiles_y, limits)?,
        });
        if tiles_y == 1 {
            return Ok((levels, scratch));
        }
        items = Some(totals);
        level_rows = tiles_y;
        span *= tile_rows as u64;
    }
}

/// Plans the plain inclusive scan of one batch of rows (see [`plan_lanes`]).
pub fn plan_scan(
    geometry: &Geometry,
    batch: &BatchSpec,
    tile: &TileConfig,
    limits: &DeviceLimits,
    algorithm: Algorithm,
) -> Result<ScanPlan> {
    plan_lanes(&Lanes::plain(*geometry), batch, tile, limits, algorithm)
}

/// Plans the scan of one batch of rows, read from the start of a source buffer and written to
/// the start of a destination buffer (the same buffer when `batch.in_place`). Rows are
/// counted in scan order: a reverse batch's row 0 is the last row of its buffer window.
pub fn plan_lanes(
    lanes: &Lanes,
    batch: &BatchSpec,
    tile: &TileConfig,
    limits: &DeviceLimits,
    algorithm: Algorithm,
) -> Result<ScanPlan> {
    let geometry = &lanes.geometry;
    let reverse = lanes.reverse;
    // Segments in scan order.
    let segments = if reverse {
        lanes.segments.mirrored()
    } else {
        lanes.segments.clone()
    };
    let segmented = !segments.is_whole();
    if segmented && geometry.lane_len > u32::MAX as u64 {
        return Err(Error::Overflow(format!(
            "segmented lanes of {} elements: the GPU kernels count positions in 32 bits",
            geometry.lane_len
        )));
    }
    // The first row of buffer `count` rows that holds scan-order rows `[row, row + count)`.
    let stored_row = |row: u64, count: u64| {
        if reverse {
            batch.rows - row - count
        } else {
            row
        }
    };
    if batch.in_place && algorithm == Algorithm::Chained {
        return Err(Error::InvalidArgument(
            "the chained scan cannot run in place: its fallback reads other tiles' input".into(),
        ));
    }
    let s = batch.elem_size;
    let cols = geometry.cols;
    let row_bytes = cols * s;
    let capacity = limits.chunk_capacity(s);
    let align = limits.offset_alignment;
    let mut chunks = Vec::new();
    let mut scratch_bytes = 0u64;
    let mut carry_elems = 0u64;

    let head_of = |global_row: u64| {
        let p = global_row % geometry.lane_len;
        p == 0 || (segmented && segments.is_head(p))
    };
    let exclusive = lanes.exclusive;
    let widest = if row_bytes <= capacity {
        cols
    } else {
        align_down(capacity / s, 64).max(64)
    };
    let carry_region = row_region(widest, s);
    let pending_region = row_region(cols, s);
    // The row above a chunk: its output, and for exclusive scans its input.
    let carry_source = |row_in_batch: u64, col: u64, count: u64| -> [Option<CarryCopy>; 2] {
        if head_of(batch.first_row + row_in_batch) {
            return [None, None];
        }
        let (output, input) = if row_in_batch == 0 {
            let shift = batch.pending.unwrap_or(0) as u64;
            let at = (shift + col) * s;
            (
                carry_copy(CarrySource::Pending, at, count, s),
                carry_copy(CarrySource::PendingInput, pending_region + at, count, s),
            )
        } else {
            let at = (stored_row(row_in_batch - 1, 1) * cols + col) * s;
            (
                carry_copy(CarrySource::Output, at, count, s),
                carry_copy(CarrySource::Input, at, count, s),
            )
        };
        let input = CarryCopy {
            to: carry_region,
            ..input
        };
        [Some(output), exclusive.then_some(input)]
    };
    // One chunk: `rows` rows from `row`, columns `col .. col + n` (all of them unless a row is
    // wider than a binding).
    let mut push_chunk = |row: u64, rows: u64, col: u64, n: u64| -> Result<()> {
        let start = (stored_row(row, rows) * cols + col) * s;
        // Whole rows are contiguous; a column block is one row.
        let bytes = if n == cols { rows * row_bytes } else { n * s };
        let offset = align_down(start, align);
        let window = BufferRange {
            offset,
            size: align_up(start + bytes, 4) - offset,
        };
        let elem_offset = ((start - offset) / s) as u32;
        let global = batch.first_row + row;
        let to_head = (geometry.lane_len - global % geometry.lane_len) % geometry.lane_len;
        let tile_cols = tile.tile_cols(n);
        let tile_rows = tile.tile_rows(tile_cols);
        let tiles_x = n.div_ceil(tile_cols as u64);
        let (levels, scratch) = chunk_levels(algorithm, rows, n, (tiles_x, tile_rows), s, limits)?;
        let carry = carry_source(row, col, n);
        scratch_bytes = scratch_bytes.max(scratch);
        carry_elems = carry_elems.max(n);
        chunks.push(Chunk {
            row,
            col,
            rows: rows as u32,
            cols: n as u32,
            source: window,
            destination: window,
            elem_offset,
            first_head: to_head.min(rows) as u32,
            lane_len: geometry.lane_len.min(rows) as u32,
            lane_pos: (global % geometry.lane_len).min(u32::MAX as u64) as u32,
            tile_cols,
            tiles_x: tiles_x as u32,
            tile_rows,
            carry_in: carry[0],
            carry_in_input: carry[1],
            carry_input_offset: carry[1].map_or(0, |c| (c.to / s) as u32 + c.shift),
            passes: chunk_passes(algorithm, &levels),
            levels,
        });
        Ok(())
    };

    if row_bytes <= capacity {
        let rows_per_chunk = (capacity / row_bytes).max(1);
        let mut row = 0u64;
        while row < batch.rows {
            let rows = rows_per_chunk.min(batch.rows - row);
            push_chunk(row, rows, 0, cols)?;
            row += rows;
        }
    } else {
        // A row wider than a binding: every row is its own scan step, in column blocks whose
        // starts keep the carry copies 4-byte aligned.
        let block = align_down(capacity / s, 64).max(64);
        for row in 0..batch.rows {
            let mut col = 0u64;
            while col < cols {
                let n = block.min(cols - col);
                push_chunk(row, 1, col, n)?;
                col += n;
            }
        }
    }

    let last_row =
        (batch.carry_out && batch.rows > 0).then(|| stored_row(batch.rows - 1, 1) * row_bytes);
    let carry_out = last_row.map(|at| carry_copy(CarrySource::Output, at, cols, s));
    let carry_out_input = last_row.filter(|_| exclusive).map(|at| CarryCopy {
        to: pending_region,
        ..carry_copy(CarrySource::Input, at, cols, s)
    });
    Ok(ScanPlan {
        chunks,
        carry_out,
        carry_out_input,
        scratch_bytes: scratch_bytes.max(4),
        carry_bytes: if exclusive {
            2 * carry_region
        } else {
            align_up((carry_elems + 4) * s, 4)
        },
        pending_bytes: if exclusive {
            2 * pending_region
        } else {
            pending_region
        },
        reverse,
        exclusive: lanes.exclusive,
        segments: segmented.then(|| segments.offsets().iter().map(|&o| o as u32).collect()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAVAPIPE: DeviceLimits = DeviceLimits {
        max_binding_bytes: 128 << 20,
        max_buffer_bytes: 1 << 31,
        offset_alignment: 256,
        max_workgroups_per_dim: 65535,
    };

    fn batch(g: &Geometry, s: u64) -> BatchSpec {
        BatchSpec {
            first_row: 0,
            rows: g.rows,
            elem_size: s,
            pending: None,
            carry_out: false,
            in_place: false,
        }
    }

    #[test]
    fn tile_shapes_are_validated() {
        assert!(TileConfig::default().validate(256).is_ok());
        for (workgroup_size, elements_per_thread) in [(3, 4), (0, 4), (512, 4), (64, 0), (64, 17)] {
            let tile = TileConfig {
                workgroup_size,
                elements_per_thread,
            };
            assert!(tile.validate(256).is_err(), "{tile:?}");
        }
    }

    #[test]
    fn level_count_grows_with_tile_powers() {
        let tile = TileConfig::default();
        let t = tile.tile_len() as u64;
        for (n, levels) in [
            (1, 1),
            (2, 1),
            (t, 1),
            (t + 1, 2),
            (t * t, 2),
            (t * t + 1, 3),
        ] {
            let g = Geometry {
                rows: n,
                cols: 1,
                lane_len: n,
            };
            let plan = plan_scan(&g, &batch(&g, 4), &tile, &LAVAPIPE, Algorithm::Blelloch).unwrap();
            assert_eq!(plan.chunks.len(), 1);
            assert_eq!(plan.chunks[0].levels.len(), levels, "n = {n}");
        }
    }

    #[test]
    fn levels_shrink_by_tile_rows_and_spans_multiply() {
        let tile = TileConfig {
            workgroup_size: 16,
            elements_per_thread: 2,
        };
        let g = Geometry {
            rows: 32 * 32 * 32 + 1,
            cols: 1,
            lane_len: 100,
        };
        let plan = plan_scan(&g, &batch(&g, 4), &tile, &LAVAPIPE, Algorithm::Blelloch).unwrap();
        let c = &plan.chunks[0];
        let rows: Vec<u32> = c.levels.iter().map(|l| l.rows).collect();
        assert_eq!(rows, vec![32769, 1025, 33, 2]);
        let spans: Vec<u32> = c.levels.iter().map(|l| l.span).collect();
        assert_eq!(spans, vec![1, 32, 1024, 32768]);
        assert_eq!(c.levels[0].totals.size, 1025 * 4);
        assert_eq!(c.levels[1].items, Some(c.levels[0].totals));
        assert_eq!(c.levels[0].totals.offset % 256, 0);
        assert_eq!(c.levels[1].totals.offset % 256, 0);
        assert!(plan.scratch_bytes >= c.levels[3].totals.end());
        // scan every level, add offsets on the three that have more than one tile row
        assert_eq!(plan.dispatch_count(), 4 + 3);
    }

    #[test]
    fn strided_tiles_cover_columns() {
        let tile = TileConfig::default();
        let g = Geometry {
            rows: 4096,
            cols: 4096,
            lane_len: 4096,
        };
        let plan = plan_scan(&g, &batch(&g, 4), &tile, &LAVAPIPE, Algorithm::Blelloch).unwrap();
        let c = &plan.chunks[0];
        assert_eq!(c.tile_cols, 32);
        assert_eq!(c.tile_rows, 64);
        assert_eq!(c.tiles_x, 128);
        assert_eq!(c.levels[0].dispatch.workgroups, 128 * 64);
        let g = Geometry {
            rows: 1 << 22,
            cols: 8,
            lane_len: 1 << 22,
        };
        let plan = plan_scan(&g, &batch(&g, 4), &tile, &LAVAPIPE, Algorithm::Blelloch).unwrap();
        assert_eq!(plan.chunks[0].tile_cols, 8);
        assert_eq!(plan.chunks[0].tile_rows, 256);
    }

    #[test]
    fn chunks_respect_the_binding_limit_and_pass_carries() {
        let tile = TileConfig::default();
        let n = 50_000_000u64; // 200 MB of float32
        let g = Geometry {
            rows: n,
            cols: 1,
            lane_len: n,
        };
        let plan = plan_scan(&g, &batch(&g, 4), &tile, &LAVAPIPE, Algorithm::Blelloch).unwrap();
        assert_eq!(plan.chunks.len(), 2);
        let mut rows = 0;
        for (i, c) in plan.chunks.iter().enumerate() {
            assert!(c.source.size <= LAVAPIPE.max_binding_bytes);
            assert_eq!(c.source.offset % 256, 0);
            assert_eq!(c.row, rows);
            rows += c.rows as u64;
            assert_eq!(c.carry_in.is_some(), i > 0);
        }
        assert_eq!(rows, n);
        let carry = plan.chunks[1].carry_in.unwrap();
        assert_eq!(carry.source, CarrySource::Output);
        assert_eq!(
            carry.range.offset + carry.shift as u64 * 4,
            (plan.chunks[1].row - 1) * 4
        );
    }

    #[test]
    fn lane_heads_are_found_in_every_chunk() {
        let tile = TileConfig::default();
        let limits = DeviceLimits {
            max_binding_bytes: 256 + 4000,
            ..LAVAPIPE
        };
        let g = Geometry {
            rows: 3000,
            cols: 1,
            lane_len: 700,
        };
        let plan = plan_scan(&g, &batch(&g, 4), &tile, &limits, Algorithm::Blelloch).unwrap();
        for c in &plan.chunks {
            let expect = (0..c.rows as u64)
                .find(|r| (c.row + r) % 700 == 0)
                .unwrap_or(c.rows as u64);
            assert_eq!(c.first_head as u64, expect);
            assert_eq!(c.carry_in.is_some(), expect != 0);
        }
    }

    #[test]
    fn rows_wider_than_a_binding_are_split_into_column_blocks() {
        let tile = TileConfig::default();
        let limits = DeviceLimits {
            max_binding_bytes: 256 + 1024,
            ..LAVAPIPE
        };
        let g = Geometry {
            rows: 3,
            cols: 1000,
            lane_len: 3,
        };
        let plan = plan_scan(&g, &batch(&g, 2), &tile, &limits, Algorithm::Blelloch).unwrap();
        // 1024 bytes hold 512 float16 elements: blocks of 512 + 488 per row
        assert_eq!(plan.chunks.len(), 6);
        for c in &plan.chunks {
            assert!(c.source.size <= limits.max_binding_bytes);
            assert_eq!(c.rows, 1);
            assert_eq!(c.carry_in.is_some(), c.row > 0);
            if let Some(ci) = c.carry_in {
                let start = ((c.row - 1) * 1000 + c.col) * 2;
                assert_eq!(ci.range.offset + ci.shift as u64 * 2, start);
                assert!(ci.range.end() >= start + c.cols as u64 * 2);
                assert_eq!(ci.range.offset % 4, 0);
                assert_eq!(ci.range.size % 4, 0);
            }
        }
    }

    #[test]
    fn batches_take_their_carry_from_the_pending_row() {
        let tile = TileConfig::default();
        let g = Geometry {
            rows: 10,
            cols: 3,
            lane_len: 10,
        };
        let spec = BatchSpec {
            first_row: 4,
            rows: 6,
            elem_size: 2,
            pending: Some(1),
            carry_out: true,
            in_place: false,
        };
        let plan = plan_scan(&g, &spec, &tile, &LAVAPIPE, Algorithm::Blelloch).unwrap();
        let copy = plan.chunks[0].carry_in.unwrap();
        assert_eq!(copy.source, CarrySource::Pending);
        assert_eq!(copy.range.offset + copy.shift as u64 * 2, 2);
        let out = plan.carry_out.unwrap();
        assert_eq!(out.range.offset + out.shift as u64 * 2, 5 * 3 * 2);
    }

    #[test]
    fn dispatch_folds_into_two_dimensions() {
        let d = Dispatch::new(200_000, &LAVAPIPE).unwrap();
        assert_eq!(d.grid, [65535, 4]);
        assert!(d.grid[0] as u64 * d.grid[1] as u64 >= 200_000);
        assert!(Dispatch::new(65535u64 * 65535 + 1, &LAVAPIPE).is_err());
    }

    #[test]
    fn each_algorithm_plans_its_passes() {
        let tile = TileConfig::default();
        let t = tile.tile_len() as u64;
        let g = Geometry {
            rows: t * t + 1,
            cols: 1,
            lane_len: t * t + 1,
        };
        let passes = |a| {
            let plan = plan_scan(&g, &batch(&g, 4), &tile, &LAVAPIPE, a).unwrap();
            assert_eq!(plan.chunks.len(), 1);
            let c = &plan.chunks[0];
            let names: Vec<(Pass, usize)> = c.passes.iter().map(|p| (p.pass, p.level)).collect();
            (names, c.levels.clone(), plan.dispatch_count())
        };
        // Three levels: T*T+1 rows make T+1 tiles, then 2, then 1.
        let (blelloch, levels, dispatches) = passes(Algorithm::Blelloch);
        assert_eq!(levels.len(), 3);
        assert_eq!(
            blelloch,
            vec![
                (Pass::ScanTiles, 0),
                (Pass::ScanTiles, 1),
                (Pass::ScanTiles, 2),
                (Pass::AddOffsets, 1),
                (Pass::AddOffsets, 0),
            ]
        );
        assert_eq!(dispatches, 5);
        let (rts, _, _) = passes(Algorithm::ReduceThenScan);
        assert_eq!(
            rts,
            vec![
                (Pass::ReduceTiles, 0),
                (Pass::ScanTiles, 1),
                (Pass::ScanTiles, 2),
                (Pass::AddOffsets, 1),
                (Pass::ScanSeeded, 0),
            ]
        );
        let (chained, levels, dispatches) = passes(Algorithm::Chained);
        assert_eq!(chained, vec![(Pass::ChainedScan, 0)]);
        assert_eq!(dispatches, 1);
        // The look-back state: the counter, then three 32-bit values per tile in 16-bit pieces.
        assert_eq!(levels[0].tiles_y as u64, t + 1);
        assert_eq!(levels[0].totals.size, 4 * (1 + (t + 1) * 3 * 2));
        assert_eq!(levels[0].dispatch.workgroups as u64, t + 1);

        // One tile row is one scan, whatever the algorithm (the chained scan looks back at
        // nothing); so is a single row, which still writes the destination.
        let small = Geometry {
            rows: 100,
            cols: 3,
            lane_len: 100,
        };
        for a in Algorithm::ALL {
            let plan = plan_scan(&small, &batch(&small, 8), &tile, &LAVAPIPE, a).unwrap();
            assert_eq!(plan.dispatch_count(), 1, "{a:?}");
        }
        let row = Geometry {
            rows: 1,
            cols: 10,
            lane_len: 1,
        };
        for a in Algorithm::ALL {
            let plan = plan_scan(&row, &batch(&row, 4), &tile, &LAVAPIPE, a).unwrap();
            assert_eq!(plan.dispatch_count(), 1, "{a:?}");
            assert_eq!(plan.chunks[0].passes[0].pass, Pass::ScanTiles);
        }
        // In place, every algorithm but the chained scan plans as before.
        let in_place = BatchSpec {
            in_place: true,
            ..batch(&g, 4)
        };
        for a in [Algorithm::Blelloch, Algorithm::ReduceThenScan] {
            assert!(plan_scan(&g, &in_place, &tile, &LAVAPIPE, a).is_ok());
        }
        let err = plan_scan(&g, &in_place, &tile, &LAVAPIPE, Algorithm::Chained).unwrap_err();
        assert!(err.to_string().contains("in place"), "{err}");
    }

    #[test]
    fn chained_state_covers_every_column_of_every_tile_row() {
        // float64 tiles of 32 columns x 64 rows: 40 columns, 1000 rows -> 16 tile rows.
        let tile = TileConfig::default();
        let g = Geometry {
            rows: 1000,
            cols: 40,
            lane_len: 1000,
        };
        let plan = plan_scan(&g, &batch(&g, 8), &tile, &LAVAPIPE, Algorithm::Chained).unwrap();
        let level = &plan.chunks[0].levels[0];
        assert_eq!(level.tiles_y, 16);
        assert_eq!(level.totals.size, chained_state_bytes(16, 40, 8));
        assert_eq!(chained_state_bytes(16, 40, 8), 4 * (1 + 16 * 40 * 3 * 4));
        assert!(plan.scratch_bytes >= level.totals.size);
        assert_eq!(level.dispatch.workgroups, 2 * 16);
    }
}
