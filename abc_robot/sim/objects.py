"""Task objects: small rigid bodies described as plain data, added to the scene.

A task lists its objects (:meth:`abc_robot.sim.tasks.Task.objects`); the scene builder
gives each a free joint, so an object's pose lives in ``qpos`` and a camera process
that only receives ``qpos`` renders it where physics put it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["GeomSpec", "SceneObject", "box_object", "cylinder_object", "bin_object"]

GeomKind = Literal["box", "cylinder", "sphere", "capsule"]
RGBA = tuple[float, float, float, float]


@dataclass(frozen=True)
class GeomSpec:
    """One collision+visual geom of an object, in the object's body frame.

    Attributes:
        kind: MuJoCo geom type.
        size: MuJoCo size (box: half extents [m]; cylinder/capsule: radius, half length [m];
            sphere: radius [m]).
        pos: position in the body frame [m].
        rgba: colour.
    """

    kind: GeomKind
    size: tuple[float, ...]
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rgba: RGBA = (0.8, 0.2, 0.2, 1.0)


@dataclass(frozen=True)
class SceneObject:
    """A free-floating rigid object.

    Attributes:
        name: body name in the scene (also its free joint's name, ``<name>_free``).
        geoms: its geoms; the body's inertia is computed from them and ``mass``.
        mass: total mass [kg].
        friction: sliding friction coefficient [1] (MuJoCo's first friction value).
        bottom_z: height of the object's lowest point below its body origin [m], so
            a task can put it on the table: ``z = table_top + bottom_z``.
    """

    name: str
    geoms: tuple[GeomSpec, ...]
    mass: float
    friction: float = 1.2
    bottom_z: float = 0.0

    def __post_init__(self) -> None:
        if not self.geoms:
            raise ValueError(f"object {self.name!r} has no geoms")
        if self.mass <= 0:
            raise ValueError(f"object {self.name!r}: mass must be > 0 kg, got {self.mass}")


def box_object(name: str, half_m: tuple[float, float, float], mass: float, rgba: RGBA) -> SceneObject:
    """A box with half extents ``half_m`` [m] and origin at its centre."""
    return SceneObject(name, (GeomSpec("box", half_m, rgba=rgba),), mass, bottom_z=half_m[2])


def cylinder_object(name: str, radius_m: float, half_len_m: float, mass: float, rgba: RGBA) -> SceneObject:
    """An upright cylinder (a bottle, a can) with origin at its centre."""
    return SceneObject(name, (GeomSpec("cylinder", (radius_m, half_len_m), rgba=rgba),), mass, bottom_z=half_len_m)


def bin_object(
    name: str, inner_half_m: tuple[float, float], height_m: float, wall_m: float, mass: float, rgba: RGBA
) -> SceneObject:
    """An open box (floor + four walls) with origin at the centre of its floor's underside."""
    hx, hy = inner_half_m
    w = wall_m / 2
    hz = height_m / 2
    geoms = (
        GeomSpec("box", (hx + wall_m, hy + wall_m, w), (0.0, 0.0, w), rgba),
        GeomSpec("box", (w, hy + wall_m, hz), (hx + w, 0.0, hz), rgba),
        GeomSpec("box", (w, hy + wall_m, hz), (-hx - w, 0.0, hz), rgba),
        GeomSpec("box", (hx, w, hz), (0.0, hy + w, hz), rgba),
        GeomSpec("box", (hx, w, hz), (0.0, -hy - w, hz), rgba),
    )
    return SceneObject(name, geoms, mass, friction=0.8, bottom_z=0.0)
