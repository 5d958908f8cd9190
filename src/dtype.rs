//! numpy's dtypes, the Rust element types behind them, and numpy's promotion rules.

use std::fmt;
use std::str::FromStr;

use half::f16;

use crate::error::Error;

/// The element types gpuscan handles, named as numpy names them.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DType {
    /// numpy's `bool`.
    Bool,
    /// numpy's `int8`.
    Int8,
    /// numpy's `int16`.
    Int16,
    /// numpy's `int32`.
    Int32,
    /// numpy's `int64`.
    Int64,
    /// numpy's `uint8`.
    UInt8,
    /// numpy's `uint16`.
    UInt16,
    /// numpy's `uint32`.
    UInt32,
    /// numpy's `uint64`.
    UInt64,
    /// numpy's `float16`.
    Float16,
    /// numpy's `float32`.
    Float32,
    /// numpy's `float64`.
    Float64,
}

/// How a dtype's values behave, for promotion.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Kind {
    Bool,
    Signed,
    Unsigned,
    Float,
}

impl DType {
    /// Every dtype, in numpy's order.
    pub const ALL: [DType; 12] = [
        DType::Bool,
        DType::Int8,
        DType::Int16,
        DType::Int32,
        DType::Int64,
        DType::UInt8,
        DType::UInt16,
        DType::UInt32,
        DType::UInt64,
        DType::Float16,
        DType::Float32,
        DType::Float64,
    ];

    /// numpy's name (`np.dtype(x).name`).
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::Int8 => "int8",
            DType::Int16 => "int16",
            DType::Int32 => "int32",
            DType::Int64 => "int64",
            DType::UInt8 => "uint8",
            DType::UInt16 => "uint16",
            DType::UInt32 => "uint32",
            DType::UInt64 => "uint64",
            DType::Float16 => "float16",
            DType::Float32 => "float32",
            DType::Float64 => "float64",
        }
    }

    /// numpy's type code (`np.dtype(x).str` without the byte order): `b1`, `i4`, `f8`, ...
    pub fn code(self) -> &'static str {
        match self {
            DType::Bool => "b1",
            DType::Int8 => "i1",
            DType::Int16 => "i2",
            DType::Int32 => "i4",
            DType::Int64 => "i8",
            DType::UInt8 => "u1",
            DType::UInt16 => "u2",
            DType::UInt32 => "u4",
            DType::UInt64 => "u8",
            DType::Float16 => "f2",
            DType::Float32 => "f4",
            DType::Float64 => "f8",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::Bool | DType::Int8 | DType::UInt8 => 1,
            DType::Int16 | DType::UInt16 | DType::Float16 => 2,
            DType::Int32 | DType::UInt32 | DType::Float32 => 4,
            DType::Int64 | DType::UInt64 | DType::Float64 => 8,
        }
    }

    fn kind(self) -> Kind {
        match self {
            DType::Bool => Kind::Bool,
            DType::Int8 | DType::Int16 | DType::Int32 | DType::Int64 => Kind::Signed,
            DType::UInt8 | DType::UInt16 | DType::UInt32 | DType::UInt64 => Kind::Unsigned,
            DType::Float16 | DType::Float32 | DType::Float64 => Kind::Float,
        }
    }

    /// True for float16, float32 and float64.
    pub fn is_float(self) -> bool {
        self.kind() == Kind::Float
    }

    /// The dtype `np.cumsum` accumulates in when neither `dtype` nor `out` is given:
    /// bool and signed ints go to int64, unsigned ints to uint64, floats keep theirs.
    pub fn cumsum_default(self) -> DType {
        match self.kind() {
            Kind::Bool | Kind::Signed => DType::Int64,
            Kind::Unsigned => DType::UInt64,
            Kind::Float => self,
        }
    }

    /// True for int8 ... int64.
    pub fn is_signed(self) -> bool {
        self.kind() == Kind::Signed
    }

    /// True for uint8 ... uint64.
    pub fn is_unsigned(self) -> bool {
        self.kind() == Kind::Unsigned
    }

    /// `np.result_type(a, b)`: the smallest dtype both cast to safely.
    pub fn result_type(a: DType, b: DType) -> DType {
        use DType::*;
        if a == b {
            return a;
        }
        let (ka, kb) = (a.kind(), b.kind());
        match (ka, kb) {
            (Kind::Bool, _) => b,
            (_, Kind::Bool) => a,
            (Kind::Float, Kind::Float) => {
                if a.size() >= b.size() {
                    a
                } else {
                    b
                }
            }
            (Kind::Float, _) | (_, Kind::Float) => {
                let (f, i) = if ka == Kind::Float { (a, b) } else { (b, a) };
                // The smallest float that holds every value of the int exactly.
                let needed = match i.size() {
                    1 => Float16,
                    2 => Float32,
                    _ => Float64,
                };
                if f.size() >= needed.size() {
                    f
                } else {
                    needed
                }
            }
            (ka, kb) if ka == kb => {
                if a.size() >= b.size() {
                    a
                } else {
                    b
                }
            }
            _ => {
                let (s, u) = if ka == Kind::Signed { (a, b) } else { (b, a) };
                if s.size() > u.size() {
                    s
                } else {
                    match u.size() {
                        1 => Int16,
                        2 => Int32,
                        4 => Int64,
                        _ => Float64,
                    }
                }
            }
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DType {
    type Err = Error;

    /// numpy's names and the common aliases: `float32`, `f4`, `<f4`, `single`, `int`, `?`, ...
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use DType::*;
        let t = s.trim();
        let code = t.trim_start_matches(['<', '>', '=', '|']);
        // The aliases; names and codes come from `name` and `code`.
        let d = match code {
            "bool_" | "?" => Bool,
            "byte" => Int8,
            "short" => Int16,
            "intc" => Int32,
            "int" | "int_" | "long" | "longlong" | "intp" => Int64,
            "ubyte" => UInt8,
            "ushort" => UInt16,
            "uintc" => UInt32,
            "uint" | "ulong" | "ulonglong" | "uintp" => UInt64,
            "half" => Float16,
            "single" => Float32,
            "double" | "float" => Float64,
            _ => DType::ALL
                .into_iter()
                .find(|d| d.name() == code || d.code() == code)
                .ok_or_else(|| Error::UnknownDType(s.trim().to_string()))?,
        };
        Ok(d)
    }
}

/// One value in a form every element converts through without loss.
#[derive(Copy, Clone, Debug)]
#[doc(hidden)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
}

