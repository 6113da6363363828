//! What can go wrong reading or writing a pickle, and where.

use std::fmt;

use super::{MAX_DEPTH, MAX_PICKLE_BYTES};

/// A pickle tessera will not read, or a value it cannot write as one.
///
/// Every message says what and where: a byte offset and an opcode for the pickle's bytes
/// ([`PickleError::offset`], [`PickleError::opcode`]), a path such as `$["cart"][2]` for a place
/// in the value.
///
/// ```
/// use tessera::interop::pickle::{loads, PickleError};
///
/// // pickle.dumps(datetime.date(2030, 1, 1), 2) starts by importing the class.
/// let err = loads(b"\x80\x02cdatetime\ndate\n").unwrap_err();
/// assert!(matches!(err, PickleError::Refused { opcode: "GLOBAL", offset: 2 }));
/// assert_eq!(
///     err.to_string(),
///     "the pickle calls for GLOBAL at byte 2, which plain data never needs; tessera only reads plain data"
/// );
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PickleError {
    /// An opcode plain data never needs: importing (`GLOBAL`, `STACK_GLOBAL`), calling
    /// (`REDUCE`, `NEWOBJ`, `INST`, `OBJ`), object state (`BUILD`), persistent ids, extension
    /// codes, out-of-band buffers, or a byte that is no opcode. Refused before anything is built
    /// with it.
    #[error("the pickle calls for {opcode} at byte {offset}, which plain data never needs; tessera only reads plain data")]
    Refused {
        /// Python's name for it (`"GLOBAL"`), or `"unknown opcode 0x9f"`.
        opcode: &'static str,
        /// Where the opcode is in the input.
        offset: usize,
    },
    /// Not a pickle Python itself would load: a stack underflow, a MARK missing, a bad argument,
    /// bytes after STOP.
    #[error("the pickle is malformed at byte {offset} ({opcode}): {reason}")]
    Malformed {
        /// The opcode being run.
        opcode: &'static str,
        /// Where it is in the input.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The input ends inside an opcode, or before STOP.
    #[error("the pickle is cut short: {} needs bytes after the end of the input", describe_truncation(*.opcode, *.offset))]
    Truncated {
        /// The opcode whose argument runs past the end, or `None` when the input ends where an
        /// opcode (STOP at the latest) should be.
        opcode: Option<&'static str>,
        /// Where that opcode starts, or the input's length.
        offset: usize,
    },
    /// Containers nested more than [`MAX_DEPTH`] deep (a container holding itself is endlessly
    /// deep).
    #[error("the value nests containers more than {MAX_DEPTH} deep {at}")]
    TooDeep {
        /// Where the limit was passed.
        at: Location,
    },
    /// Over one of tessera's size caps.
    #[error("{what} is over tessera's limit of {limit}, {at}")]
    TooLarge {
        /// What is counted: the input's length, the materialized value's size, the memo's
        /// entries, an int's decimal digits.
        what: &'static str,
        /// The cap.
        limit: usize,
        /// Where it was passed.
        at: Location,
    },
    /// Plain data that tessera's JSON mapping cannot hold: a dict key that is not a str, a NaN
    /// or infinite float, a frozenset, a bytearray, a str with a lone surrogate, a Python 2 str
    /// that is not ASCII.
    #[error("the pickle holds {what} {at}, which tessera's JSON mapping cannot hold")]
    Unrepresentable {
        /// What it is.
        what: &'static str,
        /// Where.
        at: Location,
    },
    /// [`loads_dict`](super::loads_dict) found something other than a dict.
    #[error("the pickle holds {found}, where a session is a dict with str keys")]
    NotADict {
        /// What it holds (`"a list"`).
        found: &'static str,
    },
    /// [`dumps`](super::dumps) met a JSON value that has no pickle form: a malformed tag such
    /// as `{" b": "not base64"}`, or an unhashable item in a set.
    #[error("the value has no pickle form {at}: {what}")]
    NoPickleForm {
        /// What is wrong.
        what: &'static str,
        /// Where in the value.
        at: Location,
    },
}

fn describe_truncation(opcode: Option<&'static str>, offset: usize) -> String {
    match opcode {
        Some(opcode) => format!("{opcode} at byte {offset}"),
        None => format!("the opcode due at byte {offset} (the pickle has no STOP)"),
    }
}

impl PickleError {
    /// The byte offset the error points at, when it points into the pickle's bytes.
    ///
    /// ```
    /// use tessera::interop::pickle::loads;
    ///
    /// // NONE, then REDUCE: a call.
    /// assert_eq!(loads(b"N)R.").unwrap_err().offset(), Some(2));
    /// ```
    pub fn offset(&self) -> Option<usize> {
        match self {
            Self::Refused { offset, .. } | Self::Malformed { offset, .. } => Some(*offset),
            Self::Truncated { offset, .. } => Some(*offset),
            Self::TooDeep { at }
            | Self::TooLarge { at, .. }
            | Self::Unrepresentable { at, .. }
            | Self::NoPickleForm { at, .. } => match at {
                Location::Byte { offset, .. } => Some(*offset),
                _ => None,
            },
            Self::NotADict { .. } => None,
        }
    }

    /// Python's name for the opcode the error points at, when it points at one.
    ///
    /// ```
    /// use tessera::interop::pickle::loads;
    ///
    /// // pickle.dumps(frozenset(), 5): plain, but JSON has no frozenset.
    /// let err = loads(b"\x80\x05\x95\x04\x00\x00\x00\x00\x00\x00\x00(\x91\x94.").unwrap_err();
    /// assert_eq!(err.opcode(), Some("FROZENSET"));
    /// ```
    pub fn opcode(&self) -> Option<&'static str> {
        match self {
            Self::Refused { opcode, .. } | Self::Malformed { opcode, .. } => Some(opcode),
            Self::Truncated { opcode, .. } => *opcode,
            Self::TooDeep { at }
            | Self::TooLarge { at, .. }
            | Self::Unrepresentable { at, .. }
            | Self::NoPickleForm { at, .. } => match at {
                Location::Byte { opcode, .. } => Some(opcode),
                _ => None,
            },
            Self::NotADict { .. } => None,
        }
    }

    pub(super) fn input_too_large() -> Self {
        Self::TooLarge {
            what: "the pickle's length in bytes",
            limit: MAX_PICKLE_BYTES,
            at: Location::Input,
        }
    }
}

