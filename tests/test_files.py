"""The file layer: atomic rewrites keep what they should and refuse what they must, locks keep every update,
reads refuse what is not a file and stop at their limit."""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import pickle
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alab_training import files
from alab_training.errors import AlabTrainingError, FileError, FileLockTimeoutError, FileMissingError
from alab_training.files import locked, open_text_bounded, read_bytes_bounded, read_stream_bounded, write_atomically

FORK = multiprocessing.get_context("fork")
NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="changes owners, or drops to another user: needs root")
fs_settings = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@contextlib.contextmanager
def refused(reason: str):
    """``pytest.raises`` for an error of the file layer with this ``reason``."""
    with pytest.raises(FileError) as info:
        yield info
    assert info.value.reason == reason, (info.value.reason, str(info.value))
    assert isinstance(info.value, AlabTrainingError) and isinstance(info.value, OSError)
    assert isinstance(info.value, FileMissingError) == (reason == "missing")
    assert isinstance(info.value, FileLockTimeoutError) == (reason == "lock_timeout")
    assert reason in files.REASONS


def leftovers(folder: Path, *keep: Path) -> list[str]:
    """Names in ``folder`` other than ``keep`` and the sidecar locks."""
    return sorted(p.name for p in folder.iterdir() if p not in keep and not p.name.endswith(".lock"))


@pytest.fixture
def shared(outside_tmp_path):
    """A folder every user may write in, not sticky."""
    return outside_tmp_path(0o777)


def as_nobody(function, *args):
    """``function(*args)`` run in a child process with uid and gid 65534: its result, or the error's reason."""
    queue = FORK.SimpleQueue()

    def child():
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        try:
            queue.put(("ok", function(*args)))
        except AlabTrainingError as error:
            queue.put(("refused", error.reason))
        except BaseException as error:  # noqa: BLE001 - reported to the test, which fails on it
            queue.put(("crashed", repr(error)))

    process = FORK.Process(target=child)
    process.start()
    process.join(30)
    assert process.exitcode == 0
    return queue.get()


# -- paths and arguments ----------------------------------------------------------------------------------------

class _IntPath:
    def __fspath__(self):
        return 3


BAD_PATHS = [3, None, 1.5, ["a"], "", "a\0b", b"a\0b", _IntPath(), "\ud800"]


@pytest.mark.parametrize("path", BAD_PATHS, ids=repr)
@pytest.mark.parametrize("use", ["read_bytes", "open_text", "write", "lock"])
def test_an_unusable_path_is_a_clear_error(tmp_path, monkeypatch, path, use):
    monkeypatch.chdir(tmp_path)
    with refused("bad_path") as error:
        if use == "read_bytes":
            read_bytes_bounded(path, 10)
        elif use == "open_text":
            open_text_bounded(path, 10)
        elif use == "write":
            write_atomically(path, b"x")
        else:
            with locked(path, timeout=0):
                pass
    assert not isinstance(error.value, (TypeError, UnicodeError))
    assert list(tmp_path.iterdir()) == []


def test_bytes_and_path_like_paths_work(tmp_path):
    target = tmp_path / "card.json"
    assert write_atomically(os.fsencode(target), "{}") == target
    assert read_bytes_bounded(os.fsencode(target), 10) == b"{}"
    with locked(os.fsencode(target)) as resolved:
        assert resolved == target


@pytest.mark.parametrize("limit", [-1, 1.5, True, "3", None])
def test_a_bad_limit_is_a_clear_error(tmp_path, limit):
    (tmp_path / "a").write_bytes(b"x")
    for read in (read_bytes_bounded, open_text_bounded):
        with refused("bad_argument"):
            read(tmp_path / "a", limit)
    with refused("bad_argument"):
        read_stream_bounded(io.BytesIO(b"x"), limit)


@pytest.mark.parametrize("timeout", [-1, float("inf"), float("nan"), "1", True, None])
def test_a_bad_timeout_is_a_clear_error(tmp_path, timeout):
    with refused("bad_argument"), locked(tmp_path / "a", timeout=timeout):
        pass


