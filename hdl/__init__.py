"""The crypto engine in Amaranth: DES, CBC scheduling, MD5, SHA-1, HMAC, SA context memory, job
streams, and the data layouts of the hardware/software interface (:mod:`hdl.layouts`).

Imports nothing of the project's other packages."""
