//! numpy's `.npy` files (format versions 1.0, 2.0 and 3.0), read into and written from
//! [`Array`].
//!
//! Reading accepts every dtype gpuscan handles in either byte order and C or Fortran order, and
//! always returns a C-ordered, native-endian array. Writing produces what `np.save` produces:
//! version 1.0 (2.0 when the header needs it), C order, native byte order, the data starting at
//! a multiple of 64 bytes.
//!
//! ```
//! use gpuscan::{npy, Array, DType};
//! let a = Array::from_shape_vec(&[2, 2], vec![1.5f64, -2.0, 3.0, 4.25])?;
//! let mut file = Vec::new();
//! npy::write_as(&mut file, &a, DType::Int32)?; // numpy's a.astype(np.int32)
//! let b = npy::read_from(file.as_slice(), "memory.npy")?;
//! assert_eq!(b.as_slice::<i32>()?, &[1, -2, 3, 4]);
//! # Ok::<(), gpuscan::Error>(())
//! ```

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use bytemuck::{NoUninit, Pod};

use crate::array::Array;
use crate::data::{with_data, with_dtype, Data, Wrap};
use crate::dtype::{cast, DType, Element};
use crate::error::{Error, Result};

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// numpy aligns the start of the data to this many bytes (`np.lib.format.ARRAY_ALIGN`).
const ALIGN: usize = 64;
/// numpy leaves room in the header for axis 0 to grow to this many digits in place.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;
/// Longest header read. numpy refuses more than 10 000 characters; any header of a dtype
/// gpuscan handles is far shorter, so this only stops a corrupt length from exhausting memory.
const MAX_HEADER_BYTES: usize = 1 << 20;
/// Elements are read and cast in pieces of about this many bytes.
const CHUNK_BYTES: usize = 1 << 20;
/// Nesting deeper than this in a header is rejected rather than recursed into.
const MAX_DEPTH: usize = 32;

const HANDLED: &str = "gpuscan handles bool, int8..int64, uint8..uint64, float16, float32, float64";

/// Reads a `.npy` file into a C-ordered, native-endian array.
///
/// Errors are [`Error::Io`] when the file cannot be read and [`Error::Format`] when it is not a
/// `.npy` file of a dtype gpuscan handles; messages name the file.
pub fn read(path: &Path) -> Result<Array> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| Error::io("open", &name, e))?;
    read_from(BufReader::with_capacity(64 << 10, file), &name)
}

/// Reads `.npy` data from `r`; `name` stands for the source in error messages.
pub fn read_from(mut r: impl Read, name: &str) -> Result<Array> {
    let header = read_header(&mut r, name)?;
    let data = read_data(&mut r, &header, name)?;
    Array::from_data(&header.shape, data)
}

/// Writes `a` as a `.npy` file in its own dtype.
pub fn write(w: impl Write, a: &Array) -> Result<()> {
    write_as(w, a, a.dtype())
}

/// Writes `a` as a `.npy` file of `dtype`, casting element by element with numpy's unsafe
/// casting (`a.astype(dtype)`). The cast is streamed in pieces, so no second copy of the array
/// is made.
pub fn write_as(mut w: impl Write, a: &Array, dtype: DType) -> Result<()> {
    w.write_all(&header_bytes(dtype, a.shape()))
        .map_err(write_err)?;
    with_data!(Data, a.data(), v => write_elements(&mut w, v, dtype))?;
    w.flush().map_err(write_err)
}

/// The `.npy` header of a C-ordered, native-endian array: magic, version, length and the
/// padded dict, laid out byte for byte as `np.save` lays it out.
fn header_bytes(dtype: DType, shape: &[usize]) -> Vec<u8> {
    let mut dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
        descr(dtype),
        shape_repr(shape)
    );
    if let Some(first) = shape.first() {
        let digits = first.to_string().len();
        dict.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
    }
    // The dict plus its closing newline; padding makes magic + version + length + header a
    // multiple of ALIGN (a whole extra ALIGN when already aligned, as numpy does).
    let hlen = dict.len() + 1;
    let (version, len_bytes) = if padded(hlen, 2) <= u16::MAX as usize {
        (1u8, 2)
    } else {
        (2u8, 4)
    };
    let total = padded(hlen, len_bytes);
    let mut out = Vec::with_capacity(MAGIC.len() + 2 + len_bytes + total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    if len_bytes == 2 {
        out.extend_from_slice(&(total as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(total as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(out.len() + total - hlen, b' ');
    out.push(b'\n');
    out
}

/// Header length including padding for a dict of `hlen` bytes (newline included).
fn padded(hlen: usize, len_bytes: usize) -> usize {
    let prefix = MAGIC.len() + 2 + len_bytes;
    hlen + ALIGN - (prefix + hlen) % ALIGN
}

/// numpy's `descr` of a native-endian dtype.
fn descr(dtype: DType) -> String {
    // Single bytes have no byte order.
    let order = if dtype.size() == 1 {
        '|'
    } else if cfg!(target_endian = "big") {
        '>'
    } else {
        '<'
    };
    format!("{order}{}", dtype.code())
}

/// Python's `repr` of a shape tuple: `()`, `(5,)`, `(2, 3)`.
fn shape_repr(shape: &[usize]) -> String {
    match shape {
        [] => "()".into(),
        [d] => format!("({d},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            format!("({})", dims.join(", "))
        }
    }
}

fn write_err(e: io::Error) -> Error {
    Error::io("write", ".npy data", e)
}

fn write_elements<S: Element + NoUninit>(w: &mut impl Write, src: &[S], to: DType) -> Result<()> {
    with_dtype!(to, D => write_cast::<S, D>(w, src))
}

fn write_cast<S: Element + NoUninit, D: Element + NoUninit>(
    w: &mut impl Write,
    src: &[S],
) -> Result<()> {
    if S::DTYPE == D::DTYPE {
        return w
            .write_all(bytemuck::cast_slice::<S, u8>(src))
            .map_err(write_err);
    }
    let per_chunk = (CHUNK_BYTES / std::mem::size_of::<D>()).max(1);
    let mut buf: Vec<D> = Vec::with_capacity(per_chunk.min(src.len()));
    for piece in src.chunks(per_chunk) {
        buf.clear();
        buf.extend(piece.iter().map(|&x| cast::<S, D>(x)));
        w.write_all(bytemuck::cast_slice::<D, u8>(&buf))
            .map_err(write_err)?;
    }
    Ok(())
}

/// What a header says about the data that follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Header {
    dtype: DType,
    /// The file's byte order differs from this machine's.
    swap: bool,
    fortran_order: bool,
    shape: Vec<usize>,
    /// Elements, the product of `shape` (1 for 0-d).
    len: usize,
}

fn read_err(name: &str, e: io::Error) -> Error {
    Error::io("read", name, e)
}

/// Fills as much of `buf` as the reader has, retrying interrupted reads: the count is short
/// only at the end of the input.
fn read_full(r: &mut impl Read, buf: &mut [u8], name: &str) -> Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_err(name, e)),
        }
    }
    Ok(got)
}

