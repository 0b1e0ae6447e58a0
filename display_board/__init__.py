"""The lobby train board (案内モニター). The board app arrives with its own issue; this is its package."""
