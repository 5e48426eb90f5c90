//! The command line (clap derive). Parsed once into typed configs; clap types go no deeper than this module.
//!
//! One file per command family: `render` (render, check), `stamp`, `values`, `blueprint`, `completions`; plan,
//! apply, destroy, cloud and fleet (issues 5 and 6) slot in as one file each plus one [`Command`] variant.
//!
//! Output: results go to stdout, as text or (`--output json`) one JSON document. Logs and errors go to
//! stderr; with `--output json` an error is one JSON document on stderr
//! (`{"error": {"kind", "message", "causes", "exitCode", ...}}`), so stdout holds only results.
//! Exit codes are [`crate::ExitCode`]: clap's usage errors are 4 (invalid input), `--help`/`--version` 0.

mod blueprint;
pub mod cloud;
mod completions;
mod cost;
mod dataset;
mod deploy;
mod evidence;
mod fleet;
mod fleet_repo;
mod output;
mod progress;
mod render;
mod stamp;
mod values;

use crate::blueprint::SourceSpec;
use crate::error::{Error, ExitCode};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::io::IsTerminal;

const ABOUT: &str =
    "Stamp an exemplar NHS trust's Azure blueprint for follower trusts: render, check and record";

const AFTER_HELP: &str = "\
Examples:
  trustprint render --values trust.yaml --out rendered/
  trustprint check --values trust.yaml
  trustprint stamp --values trust.yaml --fleet ../fleet

Exit codes:
  0 success            1 operation failed    2 changes present
  3 guardrail violations  4 invalid input    5 internal error (a bug)

Docs: README.md, docs/architecture.md, docs/values.md, docs/blueprint-authoring.md";

/// trustprint's command line.
#[derive(Debug, Parser)]
#[command(name = "trustprint", version, about = ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The blueprint: a folder, or a git URL with a ref (`https://host/org/repo.git//blueprints/x@v1.2.0`,
    /// `file://` too). Default: the exemplar blueprint built into trustprint.
    #[arg(long, global = true, value_name = "SRC", env = "TRUSTPRINT_BLUEPRINT")]
    pub blueprint: Option<String>,

    /// Override a value: `--set tier=large --set trust.name="A TRUST"` (the value is read as YAML). Applied
    /// after the values file.
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    pub set: Vec<String>,

    /// Results as human-readable text or one JSON document.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Colour: auto (when writing to a terminal and NO_COLOR is not set), always or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// More detail on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render a trust's ARM templates and parameters files into a folder.
    #[command(after_help = render::RENDER_HELP)]
    Render(render::RenderArgs),
    /// Render a trust and run the guardrails over it.
    #[command(after_help = render::CHECK_HELP)]
    Check(render::CheckArgs),
    /// Render, check and record a trust in a fleet git repository.
    #[command(after_help = stamp::HELP)]
    Stamp(deploy::DeployStampArgs),
    /// What-if: what applying the trust would change (nothing is changed).
    #[command(after_help = deploy::PLAN_HELP)]
    Plan(deploy::PlanArgs),
    /// Deploy the trust through Azure Resource Manager (or the local cloud).
    #[command(after_help = deploy::APPLY_HELP)]
    Apply(deploy::ApplyArgs),
    /// Delete the trust's resource groups and subscription-level assignments.
    #[command(after_help = deploy::DESTROY_HELP)]
    Destroy(deploy::DestroyArgs),
    /// Monthly GBP estimate of a trust, checked against its budget.
    #[command(after_help = cost::COST_HELP)]
    Cost(cost::CostArgs),
    /// Write a trust's compliance evidence pack (Markdown, HTML, JSON).
    #[command(after_help = evidence::HELP)]
    Evidence(evidence::EvidenceArgs),
    /// Price sheets: refresh from Azure's Retail Prices API.
    #[command(subcommand)]
    Prices(cost::PricesCommand),
    /// Commands over every trust of a fleet repository.
    #[command(subcommand)]
    Fleet(fleet::FleetCommand),
    /// Values files: their JSON Schema.
    #[command(subcommand)]
    Values(values::ValuesCommand),
    /// Blueprints: lint one.
    #[command(subcommand)]
    Blueprint(blueprint::BlueprintCommand),
    /// Run the local cloud (an embedded Azure Resource Manager) or look after its state.
    #[command(after_help = cloud::HELP)]
    Cloud(cloud::CloudArgs),
    /// Fictional patients: generate a trust's synthetic population, load it into staging storage, verify it.
    #[command(subcommand, after_help = dataset::HELP)]
    Dataset(dataset::DatasetCommand),
    /// Print a shell completion script.
    #[command(after_help = completions::HELP)]
    Completions(completions::CompletionsArgs),
}

/// The global options, resolved once: what every command's code sees instead of clap types.
pub(crate) struct Global {
    blueprint: Option<String>,
    set: Vec<String>,
    pub(crate) json: bool,
    /// Colour on stdout / stderr.
    pub(crate) color_out: bool,
    pub(crate) color_err: bool,
}

