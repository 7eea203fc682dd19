//! A small filesystem of its own for a test that needs a disk that really fills up:
//! a tmpfs of a few megabytes mounted on a directory, unmounted when dropped.
//! Mounting needs root (CI runs as root on this machine); without it the test fails
//! and says so, it does not skip.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct SmallDisk {
    pub path: PathBuf,
}

impl SmallDisk {
    pub fn mount(path: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(path).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "plaza-test-disk"])
            .arg(path)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test needs a small filesystem of its own and could not mount a tmpfs on {} \
             (run the tests as root, as CI does): {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { path: path.to_owned() }
    }

    fn filler(&self) -> PathBuf {
        self.path.join("filler")
    }

    /// Writes a file until the filesystem refuses more. Returns the bytes written.
    pub fn fill(&self) -> u64 {
        let mut f = std::fs::File::create(self.filler()).expect("filler");
        let mut written = 0u64;
        for chunk in [64 * 1024, 4096, 512, 1] {
            let buf = vec![0u8; chunk];
            while f.write_all(&buf).and_then(|_| f.flush()).is_ok() {
                written += chunk as u64;
            }
        }
        let _ = f.sync_all();
        written
    }

    /// Frees what [`SmallDisk::fill`] took.
    pub fn free(&self) {
        std::fs::remove_file(self.filler()).expect("remove the filler");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
