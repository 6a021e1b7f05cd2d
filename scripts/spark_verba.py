"""Runs the `verba` binary inside Spark tasks (shared by scripts/spark-*.py).

The binary (and a model folder) reach the executors one of two ways:
  * shipped by Spark: `ship(sc, path)` adds it with SparkContext.addFile (what spark-submit --files
    does); each task finds its copy with SparkFiles.get;
  * already there: every node has it at the same path (a shared file system or an image);
    `--no-ship` keeps the path as given.
Tasks pipe their partition through one `verba` process each (so one model load per partition), like
RDD.pipe, but resolve the shipped files on the executor, where they land in a per-executor folder.
"""

import collections
import os
import subprocess
import tempfile
import threading


class Shipped:
    """A file or folder every task can reach: shipped with addFile, or at a path shared by all nodes."""

    def __init__(self, path, shipped):
        self.path = os.path.abspath(path) if shipped else path
        self.name = os.path.basename(os.path.normpath(path))
        self.shipped = shipped

    def local(self):
        """The path in this task (call it on the executor)."""
        if not self.shipped:
            return self.path
        from pyspark import SparkFiles
        p = SparkFiles.get(self.name)
        if os.path.isfile(p) and not os.access(p, os.X_OK) and self.name == "verba":
            os.chmod(p, 0o755)
        return p


def ship(sc, path, shipped=True):
    """Makes `path` reachable from the tasks of `sc` (addFile, recursively for a folder)."""
    if shipped:
        sc.addFile(os.path.abspath(path), recursive=os.path.isdir(path))
    return Shipped(path, shipped)


def run_to_file(argv, lines):
    """Runs `argv` with `lines` (bytes, no newline) on its standard input, one a line; returns the
    bytes it writes to the file named by the "{out}" argument. Raises on a non-zero exit."""
    with tempfile.TemporaryDirectory(prefix="verba-") as folder:
        out = os.path.join(folder, "out")
        argv = [out if a == "{out}" else a for a in argv]
        with open(os.path.join(folder, "err"), "w+b") as err:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stderr=err)
            try:
                for line in lines:
                    proc.stdin.write(line)
                    proc.stdin.write(b"\n")
                proc.stdin.close()
            except BrokenPipeError:
                pass
            status = proc.wait()
            if status != 0:
                err.seek(0)
                raise RuntimeError(f"{' '.join(argv)} exited with {status}: {err.read().decode(errors='replace').strip()}")
        with open(out, "rb") as f:
            return f.read()


def pipe_lines(argv, lines):
    """Yields (input line, output line) for `lines` (str) piped through `argv`, which writes exactly one
    output line per input line, in order. Input is written from a thread while output is read, so a
    partition streams through without being held in memory."""
    pending = collections.deque()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    failure = []

    def feed():
        try:
            for line in lines:
                pending.append(line)
                proc.stdin.write(line.encode("utf-8") + b"\n")
            proc.stdin.close()
        except BrokenPipeError:
            pass
        except Exception as e:  # surfaced after the process ends
            failure.append(e)
            proc.stdin.close()

    errors = []
    drain = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)
    drain.start()
    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    for out in proc.stdout:
        yield pending.popleft(), out.decode("utf-8").rstrip("\n")
    writer.join()
    status = proc.wait()
    drain.join()
    if failure:
        raise failure[0]
    if status != 0 or pending:
        message = b"".join(errors).decode(errors="replace").strip()
        raise RuntimeError(f"{' '.join(argv)} exited with {status} ({len(pending)} lines unanswered): {message}")
