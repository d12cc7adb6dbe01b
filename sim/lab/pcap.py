"""A libpcap capture file writer (the classic format of tcpdump and Wireshark).

File header (24 bytes, little-endian here): magic ``0xa1b2c3d4`` (microsecond timestamps),
version 2.4, thiszone 0, sigfigs 0, snaplen, link type. Each record: seconds, microseconds,
captured length, original length, then the bytes. The lab captures IPv4 datagrams with no link
header: link type ``LINKTYPE_RAW`` (101), which Wireshark, tshark and Scapy read as raw IP.

Timestamps are the lab's virtual time added to :data:`EPOCH`, so captures of the same run are
byte-identical.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

__all__ = ["PcapWriter", "LINKTYPE_RAW", "EPOCH", "MAGIC"]

MAGIC = 0xA1B2C3D4
LINKTYPE_RAW = 101
"""Raw IP: each packet starts with its IPv4 (or IPv6) header (tcpdump.org link-layer types)."""
EPOCH = 1_767_225_600
"""2026-01-01 00:00:00 UTC: virtual time 0 in the capture's timestamps."""
_FILE_HEADER = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")


class PcapWriter:
    """Writes packets to one pcap file; use as a context manager or call :meth:`close`.

    ``snaplen`` is the largest number of bytes kept per packet (longer packets are cut and the
    record keeps their original length, as libpcap does)."""

    def __init__(self, path: str | Path, *, linktype: int = LINKTYPE_RAW, snaplen: int = 65535) -> None:
        self.path = Path(path)
        self.snaplen = snaplen
        self.count = 0
        self._file: BinaryIO = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        self._file.write(_FILE_HEADER.pack(MAGIC, 2, 4, 0, 0, snaplen, linktype))

    def write(self, time: float, packet: bytes) -> None:
        """Record ``packet`` seen at virtual ``time`` (seconds since the start of the run)."""
        micros = round(time * 1_000_000)
        if micros < 0:
            raise ValueError(f"negative capture time {time}")
        seconds, micros = divmod(micros, 1_000_000)
        kept = packet[: self.snaplen]
        self._file.write(_RECORD.pack(EPOCH + seconds, micros, len(kept), len(packet)))
        self._file.write(kept)
        self.count += 1

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
