//! WGSL assembly: a prelude generated from the host's constants, the shared bindings, and one
//! file per pass; compiled pipelines are cached per pass and element type.

use std::collections::HashMap;
use std::sync::Mutex;

use super::op_wgsl::{op_wgsl, KernelOp};
use crate::dtype::DType;
#[cfg(test)]
use crate::op::ScanOp;
use crate::plan::{Pass, TileConfig};

/// How accumulator values are stored and combined on the GPU. Narrow ints widen to 32 bits
/// (sums wrap the same modulo 2^8 or 2^16) and bool is a `u32` 0 or 1 combined with `|`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum GpuElem {
    Bool,
    I32,
    U32,
    F32,
    I64,
    U64,
    F64,
    F16,
}

impl GpuElem {
    /// The storage of an accumulation dtype.
    pub fn of(dtype: DType) -> GpuElem {
        match dtype {
            DType::Bool => GpuElem::Bool,
            DType::Int8 | DType::Int16 | DType::Int32 => GpuElem::I32,
            DType::UInt8 | DType::UInt16 | DType::UInt32 => GpuElem::U32,
            DType::Int64 => GpuElem::I64,
            DType::UInt64 => GpuElem::U64,
            DType::Float16 => GpuElem::F16,
            DType::Float32 => GpuElem::F32,
            DType::Float64 => GpuElem::F64,
        }
    }

    /// Bytes per stored element.
    pub fn size(self) -> u64 {
        match self {
            GpuElem::F16 => 2,
            GpuElem::Bool | GpuElem::I32 | GpuElem::U32 | GpuElem::F32 => 4,
            GpuElem::I64 | GpuElem::U64 | GpuElem::F64 => 8,
        }
    }

    /// The wgpu feature this storage needs, with its name for error messages.
    pub fn required_feature(self) -> Option<(wgpu::Features, &'static str)> {
        match self {
            GpuElem::I64 | GpuElem::U64 => Some((wgpu::Features::SHADER_INT64, "SHADER_INT64")),
            GpuElem::F64 => Some((wgpu::Features::SHADER_F64, "SHADER_F64")),
            GpuElem::F16 => Some((wgpu::Features::SHADER_F16, "SHADER_F16")),
            _ => None,
        }
    }

    fn wgsl_type(self) -> &'static str {
        match self {
            GpuElem::Bool | GpuElem::U32 => "u32",
            GpuElem::I32 => "i32",
            GpuElem::F32 => "f32",
            GpuElem::I64 => "i64",
            GpuElem::U64 => "u64",
            GpuElem::F64 => "f64",
            GpuElem::F16 => "f16",
        }
    }

    /// The largest finite value, as a WGSL literal.
    fn max_finite(self) -> &'static str {
        match self {
            GpuElem::Bool | GpuElem::U32 => "4294967295u",
            GpuElem::I32 => "2147483647i",
            GpuElem::F32 => "3.40282347e38f",
            GpuElem::I64 => "9223372036854775807li",
            GpuElem::U64 => "18446744073709551615lu",
            GpuElem::F64 => "1.7976931348623157e308lf",
            GpuElem::F16 => "65504.0h",
        }
    }

    /// WGSL that returns the value's bits: the low word, then the high word of 64-bit types.
    fn bits_wgsl(self) -> &'static str {
        match self {
            GpuElem::Bool | GpuElem::U32 => "return vec2<u32>(x, 0u);",
            GpuElem::I32 | GpuElem::F32 => "return vec2<u32>(bitcast<u32>(x), 0u);",
            // naga cannot bitcast between u32 and vec2<f16>; these conversions are exact.
            GpuElem::F16 => "return vec2<u32>(pack2x16float(vec2<f32>(f32(x), 0.0)), 0u);",
            GpuElem::U64 => "return vec2<u32>(u32(x & 0xfffffffflu), u32(x >> 32u));",
            GpuElem::I64 | GpuElem::F64 => {
                "let u = bitcast<u64>(x); return vec2<u32>(u32(u & 0xfffffffflu), u32(u >> 32u));"
            }
        }
    }

    /// WGSL that rebuilds a value from `to_bits`'s words `b`.
    fn unbits_wgsl(self) -> &'static str {
        match self {
            GpuElem::Bool | GpuElem::U32 => "return b.x;",
            GpuElem::I32 => "return bitcast<i32>(b.x);",
            GpuElem::F32 => "return bitcast<f32>(b.x);",
            GpuElem::F16 => "return f16(unpack2x16float(b.x).x);",
            GpuElem::U64 => "return u64(b.x) | (u64(b.y) << 32u);",
            GpuElem::I64 => "return bitcast<i64>(u64(b.x) | (u64(b.y) << 32u));",
            GpuElem::F64 => "return bitcast<f64>(u64(b.x) | (u64(b.y) << 32u));",
        }
    }

    /// WGSL for `subgroupShuffle(x, lane)`, or `subgroupShuffleUp(x, lane)` with `up`.
    /// Vulkan shuffles 16- and 64-bit values only with an extension wgpu does not expose, so
    /// those move as 32-bit words.
    fn shuffle_wgsl(self, up: bool) -> String {
        let f = if up {
            "subgroupShuffleUp"
        } else {
            "subgroupShuffle"
        };
        match self {
            GpuElem::Bool | GpuElem::U32 | GpuElem::I32 | GpuElem::F32 => {
                format!("return {f}(x, lane);")
            }
            GpuElem::F16 => {
                format!("return elem_from_bits(vec2<u32>({f}(elem_bits(x).x, lane), 0u));")
            }
            _ => format!(
                "let b = elem_bits(x); return elem_from_bits(vec2<u32>({f}(b.x, lane), {f}(b.y, lane)));"
            ),
        }
    }
}

