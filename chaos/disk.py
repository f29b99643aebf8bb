"""A full disk under HALL_HOME: a size-limited tmpfs filled to its last byte, or a ballast file.

As root the hall's home is a tmpfs of its own (``mount -t tmpfs -o size=…``), and a fault fills it
with a ballast file until the kernel says ``ENOSPC``, then frees it. Elsewhere the ballast goes on
the disk HALL_HOME lives on, but only when the free space there is at most ``ballast_max_mb``:
filling a large shared disk would hurt everyone on the machine, so the fault is then skipped and
the report says why (:attr:`Disk.method`, :attr:`Disk.reason`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from pathlib import Path

CHUNKS = (1 << 20, 1 << 16, 1 << 12, 1 << 9)


class Disk:
    def __init__(self, root: Path, *, size_mb: int = 512, ballast_max_mb: int = 1024) -> None:
        self.root = root
        self.size_mb = size_mb
        self.ballast_max_mb = ballast_max_mb
        self.ballast = root / ".chaos-ballast"
        self.method = "none"
        self.reason = ""
        self.mounted = False
        self.filled = 0

    def prepare(self) -> None:
        """Mount the tmpfs (as root), else decide whether a ballast file may fill the disk."""
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0 and shutil.which("mount"):
            done = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m,mode=0755", "tmpfs", str(self.root)],
                capture_output=True,
                text=True,
            )
            if done.returncode == 0:
                self.mounted = True
                self.method = f"tmpfs of {self.size_mb} MiB"
                return
            self.reason = f"mount -t tmpfs failed ({done.stderr.strip() or done.returncode}); "
        free_mb = shutil.disk_usage(self.root).free >> 20
        if free_mb <= self.ballast_max_mb:
            self.method = "ballast file"
        else:
            self.reason += (
                f"not root: {free_mb} MiB free under {self.root} is more than the ballast cap of "
                f"{self.ballast_max_mb} MiB (--ballast-max-mb), so the disk is never filled"
            )

    @property
    def usable(self) -> bool:
        return self.method != "none"

    def fill(self) -> int:
        """Write the ballast until the disk refuses another byte; the bytes written."""
        if not self.usable:
            return 0
        written = 0
        fd = os.open(self.ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in CHUNKS:
                block = b"\0" * size
                while True:
                    try:
                        n = os.write(fd, block)
                    except OSError as exc:
                        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                            break
                        raise
                    written += n
                    if n < size:
                        break
            with contextlib.suppress(OSError):
                os.fsync(fd)
        finally:
            os.close(fd)
        self.filled += written
        return written

    def free(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.ballast.unlink()

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.root).free

    def unmount(self, keep: Path | None = None) -> None:
        """Free the ballast; unmount the tmpfs, first copying the databases to ``keep`` for a post-mortem."""
        self.free()
        if not self.mounted:
            return
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            for path in self.root.glob("*.db*"):
                with contextlib.suppress(OSError):
                    shutil.copy2(path, keep / path.name)
        done = subprocess.run(["umount", str(self.root)], capture_output=True, text=True)
        if done.returncode != 0:  # a process still has a file open: detach it now, freed when it exits
            subprocess.run(["umount", "-l", str(self.root)], capture_output=True)
        self.mounted = False