fn read_header(r: &mut impl Read, name: &str) -> Result<Header> {
    let mut magic = [0u8; 6];
    let got = read_full(r, &mut magic, name)?;
    if got == 0 {
        return Err(Error::Format(format!(
            "{name} is not a .npy file: it is empty"
        )));
    }
    if magic[..got] != MAGIC[..got] {
        return Err(Error::Format(format!(
            "{name} is not a .npy file: it does not start with \\x93NUMPY"
        )));
    }
    let truncated = || Error::Format(format!("{name}: truncated .npy header"));
    if got < magic.len() {
        return Err(truncated());
    }
    let mut version = [0u8; 2];
    if read_full(r, &mut version, name)? < 2 {
        return Err(truncated());
    }
    let (len_bytes, utf8) = match version {
        [1, 0] => (2, false),
        [2, 0] => (4, false),
        [3, 0] => (4, true),
        [major, minor] => {
            return Err(Error::Format(format!(
                "{name}: unsupported .npy format version {major}.{minor} \
                 (gpuscan reads 1.0, 2.0 and 3.0)"
            )))
        }
    };
    let mut len = [0u8; 4];
    if read_full(r, &mut len[..len_bytes], name)? < len_bytes {
        return Err(truncated());
    }
    let hlen = u32::from_le_bytes(len) as usize;
    if hlen > MAX_HEADER_BYTES {
        return Err(Error::Format(format!(
            "{name}: the header declares {hlen} bytes, more than the {MAX_HEADER_BYTES} \
             gpuscan reads"
        )));
    }
    let mut raw = vec![0u8; hlen];
    let got = read_full(r, &mut raw, name)?;
    if got < hlen {
        return Err(Error::Format(format!(
            "{name}: truncated .npy header: it declares {hlen} bytes but the file ends after {got}"
        )));
    }
    // Versions 1.0 and 2.0 are latin-1, 3.0 is UTF-8 (numpy's rule).
    let text = if utf8 {
        String::from_utf8(raw)
            .map_err(|_| Error::Format(format!("{name}: the header is not valid UTF-8")))?
    } else {
        raw.iter().map(|&b| b as char).collect()
    };
    parse_header(&text, name)
}

/// Interprets the header dict as numpy's `read_array_header` does: exactly the keys `descr`,
/// `fortran_order` and `shape`.
fn parse_header(text: &str, name: &str) -> Result<Header> {
    let invalid = |why: &str| {
        let mut shown: String = text.trim_end().chars().take(200).collect();
        if shown.len() < text.trim_end().len() {
            shown.push_str("...");
        }
        Error::Format(format!(
            "{name}: the header is not a valid .npy header dict ({why}): {shown:?}"
        ))
    };
    let value = Parser::new(text).document().map_err(|e| invalid(&e))?;
    let Literal::Dict(entries) = value else {
        return Err(invalid("it is not a dict"));
    };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (key, value) in entries {
        let slot = match &key {
            Literal::Str(k) if k == "descr" => &mut descr,
            Literal::Str(k) if k == "fortran_order" => &mut fortran,
            Literal::Str(k) if k == "shape" => &mut shape,
            other => return Err(invalid(&format!("unexpected key {}", other.repr()))),
        };
        if slot.replace(value).is_some() {
            return Err(invalid(&format!("duplicate key {}", key.repr())));
        }
    }
    let (Some(descr), Some(fortran), Some(shape)) = (descr, fortran, shape) else {
        return Err(invalid(
            "it needs the keys 'descr', 'fortran_order' and 'shape'",
        ));
    };
    let Literal::Bool(fortran_order) = fortran else {
        return Err(invalid(&format!(
            "fortran_order is {}, not True or False",
            fortran.repr()
        )));
    };
    let Literal::Tuple(dims) = &shape else {
        return Err(invalid(&format!("shape is {}, not a tuple", shape.repr())));
    };
    let mut dims_usize = Vec::with_capacity(dims.len());
    let mut overflow = false;
    for d in dims {
        let Literal::Int(digits) = d else {
            return Err(invalid(&format!(
                "shape {} holds a non-integer",
                shape.repr()
            )));
        };
        if digits.starts_with('-') {
            return Err(invalid(&format!(
                "shape {} has a negative dimension",
                shape.repr()
            )));
        }
        match digits.trim_start_matches('+').parse::<usize>() {
            Ok(v) => dims_usize.push(v),
            Err(_) => {
                overflow = true;
                dims_usize.push(usize::MAX);
            }
        }
    }
    let (dtype, swap) = match &descr {
        Literal::Str(s) => parse_descr(s),
        _ => None,
    }
    .ok_or_else(|| {
        let shown = match &descr {
            Literal::Str(s) => s.clone(),
            other => other.repr(),
        };
        Error::Format(format!("unsupported dtype '{shown}' in {name}: {HANDLED}"))
    })?;
    // An empty dimension makes the array empty whatever the others say; otherwise the element
    // count, and the byte count, must fit in memory addresses.
    let empty = dims_usize.contains(&0);
    let len = if empty {
        Some(0)
    } else if overflow {
        None
    } else {
        dims_usize
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .filter(|n| {
                n.checked_mul(dtype.size())
                    .is_some_and(|b| b <= isize::MAX as usize)
            })
    };
    let Some(len) = len else {
        return Err(Error::Format(format!(
            "{name}: the shape {} has more elements than this machine can address",
            shape.repr()
        )));
    };
    Ok(Header {
        dtype,
        swap,
        fortran_order,
        shape: dims_usize,
        len,
    })
}

