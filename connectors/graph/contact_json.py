"""A vCard (RFC 6350, also 3.0 and 2.1) as a Graph ``contact`` to create: the reverse of
``vcard``.

Carried: FN → displayName; N → surname, givenName, middleName, title (prefix),
generation (suffix); NICKNAME; EMAIL (Graph holds three); TEL by type (work → two
businessPhones, home → two homePhones, cell → mobilePhone; untyped or voice ones fill
the business then home places); ADR by type (work, home, other: one each; an untyped one
takes the first free place); ORG → companyName and department; TITLE → jobTitle; ROLE →
profession; BDAY; NOTE → personalNotes; CATEGORIES; the first URL → businessHomePage;
IMPP → imAddresses. Everything else (photo, further e-mails, phones or addresses, fax
numbers, related people, keys …) is listed in ``Translated.lost``.
"""

from __future__ import annotations

from datetime import datetime

from migrate.errors import BadInputError

from .contentlines import Component, Property, Translated, parse

_MAX_EMAILS = 3
_MAX_PHONES = 2
_ADDRESS_PLACES = {"work": "businessAddress", "home": "homeAddress", "other": "otherAddress"}
#: Properties read here, or that say nothing about the person.
_HANDLED = {"VERSION", "UID", "FN", "N", "NICKNAME", "EMAIL", "TEL", "ADR", "ORG", "TITLE",
            "ROLE", "BDAY", "NOTE", "CATEGORIES", "URL", "IMPP", "REV", "PRODID",
            "X-MS-GRAPH-ID", "KIND", "SOURCE", "LABEL"}


def contact_json(data: bytes) -> Translated:
    """The Graph ``contact`` for one vCard; BadInputError when it is not one."""
    card = parse(data, "contact")
    if card.name != "VCARD":
        raise BadInputError(f"contact: a VCARD was expected, not {card.name}")
    lost: list[str] = []
    out: dict[str, object] = {}
    _names(card, out)
    _emails(card, out, lost)
    _phones(card, out, lost)
    _addresses(card, out, lost)
    if (org := card.first("ORG")) is not None:
        parts = org.parts()
        if parts[0].strip():
            out["companyName"] = parts[0]
        if len(parts) > 1 and parts[1].strip():
            out["department"] = "; ".join(p for p in parts[1:] if p.strip())
    for name, key in (("TITLE", "jobTitle"), ("ROLE", "profession"),
                      ("NOTE", "personalNotes")):
        if (prop := card.first(name)) is not None and prop.text().strip():
            out[key] = prop.text()
    _birthday(card, out, lost)
    categories = [c for p in card.all("CATEGORIES") for c in p.texts() if c.strip()]
    if categories:
        out["categories"] = categories
    urls = card.all("URL")
    if urls:
        out["businessHomePage"] = urls[0].value.strip()
        if len(urls) > 1:
            lost.append(f"{len(urls) - 1} other web address(es)")
    ims = [p.value.strip() for p in card.all("IMPP") if p.value.strip()]
    if ims:
        out["imAddresses"] = ims
    others = sorted({p.name for p in card.properties} - _HANDLED)
    if others:
        lost.append("properties " + ", ".join(others))
    if not out.get("displayName") and not out.get("emailAddresses"):
        raise BadInputError("contact: the vCard has neither a name (FN, N) nor an e-mail")
    uid = card.first("UID")
    return Translated(out, uid.text().strip() if uid is not None else None, tuple(lost))


def _names(card: Component, out: dict) -> None:
    if (n := card.first("N")) is not None:
        parts = [*n.parts(), "", "", "", "", ""][:5]
        for key, value in zip(("surname", "givenName", "middleName", "title", "generation"),
                              parts, strict=True):
            if value.strip():
                out[key] = value.replace(",", " ")  # several given names, one field
    fn = card.first("FN")
    display = fn.text().strip() if fn is not None else ""
    if not display:
        display = " ".join(str(out[k]) for k in ("givenName", "middleName", "surname")
                           if out.get(k))
    if display:
        out["displayName"] = display
    nicknames = [t for p in card.all("NICKNAME") for t in p.texts() if t.strip()]
    if nicknames:
        out["nickName"] = nicknames[0]


