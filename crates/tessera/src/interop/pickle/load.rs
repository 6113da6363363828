//! The unpickling machine: Python's stack, mark stack and memo over an allow-list of opcodes,
//! building an arena of values that [`materialize`](super::value) turns into JSON.
//!
//! Containers live in an arena and are referred to by index, so a memo back-reference means
//! what it means in Python (the same list in two places, a list inside itself) while dropping
//! the arena is flat: no recursion, no reference cycles to leak.

use std::collections::HashMap;

use super::bigint::{self, DecimalError, Int};
use super::error::{Location, PickleError};
use super::opcodes::{self as op, name};
use super::{MAX_DEPTH, MAX_EXPANDED_BYTES};

/// What each value counts against [`MAX_EXPANDED_BYTES`], besides its text: the size of a
/// `serde_json::Value`.
pub(super) const VALUE_COST: usize = 32;

/// The most memo entries: every memoized value was pushed first, which costs at least
/// [`VALUE_COST`], so a pickle within the budget never needs more.
pub(super) const MAX_MEMO_ENTRIES: usize = MAX_EXPANDED_BYTES / VALUE_COST;

/// The most MARKs open at once. Python's pickler opens one per container it is writing, so a
/// value within [`MAX_DEPTH`] never needs more.
const MAX_OPEN_MARKS: usize = MAX_DEPTH + 1;

/// The highest protocol Python (3.8 to 3.14) writes.
const HIGHEST_PROTOCOL: u8 = 5;

/// A value on the stack or in a container: scalars inline, everything else an arena index.
#[derive(Debug, Clone, Copy)]
pub(super) enum Node {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    Obj(usize),
}

/// A value with parts, in the arena.
#[derive(Debug)]
pub(super) enum Obj {
    Str(String),
    Bytes(Vec<u8>),
    /// Digits of an int outside `i64`/`u64`.
    BigInt(String),
    List(Vec<Node>),
    /// Keys are arena indices of `Str`s (a non-str key is refused when set). A key set twice
    /// is here twice; the last one wins, as in Python.
    Dict(Vec<(usize, Node)>),
    Tuple {
        items: Vec<Node>,
        hashable: bool,
    },
    Set(Vec<Node>),
}

/// What a pickle built: the arena and the value STOP returned.
#[derive(Debug)]
pub(super) struct Loaded {
    pub(super) objs: Vec<Obj>,
    pub(super) root: Node,
}

/// Runs the pickle to its STOP.
pub(super) fn run(input: &[u8]) -> Result<Loaded, PickleError> {
    if input.len() > super::MAX_PICKLE_BYTES {
        return Err(PickleError::input_too_large());
    }
    Machine {
        input,
        pos: 0,
        at: 0,
        code: op::STOP,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        objs: Vec::new(),
        budget: MAX_EXPANDED_BYTES,
    }
    .run()
}

struct Machine<'a> {
    input: &'a [u8],
    /// The next byte to read.
    pos: usize,
    /// Where the current opcode starts, and which it is.
    at: usize,
    code: u8,
    stack: Vec<Node>,
    /// Stack lengths at each open MARK; the last is the fence nothing may pop below.
    marks: Vec<usize>,
    /// Keyed by index, never a vector sized by one: `LONG_BINPUT 0xffffffff` is one entry.
    memo: HashMap<u64, Node>,
    objs: Vec<Obj>,
    /// Bytes of [`MAX_EXPANDED_BYTES`] not yet spent on building values.
    budget: usize,
}

impl<'a> Machine<'a> {
    fn run(mut self) -> Result<Loaded, PickleError> {
        loop {
            self.at = self.pos;
            let Some(&code) = self.input.get(self.pos) else {
                return Err(PickleError::Truncated {
                    opcode: None,
                    offset: self.pos,
                });
            };
            self.code = code;
            self.pos += 1;
            if code == op::STOP {
                let root = self.pop()?;
                if self.pos != self.input.len() {
                    return Err(self.malformed("bytes follow STOP"));
                }
                return Ok(Loaded {
                    objs: self.objs,
                    root,
                });
            }
            self.step(code)?;
        }
    }

