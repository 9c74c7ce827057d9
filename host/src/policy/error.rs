//! Typed plugin errors: every failure names the world, the plugin and the cause.

use super::World;

/// A plugin failed to load or to answer. The host survives every one of these; the previously
/// active plugin (and the last good decision) stay in force.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{world} plugin {plugin}: {cause}")]
pub struct PluginError {
    /// The world the plugin was loaded for.
    pub world: World,
    /// Which plugin: `name@version` once known, else its source (path or `builtin:WORLD`).
    pub plugin: String,
    /// What happened.
    pub cause: Cause,
}

/// What went wrong with a plugin.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Cause {
    /// The plugin file could not be read.
    #[error("cannot read {path}: {message}")]
    Read {
        /// The path.
        path: String,
        /// The OS error.
        message: String,
    },
    /// The bytes are not a WebAssembly component (random bytes, or a core module).
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    /// wasmtime refused to compile the component.
    #[error("invalid component: {0}")]
    Compile(String),
    /// The component imports something the import profile does not allow.
    #[error("imports {}, but the {profile} profile allows {allowed}", .imports.join(", "))]
    ForbiddenImports {
        /// The profile in force.
        profile: String,
        /// What the profile allows, for the message.
        allowed: String,
        /// The offending imports.
        imports: Vec<String>,
    },
    /// The component does not export what the world requires.
    #[error("is not a component of world {expected}: {reason}")]
    WrongWorld {
        /// The world it was loaded for.
        expected: World,
        /// What is missing or mistyped.
        reason: String,
    },
    /// The plugin implements another contract version.
    #[error("implements contract {found}, but this host implements {expected}")]
    Incompatible {
        /// The plugin's contract version.
        found: String,
        /// The host's.
        expected: String,
    },
    /// The call ran past its deadline and was interrupted.
    #[error("exceeded its deadline of {deadline_ms} ms and was stopped")]
    Deadline {
        /// The deadline in force.
        deadline_ms: u64,
    },
    /// The plugin tried to grow its memory past the cap.
    #[error("exceeded its memory limit of {limit_bytes} bytes")]
    Memory {
        /// The cap in force.
        limit_bytes: usize,
    },
    /// The call ran out of fuel (deterministic runs only).
    #[error("ran out of fuel ({fuel} units)")]
    Fuel {
        /// The budget in force.
        fuel: u64,
    },
    /// The plugin trapped (panic, `unreachable`, stack overflow, out-of-bounds access, ...).
    #[error("trapped: {0}")]
    Trap(String),
    /// The plugin answered something the host refuses to act on.
    #[error("answered nonsense: {0}")]
    InvalidAnswer(String),
    /// The plugin refused the call as a whole (`policy-error`), e.g. not implemented.
    #[error("refused: {0}")]
    Refused(String),
    /// The component could not be instantiated.
    #[error("cannot be instantiated: {0}")]
    Instantiate(String),
}

impl Cause {
    /// A short stable label for metrics and JSON (`deadline`, `memory`, `trap`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Cause::Read { .. } => "read",
            Cause::NotAComponent(_) => "not-a-component",
            Cause::Compile(_) => "compile",
            Cause::ForbiddenImports { .. } => "forbidden-imports",
            Cause::WrongWorld { .. } => "wrong-world",
            Cause::Incompatible { .. } => "incompatible",
            Cause::Deadline { .. } => "deadline",
            Cause::Memory { .. } => "memory",
            Cause::Fuel { .. } => "fuel",
            Cause::Trap(_) => "trap",
            Cause::InvalidAnswer(_) => "invalid-answer",
            Cause::Refused(_) => "refused",
            Cause::Instantiate(_) => "instantiate",
        }
    }

    /// Whether the instance that produced this error must be discarded (it trapped, so its
    /// state can no longer be trusted or re-entered).
    pub fn poisons_instance(&self) -> bool {
        matches!(self, Cause::Deadline { .. } | Cause::Memory { .. } | Cause::Fuel { .. } | Cause::Trap(_))
    }
}
