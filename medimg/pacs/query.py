"""Find the studies a rule asks for (QIDO-RS)."""

from __future__ import annotations

from medimg.config.pacs import RetrieveRule

STUDY_UID = "0020000D"
PAGE = 200


def find_studies(client, rule: RetrieveRule) -> list[str]:
    """The Study Instance UIDs on the server matching ``rule``, each once, in the server's order.

    Pages are fetched by hand: dicomweb-client's ``get_remaining`` never ends on servers that
    ignore ``offset`` (Orthanc 1.10's plugin answers every offset), so paging stops at a short
    page or at a page with nothing new."""
    found: dict[str, None] = {}
    for filters in rule.filters():
        offset = 0
        while True:
            page = client.search_for_studies(search_filters=filters, limit=PAGE, offset=offset)
            uids = [match[STUDY_UID]["Value"][0] for match in page]
            new = [uid for uid in uids if uid not in found]
            found.update(dict.fromkeys(new))
            if len(page) < PAGE or not new:
                break
            offset += len(page)
    return list(found)


def instance_stored(client, study_uid: str, sop_instance_uid: str) -> bool:
    """Whether the server already holds the instance: what makes a resend after a crash a no-op."""
    return bool(
        client.search_for_instances(
            study_instance_uid=study_uid, search_filters={"SOPInstanceUID": sop_instance_uid}
        )
    )
