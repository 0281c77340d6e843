"""Graph contacts as vCard 4.0 (RFC 6350): Graph serves JSON, so this is a translation.

Kept: names (FN, N, NICKNAME), e-mail addresses, business, home and mobile phones, the
three postal addresses, company, department and job title, birthday, notes, categories,
web page, modification time, and Graph's id (``X-MS-GRAPH-ID``). Lost: the photo, IM
addresses, children, spouse, assistant and manager names, yomi (phonetic) names.
"""

from __future__ import annotations

from msgraph.generated.models.contact import Contact as GraphContact

from migrate.pimformat import document, utc_stamp
from migrate.pimformat import escape as escape_text


def _component(text: str | None) -> str:
    """One component of a structured value (N, ADR, ORG): also escapes the separators."""
    return escape_text(text or "")


def _address(kind: str, address) -> str | None:
    if address is None or not any((address.street, address.city, address.state,
                                   address.postal_code, address.country_or_region)):
        return None
    parts = ["", "", address.street, address.city, address.state, address.postal_code,
             address.country_or_region]
    return f"ADR;TYPE={kind}:" + ";".join(_component(p) for p in parts)


def contact_vcf(contact: GraphContact) -> bytes:
    """One contact as a VCARD."""
    emails = [e.address for e in contact.email_addresses or () if e.address]
    name = contact.display_name or contact.file_as or (emails[0] if emails else "")
    lines = ["BEGIN:VCARD", "VERSION:4.0", f"UID:{escape_text(contact.id or '')}",
             f"FN:{escape_text(name)}",
             "N:" + ";".join(_component(p) for p in (contact.surname, contact.given_name,
                                                      contact.middle_name, contact.title,
                                                      contact.generation))]
    if contact.nick_name:
        lines.append(f"NICKNAME:{escape_text(contact.nick_name)}")
    lines += [f"EMAIL:{escape_text(address)}" for address in emails]
    for kind, numbers in (("work", contact.business_phones or ()),
                          ("home", contact.home_phones or ()),
                          ("cell", [contact.mobile_phone] if contact.mobile_phone else ())):
        lines += [f"TEL;TYPE={kind}:{escape_text(number)}" for number in numbers if number]
    for kind, address in (("work", contact.business_address), ("home", contact.home_address),
                          ("other", contact.other_address)):
        if (line := _address(kind, address)) is not None:
            lines.append(line)
    if contact.company_name or contact.department:
        lines.append(f"ORG:{_component(contact.company_name)};{_component(contact.department)}")
    if contact.job_title:
        lines.append(f"TITLE:{escape_text(contact.job_title)}")
    if contact.birthday is not None:
        lines.append(f"BDAY:{contact.birthday:%Y%m%d}")
    if contact.personal_notes:
        lines.append(f"NOTE:{escape_text(contact.personal_notes)}")
    if contact.categories:
        lines.append("CATEGORIES:" + ",".join(escape_text(c) for c in contact.categories))
    if contact.business_home_page:
        lines.append(f"URL:{contact.business_home_page.strip()}")
    if contact.last_modified_date_time is not None:
        lines.append(f"REV:{utc_stamp(contact.last_modified_date_time)}")
    if contact.id:
        lines.append(f"X-MS-GRAPH-ID:{escape_text(contact.id)}")
    lines.append("END:VCARD")
    return document(lines)
