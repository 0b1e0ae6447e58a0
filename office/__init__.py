"""The office server: the authority the lobby devices sync with.

Its loop (``server``), the SQLite store (``db``), the domain of tickets, routes and progress
(``domain``, pure), what a device event does (``intake``), staff commands (``commands``,
``staff``, simulated staff ``simstaff``), number leases (``leasing``, ``lease_keeper``), wait
estimates (``estimate``), the published documents (``snapshots``), the certificate service for
kiosks (``kiosk_service``, ``issuance``, the registry store ``registry_store``), enrolment and
the broker's security (``pki``, ``enrolment``, ``enrol_http``, ``broker_security``), the site
configuration file (``config``) and the command line (``cli``, ``registry_cli``, ``stats_cli``,
``ward_cli``); the ticket log (``ticket_log``) and the statistics made from it (the ``stats``
package), the staff console (the ``console`` package); a ward's brokers, central consumer and
figures (``ward_bridge``, ``ward_consumer``, ``ward_stats``).

Imports: common, sync, certificates, drivers and firmware_profiles - never another app.
"""
