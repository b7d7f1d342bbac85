"""Settings: ``config/default.toml``, an optional overlay file, then ``MME_*`` variables.

One :class:`Settings` object is built at start-up and passed down; nothing
below the command line reads the environment itself.

Directories are always absolute once loaded, so that no command silently
works on another data dir because it was run from another directory: the
data dir defaults to :func:`default_data_dir`; a relative path in a settings
file is taken relative to that file, one in an ``MME_*`` variable (or a
``--data-dir`` flag) relative to the working directory at start.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mme_node.errors import MMEError

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "default.toml"
ENV_PREFIX = "MME_"
_DIRECTORY_SETTINGS = ("data_dir", "hpo_dir_override")


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/mme-node``, else ``~/.local/share/mme-node``: one per user, anywhere."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "mme-node"


class SettingsError(MMEError):
    """A setting has a value of the wrong type or an unknown name."""


@dataclasses.dataclass(frozen=True)
class Settings:
    data_dir: Path = dataclasses.field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 0
    store: str = "sqlite"
    elasticsearch_url: str = ""
    elasticsearch_username: str = ""
    elasticsearch_password: str = ""
    elasticsearch_ca_file: str = ""
    max_body_bytes: int = 1024 * 1024
    max_results: int = 5
    min_score: float = 0.0
    disclaimer: str = ""
    terms: str = ""
    demo: bool = False
    production: bool = False
    access_log: bool = False
    public_url: str = ""
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = ""
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    notify_min_score: float = 0.25
    match_method: str = "resnik"
    weight_phenotype: float = 1.0
    weight_gene: float = 1.0
    weight_variant: float = 0.25
    weight_disorder: float = 0.25
    exclusion_penalty: float = 0.99
    weight_exact_terms: float = 0.5
    phenotype_model: str = "picture-v1"
    match_retrieval_depth: int = 500
    consent_default_sharing: str = "all"
    consent_default_countries: str = ""
    consent_default_disclosure: str = "genes"
    peer_default_disclosure: str = "genes"
    history_retention_days: int = 730
    rate_limit_failed_auth: int = 30
    rate_limit_match: int = 1200
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive_timeout: int = 5
    shutdown_timeout: int = 10
    max_header_bytes: int = 32768
    max_connections: int = 1000
    match_concurrency: int = 4
    trusted_proxies: str = "127.0.0.1"
    hpo_dir_override: Path | None = None
    web_session_minutes: int = 480
    web_token_sign_in: bool = True
    web_owners: tuple[str, ...] = ()
    web_admins: tuple[str, ...] = ()
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_scopes: str = "openid email profile"
    oidc_button: str = "Sign in with your institution"

    @property
    def database_path(self) -> Path:
        """The SQLite file holding patients, tokens and history."""
        return self.data_dir / "mme-node.sqlite3"

    @property
    def index_dir(self) -> Path:
        """Where the match index is saved between runs (derived data: safe to delete)."""
        return self.data_dir / "match-index"

    @property
    def rate_limits_path(self) -> Path:
        """Where the serving processes share the rate limits' buckets (the file's name
        adds its layout); safe to delete while the node is stopped."""
        return self.data_dir / "rate-limits"

    @property
    def hpo_dir(self) -> Path:
        """Where compiled HPO releases and the active-release pointer live.

        ``hpo_dir_override`` (``MME_HPO_DIR_OVERRIDE``) lets several nodes on
        one machine share compiled releases; by default it is inside the data dir.
        """
        return self.hpo_dir_override or self.data_dir / "hpo"

    @property
    def compiled_genes_path(self) -> Path:
        """The bundled HGNC table compiled for quick reading, beside the compiled HPO releases."""
        return self.hpo_dir / "hgnc-genes.json"

    def worker_count(self) -> int:
        """Server processes to run: ``workers``, or one per CPU this process may use when 0."""
        if self.workers < 0:
            raise SettingsError(
                f"setting 'workers' must be 0 (one per CPU) or more, not {self.workers}"
            )
        return self.workers or len(os.sched_getaffinity(0))

    def environment(self) -> dict[str, str]:
        """These settings as ``MME_*`` variables, which :func:`load_settings` reads back equal.

        How settings reach server worker processes, which start afresh.
        """
        return {
            ENV_PREFIX + field.name.upper(): _as_text(getattr(self, field.name))
            for field in dataclasses.fields(self)
        }

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def load_settings(
    environ: Mapping[str, str] | None = None, config_file: Path | None = None
) -> Settings:
    """Build settings from the default file, an overlay file and the environment.

    The overlay is ``config_file`` or the file named by ``MME_CONFIG``.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {"data_dir": default_data_dir(env)}
    anchors: dict[str, Path] = {}
    overlay = config_file or (Path(env["MME_CONFIG"]) if env.get("MME_CONFIG") else None)
    for path in (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None, overlay):
        if path is not None:
            read = _read_toml(path)
            values.update(read)
            anchors.update({name: path.absolute().parent for name in read})
    fields = {field.name: field for field in dataclasses.fields(Settings)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(unknown)}")
    for name in fields:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = raw
            anchors[name] = Path.cwd()
    converted = {name: _convert(name, fields[name].type, value) for name, value in values.items()}
    for name in _DIRECTORY_SETTINGS:
        if isinstance(converted.get(name), Path):
            converted[name] = anchored(converted[name], anchors.get(name, Path.cwd()))
    return Settings(**converted)


def anchored(path: Path, base: Path) -> Path:
    """``path`` made absolute: ``~`` expanded, a relative one taken from ``base``."""
    path = path.expanduser()
    return path if path.is_absolute() else base / path


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise SettingsError(f"cannot read settings file {path}: {error}") from error


def _convert(name: str, annotation: object, value: Any) -> Any:
    """Coerce a TOML or environment value to the field's declared type."""
    kind = str(annotation)
    try:
        if kind == "tuple[str, ...]":
            return _to_strings(value)
        if kind == "Path | None":
            return Path(value) if value else None
        if kind == "Path":
            return Path(value)
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            return _to_bool(value)
        return str(value)
    except ValueError as error:
        raise SettingsError(f"setting {name!r}: {value!r} is not a valid {kind}") from error


def _to_strings(value: Any) -> tuple[str, ...]:
    """A TOML list of strings, or an environment value with one item per line or comma."""
    if isinstance(value, str):
        items = value.replace("\n", ",").split(",")
        return tuple(item.strip() for item in items if item.strip())
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ValueError(value)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "\n".join(value)  # one item per line, as _to_strings reads it
    return str(value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(text)