/// The dtype and whether its bytes need swapping, for the descrs of the dtypes gpuscan handles
/// (`<i4`, `>f8`, `|b1`, `=u2`, ...); `None` for any other.
fn parse_descr(s: &str) -> Option<(DType, bool)> {
    let (order, code) = match s.as_bytes().first() {
        Some(b'<' | b'>' | b'=' | b'|') => (s.as_bytes()[0], &s[1..]),
        _ => (b'=', s),
    };
    let dtype = match code {
        "?" => DType::Bool,
        _ => DType::ALL.into_iter().find(|d| d.code() == code)?,
    };
    let big = match order {
        b'<' => false,
        b'>' => true,
        _ => cfg!(target_endian = "big"),
    };
    let swap = dtype.size() > 1 && big != cfg!(target_endian = "big");
    Some((dtype, swap))
}

/// The Python literals a header can hold. Integers keep their digits, so a dimension too large
/// for any integer type is still parsed and then reported as an overflowing shape.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Str(String),
    Int(String),
    Bool(bool),
    None,
    Tuple(Vec<Literal>),
    List(Vec<Literal>),
    Dict(Vec<(Literal, Literal)>),
}

impl Literal {
    /// Python's `repr`, for messages.
    fn repr(&self) -> String {
        let join = |items: &[Literal]| -> String {
            items
                .iter()
                .map(Literal::repr)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Literal::Str(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
            Literal::Int(i) => i.clone(),
            Literal::Bool(true) => "True".into(),
            Literal::Bool(false) => "False".into(),
            Literal::None => "None".into(),
            Literal::Tuple(items) if items.len() == 1 => format!("({},)", items[0].repr()),
            Literal::Tuple(items) => format!("({})", join(items)),
            Literal::List(items) => format!("[{}]", join(items)),
            Literal::Dict(entries) => {
                let parts: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| format!("{}: {}", k.repr(), v.repr()))
                    .collect();
                format!("{{{}}}", parts.join(", "))
            }
        }
    }
}

/// A recursive-descent parser for the subset of Python literal syntax that `.npy` headers use
/// (what `ast.literal_eval` would accept there, minus floats and complex numbers).
struct Parser {
    chars: Vec<char>,
    pos: usize,
}

type ParseResult<T> = std::result::Result<T, String>;

impl Parser {
    fn new(text: &str) -> Parser {
        Parser {
            chars: text.chars().collect(),
            pos: 0,
        }
    }