    /// One opcode. The match is the allow-list: whatever it does not name is refused here,
    /// before its argument is read or anything is built with it.
    fn step(&mut self, code: u8) -> Result<(), PickleError> {
        match code {
            op::PROTO => {
                if self.byte()? > HIGHEST_PROTOCOL {
                    return Err(self.malformed("a protocol newer than 5"));
                }
            }
            op::FRAME => {
                // Frames only group opcodes for buffered reading; as CPython's C unpickler
                // does, check the frame fits and read on.
                let len = self.u64_le()?;
                if len > (self.input.len() - self.pos) as u64 {
                    return Err(self.truncated());
                }
            }
            op::MARK => {
                if self.marks.len() >= MAX_OPEN_MARKS {
                    return Err(PickleError::TooDeep { at: self.here() });
                }
                self.marks.push(self.stack.len());
            }
            op::POP => {
                // CPython pops the MARK itself when it is on top.
                if self.marks.last() == Some(&self.stack.len()) {
                    self.marks.pop();
                } else {
                    self.pop()?;
                }
            }
            op::POP_MARK => {
                let mark = self.pop_mark()?;
                self.stack.truncate(mark);
            }
            op::DUP => {
                let top = self.top()?;
                self.push(top, 0)?;
            }
            op::PUT => {
                let line = self.line()?;
                let index = self.memo_index(line)?;
                self.memo_put(index)?;
            }
            op::BINPUT => {
                let index = self.byte()?;
                self.memo_put(u64::from(index))?;
            }
            op::LONG_BINPUT => {
                let index = self.u32_le()?;
                self.memo_put(u64::from(index))?;
            }
            op::MEMOIZE => {
                let index = self.memo.len() as u64;
                self.memo_put(index)?;
            }
            op::GET => {
                let line = self.line()?;
                let index = self.memo_index(line)?;
                self.memo_get(index)?;
            }
            op::BINGET => {
                let index = self.byte()?;
                self.memo_get(u64::from(index))?;
            }
            op::LONG_BINGET => {
                let index = self.u32_le()?;
                self.memo_get(u64::from(index))?;
            }
            op::NONE => self.push(Node::None, 0)?,
            op::NEWTRUE => self.push(Node::Bool(true), 0)?,
            op::NEWFALSE => self.push(Node::Bool(false), 0)?,
            op::INT => {
                let line = self.line()?;
                // Python's pickler writes True and False as INT 01 and 00 in protocol 0; the C
                // unpickler reads any two characters that make 0 or 1 (`-0`, `+1`) the same.
                match line {
                    b"00" | b"-0" | b"+0" => self.push(Node::Bool(false), 0)?,
                    b"01" | b"+1" => self.push(Node::Bool(true), 0)?,
                    _ => {
                        let int = self.decimal(line)?;
                        self.push_int(int)?;
                    }
                }
            }
            op::BININT => {
                let value = i32::from_le_bytes(self.array()?);
                self.push(Node::Int(value.into()), 0)?;
            }
            op::BININT1 => {
                let value = self.byte()?;
                self.push(Node::Int(value.into()), 0)?;
            }
            op::BININT2 => {
                let value = u16::from_le_bytes(self.array()?);
                self.push(Node::Int(value.into()), 0)?;
            }
            op::LONG => {
                let line = self.line()?;
                // Python 2 wrote a trailing L; Python 3 reads it with or without.
                let digits = line.strip_suffix(b"L").unwrap_or(line);
                let int = self.decimal(digits)?;
                self.push_int(int)?;
            }
            op::LONG1 => {
                let len = usize::from(self.byte()?);
                self.long(len)?;
            }
            op::LONG4 => {
                let len = i32::from_le_bytes(self.array()?);
                let len =
                    usize::try_from(len).map_err(|_| self.malformed("a negative byte count"))?;
                self.long(len)?;
            }
            op::FLOAT => {
                let line = self.line()?;
                let value = std::str::from_utf8(line)
                    .ok()
                    .and_then(|text| text.parse::<f64>().ok())
                    .ok_or_else(|| self.malformed("an argument that is not a float"))?;
                self.push_float(value)?;
            }
            op::BINFLOAT => {
                // Big-endian, unlike every other binary argument.
                let value = f64::from_be_bytes(self.array()?);
                self.push_float(value)?;
            }
            op::STRING => {
                let line = self.line()?;
                let quoted = match line {
                    [q @ (b'\'' | b'"'), inner @ .., last] if q == last => inner,
                    _ => return Err(self.malformed("an argument that is not quoted")),
                };
                let bytes = escape_decode(quoted).map_err(|reason| self.malformed(reason))?;
                self.push_ascii(bytes)?;
            }
            op::BINSTRING => {
                let len = i32::from_le_bytes(self.array()?);
                let len =
                    usize::try_from(len).map_err(|_| self.malformed("a negative byte count"))?;
                let bytes = self.take(len)?.to_vec();
                self.push_ascii(bytes)?;
            }
            op::SHORT_BINSTRING => {
                let len = usize::from(self.byte()?);
                let bytes = self.take(len)?.to_vec();
                self.push_ascii(bytes)?;
            }
            op::UNICODE => {
                let line = self.line()?;
                let text = raw_unicode_escape(line).map_err(|e| self.text_error(e))?;
                self.push_str(text)?;
            }
            op::SHORT_BINUNICODE => {
                let len = usize::from(self.byte()?);
                self.utf8(len)?;
            }
            op::BINUNICODE => {
                let len = u32::from_le_bytes(self.array()?);
                self.utf8(len as usize)?;
            }
            op::BINUNICODE8 => {
                let len = self.u64_le()?;
                self.utf8(self.length(len)?)?;
            }
            op::SHORT_BINBYTES => {
                let len = usize::from(self.byte()?);
                self.bytes(len)?;
            }
            op::BINBYTES => {
                let len = u32::from_le_bytes(self.array()?);
                self.bytes(len as usize)?;
            }
            op::BINBYTES8 => {
                let len = self.u64_le()?;
                self.bytes(self.length(len)?)?;
            }
            op::EMPTY_LIST => self.push_obj(Obj::List(Vec::new()), 0)?,
            op::LIST => {
                let items = self.pop_to_mark()?;
                self.push_obj(Obj::List(items), 0)?;
            }
            op::APPEND => {
                let item = self.pop()?;
                let target = self.top()?;
                self.extend(target, vec![item])?;
            }
            op::APPENDS => {
                let (target, items) = self.mark_and_target()?;
                if !items.is_empty() {
                    self.extend(target, items)?;
                }
            }
            op::EMPTY_DICT => self.push_obj(Obj::Dict(Vec::new()), 0)?,
            op::DICT => {
                let items = self.pop_to_mark()?;
                let dict = self.objs.len();
                self.push_obj(Obj::Dict(Vec::new()), 0)?;
                self.set_items(Node::Obj(dict), &items)?;
            }
            op::SETITEM => {
                let value = self.pop()?;
                let key = self.pop()?;
                let target = self.top()?;
                self.set_items(target, &[key, value])?;
            }
            op::SETITEMS => {
                let (target, items) = self.mark_and_target()?;
                if !items.is_empty() {
                    self.set_items(target, &items)?;
                }
            }
            op::EMPTY_TUPLE => self.push_tuple(Vec::new())?,
            op::TUPLE => {
                let items = self.pop_to_mark()?;
                self.push_tuple(items)?;
            }
            op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                let n = usize::from(code - op::TUPLE1) + 1;
                if self.stack.len() < self.fence() + n {
                    return Err(self.underflow());
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.push_tuple(items)?;
            }
            op::EMPTY_SET => self.push_obj(Obj::Set(Vec::new()), 0)?,
            op::ADDITEMS => {
                let (target, items) = self.mark_and_target()?;
                if !items.is_empty() {
                    self.add_items(target, items)?;
                }
            }
            op::FROZENSET => return Err(self.unrepresentable("a frozenset")),
            op::BYTEARRAY8 => return Err(self.unrepresentable("a bytearray")),
            // Importing, calling, object state, persistent ids, the extension registry,
            // out-of-band buffers: what a pickle needs to be more than plain data.
            op::GLOBAL
            | op::STACK_GLOBAL
            | op::REDUCE
            | op::BUILD
            | op::INST
            | op::OBJ
            | op::NEWOBJ
            | op::NEWOBJ_EX
            | op::PERSID
            | op::BINPERSID
            | op::EXT1
            | op::EXT2
            | op::EXT4
            | op::NEXT_BUFFER
            | op::READONLY_BUFFER => return Err(self.refused()),
            // And any byte that is no opcode.
            _ => return Err(self.refused()),
        }
        Ok(())
    }

