//! Durable storage: the Raft log, the hard state and the snapshot, on disk.
//!
//! The core decides *what* must be durable; this module makes it so, with the discipline of
//! fjall's journal:
//!
//! - **Log** (`log`): append-only records `[len u32][crc32 u32][index u64][payload]`, little
//!   endian; `crc32` covers `index` and `payload`. Appends are buffered and made durable by
//!   [`Storage::sync`] (`sync_data`), called once per batch: group commit, many entries per
//!   fsync. A conflicting suffix is cut with `set_len` at the first removed record.
//! - **Hard state** (`hard_state`) and **snapshot** (`snapshot`): written whole to a temporary
//!   file, `fsync`, `rename` over the old one, `fsync` of the directory, so a crash leaves either
//!   the old or the new file, never a mix.
//! - **Compaction**: after a snapshot at index `i`, the log's records after `i` are copied to a
//!   new file that replaces the log (same temp + fsync + rename + dir fsync), so the log never
//!   grows without bound.
//!
//! **Recovery.** A crash can leave a torn tail: a short record, or a record whose checksum does
//! not match because its bytes never reached the disk. The log is truncated after the last valid
//! record and a warning is logged. A bad record *followed by valid ones* is not a torn tail but
//! corruption in the middle: that is an error naming the file and the offset, never used.
//!
//! **Planted bug `no-fsync`** (`no_fsync = true`): every `fsync`/`sync_data` is skipped, and
//! log records stay in the process's own write buffer until [`NO_FSYNC_BUFFER_BYTES`] have
//! piled up (the classic "buffered writer, never flushed nor synced before acking" mistake), so
//! the node acknowledges votes and appends that a crash takes back. Skipping `fsync` alone would
//! only show after a power loss (the page cache survives a SIGKILL); the user-space buffer makes
//! the same mistake visible to a SIGKILL, which is the crash faultline's `kill` nemesis can
//! inflict. Used to measure whether faultline catches lost acknowledged writes.
//!
//! Payloads are opaque bytes here (the runtime serialises the core's types with serde_json):
//! storage knows framing and durability, not Raft.
//!
//! **Snapshot format.** A snapshot's `data` is the core's state machine in JSON, dedup table
//! included. The table now stores each remembered outcome by name (`"Ok"`, `"KeyMissing"`,
//! `"PreconditionFailed"`) where it used to store a Maelstrom error code (0, 20, 22): wire
//! codes no longer live in the core. A snapshot written before that change does not decode;
//! that is accepted because a node's data directory lives for one run (faultline and the tests
//! create a fresh one per run), so no old snapshot is ever read.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// With the planted bug `no-fsync`, records are written to the file only once this many bytes
/// are buffered.
pub const NO_FSYNC_BUFFER_BYTES: usize = 64 << 10;

/// Bytes of a record header: len, crc, index.
const HEADER_BYTES: u64 = 16;
/// Largest payload accepted when reading (a longer length field is corruption).
const PAYLOAD_BYTES_MAX: u32 = 64 << 20;

/// A storage error; every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An I/O operation failed.
    #[error("{path}: {op}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The cause.
        source: io::Error,
    },
    /// A damaged record with valid records after it: not a torn tail.
    #[error("{path}: corrupt record at byte offset {offset} followed by valid records ({reason}); refusing to use this log")]
    CorruptMiddle {
        /// The file.
        path: PathBuf,
        /// Byte offset of the bad record.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
}

fn io_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(io::Error) -> StorageError + 'a {
    move |source| StorageError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

/// What was found on disk at open.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The hard state's bytes, if one was saved.
    pub hard_state: Option<Vec<u8>>,
    /// The snapshot's bytes, if one was saved.
    pub snapshot: Option<Vec<u8>>,
    /// Log records `(index, payload)` in file order.
    pub entries: Vec<(u64, Vec<u8>)>,
    /// Bytes cut from a torn tail (0 if the log was clean).
    pub truncated_bytes: u64,
}

/// The durable state of one node, in one directory.
pub struct Storage {
    dir: PathBuf,
    log_path: PathBuf,
    log: File,
    /// `(index, byte offset)` of every record in the log file, in order.
    offsets: Vec<(u64, u64)>,
    len: u64,
    pending: Vec<u8>,
    no_fsync: bool,
}