    /// One literal surrounded by nothing but whitespace.
    fn document(&mut self) -> ParseResult<Literal> {
        let value = self.value(0)?;
        self.skip_ws();
        match self.peek() {
            None => Ok(value),
            Some(c) => Err(format!("unexpected {c:?} after the dict")),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, want: char) -> ParseResult<()> {
        self.skip_ws();
        match self.peek() {
            Some(c) if c == want => {
                self.pos += 1;
                Ok(())
            }
            Some(c) => Err(format!("expected {want:?}, found {c:?}")),
            None => Err(format!("expected {want:?}, found the end")),
        }
    }

    fn value(&mut self, depth: usize) -> ParseResult<Literal> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply".into());
        }
        self.skip_ws();
        match self.peek() {
            None => Err("unexpected end".into()),
            Some('{') => {
                self.pos += 1;
                let entries = self.items('}', |p| {
                    let key = p.value(depth + 1)?;
                    p.expect(':')?;
                    let value = p.value(depth + 1)?;
                    Ok((key, value))
                })?;
                Ok(Literal::Dict(entries.0))
            }
            Some('[') => {
                self.pos += 1;
                Ok(Literal::List(self.items(']', |p| p.value(depth + 1))?.0))
            }
            Some('(') => {
                self.pos += 1;
                let (items, trailing_comma) = self.items(')', |p| p.value(depth + 1))?;
                // `(x)` is x itself; only `()` and a comma make a tuple.
                if items.len() == 1 && !trailing_comma {
                    Ok(items.into_iter().next().unwrap_or(Literal::None))
                } else {
                    Ok(Literal::Tuple(items))
                }
            }
            Some(q @ ('\'' | '"')) => {
                self.pos += 1;
                self.string(q)
            }
            Some(c) if c.is_ascii_digit() || c == '-' || c == '+' => self.int(),
            Some(c) if c.is_alphabetic() || c == '_' => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    self.pos += 1;
                }
                let word: String = self.chars[start..self.pos].iter().collect();
                match word.as_str() {
                    "True" => Ok(Literal::Bool(true)),
                    "False" => Ok(Literal::Bool(false)),
                    "None" => Ok(Literal::None),
                    _ => Err(format!("unexpected name {word:?}")),
                }
            }
            Some(c) => Err(format!("unexpected {c:?}")),
        }
    }

    /// Comma-separated items up to `close` (a trailing comma allowed); also says whether the
    /// last item was followed by a comma.
    fn items<T>(
        &mut self,
        close: char,
        mut item: impl FnMut(&mut Parser) -> ParseResult<T>,
    ) -> ParseResult<(Vec<T>, bool)> {
        let mut out = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() == Some(close) {
                self.pos += 1;
                return Ok((out, true));
            }
            out.push(item(self)?);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok((out, false));
                }
                Some(c) => return Err(format!("expected ',' or {close:?}, found {c:?}")),
                None => return Err(format!("expected {close:?}, found the end")),
            }
        }
    }

    fn string(&mut self, quote: char) -> ParseResult<Literal> {
        let mut s = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err("unterminated string".into());
            };
            self.pos += 1;
            match c {
                c if c == quote => return Ok(Literal::Str(s)),
                '\n' => return Err("unterminated string".into()),
                '\\' => {
                    let Some(e) = self.peek() else {
                        return Err("unterminated string".into());
                    };
                    self.pos += 1;
                    match e {
                        'n' => s.push('\n'),
                        't' => s.push('\t'),
                        'r' => s.push('\r'),
                        '0' => s.push('\0'),
                        'x' => s.push(self.hex_escape(2)?),
                        'u' => s.push(self.hex_escape(4)?),
                        // `\\`, `\'`, `\"` and unknown escapes keep the character, as Python
                        // keeps the backslash only for the unknown ones; good enough for names.
                        other => s.push(other),
                    }
                }
                c => s.push(c),
            }
        }
    }

    fn hex_escape(&mut self, digits: usize) -> ParseResult<char> {
        let end = self.pos + digits;
        let hex: String = self
            .chars
            .get(self.pos..end)
            .unwrap_or(&[])
            .iter()
            .collect();
        self.pos = end.min(self.chars.len());
        u32::from_str_radix(&hex, 16)
            .ok()
            .filter(|_| hex.len() == digits)
            .and_then(char::from_u32)
            .ok_or_else(|| "invalid escape in a string".to_string())
    }

    fn int(&mut self) -> ParseResult<Literal> {
        let mut digits = String::new();
        if let Some(sign @ ('-' | '+')) = self.peek() {
            digits.push(sign);
            self.pos += 1;
        }
        while let Some(c) = self.peek().filter(char::is_ascii_digit) {
            digits.push(c);
            self.pos += 1;
        }
        if !digits.ends_with(|c: char| c.is_ascii_digit()) {
            return Err("a sign without digits".into());
        }
        // Python 2 wrote long integers as `3L`; numpy still reads such headers.
        if matches!(self.peek(), Some('L' | 'l')) {
            self.pos += 1;
        }
        match self.peek() {
            Some(c) if c.is_alphanumeric() || c == '.' || c == '_' => {
                Err(format!("{c:?} in a number; shapes hold integers"))
            }
            _ => Ok(Literal::Int(digits)),
        }
    }
}

fn read_data(r: &mut impl Read, h: &Header, name: &str) -> Result<Data> {
    Ok(
        with_dtype!(h.dtype, T => Wrap::owned(read_vec::<T>(r, h, name)?), bool => {
            // numpy stores bools as bytes 0 and 1; any nonzero byte reads as True. The map is
            // collected in place, so the bytes become the bools without another allocation.
            Data::Bool(
                read_vec::<u8>(r, h, name)?
                    .into_iter()
                    .map(|b| b != 0)
                    .collect(),
            )
        }),
    )
}

/// Reads the header's elements straight into their final vector, a piece at a time so that a
/// header that overstates the data fails at the end of the input instead of touching memory for
/// elements that never come; then checks that nothing follows.
fn read_vec<T: Pod>(r: &mut impl Read, h: &Header, name: &str) -> Result<Vec<T>> {
    let size = std::mem::size_of::<T>();
    let expected_bytes = h.len * size; // checked in parse_header
    let mut v: Vec<T> = Vec::new();
    v.try_reserve_exact(h.len).map_err(|_| {
        Error::Overflow(format!(
            "{name} declares {} elements ({expected_bytes} bytes), more than fit in memory",
            h.len
        ))
    })?;
    let per_chunk = (CHUNK_BYTES / size).max(1);
    while v.len() < h.len {
        let start = v.len();
        v.resize(start + per_chunk.min(h.len - start), T::zeroed());
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut v[start..]);
        let got = read_full(r, bytes, name)?;
        if got < bytes.len() {
            return Err(length_mismatch(name, h, (start * size + got) as u64));
        }
        if h.swap {
            for element in bytes.chunks_exact_mut(size) {
                element.reverse();
            }
        }
    }
    let extra = io::copy(r, &mut io::sink()).map_err(|e| read_err(name, e))?;
    if extra > 0 {
        return Err(length_mismatch(
            name,
            h,
            (expected_bytes as u64).saturating_add(extra),
        ));
    }
    if h.fortran_order && h.shape.len() > 1 {
        v = fortran_to_c(&v, &h.shape);
    }
    Ok(v)
}

