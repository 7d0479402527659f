//! The `letterbox` binary: parses the command line (argh) and runs a subcommand from
//! `letterbox::cli`.

fn main() {
    let args: letterbox::cli::Args = argh::from_env();
    std::process::exit(letterbox::cli::run(args));
}
