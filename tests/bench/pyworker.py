# SPDX-License-Identifier: ISC
"""A contention worker in Python, started by tests/bench/contend -k exec.

    pyworker.py filelock|softfilelock|dlock:METHOD LOCKPATH

Takes the lock in a loop, exactly as contend's C workers do, with the same
critical section and the same shared memory (tests/bench/shm.h: 64-bit
words, header, one slot per worker, then the latency samples).  It compares
py-filelock's FileLock and SoftFileLock, used as their documentation says
(defaults: blocking acquire, 50 ms poll interval), with libdlock called
through ctypes from the same interpreter and the same loop, so that the
rows differ only in the lock.

The environment says where things are: BENCH_SHM, BENCH_WORKER,
BENCH_COUNTER, and BENCH_LIBDLOCK (path of libdlock.so) for dlock:METHOD.
"""

import ctypes
import mmap
import os
import struct
import sys
import time

MAGIC = 0x646C6F636B62656E
WORKERS = 64
HEADER = 16
SLOT = 8
(H_MAGIC, H_NWORKERS, H_CAP, H_GO, H_STOP, H_STOP_NS, H_RELEASE_NS,
 H_RELEASE_WORKER, H_HOLDERS, H_OVERLAPS, H_ITERS) = range(11)
(S_COUNT, S_IN_TIME, S_NLAT, S_ERRORS, S_READY, S_DONE, S_LAST_ERR,
 S_DONE_NS) = range(8)
# What failed, kept with the errno in S_LAST_ERR (as in contend.c).
STAGE_OPEN, STAGE_LOCK, STAGE_UNLOCK = 1, 2, 3
STAGE_SHIFT = 100000

now_ns = time.monotonic_ns  # CLOCK_MONOTONIC, as in the C programs


class Shared:
    """Word access to the shared mapping (aligned 64-bit loads and stores
    are atomic on the machines this runs on)."""

    def __init__(self, path, worker):
        fd = os.open(path, os.O_RDWR)
        self.map = mmap.mmap(fd, os.fstat(fd).st_size)
        os.close(fd)
        self.words = memoryview(self.map).cast("Q")
        if self.words[H_MAGIC] != MAGIC:
            sys.exit("pyworker: bad shared memory")
        self.id = worker
        self.slot = HEADER + SLOT * worker
        self.lat = HEADER + SLOT * WORKERS + worker * self.words[H_CAP]

    def __getitem__(self, i):
        return self.words[i]

    def __setitem__(self, i, v):
        self.words[i] = v


def dlock_lock_class(method):
    """A lock object over libdlock with FileLock's acquire/release."""
    lib = ctypes.CDLL(os.environ["BENCH_LIBDLOCK"], use_errno=True)
    lib.dlock_open.restype = ctypes.c_void_p
    lib.dlock_open.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    lib.dlock_lock.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_double]
    lib.dlock_unlock.argtypes = [ctypes.c_void_p]
    lib.dlock_options_init.argtypes = [ctypes.c_void_p]
    lib.dlock_method_from_name.argtypes = [ctypes.c_char_p]
    number = lib.dlock_method_from_name(method.encode())
    if number < 0:
        sys.exit("pyworker: unknown method " + method)

    class DLock:
        def __init__(self, path):
            # struct dlock_options begins with `int method`; the buffer is
            # larger than the struct, which dlock_options_init fills.
            opts = ctypes.create_string_buffer(128)
            lib.dlock_options_init(opts)
            struct.pack_into("i", opts, 0, number)
            self.handle = lib.dlock_open(path.encode(), opts)
            if not self.handle:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err), path)

        def acquire(self):
            if lib.dlock_lock(self.handle, 2, -1.0) < 0:  # LOCK_EX
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err))

        def release(self):
            if lib.dlock_unlock(self.handle) < 0:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err))

    return DLock


def make_lock(kind, path):
    if kind == "filelock":
        import filelock
        return filelock.FileLock(path)
    if kind == "softfilelock":
        import filelock
        return filelock.SoftFileLock(path)
    if kind.startswith("dlock:"):
        return dlock_lock_class(kind[len("dlock:"):])(path)
    sys.exit("pyworker: unknown lock kind " + kind)


def critical_section(sh, counter):
    """The same steps as critical_section() in contend.c.  The holder
    count is not atomic here; the counter file still catches overlaps."""
    t = now_ns()
    if sh[H_HOLDERS] != 0:
        sh[H_OVERLAPS] += 1
    sh[H_HOLDERS] += 1
    who = sh[H_RELEASE_WORKER]
    nlat = sh[sh.slot + S_NLAT]
    if who not in (0, sh.id + 1) and nlat < sh[H_CAP]:
        sh[sh.lat + nlat] = max(0, t - sh[H_RELEASE_NS])
        sh[sh.slot + S_NLAT] = nlat + 1
    fd = os.open(counter, os.O_RDWR)
    value = int(os.pread(fd, 31, 0) or b"0")
    os.pwrite(fd, b"%020d\n" % (value + 1), 0)
    os.close(fd)
    sh[sh.slot + S_COUNT] += 1
    if sh[H_STOP_NS] == 0 or t <= sh[H_STOP_NS]:
        sh[sh.slot + S_IN_TIME] += 1
    sh[H_HOLDERS] -= 1
    sh[H_RELEASE_WORKER] = sh.id + 1
    sh[H_RELEASE_NS] = now_ns()


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    kind, path = sys.argv[1], sys.argv[2]
    sh = Shared(os.environ["BENCH_SHM"], int(os.environ["BENCH_WORKER"]))
    counter = os.environ["BENCH_COUNTER"]
    try:
        lock = make_lock(kind, path)
    except OSError as e:
        sh[sh.slot + S_ERRORS] += 1
        sh[sh.slot + S_LAST_ERR] = (e.errno or 0) + STAGE_OPEN * STAGE_SHIFT
        sh[sh.slot + S_DONE] = 1
        sys.exit(1)
    sh[sh.slot + S_READY] = 1
    while not sh[H_GO] and not sh[H_STOP]:
        time.sleep(0.0001)
    iters = sh[H_ITERS]
    n = 0
    while not sh[H_STOP] and (iters == 0 or n < iters):
        stage = STAGE_LOCK
        try:
            lock.acquire()
            critical_section(sh, counter)
            stage = STAGE_UNLOCK
            lock.release()
        except OSError as e:
            sh[sh.slot + S_ERRORS] += 1
            sh[sh.slot + S_LAST_ERR] = (e.errno or 0) + stage * STAGE_SHIFT
            break
        n += 1
    sh[sh.slot + S_DONE_NS] = now_ns()
    sh[sh.slot + S_DONE] = 1


if __name__ == "__main__":
    main()
