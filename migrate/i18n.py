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
    "plan.collection": {"en": "  [{kind}] {path:<40} {entries:>7} {noun} {size:>10}{done}",
                        "fr": "  [{kind}] {path:<40} {entries:>7} {noun} {size:>10}{done}"},
    "plan.kind.calendar": {"en": "calendar", "fr": "agenda"},
    "plan.kind.contacts": {"en": "address book", "fr": "carnet d'adresses"},
    "plan.entries.calendar": {"en": "events", "fr": "événements"},
    "plan.entries.contacts": {"en": "contacts", "fr": "contacts"},
    "plan.collections.total": {
        "en": "Calendars: {calendars} ({events} events); address books: {books} "
              "({contacts} contacts)",
        "fr": "Agendas : {calendars} ({events} événements) ; carnets d'adresses : {books} "
              "({contacts} contacts)"},
    "plan.not_held": {
        "en": "Not copied: {kinds}: the target cannot hold them (it holds {holds} only).",
        "fr": "Non copiés : {kinds} : la cible ne peut pas les contenir (elle ne contient "
              "que : {holds})."},
    "plan.left_out": {"en": "Left out by --only: {kinds}.",
                      "fr": "Écartés par --only : {kinds}."},
    "kind.mail": {"en": "mail", "fr": "courriels"},
    "kind.chat": {"en": "chat", "fr": "discussions"},
    "kind.calendar": {"en": "calendars", "fr": "agendas"},
    "kind.contacts": {"en": "contacts", "fr": "contacts"},
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
    "copy.pim.calendar": {
        "en": "Calendars: {copied} events copied in {collections} calendars; {skipped} "
              "already there; {failed} failed.",
        "fr": "Agendas : {copied} événements copiés dans {collections} agendas ; {skipped} "
              "déjà présents ; {failed} en échec."},
    "copy.pim.contacts": {
        "en": "Address books: {copied} contacts copied in {collections} address books; "
              "{skipped} already there; {failed} failed.",
        "fr": "Carnets d'adresses : {copied} contacts copiés dans {collections} carnets ; "
              "{skipped} déjà présents ; {failed} en échec."},
    "copy.pim.changes": {
        "en": "  since the last pass: {updated} changed at the source and updated in the "
              "target; {removed} deleted at the source (recorded, copies kept unless "
              "--delete); {deleted} copies deleted.",
        "fr": "  depuis le dernier passage : {updated} modifié(s) à la source et mis à jour "
              "dans la cible ; {removed} supprimé(s) à la source (consigné(s), copies "
              "conservées sauf --delete) ; {deleted} copie(s) supprimée(s)."},
    "copy.updated": {"en": "Flags brought up to date on {count} messages copied earlier.",
                     "fr": "Indicateurs mis à jour sur {count} messages copiés auparavant."},
    "copy.chat_changed": {
        "en": "{count} chat message(s) copied earlier changed at the source (edited, reacted "
              "to or deleted): their new version was written, former ones kept.",
        "fr": "{count} message(s) de discussion copié(s) auparavant modifié(s) à la source "
              "(édité, réaction, supprimé) : nouvelle version écrite, les précédentes "
              "conservées."},
    "copy.removed": {"en": "{count} message(s) deleted at the source since the last pass: "
                           "recorded, their copies kept (copy --delete deletes them).",
                     "fr": "{count} message(s) supprimé(s) à la source depuis le dernier "
                           "passage : consigné(s), copies conservées (copy --delete les "
                           "supprime)."},
    "copy.deleted": {"en": "{count} copies deleted at the target: deleted at the source "
                           "(--delete).",
                     "fr": "{count} copie(s) supprimée(s) de la cible : supprimée(s) à la "
                           "source (--delete)."},
    "copy.failures": {"en": "Failed items (tried again on the next run):",
                      "fr": "Éléments en échec (retentés au prochain passage) :"},
    "copy.failure": {"en": "  - {folder} [{key}] {subject}: {error}",
                     "fr": "  - {folder} [{key}] {subject} : {error}"},
    "copy.more": {"en": "  … and {count} more: see `migrate status`.",
                  "fr": "  … et {count} de plus : voir `migrate status`."},
    "verify.title": {"en": "Verify: {source} ↔ {target}",
                     "fr": "Vérification : {source} ↔ {target}"},
    "verify.ok": {"en": "Nothing lost: all {count} messages are at the target (byte-identical, "
                        "or transformed as the target declares).",
                  "fr": "Rien n'est perdu : les {count} messages sont dans la cible (identiques "
                        "à l'octet près, ou transformés comme la cible le déclare)."},
    "verify.bad": {"en": "Differences found: {missing} missing, {differ} differ, "
                         "{unverifiable} unverifiable.",
                   "fr": "Écarts trouvés : {missing} manquants, {differ} différents, "
                         "{unverifiable} invérifiables."},
    "verify.item": {"en": "  - {kind}: {folder} | {date} | {sender} | {subject} | {message_id}"
                          "{detail}",
                    "fr": "  - {kind} : {folder} | {date} | {sender} | {subject} | "
                          "{message_id}{detail}"},
    "verify.more": {"en": "  … and {count} more.", "fr": "  … et {count} de plus."},
    "verify.see": {"en": "Every one is listed in {path}.", "fr": "Tous sont listés dans {path}."},
    "verify.ask_report": {"en": "Use --report-json or --report-html to list them all.",
                          "fr": "--report-json ou --report-html les liste tous."},
    "verify.transformation": {"en": "Transformed (not a loss): {name}: {count} messages",
                              "fr": "Transformé (pas une perte) : {name} : {count} messages"},
    "verify.kind.match": {"en": "match", "fr": "identique"},
    "verify.kind.transformed": {"en": "transformed", "fr": "transformé"},
    "verify.kind.missing": {"en": "missing in target", "fr": "absent de la cible"},
    "verify.kind.differ": {"en": "differs", "fr": "diffère"},
    "verify.kind.extra": {"en": "only in target", "fr": "seulement dans la cible"},
    "verify.kind.unverifiable": {"en": "unverifiable", "fr": "invérifiable"},
    "aspect.bytes": {"en": "bytes", "fr": "octets"},
    "aspect.flags": {"en": "flags", "fr": "indicateurs"},
    "aspect.keywords": {"en": "keywords", "fr": "mots-clés"},
    "aspect.internal-date": {"en": "received date", "fr": "date de réception"},
    "aspect.date-offset": {"en": "UTC offset of the received date",
                           "fr": "décalage UTC de la date de réception"},
    "aspect.folder": {"en": "folder", "fr": "dossier"},
    "aspect.body": {"en": "body", "fr": "contenu"},
    "aspect.authors": {"en": "author", "fr": "auteur"},
    "aspect.timestamps": {"en": "times", "fr": "horodatages"},
    "aspect.threads": {"en": "thread", "fr": "fil"},
    "aspect.reactions": {"en": "reactions", "fr": "réactions"},
    "aspect.edits": {"en": "edit history", "fr": "historique des modifications"},
    "aspect.attachments": {"en": "attachments", "fr": "pièces jointes"},
    "verify.conversation": {"en": "  [chat] {name:<33} {counts}",
                            "fr": "  [discussion] {name:<27} {counts}"},
    "verify.visibility": {"en": "  [chat] {name}: who may see the channel differs ({change})",
                          "fr": "  [discussion] {name} : la visibilité du canal diffère "
                                "({change})"},
    "report.visibility": {"en": "{name} (visibility differs: {change})",
                          "fr": "{name} (visibilité différente : {change})"},
    "verify.chat": {"en": "Chat: {match} of {messages} messages match.",
                    "fr": "Discussions : {match} messages sur {messages} identiques."},
    "verify.not_compared": {"en": "Not compared (the target does not hold them): {kinds}",
                            "fr": "Non comparés (la cible ne les contient pas) : {kinds}"},
    "verify.collection": {"en": "  [{kind}] {name:<30} {counts}",
                          "fr": "  [{kind}] {name:<30} {counts}"},
    "verify.pim.calendar": {"en": "Calendars: {match} of {entries} events match.",
                            "fr": "Agendas : {match} événements sur {entries} identiques."},
    "verify.pim.contacts": {"en": "Address books: {match} of {entries} contacts match.",
                            "fr": "Carnets d'adresses : {match} contacts sur {entries} "
                                  "identiques."},
    "verify.pim.translated": {
        "en": "{count} events or contacts were rewritten by the target in its own words "
              "(same start and title, or same name): listed above with −what did not come "
              "back and +what the target added.",
        "fr": "{count} événements ou contacts ont été réécrits par la cible à sa façon "
              "(même début et titre, ou même nom) : listés ci-dessus avec −ce qui n'est pas "
              "revenu et +ce que la cible a ajouté."},
    "report.collections": {"en": "Calendars and address books",
                           "fr": "Agendas et carnets d'adresses"},
    "report.collections.caption": {"en": "Events and contacts by collection and outcome",
                                   "fr": "Événements et contacts par agenda ou carnet et par "
                                         "résultat"},
    "report.col.collection": {"en": "Calendar or address book", "fr": "Agenda ou carnet"},
    "report.col.kind": {"en": "Kind", "fr": "Type"},
    "report.col.error": {"en": "Error", "fr": "Erreur"},
    "report.conversations": {"en": "Conversations", "fr": "Conversations"},
    "report.conversations.caption": {"en": "Chat messages by conversation and outcome",
                                     "fr": "Messages de discussion par conversation et par "
                                           "résultat"},
    "report.col.conversation": {"en": "Conversation", "fr": "Conversation"},
    "transform.crlf": {"en": "line ends stored as CRLF (bare LF became CRLF)",
                       "fr": "fins de ligne stockées en CRLF (les LF seuls sont devenus CRLF)"},
    "transform.flags": {"en": "flags not kept", "fr": "indicateurs non conservés"},
    "transform.keywords": {"en": "keywords not kept", "fr": "mots-clés non conservés"},
    "transform.internal-date": {"en": "received dates not kept",
                                "fr": "dates de réception non conservées"},
    "transform.date-offset": {"en": "received dates in the server's time zone (UTC offset "
                                    "not kept; same instant)",
                              "fr": "dates de réception dans le fuseau du serveur (décalage "
                                    "UTC non conservé ; même instant)"},
    "transform.folder": {"en": "folder renamed to the target's special folder",
                         "fr": "dossier renommé en dossier spécial de la cible"},
    "report.title": {"en": "Verification report", "fr": "Rapport de vérification"},
    "report.generated": {"en": "sovereign-migrate {version}, {time} (UTC)",
                         "fr": "sovereign-migrate {version}, {time} (UTC)"},
    "report.totals": {"en": "Totals", "fr": "Totaux"},
    "report.chart": {"en": "Messages by outcome (bar chart; figures in the table below)",
                     "fr": "Messages par résultat (diagramme en barres ; chiffres dans le "
                           "tableau ci-dessous)"},
    "report.totals.caption": {"en": "Messages by outcome", "fr": "Messages par résultat"},
    "report.transformations.caption": {
        "en": "Transformations declared by the target (not losses)",
        "fr": "Transformations déclarées par la cible (pas des pertes)"},
    "report.folders": {"en": "Folders", "fr": "Dossiers"},
    "report.folders.caption": {"en": "Messages by folder and outcome",
                               "fr": "Messages par dossier et par résultat"},
    "report.items": {"en": "Messages missing, different or unverifiable",
                     "fr": "Messages manquants, différents ou invérifiables"},
    "report.items.caption": {"en": "Every listed message ({count})",
                             "fr": "Tous les messages listés ({count})"},
    "report.items.none": {"en": "None: no message is missing, different or unverifiable.",
                          "fr": "Aucun : aucun message manquant, différent ou invérifiable."},
    "report.col.outcome": {"en": "Outcome", "fr": "Résultat"},
    "report.col.count": {"en": "Messages", "fr": "Messages"},
    "report.col.transformation": {"en": "Transformation", "fr": "Transformation"},
    "report.col.folder": {"en": "Folder", "fr": "Dossier"},
    "report.col.target": {"en": "Target folder", "fr": "Dossier cible"},
    "report.col.how": {"en": "How", "fr": "En quoi"},
    "report.col.date": {"en": "Date", "fr": "Date"},
    "report.col.sender": {"en": "Sender", "fr": "Expéditeur"},
    "report.col.subject": {"en": "Subject", "fr": "Objet"},
    "report.col.message_id": {"en": "Message-ID", "fr": "Message-ID"},
    "cert.title": {"en": "Reversibility certificate", "fr": "Certificat de réversibilité"},
    "cert.subtitle": {"en": "Archive {archive}, round trip through {via}",
                      "fr": "Archive {archive}, aller-retour par {via}"},
    "cert.ok": {"en": "Nothing lost: {identical} of {messages} messages came back "
                      "byte-identical ({percent:.1f} %); every other difference is a "
                      "transformation the target declares.",
                "fr": "Rien n'est perdu : {identical} messages sur {messages} sont revenus "
                      "identiques à l'octet près ({percent:.1f} %) ; tout autre écart est une "
                      "transformation déclarée par la cible."},
    "cert.bad": {"en": "Losses: {lost} items did not come back intact; {identical} of "
                       "{messages} messages came back byte-identical ({percent:.1f} %).",
                 "fr": "Pertes : {lost} éléments ne sont pas revenus intacts ; {identical} "
                       "messages sur {messages} sont revenus identiques à l'octet près "
                       "({percent:.1f} %)."},
    "cert.figures": {"en": "Figures", "fr": "Chiffres"},
    "cert.figures.caption": {"en": "What came back", "fr": "Ce qui est revenu"},
    "cert.chart": {"en": "Messages byte-identical, transformed and lost (figures in the "
                         "table below)",
                   "fr": "Messages identiques, transformés et perdus (chiffres dans le "
                         "tableau ci-dessous)"},
    "cert.messages": {"en": "Messages in the archive", "fr": "Messages dans l'archive"},
    "cert.identical": {"en": "Byte-identical", "fr": "Identiques à l'octet près"},
    "cert.transformed": {"en": "Transformed (declared)", "fr": "Transformés (déclaré)"},
    "cert.lost": {"en": "Lost or different", "fr": "Perdus ou différents"},
    "cert.chat": {"en": "Chat messages back", "fr": "Messages de discussion revenus"},
    "roundtrip.pim": {"en": "Calendars and contacts: {returned} of {entries} entries came back "
                            "byte-identical.",
                      "fr": "Agendas et contacts : {returned} éléments sur {entries} revenus "
                            "identiques à l'octet près."},
    "roundtrip.pim.translated": {
        "en": "{translated} came back translated by {via} (same event or contact, not the "
              "same bytes: see the report for what did not come back).",
        "fr": "{translated} sont revenus traduits par {via} (même événement ou contact, pas "
              "les mêmes octets : voir le rapport pour ce qui n'est pas revenu)."},
    "cert.pim": {"en": "Calendar events and contacts back",
                 "fr": "Événements d'agenda et contacts revenus"},
    "cert.archive.entries": {
        "en": "Original archive: sha256 of its calendar and contacts checksums",
        "fr": "Archive d'origine : sha256 des empreintes de ses agendas et contacts"},
    "cert.returned.entries": {
        "en": "Returned archive: sha256 of its calendar and contacts checksums",
        "fr": "Archive revenue : sha256 des empreintes de ses agendas et contacts"},
    "cert.transformations": {"en": "Transformations", "fr": "Transformations"},
    "cert.transformations.caption": {
        "en": "What the target changed, as it declares (not losses)",
        "fr": "Ce que la cible a changé, comme elle le déclare (pas des pertes)"},
    "cert.transformations.none": {"en": "None: everything came back as it left.",
                                  "fr": "Aucune : tout est revenu tel quel."},
    "cert.attestation": {"en": "Attestation", "fr": "Attestation"},
    "cert.attestation.caption": {"en": "Archives, tool, time and operator",
                                 "fr": "Archives, outil, date et opérateur"},
    "cert.col.what": {"en": "Item", "fr": "Élément"},
    "cert.col.value": {"en": "Value", "fr": "Valeur"},
    "cert.archive.tags": {"en": "Original archive: sha256 of its tag manifest",
                          "fr": "Archive d'origine : sha256 de son manifeste de balises"},
    "cert.archive.messages": {"en": "Original archive: sha256 of its message checksums",
                              "fr": "Archive d'origine : sha256 des empreintes de ses messages"},
    "cert.returned.tags": {"en": "Returned archive: sha256 of its tag manifest",
                           "fr": "Archive revenue : sha256 de son manifeste de balises"},
    "cert.returned.messages": {"en": "Returned archive: sha256 of its message checksums",
                               "fr": "Archive revenue : sha256 des empreintes de ses messages"},
    "cert.via": {"en": "Scratch target", "fr": "Cible d'essai"},
    "cert.tool": {"en": "Tool", "fr": "Outil"},
    "cert.time": {"en": "Time (UTC)", "fr": "Date (UTC)"},
    "cert.operator": {"en": "Operator", "fr": "Opérateur"},
    "cert.written": {"en": "Certificate written: {paths}", "fr": "Certificat écrit : {paths}"},
    "roundtrip.summary": {
        "en": "Round trip through {via}: {identical}/{messages} messages byte-identical "
              "({percent:.1f} %), {lost} lost.",
        "fr": "Aller-retour par {via} : {identical}/{messages} messages identiques à l'octet "
              "près ({percent:.1f} %), {lost} perdus."},
    "roundtrip.renamed": {"en": "Folder renamed (declared): {source} → {target}",
                          "fr": "Dossier renommé (déclaré) : {source} → {target}"},
    "copy.report.title": {"en": "Copy report", "fr": "Rapport de copie"},
    "copy.chart": {"en": "Messages copied, already there and failed (figures in the table "
                         "below)",
                   "fr": "Messages copiés, déjà présents et en échec (chiffres dans le "
                         "tableau ci-dessous)"},
    "copy.folders.caption": {"en": "Messages by folder", "fr": "Messages par dossier"},
    "copy.col.copied": {"en": "copied", "fr": "copiés"},
    "copy.col.skipped": {"en": "already there", "fr": "déjà présents"},
    "copy.col.failed": {"en": "failed", "fr": "en échec"},
    "copy.col.size": {"en": "size copied", "fr": "volume copié"},
    "copy.col.key": {"en": "Source key", "fr": "Clé à la source"},
    "copy.col.error": {"en": "Error", "fr": "Erreur"},
    "copy.failures.title": {"en": "Failed items", "fr": "Éléments en échec"},
    "copy.failures.caption": {"en": "Every failed item ({count}), tried again on the next run",
                              "fr": "Tous les éléments en échec ({count}), retentés au "
                                    "prochain passage"},
    "copy.failures.none": {"en": "None: every item was copied or already there.",
                           "fr": "Aucun : chaque élément a été copié ou était déjà présent."},
    "report.written": {"en": "Report written: {path}", "fr": "Rapport écrit : {path}"},
    "verify.not_held": {"en": "{target} cannot hold (named, not counted as lost):",
                        "fr": "{target} ne peut pas conserver (nommé, non compté comme perdu) :"},
    "verify.not_held.item": {"en": "    {feature}: {reason}", "fr": "    {feature} : {reason}"},
    "verify.unverifiable": {"en": "Not comparable here (kept by only one side): {features}",
                            "fr": "Non comparable ici (conservé d'un seul côté) : {features}"},
    "archive.valid": {"en": "Archive {path} is valid and sealed.",
                      "fr": "L'archive {path} est valide et scellée."},
    "archive.invalid": {"en": "Archive {path} is NOT valid:",
                        "fr": "L'archive {path} n'est PAS valide :"},
    "people.written": {
        "en": "{count} people ({found} found in the directory) written to {path}; fill in "
              "the target_account column before importing.",
        "fr": "{count} personnes ({found} trouvées dans l'annuaire) écrites dans {path} ; "
              "remplissez la colonne target_account avant l'import."},
    "people.none": {"en": "Archive {path} has no identity map (no chat was copied into it "
                          "by this version).",
                    "fr": "L'archive {path} n'a pas de table des personnes (aucune "
                          "conversation n'y a été copiée par cette version)."},
    "show.head": {"en": "Archive {path}: format v{version}, {sealed}",
                  "fr": "Archive {path} : format v{version}, {sealed}"},
    "show.sealed": {"en": "sealed", "fr": "scellée"},
    "show.unsealed": {"en": "NOT SEALED (a run is writing it, or died)",
                      "fr": "NON SCELLÉE (une copie l'écrit, ou s'est arrêtée)"},
    "show.mail": {"en": "  mail: {messages} messages, {size}, {folders} folders",
                  "fr": "  courrier : {messages} messages, {size}, {folders} dossiers"},
    "show.account": {"en": "  from {account}: {messages} messages",
                     "fr": "  depuis {account} : {messages} messages"},
    "show.derived": {"en": "  rebuilt from {file} (sha256 {sha256}…): {messages} messages, "
                           "marked as derived",
                     "fr": "  reconstruits depuis {file} (sha256 {sha256}…) : {messages} "
                           "messages, marqués comme dérivés"},
    "show.calendar": {"en": "  calendars: {entries} events in {collections} calendars",
                      "fr": "  agendas : {entries} événements dans {collections} agendas"},
    "show.contacts": {"en": "  address books: {entries} contacts in {collections} address "
                            "books",
                      "fr": "  carnets d'adresses : {entries} contacts dans {collections} "
                            "carnets"},
    "show.chat": {"en": "  chat: {messages} messages in {conversations} conversations",
                  "fr": "  conversations : {messages} messages dans {conversations} "
                        "conversations"},
    "audit.none": {"en": "No audit event in {state} matches.",
                   "fr": "Aucun événement du journal d'audit de {state} ne correspond."},
    "audit.pair": {"en": "  [job {job}: {pair}]", "fr": "  [tâche {job} : {pair}]"},
    "audit.outcome.done": {"en": "all done", "fr": "tout est fait"},
    "audit.outcome.failed-items": {"en": "some items failed",
                                   "fr": "des éléments en échec"},
    "audit.outcome.aborted": {"en": "stopped by an error", "fr": "arrêtée par une erreur"},
    "audit.outcome.interrupted": {"en": "interrupted", "fr": "interrompue"},
    "audit.run_pair": {"en": ": {source} → {target}", "fr": " : {source} → {target}"},
    "audit.event.run-started": {"en": "run {run}: migrate {command} started{pair}",
                                "fr": "exécution {run} : migrate {command} lancé{pair}"},
    "audit.event.run-finished": {
        "en": "run {run} ended: {outcome}, {copied} copied, {failed} failed",
        "fr": "exécution {run} terminée : {outcome}, {copied} copiés, {failed} en échec"},
    "audit.event.job-started": {"en": "copy of the pair started (run {run})",
                                "fr": "copie de la paire commencée (exécution {run})"},
    "audit.event.job-finished": {
        "en": "copy of the pair ended: {outcome}, {copied} copied, {failed} failed",
        "fr": "copie de la paire terminée : {outcome}, {copied} copiés, {failed} en échec"},
    "audit.event.source-deleted": {
        "en": "{count} item(s) deleted at the source, in {folder}: their copies are kept",
        "fr": "{count} élément(s) supprimé(s) à la source, dans {folder} : leurs copies "
              "sont conservées"},
    "audit.event.target-deleted": {
        "en": "copy of {item} deleted at the target, in {folder} (deleted at the source; "
              "copy --delete)",
        "fr": "copie de {item} supprimée sur la cible, dans {folder} (supprimé à la "
              "source ; copy --delete)"},
    "audit.event.source-changed-copy-kept": {
        "en": "{count} entry(ies) changed at the source, in {folder}: the target cannot "
              "update them, their former copies are kept",
        "fr": "{count} entrée(s) modifiée(s) à la source, dans {folder} : la cible ne sait "
              "pas les mettre à jour, les copies précédentes sont conservées"},
    "audit.event.chat-change-not-carried": {
        "en": "a change of message {key}, in {folder}, cannot be carried to the target",
        "fr": "la modification du message {key}, dans {folder}, ne peut pas être reportée "
              "sur la cible"},
    "audit.event.batch-started": {
        "en": "batch pass (run {run}) started: {jobs} pairs to copy, {skipped} left out",
        "fr": "passe de lot (exécution {run}) lancée : {jobs} paires à copier, {skipped} "
              "écartées"},
    "audit.event.batch-resumed": {
        "en": "batch pass (run {run}) resumed: the same jobs file, unfinished",
        "fr": "passe de lot (exécution {run}) reprise : même fichier de paires, inachevée"},
    "audit.event.batch-enqueued": {
        "en": "batch pass (run {run}): {queued} pairs queued for the workers ({already} "
              "already queued)",
        "fr": "passe de lot (exécution {run}) : {queued} paires mises en file pour les "
              "workers ({already} déjà en file)"},
    "audit.event.batch-job-stalled": {
        "en": "worker {dead_worker} silent for {silent_for} s: its pair goes back to the "
              "queue (seen by {found_by})",
        "fr": "worker {dead_worker} muet depuis {silent_for} s : sa paire retourne dans la "
              "file (vu par {found_by})"},
    "audit.event.batch-job-taken-over": {
        "en": "pair taken over by {new_worker} from {dead_worker} (attempt {attempt})",
        "fr": "paire reprise par {new_worker} à {dead_worker} (tentative {attempt})"},
    "audit.event.worker-started": {"en": "worker {worker} started ({concurrency} at once)",
                                   "fr": "worker {worker} démarré ({concurrency} à la fois)"},
    "audit.event.worker-stopped": {"en": "worker {worker} stopped",
                                   "fr": "worker {worker} arrêté"},
    "status.none": {"en": "No job in {state}.", "fr": "Aucune tâche dans {state}."},
    "status.row": {
        "en": "{id:>4}  {status:<11} {done:>13} {size:>21} {errors:>6} {rate:>9} {eta:>12}  "
              "{name}",
        "fr": "{id:>4}  {status:<11} {done:>13} {size:>21} {errors:>6} {rate:>9} {eta:>12}  "
              "{name}"},
    "status.columns": {"en": ("job", "state", "messages", "bytes", "errors", "rate", "ETA",
                              "mailbox"),
                       "fr": ("tâche", "état", "messages", "octets", "erreurs", "débit",
                              "fin estimée", "boîte")},
    "status.rate": {"en": "{rate:.1f} msg/s", "fr": "{rate:.1f} msg/s"},
    "status.total": {
        "en": "{jobs} jobs ({states}); {done}/{total} messages, {size} copied.",
        "fr": "{jobs} tâches ({states}) ; {done}/{total} messages, {size} copiés."},
    "status.state.pending": {"en": "pending", "fr": "en attente"},
    "status.state.running": {"en": "running", "fr": "en cours"},
    "status.state.done": {"en": "done", "fr": "terminée"},
    "status.state.failed": {"en": "failed", "fr": "en échec"},
    "status.state.aborted": {"en": "stopped", "fr": "arrêtée"},
    "status.state.interrupted": {"en": "interrupted", "fr": "interrompue"},
    "plan.window": {
        "en": "This pass copies only messages received from {since} to before {before}; "
              "the counts above are of whole folders.",
        "fr": "Ce passage ne copie que les messages reçus du {since} jusqu'avant le "
              "{before} ; les nombres ci-dessus sont ceux des dossiers entiers."},
    "batch.checked": {"en": "Jobs file {path}: {jobs} pairs, all valid.",
                      "fr": "Fichier de tâches {path} : {jobs} paires, toutes valides."},
    "batch.job.done": {
        "en": "[{done}/{total}] {name}: done, {copied} copied ({seconds:.1f} s)",
        "fr": "[{done}/{total}] {name} : terminée, {copied} copiés ({seconds:.1f} s)"},
    "batch.job.failed": {
        "en": "[{done}/{total}] {name}: FAILED, {copied} copied, {failed} failed {error}",
        "fr": "[{done}/{total}] {name} : EN ÉCHEC, {copied} copiés, {failed} en échec "
              "{error}"},
    "batch.job.interrupted": {
        "en": "[{done}/{total}] {name}: interrupted, to be resumed",
        "fr": "[{done}/{total}] {name} : interrompue, à reprendre"},
    "batch.resumed": {
        "en": "Resumed an unfinished pass: {skipped} pairs already done were skipped.",
        "fr": "Reprise d'un passage inachevé : {skipped} paires déjà terminées ignorées."},
    "batch.interrupted": {
        "en": "Interrupted: run the same command again to resume.",
        "fr": "Interrompu : relancez la même commande pour reprendre."},
    "batch.summary": {
        "en": "Batch: {jobs} pairs run, {done} done, {failed} not done; {copied} messages "
              "copied, {items} items failed.",
        "fr": "Lot : {jobs} paires traitées, {done} terminées, {failed} non terminées ; "
              "{copied} messages copiés, {items} éléments en échec."},
    "batch.queued": {
        "en": "Queued {queued} pairs in {state} ({already} already queued or running, "
              "{skipped} already done): start `migrate worker` on one or more machines.",
        "fr": "{queued} paires mises en file dans {state} ({already} déjà en file ou en "
              "cours, {skipped} déjà terminées) : lancez `migrate worker` sur une ou "
              "plusieurs machines."},
    "batch.no_worker": {
        "en": "No pair has started for {seconds} s: is a `migrate worker` running against "
              "this state database? (still waiting; Ctrl-C stops waiting, not the pass)",
        "fr": "Aucune paire n'a démarré depuis {seconds} s : un `migrate worker` tourne-t-il "
              "sur cette base d'état ? (attente en cours ; Ctrl-C arrête l'attente, pas le "
              "passage)"},
    "batch.progress": {
        "en": "Pass {batch}: {done}/{total} done, {running} running, {waiting} waiting, "
              "{failed} failed.",
        "fr": "Passage {batch} : {done}/{total} terminées, {running} en cours, {waiting} en "
              "attente, {failed} en échec."},
    "batch.queue_needs_postgresql": {
        "en": "--queue needs a PostgreSQL state database (--state postgresql://…): the "
              "queue lives in it.",
        "fr": "--queue demande une base d'état PostgreSQL (--state postgresql://…) : la "
              "file y est tenue."},
    "worker.started": {
        "en": "Worker {name} takes pairs from {state} ({concurrency} at a time); Ctrl-C "
              "stops it once its running pairs end.",
        "fr": "Le travailleur {name} prend les paires de {state} ({concurrency} à la fois) ;"
              " Ctrl-C l'arrête une fois ses paires en cours terminées."},
    "worker.stopped": {"en": "Worker {name} stopped.",
                       "fr": "Travailleur {name} arrêté."},
    "mailboxes.title": {"en": "Migration report by mailbox",
                        "fr": "Rapport de migration par boîte aux lettres"},
    "mailboxes.heading": {"en": "Mailboxes", "fr": "Boîtes aux lettres"},
    "mailboxes.verdict": {
        "en": "{mailboxes} mailboxes: {done} done, {other} not done; {messages} messages "
              "({size}) copied; {failed} items failed.",
        "fr": "{mailboxes} boîtes : {done} terminées, {other} non terminées ; {messages} "
              "messages ({size}) copiés ; {failed} éléments en échec."},
    "mailboxes.caption": {"en": "Every mailbox ({count})",
                          "fr": "Toutes les boîtes ({count})"},
    "mailboxes.col.mailbox": {"en": "Mailbox", "fr": "Boîte"},
    "mailboxes.col.state": {"en": "State", "fr": "État"},
    "mailboxes.col.messages": {"en": "Messages copied/total", "fr": "Messages copiés/total"},
    "mailboxes.col.size": {"en": "Size copied/total", "fr": "Volume copié/total"},
    "mailboxes.col.failed": {"en": "Failed items", "fr": "Éléments en échec"},
    "mailboxes.col.duration": {"en": "Duration (last run)", "fr": "Durée (dernier passage)"},
    "mailboxes.col.copied": {"en": "Copied (last pass)", "fr": "Copiés (dernier passage)"},
    "mailboxes.col.skipped": {"en": "Already there (last pass)",
                              "fr": "Déjà présents (dernier passage)"},
    "mailboxes.col.source": {"en": "Source", "fr": "Source"},
    "mailboxes.col.target": {"en": "Target", "fr": "Cible"},
    "mailboxes.col.error": {"en": "Why it stopped", "fr": "Cause de l'arrêt"},
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
    "feature.source-record": {"en": "the source's own record of each message (e.g. Graph's "
                                    "JSON)",
                              "fr": "l'enregistrement d'origine de chaque message (par "
                                    "exemple le JSON de Graph)"},
    "feature.event-details": {"en": "event details", "fr": "détails des événements"},
    "feature.contact-details": {"en": "contact details", "fr": "détails des contacts"},
    # The HTML transcript of a conversation in an archive (migrate/archive/transcript.py).
    "transcript.system": {"en": "system", "fr": "système"},
    "transcript.edited": {"en": "edited", "fr": "modifié le"},
    "transcript.deleted": {"en": "deleted", "fr": "supprimé le"},
    "transcript.reactions": {"en": "reactions: {items}", "fr": "réactions : {items}"},
    "transcript.earlier": {"en": "{count} earlier version(s)",
                           "fr": "{count} version(s) antérieure(s)"},
    "transcript.former": {"en": "{count} former archived version(s)",
                          "fr": "{count} version(s) archivée(s) antérieure(s)"},
    "transcript.members": {"en": "members: {names}", "fr": "membres : {names}"},
    "transcript.bytes": {"en": "{size} bytes", "fr": "{size} octets"},
    "transcript.unreadable": {"en": "[an unreadable line of {file} at byte {at}]",
                              "fr": "[une ligne illisible de {file}, à l'octet {at}]"},
    "transcript.kind.channel": {"en": "channel", "fr": "canal"},
    "transcript.kind.group-chat": {"en": "group chat", "fr": "conversation de groupe"},
    "transcript.kind.direct-chat": {"en": "one-to-one chat", "fr": "conversation à deux"},
    "transcript.kind.room": {"en": "room", "fr": "salon"},
    "transcript.visibility.standard": {"en": "standard", "fr": "standard"},
    "transcript.visibility.private": {"en": "private", "fr": "privé"},
    "transcript.visibility.shared": {"en": "shared", "fr": "partagé"},
    "copy.pim.lossy.calendar": {
        "en": "  {count} of these events were written without details the target cannot hold "
              "(--report-html lists them).",
        "fr": "  {count} de ces événements ont été écrits sans des détails que la cible ne sait "
              "pas garder (--report-html les liste)."},
    "copy.pim.lossy.contacts": {
        "en": "  {count} of these contacts were written without details the target cannot "
              "hold (--report-html lists them).",
        "fr": "  {count} de ces contacts ont été écrits sans des détails que la cible ne sait "
              "pas garder (--report-html les liste)."},
    "copy.losses.title": {"en": "Written without some details",
                          "fr": "Écrits sans certains détails"},
    "copy.losses.caption": {
        "en": "{count} entries copied without details the target cannot hold",
        "fr": "{count} entrées copiées sans des détails que la cible ne sait pas garder"},
    "copy.col.title": {"en": "Title", "fr": "Titre"},
    "copy.col.lost": {"en": "Not carried", "fr": "Non repris"},
    "error.prefix": {"en": "Error: {message}", "fr": "Erreur : {message}"},
    "error.hint.rerun": {
        "en": "What to do: run the same command again; the copy resumes where it stopped.",
        "fr": "À faire : relancez la même commande ; la copie reprend où elle s'est "
              "arrêtée."},
    "error.hint.config": {
        "en": "What to do: correct the command, the endpoint or the config file named "
              "above, then run it again.",
        "fr": "À faire : corrigez la commande, le point d'accès ou le fichier de "
              "configuration indiqué ci-dessus, puis relancez."},
    "error.hint.capability": {
        "en": "What to do: choose a source and target that can hold this (`migrate "
              "connectors` lists what each can do).",
        "fr": "À faire : choisissez une source et une cible qui le permettent (`migrate "
              "connectors` dit ce que chacune sait faire)."},
    "error.hint.connect": {
        "en": "What to do: check the server's address and port, that it answers from this "
              "machine and its certificate; run again: the copy resumes.",
        "fr": "À faire : vérifiez l'adresse et le port du serveur, qu'il répond depuis "
              "cette machine et son certificat ; relancez : la copie reprend."},
    "error.hint.auth": {
        "en": "What to do: check the account and its secret (password_file, password_env, "
              "token_file …) or the application's rights; run again: the copy resumes.",
        "fr": "À faire : vérifiez le compte et son secret (password_file, password_env, "
              "token_file …) ou les droits de l'application ; relancez : la copie "
              "reprend."},
    "error.hint.mailbox": {
        "en": "What to do: the mailbox is gone, being moved or its store is down: check it "
              "with the server's administrator, then run again: the copy resumes.",
        "fr": "À faire : la boîte n'existe plus, est en cours de déplacement ou son "
              "stockage est arrêté : voyez-le avec l'administrateur du serveur, puis "
              "relancez : la copie reprend."},
    "error.hint.archive": {
        "en": "What to do: `migrate archive validate DIR` says what is wrong with the "
              "archive; an archive is never repaired in place.",
        "fr": "À faire : `migrate archive validate DOSSIER` dit ce qui ne va pas dans "
              "l'archive ; une archive n'est jamais réparée sur place."},
    "error.hint.state": {
        "en": "What to do: check the state database (--state: its path and rights, or the "
              "PostgreSQL server and its URL).",
        "fr": "À faire : vérifiez la base d'état (--state : son chemin et ses droits, ou le "
              "serveur PostgreSQL et son URL)."},
    # Written into a message rebuilt from a .pst, in both languages (see connectors/pst).
    "pst.attachment_not_kept": {
        "en": "sovereign-migrate: the attachment \"{name}\" of this message was not kept: "
              "{why}.",
        "fr": "sovereign-migrate : la pièce jointe « {name} » de ce message n'a pas été "
              "conservée : {why}."},
    "pst.lost.embedded": {
        "en": "it is an attached message that cannot be read ({why})",
        "fr": "c'est un message joint qui ne peut pas être lu ({why})"},
    "pst.lost.damaged": {
        "en": "its data is in a part of the Outlook file that is missing or damaged ({why})",
        "fr": "ses données sont dans une partie du fichier Outlook manquante ou abîmée "
              "({why})"},
    "pst.recovered": {
        "en": "{file} cannot be opened normally (truncated or damaged): {count} messages "
              "read from its intact blocks go to the folder \"{folder}\"; {lost} seen but "
              "unreadable are listed as failures",
        "fr": "{file} ne s'ouvre pas normalement (tronqué ou abîmé) : {count} messages lus "
              "dans ses blocs intacts vont dans le dossier « {folder} » ; {lost} vus mais "
              "illisibles sont listés en échec"},
    "pst.lost.link": {
        "en": "it is a link to {where}, whose content the Outlook file does not hold",
        "fr": "c'est un lien vers {where}, dont le fichier Outlook ne contient pas le "
              "contenu"},
}


def operator_language() -> str:
    """The language chosen for this process and the ones it starts (``--lang``, kept in
    MIGRATE_LANG), else the locale's: for what is written far from the command line,
    such as an archive's transcripts."""
    chosen = os.environ.get("MIGRATE_LANG")
    return detect_language(chosen if chosen in ("en", "fr") else None)


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
