"""Reading the network file: `${ENV}` expansion, validation, and errors that name the bad key.

The file's shape is `schemas.NetworkFile`; each account's credentials are validated by the
adapter registered for its platform, so a typo is reported before any service starts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from limits import parse as parse_limit
from pydantic import BaseModel, ValidationError

from adapters import Adapter
from schemas import Action, AgencyConfig, NetworkConfig, NetworkFile, PolicyMode
from services.suggest import did_you_mean, fields_at

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(ValueError):
    """The network file is wrong; every line names the path of a bad key."""

    def __init__(self, problems: list[str], source: str = "network file") -> None:
        self.problems = problems
        super().__init__(f"{source}:\n" + "\n".join(f"  {problem}" for problem in problems))


@dataclass(frozen=True)
class Account:
    """One agency's account on one platform, with credentials its adapter validated."""

    agency: str
    platform: str
    credentials: BaseModel


@dataclass
class Network:
    """The validated network file, indexed for the services."""

    file: NetworkFile
    accounts: dict[tuple[str, str], Account]
    secrets: frozenset[str] = field(default_factory=frozenset)

    @property
    def agencies(self) -> dict[str, AgencyConfig]:
        return self.file.agencies

    def account(self, agency: str, platform: str) -> Account | None:
        return self.accounts.get((agency, platform))

    def platforms_of(self, agency: str) -> list[str]:
        return sorted(platform for (owner, platform) in self.accounts if owner == agency)

    def networks_of(self, agency: str) -> list[tuple[str, NetworkConfig]]:
        return [(name, net) for name, net in self.file.networks.items() if agency in net.members]


