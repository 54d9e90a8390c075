"""Package metadata and console scripts for abc_robot."""

from setuptools import find_packages, setup

# torch is pinned so that a CPU machine takes the 2.13.0 CPU wheel rather than a
# multi-GB CUDA build; a GPU rig installs its own build first (`pip install torch`
# from the CUDA index), then `pip install -e .[gpu]` keeps it (same version range).
TORCH = "torch==2.13.0"

setup(
    name="abc_robot",
    version="0.1.0",
    description="Real-time bimanual teleoperation, recording, policy rollout and DAgger, on robots or in MuJoCo",
    long_description=open("README.md").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["abc_robot", "abc_robot.*"]),
    include_package_data=True,
    install_requires=[
        "numpy>=1.26",
        "scipy>=1.11",
        "pyzmq>=25",
        "msgpack>=1.0",
        "pyyaml>=6",
        "rich>=13",
        "pin>=3.0",
        "mujoco>=3.1",
        "dynamixel-sdk>=3.7",
        "pyserial>=3.5",
        "python-can>=4.3",
        "opencv-python-headless>=4.8",
        "av>=12",
        "pyrealsense2>=2.54; platform_machine=='x86_64'",
        "viser[urdf]>=1.0",
        TORCH,
        "regex>=2023",
        "mcap>=1.2",
        "mcap-protobuf-support>=0.5",
        "foxglove-sdk>=0.30",
    ],
    extras_require={
        "dev": ["pytest>=8", "hypothesis>=6", "pytest-timeout>=2", "pytest-xdist>=3", "ruff", "mypy", "import-linter>=2.1", "py-spy>=0.3"],
        "bench": ["pin-pink>=3", "mink>=0.0.5", "daqp", "qpsolvers"],
        "tensorrt": ["torch-tensorrt"],
    },
    entry_points={
        "console_scripts": [
            "abc-teleop=abc_robot.cli.teleop:main",
            "abc-rollout=abc_robot.cli.rollout:main",
            "abc-launch=abc_robot.cli.launch:main",
            "abc-bench=abc_robot.cli.bench:main",
            "abc-calibrate=abc_robot.cli.calibrate:main",
            "abc-replay=abc_robot.cli.replay:main",
            "abc-train=abc_robot.cli.train:main",
            "abc-eval=abc_robot.cli.eval:main",
            "abc-norm-stats=abc_robot.cli.norm_stats:main",
            "abc-convert=abc_robot.cli.convert:main",
            "abc-keys=abc_robot.cli.keyring:main",
            "abc-policy=abc_robot.cli.policy:main",
            "abc-chaos=abc_robot.cli.chaos:main",
            "abc-convert-gripper=abc_robot.cli.convert_gripper:main",
            "abc-rig=abc_robot.cli.rig:main",
        ]
    },
)
