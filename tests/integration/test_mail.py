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

from eventshop.cli.main import app
from reactors.mailbox import Stored, mailbox_server, stored
from reactors.mailer import Mail, MailRejectedError, MailUnavailableError, SmtpMailer
from reactors.mails import Recipient, welcome
from tests.support.served import free_port


def sent_to_mailbox(directory: Path, *mails: Mail) -> list[Stored]:
    """Send ``mails`` through the SMTP adapter to a development mailbox in ``directory``."""
    server = mailbox_server(directory, port=free_port())
    server.start()
    try:
        mailer = SmtpMailer(f"smtp://127.0.0.1:{server.port}")
        for mail in mails:
            mailer.send(mail)
    finally:
        server.stop()
    return stored(directory)


def test_a_mail_arrives_as_an_eml_file_with_both_parts(tmp_path: Path) -> None:
    [kept] = sent_to_mailbox(tmp_path / "mail", welcome("42", Recipient("a@x.io", "Ann")))
    assert (kept.to, kept.subject) == ("Ann <a@x.io>", "Welcome to eventshop, Ann")
    assert kept.message_id == "<welcome.42@eventshop.local>"
    message = email.message_from_bytes(kept.path.read_bytes(), policy=email.policy.default)
    parts = {part.get_content_type(): part.get_content() for part in message.iter_parts()}
    assert "Hello Ann" in parts["text/plain"] and "Hello Ann" in parts["text/html"]
    assert not list((tmp_path / "mail").glob(".*.part"))  # only whole files remain


def test_mail_list_shows_the_mailbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sent_to_mailbox(
        tmp_path / "mail",
        *(
            welcome(str(n), Recipient(f"{name.lower()}@x.io", name))
            for n, name in enumerate(("Ann", "Bob"))
        ),
    )
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


class Counting:
    def __init__(self) -> None:
        self.greetings = 0
        self.messages: list[bytes] = []

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        self.greetings += 1
        session.host_name = hostname  # what aiosmtpd's own EHLO does; the hook must too
        return responses

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.messages.append(content if isinstance(content, bytes) else content.encode())
        return "250 OK"


def test_a_session_sends_a_burst_over_one_connection() -> None:
    from aiosmtpd.controller import Controller

    handler = Counting()
    server = Controller(handler, hostname="127.0.0.1", port=free_port())
    server.start()
    try:
        with SmtpMailer(f"smtp://127.0.0.1:{server.port}").session() as session:
            for n in range(3):
                session.send(welcome(str(n), Recipient(f"{n}@x.io", f"N{n}")))
    finally:
        server.stop()
    assert (handler.greetings, len(handler.messages)) == (1, 3)


def test_names_beyond_ascii_are_encoded_and_read_back_whole(tmp_path: Path) -> None:
    [kept] = sent_to_mailbox(
        tmp_path / "mail", welcome("z", Recipient("zoe@x.io", "Zoë Ünal, Jr."))
    )
    raw = kept.path.read_bytes()
    assert raw.isascii()  # RFC 2047 headers, base64 bodies: any server takes it
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["To"].addresses[0].display_name == "Zoë Ünal, Jr."
    assert message["Subject"] == "Welcome to eventshop, Zoë Ünal, Jr."
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and "Hello Zoë Ünal, Jr." in body.get_content()
