//! The `ws3-lint` binary: parses the command line and maps the outcome to an exit code.

use std::{
    io::{self, IsTerminal},
    process::ExitCode,
};

use clap::Parser;
use ws3_lint::{Console, cli::Cli};

// The allocator: mimalloc, as ruff uses. A lint run builds and frees millions of small nodes and
// strings on every core; with glibc's malloc, allocating and freeing took about a fifth of its
// CPU, and mimalloc made the lint bench's CLI run 10-15% faster (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's options, set before its first arena is reserved.
///
/// On Linux its defaults commit arenas eagerly (the OS overcommits) and give freed memory back
/// 10 ms late: for a run that lasts a fraction of a second, that raised the peak RSS of the
/// bench's 10,000 documents from 50 to 65-85 MiB (the target is 10 times the 5.1 MiB input);
/// and its transparent huge pages made large runs slower than linear.
/// Arenas are reserved at the first allocation, before `main`, so the options are set from the
/// ELF init array, which runs before the standard library allocates anything.
#[cfg(target_os = "linux")]
mod allocator_options {
    use std::ffi::c_long;

    use libmimalloc_sys::{mi_option_set, mi_option_t};

    /// `mi_option_arena_eager_commit`: the 5th entry of mimalloc v3's `mi_option_t`
    /// (libmimalloc-sys 0.1.49, pinned in Cargo.toml for these numbers).
    pub(super) const ARENA_EAGER_COMMIT: mi_option_t = 4;
    /// `mi_option_purge_delay`, the 16th.
    pub(super) const PURGE_DELAY: mi_option_t = 15;
    /// `mi_option_allow_thp`, the 44th.
    pub(super) const ALLOW_THP: mi_option_t = 43;

    pub(super) const SETTINGS: [(mi_option_t, c_long); 3] = [
        // Commit arena memory when it is used.
        (ARENA_EAGER_COMMIT, 0),
        // Give freed memory back after 2 ms.
        (PURGE_DELAY, 2),
        // No transparent huge pages: giving back parts of them every 2 ms made the kernel's
        // share of a million-document run grow from 6 to 17 s (30 s instead of 21 s in all).
        (ALLOW_THP, 0),
    ];

    #[allow(unsafe_code)]
    #[used]
    // SAFETY: a function pointer in `.init_array` is called once by the loader, with no
    // arguments, before `main`; this one only sets allocator options.
    #[unsafe(link_section = ".init_array")]
    static SET: extern "C" fn() = set;

    #[allow(unsafe_code)]
    extern "C" fn set() {
        for (option, value) in SETTINGS {
            // SAFETY: `mi_option_set` takes no pointers and may be called at any time.
            unsafe { mi_option_set(option, value) };
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut console = Console {
        stdin: io::stdin().lock(),
        stdout: io::BufWriter::new(io::stdout().lock()),
        stderr: io::stderr().lock(),
        stdout_is_terminal: io::stdout().is_terminal(),
        stderr_is_terminal: io::stderr().is_terminal(),
    };
    match ws3_lint::run(&cli, &mut console) {
        Ok(status) => ExitCode::from(status.code()),
        Err(ws3_lint::Error::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
            ExitCode::from(2)
        }
        Err(e) => {
            // Every error's message already carries its cause.
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::allocator_options::SETTINGS;

    #[test]
    #[allow(unsafe_code)]
    fn the_allocator_options_are_set_before_main() {
        for (option, value) in SETTINGS {
            // SAFETY: `mi_option_get` takes no pointers.
            let got = unsafe { libmimalloc_sys::mi_option_get(option) };
            assert_eq!(got, value, "mimalloc option {option}");
        }
    }
}
