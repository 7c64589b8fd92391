"""bai-lsp: run code on Backend.AI compute sessions from any LSP editor."""

__version__ = "0.1.0"