impl Global {
    /// `--blueprint` as given.
    pub(crate) fn blueprint_arg(&self) -> Option<&str> {
        self.blueprint.as_deref()
    }

    /// Where the blueprint comes from.
    pub(crate) fn source(&self) -> Result<SourceSpec, Error> {
        match &self.blueprint {
            None => Ok(SourceSpec::Embedded),
            Some(s) => Ok(SourceSpec::parse(s)?),
        }
    }

    /// The inputs of a single-trust command.
    pub(crate) fn inputs(&self, values: &std::path::Path) -> Result<crate::run::Inputs, Error> {
        Ok(crate::run::Inputs {
            blueprint: self.source()?,
            values: crate::values::ValuesInput {
                file: Some(values.to_path_buf()),
                base: None,
                text: None,
                overrides: self.set.clone(),
            },
        })
    }
}

/// `NO_COLOR` set to anything but the empty string turns colour off (https://no-color.org).
fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

fn use_color(choice: ColorChoice, is_terminal: bool, no_color: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => is_terminal && !no_color,
    }
}

fn init_tracing(quiet: bool, verbose: u8, color: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRUSTPRINT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("trustprint={level}")));
    // try_init: a second run in the same process (tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .without_time()
        .with_target(false)
        .try_init();
}

/// Parse the command line, run the command, print its result or error; returns the process exit code.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    ExitCode::Success
                }
                _ => ExitCode::InvalidInput,
            };
            let _ = e.print();
            return code as i32;
        }
    };
    let g = &cli.global;
    let global = Global {
        blueprint: g.blueprint.clone(),
        set: g.set.clone(),
        json: g.output == OutputFormat::Json,
        color_out: use_color(g.color, std::io::stdout().is_terminal(), no_color_env()),
        color_err: use_color(g.color, std::io::stderr().is_terminal(), no_color_env()),
    };
    init_tracing(g.quiet, g.verbose, global.color_err);

    // A panic is a bug: report it once as one (exit 5, with where it happened) rather than with Rust's
    // default message and code.
    static PANIC_AT: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut at) = PANIC_AT.lock() {
            *at = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()));
        }
    }));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        dispatch(&cli.command, &global)
    }))
    .unwrap_or_else(|panic| {
        let mut message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        if let Some(at) = PANIC_AT.lock().ok().and_then(|mut a| a.take()) {
            message = format!("{message} at {at}");
        }
        Err(Error::Internal { message })
    });
    let _ = std::panic::take_hook();
    match result {
        Ok(code) => code as i32,
        Err(e) => {
            output::print_error(&e, &global);
            e.exit_code() as i32
        }
    }
}

fn dispatch(command: &Command, global: &Global) -> Result<ExitCode, Error> {
    let done = match command {
        Command::Plan(args) => return deploy::plan(args, global),
        Command::Apply(args) => deploy::apply(args, global),
        Command::Destroy(args) => deploy::destroy(args, global),
        Command::Render(args) => render::render(args, global),
        Command::Check(args) => render::check(args, global),
        Command::Stamp(args) => deploy::stamp(args, global),
        Command::Cost(args) => cost::cost(args, global),
        Command::Evidence(args) => evidence::run(args, global),
        Command::Prices(cmd) => cost::prices(cmd, global),
        Command::Fleet(cmd) => return fleet::run(cmd, global),
        Command::Values(cmd) => values::run(cmd, global),
        Command::Blueprint(cmd) => blueprint::run(cmd, global),
        Command::Cloud(args) => cloud::run(args),
        Command::Dataset(cmd) => dataset::run(cmd, global),
        Command::Completions(args) => completions::run(args),
    };
    done.map(|()| ExitCode::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn colour_follows_the_flag_the_terminal_and_no_color() {
        assert!(use_color(ColorChoice::Auto, true, false));
        assert!(
            !use_color(ColorChoice::Auto, true, true),
            "NO_COLOR wins in auto"
        );
        assert!(
            !use_color(ColorChoice::Auto, false, false),
            "not a terminal"
        );
        assert!(
            use_color(ColorChoice::Always, false, true),
            "--color always wins"
        );
        assert!(!use_color(ColorChoice::Never, true, false));
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_an_example() {
        let cmd = Cli::command();
        let mut missing = Vec::new();
        fn walk(c: &clap::Command, path: String, missing: &mut Vec<String>) {
            let subs: Vec<_> = c.get_subcommands().collect();
            if subs.is_empty() {
                let help = c
                    .get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                if !help.contains("trustprint ") {
                    missing.push(path.clone());
                }
            }
            for s in subs {
                walk(s, format!("{path} {}", s.get_name()), missing);
            }
        }
        walk(&cmd, "trustprint".into(), &mut missing);
        assert!(missing.is_empty(), "no example in --help of: {missing:?}");
    }
}
