"""The lobby train board (案内モニター): each ticket a train moving station by station.

What the board shows, decided without a window (``model``, pure), its clock work - calls,
captions, screen power (``controller``), the Kivy board (``app``) and the command line
(``cli``).

Imports: common, sync, drivers and firmware_profiles - never another app.
"""
