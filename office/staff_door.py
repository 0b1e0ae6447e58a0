"""The office loop's door for staff: a terminal's command, a console's action, a sign-in.

Each is carried out in a transaction of its own on the loop's thread, with its answer stored
beside it (a resend of the same request id gets the stored answer, never a second change) and a
line in the audit log naming who, at which counter, and what came of it. What the actions do is
office/staff.py's (StaffDesk); this module is how they come in and how they are recorded.
"""

from __future__ import annotations

import json
import logging
import zoneinfo
from collections import Counter as Tally
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from typing import Any

import msgspec

from office import actions, commands
from office.db import OfficeDB
from office.domain import CommandError
from office.staff import Reply, StaffDesk
from sync import messages, protocol
from sync.site import SiteConfig

log = logging.getLogger(__name__)

FAILED = "the office could not carry that out; the error is in its log"


class StaffDoor:
    """Staff commands, console actions and sign-ins, each once, each audited."""

    def __init__(
        self,
        config: SiteConfig,
        db: OfficeDB,
        desk: StaffDesk,
        *,
        wall_ms: Callable[[], int],
        business_day: Callable[[int], str],
        changed: Callable[[], None],
        activity: Callable[[str], None],
        stats: Tally[str],
    ) -> None:
        self.config = config
        self.db = db
        self.desk = desk
        self.wall_ms = wall_ms
        self.business_day = business_day
        self.changed = changed  # the loop's snapshots and screens must follow
        self.activity = activity
        self.stats = stats
        self.tz = zoneinfo.ZoneInfo(config.timezone)

    def command(self, terminal: str, doc: messages.StaffCommand) -> messages.StaffReply:
        """A terminal's command in words: carried out once (a resend gets the stored answer)."""
        reply = self._stored_reply(doc.request_id)
        if reply is None:
            try:
                with self.db.transaction():
                    message = self.execute(commands.parse(doc.command), terminal)
                    reply = messages.StaffReply(request_id=doc.request_id, ok=True, message=message)
                    self.db.save_staff_reply(doc.request_id, doc.command, protocol.to_builtins(reply), self.wall_ms())
                    self.desk.staff.audit(
                        self.wall_ms(),
                        f"terminal:{terminal}",
                        None,
                        "command",
                        detail={"command": doc.command[:200], "reply": message[:200]},
                        request_id=doc.request_id,
                    )
            except CommandError as err:
                reply = messages.StaffReply(request_id=doc.request_id, ok=False, message=str(err)[:2000])
            except Exception:  # the clerk gets an answer whatever went wrong
                self.stats["staff_errors"] += 1
                log.exception("staff command %r failed", doc.command)
                reply = messages.StaffReply(request_id=doc.request_id, ok=False, message=FAILED)
            self.activity(f"staff {terminal}: {doc.command} -> {reply.message}")
        return reply

    def _stored_reply(self, request_id: str) -> messages.StaffReply | None:
        """The answer already given to ``request_id`` (a terminal resending), if any."""
        stored = self.db.staff_reply(request_id)
        if stored is None:
            return None
        reply = protocol.from_stored("staff_reply", stored)
        return reply if isinstance(reply, messages.StaffReply) else None

    def execute(self, cmd: commands.Command, terminal: str = "terminal") -> str:
        """Carry out a staff command (inside the caller's transaction); returns the reply."""
        now = self.wall_ms()
        self.changed()
        return self.desk.execute(cmd, now, self.business_day(now), terminal)

    def action(self, action: actions.Action, actor: actions.Actor, future: Future[Reply]) -> None:
        """One console action: its own transaction; the answer stored with it, then given."""
        if future.done():
            return  # the console gave up on it (it was cancelled before the loop got to it)
        stored = self.db.staff_reply(action.request_id)
        if stored is not None:
            self.stats["staff_retries"] += 1
            future.set_result(_stored(stored))
            return
        now = self.wall_ms()
        name = actions.name(action)
        ticket = getattr(action, "ticket_id", None)
        fields = {k: v for k, v in msgspec.to_builtins(action).items() if k != "password_hash"}  # not even a hash
        command = json.dumps({"by": actor.username, "action": fields}, ensure_ascii=False)
        try:
            with self.db.transaction():
                reply = self.desk.perform(action, actor, now, self.business_day(now))
                detail = {"reply": str(reply), **({"ref": action.ref} if hasattr(action, "ref") else {})}
                self.desk.staff.audit(
                    now,
                    actor.username,
                    actor.counter,
                    name,
                    ticket_id=reply.ticket_id or ticket,
                    detail=detail,
                    request_id=action.request_id,
                )
                self.db.save_staff_reply(action.request_id, command, _reply_json(reply), now)
            self.changed()
        except CommandError as err:
            reply = Reply(err.template, err.params, ticket, ok=False)
            try:
                with self.db.transaction():
                    self.desk.staff.audit(
                        now,
                        actor.username,
                        actor.counter,
                        name,
                        ticket_id=ticket,
                        ok=False,
                        detail={"refused": str(err)},
                        request_id=action.request_id,
                    )
                    self.db.save_staff_reply(action.request_id, command, _reply_json(reply), now)
            except Exception:
                log.exception("office: could not record a refused staff action")
        except Exception:  # the clerk gets an answer whatever went wrong; a retry may succeed
            self.stats["staff_errors"] += 1
            log.exception("staff action %s by %s failed", name, actor.username)
            reply = Reply(FAILED, {}, ticket, ok=False)
        self.activity(f"console {actor.username}: {name} -> {reply}")
        future.set_result(reply)

    def session(self, change: actions.SignIn | actions.SignOut, future: Future[Reply]) -> None:
        """A console signing in or out (the console checked the password; the lockout is ours)."""
        now = self.wall_ms()
        console = self.config.console
        try:
            with self.db.transaction():
                reply = self._sign(change, now, console)
        except Exception:
            self.stats["staff_errors"] += 1
            log.exception("office: a sign-in could not be written")
            reply = Reply(FAILED, {}, ok=False)
        future.set_result(reply)

    def _sign(self, change: actions.SignIn | actions.SignOut, now: int, console: Any) -> Reply:
        store = self.desk.staff
        if isinstance(change, actions.SignOut):
            session = store.session(change.key, now)
            store.end_session(change.key, now)
            if session is not None:
                store.audit(now, session.username, session.counter, "sign_out")
            return Reply("signed out")
        user = store.user(change.username)
        refused = Reply("wrong user name or password", ok=False)
        if user is None:
            store.audit(now, None, change.counter, "sign_in", ok=False, detail={"unknown_user": change.username[:40]})
            return refused
        if user.disabled:
            store.audit(now, user.username, change.counter, "sign_in", ok=False, detail="disabled")
            return refused
        if user.locked(now):
            store.audit(now, user.username, change.counter, "sign_in", ok=False, detail="locked")
            until = datetime.fromtimestamp(user.locked_until_ms / 1000, self.tz).strftime("%H:%M")
            return Reply("too many wrong passwords: this account is locked until {until}", {"until": until}, ok=False)
        if not change.password_ok:
            after = store.failed_sign_in(
                user.username, now, limit=console.lockout_failures, lock_ms=console.lockout_minutes * 60_000
            )
            store.audit(now, user.username, change.counter, "sign_in", ok=False, detail="wrong password")
            if after is not None and after.locked(now):
                self.activity(f"staff account {user.username} locked after wrong passwords")
            return refused
        if change.counter is not None and self.config.find_counter(change.counter) is None:
            return Reply("there is no counter {number}", {"number": change.counter}, ok=False)
        store.signed_in(user.username)
        store.open_session(
            change.key, user.username, change.counter, change.csrf, now, console.session_hours * 3_600_000
        )
        store.audit(now, user.username, change.counter, "sign_in")
        return Reply("signed in")


def _reply_json(reply: Reply) -> dict[str, Any]:
    return {"ok": reply.ok, "template": reply.template, "params": dict(reply.params), "ticket_id": reply.ticket_id}


def _stored(stored: dict[str, Any]) -> Reply:
    """The answer a request was given the first time (the same request again)."""
    if "template" not in stored:  # a terminal's command used the id: not this console's request
        return Reply("that request was already used; reload the page", ok=False)
    return Reply(
        str(stored["template"]), dict(stored.get("params") or {}), stored.get("ticket_id"), ok=bool(stored["ok"])
    )
