"""What an operator reads at run time, in French and English.

``--lang fr|en`` chooses; without it, French when the locale (LC_ALL, LC_MESSAGES, LANG)
is French, English otherwise. Texts are looked up by key; a missing key is a bug that the
test suite catches (every key has both languages).
"""

from __future__ import annotations

import os

MESSAGES: dict[str, dict[str, str]] = {
    "plan.title": {"en": "Plan: {source} → {target}",
                   "fr": "Plan : {source} → {target}"},
    "plan.folder": {"en": "  {source:<40} → {target:<30} {messages:>7} msg {size:>10}{done}",
                    "fr": "  {source:<40} → {target:<30} {messages:>7} msg {size:>10}{done}"},
    "plan.done": {"en": "  ({done} already copied)", "fr": "  ({done} déjà copiés)"},
    "plan.unreadable": {"en": "  (cannot be read: {error})", "fr": "  (illisible : {error})"},
    "plan.total": {"en": "Total: {folders} folders, {messages} messages, {size}",
                   "fr": "Total : {folders} dossiers, {messages} messages, {size}"},
    "plan.conversations": {"en": "Conversations: {count}", "fr": "Conversations : {count}"},
    "plan.lost.title": {"en": "The target cannot keep:",
                        "fr": "La cible ne peut pas conserver :"},
    "plan.lost.item": {"en": "  - {feature}: {reason}", "fr": "  - {feature} : {reason}"},
    "plan.lost.none": {"en": "The target keeps everything the source provides.",
                       "fr": "La cible conserve tout ce que fournit la source."},
    "plan.nothing_written": {"en": "Dry run: nothing was written.",
                             "fr": "Simulation : rien n'a été écrit."},
    "copy.summary": {
        "en": "Copied {copied} messages ({size}) in {seconds:.1f} s; {skipped} already there; "
              "{failed} failed.",
        "fr": "{copied} messages copiés ({size}) en {seconds:.1f} s ; {skipped} déjà présents ; "
              "{failed} en échec."},
    "copy.updated": {"en": "Flags brought up to date on {count} messages copied earlier.",
                     "fr": "Indicateurs mis à jour sur {count} messages copiés auparavant."},
    "copy.failures": {"en": "Failed items (tried again on the next run):",
                      "fr": "Éléments en échec (retentés au prochain passage) :"},
    "copy.failure": {"en": "  - {folder} [{key}] {subject}: {error}",
                     "fr": "  - {folder} [{key}] {subject} : {error}"},
    "copy.more": {"en": "  … and {count} more: see `migrate status`.",
                  "fr": "  … et {count} de plus : voir `migrate status`."},
    "verify.title": {"en": "Verify: {source} ↔ {target}",
                     "fr": "Vérification : {source} ↔ {target}"},
    "verify.folder": {
        "en": "  {folder:<40} match {match:>6}  differ {differ:>4}  missing {missing:>4}  "
              "only in target {extra:>4}",
        "fr": "  {folder:<40} identiques {match:>6}  différents {differ:>4}  manquants "
              "{missing:>4}  en trop {extra:>4}"},
    "verify.ok": {"en": "Nothing lost: every message is at the target, byte-identical.",
                  "fr": "Rien n'est perdu : chaque message est dans la cible, identique à "
                        "l'octet près."},
    "verify.bad": {"en": "Differences found: {missing} missing, {differ} differ.",
                   "fr": "Écarts trouvés : {missing} manquants, {differ} différents."},
    "verify.item": {"en": "  - {kind}: {folder} | {date} | {sender} | {subject} | {message_id}"
                          "{detail}",
                    "fr": "  - {kind} : {folder} | {date} | {sender} | {subject} | "
                          "{message_id}{detail}"},
    "verify.kind.missing": {"en": "missing in target", "fr": "absent de la cible"},
    "verify.kind.differ": {"en": "differs", "fr": "diffère"},
    "verify.kind.extra": {"en": "only in target", "fr": "seulement dans la cible"},
    "verify.unverifiable": {"en": "Not comparable here (kept by only one side): {features}",
                            "fr": "Non comparable ici (conservé d'un seul côté) : {features}"},
    "archive.valid": {"en": "Archive {path} is valid and sealed.",
                      "fr": "L'archive {path} est valide et scellée."},
    "archive.invalid": {"en": "Archive {path} is NOT valid:",
                        "fr": "L'archive {path} n'est PAS valide :"},
    "show.head": {"en": "Archive {path}: format v{version}, {sealed}",
                  "fr": "Archive {path} : format v{version}, {sealed}"},
    "show.sealed": {"en": "sealed", "fr": "scellée"},
    "show.unsealed": {"en": "NOT SEALED (a run is writing it, or died)",
                      "fr": "NON SCELLÉE (une copie l'écrit, ou s'est arrêtée)"},
    "show.mail": {"en": "  mail: {messages} messages, {size}, {folders} folders",
                  "fr": "  courrier : {messages} messages, {size}, {folders} dossiers"},
    "show.chat": {"en": "  chat: {messages} messages in {conversations} conversations",
                  "fr": "  conversations : {messages} messages dans {conversations} "
                        "conversations"},
    "status.none": {"en": "No job in {state}.", "fr": "Aucune tâche dans {state}."},
    "status.header": {
        "en": "{id:>4}  {status:<10} {done:>15} {size:>21} {errors:>6}  {source} → {target}",
        "fr": "{id:>4}  {status:<10} {done:>15} {size:>21} {errors:>6}  {source} → {target}"},
    "status.columns": {"en": ("job", "state", "messages", "bytes", "errors", "source",
                              "target"),
                       "fr": ("tâche", "état", "messages", "octets", "erreurs", "source",
                              "cible")},
    "feature.folders": {"en": "folders", "fr": "dossiers"},
    "feature.special-use": {"en": "special-use roles", "fr": "rôles des dossiers spéciaux"},
    "feature.flags": {"en": "flags", "fr": "indicateurs (lu, répondu, suivi…)"},
    "feature.keywords": {"en": "keywords", "fr": "mots-clés et catégories"},
    "feature.internal-date": {"en": "internal (received) dates", "fr": "dates de réception"},
    "feature.date-offset": {"en": "UTC offset of received dates",
                            "fr": "décalage UTC des dates de réception"},
    "feature.original-bytes": {"en": "original bytes", "fr": "octets d'origine"},
    "feature.authors": {"en": "original authors", "fr": "auteurs d'origine"},
    "feature.timestamps": {"en": "original times", "fr": "horodatages d'origine"},
    "feature.threads": {"en": "threads", "fr": "fils de discussion"},
    "feature.reactions": {"en": "reactions", "fr": "réactions"},
    "feature.edits": {"en": "edit history", "fr": "historique des modifications"},
    "feature.attachments": {"en": "attachments", "fr": "pièces jointes"},
    "error.prefix": {"en": "Error: {message}", "fr": "Erreur : {message}"},
}


def detect_language(explicit: str | None = None) -> str:
    """``explicit`` if given, else French when the locale is French, else English."""
    if explicit:
        return explicit
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable)
        if value:
            return "fr" if value.lower().startswith("fr") else "en"
    return "en"


class Texts:
    """Looks texts up in one language."""

    def __init__(self, language: str) -> None:
        if language not in ("en", "fr"):
            raise ValueError(f"unsupported language {language!r}")
        self.language = language

    def __call__(self, key: str, /, **values: object) -> str:
        return MESSAGES[key][self.language].format(**values)

    def raw(self, key: str):
        return MESSAGES[key][self.language]


def human_size(size: float) -> str:
    """Bytes as a short human figure (binary units, as file managers show them)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
