"""Device drivers (printers, serial devices, card readers), each with a behavioural fake."""
