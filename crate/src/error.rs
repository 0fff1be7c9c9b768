//! One error type for the whole crate. Every variant has a stable `code()` so that the JS layer can
//! expose it as `err.code` without parsing messages.

use std::fmt;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The bytes are not a readable safetensors file (empty, truncated, corrupt header, bad offsets).
    #[error("not a valid model file: {0}")]
    BadModel(String),

    /// The checkpoint lacks a tensor the chosen architecture needs.
    #[error("tensor `{name}` is missing from the checkpoint (is the architecture/width right?)")]
    MissingTensor { name: String },

    /// A tensor exists but has the wrong shape for the chosen architecture.
    #[error("tensor `{name}` has shape {actual:?}, the architecture expects {expected:?}")]
    TensorShape {
        name: String,
        expected: Vec<usize>,
        actual: Vec<usize>,
    },

    /// The checkpoint holds tensors the architecture does not use: almost always a wrong architecture.
    #[error("checkpoint has {count} tensor(s) the architecture does not use, e.g. `{example}`")]
    UnusedTensors { count: usize, example: String },

    /// Architecture name not known, or no architecture given for a plain checkpoint.
    #[error("unknown architecture `{name}` (expected one of {known})")]
    UnknownArchitecture { name: String, known: String },

    /// A relative of the MobileNets (e.g. timm's MobileNetV4 hybrids) that this library does not
    /// build: refused by name rather than mistaken for a network it is not.
    #[error("architecture `{name}` is not supported: {reason}")]
    UnsupportedArchitecture { name: String, reason: &'static str },

    /// A configuration value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    BadConfig(String),

    /// The pixel buffer or its declared size is unusable.
    #[error("invalid image: {0}")]
    BadImage(String),

    /// An input tensor of the wrong rank/shape was given to the network.
    #[error("invalid input tensor: {0}")]
    BadInput(String),

    /// A learner was asked to classify, train or export before it had any example.
    #[error("no examples: {0}")]
    NoExamples(String),

    /// Classifying or training needs examples of at least two classes.
    #[error("too few classes: {0}")]
    TooFewClasses(String),

    /// The linear head was used before training on the current classes.
    #[error("not trained: {0}")]
    NotTrained(String),

    /// A label is empty, or names no class.
    #[error("invalid label: {0}")]
    BadLabel(String),

    /// A head file is unreadable or inconsistent (e.g. an example of a class without a label).
    #[error("not a valid head file: {0}")]
    BadHead(String),

    /// A head (or an embedding) made for another backbone.
    #[error("head and backbone do not match: {0}")]
    HeadMismatch(String),

    /// A result that is not a finite number (NaN or infinite): extreme weights or preprocessing
    /// constants overflowed float32. Never returned as an answer.
    #[error("non-finite result: {0}")]
    NonFinite(String),

    /// A failure inside candle that is not attributable to the caller's input.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Stable machine-readable code (also used as `err.code` in JavaScript).
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadModel(_) => "BAD_MODEL",
            Error::MissingTensor { .. } => "MISSING_TENSOR",
            Error::TensorShape { .. } => "TENSOR_SHAPE",
            Error::UnusedTensors { .. } => "UNUSED_TENSORS",
            Error::UnknownArchitecture { .. } | Error::UnsupportedArchitecture { .. } => {
                "UNKNOWN_ARCH"
            }
            Error::BadConfig(_) => "BAD_CONFIG",
            Error::BadImage(_) => "BAD_IMAGE",
            Error::BadInput(_) => "BAD_INPUT",
            Error::NoExamples(_) => "NO_EXAMPLES",
            Error::TooFewClasses(_) => "TOO_FEW_CLASSES",
            Error::NotTrained(_) => "NOT_TRAINED",
            Error::BadLabel(_) => "BAD_LABEL",
            Error::BadHead(_) => "BAD_HEAD",
            Error::HeadMismatch(_) => "HEAD_MISMATCH",
            Error::NonFinite(_) => "NON_FINITE",
            Error::Internal(_) => "INTERNAL",
        }
    }

    /// Every code [`Self::code`] returns (the package's typings list them, and a test holds the
    /// two lists together).
    pub const CODES: [&'static str; 16] = [
        "BAD_MODEL",
        "MISSING_TENSOR",
        "TENSOR_SHAPE",
        "UNUSED_TENSORS",
        "UNKNOWN_ARCH",
        "BAD_CONFIG",
        "BAD_IMAGE",
        "BAD_INPUT",
        "NO_EXAMPLES",
        "TOO_FEW_CLASSES",
        "NOT_TRAINED",
        "BAD_LABEL",
        "BAD_HEAD",
        "HEAD_MISMATCH",
        "NON_FINITE",
        "INTERNAL",
    ];

    pub(crate) fn bad_model(msg: impl fmt::Display) -> Self {
        Error::BadModel(msg.to_string())
    }

    pub(crate) fn bad_image(msg: impl fmt::Display) -> Self {
        Error::BadImage(msg.to_string())
    }

    pub(crate) fn bad_config(msg: impl fmt::Display) -> Self {
        Error::BadConfig(msg.to_string())
    }
}

impl From<candle_core::Error> for Error {
    /// Tensor ops fail only on a bug here (shapes are checked before they run).
    fn from(err: candle_core::Error) -> Self {
        match err {
            candle_core::Error::WithBacktrace { inner, .. } => Error::from(*inner),
            other => Error::Internal(other.to_string()),
        }
    }
}
