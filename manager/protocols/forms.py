"""Parameters "as GET or POST": the query string, an urlencoded body or multipart form-data
with file uploads, read with a size limit (the manager ships without python-multipart)."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import parse_qsl

from fastapi import Request


class FormError(ValueError):
    """A body that cannot be read as a form; the message says why."""


class FormTooLarge(FormError):
    pass


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        value = self.fields.get(name)
        return value if value not in (None, "") else None


async def read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FormTooLarge(f"body larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > max_bytes:
            raise FormTooLarge(f"body larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_form(request: Request, max_bytes: int) -> Form:
    """Query parameters, overridden by those of the body."""
    form = Form(fields=dict(request.query_params))
    if request.method != "POST":
        _refuse_nul(form)
        return form
    body = await read_body(request, max_bytes)
    media = _media_type(request.headers.get("content-type", ""))
    if media.get_content_type() == "multipart/form-data":
        boundary = media.get_param("boundary")
        if not isinstance(boundary, str) or not boundary:
            raise FormError("multipart body without a boundary")
        _parse_multipart(body, boundary.encode("latin-1"), form)
    elif body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise FormError("form body is not UTF-8 text") from None
        form.fields.update(parse_qsl(text, keep_blank_values=True))
    _refuse_nul(form)
    return form


def _refuse_nul(form: Form) -> None:
    # Every value may end up in the database, and PostgreSQL refuses text holding a NUL.
    for name, value in form.fields.items():
        if "\x00" in name or "\x00" in value:
            raise FormError(f"{name.replace(chr(0), '')!r}: NUL characters are not allowed")


def _media_type(header: str) -> Message:
    message = Message()
    message["content-type"] = header or "application/octet-stream"
    return message


def _parse_multipart(body: bytes, boundary: bytes, form: Form) -> None:
    delimiter = b"--" + boundary
    if not body.startswith(delimiter):
        raise FormError("multipart body does not start with its boundary")
    for part in _parts(body, delimiter):
        head, separator, content = part.partition(b"\r\n\r\n")
        if not separator:
            raise FormError("multipart part without headers")
        headers = Message()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip()] = value.strip()
        field_name = headers.get_param("name", header="content-disposition")
        if not isinstance(field_name, str):
            raise FormError("multipart part without a name")
        if headers.get_param("filename", header="content-disposition") is not None:
            form.files[field_name] = content
        else:
            form.fields[field_name] = content.decode("utf-8", "replace")


def _parts(body: bytes, delimiter: bytes) -> list[bytes]:
    pieces = body.split(b"\r\n" + delimiter)
    first = pieces[0][len(delimiter) :]
    if not pieces[-1].startswith(b"--"):
        raise FormError("multipart body is cut short (no closing boundary)")
    out = []
    for piece in [first, *pieces[1:-1]]:
        if not piece.startswith(b"\r\n"):
            raise FormError("multipart boundary not followed by a line break")
        out.append(piece[2:])
    return out
