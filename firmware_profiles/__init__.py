"""Hardware models and device roles as data. Provisioning arrives with its own issue."""
