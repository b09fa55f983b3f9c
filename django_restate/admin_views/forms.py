"""Forms of the Restate admin pages: search and filters (GET) and state changes (POST).

Text that ends up in SQL is length-limited here, so an overlong search is a form
error rather than a failed query; the quoting itself is django_restate.admin_api.sql.quote.
"""

from __future__ import annotations

import datetime
from typing import Any, cast

from django import forms
from django.contrib.admin.widgets import AdminSplitDateTime

from ..admin_api.queries import INVOCATION_STATUSES, InvocationFilter
from ..admin_api.sql import MAX_LITERAL
from ..state import ENCODINGS, Encoding, decode_value, encode_value, key_from_ref, lf, same_text

MAX_KEY = 1000  # well under django_restate.admin_api.sql.MAX_LITERAL
#: Restate's query engine keeps times as 64-bit nanoseconds since 1970; a filter outside this
#: range fails the whole query (or, near year 1 or 9999, Python's own UTC conversion).
EARLIEST = datetime.datetime(1678, 1, 1, tzinfo=datetime.UTC)
LATEST = datetime.datetime(2262, 1, 1, tzinfo=datetime.UTC)
MAX_NAME = 255


def service_choices(names: list[str]) -> list[tuple[str, str]]:
    return [("", "All services"), *((name, name) for name in sorted(names))]


class StateSearchForm(forms.Form):
    service = forms.ChoiceField(required=False)
    key_prefix = forms.CharField(required=False, max_length=MAX_KEY, strip=False, label="Key starts with")

    def __init__(self, data: Any, services: list[str]) -> None:
        super().__init__(data)
        self.fields["service"].choices = service_choices(services)  # type: ignore[attr-defined]


class AdminDateTimeFilter(AdminSplitDateTime):
    """The admin's date and time pickers for one ``DateTimeField`` that also takes a single
    ``name=2025-01-31 14:00`` parameter, so links and bookmarks with one value keep working."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        if f"{name}_0" in data:
            date, time = data.get(f"{name}_0", ""), data.get(f"{name}_1", "")
            return f"{date} {time or '00:00'}".strip() if date else ""
        return data.get(name)

    def decompress(self, value: Any) -> Any:
        if isinstance(value, str):  # what was typed, shown again as typed
            date, _, time = value.strip().partition(" ")
            return [date, time]
        return super().decompress(value)

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return name not in data and f"{name}_0" not in data


class InvocationFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *((s, s) for s in INVOCATION_STATUSES)])
    service = forms.ChoiceField(required=False)
    handler = forms.CharField(required=False, max_length=MAX_NAME)
    key = forms.CharField(required=False, max_length=MAX_KEY, strip=False)
    created_after = forms.DateTimeField(required=False, widget=AdminDateTimeFilter)
    created_before = forms.DateTimeField(required=False, widget=AdminDateTimeFilter)

    def __init__(self, data: Any, services: list[str]) -> None:
        super().__init__(data)
        self.fields["service"].choices = service_choices(services)  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in ("created_after", "created_before"):
            moment = data.get(name)
            if moment is not None and not EARLIEST <= moment < LATEST:
                self.add_error(name, "Enter a time between the years 1678 and 2261, the range Restate can compare.")
        return data

    def filters(self) -> InvocationFilter:
        """The filters to query with; call after ``is_valid()``."""
        data = self.cleaned_data
        return InvocationFilter(
            status=data.get("status") or None,
            service=data.get("service") or None,
            handler=data.get("handler") or None,
            key=data.get("key") or None,
            created_after=data.get("created_after"),
            created_before=data.get("created_before"),
        )


STATE_OPERATIONS = {
    "edit": "edit a value",
    "add": "add a key",
    "delete": "delete a key",
    "clear": "clear all state",
}


class StateChangeForm(forms.Form):
    """One change to an object's state, carrying the state version the page showed.

    Existing keys are addressed by ``key_ref`` (:func:`~django_restate.state.key_ref`), so a
    key with newlines, NUL or thousands of characters can be edited and deleted; ``key`` is
    what someone types for a new one. Saving a value as shown stores nothing new: the bytes
    stay exactly as they were (the textarea's CRLF line breaks and the JSON pretty-printing
    are the page's, not the user's).
    """

    operation = forms.ChoiceField(choices=list(STATE_OPERATIONS.items()), widget=forms.HiddenInput)
    version = forms.CharField(max_length=100, widget=forms.HiddenInput)
    key = forms.CharField(required=False, max_length=MAX_KEY, strip=False)
    key_ref = forms.CharField(required=False, max_length=4 * MAX_LITERAL, widget=forms.HiddenInput)
    value = forms.CharField(required=False, strip=False, widget=forms.Textarea(attrs={"rows": 8, "cols": 80}))
    encoding = forms.ChoiceField(required=False, choices=list(ENCODINGS.items()), initial="json")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        operation = data.get("operation")
        if operation in ("edit", "delete") and data.get("key_ref"):
            try:
                data["key"] = key_from_ref(data["key_ref"])
            except ValueError as exc:
                self.add_error("key", str(exc))
        if operation in ("edit", "add", "delete") and not data.get("key") and "key" not in self.errors:
            self.add_error("key", "Name the state key to change.")
        if operation in ("edit", "add") and "key" in data:
            text, encoding = data.get("value") or "", data.get("encoding") or "json"
            try:
                data["raw"] = encode_value(lf(text) if encoding == "text" else text, cast(Encoding, encoding))
            except ValueError as exc:
                self.add_error("value", str(exc))
        return data

    def apply(self, state: dict[str, bytes]) -> dict[str, bytes]:
        """The whole new state: ``state`` with this change made. Raises ``KeyError`` with a
        message when the change no longer fits ``state``."""
        data = self.cleaned_data
        operation, key = data["operation"], data.get("key") or ""
        new = dict(state)
        if operation == "clear":
            return {}
        if operation == "delete":
            if key not in new:
                raise KeyError(f"There is no state key {key!r} to delete.")
            del new[key]
        elif operation == "add":
            if key in new:
                raise KeyError(f"The state key {key!r} already exists; edit its value instead.")
            new[key] = data["raw"]
        else:
            if key not in new:
                raise KeyError(f"The state key {key!r} no longer exists.")
            new[key] = edited(new[key], data.get("value") or "", data.get("encoding") or "json", data["raw"])
        return new


def edited(old: bytes, typed: str, encoding: str, encoded: bytes) -> bytes:
    """The bytes to store for a value edited from ``old``: ``old`` itself when the text and its
    encoding are what the editor showed, else ``encoded`` (with CRLF kept where ``old`` had it)."""
    shown = decode_value(old)
    if encoding == shown.encoding and same_text(typed, shown.editable_text):
        return old
    if encoding == "text" and "\r\n" in shown.text:
        return lf(typed).replace("\n", "\r\n").encode("utf-8")
    return encoded
