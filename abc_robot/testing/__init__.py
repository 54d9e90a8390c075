"""Emulated devices for tests and demos: they speak the real protocols, on a pty or a virtual CAN bus."""