fn length_mismatch(name: &str, h: &Header, actual: u64) -> Error {
    Error::Format(format!(
        "{name}: the header declares {} elements ({} bytes) but {actual} data bytes follow",
        h.len,
        h.len * h.dtype.size()
    ))
}

/// The C-ordered copy of Fortran-ordered data of `shape`: element `(i0, .., ik)` lies at
/// `i0 + shape[0] * (i1 + shape[1] * (..))` in `src`.
fn fortran_to_c<T: Copy>(src: &[T], shape: &[usize]) -> Vec<T> {
    let mut out = Vec::with_capacity(src.len());
    if src.is_empty() {
        return out;
    }
    let nd = shape.len();
    let mut strides = vec![1usize; nd];
    for j in 1..nd {
        strides[j] = strides[j - 1] * shape[j - 1];
    }
    let (inner_len, inner_stride) = (shape[nd - 1], strides[nd - 1]);
    let mut index = vec![0usize; nd - 1];
    // Offset in `src` of the current row's first element.
    let mut base = 0usize;
    loop {
        out.extend((0..inner_len).map(|i| src[base + i * inner_stride]));
        // Advance the outer index like an odometer, last outer axis fastest.
        let mut j = nd - 1;
        loop {
            if j == 0 {
                return out;
            }
            j -= 1;
            index[j] += 1;
            base += strides[j];
            if index[j] < shape[j] {
                break;
            }
            base -= strides[j] * shape[j];
            index[j] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `.npy` file of any version around a header dict and raw data bytes.
    fn npy_file(version: u8, dict: &str, data: &[u8]) -> Vec<u8> {
        let mut f = MAGIC.to_vec();
        f.extend_from_slice(&[version, 0]);
        let header = format!("{dict}\n");
        if version == 1 {
            f.extend_from_slice(&(header.len() as u16).to_le_bytes());
        } else {
            f.extend_from_slice(&(header.len() as u32).to_le_bytes());
        }
        f.extend_from_slice(header.as_bytes());
        f.extend_from_slice(data);
        f
    }

    fn parse(dict: &str) -> Result<Header> {
        parse_header(dict, "x.npy")
    }

    fn format_message(r: Result<Array>) -> String {
        match r {
            Err(Error::Format(m)) => m,
            other => panic!("expected a Format error, got {other:?}"),
        }
    }

    fn bits(a: &Array) -> Vec<u64> {
        with_data!(Data, a.data(), v => v.iter().map(|x| x.to_scalar()).map(|s| match s {
            crate::dtype::Scalar::Bool(b) => b as u64,
            crate::dtype::Scalar::Int(i) => i as u64,
            crate::dtype::Scalar::UInt(u) => u,
            crate::dtype::Scalar::Float(f) => f.to_bits(),
        }).collect())
    }

    /// One array of every dtype, with values that exercise signs and every byte.
    fn samples() -> Vec<Array> {
        let ints = [0i64, 1, -1, 127, -128, 300, -70000, 1 << 40];
        DType::ALL
            .into_iter()
            .map(|d| {
                let base = Array::from_shape_vec(&[2, 4], ints.to_vec()).unwrap();
                let mut a = base.astype(d);
                if d.is_float() {
                    a = Array::from_shape_vec(
                        &[2, 4],
                        vec![
                            0.5f64,
                            -0.0,
                            1e-3,
                            -2.25,
                            7.0,
                            1e30,
                            f64::NAN,
                            f64::INFINITY,
                        ],
                    )
                    .unwrap()
                    .astype(d);
                }
                a
            })
            .collect()
    }

    #[test]
    fn parses_headers_as_numpy_writes_them_and_variations() {
        let h = parse("{'descr': '<i8', 'fortran_order': False, 'shape': (10,), }     \n").unwrap();
        assert_eq!(
            h,
            Header {
                dtype: DType::Int64,
                swap: cfg!(target_endian = "big"),
                fortran_order: false,
                shape: vec![10],
                len: 10
            }
        );
        let h = parse("{ \"shape\" : ( 2 , 3 ) ,\n 'fortran_order':True,'descr':'>f4' }").unwrap();
        assert_eq!(
            (h.dtype, h.fortran_order, h.shape.clone(), h.len),
            (DType::Float32, true, vec![2, 3], 6)
        );
        assert_eq!(h.swap, cfg!(target_endian = "little"));
        let h = parse("{'descr':'|b1','fortran_order':False,'shape':()}").unwrap();
        assert_eq!((h.dtype, h.shape.len(), h.len), (DType::Bool, 0, 1));
        let h = parse("{'descr': '<u2', 'fortran_order': False, 'shape': (3L, 0L, 2,),}").unwrap();
        assert_eq!((h.shape.clone(), h.len), (vec![3, 0, 2], 0));
        assert!(
            !parse("{'descr': '=u8', 'fortran_order': False, 'shape': (1,)}")
                .unwrap()
                .swap
        );
        assert!(
            !parse("{'descr': '>i1', 'fortran_order': False, 'shape': (1,)}")
                .unwrap()
                .swap
        );
        // A dimension of 0 makes the array empty even when the others overflow together.
        let h = parse(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 18446744073709551615, 4)}",
        )
        .unwrap();
        assert_eq!(h.len, 0);
    }

    #[test]
    fn rejects_headers_that_are_not_valid_dicts() {
        for (dict, why) in [
            ("['descr', '<i4']", "not a dict"),
            ("{'descr': '<i4', 'fortran_order': False}", "needs the keys"),
            (
                "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), 'x': 1}",
                "unexpected key 'x'",
            ),
            (
                "{'descr': '<i4', 'descr': '<i4', 'fortran_order': False, 'shape': (1,)}",
                "duplicate key",
            ),
            (
                "{'descr': '<i4', 'fortran_order': False, 'shape': (5)}",
                "not a tuple",
            ),
            (
                "{'descr': '<i4', 'fortran_order': False, 'shape': [5]}",
                "not a tuple",
            ),
            (
                "{'descr': '<i4', 'fortran_order': False, 'shape': (-1,)}",
                "negative",
            ),
            (
                "{'descr': '<i4', 'fortran_order': False, 'shape': (1.5,)}",
                "integers",
            ),
            (
                "{'descr': '<i4', 'fortran_order': 0, 'shape': (1,)}",
                "fortran_order is 0",
            ),
            (
                "{'descr': '<i4', 'fortran_order': False, 'shape': (1,)} x",
                "after the dict",
            ),
            (
                "{'descr': '<i4, 'fortran_order': False, 'shape': (1,)}",
                "expected",
            ),
            (
                "{'descr': '<i4', 'fortran_order': False, 'shape': (1,)",
                "end",
            ),
            ("{'descr': '<i4' 'fortran_order': False}", "expected"),
            ("", "unexpected end"),
            (
                &format!("{}1{}", "(".repeat(100), ")".repeat(100)),
                "nested too deeply",
            ),
        ] {
            let err = parse(dict).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, Error::Format(_)), "{msg}");
            assert!(
                msg.starts_with("x.npy: the header is not a valid .npy header dict"),
                "{msg}"
            );
            assert!(msg.contains(why), "{dict}: {msg}");
            assert!(!msg.contains('\n'), "{msg}");
        }
    }

    #[test]
    fn rejects_dtypes_gpuscan_does_not_handle() {
        for descr in [
            "'<c8'",
            "'|O'",
            "'<U5'",
            "'|S3'",
            "'<M8[ns]'",
            "'<m8[s]'",
            "'<f16'",
            "'|V4'",
            "'<i3'",
        ] {
            let err = parse(&format!(
                "{{'descr': {descr}, 'fortran_order': False, 'shape': (1,)}}"
            ))
            .unwrap_err();
            let shown = descr.trim_matches('\'');
            assert_eq!(
                err.to_string(),
                format!("unsupported dtype '{shown}' in x.npy: gpuscan handles bool, int8..int64, uint8..uint64, float16, float32, float64")
            );
        }
        let err =
            parse("{'descr': [('a', '<i4'), ('b', '<f8')], 'fortran_order': False, 'shape': (1,)}")
                .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("unsupported dtype '[('a', '<i4'), ('b', '<f8')]' in x.npy"),
            "{err}"
        );
    }

    #[test]
    fn rejects_shapes_whose_size_overflows() {
        for shape in [
            "(4294967296, 4294967296)",
            "(99999999999999999999999,)",
            "(1152921504606846976,)",
        ] {
            let err = parse(&format!(
                "{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}}}"
            ))
            .unwrap_err();
            assert!(matches!(err, Error::Format(_)));
            assert!(
                err.to_string()
                    .contains("more elements than this machine can address"),
                "{err}"
            );
        }
    }

    #[test]
    fn every_dtype_round_trips_through_every_version() {
        for a in samples() {
            let mut file = Vec::new();
            write(&mut file, &a).unwrap();
            let b = read_from(file.as_slice(), "t.npy").unwrap();
            assert_eq!((b.dtype(), b.shape()), (a.dtype(), a.shape()));
            assert_eq!(bits(&b), bits(&a), "{}", a.dtype());
            // The same data behind version 2.0 and 3.0 headers.
            let header_len = u16::from_le_bytes([file[8], file[9]]) as usize;
            let dict = std::str::from_utf8(&file[10..10 + header_len])
                .unwrap()
                .trim_end();
            for version in [2, 3] {
                let f = npy_file(version, dict, &file[10 + header_len..]);
                let b = read_from(f.as_slice(), "t.npy").unwrap();
                assert_eq!(bits(&b), bits(&a), "{} v{version}", a.dtype());
                assert_eq!(b.shape(), a.shape());
            }
        }
    }

    #[test]
    fn version_3_headers_are_utf8() {
        // Only the header's encoding differs; a non-latin-1 character must survive 3.0 and
        // fail as an unknown key rather than as garbage.
        let f = npy_file(
            3,
            "{'descr': '<i2', 'fortran_order': False, 'shape': (1,), '\u{263a}': 1}",
            &[1, 0],
        );
        let msg = format_message(read_from(f.as_slice(), "u.npy"));
        assert!(msg.contains("unexpected key '\u{263a}'"), "{msg}");
    }

    #[test]
    fn writes_numpy_layout() {
        for shape in [
            vec![],
            vec![0],
            vec![10],
            vec![2, 3],
            vec![3, 0],
            vec![7, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
        ] {
            let h = header_bytes(DType::Int64, &shape);
            assert_eq!(h.len() % ALIGN, 0, "{shape:?}");
            assert_eq!(&h[..8], b"\x93NUMPY\x01\x00");
            assert_eq!(h.last(), Some(&b'\n'));
        }
        let h = header_bytes(DType::Int64, &[10]);
        assert_eq!(
            String::from_utf8_lossy(&h[10..]),
            format!(
                "{{'descr': '<i8', 'fortran_order': False, 'shape': (10,), }}{}\n",
                " ".repeat(59)
            )
        );
        assert!(String::from_utf8_lossy(&header_bytes(DType::Bool, &[]))
            .contains("'descr': '|b1', 'fortran_order': False, 'shape': (), }"));
        assert!(
            String::from_utf8_lossy(&header_bytes(DType::Float16, &[2, 3]))
                .contains("'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }")
        );
        // A header too long for a u16 length needs version 2.0.
        let many = vec![1usize; 25_000];
        let h = header_bytes(DType::UInt8, &many);
        assert_eq!(&h[..8], b"\x93NUMPY\x02\x00");
        assert_eq!(h.len() % ALIGN, 0);
        assert_eq!(
            u32::from_le_bytes([h[8], h[9], h[10], h[11]]) as usize,
            h.len() - 12
        );
        let a = Array::from_shape_vec(&many, vec![9u8]).unwrap();
        let mut file = Vec::new();
        write(&mut file, &a).unwrap();
        let b = read_from(file.as_slice(), "t.npy").unwrap();
        assert_eq!(
            (b.shape(), b.as_slice::<u8>().unwrap()),
            (many.as_slice(), &[9u8][..])
        );
    }

    #[test]
    fn writes_the_bytes_numpy_writes() {
        // Expected outputs of the CLI fixtures are np.save'd C-ordered arrays.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut checked = 0;
        for name in [
            "seed1.expected.npy",
            "seed2_axis1.expected.npy",
            "zero_d_i4.expected.npy",
            "empty_3x0_axis0.expected.npy",
            "f2_small.expected.npy",
            "b1_small.expected.npy",
        ] {
            let numpy = std::fs::read(dir.join(name)).unwrap();
            let a = read(&dir.join(name)).unwrap();
            let mut ours = Vec::new();
            write(&mut ours, &a).unwrap();
            assert_eq!(ours, numpy, "{name}");
            checked += 1;
        }
        assert_eq!(checked, 6);
    }

    #[test]
    fn write_as_casts_like_astype_across_chunks() {
        let n = CHUNK_BYTES / 2 + 3; // more than one chunk of f16/i16
        let src: Vec<f64> = (0..n).map(|i| i as f64 * 0.75 - 1000.5).collect();
        let a = Array::from_vec(src.clone());
        for to in DType::ALL {
            let mut file = Vec::new();
            write_as(&mut file, &a, to).unwrap();
            let b = read_from(file.as_slice(), "t.npy").unwrap();
            assert_eq!(b.dtype(), to);
            assert_eq!(bits(&b), bits(&a.astype(to)), "{to}");
        }
        let ints = Array::from_vec(vec![0i32, 2, -2, 300]);
        let mut file = Vec::new();
        write_as(&mut file, &ints, DType::Bool).unwrap();
        assert_eq!(
            read_from(file.as_slice(), "t.npy")
                .unwrap()
                .as_slice::<bool>()
                .unwrap(),
            &[false, true, true, true]
        );
    }

    #[test]
    fn reads_big_endian_as_native() {
        let cases: [(&str, Vec<u8>, Vec<u64>); 5] = [
            (
                "'>i4'",
                vec![0, 0, 1, 2, 0xff, 0xff, 0xff, 0xfe],
                vec![258, (-2i64) as u64],
            ),
            ("'>u2'", vec![1, 0, 0, 7], vec![256, 7]),
            (
                "'>f8'",
                [1.5f64.to_be_bytes(), (-0.0f64).to_be_bytes()].concat(),
                vec![1.5f64.to_bits(), (-0.0f64).to_bits()],
            ),
            (
                "'>f2'",
                vec![0x3c, 0x00, 0xc0, 0x00],
                vec![1.0f64.to_bits(), (-2.0f64).to_bits()],
            ),
            (
                "'>i8'",
                [5i64.to_be_bytes(), (-9i64).to_be_bytes()].concat(),
                vec![5, (-9i64) as u64],
            ),
        ];
        for (descr, data, want) in cases {
            let f = npy_file(
                1,
                &format!("{{'descr': {descr}, 'fortran_order': False, 'shape': (2,), }}"),
                &data,
            );
            let a = read_from(f.as_slice(), "be.npy").unwrap();
            assert_eq!(bits(&a), want, "{descr}");
        }
    }

    #[test]
    fn reads_fortran_order_into_c_order() {
        // np.arange(6).reshape(2, 3) in Fortran order is stored column by column.
        let col_major: Vec<u8> = [0i32, 3, 1, 4, 2, 5]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let f = npy_file(
            1,
            "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }",
            &col_major,
        );
        let a = read_from(f.as_slice(), "f.npy").unwrap();
        assert_eq!(
            (a.shape(), a.as_slice::<i32>().unwrap()),
            (&[2usize, 3][..], &[0, 1, 2, 3, 4, 5][..])
        );

        // 3-D, big-endian and Fortran at once: element (i, j, k) of shape (2, 3, 4) is
        // 100i + 10j + k and lies at i + 2j + 6k.
        let shape = [2usize, 3, 4];
        let mut stored = [0i64; 24];
        for i in 0..2 {
            for j in 0..3 {
                for k in 0..4 {
                    stored[i + 2 * j + 6 * k] = (100 * i + 10 * j + k) as i64;
                }
            }
        }
        let bytes: Vec<u8> = stored.iter().flat_map(|x| x.to_be_bytes()).collect();
        let f = npy_file(
            2,
            "{'descr': '>i8', 'fortran_order': True, 'shape': (2, 3, 4)}",
            &bytes,
        );
        let a = read_from(f.as_slice(), "f.npy").unwrap();
        let want: Vec<i64> = (0..2)
            .flat_map(|i| {
                (0..3).flat_map(move |j| (0..4).map(move |k| (100 * i + 10 * j + k) as i64))
            })
            .collect();
        assert_eq!(
            (a.shape(), a.as_slice::<i64>().unwrap()),
            (&shape[..], want.as_slice())
        );

        // Fortran bools, and 1-D and empty Fortran arrays, which need no transpose.
        let f = npy_file(
            1,
            "{'descr': '|b1', 'fortran_order': True, 'shape': (2, 2)}",
            &[1, 0, 0, 2],
        );
        assert_eq!(
            read_from(f.as_slice(), "f.npy")
                .unwrap()
                .as_slice::<bool>()
                .unwrap(),
            &[true, false, false, true]
        );
        let f = npy_file(
            1,
            "{'descr': '<u2', 'fortran_order': True, 'shape': (3,)}",
            &[1, 0, 2, 0, 3, 0],
        );
        assert_eq!(
            read_from(f.as_slice(), "f.npy")
                .unwrap()
                .as_slice::<u16>()
                .unwrap(),
            &[1, 2, 3]
        );
        let f = npy_file(
            1,
            "{'descr': '<u2', 'fortran_order': True, 'shape': (3, 0, 2)}",
            &[],
        );
        assert_eq!(
            read_from(f.as_slice(), "f.npy").unwrap().shape(),
            &[3, 0, 2]
        );
    }

    #[test]
    fn reports_every_malformed_file() {
        let good = npy_file(
            1,
            "{'descr': '<i4', 'fortran_order': False, 'shape': (3,)}",
            &[0; 12],
        );
        assert_eq!(read_from(good.as_slice(), "x.npy").unwrap().len(), 3);

        let msg = format_message(read_from(&b""[..], "x.npy"));
        assert_eq!(msg, "x.npy is not a .npy file: it is empty");
        let msg = format_message(read_from(&b"hello, world"[..], "x.npy"));
        assert_eq!(
            msg,
            "x.npy is not a .npy file: it does not start with \\x93NUMPY"
        );
        let msg = format_message(read_from(&b"\x93NUM"[..], "x.npy"));
        assert_eq!(msg, "x.npy: truncated .npy header");
        let msg = format_message(read_from(&good[..9], "x.npy"));
        assert_eq!(msg, "x.npy: truncated .npy header");
        let msg = format_message(read_from(&good[..40], "x.npy"));
        assert!(
            msg.starts_with("x.npy: truncated .npy header: it declares"),
            "{msg}"
        );
        let mut v4 = good.clone();
        v4[6] = 4;
        let msg = format_message(read_from(v4.as_slice(), "x.npy"));
        assert_eq!(
            msg,
            "x.npy: unsupported .npy format version 4.0 (gpuscan reads 1.0, 2.0 and 3.0)"
        );
        let mut huge = good.clone();
        huge[6] = 2;
        huge.splice(8..10, [0, 0, 0, 0x40]);
        let msg = format_message(read_from(huge.as_slice(), "x.npy"));
        assert!(msg.contains("more than the 1048576 gpuscan reads"), "{msg}");

        let msg = format_message(read_from(&good[..good.len() - 4], "x.npy"));
        assert_eq!(
            msg,
            "x.npy: the header declares 3 elements (12 bytes) but 8 data bytes follow"
        );
        let longer = [good.as_slice(), &[0; 5]].concat();
        let msg = format_message(read_from(longer.as_slice(), "x.npy"));
        assert_eq!(
            msg,
            "x.npy: the header declares 3 elements (12 bytes) but 17 data bytes follow"
        );
        let lying = npy_file(
            1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1000,)}",
            &[0; 3996],
        );
        let msg = format_message(read_from(lying.as_slice(), "x.npy"));
        assert_eq!(
            msg,
            "x.npy: the header declares 1000 elements (4000 bytes) but 3996 data bytes follow"
        );
        // A header claiming far more than memory holds fails cleanly at the end of the data.
        let lying = npy_file(
            1,
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,)}",
            &[0; 16],
        );
        assert!(matches!(
            read_from(lying.as_slice(), "x.npy"),
            Err(Error::Format(_) | Error::Overflow(_))
        ));

        let latin1 = npy_file(
            1,
            "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), '\u{e9}': 1}",
            &[0; 4],
        );
        let msg = format_message(read_from(latin1.as_slice(), "x.npy"));
        assert!(msg.contains("unexpected key"), "{msg}");
        let bad_utf8 = [&MAGIC[..], &[3, 0, 3, 0, 0, 0], b"\xff\xfe\n"].concat();
        let msg = format_message(read_from(bad_utf8.as_slice(), "x.npy"));
        assert_eq!(msg, "x.npy: the header is not valid UTF-8");
    }

    #[test]
    fn read_reports_missing_files_as_io() {
        let path = std::env::temp_dir().join(format!("gpuscan-missing-{}.npy", std::process::id()));
        let err = read(&path).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("cannot open {}: ", path.display())),
            "{msg}"
        );
    }

    #[test]
    fn fortran_to_c_matches_index_arithmetic() {
        for shape in [
            vec![1usize, 5],
            vec![5, 1],
            vec![3, 4],
            vec![2, 3, 4],
            vec![2, 1, 3, 2],
        ] {
            let n: usize = shape.iter().product();
            let src: Vec<usize> = (0..n).collect();
            let out = fortran_to_c(&src, &shape);
            // Walk C order and compute each element's Fortran offset directly.
            let mut expect = Vec::new();
            for c in 0..n {
                let (mut rem, mut off, mut stride) = (c, 0, 1);
                let mut idx = vec![0; shape.len()];
                for j in (0..shape.len()).rev() {
                    idx[j] = rem % shape[j];
                    rem /= shape[j];
                }
                for j in 0..shape.len() {
                    off += idx[j] * stride;
                    stride *= shape[j];
                }
                expect.push(off);
            }
            assert_eq!(out, expect, "{shape:?}");
        }
    }
}
