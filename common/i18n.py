"""One gettext helper for every catalog of the lobby (the dispenser's, the kiosk's, the board's).

Each app keeps its own catalog - a gettext domain in its own ``locale/`` folder, extracted,
merged and compiled with Babel (``scripts/i18n.py``) - and reaches it through a
:class:`Catalog`. Message ids are English; Japanese is a translation like the others.

``N_("...")`` only marks a string for extraction and returns it unchanged; the screen
translates it where it is shown. A message whose wording depends on a count is marked
``NP_(singular, plural)`` and translated with ``catalog.ngettext_for(language)``.

Purpose, station and procedure names are not in any catalog: they come from the office's
configuration, in each language it provides (:func:`purpose_name`).
"""

from __future__ import annotations

import gettext
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import NamedTuple

# The six languages of the lobby, in the order the language bars show them.
LANGUAGES: tuple[str, ...] = ("ja", "en", "zh_CN", "ko", "vi", "pt")
# Each language's name written in itself, for the language bars.
NATIVE_NAMES: Mapping[str, str] = {
    "ja": "日本語",
    "en": "English",
    "zh_CN": "简体中文",
    "ko": "한국어",
    "vi": "Tiếng Việt",
    "pt": "Português",
}


class Plural(NamedTuple):
    """A message whose wording depends on a count: the English singular and plural ids."""

    singular: str
    plural: str


def N_(message: str) -> str:
    """Mark ``message`` for translation; it is translated where it is shown."""
    return message


def NP_(singular: str, plural: str) -> Plural:
    """Mark a message whose wording depends on a count (translated with ``ngettext``)."""
    return Plural(singular, plural)


@cache
def _translation(domain: str, locale_dir: Path, language: str) -> gettext.NullTranslations:
    # Cached per (catalog, language): screens ask for a language on every redraw.
    return gettext.translation(domain, localedir=locale_dir, languages=[language], fallback=True)


@dataclass(frozen=True)
class Catalog:
    """An app's gettext domain and the folder its compiled catalogs live in."""

    domain: str
    locale_dir: Path

    def translation(self, language: str) -> gettext.NullTranslations:
        """The catalog of ``language`` (English falls back to the message ids themselves)."""
        if language not in LANGUAGES:
            raise ValueError(f"unsupported language {language!r}; choose one of {', '.join(LANGUAGES)}")
        return _translation(self.domain, self.locale_dir, language)

    def gettext_for(self, language: str) -> Callable[[str], str]:
        """The ``_`` function of a language."""
        return self.translation(language).gettext

    def ngettext_for(self, language: str) -> Callable[[str, str, int], str]:
        """The plural-aware ``ngettext`` of a language."""
        return self.translation(language).ngettext

    def plural(self, language: str, message: Plural, n: int) -> str:
        """``message`` in ``language`` in the form a count of ``n`` takes (placeholders kept)."""
        return self.ngettext_for(language)(message.singular, message.plural, n)


def purpose_name(names: Mapping[str, str], language: str) -> str:
    """A purpose's name in ``language``, falling back to English, then Japanese."""
    for key in (language, language.split("_")[0], "en", "ja"):
        if names.get(key):
            return names[key]
    return next(iter(names.values()), "")
