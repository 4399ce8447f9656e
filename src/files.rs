//! Files breakglass keeps for itself — state, the audit log, their locks, TOTP secrets — are
//! private to the user that runs it whatever the umask (folders 0700, files 0600), are never
//! opened through a symbolic link, and are replaced atomically through a temporary file with a
//! unique name in the same folder.
//!
//! Why: the executor's folder may be writable by others (a shared checkout, a CI workspace). A
//! link planted at a name the tool writes (`state.json`, `audit.jsonl`, a fixed temporary name)
//! would otherwise redirect the write to a file of the planter's choosing, or let them read what
//! was written. Every open here adds `O_NOFOLLOW`, every temporary file is created with
//! `O_EXCL` under a random name, and a link found where a file is expected is an error that
//! names it.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The mode of folders breakglass creates for itself.
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// The mode of files breakglass writes for itself.
pub const PRIVATE_FILE_MODE: u32 = 0o600;

fn with_path(path: &Path, error: io::Error) -> io::Error {
    if error.raw_os_error() == Some(libc::ELOOP) {
        return io::Error::other(format!(
            "{} is a symbolic link; breakglass does not follow links for the files it keeps \
             (someone may have planted it to redirect a write): remove it, or set the path \
             to the real file",
            path.display()
        ));
    }
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

/// Creates `path` and any missing parents with mode 0700 (whatever the umask). An existing
/// folder is left as it is.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    if path.as_os_str().is_empty() || path.is_dir() {
        return Ok(());
    }
    let mut missing: Vec<PathBuf> = Vec::new();
    let mut current = Some(path);
    while let Some(folder) = current.filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        missing.push(folder.to_path_buf());
        current = folder.parent();
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, PRIVATE_DIR_MODE);
    builder.create(path).map_err(|error| with_path(path, error))?;
    for folder in missing {
        set_mode(&folder, PRIVATE_DIR_MODE)?;
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, Permissions::from_mode(mode))
        .map_err(|error| with_path(path, error))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// Opens `path` with `options`, never through a symbolic link; a file it creates gets mode
/// 0600, and an existing one that others could read or write is made 0600.
pub fn open_private(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(PRIVATE_FILE_MODE).custom_flags(libc::O_NOFOLLOW);
        let file = options.open(path).map_err(|error| with_path(path, error))?;
        let mode = file.metadata().map_err(|error| with_path(path, error))?.permissions().mode();
        if mode & 0o077 != 0 {
            file.set_permissions(Permissions::from_mode(PRIVATE_FILE_MODE))
                .map_err(|error| with_path(path, error))?;
        }
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path).map_err(|error| with_path(path, error))
}

/// Reads `path` whole, never through a symbolic link. A missing file is `Ok(None)`.
pub fn read_private(path: &Path) -> io::Result<Option<String>> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    match options.open(path) {
        Ok(mut file) => {
            let mut text = String::new();
            io::Read::read_to_string(&mut file, &mut text)
                .map_err(|error| with_path(path, error))?;
            Ok(Some(text))
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(with_path(path, error)),
    }
}

/// Replaces `path` with `bytes` atomically: a new file under a unique random name in the same
/// folder (created exclusively, mode 0600), written and synced, renamed over `path` (a rename
/// replaces a link rather than following it), then the folder synced so the rename survives a
/// power cut. A link at `path` itself is refused rather than silently replaced.
pub fn replace_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    create_private_dir(folder)?;
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(with_path(path, io::Error::from_raw_os_error(libc::ELOOP)));
    }
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(path.file_name().unwrap_or_default());
    prefix.push(".");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(Permissions::from_mode(PRIVATE_FILE_MODE));
    }
    let mut temporary = builder.tempfile_in(folder).map_err(|error| with_path(folder, error))?;
    temporary.write_all(bytes).map_err(|error| with_path(temporary.path(), error))?;
    temporary.as_file().sync_all().map_err(|error| with_path(temporary.path(), error))?;
    temporary.persist(path).map_err(|error| with_path(path, error.error))?;
    File::open(folder).and_then(|dir| dir.sync_all()).map_err(|error| with_path(folder, error))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn folders_and_files_are_private_and_links_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("a/b");
        create_private_dir(&folder).unwrap();
        assert_eq!((mode(&dir.path().join("a")), mode(&folder)), (0o700, 0o700));
        let file = folder.join("state.json");
        replace_private(&file, b"one").unwrap();
        assert_eq!(mode(&file), 0o600);
        replace_private(&file, b"two").unwrap();
        assert_eq!(read_private(&file).unwrap().as_deref(), Some("two"));
        let names: Vec<_> =
            std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "no temporary file is left: {names:?}");

        let target = dir.path().join("elsewhere");
        fs_err::write(&target, "precious").unwrap();
        let link = folder.join("audit.jsonl");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let error = open_private(&link, OpenOptions::new().append(true).create(true)).unwrap_err();
        assert!(error.to_string().contains("audit.jsonl is a symbolic link"), "{error}");
        let error = read_private(&link).unwrap_err();
        assert!(error.to_string().contains("is a symbolic link"), "{error}");
        let error = replace_private(&link, b"x").unwrap_err();
        assert!(error.to_string().contains("is a symbolic link"), "{error}");
        assert_eq!(fs_err::read_to_string(&target).unwrap(), "precious");

        let loose = folder.join("loose");
        fs_err::write(&loose, "x").unwrap();
        std::fs::set_permissions(&loose, Permissions::from_mode(0o644)).unwrap();
        drop(open_private(&loose, OpenOptions::new().append(true)).unwrap());
        assert_eq!(mode(&loose), 0o600, "an existing file others could read is made private");
    }
}
