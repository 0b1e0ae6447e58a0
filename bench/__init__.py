"""The benchmarks (``make bench``): the sync spine (``run``), the store (``store_bench``), the
dispenser appliance (``dispenser_bench``), the train board (``board_bench``, ``board_frames``),
and what they share (``rig``). bench/README.md says what each figure covers.

Imports: every package of the project (it stands on top, with lobby's broker runners); nothing
imports it but the tools in scripts/.
"""
