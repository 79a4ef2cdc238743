"""The mailer port and its SMTP adapter (stdlib ``smtplib``).

``EVENTSHOP_SMTP_URL``: ``smtp://[user:password@]host[:port]`` (``?starttls=true`` to
upgrade the connection) or ``smtps://…`` (TLS from the start). Each mail carries a
``Message-ID`` derived from what caused it (the event), so a resent mail is recognisably
the same mail to whoever receives it twice.

Failures are sorted for the reactor's retry policy: :class:`MailRejectedError` for a
permanent refusal (a 5xx reply: retrying will not help, the mail is dead-lettered),
:class:`MailUnavailableError` for anything that may pass (no connection, a timeout, a 4xx).
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, parseaddr
from typing import Protocol
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit


@dataclass(frozen=True)
class Mail:
    #: ``Name <address>`` as :func:`email.utils.formataddr` writes it.
    to: str
    subject: str
    text: str
    html: str
    #: Unique per effect (for example the event's notification id and the mail's kind).
    key: str
    sender: str = "eventshop <shop@eventshop.local>"
    headers: dict[str, str] = field(default_factory=dict)

    def message(self, domain: str = "eventshop.local") -> Message:
        """The MIME message: text and HTML alternatives, UTF-8, non-ASCII headers encoded
        (RFC 2047). Built with the ``compat32`` MIME classes: the default-policy
        ``EmailMessage`` cost 3.1 ms a mail here against 0.9 ms, and was 28 % of the mail
        reactor's CPU (py-spy, docs/operations.md "Mail")."""
        message = MIMEMultipart("alternative")
        message["From"] = self.sender
        message["To"] = formataddr(parseaddr(self.to))
        # RFC 2047 for a subject with a non-ASCII name in it.
        subject = self.subject
        message["Subject"] = subject if subject.isascii() else Header(subject, "utf-8").encode()
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = f"<{self.key}@{domain}>"
        for name, value in self.headers.items():
            message[name] = value
        message.attach(MIMEText(self.text, "plain", "utf-8"))
        message.attach(MIMEText(self.html, "html", "utf-8"))
        return message


class MailRejectedError(Exception):
    """The server refused the mail for good (5xx)."""


class MailUnavailableError(Exception):
    """The mail could not be handed over now; it may pass later."""


class MailSession(Protocol):
    def send(self, mail: Mail) -> None: ...


class Mailer(Protocol):
    def send(self, mail: Mail) -> None: ...

    def session(self) -> AbstractContextManager[MailSession]:
        """Several mails over one connection."""
        ...


@dataclass(frozen=True)
class SmtpMailer:
    url: str
    timeout: float = 10.0

    def send(self, mail: Mail) -> None:
        with self.session() as session:
            session.send(mail)

    @contextlib.contextmanager
    def session(self) -> Iterator[SmtpSession]:
        """Several mails over one connection (opened at the first, closed at the end or
        after any failure, reopened by the next): a burst of mail costs one handshake."""
        parts = urlsplit(self.url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(
                f"EVENTSHOP_SMTP_URL must be smtp:// or smtps://, not {parts.scheme}://"
            )
        session = SmtpSession(parts, self.timeout)
        try:
            yield session
        finally:
            session.close()


class SmtpSession:
    def __init__(self, parts: SplitResult, timeout: float) -> None:
        self.parts = parts
        self.timeout = timeout
        self._client: smtplib.SMTP | None = None

    def send(self, mail: Mail) -> None:
        try:
            self._connected().send_message(mail.message())
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            self.close()
            if all(code >= 500 for code in codes):
                raise MailRejectedError(str(error)) from error
            raise MailUnavailableError(str(error)) from error
        except smtplib.SMTPResponseException as error:
            self.close()
            if error.smtp_code >= 500:
                raise MailRejectedError(f"{error.smtp_code} {error.smtp_error!r}") from error
            raise MailUnavailableError(f"{error.smtp_code} {error.smtp_error!r}") from error
        except (smtplib.SMTPException, OSError) as error:
            self.close()
            raise MailUnavailableError(str(error) or type(error).__name__) from error

    def _connected(self) -> smtplib.SMTP:
        if self._client is None:
            parts = self.parts
            secure = parts.scheme == "smtps"
            port = parts.port or (465 if secure else 25)
            client = (
                smtplib.SMTP_SSL(parts.hostname or "", port, timeout=self.timeout)
                if secure
                else smtplib.SMTP(parts.hostname or "", port, timeout=self.timeout)
            )
            self._client = client
            if parse_qs(parts.query).get("starttls", ["false"])[0].lower() == "true":
                client.starttls(context=ssl.create_default_context())
            if parts.username:
                client.login(unquote(parts.username), unquote(parts.password or ""))
        return self._client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
            client.close()
