-- Neovim 0.11 picks this up for `vim.lsp.enable('backendai')`; setup() overrides it with
-- the user's options through vim.lsp.config('backendai', ...).
return require('backendai.lsp').client_config()