@pytest.mark.parametrize("data", [None, 3, ["x"], "\ud800"], ids=repr)
def test_data_that_cannot_be_written_is_a_clear_error(tmp_path, data):
    with refused("bad_argument"):
        write_atomically(tmp_path / "a", data)
    assert list(tmp_path.iterdir()) == []


# -- reading: only regular files --------------------------------------------------------------------------------

def special_files(tmp_path):
    """Paths that are no regular file: (id, path, keep-alive object)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    read_end, write_end = os.pipe()
    folder = tempfile.mkdtemp(dir="/tmp")  # a socket path must be short
    server = socket.socket(socket.AF_UNIX)
    server.bind(os.path.join(folder, "s"))
    link = tmp_path / "zero-link"
    link.symlink_to("/dev/zero")
    return [("fifo without a writer", fifo), ("/dev/zero", Path("/dev/zero")), ("/dev/null", Path("/dev/null")),
            ("a folder", tmp_path), ("a pipe as /proc/self/fd/N", Path(f"/proc/self/fd/{read_end}")),
            ("a socket", Path(folder) / "s"), ("a symlink to /dev/zero", link)], (read_end, write_end, server, folder)


def test_special_files_are_refused_at_once(tmp_path):
    paths, keep = special_files(tmp_path)
    try:
        for name, path in paths:
            for read in (read_bytes_bounded, open_text_bounded):
                started = time.monotonic()
                with refused("not_regular") as error:
                    read(path, 1 << 30)
                assert time.monotonic() - started < 1, name
                assert "not a regular file" in str(error.value), name
    finally:
        os.close(keep[0])
        os.close(keep[1])
        keep[2].close()
        shutil.rmtree(keep[3])


def test_a_fifo_swapped_in_after_the_check_does_not_block(tmp_path, monkeypatch):
    """The stat says "regular file", then the path is a FIFO: opening it must not wait for a writer."""
    regular, fifo = tmp_path / "regular", tmp_path / "fifo"
    regular.write_bytes(b"x")
    os.mkfifo(fifo)
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda path, **kw: real_stat(regular if str(path) == str(fifo) else path, **kw))
    started = time.monotonic()
    with refused("not_regular"):
        read_bytes_bounded(fifo, 10)
    assert time.monotonic() - started < 1


def test_a_missing_file_says_so(tmp_path):
    with refused("missing") as error:
        read_bytes_bounded(tmp_path / "nope.json", 10)
    assert error.value.errno == 2 and error.value.path == tmp_path / "nope.json"


def test_symlinks_are_followed_for_reading(tmp_path):
    (tmp_path / "real").write_bytes(b"data")
    (tmp_path / "link").symlink_to("real")
    assert read_bytes_bounded(tmp_path / "link", 4) == b"data"


# -- reading: bounded by what is read ---------------------------------------------------------------------------

@fs_settings
@given(content=st.binary(max_size=3000), limit=st.integers(0, 3000))
def test_read_bytes_returns_the_file_or_refuses_it_by_the_limit(tmp_path, content, limit):
    path = tmp_path / "file"
    path.write_bytes(content)
    if len(content) <= limit:
        assert read_bytes_bounded(path, limit) == content
    else:
        with refused("too_large") as error:
            read_bytes_bounded(path, limit)
        assert error.value.limit == limit


@fs_settings
@given(text=st.text(max_size=2000), limit=st.integers(0, 3000), size=st.sampled_from([1, 7, 4096, -1]))
def test_the_text_stream_gives_the_file_or_raises_past_the_limit(tmp_path, text, limit, size):
    path = tmp_path / "file"
    path.write_bytes(text.encode("utf-8"))
    with open_text_bounded(path, limit, newline="") as stream:
        if len(text.encode("utf-8")) <= limit:
            parts = []
            while part := stream.read(size):
                parts.append(part)
            assert "".join(parts) == text
        else:
            with refused("too_large"):
                while stream.read(size):
                    pass
            with refused("too_large"):  # and it stays refused
                stream.read(1)


def test_a_file_that_grows_after_it_was_opened_is_still_bounded(tmp_path):
    path = tmp_path / "export.json"
    path.write_bytes(b"[1, 2, 3]\n")
    with open_text_bounded(path, 15) as stream:
        with path.open("ab") as grow:
            grow.write(b" " * 100)
        with refused("too_large"):
            stream.read()
    with open_text_bounded(path, 110) as stream:  # as large as it is now
        assert stream.read().strip() == "[1, 2, 3]"


def test_the_limit_does_not_trust_st_size():
    """/proc files report size 0 and are read fully; their bytes still count against the limit."""
    assert os.stat("/proc/self/status").st_size == 0
    assert b"Pid:" in read_bytes_bounded("/proc/self/status", 1 << 16)
    with refused("too_large"):
        read_bytes_bounded("/proc/self/status", 10)
    with open_text_bounded("/proc/self/status", 1 << 16) as stream:
        assert "Pid:" in stream.read()


def test_the_text_stream_decodes_as_asked(tmp_path):
    path = tmp_path / "export.json"
    path.write_bytes("\ufeff[\"é\"]\r\n".encode())
    with open_text_bounded(path, 100, encoding="utf-8-sig", newline="") as stream:
        assert stream.read() == '["é"]\r\n'
        assert stream.name == str(path)
    with refused("bad_argument"):
        open_text_bounded(path, 100, encoding="no-such-codec")


def test_an_explicit_stream_is_bounded_too():
    assert read_stream_bounded(io.BytesIO(b"abc"), 3) == b"abc"
    assert read_stream_bounded(io.StringIO("abc"), 3) == "abc"
    assert read_stream_bounded(io.StringIO(""), 3) == ""
    assert read_stream_bounded(io.BytesIO(b""), 3) == b""
    with refused("too_large"):
        read_stream_bounded(io.BytesIO(b"abcd"), 3)
    with refused("too_large"):
        read_stream_bounded(io.StringIO("abcd"), 3)
    with refused("bad_argument"):
        read_stream_bounded("a path is not a stream", 3)


# -- writing: what an atomic rewrite keeps ----------------------------------------------------------------------

@fs_settings
@given(data=st.binary(max_size=5000) | st.text(max_size=2000), old=st.booleans(),
       kind=st.sampled_from([bytes, bytearray, memoryview]))
def test_what_is_written_is_what_is_read(tmp_path, data, old, kind):
    path = tmp_path / "state.json"
    if old:
        path.write_bytes(b"old content")
    expected = data.encode("utf-8") if isinstance(data, str) else data
    if isinstance(data, bytes) and kind is not bytes:
        data = kind(data)
    assert write_atomically(path, data) == path
    assert read_bytes_bounded(path, len(expected)) == expected
    assert leftovers(tmp_path, path) == []


@fs_settings
@given(mode=st.integers(0, 0o7777).filter(lambda m: m & 0o222))
def test_the_mode_is_kept(tmp_path, mode):
    path = tmp_path / "config.xml"
    path.write_bytes(b"old")
    path.chmod(mode)
    write_atomically(path, b"new")
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert path.read_bytes() == b"new"


def test_any_memoryview_layout_is_written_as_its_bytes(tmp_path):
    view = memoryview(bytes(range(12))).cast("B", (3, 4))[::2]  # two rows of a 3x4 matrix: not contiguous
    write_atomically(tmp_path / "a", view)
    assert (tmp_path / "a").read_bytes() == view.tobytes()


def test_a_new_file_gets_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        write_atomically(tmp_path / "new", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o640


def test_a_symlink_stays_a_link_and_its_target_is_rewritten(tmp_path):
    (tmp_path / "real.xml").write_bytes(b"old")
    link = tmp_path / "current.xml"
    link.symlink_to("real.xml")
    assert write_atomically(link, b"new") == tmp_path / "real.xml"
    assert link.is_symlink() and (tmp_path / "real.xml").read_bytes() == b"new"
    dangling = tmp_path / "dangling"
    dangling.symlink_to("created.xml")
    write_atomically(dangling, b"x")
    assert dangling.is_symlink() and (tmp_path / "created.xml").read_bytes() == b"x"


def test_a_symlink_loop_is_refused(tmp_path):
    (tmp_path / "loop").symlink_to("loop")
    with refused("not_regular"):
        write_atomically(tmp_path / "loop", b"x")


@as_root
def test_the_owner_and_group_are_kept(tmp_path):
    path = tmp_path / "config.xml"
    path.write_bytes(b"old")
    os.chown(path, NOBODY, NOBODY)
    path.chmod(0o2664)  # chown of the temporary file clears set-group-id: it must come back
    write_atomically(path, b"new")
    status = path.stat()
    assert (status.st_uid, status.st_gid, stat.S_IMODE(status.st_mode)) == (NOBODY, NOBODY, 0o2664)
    assert path.read_bytes() == b"new"


def test_extended_attributes_are_kept(tmp_path):
    path = tmp_path / "config.xml"
    path.write_bytes(b"old")
    try:
        os.setxattr(path, "user.origin", b"annotation-lab")
    except OSError:
        pytest.skip("this file system has no user extended attributes")
    write_atomically(path, b"new")
    assert os.getxattr(path, "user.origin") == b"annotation-lab"


# -- writing: what is refused, and left as it was ---------------------------------------------------------------

@pytest.mark.parametrize("mode", [0o444, 0o400, 0o440, 0o000, 0o555])
def test_a_read_only_file_is_refused_even_for_root(tmp_path, mode):
    path = tmp_path / "config.xml"
    path.write_bytes(b"keep me")
    path.chmod(mode)
    with refused("read_only") as error:
        write_atomically(path, b"new")
    assert "read-only" in str(error.value)
    path.chmod(0o600)
    assert path.read_bytes() == b"keep me" and leftovers(tmp_path, path) == []


@as_root
@pytest.mark.parametrize("mode, reason", [(0o644, "permission"), (0o666, "owner")])
def test_a_file_nobody_may_not_replace_whole_is_refused(shared, mode, reason):
    """0644: renaming only needs the folder's permission, so without the check nobody could replace root's file;
    0666: nobody may write it, but not give the new file to root."""
    path = shared / "config.xml"
    path.write_bytes(b"root's")
    path.chmod(mode)
    assert as_nobody(write_atomically, path, b"nobody's") == ("refused", reason)
    assert path.read_bytes() == b"root's" and path.stat().st_uid == 0 and leftovers(shared, path) == []


@as_root
def test_another_user_rewrites_their_own_file(shared):
    path = shared / "config.xml"
    path.write_bytes(b"old")
    os.chown(path, NOBODY, NOBODY)
    assert as_nobody(write_atomically, path, b"new") == ("ok", path)
    assert path.read_bytes() == b"new" and path.stat().st_uid == NOBODY


def test_a_hard_linked_file_is_refused(tmp_path):
    path, other = tmp_path / "config.xml", tmp_path / "backup.xml"
    path.write_bytes(b"shared")
    os.link(path, other)
    (tmp_path / "link").symlink_to(path)
    for name in (path, other, tmp_path / "link"):
        with refused("hard_linked") as error:
            write_atomically(name, b"new")
        assert error.value.links == 2
    assert path.read_bytes() == other.read_bytes() == b"shared" and os.path.samefile(path, other)
    assert leftovers(tmp_path, path, other, tmp_path / "link") == []


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_target_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    path = tmp_path / "target"
    os.mkfifo(path) if kind == "fifo" else path.mkdir()
    with refused("not_regular"):
        write_atomically(path, b"x")
    assert (stat.S_ISFIFO if kind == "fifo" else stat.S_ISDIR)(os.stat(path, follow_symlinks=False).st_mode)
    assert leftovers(tmp_path, path) == []


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with refused("missing"):
        write_atomically(tmp_path / "no" / "such" / "file", b"x")


@as_root
def test_an_unwritable_folder_leaves_nothing(shared):
    path = shared / "card.json"
    path.write_bytes(b"old")
    os.chown(path, NOBODY, NOBODY)
    shared.chmod(0o755)
    assert as_nobody(write_atomically, path, b"new") == ("refused", "permission")
    assert path.read_bytes() == b"old" and leftovers(shared, path) == []


def test_a_name_as_long_as_allowed_still_gets_its_temporary_file_and_lock(tmp_path):
    path = tmp_path / ("n" * 255)
    write_atomically(path, b"one")
    with locked(path):
        write_atomically(path, b"two")
    assert path.read_bytes() == b"two" and leftovers(tmp_path, path) == []


def test_failures_are_alab_training_errors_with_their_details(tmp_path):
    path = tmp_path / "config.xml"
    path.write_bytes(b"x")
    path.chmod(0o444)
    with pytest.raises(AlabTrainingError) as error:
        write_atomically(path, b"y")
    assert (error.value.path, error.value.reason, error.value.errno) == (path, "read_only", None)
    assert error.value.message in str(error.value) and str(path) in str(error.value)
    with pytest.raises(AlabTrainingError) as error:
        write_atomically(tmp_path / "no" / "file", b"y")
    assert (error.value.errno, error.value.strerror) == (2, "No such file or directory")
    assert str(error.value).endswith("cannot write the file (it is unchanged): No such file or directory")
    assert isinstance(error.value, FileNotFoundError) and error.value.filename == str(tmp_path / "no" / "file")


def test_errors_pickle_with_their_details(tmp_path):
    """A job's training process hands errors to the host: they must come back whole."""
    path = tmp_path / "config.xml"
    path.write_bytes(b"x" * 10)
    with pytest.raises(FileError) as error:
        read_bytes_bounded(path, 5)
    with locked(path):
        with pytest.raises(FileLockTimeoutError) as timeout:  # raised in another process, pickled to us
            child = subprocess.run([sys.executable, "-c", "import pickle, sys\n"
                                    "from alab_training.files import locked\n"
                                    "try:\n"
                                    f"    with locked({str(path)!r}, timeout=0): pass\n"
                                    "except Exception as exc: sys.stdout.buffer.write(pickle.dumps(exc))"],
                                   capture_output=True, check=True)
            raise pickle.loads(child.stdout)
    for original, keys in ((error.value, ("path", "reason", "limit")), (timeout.value, ("reason", "timeout",
                                                                                         "lock_path"))):
        copy = pickle.loads(pickle.dumps(original))
        assert type(copy) is type(original) and str(copy) == str(original)
        assert [getattr(copy, key) for key in keys] == [getattr(original, key) for key in keys]


