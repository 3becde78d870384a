"""Language-model backends behind one LangChain chat-model interface, built per council role from settings."""

from council.llm.base import CouncilChatModel, ModelCallError, Usage
from council.llm.registry import ModelRegistry

__all__ = ["CouncilChatModel", "ModelCallError", "ModelRegistry", "Usage"]
