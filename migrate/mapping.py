"""Folder mapping: which source folders are copied, where each lands, and with which role.

Three inputs, applied in this order:
1. ``--include`` / ``--exclude`` globs on the folder path ("/"-joined, e.g. ``Archives/*``);
2. ``[folders]`` rules of ``--map`` files: a source path prefix sent to a target prefix;
3. special-use roles: the source's own, else a top-level name found in
   ``mappings/special-folders.toml`` (localized Exchange/Outlook names) or a ``[roles]``
   table of a ``--map`` file. A folder with a role goes to the folder the target keeps for
   that role, when the target has one (``MailTarget.role_folder``); its subfolders follow.
"""

from __future__ import annotations

import fnmatch
import sys
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError
from .model import Folder, Role

SPECIAL_FOLDERS_FILE = "special-folders.toml"


def mappings_dir() -> Path:
    """Where the bundled mapping files are: the source tree, or the installed data files."""
    candidates = [Path(__file__).resolve().parent.parent / "mappings",
                  Path(sys.prefix) / "share" / "sovereign-migrate" / "mappings"]
    for candidate in candidates:
        if (candidate / SPECIAL_FOLDERS_FILE).is_file():
            return candidate
    raise ConfigError("the bundled mappings/ directory is missing; reinstall sovereign-migrate")


def split_path(text: str) -> tuple[str, ...]:
    """Split a "/"-separated mapping path; ``\\/`` stands for a "/" inside a name."""
    names, current, chars = [], [], iter(text)
    for char in chars:
        if char == "\\":
            current.append(next(chars, "\\"))
        elif char == "/":
            names.append("".join(current))
            current = []
        else:
            current.append(char)
    names.append("".join(current))
    if any(not name for name in names):
        raise ConfigError(f"mapping path {text!r} has an empty folder name")
    return tuple(names)


def _load_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read mapping file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"mapping file {path}: {exc}") from None


@dataclass
class FolderMapping:
    """Decides, for each source folder, whether it is copied and to which target folder."""

    roles: dict[str, Role] = field(default_factory=dict)  # casefolded name -> role
    rules: list[tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=list)
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, map_files: Iterable[str | Path] = (), include: Iterable[str] = (),
             exclude: Iterable[str] = (), special_folders: bool = True) -> FolderMapping:
        mapping = cls(include=list(include), exclude=list(exclude))
        files = [mappings_dir() / SPECIAL_FOLDERS_FILE] if special_folders else []
        for path in [*files, *map(Path, map_files)]:
            mapping._add_file(path)
        # Longest prefix first, so the most specific rule wins.
        mapping.rules.sort(key=lambda rule: len(rule[0]), reverse=True)
        return mapping

    def _add_file(self, path: Path) -> None:
        data = _load_toml(path)
        unknown = set(data) - {"roles", "folders"}
        if unknown:
            raise ConfigError(f"mapping file {path}: unknown table(s) {sorted(unknown)}; "
                              "expected [roles] and [folders]")
        for role_name, names in data.get("roles", {}).items():
            try:
                role = Role(role_name)
            except ValueError:
                known = ", ".join(r.value for r in Role)
                raise ConfigError(f"mapping file {path}: unknown role {role_name!r} "
                                  f"(known: {known})") from None
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ConfigError(f"mapping file {path}: roles.{role_name} must be a list "
                                  "of folder names")
            for name in names:
                self.roles[name.casefold()] = role
        for source, target in data.get("folders", {}).items():
            if not isinstance(target, str):
                raise ConfigError(f"mapping file {path}: folders.{source!r} must be a path")
            self.rules.append((split_path(source), split_path(target)))

    def selected(self, folder: Folder) -> bool:
        """Whether ``--include`` / ``--exclude`` let this folder through."""
        joined = folder.display()
        if self.include and not any(fnmatch.fnmatchcase(joined, p) for p in self.include):
            return False
        return not any(fnmatch.fnmatchcase(joined, p) for p in self.exclude)

    def role_of(self, folder: Folder) -> Role | None:
        """The folder's role: the source's, else from a localized top-level name."""
        if folder.role is not None:
            return folder.role
        if len(folder.path) == 1:
            return self.roles.get(folder.path[0].casefold())
        return None

    def plan(self, folders: Iterable[Folder],
             role_folder: Callable[[Role], tuple[str, ...] | None]) -> list[tuple[Folder, Folder]]:
        """(source folder, target folder) for every selected folder, in source order.

        ``role_folder`` is the target's own lookup of the folder it keeps for a role.
        """
        folders = list(folders)
        tops = {f.path[0]: self.role_of(f) for f in folders if len(f.path) == 1}
        return [(f, self.target_folder(f, role_folder, tops.get(f.path[0])))
                for f in folders if self.selected(f)]

    def target_folder(self, folder: Folder, role_folder: Callable[[Role], tuple[str, ...] | None],
                      top_role: Role | None = None) -> Folder:
        """Where ``folder`` goes; ``top_role`` is the role of its top-level ancestor."""
        role = self.role_of(folder)
        for source_prefix, target_prefix in self.rules:
            if folder.path[: len(source_prefix)] == source_prefix:
                path = target_prefix + folder.path[len(source_prefix):]
                return Folder(path, role if path == folder.path else None)
        if len(folder.path) == 1:
            top_role = role
        elif top_role is None:
            top_role = self.roles.get(folder.path[0].casefold())
        if top_role is not None:
            home = role_folder(top_role)
            if home is not None:
                return Folder(home + folder.path[1:], role)
        return Folder(folder.path, role)
