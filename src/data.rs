//! Untyped element storage: one enum variant per dtype, owned or borrowed, and the macros that
//! turn a dtype or a variant back into its element type.
//!
//! Layering: `dtype` knows nothing of these enums; this module reaches the element type behind
//! a generic `T: Element` through [`Element::tag`], and `array` builds on both.

use half::f16;

use crate::dtype::{DType, Element, Family, Tagged};

/// Calls `$body` with `$v` bound to the typed contents of a data enum.
macro_rules! with_data {
    ($enum:ident, $data:expr, $v:ident => $body:expr) => {
        match $data {
            $enum::Bool($v) => $body,
            $enum::Int8($v) => $body,
            $enum::Int16($v) => $body,
            $enum::Int32($v) => $body,
            $enum::Int64($v) => $body,
            $enum::UInt8($v) => $body,
            $enum::UInt16($v) => $body,
            $enum::UInt32($v) => $body,
            $enum::UInt64($v) => $body,
            $enum::Float16($v) => $body,
            $enum::Float32($v) => $body,
            $enum::Float64($v) => $body,
        }
    };
}
pub(crate) use with_data;

/// Evaluates `$body` with `$t` naming the element type of the dtype `$dtype`. The second form
/// gives bool its own body, for code that needs every bit pattern to be a valid element.
macro_rules! with_dtype {
    ($dtype:expr, $t:ident => $body:expr) => {
        $crate::data::with_dtype!($dtype, $t => $body, bool => {
            type $t = bool;
            $body
        })
    };
    ($dtype:expr, $t:ident => $body:expr, bool => $bool:expr) => {
        match $dtype {
            $crate::dtype::DType::Bool => $bool,
            $crate::dtype::DType::Int8 => {
                type $t = i8;
                $body
            }
            $crate::dtype::DType::Int16 => {
                type $t = i16;
                $body
            }
            $crate::dtype::DType::Int32 => {
                type $t = i32;
                $body
            }
            $crate::dtype::DType::Int64 => {
                type $t = i64;
                $body
            }
            $crate::dtype::DType::UInt8 => {
                type $t = u8;
                $body
            }
            $crate::dtype::DType::UInt16 => {
                type $t = u16;
                $body
            }
            $crate::dtype::DType::UInt32 => {
                type $t = u32;
                $body
            }
            $crate::dtype::DType::UInt64 => {
                type $t = u64;
                $body
            }
            $crate::dtype::DType::Float16 => {
                type $t = ::half::f16;
                $body
            }
            $crate::dtype::DType::Float32 => {
                type $t = f32;
                $body
            }
            $crate::dtype::DType::Float64 => {
                type $t = f64;
                $body
            }
        }
    };
}
pub(crate) use with_dtype;

/// Moves the contents of one dtype-tagged enum into the same variant of another.
macro_rules! retag {
    ($x:expr, $from:ident => $to:ident) => {
        match $x {
            $from::Bool(v) => $to::Bool(v),
            $from::Int8(v) => $to::Int8(v),
            $from::Int16(v) => $to::Int16(v),
            $from::Int32(v) => $to::Int32(v),
            $from::Int64(v) => $to::Int64(v),
            $from::UInt8(v) => $to::UInt8(v),
            $from::UInt16(v) => $to::UInt16(v),
            $from::UInt32(v) => $to::UInt32(v),
            $from::UInt64(v) => $to::UInt64(v),
            $from::Float16(v) => $to::Float16(v),
            $from::Float32(v) => $to::Float32(v),
            $from::Float64(v) => $to::Float64(v),
        }
    };
}

fn dtype_of<T: Element>(_: &[T]) -> DType {
    T::DTYPE
}

