"""The kiosk's text: one JSON catalogue per language, every key in both.

>>> cat = Catalogue.load()
>>> cat.text("zh", "ticket.ahead", ahead=3), cat.text("en", "ticket.ahead", ahead=3)
('前面还有 3 人', '3 people ahead of you')
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from kiosk_ui.errors import KioskError

LANGUAGES = ("zh", "en")


@dataclass(frozen=True)
class Catalogue:
    texts: dict[str, dict[str, str]]

    @classmethod
    def load(cls) -> Catalogue:
        """Read every language's catalogue; raise :class:`KioskError` when one lacks a key the other has."""
        texts: dict[str, dict[str, str]] = {}
        for lang in LANGUAGES:
            name = f"{lang}.json"
            try:
                raw = resources.files("kiosk_ui.i18n").joinpath(name).read_text(encoding="utf-8")
                data = json.loads(raw)
            except (OSError, json.JSONDecodeError) as exc:
                raise KioskError(f"kiosk catalogue {name}: {exc}") from exc
            if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
                raise KioskError(f"kiosk catalogue {name}: must be an object of strings")
            texts[lang] = data
        keys = [set(t) for t in texts.values()]
        for lang, mine in zip(LANGUAGES, keys, strict=True):
            missing = set().union(*keys) - mine
            if missing:
                raise KioskError(f"kiosk catalogue {lang}.json lacks {', '.join(sorted(missing))}")
        return cls(texts)

    def text(self, lang: str, key: str, **values: Any) -> str:
        """The text of ``key`` in ``lang`` with ``{placeholders}`` filled; an unknown key is an error."""
        try:
            template = self.texts[lang][key]
        except KeyError:
            raise KioskError(f"no text {key!r} in language {lang!r}") from None
        return template.format(**values) if values else template