    // --- errors ---

    fn here(&self) -> Location {
        Location::Byte {
            offset: self.at,
            opcode: name(self.code),
        }
    }

    fn refused(&self) -> PickleError {
        PickleError::Refused {
            opcode: name(self.code),
            offset: self.at,
        }
    }

    fn malformed(&self, reason: &'static str) -> PickleError {
        PickleError::Malformed {
            opcode: name(self.code),
            offset: self.at,
            reason,
        }
    }

    fn truncated(&self) -> PickleError {
        PickleError::Truncated {
            opcode: Some(name(self.code)),
            offset: self.at,
        }
    }

    fn underflow(&self) -> PickleError {
        self.malformed("the stack (above the last MARK) has too few items")
    }

    fn unrepresentable(&self, what: &'static str) -> PickleError {
        PickleError::Unrepresentable {
            what,
            at: self.here(),
        }
    }

    fn too_large(&self, what: &'static str, limit: usize) -> PickleError {
        PickleError::TooLarge {
            what,
            limit,
            at: self.here(),
        }
    }

    fn text_error(&self, error: TextError) -> PickleError {
        match error {
            TextError::Malformed(reason) => self.malformed(reason),
            TextError::Surrogate => self.unrepresentable("a str with a lone surrogate"),
        }
    }

