"""The jobs file of ``migrate batch``: every problem reported with its line, before any copy."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli, synthetic_message, write_mbox

from migrate.endpoint import Config
from migrate.engine import DateWindow
from migrate.errors import ConfigError
from migrate.jobs_csv import JobsFileError, JobSpec, load_jobs

CONFIG = """
[endpoints.mairie-exchange]
url = "imap://agent@mail.mairie.test"
password_env = "MAIRIE_PW"
"""


@pytest.fixture
def config(tmp_path) -> Config:
    path = tmp_path / "migrate.toml"
    path.write_text(CONFIG)
    return Config.load(path)


def jobs_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jobs.csv"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str, config: Config) -> dict[int, str]:
    """Line → problem text (several on one line joined)."""
    with pytest.raises(JobsFileError) as caught:
        load_jobs(jobs_file(tmp_path, text), config)
    found: dict[int, str] = {}
    for line, message in caught.value.problems:
        found[line] = found.get(line, "") + message
    return found


def test_a_valid_file_resolves_names_and_urls_and_splits_options(tmp_path, config):
    specs = load_jobs(jobs_file(tmp_path,
                                "source,target,label,include,exclude,since,before\n"
                                "mairie-exchange,maildir:/srv/a,Alice Martin,INBOX;Sent,"
                                "Junk,,2026-11-01\n"
                                "\n"
                                "mbox:/srv/b.mbox,maildir:/srv/b,,,,2025-01-01,\n"), config)
    assert [spec.line for spec in specs] == [2, 4]
    first, second = specs
    assert first.source_display == "imap://agent@mail.mairie.test"
    assert first.target_display == "maildir:/srv/a"
    assert first.name == "Alice Martin"
    assert first.include == ("INBOX", "Sent") and first.exclude == ("Junk",)
    assert first.before == "2026-11-01" and first.since is None
    assert second.name == "mbox:/srv/b.mbox" and second.since == "2025-01-01"


def test_the_command_line_dates_apply_to_rows_without_their_own(tmp_path, config):
    window = DateWindow.parse(None, "2026-10-01")
    specs = load_jobs(jobs_file(tmp_path, "source,target,before\n"
                                          "mbox:/a.mbox,maildir:/a,\n"
                                          "mbox:/b.mbox,maildir:/b,2026-09-01\n"), config, window)
    assert DateWindow.parse(specs[0].since, specs[0].before) == window
    assert specs[1].before == "2026-09-01"


def test_a_missing_required_column_is_named_on_line_1(tmp_path, config):
    found = problems(tmp_path, "source,label\nmbox:/a.mbox,Alice\n", config)
    assert list(found) == [1]
    assert "'target'" in found[1]


def test_an_unknown_column_is_refused_rather_than_ignored(tmp_path, config):
    found = problems(tmp_path, "source,target,folders\nmbox:/a.mbox,maildir:/a,INBOX\n",
                     config)
    assert "unknown column 'folders'" in found[1]


def test_every_bad_row_is_reported_at_once_with_its_line(tmp_path, config):
    found = problems(tmp_path,
                     "source,target,since\n"
                     "mbox:/a.mbox,maildir:/a,\n"               # 2: fine
                     "alice-nowhere,maildir:/b,\n"              # 3: unknown name
                     "mbox:/c.mbox,ftp://c.test/x,\n"           # 4: unknown scheme
                     "mbox:/a.mbox,maildir:/a,\n"               # 5: duplicate of 2
                     "mbox:/d.mbox,maildir:/d,le 3 mars\n"      # 6: bad date
                     "mbox:/e.mbox,,\n",                        # 7: empty target
                     config)
    assert set(found) == {3, 4, 5, 6, 7}
    assert "alice-nowhere" in found[3] and "config file" in found[3]
    assert "no connector for 'ftp:'" in found[4]
    assert "already on line 2" in found[5]
    assert "not a date" in found[6]
    assert "target is empty" in found[7]


def test_a_password_in_a_url_is_refused_without_being_echoed(tmp_path, config):
    found = problems(tmp_path,
                     "source,target\n"
                     "imap://alice:Hunter2secret@mail.test,maildir:/a\n"
                     "imap://bob@mail.test?password=Hunter3secret,maildir:/b\n", config)
    assert "password in its URL" in found[2]
    assert "credential" in found[3] and "password" in found[3]
    with pytest.raises(JobsFileError) as caught:
        load_jobs(tmp_path / "jobs.csv", config)
    assert "Hunter" not in str(caught.value)


def test_since_after_before_would_copy_nothing(tmp_path, config):
    found = problems(tmp_path, "source,target,since,before\n"
                               "mbox:/a.mbox,maildir:/a,2026-02-01,2026-01-01\n", config)
    assert "copy nothing" in found[2]


def test_an_empty_file_or_a_header_alone_is_an_error(tmp_path, config):
    with pytest.raises(JobsFileError):
        load_jobs(jobs_file(tmp_path, ""), config)
    assert "no job" in str(problems(tmp_path, "source,target\n", config)[0])


def test_a_file_that_cannot_be_read_is_a_config_error(tmp_path, config):
    with pytest.raises(ConfigError, match="cannot read the jobs file"):
        load_jobs(tmp_path / "absent.csv", config)


def test_the_cli_rejects_a_bad_file_before_copying_anything(tmp_path):
    source = write_mbox(tmp_path / "a.mbox", [synthetic_message(n) for n in range(3)])
    jobs = jobs_file(tmp_path, "source,target\n"
                               f"mbox:{source},maildir:{tmp_path / 'out-a'}\n"
                               f"mbox:{source},maildir:{tmp_path / 'out-a'}\n"
                               f"imap://x:pw@h.test,maildir:{tmp_path / 'out-b'}\n")
    state = tmp_path / "state.db"
    done = run_cli("batch", str(jobs), "--state", str(state))
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{jobs}:3:" in done.stderr and f"{jobs}:4:" in done.stderr
    assert "nothing was copied" in done.stderr
    assert not state.exists()
    assert not (tmp_path / "out-a").exists() and not (tmp_path / "out-b").exists()


def test_check_only_validates_and_a_spec_round_trips_through_the_state(tmp_path, config):
    jobs = jobs_file(tmp_path, "source,target,label,include\n"
                               f"mbox:{tmp_path / 'a.mbox'},maildir:{tmp_path / 'a'},A,INBOX;X\n")
    state = tmp_path / "state.db"
    done = run_cli("batch", str(jobs), "--check", "--state", str(state))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 pairs, all valid" in done.stdout
    assert not state.exists() and not (tmp_path / "a").exists()
    spec = load_jobs(jobs, config)[0]
    assert JobSpec.from_dict(spec.to_dict()) == spec
