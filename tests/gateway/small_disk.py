"""A real, small file system for disk-full tests: a tmpfs mounted for the test.

CI runs the suite as root, so `mount -t tmpfs` works there; where it cannot be mounted the test
fails with the reason instead of skipping, so a disk-full test never passes by not running.
A ballast file takes the room that is left, and deleting it gives the room back: the disk
fills and empties under a running writer, as it does when logs or a backup fill a site box.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class SmallDisk:
    path: Path

    @property
    def ballast(self) -> Path:
        return self.path / "ballast"

    def free_bytes(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self) -> int:
        """Take every free byte with the ballast; the bytes it took."""
        taken = 0
        chunk = b"\1" * 65536
        fd = os.open(self.ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            while True:
                try:
                    taken += os.write(fd, chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
        finally:
            os.close(fd)
        assert self.free_bytes() == 0, "the ballast left room on the disk"
        return taken

    def make_room(self) -> None:
        """Delete the ballast."""
        self.ballast.unlink(missing_ok=True)


@contextmanager
def small_disk(where: Path, size: str = "4m") -> Iterator[SmallDisk]:
    """A tmpfs of `size` mounted at `where` for the duration of the block."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.fail(
            f"cannot mount a {size} tmpfs at {where} for the disk-full test (run as root): "
            f"{mounted.stderr.strip()}"
        )
    try:
        yield SmallDisk(where)
    finally:
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], check=True)
