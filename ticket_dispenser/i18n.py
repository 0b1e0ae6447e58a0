"""Every string a resident reads goes through gettext: catalogs in ticket_dispenser/locale.

Message ids are English; Japanese is a translation like the others. Purpose names are not
here: they come from the office's configuration, in each language it provides.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path

DOMAIN = "madoguchi"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
# The six languages of the lobby, in the order the language bar shows them.
LANGUAGES: tuple[str, ...] = ("ja", "en", "zh_CN", "ko", "vi", "pt")
# Each language's name written in itself, for the language bar.
NATIVE_NAMES: Mapping[str, str] = {
    "ja": "日本語",
    "en": "English",
    "zh_CN": "简体中文",
    "ko": "한국어",
    "vi": "Tiếng Việt",
    "pt": "Português",
}


@cache
def translation(language: str) -> gettext.NullTranslations:
    """The catalog of ``language`` (English falls back to the message ids themselves)."""
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}; choose one of {', '.join(LANGUAGES)}")
    return gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[language], fallback=True)


def gettext_for(language: str) -> Callable[[str], str]:
    """The ``_`` function of a language."""
    return translation(language).gettext


def ngettext_for(language: str) -> Callable[[str, str, int], str]:
    """The plural-aware ``ngettext`` of a language."""
    return translation(language).ngettext


def purpose_name(names: Mapping[str, str], language: str) -> str:
    """A purpose's name in ``language``, falling back to English, then Japanese."""
    for key in (language, language.split("_")[0], "en", "ja"):
        if names.get(key):
            return names[key]
    return next(iter(names.values()), "")
