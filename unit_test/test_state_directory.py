"""The state directory against co-tenants (issue 19): created 0700 whatever the umask, parents
included; a directory or store file another user owns or may write is refused. Through the CLI."""

import os
import stat
import subprocess
import sys

import pytest

from conftest import ROOT


def runs_command(state, umask=None):
    command = [sys.executable, "-m", "pagerduty_plugin", "runbook", "runs", "--state", str(state)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
                          preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)
    return done


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_created_private_whatever_the_umask(tmp_path):
    state = tmp_path / "a" / "b" / "state"
    done = runs_command(state, umask=0)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [mode(p) for p in (tmp_path / "a", tmp_path / "a" / "b", state)] == [0o700] * 3
    assert mode(state / "runs.sqlite") == 0o600


def test_a_directory_others_may_write_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    done = runs_command(shared)
    assert done.returncode == 1
    assert f"The state directory {shared} is writable by other users" in done.stdout
    assert f"chmod 700 {shared}" in done.stdout
    assert not (shared / "runs.sqlite").exists()


def test_a_store_file_others_may_write_is_refused(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    planted = state / "runs.sqlite"
    planted.write_bytes(b"")
    planted.chmod(0o666)
    done = runs_command(state)
    assert done.returncode == 1 and f"The state file {planted} is writable by other users" in done.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="handing a directory to another user needs root")
def test_a_directory_of_another_user_is_refused(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 65534, 65534)
    done = runs_command(theirs)
    assert done.returncode == 1 and f"The state directory {theirs} belongs to another user" in done.stdout
