"""KIP, the Knowledge-Incentive Protocol: agents, treasury, double-entry ledger, budgets, metered tools, memory."""

from council.kip.path import KipPath
from council.kip.runner import AgentRequest, AgentRunner, KipEvent
from council.kip.service import Kip, build_kip, open_kip
from council.kip.stores.base import KipStore

__all__ = ["AgentRequest", "AgentRunner", "Kip", "KipEvent", "KipPath", "KipStore", "build_kip", "open_kip"]
