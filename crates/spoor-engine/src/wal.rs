//! The write-ahead log: append-only segment files of checksummed records, written by one thread
//! that batches concurrent writers into one write (+ fsync) — group commit.
//!
//! Segment `wal/<seq:020>.wal`: 8-byte magic `SPWAL\0\0\x01`, then records
//! `len: u32 LE | crc32c(payload): u32 LE | payload`, payload an OTLP
//! `ExportTraceServiceRequest` in protobuf, or, with encryption at rest, that request sealed
//! (`crate::crypto`: first byte `0xE1`, the key id, a nonce, AES-256-GCM). See
//! `docs/format-v1.md` and `docs/format-v3.md`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use prost::Message;
use spoor_model::ResourceSpans;
use spoor_model::otlp_collector::ExportTraceServiceRequest;
use spoor_storage::StorageError;
use tokio::sync::oneshot;

use crate::config::{Clock, FsyncPolicy};
use crate::error::io;
use crate::head::Head;

pub(crate) const MAGIC: &[u8; 8] = b"SPWAL\0\0\x01";
/// Records larger than this are treated as a corrupt length field.
pub(crate) const MAX_RECORD: usize = 256 << 20;

pub(crate) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.wal"))
}

/// Sequence numbers of the segment files in `dir`, ascending.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<u64>, StorageError> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(seq) = name
            .strip_suffix(".wal")
            .and_then(|s| s.parse::<u64>().ok())
        {
            out.push(seq);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Frames one payload.
pub(crate) fn frame(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// What replaying one segment found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ReplayStats {
    pub(crate) records: u64,
    /// Damaged stretches skipped between valid records (each counted once).
    pub(crate) corrupt_records: u64,
    /// Bytes cut from a torn tail.
    pub(crate) torn_bytes: u64,
    /// The segment's magic was wrong; its records were found by scanning.
    pub(crate) bad_header: bool,
    /// The segment could not be read or held nothing readable; moved to `wal/damaged/`.
    pub(crate) moved_aside: bool,
}

/// True when `payload` starts like an encoded `ExportTraceServiceRequest` with at least one
/// `resource_spans` entry: tag `0x0a`, then a varint length that fits; or like a sealed one.
fn plausible_request(payload: &[u8]) -> bool {
    if let Some((_, at)) = crate::crypto::envelope_key_id(payload) {
        return payload.len() > at + 12 + 16;
    }
    if payload.first() != Some(&0x0a) {
        return false;
    }
    let mut value = 0u64;
    for (i, b) in payload.iter().skip(1).take(10).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return value <= (payload.len() - 2 - i) as u64;
        }
    }
    false
}

/// What is at a position of a segment.
enum Record<'a> {
    /// An intact record: its framed length and its (opened) payload.
    Intact(usize, std::borrow::Cow<'a, [u8]>),
    Damaged,
    /// A record whose checksum matches but which is sealed with a key this process lacks, or
    /// does not open with the key of its id (wrong key material): not damage.
    Key(String),
}

/// The record at `pos`: intact when the CRC matches, a sealed payload opens with `keys`, and
/// the payload walks as a request (see [`crate::wire::walk_request`]); spans are decoded
/// only when read.
fn record_at<'a>(
    data: &'a [u8],
    pos: usize,
    resync: bool,
    keys: &crate::crypto::Keyring,
) -> Record<'a> {
    let Some(framed) = framed_at(data, pos, resync) else {
        return Record::Damaged;
    };
    let len = 8 + framed.len();
    let payload = match keys.open_if_sealed(framed) {
        Ok(p) => p,
        Err(e) => {
            let id = crate::crypto::envelope_key_id(framed).map_or("?", |(id, _)| id);
            return Record::Key(match e {
                crate::crypto::CryptoError::Damaged => {
                    format!("does not decrypt with the configured key id {id:?} (wrong key)")
                }
                other => other.to_string(),
            });
        }
    };
    match crate::wire::walk_request(&payload, |_, _, _| {}) {
        Ok(_) => Record::Intact(len, payload),
        Err(_) => Record::Damaged,
    }
}

