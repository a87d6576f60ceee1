//! `taskdeck-password`: makes an argon2id PHC hash of a password, for `PasswordBackend::user`
//! or a user list (`PasswordBackend::from_list`, `from_file`, `from_env`).
//!
//! ```text
//! cargo install taskdeck --bin taskdeck-password   # once, from crates.io
//! taskdeck-password                                # prints the hash
//! taskdeck-password ada admin                      # prints a list entry: ada:<hash>:admin
//! cargo run --bin taskdeck-password -- ada admin   # the same, in taskdeck's repository
//! ```
//!
//! In code, `PasswordBackend::hash(password)` returns the same hash.
//!
//! The password is read from standard input (one line; typed without echo on a terminal), so it
//! stays out of the shell's history and the process list.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead as _, IsTerminal as _};
use std::process::{Command, ExitCode};

use taskdeck::{PasswordBackend, Role};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let entry = match args.as_slice() {
        [] => None,
        [name, role] => match role.parse::<Role>() {
            Ok(r) if !name.is_empty() && !name.contains(':') => Some((name.clone(), r)),
            Ok(_) => return fail("the user name must not be empty or contain ':'"),
            Err(e) => return fail(&e),
        },
        _ => return fail("usage: taskdeck-password [<user> <viewer|operator|admin>]"),
    };
    let terminal = std::io::stdin().is_terminal();
    if terminal {
        eprint!("Password: ");
        // Best effort: without stty the password is echoed, but still read.
        let _ = Command::new("stty").arg("-echo").status();
    }
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if terminal {
        let _ = Command::new("stty").arg("echo").status();
        eprintln!();
    }
    if let Err(e) = read {
        return fail(&format!("reading the password: {e}"));
    }
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return fail("the password is empty");
    }
    match PasswordBackend::hash(password) {
        Ok(hash) => {
            match entry {
                Some((name, role)) => println!("{name}:{hash}:{}", role.as_str()),
                None => println!("{hash}"),
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn fail(why: &str) -> ExitCode {
    eprintln!("taskdeck-password: {why}");
    ExitCode::FAILURE
}
