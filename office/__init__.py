"""The office server: the authority the lobby devices sync with.

The server (``server``: its loop - the turn, the routing of what arrives, device statuses,
lease top-ups, the resident page's feed, the simulated staff's pace, publishing after the
commit), the store (``db`` on SQLite or PostgreSQL through ``sql``), the domain of tickets,
routes and progress (``domain``, pure), what a device event does (``intake``), how staff come in
- a terminal's command, a console's action, a sign-in, each in its own transaction with its
answer stored and audited (``staff_door``) - and what their commands and actions do
(``commands``, ``actions``, carried out by ``staff``; simulated staff ``simstaff``), staff
accounts, sessions and the audit log (``staff_store``), what the staff
screens show (``floor``, pure; ``staff_view``), the concierge desk's tickets (``desk``), number
leases (``leasing``, ``lease_keeper``), wait estimates (``estimate``), the published documents
(``snapshots``), the resident's page feed (``public_feed``, pure; pushed by ``public_push``),
who a device is and what it may say (``identity``), the certificate service for kiosks
(``kiosk_service``, ``issuance``, the registry store ``registry_store``), enrolment, pairing
and the broker's security (``pki``, ``enrolment``, ``enrol_http``, ``device_pairing``,
``broker_security``), the signed apt repository for the devices' updates (``apt_repo``), the
site configuration file (``config`` with its ``default_site.toml``) and the command line
(``cli``, ``registry_cli``, ``stats_cli``, ``ward_cli``); the ticket log (``ticket_log``) and the
statistics made from it (the ``stats`` package), the staff console (the ``console`` package);
a ward (docs/ward.md): its brokers (``ward_bridge``), the centre's consumer into PostgreSQL
(``ward_consumer``), figures (``ward_stats``) and desk (``ward_desk``), and a branch's side - its
ticket log up to the centre and the centre's case actions taken in (``ward_branch``), checked by
its half of the shared input centre (``ward_input``).

Imports: common, sync, certificates, drivers and firmware_profiles - never another app.
"""