mod sealed {
    pub trait Sealed {}
}

/// A container of elements as a type constructor (`Vec<T>`, `&'a [T]`, ...), so that modules
/// above this one can move typed containers in and out of [`Tagged`] through
/// [`Element::tag`] and [`Element::untag`] while `Element` knows none of them.
#[doc(hidden)]
pub trait Family {
    type Of<'a, T: Element>;
}

/// A container of one element type, tagged with that type: the closed set of element types
/// as something generic code can match on.
#[doc(hidden)]
pub enum Tagged<'a, F: Family> {
    Bool(F::Of<'a, bool>),
    Int8(F::Of<'a, i8>),
    Int16(F::Of<'a, i16>),
    Int32(F::Of<'a, i32>),
    Int64(F::Of<'a, i64>),
    UInt8(F::Of<'a, u8>),
    UInt16(F::Of<'a, u16>),
    UInt32(F::Of<'a, u32>),
    UInt64(F::Of<'a, u64>),
    Float16(F::Of<'a, f16>),
    Float32(F::Of<'a, f32>),
    Float64(F::Of<'a, f64>),
}

/// [`Element::tag`] and [`Element::untag`] for the element type of variant `$d`.
macro_rules! tag_methods {
    ($d:ident) => {
        #[inline(always)]
        fn tag<'a, F: Family>(x: F::Of<'a, Self>) -> Tagged<'a, F> {
            Tagged::$d(x)
        }
        #[inline(always)]
        fn untag<'a, F: Family>(t: Tagged<'a, F>) -> Result<F::Of<'a, Self>, Tagged<'a, F>> {
            match t {
                Tagged::$d(x) => Ok(x),
                other => Err(other),
            }
        }
    };
}

/// A Rust type that stands for one [`DType`]: `bool`, `i8` ... `u64`, [`half::f16`], `f32`, `f64`.
///
/// Sealed: the set is fixed by numpy's dtypes.
pub trait Element:
    sealed::Sealed + Copy + Send + Sync + PartialEq + PartialOrd + fmt::Debug + Default + 'static
{
    /// The dtype this type stands for.
    const DTYPE: DType;
    #[doc(hidden)]
    fn to_scalar(self) -> Scalar;
    #[doc(hidden)]
    fn from_scalar(s: Scalar) -> Self;
    /// numpy's addition: wrapping for ints, IEEE for floats (float16 rounds every partial
    /// sum to float16), logical OR for bool.
    #[doc(hidden)]
    fn add(self, x: Self) -> Self;
    /// numpy's multiplication: wrapping for ints, IEEE for floats, logical AND for bool.
    #[doc(hidden)]
    fn mul(self, x: Self) -> Self;
    /// The larger value: NaN propagates (the first NaN's bits), and +0.0 is larger than -0.0
    /// (IEEE 754-2019 `maximum`).
    #[doc(hidden)]
    fn max_of(self, x: Self) -> Self;
    /// The smaller value: NaN propagates (the first NaN's bits), and -0.0 is smaller than
    /// +0.0 (IEEE 754-2019 `minimum`).
    #[doc(hidden)]
    fn min_of(self, x: Self) -> Self;
    /// [`Element::max_of`] of two values neither of which is NaN: for floats, `max_of`
    /// without its NaN selects (the vector kernels test a vector for NaN once instead).
    #[doc(hidden)]
    #[inline(always)]
    fn max_ordered(self, x: Self) -> Self {
        self.max_of(x)
    }
    /// [`Element::min_of`] of two values neither of which is NaN (see `max_ordered`).
    #[doc(hidden)]
    #[inline(always)]
    fn min_ordered(self, x: Self) -> Self {
        self.min_of(x)
    }
    /// numpy's `logaddexp` (floats only: the scan family never asks it of an integer).
    #[doc(hidden)]
    fn logaddexp(self, x: Self) -> Self;
    /// True for a float NaN.
    #[doc(hidden)]
    fn is_nan(self) -> bool;
    /// The lowest value (-inf for floats).
    #[doc(hidden)]
    fn lowest() -> Self;
    /// The highest value (+inf for floats).
    #[doc(hidden)]
    fn highest() -> Self;
    /// `x` as this type's variant of [`Tagged`].
    #[doc(hidden)]
    fn tag<'a, F: Family>(x: F::Of<'a, Self>) -> Tagged<'a, F>;
    /// The contents of `t` if it is this type's variant, else `t` back.
    #[doc(hidden)]
    fn untag<'a, F: Family>(t: Tagged<'a, F>) -> Result<F::Of<'a, Self>, Tagged<'a, F>>;
}

macro_rules! int_element {
    ($t:ty, $d:ident, $variant:ident, $wide:ty) => {
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: DType = DType::$d;
            tag_methods!($d);
            #[inline(always)]
            fn to_scalar(self) -> Scalar {
                Scalar::$variant(self as $wide)
            }
            #[inline(always)]
            fn from_scalar(s: Scalar) -> Self {
                match s {
                    Scalar::Bool(b) => b as $t,
                    // Int to int wraps (two's complement), as numpy's unsafe casts do.
                    Scalar::Int(i) => i as $t,
                    Scalar::UInt(u) => u as $t,
                    // Float to int truncates toward zero; NaN gives 0 and values outside the
                    // target's range saturate (numpy leaves both platform-defined).
                    Scalar::Float(f) => f as $t,
                }
            }
            #[inline(always)]
            fn add(self, x: Self) -> Self {
                self.wrapping_add(x)
            }
            #[inline(always)]
            fn mul(self, x: Self) -> Self {
                self.wrapping_mul(x)
            }
            #[inline(always)]
            fn max_of(self, x: Self) -> Self {
                Ord::max(self, x)
            }
            #[inline(always)]
            fn min_of(self, x: Self) -> Self {
                Ord::min(self, x)
            }
            fn logaddexp(self, _: Self) -> Self {
                unreachable!("logaddexp runs on floats only")
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                false
            }
            #[inline(always)]
            fn lowest() -> Self {
                <$t>::MIN
            }
            #[inline(always)]
            fn highest() -> Self {
                <$t>::MAX
            }
        }
    };
}

int_element!(i8, Int8, Int, i64);
int_element!(i16, Int16, Int, i64);
int_element!(i32, Int32, Int, i64);
int_element!(i64, Int64, Int, i64);
int_element!(u8, UInt8, UInt, u64);
int_element!(u16, UInt16, UInt, u64);
int_element!(u32, UInt32, UInt, u64);
int_element!(u64, UInt64, UInt, u64);

impl sealed::Sealed for bool {}
impl Element for bool {
    const DTYPE: DType = DType::Bool;
    tag_methods!(Bool);
    #[inline(always)]
    fn to_scalar(self) -> Scalar {
        Scalar::Bool(self)
    }
    #[inline(always)]
    fn from_scalar(s: Scalar) -> Self {
        match s {
            Scalar::Bool(b) => b,
            Scalar::Int(i) => i != 0,
            Scalar::UInt(u) => u != 0,
            // NaN is truthy and -0.0 is not, as in numpy.
            Scalar::Float(f) => f != 0.0,
        }
    }
    #[inline(always)]
    fn add(self, x: Self) -> Self {
        self | x
    }
    #[inline(always)]
    fn mul(self, x: Self) -> Self {
        self & x
    }
    #[inline(always)]
    fn max_of(self, x: Self) -> Self {
        self | x
    }
    #[inline(always)]
    fn min_of(self, x: Self) -> Self {
        self & x
    }
    fn logaddexp(self, _: Self) -> Self {
        unreachable!("logaddexp runs on floats only")
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        false
    }
    #[inline(always)]
    fn lowest() -> Self {
        false
    }
    #[inline(always)]
    fn highest() -> Self {
        true
    }
}

macro_rules! float_element {
    ($t:ty, $d:ident, $to:expr, $from_f64:expr, $from_i64:expr, $from_u64:expr, $logaddexp:expr) => {
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: DType = DType::$d;
            tag_methods!($d);
            #[inline(always)]
            fn to_scalar(self) -> Scalar {
                Scalar::Float($to(self))
            }
            #[inline(always)]
            fn from_scalar(s: Scalar) -> Self {
                match s {
                    Scalar::Bool(b) => $from_f64(b as u8 as f64),
                    Scalar::Int(i) => $from_i64(i),
                    Scalar::UInt(u) => $from_u64(u),
                    Scalar::Float(f) => $from_f64(f),
                }
            }
            #[inline(always)]
            fn add(self, x: Self) -> Self {
                self + x
            }
            #[inline(always)]
            fn mul(self, x: Self) -> Self {
                self * x
            }
            #[inline(always)]
            fn max_of(self, x: Self) -> Self {
                // Selects, not branches, so that a loop of them vectorises: the first NaN,
                // else the other NaN, else the ordered maximum.
                let m = self.max_ordered(x);
                let m = if x.is_nan() { x } else { m };
                if self.is_nan() {
                    self
                } else {
                    m
                }
            }
            #[inline(always)]
            fn min_of(self, x: Self) -> Self {
                let m = self.min_ordered(x);
                let m = if x.is_nan() { x } else { m };
                if self.is_nan() {
                    self
                } else {
                    m
                }
            }
            #[inline(always)]
            fn max_ordered(self, x: Self) -> Self {
                // Each select alone is a vector max; where the values are equal the two
                // picks differ only for zeros of both signs, which the `and` settles.
                let a = if self > x { self } else { x };
                let b = if x > self { x } else { self };
                <$t>::from_bits(a.to_bits() & b.to_bits())
            }
            #[inline(always)]
            fn min_ordered(self, x: Self) -> Self {
                let a = if self < x { self } else { x };
                let b = if x < self { x } else { self };
                <$t>::from_bits(a.to_bits() | b.to_bits())
            }
            #[inline(always)]
            fn logaddexp(self, x: Self) -> Self {
                $logaddexp(self, x)
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            #[inline(always)]
            fn lowest() -> Self {
                <$t>::NEG_INFINITY
            }
            #[inline(always)]
            fn highest() -> Self {
                <$t>::INFINITY
            }
        }
    };
}

float_element!(
    f32,
    Float32,
    |x: f32| x as f64,
    |f: f64| f as f32,
    |i: i64| i as f32,
    |u: u64| u as f32,
    logaddexp_f32
);
float_element!(
    f64,
    Float64,
    |x: f64| x,
    |f: f64| f,
    |i: i64| i as f64,
    |u: u64| u as f64,
    logaddexp_f64
);
// float16 from an integer rounds once, through float64 only where float64 holds it exactly.
float_element!(
    f16,
    Float16,
    |x: f16| x.to_f64(),
    f16::from_f64,
    |i: i64| f16::from_f32(i as f32),
    |u: u64| f16::from_f32(u as f32),
    // numpy's float16 loops compute in float32 and round each result.
    |a: f16, b: f16| f16::from_f32(logaddexp_f32(a.to_f32(), b.to_f32()))
);

macro_rules! logaddexp_fn {
    ($name:ident, $t:ty) => {
        /// numpy's `npy_logaddexp`: equal arguments are special-cased, so that -inf and -inf
        /// give -inf (not NaN) and inf and inf give inf; NaN propagates.
        fn $name(x: $t, y: $t) -> $t {
            if x == y {
                // Adding ln 2 leaves infinities alone.
                return x + std::f64::consts::LN_2 as $t;
            }
            let d = x - y;
            if d > 0.0 {
                x + (-d).exp().ln_1p()
            } else if d <= 0.0 {
                y + d.exp().ln_1p()
            } else {
                d
            }
        }
    };
}
logaddexp_fn!(logaddexp_f32, f32);
logaddexp_fn!(logaddexp_f64, f64);

/// Casts one element with numpy's unsafe-casting rules (see [`Element::from_scalar`]).
#[inline(always)]
pub(crate) fn cast<S: Element, D: Element>(x: S) -> D {
    D::from_scalar(x.to_scalar())
}

#[cfg(test)]
mod tests {
    use super::*;
    use DType::*;

    #[test]
    fn cumsum_default_matches_numpy_table() {
        let table = [
            (Bool, Int64),
            (Int8, Int64),
            (Int16, Int64),
            (Int32, Int64),
            (Int64, Int64),
            (UInt8, UInt64),
            (UInt16, UInt64),
            (UInt32, UInt64),
            (UInt64, UInt64),
            (Float16, Float16),
            (Float32, Float32),
            (Float64, Float64),
        ];
        for (input, result) in table {
            assert_eq!(input.cumsum_default(), result, "{input}");
        }
    }

    #[test]
    fn result_type_matches_numpy() {
        let cases = [
            (Float32, Float64, Float64),
            (Float32, Int32, Float64),
            (Int8, Float16, Float16),
            (Int16, Float16, Float32),
            (UInt8, Float32, Float32),
            (Int64, Float16, Float64),
            (UInt64, Int64, Float64),
            (UInt32, Int32, Int64),
            (UInt8, Int8, Int16),
            (UInt8, Int16, Int16),
            (Int32, Int32, Int32),
            (Bool, Float16, Float16),
            (Bool, UInt8, UInt8),
            (Int8, Int64, Int64),
            (UInt16, UInt64, UInt64),
        ];
        for (a, b, r) in cases {
            assert_eq!(DType::result_type(a, b), r, "{a} + {b}");
            assert_eq!(DType::result_type(b, a), r, "{b} + {a}");
        }
    }

    #[test]
    fn names_round_trip() {
        for d in DType::ALL {
            assert_eq!(d.name().parse::<DType>().unwrap(), d);
            assert_eq!(d.code().parse::<DType>().unwrap(), d);
            assert_eq!(d.code()[1..].parse::<usize>().unwrap(), d.size());
        }
        assert_eq!("<f4".parse::<DType>().unwrap(), Float32);
        assert_eq!("|?".parse::<DType>().unwrap(), Bool);
        assert_eq!("double".parse::<DType>().unwrap(), Float64);
        assert!(matches!(
            "bogus".parse::<DType>(),
            Err(Error::UnknownDType(_))
        ));
    }

    #[test]
    fn casts_follow_numpy() {
        assert_eq!(cast::<f64, i32>(-2.9), -2);
        assert_eq!(cast::<f64, i32>(1.7), 1);
        assert_eq!(cast::<i64, i8>(300), 44);
        assert_eq!(cast::<i8, u8>(-1), 255);
        assert!(cast::<f64, bool>(f64::NAN));
        assert!(!cast::<f64, bool>(-0.0));
        assert_eq!(cast::<i64, f32>(1 << 40), 1.099_511_6e12);
        assert_eq!(cast::<f64, i32>(f64::NAN), 0);
        assert_eq!(cast::<bool, f16>(true), f16::ONE);
    }
}
