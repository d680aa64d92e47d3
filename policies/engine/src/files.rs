//! Reading a file named by a user or found in a folder without trusting it: only regular files
//! are read, never past a size cap.
//!
//! A FIFO, a socket or a device given where a file is expected must not block the reader or
//! feed it forever (`/dev/zero`): the file type is checked before the file is opened, the file
//! is opened without blocking (`O_NONBLOCK`, in case the path changed in between) and checked
//! again, and reading stops at the cap.

use std::{
    fs::{self, File, FileType},
    io::{self, Read},
    path::Path,
};

/// The most bytes read from one manifest or configuration file: 16 MiB. Kubernetes itself
/// refuses objects over about 1.5 MiB (etcd's request limit), so a larger file is not a set
/// of manifests anyone applies as it is.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// What a file type is, for messages: "a directory", "a FIFO", "a socket", ...
pub fn file_type_name(file_type: &FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

fn not_regular(file_type: &FileType) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{} is not read: only regular files are",
            file_type_name(file_type)
        ),
    )
}

fn too_large(limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!("larger than {} MiB, the limit on one file", limit >> 20),
    )
}

/// Opens `path` for reading without blocking on a FIFO or a device.
fn open(path: &Path) -> io::Result<File> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    options.open(path)
}

/// Reads at most `limit` bytes of `path` (symbolic links followed) when it is a regular file.
///
/// # Errors
/// The path cannot be read, is not a regular file (the message names its type: "a FIFO is not
/// read: only regular files are"), or is larger than `limit` ("larger than 16 MiB, …").
pub fn read_regular_file(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let meta = fs::metadata(path)?;
    if !meta.is_file() {
        return Err(not_regular(&meta.file_type()));
    }
    if meta.len() > limit {
        return Err(too_large(limit));
    }
    let file = open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular(&meta.file_type()));
    }
    // Sized like `fs::read` does, so the file is read in one go.
    let size = usize::try_from(meta.len()).unwrap_or(0);
    read_into(file, limit, Vec::with_capacity(size.saturating_add(1)))
}

/// Reads at most `limit` bytes from `reader`; more is an error.
///
/// # Errors
/// Reading fails, or there are more than `limit` bytes.
pub fn read_capped(reader: impl Read, limit: u64) -> io::Result<Vec<u8>> {
    read_into(reader, limit, Vec::new())
}

fn read_into(reader: impl Read, limit: u64, mut bytes: Vec<u8>) -> io::Result<Vec<u8>> {
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_regular_files_up_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.yaml");
        fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read_regular_file(&path, 10).unwrap(), b"0123456789");
        let e = read_regular_file(&path, 9).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        assert!(e.to_string().contains("the limit on one file"), "{e}");
        // A stream that grows past the cap is cut there.
        let e = read_capped(io::repeat(b'x'), 1 << 20).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        let e = read_regular_file(dir.path(), 10).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a directory is not read: only regular files are"
        );
    }

    #[cfg(unix)]
    #[test]
    fn fifos_and_devices_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe.yaml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let e = read_regular_file(&fifo, MAX_FILE_BYTES).unwrap_err();
        assert_eq!(e.to_string(), "a FIFO is not read: only regular files are");
        let e = read_regular_file(Path::new("/dev/zero"), MAX_FILE_BYTES).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a character device is not read: only regular files are"
        );
    }
}
