"""The demo's staff accounts (one password for all): the town demo's console and the ward demo's
centre sign in with the same names."""

from __future__ import annotations

from typing import Any

DEMO_PASSWORD = "madoguchi-demo"
DEMO_STAFF = (
    ("clerk1", "窓口 一郎", "clerk"),
    ("clerk2", "窓口 二郎", "clerk"),
    ("input1", "入力 花子", "input"),
    ("floor1", "フロア 三郎", "floor"),
    ("admin", "管理 太郎", "admin"),
)


def demo_accounts(office: Any) -> None:
    """Add the demo's accounts to ``office``'s store (those already there stay as they are)."""
    from office.staff_store import StaffStore, hash_password

    hashed = hash_password(DEMO_PASSWORD)  # once: Argon2 is slow on purpose
    with office.db.transaction():
        store = StaffStore(office.db.conn)
        for username, name, role in DEMO_STAFF:
            if store.user(username) is None:
                store.add_user_hashed(username, name, role, hashed, 0)
