"""The recorder writing MCAP only, as a process over real sockets: SIGKILLed mid-episode,
it leaves an MCAP readable up to its last chunk, which its next start recovers."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from abc_robot.recording.layout import RECORDING_DIR
from abc_robot.recording.mcap_recovery import read_complete_records
from abc_robot.recording.mcap_writer import MCAP_PART

from .utils import RecorderGraph, recorder_graph_fixture, wait_for


class _McapGraph(RecorderGraph):
    def recorder_params(self) -> dict:
        return {**super().recorder_params(), "format": "mcap"}


@pytest.fixture(scope="module")
def graph():
    yield from recorder_graph_fixture(_McapGraph)


def _read(path: Path) -> dict[str, int]:
    from mcap.reader import make_reader
    from mcap_protobuf.decoder import DecoderFactory

    counts: dict[str, int] = {}
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for _, channel, _, decoded in reader.iter_decoded_messages():
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
            assert decoded is not None
    return counts


def test_a_sigkilled_mcap_recorder_leaves_a_readable_file_recovered_at_restart(graph):
    mcap_root = Path(graph.root) / "mcap"
    graph.event("episode_start", task="lift_cube", seed=3, source="demo")
    graph.wait_steps(75)  # 2.5 s on the clock: at least two chunks closed
    graph.recorder.send_signal(signal.SIGKILL)
    graph.recorder.wait(10)
    (partial,) = list((mcap_root / RECORDING_DIR).iterdir())
    records, why = read_complete_records(partial / MCAP_PART)
    kept = [r for r in records if type(r).__name__ == "Message"]
    assert why and len(kept) > 100  # cut off mid-record, everything before it reads
    graph.status.pop("recorder", None)
    graph.recorder = graph.start_recorder()
    assert wait_for(lambda: graph.st("recorder").get("recovered", 0) == 1, 30), graph.st("recorder")
    (final,) = list(mcap_root.glob("*/episode_*/episode.mcap"))
    assert final.parent.name == partial.name and final.parent.parent.name == "lift_cube"
    counts = _read(final)
    assert counts["/top-camera"] >= 30 and counts["/left-arm-state"] > counts["/top-camera"]
    assert sum(counts.values()) == len(kept)
    assert not (mcap_root / RECORDING_DIR).exists()