/// Declares the uniform block every pass reads, once, for both the host (`#[repr(C)]`) and
/// WGSL (`struct Params`): all fields are `u32`, so the layouts agree field for field.
macro_rules! params {
    ($($(#[doc = $doc:expr])* $field:ident),* $(,)?) => {
        /// Per-dispatch parameters (see `shaders/common.wgsl`).
        #[repr(C)]
        #[derive(Copy, Clone, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct Params {
            $($(#[doc = $doc])* pub $field: u32,)*
        }

        const PARAMS_WGSL: &str = concat!("struct Params {\n", $("    ", stringify!($field), ": u32,\n",)* "}\n");
    };
}

params! {
    /// Items down each column at this level.
    rows,
    /// Columns.
    cols,
    /// Element index of item (0, 0) in `items`.
    offset,
    /// Element index of the first value in `aux`.
    aux_offset,
    /// Columns per tile.
    tile_cols,
    /// Column tiles.
    tiles_x,
    /// Workgroups that do work.
    workgroups,
    /// Width of the dispatch grid.
    dispatch_x,
    /// Base-level rows one item stands for.
    span,
    /// Rows of the chunk at the base level.
    base_rows,
    /// First base-level row that starts a lane.
    first_head,
    /// Rows per lane.
    lane_len,
    /// Always 0, unknown to the shader compiler: XOR-ing a value's bits with it hides the
    /// value's origin, so that compensated sums are not simplified away.
    zero,
    /// 1 when the chunk's first row continues the row above it, held in `carry`.
    carry,
    /// Element index of that row's first value in `carry`.
    carry_offset,
    /// Chained scan: polls of a predecessor's state before reducing its tile.
    spin_limit,
    /// Chained scan fault injection: owners of tile rows r with `(r + 1) & mask == 0`
    /// publish nothing (0: off).
    unpublished_mask,
    /// Chained scan fault injection: 1 makes owners publish only after storing their rows.
    publish_late,
    /// Chained scan fault injection: seeds busy waits of pseudo-random length (0: none).
    delay_seed,
    /// 1 when items are the chunk's own rows of a reverse scan: row r is stored at row
    /// `rows - 1 - r` of the window (level 0 only).
    flip,
    /// 1 when level 0 stores an exclusive scan.
    exclusive,
    /// Entries of the segment offsets (`[0, ..., seg_lane_len]`, in scan order); 0: none.
    segments,
    /// Rows per lane, unclamped, that the segment offsets count in.
    seg_lane_len,
    /// Position in its lane of the chunk's first row (with segments).
    lane_pos,
    /// Exclusive scans: element index in `carry` of the carried row's input, which the
    /// carried row's (exclusive) value is combined with.
    carry_input_offset,
}

/// The kernel sources: one WGSL file per pass, except that the three multi-pass tile scans
/// share one file (and its `scan_tile`).
fn pass_source(pass: Pass) -> &'static str {
    match pass {
        Pass::ScanTiles | Pass::ReduceTiles | Pass::ScanSeeded => {
            include_str!("../../shaders/scan_tiles.wgsl")
        }
        Pass::AddOffsets => include_str!("../../shaders/add_offsets.wgsl"),
        Pass::ChainedScan => include_str!("../../shaders/chained_scan.wgsl"),
    }
}

/// Whether a pass scans tiles (and so needs the workgroup scan and the per-invocation rows).
fn scans_tiles(pass: Pass) -> bool {
    pass != Pass::AddOffsets
}

/// How a workgroup combines its invocations' totals.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum TileScan {
    /// A Blelloch tree in workgroup memory: any adapter.
    Shared,
    /// Subgroup shuffles, then one pass over the subgroup totals: adapters with `SUBGROUP`.
    Subgroup,
}

impl TileScan {
    fn source(self) -> &'static str {
        match self {
            TileScan::Shared => include_str!("../../shaders/tile_scan_shared.wgsl"),
            TileScan::Subgroup => include_str!("../../shaders/tile_scan_subgroup.wgsl"),
        }
    }
}

