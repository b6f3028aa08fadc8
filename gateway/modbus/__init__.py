"""Modbus polling: register maps from profiles, coalesced reads, one connection per host:port."""
