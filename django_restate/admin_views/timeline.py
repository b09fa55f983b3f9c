"""An invocation's journal as a timeline: each command on one row with the completion that
answered it (a run and its result, a sleep and its wake-up, a call and its response), how long
that took, and a bar on one time axis shared by every row, like Restate's own UI draws it.

Built from :func:`.journal.timeline` (entries decoded there); failures and the entry an
invocation is retrying at are marked so the page can highlight them.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any

from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from .journal import TimelineEntry

#: The narrowest bar drawn, in percent of the axis, so an instant step stays visible.
MIN_BAR = 0.4


@dataclass
class Step:
    """One row of the timeline: a command and, once it has one, the completion that answered it."""

    command: TimelineEntry
    completions: list[TimelineEntry] = field(default_factory=list)
    #: Where the bar starts and how wide it is, in percent of the axis.
    offset: float = 0.0
    width: float = MIN_BAR
    #: Restate is retrying the invocation at this step (its last failure names it).
    retrying: bool = False
    #: The completions the command waits for.
    awaits: frozenset[int] = frozenset()

    @property
    def kind(self) -> str:
        """``Run``, ``Sleep``, ``Call``, ... (``Command: Run`` without its prefix)."""
        return self.command.entry_type.split(":", 1)[-1].strip()

    @property
    def label(self) -> str:
        """What the step is about: its name, the state key or promise it touches, or whom it calls."""
        fields = self.command.fields if isinstance(self.command.fields, Mapping) else {}
        return (
            self.command.name
            or self.command.promise_name
            or str(fields.get("key") or "")
            or (self.command.invoked_target or "")
        )

    @property
    def started(self) -> datetime.datetime | None:
        return self.command.appended_at

    @property
    def ended(self) -> datetime.datetime | None:
        """When the last completion arrived; the start for a command that needs none (set state)."""
        if self.completions:
            return self.completions[-1].appended_at
        return None if self.pending else self.started

    @property
    def pending(self) -> bool:
        """A command still waiting for its completion (a sleep not over, a call not answered)."""
        return bool(self.awaits) and not self.completions

    @property
    def duration(self) -> datetime.timedelta | None:
        if self.started is None or self.ended is None:
            return None
        return self.ended - self.started

    @property
    def duration_text(self) -> str:
        if self.pending:
            return "waiting"
        if self.duration is None:
            return ""
        millis = self.duration.total_seconds() * 1000
        return f"{millis:.0f} ms" if millis < 1000 else f"{millis / 1000:.2f} s"

    @property
    def failed(self) -> bool:
        """Its completion (or, for the output, its result) is a failure."""
        return any(has_failure(entry.fields) for entry in (self.command, *self.completions))


def completion_ids(fields: Any) -> set[int]:
    """The completion ids a command waits for (``completion_id``, ``result_completion_id``, ...)."""
    if not isinstance(fields, Mapping):
        return set()
    return {v for k, v in fields.items() if k.endswith("completion_id") and isinstance(v, int)}


def has_failure(fields: Any) -> bool:
    result = fields.get("result") if isinstance(fields, Mapping) else None
    return isinstance(result, Mapping) and "Failure" in result


def steps(entries: Iterable[TimelineEntry], invocation: Mapping[str, Any] | None = None) -> list[Step]:
    """Commands paired with their completions, on a shared time axis, oldest first."""
    rows: list[Step] = []
    waiting: dict[int, Step] = {}
    for entry in entries:
        if entry.is_command:
            step = Step(entry, awaits=frozenset(completion_ids(entry.fields)))
            rows.append(step)
            for completion_id in step.awaits:
                waiting[completion_id] = step
            continue
        fields = entry.fields if isinstance(entry.fields, Mapping) else {}
        answers = fields.get("completion_id")
        owner = waiting.get(answers) if isinstance(answers, int) else None
        if owner is not None:
            owner.completions.append(entry)
        else:  # a signal, a cancellation: no command asked for it
            rows.append(Step(entry))
    place(rows, invocation)
    return rows


def place(rows: list[Step], invocation: Mapping[str, Any] | None) -> None:
    """Bars on one axis from the first entry to the last (or now, while the invocation runs)."""
    times = [t for step in rows for t in (step.started, step.ended) if t is not None]
    if not times:
        return
    start, end = min(times), max(times)
    running = invocation is not None and invocation.get("status") != "completed"
    if running:
        end = max(end, datetime.datetime.now(datetime.UTC))
    span = (end - start).total_seconds() or 1.0
    for step in rows:
        if step.started is None:
            continue
        step.offset = min((step.started - start).total_seconds() / span * 100, 100 - MIN_BAR)
        finish = step.ended or (end if step.pending else step.started)
        step.width = max((finish - step.started).total_seconds() / span * 100, MIN_BAR)
        step.width = min(step.width, 100 - step.offset)
    if invocation is not None and invocation.get("last_failure") and invocation.get("status") != "completed":
        # Restate counts commands only (notifications have no command index).
        failing = invocation.get("last_failure_related_command_index")
        commands = [step for step in rows if step.command.is_command]
        if isinstance(failing, int) and 0 <= failing < len(commands):
            commands[failing].retrying = True


def _time(moment: datetime.datetime | None, zone: datetime.tzinfo) -> str:
    if moment is None or moment.tzinfo is None:
        return ""
    return moment.astimezone(zone).strftime("%H:%M:%S.%f")


def _shown(entry: TimelineEntry) -> str:
    """An entry's details, and for one too large for the page, the link that downloads it whole."""
    html = f'<pre class="restate-value">{escape(entry.details)}</pre>'
    if entry.download_url:
        html += f'<a href="{escape(entry.download_url)}" class="restate-download">Download the whole entry</a>'
    return html