def test_callers_catching_oserror_still_catch_every_failure(tmp_path):
    """Code that turns an OSError from a write into its own handling keeps catching the file layer's errors."""
    path = tmp_path / "config.xml"
    path.write_bytes(b"x")
    path.chmod(0o444)
    for target in (path, tmp_path / "no" / "file"):
        try:
            write_atomically(target, b"y")
        except OSError as exc:  # as the callers do
            assert str(exc.strerror or exc).strip()
        else:
            pytest.fail("not refused")


# -- writing: crashes ------------------------------------------------------------------------------------------

#: A child that writes ``path`` and stops once its temporary file is written (just before the fsync): it says
#: "ready" and waits for a line on stdin, then finishes the write.
#: A writer that stops, until a line comes on stdin, in ``os.<call>``: ``replace`` is the moment its file has a
#: name; ``fsync`` the (long) moment it has none yet.
PAUSED_WRITER = """
import os, sys
from alab_training.files import write_atomically
call = sys.argv[3]
real = getattr(os, call)
def paused(*args):
    setattr(os, call, real)
    print("ready", flush=True)
    sys.stdin.readline()
    real(*args)
setattr(os, call, paused)
write_atomically(sys.argv[1], sys.argv[2])
print("done", flush=True)
"""


@contextlib.contextmanager
def paused_writer(path: Path, content: str, call: str = "replace"):
    child = subprocess.Popen([sys.executable, "-c", PAUSED_WRITER, str(path), content, call], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(10)


def temporaries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_a_writer_killed_before_the_rename_leaves_the_old_file_and_the_next_write_cleans_up(tmp_path):
    path = tmp_path / "config.xml"
    path.write_bytes(b"old")
    with paused_writer(path, "new") as child:
        [temporary] = temporaries(tmp_path)
        assert temporary.name.startswith(f".config.xml.{child.pid}.") and temporary.read_bytes() == b"new"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert path.read_bytes() == b"old" and temporaries(tmp_path) == [temporary]
    write_atomically(path, b"next")
    assert path.read_bytes() == b"next" and temporaries(tmp_path) == []


def test_a_writer_killed_while_it_writes_leaves_nothing_behind(tmp_path):
    """Until the rename the file has no name (O_TMPFILE): a kill then leaves nothing a later write must sweep."""
    path = tmp_path / "config.xml"
    path.write_bytes(b"old")
    with paused_writer(path, "new", "fsync") as child:
        assert temporaries(tmp_path) == []
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert path.read_bytes() == b"old" and temporaries(tmp_path) == []


def test_without_unnamed_files_a_named_temporary_file_is_used(tmp_path, monkeypatch):
    from alab_training.files import writing

    path = tmp_path / "config.xml"
    path.write_bytes(b"old")
    monkeypatch.setattr(writing, "_link_unnamed", lambda fd, target: None)  # no /proc, say
    assert write_atomically(path, b"new") == path and path.read_bytes() == b"new" and temporaries(tmp_path) == []
    monkeypatch.delattr(os, "O_TMPFILE")
    assert write_atomically(path, b"newer") == path and path.read_bytes() == b"newer"


def test_a_live_writer_keeps_its_temporary_file(tmp_path):
    """Another write beside a writer that is still at work must not take its temporary file away."""
    path = tmp_path / "config.xml"
    path.write_bytes(b"old")
    with paused_writer(path, "theirs") as child:
        write_atomically(path, b"ours")
        assert path.read_bytes() == b"ours" and len(temporaries(tmp_path)) == 1
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline() == "done\n"
        assert child.wait(10) == 0
    assert path.read_bytes() == b"theirs" and temporaries(tmp_path) == []


def test_temporary_files_of_the_old_format_are_removed_once_abandoned(tmp_path):
    path = tmp_path / "card.json"
    stale, fresh = tmp_path / f".card.json.{'a' * 32}.tmp", tmp_path / f".card.json.{'b' * 32}.tmp"
    other = tmp_path / f".other.json.{os.getpid()}.{'c' * 32}.tmp"
    for name in (stale, fresh, other):
        name.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    write_atomically(path, b"x")
    assert temporaries(tmp_path) == sorted([fresh, other])


KILLED_IN_A_LOOP = """
import sys
from alab_training.files import write_atomically
print("started", flush=True)
for version in range(10**6):
    write_atomically(sys.argv[1], f"{version}\\n" * 100_000)
"""


def test_a_writer_killed_at_any_moment_leaves_a_whole_version(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("old\n" * 100_000)
    rng = random.Random(7)
    versions = set()
    for _ in range(20):
        child = subprocess.Popen([sys.executable, "-c", KILLED_IN_A_LOOP, str(path)], stdout=subprocess.PIPE,
                                 text=True)
        assert child.stdout.readline() == "started\n"
        time.sleep(rng.uniform(0.01, 0.2))
        child.kill()
        child.wait(10)
        child.stdout.close()
        lines = path.read_text().split("\n")
        assert lines[-1] == "" and len(lines) == 100_001 and len(set(lines[:-1])) == 1
        versions.add(lines[0])
        assert len(temporaries(tmp_path)) <= 1  # at most one, killed between naming its file and the rename
    assert len(versions) > 5  # the kills did land between writes
    write_atomically(path, "final")
    assert temporaries(tmp_path) == []


# -- locking ---------------------------------------------------------------------------------------------------

def _append_line(path: Path, line: bytes, start, use_lock: bool) -> None:
    start.wait()
    with locked(path, timeout=60) if use_lock else contextlib.nullcontext(path):
        before = read_bytes_bounded(path, 1 << 20)  # read only once the lock is held
        time.sleep(0.005)  # a read-modify-write takes time; without the lock, others write meanwhile
        write_atomically(path, before + line)


def _run_appenders(path: Path, count: int, *, use_lock: bool) -> list[bytes]:
    path.write_bytes(b"")
    start = FORK.Barrier(count)
    lines = [f"process {n}\n".encode() for n in range(count)]
    workers = [FORK.Process(target=_append_line, args=(path, line, start, use_lock)) for line in lines]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    return lines


def test_concurrent_read_modify_writes_under_the_lock_keep_every_update(tmp_path):
    path = tmp_path / "config.xml"
    for _ in range(20):
        lines = _run_appenders(path, 8, use_lock=True)
        assert sorted(path.read_bytes().splitlines(keepends=True)) == sorted(lines)
    assert leftovers(tmp_path, path) == []


def test_without_the_lock_updates_are_lost(tmp_path):
    """The check above can fail: the same read-modify-writes without the lock lose updates."""
    path = tmp_path / "config.xml"
    kept = []
    for _ in range(3):
        lines = _run_appenders(path, 8, use_lock=False)
        kept.append(len(path.read_bytes().splitlines()))
    assert min(kept) < len(lines)


def test_threads_are_serialized_too(tmp_path):
    path = tmp_path / "state.json"
    path.write_bytes(b"")

    def append(n):
        for i in range(20):
            with locked(path) as target:
                data = read_bytes_bounded(target, 1 << 20)
                write_atomically(target, data + f"{n}-{i}\n".encode())

    threads = [threading.Thread(target=append, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(path.read_bytes().splitlines())) == 80


def _hold(path, held, via=None):
    with locked(via or path, timeout=5):
        held.set()
        time.sleep(60)  # until killed


@contextlib.contextmanager
def held_elsewhere(path: Path, via: Path | None = None):
    """Another process holds the lock of ``path`` (taken through ``via``) until the block ends and it is killed.

    Killing is the release: a process killed while waiting on a multiprocessing Event would hang a later set().
    """
    held = FORK.Event()
    holder = FORK.Process(target=_hold, args=(path, held, via))
    holder.start()
    try:
        assert held.wait(10)
        yield holder
    finally:
        holder.kill()
        holder.join(10)


def test_waiting_longer_than_the_timeout_raises(tmp_path):
    path = tmp_path / "config.xml"
    with held_elsewhere(path):
        started = time.monotonic()
        with refused("lock_timeout") as error, locked(path, timeout=0.3):
            pass
        assert 0.3 <= time.monotonic() - started < 2
        assert error.value.timeout == 0.3 and error.value.lock_path == tmp_path / ".config.xml.lock"
        with refused("lock_timeout"), locked(path, timeout=0):
            pass
    with locked(path, timeout=0):  # released
        pass


def test_the_lock_is_released_when_its_holder_dies(tmp_path):
    path = tmp_path / "config.xml"
    with held_elsewhere(path) as holder:
        os.kill(holder.pid, signal.SIGKILL)
        holder.join(10)
        with locked(path, timeout=2):
            pass


def test_a_symlink_and_its_target_share_one_lock(tmp_path):
    path, link = tmp_path / "config.xml", tmp_path / "current.xml"
    path.write_bytes(b"x")
    link.symlink_to(path)
    with held_elsewhere(path, via=link), refused("lock_timeout"), locked(path, timeout=0.2):
        pass


def test_locking_twice_in_one_thread_raises_at_once(tmp_path):
    path = tmp_path / "config.xml"
    with locked(path):
        started = time.monotonic()
        with refused("lock_reentrant"), locked(tmp_path / "." / "config.xml", timeout=10):
            pass
        assert time.monotonic() - started < 1
    with locked(path):  # the failed attempt did not spoil the lock
        pass


def test_a_lock_file_removed_while_waited_for_is_not_trusted(tmp_path):
    """Waiting on a lock file that is then removed ends with a lock on the file that is there now."""
    path = tmp_path / "config.xml"
    inside = []
    first_release, third_holds, third_release = threading.Event(), threading.Event(), threading.Event()

    def first():
        with locked(path):
            first_release.wait(10)

    def second():
        with locked(path, timeout=10):
            inside.append(("second", third_holds.is_set() and not third_release.is_set()))

    a = threading.Thread(target=first)
    a.start()
    time.sleep(0.2)
    b = threading.Thread(target=second)
    b.start()
    time.sleep(0.2)  # the second thread is waiting on the first lock file now
    (tmp_path / ".config.xml.lock").unlink()
    with locked(path, timeout=1):  # a new lock file, held while the first lets go
        third_holds.set()
        first_release.set()
        time.sleep(0.3)
        assert inside == []  # the second thread must not be in while this one is
        third_release.set()
    a.join(10)
    b.join(10)
    assert inside == [("second", False)]


@as_root
def test_the_lock_file_belongs_to_the_target_owner(tmp_path):
    path = tmp_path / "config.xml"
    path.write_bytes(b"x")
    os.chown(path, NOBODY, NOBODY)
    old = os.umask(0o077)
    try:
        with locked(path):
            pass
    finally:
        os.umask(old)
    lock = (tmp_path / ".config.xml.lock").stat()
    assert (lock.st_uid, lock.st_gid, stat.S_IMODE(lock.st_mode)) == (NOBODY, NOBODY, 0o644)


@as_root
def test_a_lock_file_another_user_made_still_locks(shared):
    path = shared / "config.xml"
    path.write_bytes(b"x")
    lock = shared / ".config.xml.lock"
    lock.write_bytes(b"")
    lock.chmod(0o444)
    assert as_nobody(_lock_and_write, path) == ("ok", b"nobody")


def _lock_and_write(path: Path) -> bytes:
    with locked(path, timeout=1):
        return b"nobody"


@pytest.mark.parametrize("planted", ["fifo", "symlink"])
def test_a_planted_lock_path_is_refused_not_followed(tmp_path, planted):
    path, lock = tmp_path / "config.xml", tmp_path / ".config.xml.lock"
    if planted == "fifo":
        os.mkfifo(lock)
    else:
        lock.symlink_to(tmp_path / "elsewhere")
    started = time.monotonic()
    with refused("not_regular"), locked(path, timeout=1):
        pass
    assert time.monotonic() - started < 1 and not (tmp_path / "elsewhere").exists()


def test_a_lock_in_a_missing_folder_is_a_clear_error(tmp_path):
    with refused("missing"), locked(tmp_path / "no" / "config.xml"):
        pass


# -- looking at a path, removing a tree -------------------------------------------------------------------------

def test_regular_file_status_looks_without_opening(tmp_path):
    from alab_training.files import regular_file_status

    (tmp_path / "file").write_bytes(b"x")
    os.mkfifo(tmp_path / "fifo")
    assert regular_file_status(tmp_path / "file").st_size == 1
    assert regular_file_status(tmp_path / "missing") is None
    for path in (tmp_path / "fifo", tmp_path, "/dev/zero"):
        with refused("not_regular"):
            regular_file_status(path)
    with refused("bad_path"):
        regular_file_status("a\0b")


def test_check_removable_names_what_stops_a_removal(tmp_path):
    from alab_training.files import check_removable

    tree = tmp_path / "model"
    (tree / "stages" / "deep").mkdir(parents=True)
    (tree / "stages" / "deep" / "weights").write_bytes(b"w")
    (tree / "link").symlink_to("/etc/passwd")  # a link is removed itself, never followed
    check_removable(tree)
    stuck = tree / "stages" / "deep" / "weights"
    if subprocess.run(["chattr", "+i", str(stuck)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available here")
    try:
        with refused("permission") as error:
            check_removable(tree)
        assert error.value.path == stuck and "immutable" in str(error.value)
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=True)
    with refused("missing"):
        check_removable(tmp_path / "nothing")


def test_the_package_keeps_its_one_module_names():
    import alab_training.files as package

    for name in ("write_atomically", "locked", "read_bytes_bounded", "open_text_bounded", "read_stream_bounded",
                 "REASONS", "DEFAULT_LOCK_TIMEOUT"):
        assert name in package.__all__ and getattr(package, name)