    // --- reading arguments ---

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        if n > self.input.len() - self.pos {
            return Err(self.truncated());
        }
        let input = self.input;
        let bytes = &input[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, PickleError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32_le(&mut self) -> Result<u32, PickleError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64_le(&mut self) -> Result<u64, PickleError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// An 8-byte length, checked against the input before anything is allocated.
    fn length(&self, len: u64) -> Result<usize, PickleError> {
        match usize::try_from(len) {
            Ok(len) if len <= self.input.len() - self.pos => Ok(len),
            _ => Err(self.truncated()),
        }
    }

    /// A protocol-0 argument: the bytes up to the next newline, which is consumed.
    fn line(&mut self) -> Result<&'a [u8], PickleError> {
        let input = self.input;
        let rest = &input[self.pos..];
        let Some(end) = memchr::memchr(b'\n', rest) else {
            return Err(self.truncated());
        };
        self.pos += end + 1;
        Ok(&rest[..end])
    }

    fn decimal(&self, text: &[u8]) -> Result<Int, PickleError> {
        bigint::from_decimal(text).map_err(|error| match error {
            DecimalError::NotDecimal => self.malformed("an argument that is not a decimal integer"),
            DecimalError::TooManyDigits => self.int_too_long(),
        })
    }

    fn int_too_long(&self) -> PickleError {
        self.too_large("an int's count of decimal digits", bigint::MAX_INT_DIGITS)
    }

