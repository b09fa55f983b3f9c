"""The one place that decodes Restate state values and computes a state's version.

Restate stores every state value as opaque bytes. The SDKs' default serde writes
JSON, but a handler may store anything (``BytesSerde``, protobuf, pickles), so
decoding never fails: JSON is pretty-printed, other UTF-8 text is shown as
text, and everything else as hex and base64.

The version is what ``POST /services/{service}/state`` compares before it
replaces an object's state (and silently drops the write on a mismatch), so an
editor sends the version of the state it showed and then checks that its write
landed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

#: :func:`state_version` of an object without state.
EMPTY_STATE_VERSION = "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"

ValueKind = Literal["json", "text", "binary", "empty"]
Encoding = Literal["json", "text", "base64"]
ENCODINGS: dict[Encoding, str] = {"json": "JSON", "text": "Text (UTF-8)", "base64": "Raw bytes (base64)"}
# Control characters other than tab/newline/CR make "text" unreadable; show such values as bytes.
_CONTROL = {chr(c) for c in range(32) if chr(c) not in "\t\n\r"} | {"\x7f"}


@dataclass(frozen=True)
class DecodedValue:
    """How one state value reads: its kind, the text to show, and its bytes as hex and base64."""

    kind: ValueKind
    text: str
    raw: bytes

    @property
    def size(self) -> int:
        return len(self.raw)

    @property
    def hex(self) -> str:
        return self.raw.hex()

    @property
    def base64(self) -> str:
        return base64.b64encode(self.raw).decode("ascii")

    def readable(self) -> Any:
        """The value to embed in a larger readable document, such as a journal entry."""
        if self.kind == "json":
            return json.loads(self.raw)
        if self.kind == "text":
            return self.text
        if self.kind == "empty":
            return None
        return f"<{self.size} bytes, base64 {self.base64}>"

    @property
    def encoding(self) -> Encoding:
        """How an editor should spell this value (see :func:`encode_value`)."""
        return "base64" if self.kind in ("binary", "empty") else "json" if self.kind == "json" else "text"

    @property
    def editable_text(self) -> str:
        """What an editor starts from, in :attr:`encoding`."""
        return self.base64 if self.encoding == "base64" else self.text


def decode_value(raw: bytes) -> DecodedValue:
    """Decode state bytes for people to read. Never raises, whatever the bytes are."""
    raw = bytes(raw)
    if not raw:
        return DecodedValue("empty", "", raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return DecodedValue("binary", raw.hex(), raw)
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
        return DecodedValue("json", pretty_json(value), raw)
    except (ValueError, RecursionError):
        pass
    if any(ch in _CONTROL for ch in text):
        return DecodedValue("binary", raw.hex(), raw)
    return DecodedValue("text", text, raw)


@dataclass(frozen=True)
class StateEntry:
    """One key of an object's state and its raw value."""

    key: str
    value: bytes
    #: The value's size when it was too large to fetch for the page (``value`` is empty then).
    too_large: int = 0
    download_url: str | None = None

    @cached_property
    def decoded(self) -> DecodedValue:
        return decode_value(self.value)

    @property
    def ref(self) -> str:
        """The key as a form addresses it (:func:`key_ref`), whatever characters it holds."""
        return key_ref(self.key)


def key_ref(key: str) -> str:
    """A state key spelled so that HTML and browsers carry it unchanged: URL-safe base64 of its
    UTF-8 bytes. (Browsers rewrite newlines in form values and cannot carry NUL at all.)"""
    return base64.urlsafe_b64encode(key.encode("utf-8", "surrogatepass")).decode("ascii")


def key_from_ref(ref: str) -> str:
    """The key :func:`key_ref` spelled; ``ValueError`` when ``ref`` is not one."""
    try:
        return base64.b64decode(ref.encode("ascii"), altchars=b"-_", validate=True).decode("utf-8", "surrogatepass")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise ValueError("This is not a state key reference.") from exc