macro_rules! data_enum {
    ($(#[$m:meta])* $name:ident, $($lt:lifetime,)? $wrap:ident) => {
        $(#[$m])*
        #[derive(Debug, PartialEq)]
        pub enum $name$(<$lt>)? {
            /// Elements of dtype bool.
            Bool($wrap!($($lt,)? bool)),
            /// Elements of dtype int8.
            Int8($wrap!($($lt,)? i8)),
            /// Elements of dtype int16.
            Int16($wrap!($($lt,)? i16)),
            /// Elements of dtype int32.
            Int32($wrap!($($lt,)? i32)),
            /// Elements of dtype int64.
            Int64($wrap!($($lt,)? i64)),
            /// Elements of dtype uint8.
            UInt8($wrap!($($lt,)? u8)),
            /// Elements of dtype uint16.
            UInt16($wrap!($($lt,)? u16)),
            /// Elements of dtype uint32.
            UInt32($wrap!($($lt,)? u32)),
            /// Elements of dtype uint64.
            UInt64($wrap!($($lt,)? u64)),
            /// Elements of dtype float16 (`half::f16`).
            Float16($wrap!($($lt,)? f16)),
            /// Elements of dtype float32.
            Float32($wrap!($($lt,)? f32)),
            /// Elements of dtype float64.
            Float64($wrap!($($lt,)? f64)),
        }

        impl$(<$lt>)? $name$(<$lt>)? {
            /// The dtype of the elements.
            pub fn dtype(&self) -> DType {
                with_data!($name, self, v => dtype_of(&v[..]))
            }

            /// Number of elements.
            pub fn len(&self) -> usize {
                with_data!($name, self, v => v.len())
            }

            /// True when there are no elements.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }
        }
    };
}

macro_rules! owned {
    ($t:ty) => { Vec<$t> };
}
macro_rules! shared {
    ($lt:lifetime, $t:ty) => {
        &$lt[$t]
    };
}
macro_rules! unique {
    ($lt:lifetime, $t:ty) => { &$lt mut [$t] };
}

data_enum!(
    /// Owned elements of one dtype.
    Data, owned);
data_enum!(
    /// Borrowed elements of one dtype.
    DataRef, 'a, shared);
data_enum!(
    /// Mutably borrowed elements of one dtype.
    DataMut, 'a, unique);

impl Data {
    /// A borrowed view of the elements.
    pub fn view(&self) -> DataRef<'_> {
        with_data!(Data, self, v => Wrap::shared(v.as_slice()))
    }
}

impl Clone for Data {
    fn clone(&self) -> Data {
        with_data!(Data, self, v => Wrap::owned(v.clone()))
    }
}

/// The containers of the three enums, as [`Family`]s for [`Element::tag`].
enum Owned {}
enum Shared {}
enum Unique {}

impl Family for Owned {
    type Of<'a, T: Element> = Vec<T>;
}
impl Family for Shared {
    type Of<'a, T: Element> = &'a [T];
}
impl Family for Unique {
    type Of<'a, T: Element> = &'a mut [T];
}

/// Typed storage into the data enums and back, for every element type.
pub(crate) trait Wrap: Element {
    fn owned(v: Vec<Self>) -> Data;
    fn shared(v: &[Self]) -> DataRef<'_>;
    fn unique(v: &mut [Self]) -> DataMut<'_>;
    /// The elements if `d` holds this type, else `d` back.
    fn from_owned(d: Data) -> Result<Vec<Self>, Data>;
    fn from_shared<'a>(d: &DataRef<'a>) -> Option<&'a [Self]>;
}

impl<T: Element> Wrap for T {
    #[inline]
    fn owned(v: Vec<T>) -> Data {
        retag!(T::tag::<Owned>(v), Tagged => Data)
    }
    #[inline]
    fn shared(v: &[T]) -> DataRef<'_> {
        retag!(T::tag::<Shared>(v), Tagged => DataRef)
    }
    #[inline]
    fn unique(v: &mut [T]) -> DataMut<'_> {
        retag!(T::tag::<Unique>(v), Tagged => DataMut)
    }
    #[inline]
    fn from_owned(d: Data) -> Result<Vec<T>, Data> {
        T::untag::<Owned>(retag!(d, Data => Tagged)).map_err(|t| retag!(t, Tagged => Data))
    }
    #[inline]
    fn from_shared<'a>(d: &DataRef<'a>) -> Option<&'a [T]> {
        T::untag::<Shared>(retag!(*d, DataRef => Tagged)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_unwraps_every_dtype() {
        for dtype in DType::ALL {
            let d = with_dtype!(dtype, T => Wrap::owned(vec![T::default(); 3]));
            assert_eq!((d.dtype(), d.len()), (dtype, 3));
            assert_eq!(d.view().dtype(), dtype);
            assert_eq!(
                with_dtype!(dtype, T => T::from_shared(&d.view()).map(<[T]>::len)),
                Some(3)
            );
            let other = if dtype == DType::Int8 {
                DType::Bool
            } else {
                DType::Int8
            };
            assert_eq!(d.clone(), d);
            let back = with_dtype!(other, T => T::from_owned(d).map(|v| v.len()));
            assert_eq!(back.unwrap_err().dtype(), dtype);
        }
    }
}
