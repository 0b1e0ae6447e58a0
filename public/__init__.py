"""The resident's progress page (``madoguchi-public``): a small process on the internet-facing
network that the office feeds one way with what a resident may see (docs/public.md).

Pure core (no I/O, no clock; tests/test_public_core.py keeps it so):

* :mod:`public.feed` - the held feed and what a new one does to it, the day's end, the look-up
  of a ticket by its token;
* :mod:`public.view` - what each page shows, in words, in the six languages;
* :mod:`public.strings` - the page's gettext catalogue (domain ``public``, ``public/locale``).

At the edges:

* :mod:`public.pages` - Jinja2 templates (``public/templates``) with the style and script inline;
* :mod:`public.hub` - the held value of a running process (one writer), the open event streams
  waiting for their page to change, and the keeper that puts the feed on disk;
* :mod:`public.store` - ``feed.json`` in the data directory, written atomically, locked;
* :mod:`public.app` - the Starlette app: pages, event streams, ``POST /feed``;
* :mod:`public.cli` - ``madoguchi-public serve``.

Imports: common and sync (the feed's models) - never the office or another app; it never
connects to the office.
"""
