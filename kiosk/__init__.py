"""The self-service certificate kiosk (自動交付機). The kiosk app arrives with its own issue."""
