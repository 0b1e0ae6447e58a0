"""The whole lobby on one machine: the demo (``demo``) and the broker runners it and the tests
start (``brokers``: Mosquitto as a child process, the embedded amqtt broker).

Imports: every other package of the project (it sits on top); nothing imports it but the
benches, the tools in scripts/ and the tests.
"""
