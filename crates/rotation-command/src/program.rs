//! Whether a configured program can be started: found the way `execvp` finds it and executable
//! by us. A filesystem check only; nothing runs.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use rustix::fs::{Access, access};

/// `execvp`'s search path when `PATH` is unset.
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// The file `program` names, or why it cannot be started. A name with a `/` is a path (relative
/// to `working_dir` when set: the program starts there); any other name is looked up in `PATH`,
/// whose relative entries are relative to `working_dir` too.
pub fn resolve(program: &str, working_dir: Option<&Path>) -> Result<PathBuf, String> {
    let base = |p: &Path| match working_dir {
        Some(dir) => dir.join(p),
        None => p.to_owned(),
    };
    if program.contains('/') {
        let path = base(Path::new(program));
        return match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(format!("program {program:?} does not exist"))
            }
            Err(e) => Err(format!(
                "program {program:?} cannot be checked: {}",
                e.kind()
            )),
            Ok(m) if !m.is_file() => Err(format!("program {program:?} is not a regular file")),
            Ok(_) if !executable(&path) => Err(format!("program {program:?} is not executable")),
            Ok(_) => Ok(path),
        };
    }
    let search = std::env::var_os("PATH").unwrap_or_else(|| OsString::from(DEFAULT_PATH));
    let mut not_executable = None;
    for dir in std::env::split_paths(&search) {
        // An empty entry is the current directory.
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let candidate = base(&dir).join(program);
        if !candidate.is_file() {
            continue;
        }
        if executable(&candidate) {
            return Ok(candidate);
        }
        // Like `execvp`, keep looking; report it if nothing better turns up.
        not_executable.get_or_insert(candidate);
    }
    Err(match not_executable {
        Some(found) => format!(
            "program {program:?} is not executable ({})",
            found.display()
        ),
        None => format!("program {program:?} not found in PATH"),
    })
}

/// Whether we may execute `path` (the kernel's answer, ACLs and all).
fn executable(path: &Path) -> bool {
    access(path, Access::EXEC_OK).is_ok()
}
