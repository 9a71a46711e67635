//! The `pier` command: parse the command line, dispatch, turn errors into one line and an
//! exit code (125 for pier's own errors, as Docker).

mod cli;

fn main() {
    let code = cli::main();
    std::process::exit(code);
}
