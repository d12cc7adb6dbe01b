"""The one error a lab run reports to its user: what is wrong, and where (file and key)."""

from __future__ import annotations

__all__ = ["LabError"]


class LabError(Exception):
    """A lab that cannot run: a bad lab file, an unreadable config file, a refused config line,
    an unknown engine. ``where`` names the file and the key path (``lab.yaml: traffic[2].dport``);
    ``str()`` gives the whole message as ``esa lab run`` prints it."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        self.message = message