impl Storage {
    /// Opens (or creates) the storage in `dir` and recovers what it holds.
    pub fn open(dir: &Path, no_fsync: bool) -> Result<(Storage, Recovered), StorageError> {
        fs::create_dir_all(dir).map_err(io_err(dir, "create directory"))?;
        let log_path = dir.join("log");
        let hard_state = read_optional(&dir.join("hard_state"))?;
        let snapshot = read_optional(&dir.join("snapshot"))?;
        let mut log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&log_path)
            .map_err(io_err(&log_path, "open"))?;
        let scan = scan_log(&log_path, &mut log)?;
        if scan.torn_bytes > 0 {
            tracing::warn!(
                path = %log_path.display(),
                offset = scan.valid_len,
                bytes = scan.torn_bytes,
                "torn tail in the log after a crash: truncated after the last valid record"
            );
            log.set_len(scan.valid_len)
                .map_err(io_err(&log_path, "truncate torn tail"))?;
            // planted bug: no-fsync
            if !no_fsync {
                log.sync_all().map_err(io_err(&log_path, "fsync"))?;
            }
        }
        let offsets = scan.entries.iter().map(|(i, off, _)| (*i, *off)).collect();
        let entries = scan.entries.into_iter().map(|(i, _, p)| (i, p)).collect();
        let storage = Storage {
            dir: dir.to_path_buf(),
            log_path,
            log,
            offsets,
            len: scan.valid_len,
            pending: Vec::new(),
            no_fsync,
        };
        let recovered = Recovered {
            hard_state,
            snapshot,
            entries,
            truncated_bytes: scan.torn_bytes,
        };
        Ok((storage, recovered))
    }

    /// Removes every record with index `>= from` (a conflicting suffix).
    pub fn truncate_from(&mut self, from: u64) -> Result<(), StorageError> {
        self.flush_pending()?;
        let cut = self.offsets.partition_point(|&(i, _)| i < from);
        if cut == self.offsets.len() {
            return Ok(());
        }
        let offset = self.offsets[cut].1;
        self.offsets.truncate(cut);
        self.log
            .set_len(offset)
            .map_err(io_err(&self.log_path, "truncate"))?;
        self.len = offset;
        Ok(())
    }

    /// Appends a record (buffered until [`Storage::sync`]).
    pub fn append(&mut self, index: u64, payload: &[u8]) {
        if let Some(&(last, _)) = self.offsets.last() {
            assert!(
                index > last,
                "log indexes must increase: {index} after {last}"
            );
        }
        let offset = self.len + self.pending.len() as u64;
        self.offsets.push((index, offset));
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&index.to_le_bytes());
        hasher.update(payload);
        self.pending
            .extend_from_slice(&(payload.len() as u32).to_le_bytes());
        self.pending
            .extend_from_slice(&hasher.finalize().to_le_bytes());
        self.pending.extend_from_slice(&index.to_le_bytes());
        self.pending.extend_from_slice(payload);
    }

    fn flush_pending(&mut self) -> Result<(), StorageError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.log
            .seek(SeekFrom::Start(self.len))
            .map_err(io_err(&self.log_path, "seek"))?;
        self.log
            .write_all(&self.pending)
            .map_err(io_err(&self.log_path, "write"))?;
        self.len += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    /// Writes buffered records and makes them durable (one `sync_data` for the whole batch).
    pub fn sync(&mut self) -> Result<(), StorageError> {
        // planted bug: no-fsync
        if self.no_fsync && self.pending.len() < NO_FSYNC_BUFFER_BYTES {
            return Ok(()); // acknowledged while still in our own buffer
        }
        self.flush_pending()?;
        // planted bug: no-fsync
        if !self.no_fsync {
            self.log
                .sync_data()
                .map_err(io_err(&self.log_path, "fsync"))?;
        }
        Ok(())
    }

    /// Saves the hard state durably (temp + fsync + rename + dir fsync).
    pub fn save_hard_state(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        write_atomic(&self.dir, "hard_state", bytes, self.no_fsync)
    }

    /// Saves a snapshot durably, then drops the log's records up to `last_index`.
    pub fn save_snapshot(&mut self, last_index: u64, bytes: &[u8]) -> Result<(), StorageError> {
        write_atomic(&self.dir, "snapshot", bytes, self.no_fsync)?;
        self.compact(last_index)
    }

    /// Rewrites the log without the records `<= upto`.
    fn compact(&mut self, upto: u64) -> Result<(), StorageError> {
        self.flush_pending()?;
        let keep = self.offsets.partition_point(|&(i, _)| i <= upto);
        if keep == 0 {
            return Ok(());
        }
        let start = self.offsets.get(keep).map_or(self.len, |&(_, off)| off);
        let mut tail = Vec::with_capacity((self.len - start) as usize);
        self.log
            .seek(SeekFrom::Start(start))
            .map_err(io_err(&self.log_path, "seek"))?;
        (&mut self.log)
            .take(self.len - start)
            .read_to_end(&mut tail)
            .map_err(io_err(&self.log_path, "read"))?;
        write_atomic(&self.dir, "log", &tail, self.no_fsync)?;
        self.log = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.log_path)
            .map_err(io_err(&self.log_path, "reopen"))?;
        self.offsets = self.offsets[keep..]
            .iter()
            .map(|&(i, off)| (i, off - start))
            .collect();
        self.len -= start;
        Ok(())
    }

    /// Bytes in the log file (for tests and figures).
    pub fn log_bytes(&self) -> u64 {
        self.len + self.pending.len() as u64
    }
}

