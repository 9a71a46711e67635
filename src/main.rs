//! The `pier` command: parse the command line, dispatch, turn errors into one line and an
//! exit code (125 for pier's own errors, as Docker).

mod cli;

fn main() {
    // Like other command-line tools, end quietly when the reader of our output goes away
    // (`pier inspect x | head`) instead of panicking on EPIPE.
    // SAFETY: setting a signal disposition to the default before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let code = cli::main();
    std::process::exit(code);
}
