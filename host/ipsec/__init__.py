"""The IPsec data plane: SAs, the ESP and AH codecs, anti-replay, IPv4 helpers.

Codecs are functions of (SA, packet) whose crypto runs as jobs on the SA's crypto engine
(:mod:`driver.api`); nothing here calls a crypto library directly. The SA database and the
router's packet path build on these pieces:

- :class:`~host.ipsec.sa.SecurityAssociation`: one unidirectional SA (keys, transforms, mode,
  SPI, conn id and engine via ``install``/``uninstall``, sequence number, anti-replay window,
  ``show crypto ipsec sa`` counters); :class:`~host.ipsec.sa.Drop` and
  :class:`~host.ipsec.sa.DropReason` for every counted drop.
- :mod:`~host.ipsec.esp` and :mod:`~host.ipsec.ah`: ``prepare_outbound`` / ``prepare_inbound``
  (a :class:`~host.ipsec.burst.Step` or a Drop) and the one-packet ``encapsulate`` /
  ``decapsulate``.
- :func:`~host.ipsec.burst.run_burst`: runs the steps of a burst, one engine run per engine.
- :func:`~host.ipsec.bundle.protect` / :func:`~host.ipsec.bundle.unprotect`: transform sets with
  ESP inside AH, in bursts, with the inbound SAs found through a lookup callable.
- :mod:`~host.ipsec.ipv4`: header parse/build, checksum, ``fragment`` and ``Reassembler``.
- :class:`~host.ipsec.replay.ReplayWindow`: the 64-packet anti-replay window.

Inbound codecs take whole (reassembled) datagrams and never raise on packet content: every
failure is a :class:`~host.ipsec.sa.Drop` counted on the SA.
"""
