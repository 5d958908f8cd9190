//! The operation's part of the generated prelude: `identity()`, `empty()`, `combine`,
//! `load_value` (NaN replaced for the nan* scans) and `COMPENSATED`, from the same
//! [`ScanOp`] the CPU kernels take.
//!
//! Identities are functions, not constants: WGSL cannot write an infinity as a constant
//! expression. Float NaN tests read the bits, since WGSL lets compilers assume `x != x` false.

use super::kernels::GpuElem;
use crate::dtype::DType;
use crate::op::{Combine, ScanOp};

/// The operation a kernel is built for: the scan, and for max and min of 8- and 16-bit
/// integers (stored in 32 bits) the dtype whose lowest or highest value an empty scan gives.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct KernelOp {
    /// The scan.
    pub op: ScanOp,
    narrow: Option<DType>,
}

impl KernelOp {
    /// `op` on values of `dtype`.
    pub fn new(op: ScanOp, dtype: DType) -> KernelOp {
        let extreme = matches!(op.combine(), Combine::Max | Combine::Min);
        let narrow = matches!(
            dtype,
            DType::Int8 | DType::Int16 | DType::UInt8 | DType::UInt16
        );
        KernelOp {
            op,
            narrow: (extreme && narrow).then_some(dtype),
        }
    }

    /// The plain sum, whatever the dtype.
    pub const SUM: KernelOp = KernelOp {
        op: ScanOp::Sum,
        narrow: None,
    };
}

impl std::fmt::Display for KernelOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.narrow {
            Some(d) => write!(f, "{} {d}", self.op),
            None => write!(f, "{}", self.op),
        }
    }
}

/// The bits of -inf and +inf, and a NaN test, of a float storage type.
struct FloatBits {
    /// WGSL turning a bit pattern (`b`, the words of `elem_from_bits`) into the value.
    neg_inf: &'static str,
    pos_inf: &'static str,
    /// WGSL body of `is_nan(x: Elem) -> bool`, from `elem_bits(x)` in `b`.
    nan: &'static str,
}

fn float_bits(elem: GpuElem) -> Option<FloatBits> {
    match elem {
        GpuElem::F16 => Some(FloatBits {
            neg_inf: "vec2<u32>(0xfc00u, 0u)",
            pos_inf: "vec2<u32>(0x7c00u, 0u)",
            nan: "return (b.x & 0x7fffu) > 0x7c00u;",
        }),
        GpuElem::F32 => Some(FloatBits {
            neg_inf: "vec2<u32>(0xff800000u, 0u)",
            pos_inf: "vec2<u32>(0x7f800000u, 0u)",
            nan: "return (b.x & 0x7fffffffu) > 0x7f800000u;",
        }),
        GpuElem::F64 => Some(FloatBits {
            neg_inf: "vec2<u32>(0u, 0xfff00000u)",
            pos_inf: "vec2<u32>(0u, 0x7ff00000u)",
            nan: "let hi = b.y & 0x7fffffffu; return hi > 0x7ff00000u || (hi == 0x7ff00000u && b.x != 0u);",
        }),
        _ => None,
    }
}

/// The lowest and highest values of an integer storage type (or of the narrow dtype stored in
/// it), as WGSL constant expressions.
fn int_range(elem: GpuElem, narrow: Option<DType>) -> (&'static str, &'static str) {
    match narrow {
        Some(DType::Int8) => return ("-128i", "127i"),
        Some(DType::Int16) => return ("-32768i", "32767i"),
        Some(DType::UInt8) => return ("0u", "255u"),
        Some(DType::UInt16) => return ("0u", "65535u"),
        _ => {}
    }
    match elem {
        GpuElem::Bool => ("0u", "1u"),
        GpuElem::U32 => ("0u", "4294967295u"),
        GpuElem::I32 => ("(-2147483647i - 1i)", "2147483647i"),
        GpuElem::U64 => ("0lu", "18446744073709551615lu"),
        GpuElem::I64 => ("(-9223372036854775807li - 1li)", "9223372036854775807li"),
        _ => unreachable!("{elem:?} is a float"),
    }
}

/// `x` as a literal of the storage type.
fn literal(elem: GpuElem, x: i32) -> String {
    match elem {
        GpuElem::Bool | GpuElem::U32 => format!("{x}u"),
        GpuElem::I32 => format!("{x}i"),
        GpuElem::U64 => format!("{x}lu"),
        GpuElem::I64 => format!("{x}li"),
        GpuElem::F32 => format!("{x}.0f"),
        GpuElem::F64 => format!("{x}.0lf"),
        GpuElem::F16 => format!("{x}.0h"),
    }
}

/// Whether the GPU kernels run `op` on `elem` (logcumsumexp needs a float).
pub fn runs(op: ScanOp, elem: GpuElem) -> bool {
    op.combine() != Combine::LogAddExp || float_bits(elem).is_some()
}

