from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge import config
from edge.errors import ConfigError


def hall(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, timeout=60, **kw)  # type: ignore[call-overload]


def test_defaults_describe_a_demo_hall() -> None:
    cfg = config.load_text(config.default_text(), defaults=False)
    assert [(b.code, b.name) for b in cfg.businesses] == [
        ("A", "电费缴纳"),
        ("B", "业扩报装"),
        ("C", "变更用电"),
        ("D", "咨询"),
    ]
    assert len(cfg.counters) == 4 and all(c.primary for c in cfg.counters)
    assert [t.name for t in cfg.tags] == ["VIP"]
    assert cfg.hall.opening_hours


def test_a_file_overrides_defaults_table_by_table() -> None:
    cfg = config.load_text('[queue]\nmax_recalls = 5\n[hall]\nid = "sz-01"\nname = "深圳福田营业厅"\n')
    assert (cfg.queue.max_recalls, cfg.queue.ratio_normal, cfg.hall.id) == (5, 2, "sz-01")
    assert len(cfg.businesses) == 4


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("[queue]\nratio_normal = 2\nmax_recall = 4\n", 3, "queue.max_recall: unknown key"),
        ("[queue]\n\nmax_wait_minutes = 0\n", 3, "queue.max_wait_minutes: Input should be greater than or equal to 1"),
        ('[hall]\nid = "x"\nname = "X"\ntimezone = "Mars/Olympus"\n', 4, "unknown time zone"),
        (
            '[[businesses]]\ncode = "A"\nname = "电费"\n[[businesses]]\ncode = "bb"\nname = "B"\n',
            5,
            "businesses.1.code",
        ),
        (
            '[[counters]]\nid = "1"\nname = "1号"\nprimary = ["A"]\ncolour = "red"\n',
            5,
            "counters.0.colour: unknown key",
        ),
    ],
)
def test_errors_name_the_key_and_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        config.load_text(text, "hall.toml")
    assert f"hall.toml:{line}:" in str(err.value)
    assert message in str(err.value)


def test_cross_references_are_checked() -> None:
    with pytest.raises(ConfigError, match="counter 9 names unknown business 'Z'"):
        config.load_text('[[counters]]\nid = "9"\nname = "9号"\nprimary = ["Z"]\n')


def test_unknown_service_section_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"services\.teleporter: no installed service"):
        config.load_text("[services.teleporter]\nspeed = 1\n")


def test_a_service_installed_but_gone_is_named_not_a_traceback(tmp_path: Path) -> None:
    """A service's package removed or renamed while its entry point stays installed (a stale install)."""
    dist = tmp_path / "ghost_service-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ghost-service\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[hall.config]\nghost = ghost_service.config:GhostConfig\n")
    conf = tmp_path / "hall.toml"
    conf.write_text("[services.ghost]\nspeed = 1\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    res = subprocess.run(
        [sys.executable, "-m", "edge", "config", "check", str(conf)], capture_output=True, text=True, env=env
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert "services.ghost: the installed service's settings (ghost_service.config:GhostConfig) cannot be" in res.stderr
    assert "No module named 'ghost_service'" in res.stderr


def test_config_check_command(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[hall]\nid = "h2"\nname = "二号厅"\n')
    ok = hall("config", "check", str(good))
    assert ok.returncode == 0 and "h2" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[hall]\nid = "h2"\nname = "二号厅"\nnmae = "typo"\n')
    res = hall("config", "check", str(bad))
    assert res.returncode == 2
    assert f"{bad}:4: hall.nmae: unknown key" in res.stderr
    missing = hall("config", "check", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "cannot read config" in missing.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("[hall\n")
    res = hall("config", "check", str(broken))
    assert res.returncode == 2 and "not valid TOML" in res.stderr


def test_config_check_names_the_line_of_a_byte_that_is_not_utf8_and_of_nesting_too_deep(tmp_path: Path) -> None:
    latin = tmp_path / "latin.toml"
    latin.write_bytes('[hall]\nid = "h3"\nname = "Caf\xe9 hall"\n'.encode("latin-1"))
    res = hall("config", "check", str(latin))
    assert res.returncode == 2
    assert res.stderr.strip() == f"hall: {latin}:3:12: not UTF-8 (byte 0xe9); save the file as UTF-8"
    deep = tmp_path / "deep.toml"
    deep.write_text('[hall]\nid = "h3"\n\nx = ' + "[" * 5000 + "]" * 5000 + "\n")
    res = hall("config", "check", str(deep))
    assert res.returncode == 2
    assert res.stderr.strip() == f"hall: {deep}:4: arrays or inline tables nested more than 16 deep"
    strings = tmp_path / "strings.toml"  # brackets inside strings and comments do not count
    strings.write_text('[hall]\nid = "h3"\nname = "' + "[" * 40 + '" # ' + "{" * 40 + "\n")
    assert hall("config", "check", str(strings)).returncode == 0
