"""The lobby train board (案内モニター): each ticket a train moving station by station.

What the board shows, decided without a window (``model``, pure), where everything goes on a
screen of a given size (``scene``, pure), the font's character widths (``glyphs``, generated),
its clock work - calls, captions, screen power (``controller``), the Kivy board (``app``), the
catalog of its texts (``strings``) and the command line (``cli``).

Imports: common, sync and drivers (the layers would allow firmware_profiles; it needs none of
it) - never another app.
"""
