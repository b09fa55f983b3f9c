"""Journal entries as a readable timeline: bytes decoded, type tags peeled, never a crash."""

from __future__ import annotations

import datetime
import json

from django_restate.admin_views.journal import timeline


def row(entry: object, **extra: object) -> dict[str, object]:
    return {"index": 3, "entry_type": "Command: SetState", "entry_json": json.dumps(entry), **extra}


def test_payload_bytes_are_decoded_and_type_tags_peeled():
    [entry] = timeline([row({"Command": {"SetState": {"key": "items", "value": list(b'{"apple": 2}')}}})])
    assert json.loads(entry.details) == {"key": "items", "value": {"apple": 2}}
    assert entry.is_command and not entry.is_long


def test_binary_payloads_are_shown_as_base64_and_failures_as_they_are():
    [binary, failure] = timeline(
        [
            row({"Command": {"Output": {"result": {"Success": [255, 0, 1]}}}}),
            row({"Notification": {"Completion": {"Run": {"result": {"Failure": {"code": 500, "message": "x"}}}}}}),
        ]
    )
    assert "<3 bytes, base64 /wAB>" in binary.details
    assert json.loads(failure.details) == {"result": {"Failure": {"code": 500, "message": "x"}}}


def test_input_headers_go_after_the_payload_and_long_details_fold():
    headers = [{"name": f"h{i}", "value": "v"} for i in range(10)]
    [entry] = timeline([row({"Command": {"Input": {"headers": headers, "payload": list(b'"Ada"')}}})])
    assert entry.details.index('"payload"') < entry.details.index('"headers"')
    assert entry.is_long and entry.summary.startswith('"payload": "Ada"')


def test_sleep_shows_when_it_ends():
    millis = 1_800_000_000_000
    [entry] = timeline([row({"Command": {"Sleep": {"wake_up_time": millis, "completion_id": 1}}})])
    assert entry.sleep_wakeup_at == datetime.datetime.fromtimestamp(millis / 1000, tz=datetime.UTC)


def test_odd_rows_never_raise():
    rows = [
        {"index": 0, "entry_type": "Command: Input", "entry_json": "not json"},
        {"index": 1, "entry_type": "Event", "entry_json": None, "appended_at": "yesterday"},
        row({"Command": {"Sleep": {"wake_up_time": 10**30}}}),
        row([1, 2, 3]),
    ]
    entries = timeline(rows)
    assert entries[0].details == "not json" and entries[1].details == "" and entries[1].appended_at is None
    assert entries[2].sleep_wakeup_at is None and entries[3].details == "[\n  1,\n  2,\n  3\n]"
