"""Folder mapping: localized special folders, site rules, include/exclude."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrate.errors import ConfigError
from migrate.mapping import FolderMapping, split_path
from migrate.model import Folder, Role


def inbox_only(role: Role):
    return ("INBOX",) if role == Role.INBOX else None


@pytest.mark.parametrize(("name", "role"), [
    ("Boîte de réception", Role.INBOX), ("Éléments envoyés", Role.SENT),
    ("Éléments supprimés", Role.TRASH), ("Brouillons", Role.DRAFTS),
    ("Courrier indésirable", Role.JUNK), ("Boîte d'envoi", Role.OUTBOX),
    ("Archives", Role.ARCHIVE), ("Sent Items", Role.SENT), ("Deleted Items", Role.TRASH),
    ("Gesendete Elemente", Role.SENT), ("Posteingang", Role.INBOX), ("Entwürfe", Role.DRAFTS),
    ("Gelöschte Elemente", Role.TRASH), ("Postausgang", Role.OUTBOX),
    ("BOÎTE DE RÉCEPTION", Role.INBOX),
])
def test_localized_special_folders(name, role):
    assert FolderMapping.load().role_of(Folder((name,))) == role


def test_roles_only_for_top_level_names():
    mapping = FolderMapping.load()
    assert mapping.role_of(Folder(("Projets", "Brouillons"))) is None
    assert mapping.role_of(Folder(("Perso",))) is None


def test_source_role_wins_over_name():
    assert FolderMapping.load().role_of(Folder(("Brouillons",), role=Role.SENT)) == Role.SENT


def test_role_folder_and_children_follow_target_home():
    mapping = FolderMapping.load()
    folders = [Folder(("Boîte de réception",)), Folder(("Boîte de réception", "Projets")),
               Folder(("Perso",))]
    plan = {src.path: dst for src, dst in mapping.plan(folders, inbox_only)}
    assert plan[("Boîte de réception",)] == Folder(("INBOX",), Role.INBOX)
    assert plan[("Boîte de réception", "Projets")].path == ("INBOX", "Projets")
    assert plan[("Perso",)].path == ("Perso",)


def test_site_map_file_rules_and_roles(tmp_path):
    site = tmp_path / "site.toml"
    site.write_text('[roles]\narchive = ["Vieux courriers"]\n'
                    '[folders]\n"Boîte de réception/Ancien" = "Archives/Avant 2020"\n'
                    '"A\\\\/B" = "AB"\n', encoding="utf-8")
    mapping = FolderMapping.load([site])
    assert mapping.role_of(Folder(("Vieux courriers",))) == Role.ARCHIVE
    plan = dict(mapping.plan([Folder(("Boîte de réception", "Ancien", "2019")),
                              Folder(("A/B",))], inbox_only))
    assert plan[Folder(("Boîte de réception", "Ancien", "2019"))].path == (
        "Archives", "Avant 2020", "2019")
    assert plan[Folder(("A/B",))].path == ("AB",)


def test_include_exclude_globs():
    mapping = FolderMapping.load(include=["Archives*", "INBOX"], exclude=["Archives/2019"])
    names = [src.path for src, _ in mapping.plan(
        [Folder(("INBOX",)), Folder(("Archives",)), Folder(("Archives", "2019")),
         Folder(("Archives", "2020")), Folder(("Perso",))], inbox_only)]
    assert names == [("INBOX",), ("Archives",), ("Archives", "2020")]


def test_bad_map_files_are_clear(tmp_path):
    bad_role = tmp_path / "r.toml"
    bad_role.write_text('[roles]\nspam = ["x"]\n')
    with pytest.raises(ConfigError, match="unknown role 'spam'"):
        FolderMapping.load([bad_role])
    broken = tmp_path / "b.toml"
    broken.write_text("[roles\n")
    with pytest.raises(ConfigError, match=r"b\.toml"):
        FolderMapping.load([broken])
    empty_name = tmp_path / "e.toml"
    empty_name.write_text('[folders]\n"A//B" = "C"\n')
    with pytest.raises(ConfigError, match="empty folder name"):
        FolderMapping.load([empty_name])


names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1).filter(
    lambda n: n != "")


@given(st.lists(names, min_size=1, max_size=4))
def test_split_path_round_trips_escaped_names(path):
    text = "/".join(n.replace("\\", "\\\\").replace("/", "\\/") for n in path)
    assert split_path(text) == tuple(path)
