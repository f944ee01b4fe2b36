"""The service's secrets: the card-token key and each channel's callback secret.

None is a constant in the source and none is kept in the event log. They come
from the environment (`FUNDCENTER_CARD_TOKEN_KEY`, `FUNDCENTER_CHANNEL_SECRETS`
as a JSON object of channel code to secret) or from a JSON file
(`FUNDCENTER_SECRETS_FILE`: `{"card_token_key": "...", "channel_secrets": {...}}`);
the environment wins over the file.

In a development run, whatever is missing is generated at random once per
installation and kept in the installation's secrets file (beside the SQLite
database, `<db>.secrets.json`, mode 0600), so that card tokens and callback
signatures stay valid across restarts. In production nothing is generated:
`serve` refuses to start and names what is missing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.store import Database

from .settings import Settings

SECRET_BYTES = 32


class MissingSecrets(Exception):
    """Production without configured secrets: the message names each missing one."""


@dataclass(frozen=True)
class ServiceSecrets:
    environment: str
    card_token_key: bytes
    channel_secrets: dict[str, bytes] = field(default_factory=dict, repr=False)
    _generated_master: bytes | None = field(default=None, repr=False)  # development only

    def channel_secret(self, code: str) -> bytes | None:
        """The secret that signs `code`'s callbacks; None if production has none for it."""
        if code in self.channel_secrets:
            return self.channel_secrets[code]
        if self._generated_master is None:
            return None
        return hmac.new(self._generated_master, f"channel-callback:{code}".encode(), hashlib.sha256).digest()

    def require_channels(self, codes: list[str]) -> None:
        """Refuse (in production) when a channel of the catalog has no callback secret."""
        missing = [code for code in codes if self.channel_secret(code) is None]
        if missing:
            raise MissingSecrets(
                "no callback secret for channel " + ", ".join(missing)
                + " (set FUNDCENTER_CHANNEL_SECRETS, a JSON object of channel code to secret)"
            )

    def __repr__(self) -> str:
        return f"ServiceSecrets(environment={self.environment!r}, channels={sorted(self.channel_secrets)})"


def load_secrets(settings: Settings) -> ServiceSecrets:
    """The configured secrets; in development, the installation's generated ones for what is missing."""
    from_file = _read(settings.secrets_file) if settings.secrets_file is not None else {}
    card_key = _value(settings.card_token_key) or from_file.get("card_token_key")
    channels = {**from_file.get("channel_secrets", {}), **{c: _value(s) for c, s in settings.channel_secrets.items()}}
    channel_secrets = {code: value.encode() for code, value in channels.items() if value}
    environment = settings.environment
    if environment == "production":
        if not card_key:
            raise MissingSecrets(
                "FUNDCENTER_CARD_TOKEN_KEY is not set (or card_token_key in FUNDCENTER_SECRETS_FILE):"
                " production does not generate secrets"
            )
        return ServiceSecrets(environment, card_key.encode(), channel_secrets)
    generated = _installation_secrets(_installation_file(settings))
    return ServiceSecrets(
        environment,
        card_key.encode() if card_key else bytes.fromhex(generated["card_token_key"]),
        channel_secrets,
        bytes.fromhex(generated["channel_master"]),
    )


def _value(secret: Any) -> str | None:
    return secret.get_secret_value() if secret is not None else None


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise MissingSecrets(f"cannot read the secrets file {path}: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("channel_secrets", {}), dict):
        raise MissingSecrets(f"the secrets file {path} must hold a JSON object")
    return data


def _installation_file(settings: Settings) -> Path:
    database = Database.from_url(settings.database_url)
    if database.kind == "sqlite":
        return Path(f"{database.path}.secrets.json")
    return Path("fundcenter.secrets.json")


def _installation_secrets(path: Path) -> dict[str, str]:
    """Development's generated secrets, made once per installation and kept in `path` (0600)."""
    if not path.exists():
        data = {"card_token_key": secrets.token_hex(SECRET_BYTES), "channel_master": secrets.token_hex(SECRET_BYTES)}
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, draft = tempfile.mkstemp(dir=path.parent, prefix=".secrets-")  # mode 0600
        try:
            with os.fdopen(descriptor, "w") as file:
                json.dump(data, file)
            os.link(draft, path)  # atomic, and fails if another process of this installation made it first
        except FileExistsError:
            pass  # theirs stands
        finally:
            os.unlink(draft)
    data = _read(path)
    if not {"card_token_key", "channel_master"} <= data.keys():
        raise MissingSecrets(f"the secrets file {path} lacks card_token_key or channel_master; remove it to regenerate")
    return data
