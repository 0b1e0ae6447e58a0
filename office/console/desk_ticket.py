"""The concierge desk's printed ticket (pure): the same face as a dispenser's ticket.

The office may not import the dispenser's app (the apps are independent), so the desk lays its
ticket out here with the same drivers' blocks: the office's name, the purpose, the number large,
the time, the people ahead, and the QR code of the resident's page. Japanese, as the
dispenser's ticket is for the office's staff and most residents.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from common.i18n import purpose_name
from drivers.ticket_printer import QR, BigNumber, Block, PrintJob, Rule, Space, Text
from office.console import strings
from office.domain import Ticket
from sync.site import SiteConfig


def desk_job(config: SiteConfig, ticket: Ticket, people_ahead: int, est_wait_min: int | None) -> PrintJob:
    """The print job of a desk ticket."""
    ja = strings.gettext_for("ja")
    zone = zoneinfo.ZoneInfo(config.timezone)
    blocks: list[Block] = []
    if config.office_name:
        blocks.append(Text(config.office_name, size=26, align="center"))
    cat = config.find_category(ticket.category)
    name = purpose_name(cat.names, "ja") if cat is not None else ticket.category
    # 番 is how a Japanese ticket counts its number (1105番), as the dispenser's ticket prints it.
    blocks += [
        Rule(),
        Text(name, size=40, align="center", bold=True),
        BigNumber(str(ticket.number), suffix="番", size=190),
    ]
    issued = datetime.fromtimestamp(ticket.issued_ms / 1000, zone)
    blocks.append(Text(ja(strings.DESK_ISSUED).format(time=f"{issued:%Y-%m-%d %H:%M}"), size=26, align="center"))
    if people_ahead == 0:
        line = ja(strings.DESK_NO_WAIT)
    elif est_wait_min is not None:
        line = ja(strings.DESK_AHEAD).format(people=people_ahead, minutes=est_wait_min)
    else:
        line = ja(strings.DESK_AHEAD_ONLY).format(people=people_ahead)
    blocks += [Text(line, size=30, align="center"), Space(8)]
    if ticket.token:
        url = config.dispenser.progress_url.replace("{token}", ticket.token)
        blocks += [QR(url, module=5), Text(ja(strings.DESK_SCAN), size=24, align="center")]
    blocks.append(Space(24))
    return PrintJob(job_id=ticket.ticket_id, blocks=tuple(blocks))
