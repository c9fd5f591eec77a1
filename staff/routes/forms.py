"""Official form files (mẫu đơn, tờ khai) for citizens' phones: `GET /forms/{file}` (public).

The kiosk's procedure page shows, for each form of a procedure, a QR code of
`{centre.base_url}/forms/<file>` (kiosk.controller.Backend.form_url). This serves that file from
the forms directory (`paths.forms`, default data/forms) when the centre has put it there. When it
has not, the answer is a small page naming the form, the procedures that use it and each
procedure's page on the National Public Service Portal, so a phone with mobile data can fetch the
form there.

Path safety: the name is one path segment (no `/`, `\\`, NUL or leading dot), and the resolved
file must lie inside the forms directory (a symbolic link pointing out of it is refused).
"""

from __future__ import annotations

import json
import mimetypes
import unicodedata
from pathlib import Path as FilePath
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from staff.app import render

router = APIRouter(include_in_schema=False)
FormName = Annotated[str, Path(min_length=1, max_length=255)]
# Word files are what the portal publishes; the system's mime table may not know them.
mimetypes.add_type("application/msword", ".doc")
mimetypes.add_type("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx")


def safe_name(name: str) -> bool:
    """One plain file name: no directory parts, no hidden or relative names, no control characters."""
    return bool(name) and name == name.strip() and not name.startswith(".") \
        and not any(c in name for c in "/\\:") and all(ord(c) >= 32 for c in name)


def find_form_file(folder: FilePath, name: str) -> FilePath | None:
    """The file `name` inside `folder` (exact, or the same letters in another Unicode normal form), else None."""
    if not safe_name(name) or not folder.is_dir():
        return None
    root = folder.resolve()
    candidates = [name, unicodedata.normalize("NFC", name), unicodedata.normalize("NFD", name)]
    for cand in dict.fromkeys(candidates):
        path = folder / cand
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if real.is_relative_to(root) and real.parent == root and real.is_file():
            return real
    # Names differing only in composition that the file system keeps as written (Linux).
    want = unicodedata.normalize("NFC", name)
    for entry in folder.iterdir():
        if unicodedata.normalize("NFC", entry.name) == want and safe_name(entry.name):
            real = entry.resolve()
            if real.parent == root and real.is_file():
                return real
    return None


def procedures_using(conn, name: str) -> tuple[str, list[dict]]:
    """(the form's own title, procedures [{code, name, name_en, portal_url}] whose forms include `name`)."""
    want = unicodedata.normalize("NFC", name)
    title = ""
    out = []
    try:
        rows = conn.execute("SELECT key, code, name, name_en, portal_url, forms_json FROM procedures "
                            "WHERE forms_json != '[]' ORDER BY code, key").fetchall()
    except Exception:  # no catalogue in this database
        return "", []
    for r in rows:
        try:
            forms = json.loads(r["forms_json"])
        except ValueError:
            continue
        for f in forms if isinstance(forms, list) else []:
            if not isinstance(f, dict):
                continue
            ref = f.get("file") or f.get("name") or ""
            if unicodedata.normalize("NFC", str(ref)) == want:
                title = title or str(f.get("name") or "")
                url = str(r["portal_url"] or "")
                out.append({"code": r["code"], "name": r["name"], "name_en": r["name_en"],
                            "portal_url": url if url.startswith(("https://", "http://")) else ""})
                break
    return title, out


@router.get("/forms/{file}", response_class=HTMLResponse)
def form_file(file: FormName, request: Request) -> Response:
    staff = request.app.state.staff
    folder = FilePath(staff.cfg.path(staff.cfg.paths.forms))
    path = find_form_file(folder, file)
    if path is not None:
        media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return FileResponse(path, media_type=media, headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(path.name)}",
            "Cache-Control": "max-age=3600"})
    title, procs = procedures_using(staff.conn(), file)
    return render(request, "forms_missing.html", {"file": file, "form_title": title, "procedures": procs},
                  status=404)
