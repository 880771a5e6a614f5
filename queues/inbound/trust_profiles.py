"""The trust profiles in force: the shipped ones (mappings/trusts/) and a site's own folder
(S117_TRUST_PROFILES), read from disk and kept up to date. The schema and parsing are
mappings.hl7v2.profiles (pure); reading and watching files is here, next to the decoder that
uses them."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

import yaml

from mappings.hl7v2.profiles import DEFAULT, Profile, parse
from register.errors import InvalidData

log = logging.getLogger("s117.mappings")
# The profiles shipped with the register (YAML data in the mappings package).
SHIPPED = Path(str(resources.files("mappings") / "trusts"))


def load_file(path: Path) -> Profile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidData(f"{path.name}: not YAML ({exc})", field=path.name) from None
    return parse(data, path.name)


class Profiles:
    """Every profile in the shipped directory and the site's own, by sender (MSH-4).

    Files are re-read when one changes (checked by modification time on each lookup), so a
    corrected profile applies to the next message and to replays without a restart."""

    def __init__(self, *directories: Path | None) -> None:
        self.directories = [d for d in (SHIPPED, *directories) if d is not None]
        self._signature: tuple[tuple[str, float], ...] | None = None
        self._by_sender: dict[str, Profile] = {}

    def _files(self) -> list[Path]:
        return sorted(p for d in self.directories if d.is_dir()
                      for p in (*d.glob("*.yaml"), *d.glob("*.yml")))

    def _refresh(self) -> None:
        files = self._files()
        signature = tuple((str(p), p.stat().st_mtime) for p in files)
        if signature == self._signature:
            return
        try:
            self._by_sender = self._load(files)
        except InvalidData as exc:
            if self._signature is None:
                raise
            # A profile broken while running: keep mapping with the last good set rather
            # than refusing every message; the next edit is picked up again.
            log.error("trust profiles not reloaded, the previous ones stay in use: %s", exc)
        self._signature = signature

    @staticmethod
    def _load(files: list[Path]) -> dict[str, Profile]:
        by_sender: dict[str, Profile] = {}
        origin: dict[str, str] = {}
        for path in files:
            profile = load_file(path)
            for sender in profile.senders:
                if sender in by_sender:
                    raise InvalidData(f"{path.name}: sender {sender} is already mapped by "
                                      f"{origin[sender]}", field=path.name)
                by_sender[sender], origin[sender] = profile, path.name
        return by_sender

    def for_sender(self, sender: str) -> Profile:
        self._refresh()
        return self._by_sender.get(sender.upper(), DEFAULT)

    def all(self) -> dict[str, Profile]:
        self._refresh()
        return dict(self._by_sender)
