"""One transition in the making: :class:`Tx` holds the new state and the effects so far, and
the moves every step uses (enter a step, restart its clock, journal, count money, open a session).

A Tx lives only inside one call of the flow's entry points, so the flow stays pure.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Any

from kiosk.flow.constants import Step
from kiosk.flow.effects import Effect, Journal, JournalEntry, JsonScalar, Speak
from kiosk.flow.errors import FlowStateError
from kiosk.flow.options import CertificateOptions, default_options
from kiosk.flow.state import Kiosk, Session


class Tx:
    """Accumulates the new state and the effects of one transition (local to it: still pure)."""

    def __init__(self, state: Kiosk, now_ms: int) -> None:
        self.s = state
        self.now = now_ms
        self.fx: list[Effect] = []

    @property
    def session(self) -> Session:
        """The open session; callers check there is one first, so its absence is a bug."""
        if self.s.session is None:
            raise FlowStateError(f"no open session in step {self.s.step.value}")
        return self.s.session

    def emit(self, *effects: Effect) -> None:
        """Add effects, to run after those already emitted."""
        self.fx.extend(effects)

    def set(self, **changes: Any) -> None:
        """Change fields of the kiosk state."""
        self.s = replace(self.s, **changes)

    def sess(self, **changes: Any) -> None:
        """Change fields of the open session."""
        self.s = replace(self.s, session=replace(self.session, **changes))

    def journal(self, entry_kind: str, /, **data: JsonScalar) -> JournalEntry:
        """Emit the session's next journal record (written before any effect emitted after it)."""
        seq = self.session.journal_seq + 1
        entry = JournalEntry(self.session.session_id, seq, entry_kind, MappingProxyType(dict(data)))
        self.sess(journal_seq=seq)
        self.emit(Journal(entry))
        return entry

    def totals(self, **deltas: int) -> None:
        """Add to the kiosk-wide ledger (``inserted=100``)."""
        t = self.s.totals
        self.set(totals=replace(t, **{k: getattr(t, k) + v for k, v in deltas.items()}))

    def enter(self, step: Step, *, speak: str | None = None) -> None:
        """Go to ``step``: its clock starts, the notice clears, the prompt (or ``speak``) is said."""
        timeout = self.s.config.timeout_ms(step) if step not in (Step.LANGUAGE, Step.OUT_OF_SERVICE) else None
        self.set(
            step=step,
            deadline_ms=None if timeout is None else self.now + timeout,
            warned=False,
            notice=None,
        )
        self.emit(Speak(speak or step.value, self.s.language))

    def touch(self) -> None:
        """The resident did something: the step's clock starts again."""
        timeout = self.s.config.timeout_ms(self.s.step)
        if timeout is not None and self.s.deadline_ms is not None:
            self.set(deadline_ms=self.now + timeout, warned=False)


def new_session(tx: Tx, kind: str | None) -> None:
    """Open the next session (``kind`` None: one opened only to give money back)."""
    number = tx.s.session_no + 1
    sid = f"{tx.s.config.device_id}-{tx.s.boot_id}-{number:05d}"
    options = default_options(kind) if kind else CertificateOptions()
    tx.set(session=Session(session_id=sid, kind=kind, options=options), session_no=number)