    fn memo_index(&self, line: &[u8]) -> Result<u64, PickleError> {
        if line.is_empty() || !line.iter().all(u8::is_ascii_digit) {
            return Err(self.malformed("a memo index that is not a decimal integer"));
        }
        std::str::from_utf8(line)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| self.malformed("a memo index too large for any memo"))
    }

    // --- the stack ---

    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self) -> Result<Node, PickleError> {
        if self.stack.len() <= self.fence() {
            return Err(self.underflow());
        }
        self.stack.pop().ok_or_else(|| self.underflow())
    }

    fn top(&self) -> Result<Node, PickleError> {
        if self.stack.len() <= self.fence() {
            return Err(self.underflow());
        }
        self.stack.last().copied().ok_or_else(|| self.underflow())
    }

    fn pop_mark(&mut self) -> Result<usize, PickleError> {
        self.marks
            .pop()
            .ok_or_else(|| self.malformed("no MARK is open"))
    }

    fn pop_to_mark(&mut self) -> Result<Vec<Node>, PickleError> {
        let mark = self.pop_mark()?;
        Ok(self.stack.split_off(mark))
    }

    /// The items since the last MARK and the container just below that MARK, which must be
    /// above the MARK before it (as CPython checks, even when there are no items).
    fn mark_and_target(&mut self) -> Result<(Node, Vec<Node>), PickleError> {
        let mark = self.pop_mark()?;
        if mark <= self.fence() {
            return Err(self.underflow());
        }
        let items = self.stack.split_off(mark);
        let target = self.stack.last().copied().ok_or_else(|| self.underflow())?;
        Ok((target, items))
    }

    fn charge(&mut self, cost: usize) -> Result<(), PickleError> {
        self.budget = self
            .budget
            .checked_sub(cost)
            .ok_or_else(|| self.too_large(super::value::EXPANDED, MAX_EXPANDED_BYTES))?;
        Ok(())
    }

    fn push(&mut self, node: Node, text: usize) -> Result<(), PickleError> {
        self.charge(VALUE_COST.saturating_add(text))?;
        self.stack.push(node);
        Ok(())
    }

    fn push_obj(&mut self, obj: Obj, text: usize) -> Result<(), PickleError> {
        self.charge(VALUE_COST.saturating_add(text))?;
        self.objs.push(obj);
        self.stack.push(Node::Obj(self.objs.len() - 1));
        Ok(())
    }

    fn push_int(&mut self, int: Int) -> Result<(), PickleError> {
        match int {
            Int::Small(value) => self.push(Node::Int(value), 0),
            Int::Big(digits) => {
                let len = digits.len();
                self.push_obj(Obj::BigInt(digits), len)
            }
        }
    }

    fn long(&mut self, len: usize) -> Result<(), PickleError> {
        let bytes = self.take(len)?;
        let int = bigint::from_le_twos(bytes).map_err(|_| self.int_too_long())?;
        self.push_int(int)
    }

    fn push_float(&mut self, value: f64) -> Result<(), PickleError> {
        if !value.is_finite() {
            return Err(self.unrepresentable("a NaN or infinite float"));
        }
        self.push(Node::Float(value), 0)
    }

    fn push_str(&mut self, text: String) -> Result<(), PickleError> {
        let len = text.len();
        self.push_obj(Obj::Str(text), len)
    }

    /// STRING and friends: Python 2's str, which Python 3 reads as ASCII by default.
    fn push_ascii(&mut self, bytes: Vec<u8>) -> Result<(), PickleError> {
        match String::from_utf8(bytes) {
            Ok(text) if text.is_ascii() => self.push_str(text),
            _ => Err(self.unrepresentable(
                "a Python 2 str that is not ASCII (Python 3 reads it only with an encoding)",
            )),
        }
    }

    fn utf8(&mut self, len: usize) -> Result<(), PickleError> {
        let bytes = self.take(len)?;
        let text = utf8(bytes).map_err(|e| self.text_error(e))?.to_owned();
        self.push_str(text)
    }

    fn bytes(&mut self, len: usize) -> Result<(), PickleError> {
        let bytes = self.take(len)?.to_vec();
        self.push_obj(Obj::Bytes(bytes), len)
    }

    fn push_tuple(&mut self, items: Vec<Node>) -> Result<(), PickleError> {
        let hashable = items.iter().all(|&item| self.hashable(item));
        self.push_obj(Obj::Tuple { items, hashable }, 0)
    }

    // --- the memo ---

    fn memo_put(&mut self, index: u64) -> Result<(), PickleError> {
        let top = self.top()?;
        if self.memo.len() >= MAX_MEMO_ENTRIES && !self.memo.contains_key(&index) {
            return Err(self.too_large("the memo's count of entries", MAX_MEMO_ENTRIES));
        }
        self.memo.insert(index, top);
        Ok(())
    }

    fn memo_get(&mut self, index: u64) -> Result<(), PickleError> {
        let node = *self
            .memo
            .get(&index)
            .ok_or_else(|| self.malformed("a memo index nothing was put at"))?;
        // The reference alone; the materializer charges what it refers to, each time.
        self.push(node, 0)
    }

    // --- containers ---

    /// Whether Python could hash it: a dict key or a set item must be.
    fn hashable(&self, node: Node) -> bool {
        match node {
            Node::Obj(index) => match self.objs.get(index) {
                Some(Obj::Str(_) | Obj::Bytes(_) | Obj::BigInt(_)) => true,
                Some(Obj::Tuple { hashable, .. }) => *hashable,
                _ => false,
            },
            _ => true,
        }
    }

    fn obj_mut(&mut self, target: Node) -> Option<&mut Obj> {
        match target {
            Node::Obj(index) => self.objs.get_mut(index),
            _ => None,
        }
    }

    fn extend(&mut self, target: Node, items: Vec<Node>) -> Result<(), PickleError> {
        match self.obj_mut(target) {
            Some(Obj::List(list)) => {
                list.extend(items);
                Ok(())
            }
            _ => Err(self.malformed("appends to something that is not a list")),
        }
    }

    fn set_items(&mut self, target: Node, items: &[Node]) -> Result<(), PickleError> {
        if !items.len().is_multiple_of(2) {
            return Err(self.malformed("an odd number of items, where keys and values pair"));
        }
        let mut entries = Vec::with_capacity(items.len() / 2);
        for pair in items.chunks_exact(2) {
            let (key, value) = (pair[0], pair[1]);
            if !self.hashable(key) {
                return Err(self.malformed("an unhashable dict key (a list, dict or set)"));
            }
            match key {
                Node::Obj(index) if matches!(self.objs.get(index), Some(Obj::Str(_))) => {
                    entries.push((index, value));
                }
                _ => return Err(self.unrepresentable("a dict key that is not a str")),
            }
        }
        match self.obj_mut(target) {
            Some(Obj::Dict(dict)) => {
                dict.extend(entries);
                Ok(())
            }
            _ => Err(self.malformed("sets items in something that is not a dict")),
        }
    }

    fn add_items(&mut self, target: Node, items: Vec<Node>) -> Result<(), PickleError> {
        if !items.iter().all(|&item| self.hashable(item)) {
            return Err(self.malformed("an unhashable set item (a list, dict or set)"));
        }
        match self.obj_mut(target) {
            Some(Obj::Set(set)) => {
                set.extend(items);
                Ok(())
            }
            _ => Err(self.malformed("adds items to something that is not a set")),
        }
    }
}