/// Reads a whole small file, or `None` if it does not exist.
fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StorageError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path, "read")(e)),
    }
}

/// Writes `dir/name` atomically: temp file, fsync, rename, fsync of the directory.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8], no_fsync: bool) -> Result<(), StorageError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let dst = dir.join(name);
    {
        let mut f = File::create(&tmp).map_err(io_err(&tmp, "create"))?;
        f.write_all(bytes).map_err(io_err(&tmp, "write"))?;
        // planted bug: no-fsync
        if !no_fsync {
            f.sync_all().map_err(io_err(&tmp, "fsync"))?;
        }
    }
    fs::rename(&tmp, &dst).map_err(io_err(&dst, "rename"))?;
    // planted bug: no-fsync
    if !no_fsync {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir, "fsync directory"))?;
    }
    Ok(())
}

struct Scan {
    entries: Vec<(u64, u64, Vec<u8>)>,
    valid_len: u64,
    torn_bytes: u64,
}

/// Reads every record; classifies a bad record as a torn tail or as corruption in the middle.
fn scan_log(path: &Path, file: &mut File) -> Result<Scan, StorageError> {
    let file_len = file.metadata().map_err(io_err(path, "stat"))?.len();
    file.seek(SeekFrom::Start(0))
        .map_err(io_err(path, "seek"))?;
    let mut bytes = Vec::with_capacity(file_len as usize);
    BufReader::new(&mut *file)
        .read_to_end(&mut bytes)
        .map_err(io_err(path, "read"))?;
    let mut entries = Vec::new();
    let mut offset = 0u64;
    while offset < bytes.len() as u64 {
        match parse_record(&bytes, offset) {
            Ok((index, payload, next)) => {
                entries.push((index, offset, payload.to_vec()));
                offset = next;
            }
            Err(reason) => {
                if valid_record_after(&bytes, offset) {
                    return Err(StorageError::CorruptMiddle {
                        path: path.to_path_buf(),
                        offset,
                        reason,
                    });
                }
                return Ok(Scan {
                    entries,
                    valid_len: offset,
                    torn_bytes: bytes.len() as u64 - offset,
                });
            }
        }
    }
    Ok(Scan {
        entries,
        valid_len: offset,
        torn_bytes: 0,
    })
}

/// Parses the record at `offset`: `(index, payload, offset of the next record)`.
fn parse_record(bytes: &[u8], offset: u64) -> Result<(u64, &[u8], u64), String> {
    let at = offset as usize;
    let header = bytes
        .get(at..at + HEADER_BYTES as usize)
        .ok_or("short header")?;
    let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    let index = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    if len > PAYLOAD_BYTES_MAX {
        return Err(format!("length {len} exceeds {PAYLOAD_BYTES_MAX}"));
    }
    let start = at + HEADER_BYTES as usize;
    let payload = bytes
        .get(start..start + len as usize)
        .ok_or("short payload")?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[8..16]);
    hasher.update(payload);
    if hasher.finalize() != crc {
        return Err("checksum mismatch".into());
    }
    Ok((index, payload, (start + len as usize) as u64))
}