/// The payload of the frame at `pos` whose checksum matches.
fn framed_at(data: &[u8], pos: usize, resync: bool) -> Option<&[u8]> {
    let header = data.get(pos..pos.checked_add(8)?)?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    // While resynchronising, an empty frame proves nothing (zeroed bytes look like one).
    if len > MAX_RECORD || (resync && len == 0) {
        return None;
    }
    let payload = data.get(pos + 8..(pos + 8).checked_add(len)?)?;
    // While resynchronising, rule out most positions before the checksum (which would cost
    // O(len) at each byte): a non-empty request starts with field 1 (`resource_spans`,
    // length-delimited) whose length fits in the payload.
    if resync && !plausible_request(payload) {
        return None;
    }
    if crc32c::crc32c(payload) != crc {
        return None;
    }
    Some(payload)
}

/// Reads one segment, calling `apply` with the payload of every intact record. The scan
/// rules: a record is intact when its length fits in the file, its CRC-32C matches and its
/// payload walks as an `ExportTraceServiceRequest` (framing of the request, its groups and
/// each span's top-level fields).
/// After a damaged stretch (bad length, checksum or payload, or a wrong magic) the scan moves
/// forward byte by byte to the next intact record and goes on from there, counting the
/// stretch as one corrupt record; a damaged stretch that reaches the end of the file is a
/// torn tail, cut from the file when `repair` is set and the magic is right. A segment
/// that cannot be read, or has a wrong magic and no intact record, is moved to
/// `wal/damaged/` when `repair` is set; a segment is never rewritten or deleted here.
#[cfg(test)]
pub(crate) fn replay_segment(
    path: &Path,
    repair: bool,
    apply: impl FnMut(&[u8]),
) -> Result<ReplayStats, StorageError> {
    replay_segment_keyed(path, repair, &crate::crypto::Keyring::none(), apply)
}

/// [`replay_segment`] opening sealed records with `keys`. A sealed record whose key is not
/// configured (or is wrong) stops the replay with an error naming the key id, before any
/// repair: it is not damage.
pub(crate) fn replay_segment_keyed(
    path: &Path,
    repair: bool,
    keys: &crate::crypto::Keyring,
    mut apply: impl FnMut(&[u8]),
) -> Result<ReplayStats, StorageError> {
    let mut stats = ReplayStats::default();
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if repair => {
            tracing::error!(path = %path.display(), error = %e, "wal segment unreadable; moving it aside");
            move_aside(path)?;
            stats.moved_aside = true;
            return Ok(stats);
        }
        Err(e) => return Err(io(path, e)),
    };
    if data.len() < MAGIC.len() {
        // Torn before its header was complete: no record was ever written to it.
        stats.torn_bytes = data.len() as u64;
        return Ok(stats);
    }
    stats.bad_header = &data[..MAGIC.len()] != MAGIC;
    let mut pos = MAGIC.len();
    let mut good_end = pos;
    let mut damaged = stats.bad_header;
    let key_error = |at: usize, why: String| {
        StorageError::Unavailable(format!(
            "wal segment {} record at byte {at} {why}; configure its key with \
             --encryption-key-file or --encryption-old-key-file",
            path.display()
        ))
    };
    while pos < data.len() {
        match record_at(&data, pos, false, keys) {
            Record::Intact(len, payload) => {
                stats.records += 1;
                apply(&payload);
                pos += len;
                good_end = pos;
                continue;
            }
            Record::Key(why) => return Err(key_error(pos, why)),
            Record::Damaged => {}
        }
        // Damaged: find the next intact record.
        let mut next = None;
        for p in pos + 1..data.len().saturating_sub(7) {
            match record_at(&data, p, true, keys) {
                Record::Intact(..) => {
                    next = Some(p);
                    break;
                }
                Record::Key(why) => return Err(key_error(p, why)),
                Record::Damaged => {}
            }
        }
        match next {
            Some(p) => {
                stats.corrupt_records += 1;
                damaged = true;
                pos = p;
            }
            None => break,
        }
    }
    if good_end < data.len() {
        stats.torn_bytes = (data.len() - good_end) as u64;
        if repair && !stats.bad_header {
            let f = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| io(path, e))?;
            f.set_len(good_end as u64).map_err(|e| io(path, e))?;
            f.sync_all().map_err(|e| io(path, e))?;
        }
    }
    if stats.bad_header && stats.records == 0 && repair {
        tracing::error!(path = %path.display(), "wal segment has a bad header and no readable record; moving it aside");
        move_aside(path)?;
        stats.moved_aside = true;
    } else if damaged {
        tracing::error!(
            path = %path.display(),
            bad_header = stats.bad_header,
            records = stats.records,
            damaged = stats.corrupt_records,
            "wal segment damaged; replayed every intact record"
        );
    }
    Ok(stats)
}

