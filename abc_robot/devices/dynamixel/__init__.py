"""Dynamixel (Protocol 2.0) devices: the bus, the GELLO leader reader, the follower arm."""