/// Why text could not be read.
#[derive(Debug, Clone, Copy)]
enum TextError {
    Malformed(&'static str),
    /// Python would hold it (a lone surrogate), but a Rust `String` cannot.
    Surrogate,
}

/// UTF-8 as Python's unpickler reads it (`surrogatepass`): an encoded surrogate is valid to
/// Python, only unrepresentable here.
fn utf8(bytes: &[u8]) -> Result<&str, TextError> {
    std::str::from_utf8(bytes).map_err(|error| {
        let bad = &bytes[error.valid_up_to()..];
        match bad {
            [0xed, 0xa0..=0xbf, 0x80..=0xbf, ..] => TextError::Surrogate,
            _ => TextError::Malformed("a str that is not UTF-8"),
        }
    })
}

/// The `raw-unicode-escape` codec protocol 0's UNICODE uses: Latin-1 bytes, except `\uXXXX`
/// and `\UXXXXXXXX`.
fn raw_unicode_escape(bytes: &[u8]) -> Result<String, TextError> {
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        i += 1;
        if byte != b'\\' || i == bytes.len() {
            out.push(char::from(byte));
            continue;
        }
        let digits = match bytes[i] {
            b'u' => 4,
            b'U' => 8,
            other => {
                // Not an escape: both characters as they are.
                out.push('\\');
                out.push(char::from(other));
                i += 1;
                continue;
            }
        };
        i += 1;
        let hex = bytes
            .get(i..i + digits)
            .ok_or(TextError::Malformed("a truncated \\u escape"))?;
        let mut code: u32 = 0;
        for &h in hex {
            let digit = char::from(h)
                .to_digit(16)
                .ok_or(TextError::Malformed("a \\u escape with a non-hex digit"))?;
            code = code * 16 + digit;
        }
        i += digits;
        match char::from_u32(code) {
            Some(c) => out.push(c),
            None if (0xd800..=0xdfff).contains(&code) => return Err(TextError::Surrogate),
            None => return Err(TextError::Malformed("a \\U escape past U+10FFFF")),
        }
    }
    Ok(out)
}

