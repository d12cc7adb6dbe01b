"""The IPsec data plane: SAs, the ESP and AH codecs, anti-replay, IPv4 helpers.

Codecs are functions of (SA, packet) whose crypto runs as jobs on the SA's crypto engine
(:mod:`driver.api`). The SA database and the router's packet path build on these.
"""
