"""The language side: settings, chat models, tools, knowledge base, agent and storage."""
