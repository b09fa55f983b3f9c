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
    assert entries[2].sleep_wakeup_at is None and entries[3].details == "[1, 2, 3]"  # short: one line


def completed(index: int, entry_type: str, fields: dict, at: str) -> dict[str, object]:
    kind = entry_type.split(": ")[1]
    wrapped = (
        {"Command": {kind: fields}}
        if entry_type.startswith("Command")
        else {"Notification": {"Completion": {kind: fields}}}
    )
    return {
        "index": index,
        "entry_type": entry_type,
        "entry_json": json.dumps(wrapped),
        "appended_at": at,
        "name": fields.get("name"),
    }


def test_each_command_is_paired_with_its_completion_on_one_axis():
    rows = [
        completed(0, "Command: Input", {"payload": list(b'"x"')}, "2026-01-01T00:00:00.000Z"),
        completed(1, "Command: Run", {"completion_id": 1, "name": "charge"}, "2026-01-01T00:00:01.000Z"),
        completed(2, "Command: Sleep", {"completion_id": 2, "name": "nap"}, "2026-01-01T00:00:02.000Z"),
        completed(
            3,
            "Notification: Run",
            {"completion_id": 1, "result": {"Failure": {"code": 500, "message": "card declined"}}},
            "2026-01-01T00:00:03.000Z",
        ),
        completed(4, "Notification: Sleep", {"completion_id": 2}, "2026-01-01T00:00:10.000Z"),
    ]
    from django_restate.admin_views.timeline import steps

    input_, run, sleep = steps(timeline(rows), {"status": "completed"})
    assert [s.kind for s in (input_, run, sleep)] == ["Input", "Run", "Sleep"]
    assert run.label == "charge" and run.duration_text == "2.00 s" and run.failed
    assert "card declined" in run.completions[0].details
    assert sleep.duration_text == "8.00 s" and not sleep.failed
    # One axis from the first entry (0 s) to the last (10 s).
    assert (run.offset, run.width) == (10.0, 20.0) and (sleep.offset, sleep.width) == (20.0, 80.0)


def test_a_command_without_its_completion_is_waiting_and_the_failing_one_is_marked():
    from django_restate.admin_views.timeline import steps

    rows = [
        completed(0, "Command: Input", {}, "2026-01-01T00:00:00.000Z"),
        completed(
            1,
            "Command: Call",
            {"result_completion_id": 7, "invocation_id_completion_id": 6},
            "2026-01-01T00:00:01.000Z",
        ),
    ]
    invocation = {"status": "backing-off", "last_failure": "boom", "last_failure_related_command_index": 1}
    _, call = steps(timeline(rows), invocation)
    assert call.pending and call.duration_text == "waiting" and call.retrying