/// Moves a segment to `wal/damaged/`, keeping its bytes for an operator.
fn move_aside(path: &Path) -> Result<(), StorageError> {
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    let damaged = dir.join("damaged");
    std::fs::create_dir_all(&damaged).map_err(|e| io(&damaged, e))?;
    let name = path.file_name().unwrap_or_default();
    let to = damaged.join(name);
    std::fs::rename(path, &to).map_err(|e| io(path, e))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// One queued append: the framed record (whose payload the head copies its spans from) and
/// who to tell.
type Append = (Vec<u8>, oneshot::Sender<Result<(), StorageError>>);

pub(crate) enum Command {
    Append {
        framed: Vec<u8>,
        done: oneshot::Sender<Result<(), StorageError>>,
    },
    /// Seal the current segment and start a new one; the head is swapped atomically with it.
    Rotate {
        done: oneshot::Sender<Result<u64, StorageError>>,
    },
    Sync {
        done: oneshot::Sender<Result<(), StorageError>>,
    },
}

/// State shared between the WAL thread and the engine.
pub(crate) struct Shared {
    pub(crate) head: RwLock<Head>,
    pub(crate) poisoned: AtomicBool,
    pub(crate) wal_bytes: AtomicU64,
    pub(crate) clock: Arc<dyn Clock>,
    /// Kept up to date with each applied record. Lock order: `head`, then `catalog`.
    pub(crate) catalog: Arc<RwLock<crate::catalog::Catalog>>,
    /// Heads cut from the WAL and waiting to become blocks; still served to readers. The
    /// WAL thread pushes the live head here and swaps in an empty one while holding this
    /// lock, so a reader (head, then frozen) never sees neither. Lock order: `frozen`, then
    /// `head`; never take `frozen` while holding `head`.
    pub(crate) frozen: RwLock<Vec<crate::engine::Frozen>>,
}

pub(crate) struct WalWriter {
    dir: PathBuf,
    seq: u64,
    file: File,
    len: u64,
    policy: FsyncPolicy,
    last_sync: Instant,
    dirty: bool,
    shared: Arc<Shared>,
    /// With a current key, every record's payload is sealed before it is written.
    keys: Arc<crate::crypto::Keyring>,
}

impl WalWriter {
    /// Seals the records this writer writes with the keyring's current key, if any.
    pub(crate) fn with_keys(self, keys: Arc<crate::crypto::Keyring>) -> Self {
        Self { keys, ..self }
    }

    /// Creates segment `seq` in `dir` and returns the writer.
    pub(crate) fn create(
        dir: &Path,
        seq: u64,
        policy: FsyncPolicy,
        shared: Arc<Shared>,
    ) -> Result<Self, StorageError> {
        let file = Self::new_segment(dir, seq)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            seq,
            file,
            len: MAGIC.len() as u64,
            policy,
            last_sync: Instant::now(),
            dirty: false,
            shared,
            keys: Arc::default(),
        })
    }

    fn new_segment(dir: &Path, seq: u64) -> Result<File, StorageError> {
        let path = segment_path(dir, seq);
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        file.write_all(MAGIC).map_err(|e| io(&path, e))?;
        file.sync_all().map_err(|e| io(&path, e))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io(dir, e))?;
        Ok(file)
    }

    /// Runs the group-commit loop until every sender is dropped.
    pub(crate) fn run(mut self, rx: Receiver<Command>) {
        let tick = match self.policy {
            FsyncPolicy::Interval(d) => d.max(Duration::from_millis(1)),
            _ => Duration::from_secs(3600),
        };
        loop {
            let first = match rx.recv_timeout(tick) {
                Ok(cmd) => cmd,
                Err(RecvTimeoutError::Timeout) => {
                    self.sync_if_due(true);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut cmds = vec![first];
            let mut bytes = 0usize;
            while bytes < 16 << 20 {
                match rx.try_recv() {
                    Ok(cmd) => {
                        if let Command::Append { framed, .. } = &cmd {
                            bytes += framed.len();
                        }
                        cmds.push(cmd);
                    }
                    Err(_) => break,
                }
            }
            self.handle(cmds);
        }
        let _ = self.sync();
    }

    fn handle(&mut self, cmds: Vec<Command>) {
        let mut appends = Vec::new();
        let mut others = Vec::new();
        for cmd in cmds {
            match cmd {
                Command::Append { framed, done } => appends.push((framed, done)),
                other => others.push(other),
            }
        }
        if !appends.is_empty() {
            let result = self.append(&appends);
            match result {
                Ok(()) => {
                    let now = self.shared.clock.now_unix_nanos();
                    let mut waiters = Vec::with_capacity(appends.len());
                    {
                        let mut head = self.shared.head.write();
                        let mut catalog = self.shared.catalog.write();
                        for (framed, done) in appends {
                            // The head copies the encoded spans out of the record.
                            let payload = framed.get(8..).unwrap_or_default();
                            let bytes = framed.len() as u64;
                            let applied = head.insert_payload(payload, bytes, now, |s, n, k, t| {
                                catalog.see(s, n, k, t)
                            });
                            if let Err(e) = applied {
                                // Cannot happen for a payload prost just encoded.
                                tracing::error!(error = %e, "wal record not applied to the head");
                            }
                            waiters.push(done);
                        }
                    }
                    // Visible to readers before any writer hears back.
                    for done in waiters {
                        let _ = done.send(Ok(()));
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    for (_, done) in appends {
                        let _ = done.send(Err(StorageError::Unavailable(msg.clone())));
                    }
                }
            }
        }
        for cmd in others {
            match cmd {
                Command::Rotate { done } => {
                    let _ = done.send(self.rotate());
                }
                Command::Sync { done } => {
                    let _ = done.send(self.sync());
                }
                Command::Append { .. } => {}
            }
        }
    }

    fn refuse_if_poisoned(&self) -> Result<(), StorageError> {
        if self.shared.poisoned.load(Ordering::SeqCst) {
            return Err(StorageError::Unavailable(
                "wal fsync failed earlier; refusing writes until restart".to_string(),
            ));
        }
        Ok(())
    }

    fn append(&mut self, appends: &[Append]) -> Result<(), StorageError> {
        self.refuse_if_poisoned()?;
        let total: usize = appends.iter().map(|a| a.0.len()).sum();
        let mut buf = Vec::with_capacity(total);
        let path = segment_path(&self.dir, self.seq);
        for (framed, _) in appends {
            if self.keys.enabled() {
                let sealed = self
                    .keys
                    .seal_if_enabled(framed.get(8..).unwrap_or_default().to_vec())
                    .map_err(|e| StorageError::Internal(format!("sealing a wal record: {e}")))?;
                frame(&sealed, &mut buf);
            } else {
                buf.extend_from_slice(framed);
            }
        }
        if let Err(e) = self.file.write_all(&buf) {
            // Cut whatever part was written so the segment ends on a record boundary; if even
            // that fails the file state is unknown and the writer refuses from now on.
            if self.file.set_len(self.len).is_err() {
                self.shared.poisoned.store(true, Ordering::SeqCst);
            }
            return Err(io(&path, e));
        }
        self.len += buf.len() as u64;
        self.shared
            .wal_bytes
            .fetch_add(buf.len() as u64, Ordering::Relaxed);
        self.dirty = true;
        match self.policy {
            FsyncPolicy::Always => self.sync(),
            FsyncPolicy::Interval(_) => {
                self.sync_if_due(false);
                self.refuse_if_poisoned()
            }
            FsyncPolicy::Never => Ok(()),
        }
    }

    fn sync_if_due(&mut self, idle: bool) {
        if let FsyncPolicy::Interval(d) = self.policy
            && self.dirty
            && (idle || self.last_sync.elapsed() >= d)
        {
            let _ = self.sync();
        }
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        self.refuse_if_poisoned()?;
        if !self.dirty || self.policy == FsyncPolicy::Never {
            return Ok(());
        }
        if let Err(e) = self.file.sync_data() {
            self.shared.poisoned.store(true, Ordering::SeqCst);
            tracing::error!(error = %e, "wal fsync failed; refusing further writes");
            return Err(io(&segment_path(&self.dir, self.seq), e));
        }
        self.dirty = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Seals the segment and moves the live head to `frozen` in one step; returns the sealed
    /// segment's number.
    fn rotate(&mut self) -> Result<u64, StorageError> {
        self.sync()?;
        let sealed = self.seq;
        let file = Self::new_segment(&self.dir, sealed + 1)?;
        self.file = file;
        self.seq = sealed + 1;
        self.len = MAGIC.len() as u64;
        self.dirty = false;
        let mut frozen = self.shared.frozen.write();
        let head = std::mem::take(&mut *self.shared.head.write());
        frozen.push(crate::engine::Frozen {
            seq: sealed,
            head: Arc::new(head),
        });
        Ok(sealed)
    }
}

/// The engine's handle on the WAL thread.
pub(crate) struct WalHandle {
    tx: parking_lot::Mutex<Option<Sender<Command>>>,
    thread: parking_lot::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl WalHandle {
    pub(crate) fn start(writer: WalWriter) -> Result<Self, StorageError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("spoor-wal".to_string())
            .spawn(move || writer.run(rx))
            .map_err(|e| crate::error::internal(format!("spawning wal thread: {e}")))?;
        Ok(Self {
            tx: parking_lot::Mutex::new(Some(tx)),
            thread: parking_lot::Mutex::new(Some(thread)),
        })
    }

    /// A handle with no WAL behind it (a read-only engine): every command is refused.
    pub(crate) fn none() -> Self {
        Self {
            tx: parking_lot::Mutex::new(None),
            thread: parking_lot::Mutex::new(None),
        }
    }

    pub(crate) fn send(&self, cmd: Command) -> Result<(), StorageError> {
        let guard = self.tx.lock();
        let tx = guard
            .as_ref()
            .ok_or_else(|| StorageError::Unavailable("engine is shut down".to_string()))?;
        tx.send(cmd)
            .map_err(|_| StorageError::Unavailable("wal thread stopped".to_string()))
    }

    /// Appends a batch; resolves once it is in the WAL under the fsync policy and in the head.
    /// The batch is encoded and dropped here, on the caller's thread; the WAL thread only
    /// writes the record and copies its spans into the head.
    pub(crate) async fn append(&self, batch: Vec<ResourceSpans>) -> Result<(), StorageError> {
        let req = ExportTraceServiceRequest {
            resource_spans: batch,
        };
        let payload = req.encode_to_vec();
        drop(req);
        if payload.len() > MAX_RECORD {
            return Err(StorageError::InvalidQuery(format!(
                "batch of {} bytes exceeds the wal record limit of {MAX_RECORD}",
                payload.len()
            )));
        }
        let mut framed = Vec::with_capacity(payload.len() + 8);
        frame(&payload, &mut framed);
        let (done, rx) = oneshot::channel();
        self.send(Command::Append { framed, done })?;
        rx.await
            .map_err(|_| StorageError::Unavailable("wal thread stopped".to_string()))?
    }

    pub(crate) async fn rotate(&self) -> Result<u64, StorageError> {
        let (done, rx) = oneshot::channel();
        self.send(Command::Rotate { done })?;
        rx.await
            .map_err(|_| StorageError::Unavailable("wal thread stopped".to_string()))?
    }

    pub(crate) async fn sync(&self) -> Result<(), StorageError> {
        let (done, rx) = oneshot::channel();
        self.send(Command::Sync { done })?;
        rx.await
            .map_err(|_| StorageError::Unavailable("wal thread stopped".to_string()))?
    }

    /// Stops the thread after it has drained its queue and synced.
    pub(crate) fn stop(&self) {
        self.tx.lock().take();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SystemClock;

    fn shared() -> Arc<Shared> {
        Arc::new(Shared {
            head: RwLock::new(Head::default()),
            poisoned: AtomicBool::new(false),
            wal_bytes: AtomicU64::new(0),
            clock: Arc::new(SystemClock),
            catalog: Default::default(),
            frozen: RwLock::new(Vec::new()),
        })
    }

    fn batch() -> Vec<ResourceSpans> {
        vec![ResourceSpans {
            scope_spans: vec![spoor_model::ScopeSpans {
                spans: vec![spoor_model::Span {
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }]
    }

    #[tokio::test]
    async fn refuses_writes_after_a_failed_fsync() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = shared();
        let writer =
            WalWriter::create(dir.path(), 1, FsyncPolicy::Always, shared.clone()).expect("create");
        let wal = WalHandle::start(writer).expect("start");
        wal.append(batch()).await.expect("first write");
        // What a failed fdatasync leaves behind.
        shared.poisoned.store(true, Ordering::SeqCst);
        let err = wal.append(batch()).await.expect_err("refused");
        assert!(err.to_string().contains("fsync failed"), "{err}");
        assert_eq!(shared.head.read().len(), 1, "refused batch not applied");
        wal.stop();
    }

    #[tokio::test]
    async fn concurrent_writers_share_group_commits_and_replay_intact() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = shared();
        let writer =
            WalWriter::create(dir.path(), 1, FsyncPolicy::Always, shared.clone()).expect("create");
        let wal = Arc::new(WalHandle::start(writer).expect("start"));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let wal = wal.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..50 {
                    wal.append(batch()).await.expect("write");
                }
            }));
        }
        for t in tasks {
            t.await.expect("join");
        }
        assert_eq!(shared.head.read().len(), 400);
        wal.stop();
        let mut n = 0;
        let stats = replay_segment(&segment_path(dir.path(), 1), false, |b| {
            n += crate::wire::walk_request(b, |_, _, _| {}).expect("walks")
        })
        .expect("replay");
        assert_eq!(
            (stats.records, stats.corrupt_records, stats.torn_bytes),
            (400, 0, 0)
        );
        assert_eq!(n, 400);
    }

    #[tokio::test]
    async fn sealed_records_replay_with_their_key_and_without_it_nothing_is_repaired() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ring = Arc::new(crate::crypto::Keyring::new("k1", [1; 32]).expect("ring"));
        let writer = WalWriter::create(dir.path(), 1, FsyncPolicy::Always, shared())
            .expect("create")
            .with_keys(ring.clone());
        let wal = WalHandle::start(writer).expect("start");
        for _ in 0..3 {
            wal.append(batch()).await.expect("write");
        }
        wal.stop();
        let path = segment_path(dir.path(), 1);
        let mut bytes = std::fs::read(&path).expect("read");
        // A torn tail after the sealed records.
        bytes.extend_from_slice(&[0xE1, 2, 3]);
        std::fs::write(&path, &bytes).expect("write");
        let plain = ExportTraceServiceRequest {
            resource_spans: batch(),
        }
        .encode_to_vec();
        assert!(
            !bytes.windows(plain.len()).any(|w| w == plain.as_slice()),
            "records are sealed"
        );

        // Without the key: an error naming it, and the file as it was (no tail cut).
        let err = replay_segment(&path, true, |_| {}).expect_err("refused");
        assert!(err.to_string().contains("\"k1\""), "{err}");
        let other = crate::crypto::Keyring::new("k1", [9; 32]).expect("ring");
        let err = replay_segment_keyed(&path, true, &other, |_| {}).expect_err("wrong key");
        assert!(err.to_string().contains("wrong key"), "{err}");
        assert_eq!(std::fs::read(&path).expect("read"), bytes, "left as it was");

        // With it: every record, the torn tail cut.
        let mut n = 0;
        let stats = replay_segment_keyed(&path, true, &ring, |p| {
            assert_eq!(p, plain.as_slice());
            n += 1;
        })
        .expect("replay");
        assert_eq!((n, stats.records, stats.torn_bytes), (3, 3, 3), "{stats:?}");
    }

    #[test]
    fn the_scan_resyncs_past_garbage_quickly_and_keeps_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = segment_path(dir.path(), 1);
        let payload = ExportTraceServiceRequest {
            resource_spans: batch(),
        }
        .encode_to_vec();
        let mut data = b"garbage!".to_vec(); // a damaged magic
        frame(&payload, &mut data);
        // 4 MiB of pseudo-random bytes (an LCG), then two intact records.
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..(4 << 20) {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            data.push((x >> 56) as u8);
        }
        frame(&payload, &mut data);
        frame(&payload, &mut data);
        std::fs::write(&path, &data).expect("write");
        let started = Instant::now();
        let mut applied = 0;
        let stats = replay_segment(&path, true, |_| applied += 1).expect("replay");
        assert_eq!((stats.records, applied), (3, 3), "{stats:?}");
        assert_eq!(stats.corrupt_records, 1, "{stats:?}");
        assert!(stats.bad_header && !stats.moved_aside, "{stats:?}");
        assert_eq!(std::fs::read(&path).expect("read"), data, "left as it was");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
    }
}
