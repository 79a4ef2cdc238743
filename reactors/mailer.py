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

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str
    #: Unique per effect (for example the event's notification id and the mail's kind).
    key: str
    sender: str = "eventshop <shop@eventshop.local>"
    headers: dict[str, str] = field(default_factory=dict)

    def message(self, domain: str = "eventshop.local") -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = self.to
        message["Subject"] = self.subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = f"<{self.key}@{domain}>"
        for name, value in self.headers.items():
            message[name] = value
        message.set_content(self.text)
        message.add_alternative(self.html, subtype="html")
        return message


class MailRejectedError(Exception):
    """The server refused the mail for good (5xx)."""


class MailUnavailableError(Exception):
    """The mail could not be handed over now; it may pass later."""


class Mailer(Protocol):
    def send(self, mail: Mail) -> None: ...


@dataclass(frozen=True)
class SmtpMailer:
    url: str
    timeout: float = 10.0

    def send(self, mail: Mail) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(
                f"EVENTSHOP_SMTP_URL must be smtp:// or smtps://, not {parts.scheme}://"
            )
        secure = parts.scheme == "smtps"
        port = parts.port or (465 if secure else 25)
        starttls = parse_qs(parts.query).get("starttls", ["false"])[0].lower() == "true"
        try:
            client: smtplib.SMTP = (
                smtplib.SMTP_SSL(parts.hostname or "", port, timeout=self.timeout)
                if secure
                else smtplib.SMTP(parts.hostname or "", port, timeout=self.timeout)
            )
            with client:
                if starttls:
                    client.starttls(context=ssl.create_default_context())
                if parts.username:
                    client.login(unquote(parts.username), unquote(parts.password or ""))
                client.send_message(mail.message())
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            if all(code >= 500 for code in codes):
                raise MailRejectedError(str(error)) from error
            raise MailUnavailableError(str(error)) from error
        except smtplib.SMTPResponseException as error:
            if error.smtp_code >= 500:
                raise MailRejectedError(f"{error.smtp_code} {error.smtp_error!r}") from error
            raise MailUnavailableError(f"{error.smtp_code} {error.smtp_error!r}") from error
        except (smtplib.SMTPException, OSError) as error:
            raise MailUnavailableError(str(error) or type(error).__name__) from error
