//! A node whose disk is full, for the full-disk fault. Each node's data directory can be a
//! tmpfs of its own (`DataDisks::OwnTmpfs`, mounted by `scripts/ha.sh`), so filling one node's
//! disk touches nothing else on the machine. Filling is shrinking that tmpfs to what it holds
//! (no ballast file, no memory spent); freeing is growing it back, as an operator who cleared
//! space would.

use std::{io, path::PathBuf, process::Command};

use nix::sys::statvfs::statvfs;

use super::HaCluster;

/// Where the nodes keep their data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataDisks {
    /// In the stack's temporary directory, on the machine's disk.
    Shared,
    /// Each on a tmpfs of its own of this many MiB (memory is used only as data is written).
    OwnTmpfs { mib: u32 },
}

impl DataDisks {
    /// `HA_DATA_TMPFS_MB` for `scripts/ha-db` (empty: no tmpfs).
    pub(super) fn tmpfs_mib_variable(self) -> String {
        match self {
            Self::Shared => String::new(),
            Self::OwnTmpfs { mib } => mib.to_string(),
        }
    }
}

impl HaCluster {
    /// Leaves `node`'s data directory no free byte: Postgres can rewrite the pages and WAL
    /// segments it has, but a table that must grow, or WAL that needs a new segment, fails
    /// with `No space left on device`.
    pub fn fill_disk(&self, node: &str) -> io::Result<()> {
        let dir = self.own_disk(node)?;
        // The size must not fall below what is used, which grows while Postgres writes: a
        // refused shrink is tried again with the new figure.
        let mut last = None;
        for _ in 0..20 {
            let stat = statvfs(&dir).map_err(io::Error::from)?;
            let used = (stat.blocks() - stat.blocks_free()) * stat.fragment_size();
            match remount(&dir, &used.to_string()) {
                Ok(()) => return Ok(()),
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no attempt")))
    }

    /// Gives `node`'s data directory its whole size back.
    pub fn free_disk(&self, node: &str) -> io::Result<()> {
        let DataDisks::OwnTmpfs { mib } = self.disks else {
            return Err(io::Error::other("the nodes share the machine's disk"));
        };
        remount(&self.own_disk(node)?, &format!("{mib}m"))
    }

    /// Unmounts the nodes' own disks that are still mounted (the script normally does).
    pub(super) fn unmount_data_disks(&self) {
        if self.disks == DataDisks::Shared {
            return;
        }
        for node in super::NODES {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir().join(node).join("data"))
                .status();
        }
    }

    fn own_disk(&self, node: &str) -> io::Result<PathBuf> {
        if self.disks == DataDisks::Shared {
            return Err(io::Error::other("the nodes share the machine's disk"));
        }
        Ok(self.dir().join(node).join("data"))
    }
}

fn remount(dir: &std::path::Path, size: &str) -> io::Result<()> {
    // A shrink below what is used by then is refused and tried again: its complaint is not
    // printed, the error returned says it.
    let status = Command::new("mount")
        .arg("-o")
        .arg(format!("remount,size={size}"))
        .arg(dir)
        .stderr(std::process::Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "mount -o remount,size={size}: {status}"
        )))
    }
}
