"""Console-board firmware: host-compiled C tests, and the real firmware read by the Python reader.

The C sources are compiled with the system C compiler (``cc``) into a temporary
directory; the same ``firmware/tests/vectors.txt`` is decoded here by the C code and
in ``test_console_board_protocol.py`` by the Python reader.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from abc_robot.devices.console_board import ConsoleBoard, ConsoleBoardConfig

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"
CORE = ["protocol.c", "debounce.c", "app.c"]
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]


def _cc() -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    assert cc, "the firmware tests need the system C compiler (cc); install gcc / build-essential"
    return cc


def _compile(out: Path, sources: list[str]) -> Path:
    cmd = [_cc(), *CFLAGS, f"-I{FIRMWARE}", "-o", str(out), *[str(FIRMWARE / s) for s in sources]]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"compile failed: {' '.join(cmd)}\n{res.stderr}"
    return out


@pytest.mark.parametrize("name", ["test_protocol", "test_debounce", "test_app"])
def test_c_unit_tests(tmp_path, name):
    exe = _compile(tmp_path / name, [f"tests/{name}.c", *CORE])
    res = subprocess.run(
        [str(exe), str(FIRMWARE / "tests" / "vectors.txt")], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"{name}: " in res.stdout and ", 0 failures" in res.stdout
    checks = int(res.stdout.split(f"{name}: ")[1].split(" checks")[0])
    assert checks > 20  # the suite really ran
    if name == "test_protocol":
        assert "vectors: " in res.stdout and int(res.stdout.split("vectors: ")[1].split()[0]) >= 30


def test_c_tests_catch_a_broken_crc(tmp_path):
    """The C vector test must be able to fail: feed it a vector file with a wrong CRC."""
    exe = _compile(tmp_path / "tp", ["tests/test_protocol.c", *CORE])
    bad = tmp_path / "vectors.txt"
    bad.write_text(
        (FIRMWARE / "tests" / "vectors.txt")
        .read_text()
        .replace("crc 313233343536373839 29b1", "crc 313233343536373839 29b2")
    )
    res = subprocess.run([str(exe), str(bad)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and "1 failures" in res.stdout


def test_make_host_test(tmp_path):
    if shutil.which("make") is None:
        pytest.fail("make is needed for firmware/Makefile (apt install make)")
    res = subprocess.run(
        ["make", "-C", str(FIRMWARE), "host-test", f"BUILD={tmp_path}", f"CC={_cc()}"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count(", 0 failures") == 3


@pytest.fixture()
def real_firmware(tmp_path):
    """The actual firmware (main.c + app + protocol) built for the host, serving a pty."""
    exe = _compile(tmp_path / "console_posix", ["main.c", "board_posix.c", *CORE])
    link = tmp_path / "console"
    proc = subprocess.Popen(
        [str(exe)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "CONSOLE_POSIX_LINK": str(link)},
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().startswith("/dev/")
        yield proc, link
    finally:
        if proc.stdin:
            proc.stdin.close()  # EOF: the firmware exits and removes its link
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _pump(reader, cond, timeout_s=5.0):
    events = []
    deadline = time.monotonic() + timeout_s
    while not cond(events):
        assert time.monotonic() < deadline, f"timed out; events so far: {[e.kind for e in events]}"
        events += reader.poll(0.01)
    return events


def _set_inputs(proc, mask: int) -> None:
    proc.stdin.write(f"{mask}\n")
    proc.stdin.flush()


def test_python_reader_reads_the_real_firmware(real_firmware):
    proc, link = real_firmware
    with ConsoleBoard(ConsoleBoardConfig(port=str(link), boot_grace_s=0.0)) as reader:
        _pump(reader, lambda ev: reader.version is not None and reader.last_heartbeat is not None)
        assert reader.version.name == "abc-console" and reader.version.protocol == 1
        # A bouncy pedal press: the firmware's debounce makes it one event.
        for mask in (1, 0, 1, 0, 1):
            _set_inputs(proc, mask)
        events = _pump(reader, lambda ev: any(e.kind == "intervene_on" for e in ev))
        time.sleep(0.1)
        events += reader.poll(0.05)
        assert [e.kind for e in events] == ["intervene_on"]
        assert events[0].data["synthetic"] is False
        _set_inputs(proc, 0)
        _pump(reader, lambda ev: any(e.kind == "intervene_off" for e in ev))
        # LED command: acknowledged, and the firmware's heartbeat reports the mode.
        reader.set_led("blink_slow")
        _pump(reader, lambda ev: reader.last_heartbeat.led_mode == 2 and reader.last_heartbeat.host_link)
        assert reader.stats.bad_frames == {} and reader.stats.lost_frames == 0 and reader.stats.nacks == 0