/// Python's `codecs.escape_decode`, which protocol 0's STRING uses (the quotes already off).
fn escape_decode(bytes: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        i += 1;
        if byte != b'\\' {
            out.push(byte);
            continue;
        }
        let Some(&escape) = bytes.get(i) else {
            return Err("a trailing \\ in a STRING");
        };
        i += 1;
        match escape {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(escape),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b'v' => out.push(0x0b),
            b'a' => out.push(0x07),
            b'0'..=b'7' => {
                let mut code = u32::from(escape - b'0');
                for _ in 0..2 {
                    match bytes.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            code = code * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                // Python keeps the low byte of \400 to \777 (and warns).
                out.push((code & 0xff) as u8);
            }
            b'x' => {
                let hex = |b: u8| char::from(b).to_digit(16);
                let value = match bytes.get(i..i + 2) {
                    Some(&[high, low]) => hex(high).zip(hex(low)),
                    _ => None,
                };
                let (high, low) = value.ok_or("an invalid \\x escape in a STRING")?;
                // Two hex digits make a byte.
                out.push((high * 16 + low) as u8);
                i += 2;
            }
            _ => {
                // Unknown escapes stay as they are (Python warns).
                out.push(b'\\');
                i -= 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_decode_matches_python() {
        // codecs.escape_decode(b"a\\400\\q\\'\\x41") == (b"a\x00\\q'A", ...)
        assert_eq!(escape_decode(b"a\\400\\q\\'\\x41").unwrap(), b"a\x00\\q'A");
        assert_eq!(
            escape_decode(b"\\n\\t\\\\\\101\\7x\\\n").unwrap(),
            b"\n\t\\A\x07x"
        );
        assert!(escape_decode(b"\\").is_err());
        assert!(escape_decode(b"\\x4").is_err());
        assert!(escape_decode(b"\\x+1").is_err());
    }

    #[test]
    fn raw_unicode_escape_matches_python() {
        // b'\\\\u0041\\u00e9\\x'.decode('raw_unicode_escape') == '\\\\u0041é\\x'
        assert_eq!(
            raw_unicode_escape(b"\\\\u0041\\u00e9\\x").unwrap(),
            "\\\\u0041é\\x"
        );
        assert_eq!(raw_unicode_escape(b"\xe9\\U0001f600\\").unwrap(), "é😀\\");
        assert!(matches!(
            raw_unicode_escape(b"\\ud800"),
            Err(TextError::Surrogate)
        ));
        assert!(matches!(
            raw_unicode_escape(b"\\u00"),
            Err(TextError::Malformed(_))
        ));
        assert!(matches!(
            raw_unicode_escape(b"\\U00110000"),
            Err(TextError::Malformed(_))
        ));
    }

    #[test]
    fn utf8_tells_surrogates_from_garbage() {
        assert!(matches!(utf8(b"a\xed\xa0\x80"), Err(TextError::Surrogate)));
        assert!(matches!(utf8(b"a\xff"), Err(TextError::Malformed(_))));
        assert_eq!(utf8("é".as_bytes()).unwrap(), "é");
    }
}