/// True if some valid record starts after `bad` (then `bad` is corruption, not a torn tail).
fn valid_record_after(bytes: &[u8], bad: u64) -> bool {
    (bad as usize + 1..bytes.len()).any(|at| parse_record(bytes, at as u64).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> (Storage, Recovered) {
        Storage::open(dir, false).unwrap()
    }

    fn fill(s: &mut Storage, range: std::ops::RangeInclusive<u64>) {
        for i in range {
            s.append(i, format!("entry-{i}").as_bytes());
        }
        s.sync().unwrap();
    }

    #[test]
    fn appends_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, rec) = open(dir.path());
        assert!(rec.entries.is_empty() && rec.hard_state.is_none());
        fill(&mut s, 1..=5);
        s.save_hard_state(b"term 3").unwrap();
        drop(s);
        let (_, rec) = open(dir.path());
        assert_eq!(rec.entries.len(), 5);
        assert_eq!(rec.entries[4], (5, b"entry-5".to_vec()));
        assert_eq!(rec.hard_state.as_deref(), Some(&b"term 3"[..]));
    }

    #[test]
    fn with_the_planted_no_fsync_bug_a_crash_loses_acknowledged_appends() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Storage::open(dir.path(), true).unwrap();
        fill(&mut s, 1..=5);
        drop(s); // a SIGKILL: nothing runs after the last acknowledged sync
        let (_, rec) = Storage::open(dir.path(), true).unwrap();
        assert!(
            rec.entries.is_empty(),
            "{} entries survived",
            rec.entries.len()
        );
        // Past the buffer's size, records reach the file (and survive a process crash).
        let (mut s, _) = Storage::open(dir.path(), true).unwrap();
        let big = vec![b'x'; NO_FSYNC_BUFFER_BYTES];
        s.append(1, &big);
        s.sync().unwrap();
        drop(s);
        let (_, rec) = Storage::open(dir.path(), true).unwrap();
        assert_eq!(rec.entries.len(), 1);
    }

    #[test]
    fn truncation_removes_the_suffix() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = open(dir.path());
        fill(&mut s, 1..=5);
        s.truncate_from(3).unwrap();
        s.append(3, b"new-3");
        s.sync().unwrap();
        drop(s);
        let (_, rec) = open(dir.path());
        let idx: Vec<u64> = rec.entries.iter().map(|e| e.0).collect();
        assert_eq!(idx, vec![1, 2, 3]);
        assert_eq!(rec.entries[2].1, b"new-3");
    }

    #[test]
    fn torn_tail_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = open(dir.path());
        fill(&mut s, 1..=4);
        let len = s.log_bytes();
        drop(s);
        // Cut the last record in half, as a crash during write would.
        let f = OpenOptions::new()
            .write(true)
            .open(dir.path().join("log"))
            .unwrap();
        f.set_len(len - 5).unwrap();
        let (mut s, rec) = open(dir.path());
        assert_eq!(rec.entries.len(), 3);
        assert!(rec.truncated_bytes > 0);
        // Appending after recovery works and survives.
        fill(&mut s, 4..=4);
        drop(s);
        assert_eq!(open(dir.path()).1.entries.len(), 4);
    }

    #[test]
    fn garbled_last_record_is_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = open(dir.path());
        fill(&mut s, 1..=3);
        let len = s.log_bytes();
        drop(s);
        let mut bytes = fs::read(dir.path().join("log")).unwrap();
        bytes[len as usize - 2] ^= 0xff;
        fs::write(dir.path().join("log"), &bytes).unwrap();
        let (_, rec) = open(dir.path());
        assert_eq!(rec.entries.len(), 2);
    }

    #[test]
    fn corruption_in_the_middle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = open(dir.path());
        fill(&mut s, 1..=6);
        drop(s);
        let mut bytes = fs::read(dir.path().join("log")).unwrap();
        bytes[HEADER_BYTES as usize + 2] ^= 0xff; // payload of record 1
        fs::write(dir.path().join("log"), &bytes).unwrap();
        let err = Storage::open(dir.path(), false).err().expect("must refuse");
        let msg = err.to_string();
        assert!(msg.contains("offset 0"), "{msg}");
        assert!(msg.contains("log"), "{msg}");
    }

    #[test]
    fn snapshot_compacts_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = open(dir.path());
        fill(&mut s, 1..=100);
        let before = s.log_bytes();
        s.save_snapshot(90, b"image@90").unwrap();
        assert!(s.log_bytes() < before / 5);
        fill(&mut s, 101..=102);
        s.truncate_from(102).unwrap();
        s.sync().unwrap();
        drop(s);
        let (_, rec) = open(dir.path());
        let idx: Vec<u64> = rec.entries.iter().map(|e| e.0).collect();
        assert_eq!(idx, (91..=101).collect::<Vec<_>>());
        assert_eq!(rec.snapshot.as_deref(), Some(&b"image@90"[..]));
    }
}
