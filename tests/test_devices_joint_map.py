"""Motor ↔ joint coordinates shared by the arm drivers (property tests)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from abc_robot.devices.joint_map import JointMap

SIX = hnp.arrays(np.float64, 6, elements=st.floats(-3.0, 3.0))
SIGNS = hnp.arrays(np.float64, 6, elements=st.sampled_from([1.0, -1.0]))


@settings(max_examples=80, deadline=None)
@given(SIX, SIGNS, SIX, st.floats(0.0, 1.0), st.floats(-2.0, 2.0), st.floats(0.5, 6.0), st.booleans())
def test_joints_and_motors_are_inverse(off, signs, q6, g, closed, travel, backwards) -> None:
    opened = closed - travel if backwards else closed + travel
    m = JointMap(off, signs, closed, opened)
    q = np.append(q6, g)
    theta = m.motors(q)
    np.testing.assert_allclose(m.joints(theta), q, atol=1e-9)
    assert theta[6] == pytest.approx(closed + g * (opened - closed))
    # Rates: a small motion maps like the angles do.
    dq = m.rates(np.ones(7))
    np.testing.assert_allclose(dq[:6], signs)
    assert dq[6] == pytest.approx(1.0 / (opened - closed))
    assert m.efforts(np.ones(7))[6] == (-1.0 if backwards else 1.0)


def test_gripper_is_clipped_and_shapes_checked() -> None:
    m = JointMap(np.zeros(6), np.ones(6), 1.0, 2.0)
    assert m.joints(np.append(np.zeros(6), 5.0))[6] == 1.0 and m.joints(np.append(np.zeros(6), -5.0))[6] == 0.0
    m.off[2] += 2 * np.pi  # a driver resolving a turn moves one offset by a whole turn
    assert m.joints(np.full(7, 1.5))[2] == pytest.approx(1.5 - 2 * np.pi)
    with pytest.raises(ValueError, match="6 values"):
        JointMap(np.zeros(5), np.ones(6), 0.0, 1.0)
