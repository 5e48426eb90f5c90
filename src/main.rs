//! The trustprint binary: parse, run, exit. Everything else is in the library (`trustprint::cli::run`).

fn main() {
    std::process::exit(trustprint::cli::run(std::env::args_os()));
}
