"""`generate_document`: a numbered document of the record, requested in the transaction of
the change and rendered by the documents worker after commit. Keyed by the effect, so the
same move or job applied twice makes one document."""
from __future__ import annotations

from documents.kinds import KINDS
from models.timeline import add_timeline
from process import documents as document_service
from process.effects.context import EffectContext
from process.effects.messages import client_addresses
from rules.engine import Effect


def generate_document(ctx: EffectContext, effect: Effect) -> None:
    params = effect.params
    send_to = None
    if params.get("send_to") == "client":
        send_to = ", ".join(client_addresses(ctx.record)) or None
    document = document_service.request(ctx.record, ctx.entity, params["kind"],
                                        params.get("template"), effect_key=effect.key,
                                        send_to=send_to)
    if params.get("send_to") == "client" and not send_to:
        add_timeline(ctx.entity, ctx.record.id, "system",
                     f"«{KINDS[document.kind].title}» № {document.number} не отправлен: "
                     "у клиента нет адреса e-mail", author_id=0)
