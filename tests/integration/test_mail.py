"""Mail through a real SMTP server: the SMTP adapter hands a mail to the development
mailbox (aiosmtpd on loopback), which keeps it as an .eml file that `mail list` shows."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from typer.testing import CliRunner

from eventshop.cli import app
from reactors.mailbox import mailbox_server, stored
from reactors.mailer import MailRejectedError, MailUnavailableError, SmtpMailer
from reactors.mails import Recipient, welcome
from tests.support.served import free_port


def test_a_mail_arrives_as_an_eml_file_with_both_parts(tmp_path: Path) -> None:
    server = mailbox_server(tmp_path / "mail", port=free_port())
    server.start()
    try:
        SmtpMailer(f"smtp://127.0.0.1:{server.port}").send(
            welcome("42", Recipient("a@x.io", "Ann"))
        )
    finally:
        server.stop()
    [kept] = stored(tmp_path / "mail")
    assert (kept.to, kept.subject) == ("Ann <a@x.io>", "Welcome to eventshop, Ann")
    assert kept.message_id == "<welcome.42@eventshop.local>"
    message = email.message_from_bytes(kept.path.read_bytes(), policy=email.policy.default)
    parts = {part.get_content_type(): part.get_content() for part in message.iter_parts()}
    assert "Hello Ann" in parts["text/plain"] and "Hello Ann" in parts["text/html"]
    assert not list((tmp_path / "mail").glob(".*.part"))  # only whole files remain


def test_mail_list_shows_the_mailbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = mailbox_server(tmp_path / "mail", port=free_port())
    server.start()
    try:
        mailer = SmtpMailer(f"smtp://127.0.0.1:{server.port}")
        for n, name in enumerate(("Ann", "Bob")):
            mailer.send(welcome(str(n), Recipient(f"{name.lower()}@x.io", name)))
    finally:
        server.stop()
    monkeypatch.setenv("EVENTSHOP_DATA_DIR", str(tmp_path))
    listed = CliRunner().invoke(app, ["mail", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [m["to"] for m in json.loads(listed.output)] == ["Ann <ann@x.io>", "Bob <bob@x.io>"]


class Refusing:
    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        return "550 no such user here" if address.startswith("gone") else "451 try later"


def test_refusals_are_sorted_into_permanent_and_passing(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller

    server = Controller(Refusing(), hostname="127.0.0.1", port=free_port())
    server.start()
    try:
        mailer = SmtpMailer(f"smtp://127.0.0.1:{server.port}")
        with pytest.raises(MailRejectedError):
            mailer.send(welcome("r", Recipient("gone@x.io", "Gone")))
        with pytest.raises(MailUnavailableError):
            mailer.send(welcome("t", Recipient("busy@x.io", "Busy")))
    finally:
        server.stop()
    with pytest.raises(MailUnavailableError):  # nobody listening
        SmtpMailer(f"smtp://127.0.0.1:{free_port()}", timeout=2).send(
            welcome("u", Recipient("a@x.io", "A"))
        )