def rows_html(rows: list[Step], retry_count: int, invocation_url: Callable[[str], str | None]) -> SafeString:
    """The timeline's table rows. Built here rather than in a template loop: a 1,000-entry journal
    renders in a few milliseconds this way, in seconds through the template engine."""
    out: list[str] = []
    zone = timezone.get_current_timezone()  # once: looking it up per row costs more than the row
    for step in rows:
        command = step.command
        kind, failed, pending = step.kind, step.failed, step.pending
        classes = f"restate-step restate-step-{escape(kind.lower())}"
        classes += " restate-step-failed" * failed + " restate-step-retrying" * step.retrying
        classes += " restate-step-pending" * pending
        what = f"<strong>{escape(kind)}</strong>"
        if step.label:
            what += f" <code>{escape(step.label)}</code>"
        if not command.is_command:
            what += ' <span class="restate-muted">(notification)</span>'
        if command.invoked_target:
            target = escape(command.invoked_target)
            url = invocation_url(command.invoked_id) if command.invoked_id else None
            if url:
                target = f'<a href="{escape(url)}">{target}</a>'
            what += f"<br>calls {target}"
        if step.retrying:
            what += (
                '<br><span class="restate-badge restate-status restate-status-backing-off">'
                f"failing here, retry {retry_count}</span>"
            )
        if failed:
            what += '<br><span class="restate-badge restate-status restate-status-failed">failed</span>'
        bar = (
            f'<div class="restate-axis"><div class="restate-bar" style="left: {step.offset:.2f}%; '
            f'width: {step.width:.2f}%"></div></div>'
        )
        if command.sleep_wakeup_at:
            bar += f'<span class="restate-muted">until {escape(_time(command.sleep_wakeup_at, zone)[:8])}</span>'
        details = ""
        parts = [_shown(command)] if command.details else []
        for done in step.completions:
            if done.details:
                parts.append(f'<div class="restate-muted">{escape(done.entry_type)} #{done.index}</div>{_shown(done)}')
        if parts:
            opened = " open" if failed or step.retrying else ""
            one_line = command.details and "\n" not in command.details and not step.completions
            summary = command.details[:120] if one_line else command.summary
            details = f"<details{opened}><summary>{escape(summary)}</summary>{''.join(parts)}</details>"
        out.append(
            f'<tr class="{classes}" data-index="{command.index}"><td>{command.index}</td><td>{what}</td>'
            f"<td>{_time(step.started, zone)}</td><td>{step.duration_text}</td><td>{bar}</td><td>{details}</td></tr>"
        )
    return mark_safe("".join(out))  # every value above is escaped