def expand_env(value: Any, path: str, problems: list[str], environ: Mapping[str, str]) -> Any:
    """Replace `${VAR}` and `${VAR:-default}` in every string of the document."""
    if isinstance(value, dict):
        return {
            key: expand_env(item, f"{path}.{key}" if path else str(key), problems, environ)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [expand_env(item, f"{path}.{index}", problems, environ) for index, item in enumerate(value)]
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            problems.append(f"{path}: environment variable {name} is not set")
            return ""

        return _ENV_REFERENCE.sub(substitute, value)
    return value


def _describe(error: ValidationError, prefix: str = "", model: type[BaseModel] | None = None) -> list[str]:
    lines = []
    for detail in error.errors():
        parts = [*(prefix.split(".") if prefix else []), *(str(part) for part in detail["loc"])]
        location = ".".join(parts)
        message = str(detail["msg"]).removeprefix("Value error, ")
        if detail["type"] == "extra_forbidden" and model is not None and detail["loc"]:
            # A near-miss key (`delay_second`, `acounts`): name the one that was meant.
            allowed = fields_at(model, list(detail["loc"][:-1]))
            message = "unknown key" + did_you_mean(str(detail["loc"][-1]), allowed)
        # Cross-field checks name their own path in the message.
        lines.append(f"{location}: {message}" if location else message)
    return lines


def parse_network(
    document: Any,
    adapters: Mapping[str, type[Adapter[Any]]],
    environ: Mapping[str, str] | None = None,
    source: str = "network file",
) -> Network:
    """Validate a loaded YAML document against the schema and the registered adapters."""
    problems: list[str] = []
    if not isinstance(document, dict):
        raise ConfigError(["(top level): expected a mapping with `agencies`"], source)
    # Every problem in one report: unset variables, the schema (with "did you mean"), every account's
    # credentials (from the raw document when the schema failed), then the cross-checks.
    expanded = expand_env(document, "", problems, os.environ if environ is None else environ)
    parsed: NetworkFile | None = None
    try:
        parsed = NetworkFile.model_validate(expanded)
    except ValidationError as error:
        problems.extend(_describe(error, model=NetworkFile))
    if parsed is not None:
        raw_accounts = {name: agency.accounts for name, agency in parsed.agencies.items()}
    else:
        raw_accounts = {
            str(name): _mapping(_mapping(agency).get("accounts"))
            for name, agency in _mapping(expanded.get("agencies")).items()
        }
    accounts, secrets = _accounts(raw_accounts, adapters, problems)
    if parsed is not None:
        problems.extend(_platform_problems(parsed, adapters))
        problems.extend(_amplify_problems(parsed, adapters))
        problems.extend(_channel_problems(parsed, accounts, adapters))
        for network_name, network in parsed.networks.items():
            problems.extend(_policy_problems(network_name, network, accounts, adapters))
    if problems or parsed is None:
        raise ConfigError(list(dict.fromkeys(problems)), source)
    return Network(parsed, accounts, frozenset(secrets))


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _platform_problems(parsed: NetworkFile, adapters: Mapping[str, type[Adapter[Any]]]) -> list[str]:
    problems: list[str] = []
    for platform, platform_settings in parsed.platforms.items():
        budget = platform_settings.rate_limit
        if budget is not None and budget.strip().lower() != "none":
            try:
                parse_limit(budget)
            except ValueError:
                problems.append(
                    f'platforms.{platform}.rate_limit: {budget!r} is not a limit like "100/15 minutes"'
                )
        if platform not in adapters:
            problems.append(
                f"platforms.{platform}: no adapter for this platform (known: {', '.join(adapters)})"
            )
    return problems


def _accounts(
    agencies: Mapping[str, Mapping[str, Any]],
    adapters: Mapping[str, type[Adapter[Any]]],
    problems: list[str],
) -> tuple[dict[tuple[str, str], Account], set[str]]:
    """Every account (agency → platform → raw credentials) validated by its adapter, and every secret
    value to redact."""
    accounts: dict[tuple[str, str], Account] = {}
    secrets: set[str] = set()
    for agency_name, agency_accounts in agencies.items():
        for platform, raw in agency_accounts.items():
            if not isinstance(raw, dict):
                continue  # the schema said so already
            path = f"agencies.{agency_name}.accounts.{platform}"
            adapter_class = adapters.get(platform)
            if adapter_class is None:
                problems.append(f"{path}: no adapter for this platform (known: {', '.join(adapters)})")
                continue
            try:
                credentials = adapter_class.credentials_model.model_validate(raw)
            except ValidationError as error:
                problems.extend(_describe(error, path, adapter_class.credentials_model))
                continue
            accounts[(agency_name, platform)] = Account(agency_name, platform, credentials)
            secrets.update(
                str(value) for key, value in raw.items() if key in adapter_class.secret_fields and value
            )
    return accounts, secrets


def _amplify_problems(parsed: NetworkFile, adapters: Mapping[str, type[Adapter[Any]]]) -> list[str]:
    problems: list[str] = []
    for network_name, network in parsed.networks.items():
        for platform, action in network.amplify.items():
            path = f"networks.{network_name}.amplify.{platform}"
            adapter_class = adapters.get(platform)
            if adapter_class is None:
                problems.append(f"{path}: no adapter for this platform")
                continue
            if adapter_class.action_for(action) is None:
                supported = sorted(
                    {a.value for a in adapter_class.amplify_labels}
                    | set(adapter_class.amplify_labels.values())
                )
                problems.append(
                    f"{path}: {action!r} is not an amplification {platform} supports ({supported})"
                )
    return problems


def _channel_problems(
    parsed: NetworkFile,
    accounts: Mapping[tuple[str, str], Account],
    adapters: Mapping[str, type[Adapter[Any]]],
) -> list[str]:
    """`ingest.channels` may name only platforms where the agency has an account whose posts Hamafza reads."""
    problems: list[str] = []
    for agency_name, agency in parsed.agencies.items():
        for index, platform in enumerate(agency.ingest.channels if agency.ingest else []):
            path = f"agencies.{agency_name}.ingest.channels.{index}"
            adapter_class = adapters.get(platform)
            if (agency_name, platform) not in accounts:
                problems.append(f"{path}: {agency_name} has no {platform} account whose channel to watch")
            elif adapter_class is None or not adapter_class.reads_channel_posts:
                readers = sorted(name for name, cls in adapters.items() if cls.reads_channel_posts)
                problems.append(
                    f"{path}: Hamafza cannot read {platform} channel posts (it can: {', '.join(readers)})"
                )
    return problems


def _policy_problems(
    network_name: str,
    network: NetworkConfig,
    accounts: Mapping[tuple[str, str], Account],
    adapters: Mapping[str, type[Adapter[Any]]],
) -> list[str]:
    """A policy that names strangers, or asks approvers no bot can reach, is refused before any start."""
    problems: list[str] = []
    path = f"networks.{network_name}.policy"
    policy = network.policy
    for partner, rules in policy.partners.items():
        if partner not in network.members:
            problems.append(f"{path}.partners.{partner}: not a member of this network")
            continue
        if rules.approver is None:
            continue
        platform = rules.approver.platform
        adapter_class = adapters.get(platform)
        if adapter_class is None or not adapter_class.can_ask:
            askers = sorted(name for name, cls in adapters.items() if cls.can_ask)
            problems.append(
                f"{path}.partners.{partner}.approver.platform: {platform!r} cannot send approval "
                f"requests (these can: {', '.join(askers) or 'none'})"
            )
        elif (partner, platform) not in accounts:
            problems.append(
                f"{path}.partners.{partner}.approver.platform: {partner} has no {platform} account "
                "whose bot would send the request; add one under its accounts"
            )
    for platform, word in network.amplify.items():
        adapter_class = adapters.get(platform)
        if adapter_class is None or adapter_class.action_for(word) is not Action.INTENT:
            continue
        missing = [
            m
            for m in network.members
            if policy.for_partner(m).approver is None and policy.mode_of(m) is not PolicyMode.OFF
        ]
        if missing:
            problems.append(
                f"networks.{network_name}.amplify.{platform}: an intent is a link sent to the partner's "
                f"approver (policy.partners.<agency>.approver); missing for: {', '.join(missing)}"
            )
    if policy.mode is PolicyMode.APPROVE:
        missing = [
            m
            for m in network.members
            if policy.for_partner(m).approver is None and policy.mode_of(m) is PolicyMode.APPROVE
        ]
        if missing:
            problems.append(
                f"{path}.mode: approve needs an approver for every partner that approves "
                f"(policy.partners.<agency>.approver); missing for: {', '.join(missing)}"
            )
    return problems


def load_network(path: str | Path, adapters: Mapping[str, type[Adapter[Any]]]) -> Network:
    file = Path(path)
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError([f"cannot read: {error.strerror}"], str(file)) from None
    except yaml.YAMLError as error:
        raise ConfigError([f"not valid YAML: {error}"], str(file)) from None
    return parse_network(document, adapters, source=str(file))