def _emails(card: Component, out: dict, lost: list[str]) -> None:
    name = str(out.get("displayName") or "")
    ordered = sorted(card.all("EMAIL"), key=lambda p: _preference(p))
    addresses = [p.text().strip() for p in ordered if p.text().strip()]
    if addresses:
        out["emailAddresses"] = [{"address": a, "name": name or a}
                                 for a in addresses[:_MAX_EMAILS]]
    if len(addresses) > _MAX_EMAILS:
        lost.append(f"{len(addresses) - _MAX_EMAILS} e-mail address(es) beyond Graph's "
                    f"{_MAX_EMAILS}")


def _preference(prop: Property) -> int:
    """PREF=1 first (vCard 4), then TYPE=pref (vCard 3), then the order of the card."""
    pref = prop.param("PREF")
    if pref is not None and pref.isdigit():
        return int(pref)
    return 0 if "pref" in prop.types() else 101


def _phones(card: Component, out: dict, lost: list[str]) -> None:
    business: list[str] = []
    home: list[str] = []
    mobile: list[str] = []
    loose: list[str] = []
    dropped = 0
    for prop in sorted(card.all("TEL"), key=_preference):
        number = prop.text().strip()
        if number.lower().startswith("tel:"):
            number = number[4:]
        types = prop.types() - {"pref", "voice"}
        if not number:
            continue
        if types & {"fax", "pager", "textphone", "video"}:
            dropped += 1
        elif types & {"cell", "mobile"}:
            mobile.append(number)
        elif "work" in types:
            business.append(number)
        elif "home" in types:
            home.append(number)
        else:
            loose.append(number)
    if mobile:
        out["mobilePhone"] = mobile[0]
    extra = mobile[1:]
    for number in loose:  # untyped: the first free place
        if len(business) < _MAX_PHONES:
            business.append(number)
        elif len(home) < _MAX_PHONES:
            home.append(number)
        else:
            extra.append(number)
    extra += business[_MAX_PHONES:] + home[_MAX_PHONES:]
    if business:
        out["businessPhones"] = business[:_MAX_PHONES]
    if home:
        out["homePhones"] = home[:_MAX_PHONES]
    if dropped:
        lost.append(f"{dropped} fax, pager or other phone number(s) Graph has no place for")
    if extra:
        lost.append(f"{len(extra)} phone number(s) beyond Graph's places")


def _addresses(card: Component, out: dict, lost: list[str]) -> None:
    loose: list[dict] = []
    extra = 0
    for prop in sorted(card.all("ADR"), key=_preference):
        parts = [*prop.parts(), "", "", "", "", "", "", ""][:7]
        pobox, more, street, city, region, code, country = parts
        address = {k: v for k, v in (
            ("street", "\n".join(p for p in (pobox, more, street) if p.strip())),
            ("city", city), ("state", region), ("postalCode", code),
            ("countryOrRegion", country)) if v.strip()}
        if not address:
            continue
        place = next((_ADDRESS_PLACES[t] for t in ("work", "home", "other")
                      if t in prop.types()), None)
        if place is None:
            loose.append(address)
        elif place in out:
            extra += 1
        else:
            out[place] = address
    for address in loose:
        place = next((p for p in _ADDRESS_PLACES.values() if p not in out), None)
        if place is None:
            extra += 1
        else:
            out[place] = address
    if extra:
        lost.append(f"{extra} postal address(es) beyond Graph's work, home and other")


def _birthday(card: Component, out: dict, lost: list[str]) -> None:
    prop = card.first("BDAY")
    if prop is None:
        return
    text = prop.value.strip()
    digits = text.replace("-", "")[:8]
    try:
        if text.startswith("--") or len(digits) < 8:
            raise ValueError(text)
        born = datetime.strptime(digits, "%Y%m%d")
    except ValueError:
        lost.append(f"birthday {text!r} (Graph needs a full date)")
        return
    # Noon UTC, as Outlook stores birthdays: the date stays the same in every time zone.
    out["birthday"] = born.strftime("%Y-%m-%dT12:00:00Z")
