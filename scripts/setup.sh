#!/usr/bin/env bash
# Set up everything abc_robot needs on a fresh machine: system libraries (when we can
# install them), a virtualenv in .venv, the package with its dev extras.
# Idempotent: re-running only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

# System libraries: libusb for pyrealsense2, Mesa's EGL for MuJoCo's offscreen
# rendering on the CPU (ffmpeg comes inside PyAV's wheel), iproute2 for the two-host
# tests of a remote policy worker (network namespaces), chromium for the tests of the
# operator's page in a real (headless) browser.
need=()
for pkg in libusb-1.0-0 libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 iproute2 chromium; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing system packages: ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "setup: please install these system packages: ${need[*]} (sudo apt-get install ${need[*]})" >&2
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip setuptools wheel
# torch is pinned: a CPU machine must take the 2.13.0 CPU build, never a multi-GB
# CUDA build. On a GPU rig install your CUDA build of torch 2.13.0 first; this keeps it.
"$VENV/bin/python" -m pip install -q "torch==2.13.0"
"$VENV/bin/python" -m pip install -q -e ".[dev,bench]"
echo "setup: ready ($VENV)"
