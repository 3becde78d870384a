"""Builds one chat model per council role from settings, sharing llama.cpp pools and HTTP clients between roles."""

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import openai
from openai import AsyncOpenAI

from council.health import Check
from council.llm.base import CouncilChatModel
from council.llm.bundled import bundled_model
from council.llm.embedded import EmbeddedChatModel, LlamaPool
from council.llm.openai_compat import OpenAICompatChatModel
from council.settings import LLMSettings, RoleSettings

if TYPE_CHECKING:
    from pathlib import Path


class UnknownRoleError(LookupError):
    """No model is configured for this role; the message lists the roles that are."""


class ModelRegistry:
    def __init__(self, models: Mapping[str, CouncilChatModel], pools: Iterable[LlamaPool] = ()) -> None:
        self._models = dict(models)
        self.pools = list(pools)

    @classmethod
    def from_settings(
        cls, llm: LLMSettings, roles: Mapping[str, RoleSettings], role_names: Iterable[str]
    ) -> "ModelRegistry":
        pools: dict[Path, LlamaPool] = {}
        clients: dict[tuple[str, str, float, float], AsyncOpenAI] = {}
        models: dict[str, CouncilChatModel] = {}
        for role in dict.fromkeys(role_names):
            override = roles.get(role, RoleSettings())
            common = {
                "max_tokens": override.max_tokens or llm.max_tokens,
                "temperature": llm.temperature if override.temperature is None else override.temperature,
                "context_tokens": llm.context_tokens,
                "seed": llm.seed,
            }
            if (override.backend or llm.backend) == "embedded":
                path = override.model_path or llm.model_path or bundled_model(llm)
                if path not in pools:
                    pools[path] = LlamaPool(
                        path, size=llm.pool_size, context_tokens=llm.context_tokens, threads=llm.threads
                    )
                models[role] = EmbeddedChatModel(model_name=path.stem, pool=pools[path], **common)
            else:
                base_url = str(override.base_url or llm.base_url)
                secret = override.api_key or llm.api_key
                api_key = secret.get_secret_value() if secret else "not-needed"
                connect_s = override.connect_timeout_s or llm.connect_timeout_s
                read_s = override.read_timeout_s or llm.read_timeout_s
                # Timeouts live on the client, so roles share one only when they agree on them too.
                key = (base_url, api_key, connect_s, read_s)
                if key not in clients:
                    clients[key] = AsyncOpenAI(
                        base_url=base_url,
                        api_key=api_key,
                        max_retries=0,  # a council member is dropped rather than retried past its timeout
                        timeout=openai.Timeout(read_s, connect=connect_s),
                    )
                models[role] = OpenAICompatChatModel(
                    model_name=override.model or llm.model, client=clients[key], **common
                )
        return cls(models, pools.values())

    @property
    def roles(self) -> list[str]:
        return list(self._models)

    def get(self, role: str) -> CouncilChatModel:
        try:
            return self._models[role]
        except KeyError:
            raise UnknownRoleError(
                f"No model is configured for role {role!r}; configured roles: {', '.join(self._models)}."
            ) from None

    async def readiness_checks(self) -> list[Check]:
        checks: dict[str, Check] = {}
        for model in self._models.values():
            check = await model.readiness_check()
            checks.setdefault(check.name, check)
        return list(checks.values())

    async def aclose(self) -> None:
        closed: set[int] = set()
        for model in self._models.values():
            if isinstance(model, OpenAICompatChatModel) and id(model.client) not in closed:
                closed.add(id(model.client))
                await model.aclose()
        for pool in self.pools:
            pool.close()
