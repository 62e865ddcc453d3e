"""Files handed to models by a local batch job: ``column_handling`` encodings and chat-message stage URLs.

A batch job on SPCS reads each stage file a row names and hands the model its bytes: raw bytes, base64
or a base64 data URL (``column_handling``). Multimodal chat models get stage URLs inside their OpenAI
messages; the local job hands them to the model inline, the form vLLM's OpenAI server accepts without
network access: ``image_url.url`` and ``video_url.url`` become ``data:<mime>;base64,...`` URLs and
``input_audio.data`` becomes plain base64 (the OpenAI ``input_audio`` format).
docs/howto/files_and_llms.rst says where this may differ from SPCS.
"""

from __future__ import annotations

import base64
import json
import mimetypes
from collections.abc import Callable
from typing import Any

from airflow_snowflake_batch.backends.local.layout import Layout
from airflow_snowflake_batch.backends.local.stages import file_of

Reader = Callable[[str], bytes]


def stage_reader(layout: Layout, database: str | None, schema: str | None) -> Reader:
    """Read a stage file by its full path; a missing or unreadable file is an error naming it."""

    def read(stage_path: str) -> bytes:
        try:
            return file_of(layout, stage_path, database, schema).read_bytes()
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as exc:
            raise OSError(f"Stage file {stage_path} cannot be read: {exc}") from exc

    return read


def encode(data: bytes, convert_to: str, path: str) -> bytes | str:
    """The file's bytes as ``convert_to`` asks: ``raw_bytes``, ``base64`` or ``base64_data_url``."""
    if convert_to == "raw_bytes":
        return data
    encoded = base64.b64encode(data).decode("ascii")
    if convert_to == "base64":
        return encoded
    return f"data:{mime_type(path)};base64,{encoded}"


def mime_type(path: str) -> str:
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


def structured(value: Any) -> Any:
    """A semi-structured value: JSON text is parsed (batch jobs accept ``json.dumps(messages)``)."""
    if isinstance(value, (str, bytes)):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"not JSON text ({exc}; starts {value[:40]!r}): batch jobs take chat messages as a list of "
                "{role, content} objects or that list's JSON text (json.dumps(messages))"
            ) from None
    if hasattr(value, "tolist"):  # Arrow lists arrive as numpy arrays of dicts
        return [structured(v) for v in value.tolist()]
    return value


def resolve_messages(messages: Any, read: Reader) -> Any:
    """OpenAI chat messages with every stage URL (``@DB.SC.STAGE/file``) replaced by the file's content."""
    messages = structured(messages)
    if not isinstance(messages, list):
        return messages
    return [_resolve_message(m, read) for m in messages]


def _resolve_message(message: Any, read: Reader) -> Any:
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        return message
    return {**message, "content": [_resolve_part(part, read) for part in message["content"]]}


def _resolve_part(part: Any, read: Reader) -> Any:
    if not isinstance(part, dict):
        return part
    part = dict(part)
    for key in ("image_url", "video_url"):
        inner = part.get(key)
        if isinstance(inner, dict) and _is_stage_path(inner.get("url")):
            part[key] = {**inner, "url": encode(read(inner["url"]), "base64_data_url", inner["url"])}
    audio = part.get("input_audio")
    if isinstance(audio, dict) and _is_stage_path(audio.get("data")):
        part["input_audio"] = {**audio, "data": encode(read(audio["data"]), "base64", audio["data"])}
    return part


def _is_stage_path(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("@")
