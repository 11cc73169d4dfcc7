"""The `jeeves` CLI: database commands in-process (click's runner), server commands against a
real `jeeves serve` child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
from click.testing import CliRunner, Result

from jeeves_control_tower.cli import main, redacted
from tests.support.serve_process import JEEVES, REPO, Served, jeeves_serve


def jeeves(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


@pytest.mark.parametrize("path", [(), *all_commands(main)], ids=lambda p: " ".join(p) or "jeeves")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = jeeves(*path, "--help")
    assert result.exit_code == 0 and "Usage:" in result.output


def test_tokens_create_list_revoke_and_migrate(tmp_path: Path) -> None:
    env = {"JEEVES_DATABASE_URL": str(tmp_path / "cli.db")}
    first = as_json(jeeves("migrate", "--json", env=env))
    assert first["schema_versions"][-1] >= 3 and first["applied_now"] == first["schema_versions"]
    assert as_json(jeeves("migrate", "--json", env=env))["applied_now"] == []
    created = as_json(jeeves("tokens", "create", "--user", "alice", "--role", "responder", "--group", "ops",
                             "--group", "sre", "--json", env=env))
    assert created["token"].startswith("jct_") and created["role"] == "responder"
    assert created["groups"] == ["ops", "sre"]
    plain = jeeves("tokens", "create", "--user", "bot", "--role", "agent", env=env)
    assert plain.exit_code == 0 and plain.stdout.strip().startswith("jct_")
    listed = as_json(jeeves("tokens", "list", "--json", env=env))
    assert [(t["user_id"], t["role"]) for t in listed] == [("alice", "responder"), ("bot", "agent")]
    assert "token" not in listed[0] and created["token"] not in json.dumps(listed)
    assert as_json(jeeves("tokens", "revoke", created["id"], "--json", env=env)) == {"revoked": created["id"]}
    assert jeeves("tokens", "revoke", created["id"], env=env).exit_code == 3
    assert as_json(jeeves("tokens", "list", "--json", env=env))[0]["revoked_at"] is not None
    bad_role = jeeves("tokens", "create", "--user", "x", "--role", "king", env=env)
    assert bad_role.exit_code == 2


def test_expire_reports_how_many(tmp_path: Path) -> None:
    env = {"JEEVES_DATABASE_URL": str(tmp_path / "e.db")}
    as_json(jeeves("migrate", "--json", env=env))
    assert as_json(jeeves("expire", "--json", env=env)) == {"expired": 0}


@pytest.mark.parametrize(
    "command",
    [("tokens", "create", "--user", "alice", "--role", "responder"), ("tokens", "list"),
     ("tokens", "revoke", "abc"), ("expire",)],
    ids=" ".join,
)
def test_commands_on_the_servers_database_never_create_one(tmp_path: Path, command: tuple[str, ...]) -> None:
    """Run from the wrong folder, they used to make an empty ./jeeves.db and a token in it that
    the server never saw. Now they name the file they looked for, and make nothing."""
    missing = tmp_path / "elsewhere" / "jeeves.db"
    missing.parent.mkdir()
    result = subprocess.run(
        [str(JEEVES), *command], cwd=missing.parent, capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if k != "JEEVES_DATABASE_URL"},
    )
    assert result.returncode == 6, result.stderr
    assert f"no database at {missing}" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == "" and list(missing.parent.iterdir()) == []


def test_database_commands_say_which_database_they_used(tmp_path: Path) -> None:
    db = tmp_path / "named.db"
    env = {"JEEVES_DATABASE_URL": str(db)}
    as_json(jeeves("migrate", "--json", env=env))
    created = subprocess.run(
        [str(JEEVES), "tokens", "create", "--user", "alice", "--role", "responder"],
        capture_output=True, text=True, timeout=60, env={**os.environ, **env},
    )
    assert created.returncode == 0 and created.stdout.startswith("jct_")  # stdout: the token alone
    assert created.stderr.strip() == f"database: {db}"
    listed = subprocess.run(
        [str(JEEVES), "tokens", "list"], capture_output=True, text=True, timeout=60, env={**os.environ, **env},
    )
    header, row = listed.stdout.splitlines()
    assert header.split() == ["ID", "ROLE", "USER", "CREATED", "REVOKED"]
    assert row.split()[1:3] == ["responder", "alice"] and row.split()[-1] == "-"


def test_database_urls_are_printed_without_their_password() -> None:
    assert redacted("postgresql://jeeves:s3cret@db:5432/jeeves") == "postgresql://jeeves:***@db:5432/jeeves"
    assert redacted("postgres://u:p%40ss@h/d?sslmode=require&password=other") == (
        "postgres://u:***@h/d?sslmode=require&password=***")
    assert redacted("postgresql://u@h/d") == "postgresql://u@h/d"
    assert redacted("/var/lib/jeeves/jeeves.db") == "/var/lib/jeeves/jeeves.db"


def test_serve_never_prints_the_database_password(pg_dsn: str) -> None:
    # The test cluster trusts local connections, so any password is accepted and must not show.
    dsn = pg_dsn.replace("postgresql://postgres@", "postgresql://postgres:hunter2-secret@", 1)
    assert "hunter2-secret" in dsn
    with jeeves_serve([str(JEEVES), "serve", "--port", "0", "--database-url", dsn]) as running:
        httpx.get(running.url + "/healthz").raise_for_status()
        running.process.terminate()
        rest, _ = running.process.communicate(timeout=15)
    output = "".join(running.output) + rest
    assert "serving on" in output and "postgresql://postgres:***@" in output
    assert "hunter2-secret" not in output


def test_the_package_runs_as_a_module_and_says_its_version() -> None:
    import jeeves_control_tower

    result = subprocess.run(
        [sys.executable, "-m", "jeeves_control_tower", "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"jeeves, version {jeeves_control_tower.__version__}"
    assert jeeves_control_tower.__version__ == metadata.version("jeeves-control-tower")
    assert (Path(jeeves_control_tower.__file__).parent / "py.typed").is_file()  # typed for mypy users


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    command = [str(JEEVES), "serve", "--port", "0", "--database-url", str(tmp_path / "s.db")]
    with jeeves_serve(command) as running:
        yield running


def test_server_commands_list_show_respond_cancel(served: Served) -> None:
    assert served.admin_token is not None
    env = {"JEEVES_URL": served.url, "JEEVES_TOKEN": served.admin_token}
    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {served.admin_token}"}) as http:
        ids = [
            http.post(
                "/v1/interrupts",
                json={
                    "kind": kind,
                    "request_id": f"r{i}",
                    "user_id": "admin",
                    "session_id": "s",
                    "message": "m",
                },
            ).json()["id"]
            for i, kind in enumerate(["confirmation", "checkpoint"])
        ]
    listed = as_json(jeeves("list", "--json", "--status", "pending", env=env))
    assert [item["id"] for item in listed["items"]] == list(reversed(ids))
    assert ids[0] in jeeves("list", env=env).output
    assert as_json(jeeves("show", ids[0], "--json", env=env))["kind"] == "confirmation"
    assert "{}" not in jeeves("show", ids[0], env=env).output  # no data: nothing printed for it
    assert jeeves("show", "missing", env=env).exit_code == 3
    wrong = jeeves("respond", ids[0], "--text", "yes", env=env)
    assert wrong.exit_code == 2 and "approved" in wrong.output
    resolved = as_json(jeeves("respond", ids[0], "--approve", "--data", '{"note": "ok"}', "--json", env=env))
    assert resolved["response"]["approved"] is True and resolved["response"]["data"] == {"note": "ok"}
    assert jeeves("respond", ids[0], "--approve", env=env).exit_code == 4
    cancelled = as_json(jeeves("cancel", ids[1], "--reason", "no longer needed", "--json", env=env))
    assert cancelled["status"] == "cancelled"
    assert jeeves("list", env={**env, "JEEVES_TOKEN": "jct_bad"}).exit_code == 5
    assert jeeves("list", env={**env, "JEEVES_URL": "http://127.0.0.1:1"}).exit_code == 6


def test_demo_prints_each_answer_as_it_arrives(served: Served) -> None:
    assert served.admin_token is not None
    demo = subprocess.Popen(
        [
            str(JEEVES),
            "demo",
            "--url",
            served.url,
            "--token",
            served.admin_token,
            "--json",
            "--timeout",
            "60",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert demo.stdout is not None
    answers = {
        "clarification": {"text": "staging"},
        "confirmation": {"approved": True},
        "agent_review": {"decision": "approve"},
        "checkpoint": {"decision": "acknowledge"},
    }
    answered: list[str] = []
    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {served.admin_token}"}) as http:
        for line in demo.stdout:
            record = json.loads(line)
            if record["event"] == "asked":
                interrupt = record["interrupt"]
                reply = http.post(
                    f"/v1/interrupts/{interrupt['id']}/respond", json=answers[interrupt["kind"]]
                )
                assert reply.status_code == 200, reply.text
            elif record["event"] == "answered":
                answered.append(record["interrupt"]["kind"])
    assert demo.wait(timeout=30) == 0
    demo.stdout.close()
    assert sorted(answered) == sorted(answers)


def test_an_admin_manages_tokens_through_the_server(served: Served) -> None:
    """`--server` needs no shell on the database's host: the API's /v1/tokens, admins only."""
    assert served.admin_token is not None
    remote = {"JEEVES_SERVER": served.url, "JEEVES_TOKEN": served.admin_token}
    created = as_json(jeeves("tokens", "create", "--user", "bob", "--role", "responder", "--json", env=remote))
    assert created["token"].startswith("jct_") and created["user_id"] == "bob"
    bob = {"Authorization": f"Bearer {created['token']}"}
    assert httpx.get(served.url + "/v1/me", headers=bob).json() == {"user_id": "bob", "role": "responder"}
    plain = jeeves("tokens", "create", "--user", "carol", "--role", "agent", env=remote)
    assert plain.exit_code == 0 and plain.stdout.strip().startswith("jct_")

    listed = as_json(jeeves("tokens", "list", "--json", env=remote))
    assert {(t["user_id"], t["role"]) for t in listed} >= {("admin", "admin"), ("bob", "responder")}
    assert all("token" not in t for t in listed) and created["token"] not in json.dumps(listed)
    table = jeeves("tokens", "list", env=remote).stdout.splitlines()
    assert table[0].split() == ["ID", "ROLE", "USER", "CREATED", "REVOKED"] and len(table) == len(listed) + 1

    assert as_json(jeeves("tokens", "revoke", created["id"], "--json", env=remote)) == {"revoked": created["id"]}
    # Revoked through the server that checks it: refused at once, not after the cache bound.
    assert httpx.get(served.url + "/v1/me", headers=bob).status_code == 401
    assert jeeves("tokens", "revoke", created["id"], env=remote).exit_code == 3  # no live token
    assert jeeves("tokens", "revoke", "../../x", env=remote).exit_code == 3

    # Only admins: bob's colleague with a responder token is refused, and --server needs a token.
    responder = as_json(jeeves("tokens", "create", "--user", "dan", "--role", "responder", "--json", env=remote))
    refused = jeeves("tokens", "list", env={**remote, "JEEVES_TOKEN": responder["token"]})
    assert refused.exit_code == 5 and "role may not" in refused.output  # 5: token refused
    no_token = jeeves("tokens", "list", "--server", served.url, env={"JEEVES_TOKEN": ""})
    assert no_token.exit_code == 2 and "--token" in no_token.output
    bad = httpx.post(served.url + "/v1/tokens", json={"user_id": " ", "role": "king"},
                     headers={"Authorization": f"Bearer {served.admin_token}"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")


def test_ask_raises_an_interrupt_and_can_wait_for_its_answer(served: Served) -> None:
    assert served.admin_token is not None
    env = {"JEEVES_URL": served.url, "JEEVES_TOKEN": served.admin_token}
    asked = as_json(jeeves("ask", "--kind", "confirmation", "--user", "admin", "--session", "s1",
                           "--question", "Deploy to production?", "--data", '{"version": "1.4"}',
                           "--ttl", "600", "--json", env=env))
    assert asked["kind"] == "confirmation" and asked["status"] == "pending"
    assert asked["data"] == {"version": "1.4"} and asked["request_id"].startswith("cli-")
    assert jeeves("ask", "--user", "admin", "--session", "s1", "--data", "[1]", env=env).exit_code == 2

    waiting = subprocess.Popen(
        [str(JEEVES), "ask", "--user", "admin", "--session", "s2", "--question", "Which region?",
         "--wait", "30", "--json", "--url", served.url, "--token", served.admin_token],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    headers = {"Authorization": f"Bearer {served.admin_token}"}
    with httpx.Client(base_url=served.url, headers=headers) as http:
        pending: list[dict[str, Any]] = []
        for _ in range(300):  # until the child's interrupt exists (it is created before it waits)
            pending = http.get("/v1/interrupts", params={"session_id": "s2"}).json()["items"]
            if pending:
                break
            time.sleep(0.05)
        assert pending, "ask --wait never raised its interrupt"
        assert http.post(f"/v1/interrupts/{pending[0]['id']}/respond", json={"text": "eu-west"}).status_code == 200
    out, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 0, err
    answered = json.loads(out)
    assert answered["status"] == "resolved" and answered["response"]["text"] == "eu-west"
    timed_out = jeeves("ask", "--user", "admin", "--session", "s3", "--question", "q?", "--wait", "0.2", env=env)
    assert timed_out.exit_code == 7


def test_a_demo_nobody_answers_ends_in_one_line(served: Served) -> None:
    assert served.admin_token is not None
    demo = subprocess.run(
        [str(JEEVES), "demo", "--url", served.url, "--token", served.admin_token, "--timeout", "0.5"],
        capture_output=True, text=True, timeout=60,
    )
    assert demo.returncode == 7, demo.stderr  # a wait that timed out
    assert demo.stderr.count("\n") == 1 and demo.stderr.startswith("error: "), demo.stderr
    assert "Task exception" not in demo.stderr and "Traceback" not in demo.stderr


def test_webhook_commands(served: Served) -> None:
    assert served.admin_token is not None
    env = {"JEEVES_URL": served.url, "JEEVES_TOKEN": served.admin_token}
    # A public-looking address: the SSRF guard refuses loopback unless the server allows it.
    refused = jeeves("webhooks", "add", "http://127.0.0.1:9/hook", env=env)
    assert refused.exit_code == 2 and "error" in refused.output
    added = as_json(
        jeeves("webhooks", "add", "https://93.184.216.34/jeeves", "--event", "interrupt.*", "--json", env=env)
    )
    assert added["secret"].startswith("whsec_") and added["events"] == ["interrupt.*"]
    listed = as_json(jeeves("webhooks", "list", "--json", env=env))
    assert [item["id"] for item in listed] == [added["id"]]
    assert as_json(jeeves("webhooks", "deliveries", "--status", "dead", "--json", env=env)) == []
    assert jeeves("webhooks", "redeliver", "nope", env=env).exit_code == 3
    assert as_json(jeeves("webhooks", "remove", added["id"], "--json", env=env)) == {"removed": added["id"]}
    assert jeeves("webhooks", "remove", added["id"], env=env).exit_code == 3


def test_every_setting_is_in_the_readmes_table() -> None:
    """Each option that reads an environment variable has its row, so none goes undocumented."""
    readme = (REPO / "README.md").read_text("utf-8")
    table = readme.split("### Settings", 1)[1].split("\n## ", 1)[0]
    settings = {
        (param.opts[0], param.envvar)
        for path in all_commands(main)
        for param in _command(path).params
        if isinstance(param.envvar, str)
    }
    assert len(settings) >= 14, settings
    for option, envvar in settings:
        assert f"`{envvar}`" in table and option in table, (option, envvar)


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        found = command.get_command(click.Context(command), name)
        assert found is not None
        command = found
    return command


def test_approvals_from_the_command_line(served: Served) -> None:
    """ask with approval rules, an answer recorded as the CLI's, its history, who waits on what."""
    assert served.admin_token is not None
    env = {"JEEVES_URL": served.url, "JEEVES_TOKEN": served.admin_token}
    action = '{"action": {"deploy": "billing", "replicas": 3}}'
    asked = as_json(jeeves("ask", "--kind", "confirmation", "--user", "admin", "--session", "s-ap",
                           "--request", "run-ap", "--question", "Deploy?", "--data", action,
                           "--on-expire", "reject", "--response-schema", '{"type": "object"}', "--json", env=env))
    assert asked["policy"]["on_expire"] == "reject" and asked["created_by"] == "admin"
    assert asked["policy"]["response_schema"] == {"type": "object"}
    assert as_json(jeeves("waiting", "--json", env=env))["by_user"] == {"admin": 1}
    assert "1 pending" in jeeves("waiting", env=env).output

    answered = as_json(jeeves("respond", asked["id"], "--approve", "--json", env=env))
    assert answered["response"]["via"] == "cli" and answered["resolution"] == "answered"
    assert "answered True by admin via cli" in jeeves("show", asked["id"], env=env).output
    lines = jeeves("history", asked["id"], env=env).output.splitlines()
    assert [line.split()[2] for line in lines] == ["interrupt.confirmation_needed", "interrupt.resolved"]
    assert "for admin by admin" in lines[0] and "answered True by admin via cli" in lines[1]
    by_run = as_json(jeeves("history", "--request", "run-ap", "--json", env=env))
    assert [event["type"] for event in by_run] == ["interrupt.confirmation_needed", "interrupt.resolved"]
    assert len(as_json(jeeves("history", "--session", "s-ap", "--json", env=env))) == 2

    assert jeeves("history", env=env).exit_code == 2  # which history: none named
    assert jeeves("history", asked["id"], "--request", "run-ap", env=env).exit_code == 2
    refused = jeeves("ask", "--user", "admin", "--session", "s", "--question", "q?", "--on-expire", "reject", env=env)
    assert refused.exit_code == 2 and "confirmation or agent_review" in refused.output
    assert jeeves("ask", "--user", "admin", "--session", "s", "--question", "q?",
                  "--response-schema", "[1]", env=env).exit_code == 2
    later = as_json(jeeves("ask", "--kind", "confirmation", "--user", "admin", "--session", "s-ext", "--question",
                           "Later?", "--ttl", "60", "--remind-after", "30", "--remind-after", "10", "--json", env=env))
    assert later["policy"]["remind_after"] == [10.0, 30.0]
    moved = as_json(jeeves("extend", later["id"], "--by", "600", "--json", env=env))
    assert moved["expires_at"] > later["expires_at"]
    assert "interrupt.extended" in jeeves("history", later["id"], env=env).output
    assert jeeves("extend", later["id"], "--by", "0", env=env).exit_code == 2
    assert jeeves("extend", "missing", "--by", "5", env=env).exit_code == 3
    own = as_json(jeeves("ask", "--kind", "confirmation", "--user", "admin", "--session", "s", "--question", "Mine?",
                         "--forbid-self-approval", "--json", env=env))
    self_approved = jeeves("respond", own["id"], "--approve", env=env)
    assert self_approved.exit_code == 5 and "forbids self-approval" in self_approved.output
