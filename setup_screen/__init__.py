"""The first-boot setup screen of a new lobby device (``madoguchi-setup``): the role, detection,
the hardware found, the pairing code, the self-test, the start.

Its pure state machine (``flow``), the Kivy screen and its command line (``app``;
``madoguchi-setup`` is ``setup_screen.app:main``) and the catalog of its texts (``strings``).

Imports: common, sync, drivers and firmware_profiles (the pairing and provisioning flow) - never
another app.
"""
