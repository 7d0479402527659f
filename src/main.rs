//! The `letterbox` command line (argh): serve, init, passwd, deliver, import, export, check,
//! compact, list.

fn main() {
    eprintln!("letterbox: not yet");
    std::process::exit(64);
}
