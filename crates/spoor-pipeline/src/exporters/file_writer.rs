//! The files of a `file` exporter: buffered writes flushed every `flush_interval`, rotation as
//! the Collector's lumberjack does it (`name-2006-01-02T15-04-05.000.ext` backups, pruned by
//! count and age), and one file per resource attribute value with `group_by`.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How the files are opened and rotated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WriterSettings {
    /// Truncate a file at its first open (neither `append` nor rotation set).
    pub truncate: bool,
    pub rotation: Option<Rotation>,
    /// At most this many files open at once (`group_by.max_open_files`).
    pub max_open_files: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rotation {
    pub max_bytes: u64,
    pub max_age: Option<Duration>,
    pub max_backups: usize,
    pub localtime: bool,
}

/// The timestamp lumberjack puts in a backup's name.
const BACKUP_TIME_FORMAT: &str = "%Y-%m-%dT%H-%M-%S%.3f";

struct OpenFile {
    out: BufWriter<File>,
    size: u64,
}

/// Every file an exporter writes; callers hold it behind a lock.
pub(crate) struct Files {
    settings: WriterSettings,
    open: HashMap<PathBuf, OpenFile>,
    /// Open order, oldest first, to close the oldest beyond `max_open_files`.
    order: VecDeque<PathBuf>,
    /// Paths opened once already: they are not truncated again when reopened.
    seen: std::collections::HashSet<PathBuf>,
}

impl Files {
    pub(crate) fn new(settings: WriterSettings) -> Self {
        Self {
            settings,
            open: HashMap::new(),
            order: VecDeque::new(),
            seen: Default::default(),
        }
    }

    /// Opens `path` now, so that a path that cannot be opened fails at start.
    pub(crate) fn open_now(&mut self, path: &Path) -> std::io::Result<()> {
        self.file(path).map(|_| ())
    }

    /// Writes one framed message to `path`, rotating first when it would pass `max_megabytes`.
    pub(crate) fn write(&mut self, path: &Path, message: &[u8]) -> std::io::Result<()> {
        let len = message.len() as u64;
        let rotation = self.settings.rotation.clone();
        let needs_rotation = {
            let file = self.file(path)?;
            rotation
                .as_ref()
                .is_some_and(|r| file.size > 0 && file.size + len > r.max_bytes)
        };
        if let Some(r) = rotation.filter(|_| needs_rotation) {
            self.rotate(path, &r)?;
        }
        let file = self.file(path)?;
        file.out.write_all(message)?;
        file.size += len;
        Ok(())
    }

    /// Flushes every open file's buffer to the operating system.
    pub(crate) fn flush(&mut self) -> std::io::Result<()> {
        for f in self.open.values_mut() {
            f.out.flush()?;
        }
        Ok(())
    }

    fn file(&mut self, path: &Path) -> std::io::Result<&mut OpenFile> {
        if !self.open.contains_key(path) {
            while self.open.len() >= self.settings.max_open_files.max(1) {
                let Some(oldest) = self.order.pop_front() else {
                    break;
                };
                if let Some(mut f) = self.open.remove(&oldest) {
                    f.out.flush()?;
                }
            }
            let first = self.seen.insert(path.to_path_buf());
            let opened = open(path, first && self.settings.truncate)?;
            self.open.insert(path.to_path_buf(), opened);
            self.order.push_back(path.to_path_buf());
        }
        self.open
            .get_mut(path)
            .ok_or_else(|| std::io::Error::other("file vanished from the open set"))
    }

    /// Moves `path` aside under its backup name, opens it anew and prunes old backups.
    fn rotate(&mut self, path: &Path, rotation: &Rotation) -> std::io::Result<()> {
        if let Some(mut f) = self.open.remove(path) {
            f.out.flush()?;
        }
        self.order.retain(|p| p != path);
        let now = if rotation.localtime {
            chrono::Local::now().format(BACKUP_TIME_FORMAT).to_string()
        } else {
            chrono::Utc::now().format(BACKUP_TIME_FORMAT).to_string()
        };
        let (dir, stem, ext) = split(path);
        let mut backup = dir.join(format!("{stem}-{now}{ext}"));
        let mut n = 1;
        while backup.exists() {
            backup = dir.join(format!("{stem}-{now}.{n}{ext}"));
            n += 1;
        }
        std::fs::rename(path, &backup)?;
        prune(path, rotation)?;
        Ok(())
    }
}

fn open(path: &Path, truncate: bool) -> std::io::Result<OpenFile> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(!truncate)
        .truncate(truncate)
        .open(path)?;
    let size = file.metadata()?.len();
    Ok(OpenFile {
        out: BufWriter::with_capacity(64 * 1024, file),
        size,
    })
}

/// Directory, file stem and extension (with its dot) of `path`.
fn split(path: &Path) -> (PathBuf, String, String) {
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    (dir, stem, ext)
}

/// The backups of `path`, newest first (by the time in their names, then by name).
pub(crate) fn backups(path: &Path) -> std::io::Result<Vec<(PathBuf, chrono::NaiveDateTime)>> {
    let (dir, stem, ext) = split(path);
    let prefix = format!("{stem}-");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(middle) = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(&ext))
        else {
            continue;
        };
        // `2006-01-02T15-04-05.000` is 23 characters; a `.N` suffix may follow.
        let Some(time) = middle.get(..23) else {
            continue;
        };
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(time, BACKUP_TIME_FORMAT) {
            out.push((entry.path(), t));
        }
    }
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
    Ok(out)
}

/// Removes backups beyond `max_backups` (0: keep all) and older than `max_days` (0: any age).
fn prune(path: &Path, rotation: &Rotation) -> std::io::Result<()> {
    let now = if rotation.localtime {
        chrono::Local::now().naive_local()
    } else {
        chrono::Utc::now().naive_utc()
    };
    for (i, (file, time)) in backups(path)?.into_iter().enumerate() {
        let too_many = rotation.max_backups > 0 && i >= rotation.max_backups;
        let too_old = rotation
            .max_age
            .is_some_and(|age| (now - time).to_std().is_ok_and(|elapsed| elapsed > age));
        if too_many || too_old {
            std::fs::remove_file(&file)?;
        }
    }
    Ok(())
}