const COMMON_WGSL: &str = include_str!("../../shaders/common.wgsl");
const THREAD_ROWS_WGSL: &str = include_str!("../../shaders/thread_rows.wgsl");

/// Polls of a predecessor's state before the chained scan reduces its tile itself, unless a
/// context sets another ([`crate::ContextOptions::spin_limit`]). A poll costs about an L2 round
/// trip, a few of them a fraction of a tile's time at full bandwidth, so a stalled predecessor
/// costs at most one extra tile read. On lavapipe 8 to 4096 polls ran equally fast; hardware
/// GPUs have not measured it.
pub const SPIN_LIMIT: u32 = 8;

/// How a pipeline binds its items: read from `src` and written to `dst`, or read and written
/// in `dst` (only where each workgroup touches its own tile alone).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Items {
    /// Read from `src`, written to `dst`.
    OutOfPlace,
    /// Read and written in `dst`.
    InPlace,
}

/// The generated prelude: element type, its bit pieces, the operation (identity, combine, the
/// input's NaN rule), the tile constants, the entry points' builtins and `Params`.
pub fn prelude(
    op: KernelOp,
    elem: GpuElem,
    tile: &TileConfig,
    tile_scan: TileScan,
    items: Items,
) -> String {
    let mut enable = String::new();
    if elem == GpuElem::F16 {
        enable.push_str("enable f16;\n");
    }
    let (shuffle, subgroup_builtins) = match tile_scan {
        TileScan::Shared => (String::new(), ""),
        TileScan::Subgroup => (
            format!(
                "fn shuffle(x: Elem, lane: u32) -> Elem {{ {} }}\n\
                 fn shuffle_up(x: Elem, lane: u32) -> Elem {{ {} }}\n",
                elem.shuffle_wgsl(false),
                elem.shuffle_wgsl(true)
            ),
            "    @builtin(subgroup_invocation_id) subgroup_lane: u32,\n    \
             @builtin(subgroup_size) subgroup_size: u32,\n",
        ),
    };
    format!(
        "{enable}\n// Generated by gpuscan; do not edit.\n\
         alias Elem = {ty};\n\
         const WORKGROUP_SIZE: u32 = {wg}u;\n\
         const ELEMS_PER_THREAD: u32 = {ept}u;\n\
         // Whether items are read from `dst` (in place) rather than `src`.\n\
         const IN_PLACE: bool = {in_place};\n\
         // 16-bit pieces of one value, as the chained scan publishes it.\n\
         const WORDS: u32 = {words}u;\n\
         const MAX_FINITE: Elem = {max_finite};\n\
         fn elem_bits(x: Elem) -> vec2<u32> {{ {to_bits} }}\n\
         fn elem_from_bits(b: vec2<u32>) -> Elem {{ {from_bits} }}\n\
         {op}\
         {shuffle}\
         struct Invocation {{\n    \
         @builtin(workgroup_id) workgroup: vec3<u32>,\n    \
         @builtin(local_invocation_index) local: u32,\n\
         {subgroup_builtins}}}\n\
         {params}\n",
        ty = elem.wgsl_type(),
        wg = tile.workgroup_size,
        ept = tile.elements_per_thread,
        in_place = items == Items::InPlace,
        words = elem.size() / 2,
        max_finite = elem.max_finite(),
        op = op_wgsl(op, elem),
        to_bits = elem.bits_wgsl(),
        from_bits = elem.unbits_wgsl(),
        params = PARAMS_WGSL,
    )
}

/// The whole WGSL module of one pass for one element type.
pub fn module_source(
    pass: Pass,
    op: KernelOp,
    elem: GpuElem,
    tile: &TileConfig,
    tile_scan: TileScan,
    items: Items,
) -> String {
    let mut src = prelude(op, elem, tile, tile_scan, items);
    src.push_str(COMMON_WGSL);
    if scans_tiles(pass) {
        src.push_str(tile_scan.source());
        src.push_str(THREAD_ROWS_WGSL);
    }
    src.push_str(pass_source(pass));
    src
}

/// The subgroup probe's module: the subgroup tile scan's placement, reported per invocation.
pub fn probe_source(tile: &TileConfig) -> String {
    let mut src = prelude(
        KernelOp::SUM,
        GpuElem::U32,
        tile,
        TileScan::Subgroup,
        Items::OutOfPlace,
    );
    src.push_str(COMMON_WGSL);
    src.push_str(TileScan::Subgroup.source());
    src.push_str(THREAD_ROWS_WGSL);
    src.push_str(include_str!("../../shaders/subgroup_probe.wgsl"));
    src
}

