"""A procedure on the citizen's phone: `GET /p/{key}?lang=vi|en` (public, no login).

The kiosk's detail page shows a QR code of `{centre.base_url}/p/<key>?lang=<lang>`; this page
shows the same information from the same view model (`centre.procedure_view`): what to bring
(everyone, then the "Nếu…" cases), the fee (amount, "Miễn phí" or the centre's fee table with
its resolution), the time in working days, where to submit and whether it can be done online,
the forms, and the legal basis last.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from centre.catalogue import Catalogue, service_for
from centre.procedure_view import TEXT_LABELS, FeeTable, view
from staff.app import lang_of, render

router = APIRouter(include_in_schema=False)
Key = Annotated[str, Path(min_length=1, max_length=80, pattern=r"^[\w.\-]+$")]

PAGE = {
    "vi": {"title": "Thủ tục", "cases": "Chỉ cần trong một số trường hợp", "missing": "Không có thủ tục này.",
           "vi_only": "", "back_note": "Thông tin từ danh mục thủ tục hành chính; xin hỏi cán bộ khi cần."},
    "en": {"title": "Procedure", "cases": "Needed only in some cases", "missing": "No such procedure.",
           "vi_only": "Documents and the legal basis are given in Vietnamese, as the official catalogue has them.",
           "back_note": "From the catalogue of administrative procedures; please ask the staff when in doubt."},
}


@router.get("/p/{key}", response_class=HTMLResponse)
def procedure_page(key: Key, request: Request) -> Response:
    staff = request.app.state.staff
    cfg = staff.cfg
    lang = lang_of(request)
    proc = Catalogue(staff.conn()).get(key)
    words = {**TEXT_LABELS[lang], **PAGE[lang]}
    if proc is None:
        return render(request, "procedure_public.html", {"v": None, "words": words}, status=404, lang=lang)
    series = service_for(proc, cfg)
    counters = ", ".join(c.name.get(lang) for c in cfg.counters if series in c.services)
    try:
        service = cfg.service(series).name.get(lang)
    except KeyError:
        service = ""
    where = f"{counters} ({service})" if counters and service else counters or service
    v = view(proc, lang, fees=FeeTable.cached(cfg))
    return render(request, "procedure_public.html", {"v": v, "where": where, "words": words}, lang=lang)