/// The WGSL of `op` on `elem`; see the module comment.
pub fn op_wgsl(kernel: KernelOp, elem: GpuElem) -> String {
    let op = kernel.op;
    let float = float_bits(elem);
    let is_float = float.is_some();
    let bool_like = elem == GpuElem::Bool;
    let (lowest, highest) = match &float {
        Some(f) => (
            format!("elem_from_bits({})", f.neg_inf),
            format!("elem_from_bits({})", f.pos_inf),
        ),
        None => {
            let (l, h) = int_range(elem, kernel.narrow);
            (l.to_string(), h.to_string())
        }
    };
    let zero = literal(elem, 0);
    let one = literal(elem, 1);
    let neg_zero = if is_float {
        format!("-{zero}")
    } else {
        zero.clone()
    };
    let extreme = |greater: &str, ties: &str| {
        if bool_like {
            // max is OR, min is AND.
            format!("return a {} b;", if greater == ">" { "|" } else { "&" })
        } else if is_float {
            // The first NaN propagates; of two equal values, the bits combined keep the
            // larger (+0.0) or smaller (-0.0) zero, as the CPU path does.
            format!(
                "if is_nan(a) {{ return a; }} if is_nan(b) {{ return b; }} \
                 if a {greater} b {{ return a; }} if b {greater} a {{ return b; }} \
                 return elem_from_bits(elem_bits(a) {ties} elem_bits(b));"
            )
        } else if greater == ">" {
            "return max(a, b);".to_string()
        } else {
            "return min(a, b);".to_string()
        }
    };
    let (identity, empty, combine) = match op.combine() {
        Combine::Add => (
            neg_zero,
            zero,
            if bool_like {
                "return a | b;"
            } else {
                "return a + b;"
            }
            .to_string(),
        ),
        Combine::Mul => (
            one.clone(),
            one,
            if bool_like {
                "return a & b;"
            } else {
                "return a * b;"
            }
            .to_string(),
        ),
        Combine::Max => (lowest.clone(), lowest, extreme(">", "&")),
        Combine::Min => (highest.clone(), highest, extreme("<", "|")),
        Combine::LogAddExp => (
            lowest.clone(),
            lowest,
            "return Elem(logaddexp(Real(a), Real(b)));".to_string(),
        ),
    };
    let nan_test = match &float {
        Some(f) => format!("let b = elem_bits(x); {}", f.nan),
        None => "return false;".to_string(),
    };
    let load = match op.nan_to() {
        Some(_) if is_float => {
            let r = if op == ScanOp::NanSum {
                literal(elem, 0)
            } else {
                literal(elem, 1)
            };
            format!("if is_nan(x) {{ return {r}; }} return x;")
        }
        _ => "return x;".to_string(),
    };
    let mut out = format!(
        "// Whether carried prefixes keep their rounding error (float sums).\n\
         const COMPENSATED: bool = {compensated};\n\
         fn is_nan(x: Elem) -> bool {{ {nan_test} }}\n\
         // The identity of `combine`, and the value of an empty scan.\n\
         fn identity() -> Elem {{ return {identity}; }}\n\
         fn empty() -> Elem {{ return {empty}; }}\n\
         // An input element as the scan sees it (NaN replaced for the nan* scans).\n\
         fn load_value(x: Elem) -> Elem {{ {load} }}\n",
        compensated = is_float && op.combine() == Combine::Add,
    );
    if op.combine() == Combine::LogAddExp {
        out.push_str(&logaddexp_wgsl(elem));
    }
    out.push_str(&format!(
        "fn combine(a: Elem, b: Elem) -> Elem {{ {combine} }}\n"
    ));
    out
}

/// `logaddexp` in `Real` (float32 for float16, as numpy's float16 loops compute), with the
/// constants of that precision.
fn logaddexp_wgsl(elem: GpuElem) -> String {
    let (real, ln2_hi, ln2_lo, exp_min, bits) = match elem {
        GpuElem::F64 => (
            "f64",
            "6.93147180369123816490e-01lf",
            "1.90821492927058770002e-10lf",
            "-745.2lf",
            "let b = bitcast<u64>(x); return (b & 0x7ffffffffffffffflu) > 0x7ff0000000000000lu;",
        ),
        _ => (
            "f32",
            "6.9314575195e-01f",
            "1.4286067653e-06f",
            "-104.0f",
            "return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;",
        ),
    };
    format!(
        "alias Real = {real};\n\
         const LN2_HI: Real = {ln2_hi};\n\
         const LN2_LO: Real = {ln2_lo};\n\
         const EXP_MIN: Real = {exp_min};\n\
         fn real_is_nan(x: Real) -> bool {{ {bits} }}\n{}",
        include_str!("../../shaders/logaddexp.wgsl")
    )
}
