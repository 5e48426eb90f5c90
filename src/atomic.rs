//! Atomic file writes: a temporary file in the same folder, flushed, then renamed over the target, so a reader
//! (or a crash) sees the old bytes or the new ones, never half of either. Folders the same way: staged beside
//! the target and swapped in with renames ([`Swap`]).

use std::io::Write;
use std::path::Path;

/// What can stop an atomic write.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The folder cannot be replaced as asked.
    #[error("output folder {}: {message}", path.display())]
    OutDir {
        path: std::path::PathBuf,
        message: String,
    },
}

impl Error {
    /// Wrap an I/O error with the path it concerns.
    pub fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Write `bytes` to `path` atomically, creating the parent folder when missing.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Write `files` into `dir`, replacing what is there (see [`Swap`]). Whether `dir` may be replaced is the
/// caller's to decide first.
pub fn write_files(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<(), Error> {
    Swap::stage(dir, files)?.finish();
    Ok(())
}

/// A folder replaced by a staged one, with the previous content kept aside until [`Swap::finish`] (or put
/// back by [`Swap::restore`]), so a later step's failure can undo the write.
pub struct Swap {
    dir: std::path::PathBuf,
    /// The previous content, moved into a temporary folder (deleted on drop).
    old: Option<tempfile::TempDir>,
}

impl Swap {
    /// Write `files` into a temporary folder beside `dir`, then swap it in with renames.
    pub fn stage(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<Swap, Error> {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty() && *n != "." && *n != "..")
            .ok_or_else(|| Error::OutDir {
                path: dir.to_path_buf(),
                message: "give a folder name, not `.`, `..` or a root".into(),
            })?;
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
        let exists = match std::fs::symlink_metadata(dir) {
            Ok(m) if m.is_dir() => true,
            Ok(_) => {
                return Err(Error::OutDir {
                    path: dir.to_path_buf(),
                    message: "it exists and is not a folder".into(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(Error::io(dir, e)),
        };

        let staging = tempfile::Builder::new()
            .prefix(&format!(".{name}.staging-"))
            .tempdir_in(&parent)
            .map_err(|e| Error::io(&parent, e))?;
        for (file, bytes) in files {
            let path = staging.path().join(file);
            if let Some(p) = path.parent() {
                std::fs::create_dir_all(p).map_err(|e| Error::io(p, e))?;
            }
            std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
        }

        let old = if exists {
            // Renaming a folder onto an empty folder replaces it atomically on POSIX, so the old content moves
            // into a fresh temporary folder that is deleted when dropped.
            let old = tempfile::Builder::new()
                .prefix(&format!(".{name}.old-"))
                .tempdir_in(&parent)
                .map_err(|e| Error::io(&parent, e))?;
            std::fs::rename(dir, old.path()).map_err(|e| Error::io(dir, e))?;
            Some(old)
        } else {
            None
        };
        let staged = staging.keep();
        if let Err(e) = std::fs::rename(&staged, dir) {
            if let Some(old) = &old {
                let _ = std::fs::rename(old.path(), dir);
            }
            let _ = std::fs::remove_dir_all(&staged);
            return Err(Error::io(dir, e));
        }
        Ok(Swap {
            dir: dir.to_path_buf(),
            old,
        })
    }

    /// Undo what a swap of `dir` killed part way left: when `dir` is missing and its previous content waits
    /// beside it (`.NAME.old-*`), put that back; then remove the leftovers ([`Swap::clear_leftovers`]). Only
    /// for a caller that holds a lock no other writer of `dir` can hold at once.
    pub fn recover(dir: &Path) -> Result<(), Error> {
        let (Some(name), Some(parent)) = (dir.file_name().and_then(|n| n.to_str()), dir.parent())
        else {
            return Ok(());
        };
        if std::fs::symlink_metadata(dir).is_err() {
            let old = format!(".{name}.old-");
            if let Ok(entries) = std::fs::read_dir(parent) {
                if let Some(kept) = entries
                    .flatten()
                    .find(|e| e.file_name().to_string_lossy().starts_with(&old))
                {
                    std::fs::rename(kept.path(), dir).map_err(|e| Error::io(dir, e))?;
                }
            }
        }
        Self::clear_leftovers(dir)
    }

    /// Remove what a swap of `dir` killed part way left beside it (its `.NAME.staging-*` and `.NAME.old-*`
    /// folders). Only for a caller that holds a lock no other writer of `dir` can hold at once.
    pub fn clear_leftovers(dir: &Path) -> Result<(), Error> {
        let (Some(name), Some(parent)) = (dir.file_name().and_then(|n| n.to_str()), dir.parent())
        else {
            return Ok(());
        };
        let entries = match std::fs::read_dir(parent) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(parent, e)),
        };
        let (staging, old) = (format!(".{name}.staging-"), format!(".{name}.old-"));
        for e in entries.flatten() {
            let n = e.file_name();
            let n = n.to_string_lossy();
            if n.starts_with(&staging) || n.starts_with(&old) {
                std::fs::remove_dir_all(e.path()).map_err(|err| Error::io(e.path(), err))?;
            }
        }
        Ok(())
    }

    /// Keep the new content; the previous one is deleted.
    pub fn finish(self) {
        drop(self.old);
    }

    /// Put the previous content back (or remove the folder if there was none before).
    pub fn restore(self) -> Result<(), Error> {
        std::fs::remove_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        if let Some(old) = self.old {
            let kept = old.keep();
            std::fs::rename(&kept, &self.dir).map_err(|e| Error::io(&self.dir, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_whole_and_creates_folders() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/f.txt");
        super::write_atomic(&path, b"one").unwrap();
        super::write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }
}