/// Where a [`PickleError`] happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// At an opcode of the pickle.
    Byte {
        /// The opcode's offset in the input.
        offset: usize,
        /// Python's name for the opcode.
        opcode: &'static str,
    },
    /// At a place in the value, as a path from its root: `$`, `$["cart"][2]`. Items of tuples
    /// and sets are indexed like a list's.
    Path(String),
    /// The input as a whole.
    Input,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Byte { offset, opcode } => write!(f, "at byte {offset} ({opcode})"),
            Self::Path(path) => write!(f, "at {path}"),
            Self::Input => f.write_str("in the input as a whole"),
        }
    }
}

/// One step of a path into a value.
#[derive(Debug, Clone, Copy)]
pub(super) enum Step<'a> {
    Index(usize),
    Key(&'a str),
}

/// The steps from the root to where we are, kept while walking a value.
#[derive(Debug, Default)]
pub(super) struct Path<'a>(Vec<Step<'a>>);

impl<'a> Path<'a> {
    pub(super) fn push(&mut self, step: Step<'a>) {
        self.0.push(step);
    }

    pub(super) fn pop(&mut self) {
        self.0.pop();
    }

    pub(super) fn here(&self) -> Location {
        // Long keys are cut: the path says where, it need not repeat the data.
        const KEY_CHARS: usize = 40;
        let mut out = String::from("$");
        for step in &self.0 {
            match step {
                Step::Index(i) => out.push_str(&format!("[{i}]")),
                Step::Key(key) if key.chars().count() > KEY_CHARS => {
                    let cut: String = key.chars().take(KEY_CHARS).collect();
                    out.push_str(&format!("[{cut:?}…]"));
                }
                Step::Key(key) => out.push_str(&format!("[{key:?}]")),
            }
        }
        Location::Path(out)
    }
}
