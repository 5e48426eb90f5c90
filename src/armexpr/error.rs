//! Errors of the ARM template language. All of them are what ARM reports as `InvalidTemplate`, except
//! [`Error::NotYetKnown`], which is not a failure but a signal: the value depends on a deployed resource.

/// Everything that can go wrong parsing or evaluating a template.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The expression text is malformed.
    #[error("invalid expression \"{expression}\" at position {position}: {message}")]
    Parse {
        expression: String,
        /// 1-based character column in the template string, counting the opening `[`.
        position: usize,
        message: String,
    },

    /// The template calls a function ARM does not have, or one trustprint does not evaluate.
    #[error("unsupported function '{name}': {reason}")]
    UnknownFunction { name: String, reason: String },

    /// A function was called with arguments it cannot take.
    #[error("{function}(): {message}")]
    Function { function: String, message: String },

    /// A function was called with the wrong number or types of arguments (checked against the function
    /// registry before it runs), or where it may not be used. The message names counts, types and places
    /// only, never values.
    #[error("{function}(): {message}")]
    Signature { function: String, message: String },

    /// A template construct trustprint refuses rather than evaluating wrongly.
    #[error("unsupported template construct: {construct}")]
    Unsupported { construct: String },

    /// The template's structure is wrong (a missing field, a wrong JSON type).
    #[error("{message}")]
    Template { message: String },

    /// A template parameter is missing, has the wrong type or breaks a constraint.
    #[error("parameter '{name}': {message}")]
    Parameter { name: String, message: String },

    /// A variable refers to itself through other variables.
    #[error("variable cycle: {}", cycle.join(" -> "))]
    VariableCycle { cycle: Vec<String> },

    /// Resources depend on each other in a circle.
    #[error("circular dependency between resources: {}", cycle.join(" -> "))]
    DependencyCycle { cycle: Vec<String> },

    /// `dependsOn` names something the template does not declare.
    #[error("dependsOn '{target}' matches no resource in the template")]
    UnknownDependency { target: String },

    /// Evaluation nested too deeply (through variables or user functions).
    #[error("evaluation nested more than {limit} levels deep")]
    TooDeep { limit: usize },

    /// An expression built a value (string, array or object) larger than the bound, Azure's 4 MB template
    /// limit. ARM reports it as `InvalidTemplate`; the local cloud answers with that code, never by running out
    /// of memory.
    #[error(
        "the expression builds a value larger than {limit} bytes (Azure's 4 MB template limit)"
    )]
    ValueTooLarge { limit: usize },

    /// Evaluation took more steps than the bound (nested lambdas or copy loops over large ranges). Reported
    /// as `InvalidTemplate`.
    #[error("evaluation took more than {limit} steps; the template does too much work to deploy")]
    TooManySteps { limit: u64 },

    /// The value depends on something only known once resources exist (`reference()`, `list*()`).
    /// Static expansion keeps such properties as their expression text.
    #[error("{what} is only known after deployment")]
    NotYetKnown { what: String },

    /// A resolver (the local cloud) could not give a referenced resource.
    #[error("{message}")]
    Resolver { code: String, message: String },

    /// Where in the template an error happened (`resources[3].properties.x`).
    #[error("{path}: {source}")]
    At {
        path: String,
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// The ARM error code this error is reported with.
    pub fn arm_code(&self) -> &str {
        match self {
            Error::Resolver { code, .. } => code,
            Error::At { source, .. } => source.arm_code(),
            _ => "InvalidTemplate",
        }
    }

    /// The template path the error is at, if known.
    pub fn path(&self) -> Option<&str> {
        match self {
            Error::At { path, .. } => Some(path),
            _ => None,
        }
    }

    /// The error without its path.
    pub fn innermost(&self) -> &Error {
        match self {
            Error::At { source, .. } => source.innermost(),
            e => e,
        }
    }

    /// True when the error only means "not known before deployment".
    pub fn is_not_yet_known(&self) -> bool {
        matches!(self.innermost(), Error::NotYetKnown { .. })
    }

    /// Attach a template path, keeping the innermost (most precise) one.
    pub fn at(self, path: impl FnOnce() -> String) -> Error {
        match self {
            e @ Error::At { .. } => e,
            e => Error::At {
                path: path(),
                source: Box::new(e),
            },
        }
    }

    /// Put the error's path under `prefix` (an error inside a nested template, seen from its parent).
    pub fn within(self, prefix: &str) -> Error {
        match self {
            Error::At { path, source } => Error::At {
                path: format!("{prefix}.{path}"),
                source,
            },
            e => Error::At {
                path: prefix.to_string(),
                source: Box::new(e),
            },
        }
    }

    /// Hide what an error says about a value derived from a secure parameter (or a `list*` result), keeping
    /// which function failed and where.
    pub(crate) fn conceal(self, source: &str) -> Error {
        let hidden = || format!("the value derives from {source} and is not shown");
        match self {
            Error::Function { function, .. } => Error::Function {
                function,
                message: format!("invalid argument ({})", hidden()),
            },
            Error::Template { .. } => Error::Template {
                message: format!("cannot evaluate the expression ({})", hidden()),
            },
            Error::Parameter { name, .. } => Error::Parameter {
                name,
                message: hidden(),
            },
            Error::At {
                path,
                source: inner,
            } => Error::At {
                path,
                source: Box::new(inner.conceal(source)),
            },
            e => e,
        }
    }

    /// Replace every secret's text left in the error's words with `***`.
    pub(crate) fn scrub(self, secrets: &[String]) -> Error {
        let clean = |s: String| {
            secrets
                .iter()
                .fold(s, |acc, secret| acc.replace(secret.as_str(), "***"))
        };
        match self {
            Error::Parse {
                expression,
                position,
                message,
            } => Error::Parse {
                expression: clean(expression),
                position,
                message: clean(message),
            },
            Error::UnknownFunction { name, reason } => Error::UnknownFunction {
                name,
                reason: clean(reason),
            },
            Error::Function { function, message } => Error::Function {
                function,
                message: clean(message),
            },
            Error::Unsupported { construct } => Error::Unsupported {
                construct: clean(construct),
            },
            Error::Template { message } => Error::Template {
                message: clean(message),
            },
            Error::Parameter { name, message } => Error::Parameter {
                name,
                message: clean(message),
            },
            Error::UnknownDependency { target } => Error::UnknownDependency {
                target: clean(target),
            },
            Error::NotYetKnown { what } => Error::NotYetKnown { what: clean(what) },
            Error::Resolver { code, message } => Error::Resolver {
                code,
                message: clean(message),
            },
            Error::At { path, source } => Error::At {
                path: clean(path),
                source: Box::new(source.scrub(secrets)),
            },
            e => e,
        }
    }

    pub(crate) fn func(function: &str, message: impl Into<String>) -> Error {
        Error::Function {
            function: function.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn template(message: impl Into<String>) -> Error {
        Error::Template {
            message: message.into(),
        }
    }
}
