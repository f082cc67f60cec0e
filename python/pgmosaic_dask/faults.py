"""Fault injection for the tests and the benchmark: a worker killed in the middle of a task."""

import os
import signal
import threading


class KillOnce:
    """A task hook (the `hook` of build_overviews, zonal_stats, register_files) that kills the
    worker process running the first task it sees (SIGKILL, `delay` seconds after the task
    started, so in the middle of its work), once per `marker` file: the marker is created
    first, so that the task Dask runs again elsewhere is left alone."""

    def __init__(self, marker, delay=0.2):
        self.marker = marker
        self.delay = delay

    def __call__(self, kind, what):
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return
        os.write(fd, f"{os.getpid()} {kind} {what!r}\n".encode())
        os.close(fd)
        timer = threading.Timer(self.delay, os.kill, (os.getpid(), signal.SIGKILL))
        timer.daemon = True
        timer.start()
