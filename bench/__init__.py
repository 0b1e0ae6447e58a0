"""The benchmarks (``make bench``): the sync spine (``run``), the store (``store_bench``), the
dispenser appliance (``dispenser_bench``), the train board (``board_bench``, ``board_frames``),
the staff console under load (``console_bench``), the resident's page (``public_bench``), a
technician's pairing (``pairing_bench``), the package's install time (``install_bench``), the
statistics (``stats_bench``), the ward's centre catching up (``ward_bench``), the registry at
ward scale (``registry_bench``), a year unattended at accelerated time (``year``), and what
they share (``rig``). bench/README.md says what each figure covers.

Imports: every package of the project (it stands on top, with lobby's broker runners), and
some of the tests' helpers - ``harness``, ``pairing_rig``, ``console_harness``, ``ward_rig`` -
by putting tests/ on ``sys.path`` (``pairing_bench``, ``stats_bench``, ``ward_bench``), so
those benches run from a source checkout only. Nothing imports it but the tools in scripts/
(``scripts/board_screenshots.py``) and the year's test (``tests/test_year.py``, on ``year``).
"""
