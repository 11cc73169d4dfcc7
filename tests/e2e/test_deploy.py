"""The deployment material. No container engine runs on this machine (the docker client does, no
daemon), so the image's own command is run as the Dockerfile would run it: its environment, its
CMD, then its HEALTHCHECK, then its STOPSIGNAL, on the package installed in this venv."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import tomllib
from pathlib import Path

import yaml

from tests.support.serve_process import REPO, jeeves_serve

DOCKERFILE = (REPO / "Dockerfile").read_text("utf-8")


def _instruction(name: str) -> str:
    """The last `NAME ...` instruction of the final stage, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    found = re.findall(rf"^{name}\s+(.*)$", joined, re.M)
    assert found, name
    return str(found[-1])


def _exec_form(text: str) -> list[str]:
    command = text.split("CMD", 1)[1].strip() if text.startswith("--") else text
    return list(json.loads(command))


def test_the_images_command_serves_passes_its_healthcheck_and_stops_on_its_signal(tmp_path: Path) -> None:
    env = dict(re.findall(r"(\w+)=(\S+)", _instruction("ENV")))
    assert env["JEEVES_HOST"] == "0.0.0.0" and env["JEEVES_DATABASE_URL"].startswith("/data/")
    env.update(PATH=f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}", JEEVES_PORT="0",
               JEEVES_DATABASE_URL=str(tmp_path / "jeeves.db"))
    command = _exec_form(_instruction("CMD"))
    assert command == ["jeeves", "serve"]
    with jeeves_serve([str(REPO / ".venv" / "bin" / command[0]), *command[1:]], env=env, cwd=tmp_path) as served:
        assert served.admin_token is not None  # the first start prints one, for `docker logs`
        port = served.url.rsplit(":", 1)[1]
        healthcheck = _exec_form(_instruction("HEALTHCHECK"))
        probe = subprocess.run(
            [str(REPO / ".venv" / "bin" / "python"), *healthcheck[1:]], env={**env, "JEEVES_PORT": port},
            capture_output=True, text=True, timeout=30,
        )
        assert probe.returncode == 0, probe.stderr
        stop = signal.Signals[_instruction("STOPSIGNAL").strip()]
        served.process.send_signal(stop)
        assert served.process.wait(timeout=15) in (0, -stop)
    assert (tmp_path / "jeeves.db").is_file()


def test_the_image_runs_as_a_user_of_its_own() -> None:
    assert _instruction("USER").strip() == "jeeves"
    assert "useradd --system" in DOCKERFILE and "--uid 10001" in DOCKERFILE


def test_compose_runs_two_instances_on_one_postgresql() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text("utf-8"))
    services = compose["services"]
    instances = [s for name, s in services.items() if name.startswith("jeeves")]
    assert len(instances) == 2 and services["db"]["image"].startswith("postgres")
    urls = {s["environment"]["JEEVES_DATABASE_URL"] for s in instances}
    assert len(urls) == 1 and next(iter(urls)).startswith("postgresql://") and "@db:5432/" in next(iter(urls))


def test_the_systemd_unit_runs_jeeves_serve() -> None:
    unit = (REPO / "deploy" / "jeeves.service").read_text("utf-8")
    exec_start = re.search(r"^ExecStart=(.*)$", unit, re.M)
    assert exec_start is not None and shlex.split(exec_start.group(1))[1:] == ["serve"]
    assert "DynamicUser=yes" in unit and "WantedBy=multi-user.target" in unit


def test_the_licence_file_matches_the_package() -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]["license"]
    assert declared == "MIT" and (REPO / "LICENSE").read_text("utf-8").startswith("MIT License")
    assert (REPO / "CHANGELOG.md").read_text("utf-8").startswith("# Changelog")
