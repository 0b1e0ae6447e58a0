"""The whole lobby on one machine: the demo (``demo``; a ward of two branches and a centre,
``ward_demo``) and what it and the tests start: the broker runners (``brokers``: Mosquitto as a
child process, the embedded amqtt broker), PostgreSQL (``postgres``) and a WAN link that can be
cut (``wan_link``); and the demo's staff accounts (``accounts``).

Imports: every other package of the project (it sits on top); nothing imports it but the
benches, the tools in scripts/ and the tests.
"""