/// What a compiled pipeline depends on.
type PipelineKey = (Pass, KernelOp, GpuElem, TileScan, Items);

/// The bind group layout shared by every pass, and compiled pipelines.
pub struct Kernels {
    pub layout: wgpu::BindGroupLayout,
    pub pipeline_layout: wgpu::PipelineLayout,
    tile: TileConfig,
    cache: Mutex<HashMap<PipelineKey, wgpu::ComputePipeline>>,
}

impl Kernels {
    pub fn new(device: &wgpu::Device, tile: TileConfig) -> Kernels {
        let storage = |binding, read_only| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("gpuscan scan bindings"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: wgpu::BufferSize::new(
                            std::mem::size_of::<Params>() as u64
                        ),
                    },
                    count: None,
                },
                // src, dst, aux (or the chained scan's state), carry, counters, segment offsets
                storage(1, true),
                storage(2, false),
                storage(3, false),
                storage(4, true),
                storage(5, false),
                storage(6, true),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("gpuscan scan pipeline layout"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        Kernels {
            layout,
            pipeline_layout,
            tile,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The pipeline of `pass` for `elem`, compiled on first use. Compilation errors surface
    /// through the caller's error scope.
    pub fn pipeline(
        &self,
        device: &wgpu::Device,
        pass: Pass,
        op: KernelOp,
        elem: GpuElem,
        tile_scan: TileScan,
        items: Items,
    ) -> wgpu::ComputePipeline {
        // Only passes that scan tiles differ by workgroup scan and by where they read items.
        let (tile_scan, items) = if scans_tiles(pass) {
            (tile_scan, items)
        } else {
            (TileScan::Shared, Items::InPlace)
        };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry((pass, op, elem, tile_scan, items))
            .or_insert_with(|| {
                let label = format!(
                    "gpuscan {} {op} {elem:?} {tile_scan:?} {items:?}",
                    pass.entry_point()
                );
                let source = module_source(pass, op, elem, &self.tile, tile_scan, items);
                let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(&label),
                    source: wgpu::ShaderSource::Wgsl(source.into()),
                });
                device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(&label),
                    layout: Some(&self.pipeline_layout),
                    module: &module,
                    entry_point: Some(pass.entry_point()),
                    compilation_options: Default::default(),
                    cache: None,
                })
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses and validates one module with naga alone (no adapter), panicking with `what`.
    fn validate(src: &str, what: &str) {
        let module = naga::front::wgsl::parse_str(src)
            .unwrap_or_else(|e| panic!("{what}: {}", e.emit_to_string(src)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{what}: {}", e.emit_to_string(src)));
    }

    /// Every generated module must parse and validate.
    #[test]
    fn every_module_validates() {
        let tile = TileConfig::default();
        for elem in [
            GpuElem::Bool,
            GpuElem::I32,
            GpuElem::U32,
            GpuElem::F32,
            GpuElem::I64,
            GpuElem::U64,
            GpuElem::F64,
            GpuElem::F16,
        ] {
            let ops = ScanOp::ALL
                .into_iter()
                .filter(|&op| super::super::op_wgsl::runs(op, elem))
                .map(|op| KernelOp::new(op, DType::Float32))
                // 8- and 16-bit extremes, stored in 32 bits, have their own empty value.
                .chain(match elem {
                    GpuElem::I32 => Some(KernelOp::new(ScanOp::Max, DType::Int8)),
                    GpuElem::U32 => Some(KernelOp::new(ScanOp::Min, DType::UInt16)),
                    _ => None,
                });
            for op in ops {
                for pass in Pass::ALL {
                    for tile_scan in [TileScan::Shared, TileScan::Subgroup] {
                        for items in [Items::OutOfPlace, Items::InPlace] {
                            let src = module_source(pass, op, elem, &tile, tile_scan, items);
                            let what = format!("{pass:?} {op} {elem:?} {tile_scan:?} {items:?}");
                            validate(&src, &what);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_subgroup_probe_validates() {
        validate(&probe_source(&TileConfig::default()), "subgroup probe");
    }

    #[test]
    fn params_struct_matches_the_host_layout() {
        assert_eq!(
            std::mem::size_of::<Params>(),
            4 * PARAMS_WGSL.matches(": u32").count()
        );
        assert!(prelude(
            KernelOp::SUM,
            GpuElem::F16,
            &TileConfig::default(),
            TileScan::Shared,
            Items::OutOfPlace
        )
        .starts_with("enable f16;"));
    }
}
