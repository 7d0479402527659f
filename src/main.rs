//! The `letterbox` binary: parses the command line (argh) and runs a subcommand from
//! `letterbox::cli`. `letterbox sendmail …` (or the binary called as `sendmail`) takes
//! sendmail(8)'s flags, which argh cannot parse (`-oi`, `-fFROM`).

fn main() {
    #[cfg(feature = "outbound")]
    {
        let argv: Vec<String> = std::env::args().collect();
        let called_sendmail = argv.first().is_some_and(|a| a.rsplit('/').next() == Some("sendmail"));
        if called_sendmail {
            std::process::exit(letterbox::cli::sendmail_main(argv.get(1..).unwrap_or(&[])));
        }
        if argv.get(1).map(String::as_str) == Some("sendmail") {
            std::process::exit(letterbox::cli::sendmail_main(argv.get(2..).unwrap_or(&[])));
        }
    }
    let args: letterbox::cli::Args = argh::from_env();
    std::process::exit(letterbox::cli::run(args));
}