def same_text(typed: str, shown: str) -> bool:
    """Whether what came back from a ``<textarea>`` is the text it showed: browsers send every
    line break as CRLF, so line breaks do not count."""
    return lf(typed) == lf(shown)


def lf(text: str) -> str:
    """``text`` with CRLF and lone CR line breaks as LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def pretty_json(value: Any) -> str:
    """Indented JSON that keeps non-ASCII text readable, and that a page can always encode
    (JSON may escape lone surrogates, which UTF-8 cannot carry)."""
    text = json.dumps(value, indent=2, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value, indent=2)
    return text


def state_version(entries: Mapping[str, bytes]) -> str:
    """The version Restate computes for a state: URL-safe base64 (no padding) of SHA-256 over
    the key-sorted entries, each ``index (8 bytes, big-endian) 0x01 key 0x02 value 0x03``."""
    digest = hashlib.sha256()
    items = sorted((key.encode("utf-8"), bytes(value)) for key, value in entries.items())
    for index, (key, value) in enumerate(items):
        digest.update(index.to_bytes(8, "big") + b"\x01" + key + b"\x02" + value + b"\x03")
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")


#: A page that left large values on the server carries this version instead of Restate's.
DIGEST_PREFIX = "sha256:"


def digest_version_of_digests(digests: Mapping[str, str]) -> str:
    """A version of a state from the SHA-256 (hex) of each value, which ``/query`` computes
    without sending the values: equal for equal states, like Restate's own."""
    text = "".join(f"{len(k)}:{k}={digests[k].lower()};" for k in sorted(digests))
    return DIGEST_PREFIX + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def digest_version(state: Mapping[str, bytes]) -> str:
    """:func:`digest_version_of_digests` of a state read whole."""
    return digest_version_of_digests({k: hashlib.sha256(v).hexdigest() for k, v in state.items()})


def entries_from_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, bytes]:
    """An object's state from ``SELECT key, value FROM state`` rows (``/query`` hex-encodes binary
    columns and leaves out NULLs)."""
    return {str(row["key"]): column_bytes(row.get("value")) for row in rows}


def column_bytes(value: object) -> bytes:
    """A binary ``/query`` column as bytes: JSON carries it hex-encoded, and a NULL is left out."""
    return bytes.fromhex(str(value or ""))


def entries(state: Mapping[str, bytes]) -> list[StateEntry]:
    """An object's state as entries sorted by key, ready to show."""
    return [StateEntry(key, value) for key, value in sorted(state.items())]


def encode_value(text: str, encoding: Encoding) -> bytes:
    """The bytes to store for what someone typed. Raises ``ValueError`` with a message for people."""
    if encoding == "json":
        return encode_json(text)
    if encoding == "base64":
        return encode_base64(text)
    return text.encode("utf-8")


def encode_json(text: str) -> bytes:
    """The bytes the SDK's default serde would store for the JSON ``text``.

    Raises ``ValueError`` with a message for people when ``text`` is not JSON.
    """
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise ValueError(f"This is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
    except ValueError as exc:  # NaN / Infinity, or a number too large for a float (1e400)
        raise ValueError(f"This is not valid JSON: {exc}.") from None
    except RecursionError:
        raise ValueError("This JSON is nested too deeply to store.") from None
    return json.dumps(value).encode("utf-8")


def encode_base64(text: str) -> bytes:
    """Raw bytes given as base64, for values that are not JSON. Raises ``ValueError`` for people."""
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("This is not valid base64; paste the bytes as standard base64 (A-Z a-z 0-9 + /).") from None


def _finite_float(literal: str) -> float:
    # float("1e400") is inf, which json.dumps would store as Infinity: not JSON either.
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"{literal} is too large a number for JSON")
    return value


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; other SDKs' JSON parsers do not.
    raise ValueError(f"{name} is not valid JSON")
