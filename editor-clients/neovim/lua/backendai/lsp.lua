---@mod backendai.lsp LSP wiring: the client configuration, handlers and command requests.

local protocol = require('backendai.protocol')
local config = require('backendai.config')
local output = require('backendai.output')
local status = require('backendai.status')
local text = require('backendai.text')

local M = {}

M.name = 'backendai'

local has_011 = vim.fn.has('nvim-0.11') == 1

--- Neovim filetypes whose LSP languageId differs from the filetype name.
M.language_ids = {
  sh = 'shellscript',
  bash = 'shellscript',
  zsh = 'shellscript',
  javascriptreact = 'javascriptreact',
  typescriptreact = 'typescriptreact',
}

---@param _bufnr integer
---@param filetype string
---@return string
function M.language_id(_bufnr, filetype)
  return M.language_ids[filetype] or filetype
end

--- The workspace folder of a buffer: the nearest folder with a root marker, else the
--- file's own folder.
---@param bufnr integer
---@return string
function M.root_dir(bufnr)
  local fname = vim.api.nvim_buf_get_name(bufnr)
  if fname == '' then
    return vim.fn.getcwd()
  end
  local root = vim.fs.root(bufnr, config.current.root_markers)
  return root or vim.fs.dirname(vim.fs.normalize(vim.fn.fnamemodify(fname, ':p')))
end

--- The name of a workspace's output buffer.
---@param root string
---@return string
function M.key_of_root(root)
  return vim.fn.fnamemodify(root, ':~')
end

---@param client_id integer
---@return string
function M.key_of_client(client_id)
  local client = vim.lsp.get_client_by_id(client_id)
  local root = client and (client.root_dir or (client.workspace_folders or {})[1] and vim.uri_to_fname(
    client.workspace_folders[1].uri
  ))
  return M.key_of_root(root or vim.fn.getcwd())
end

--- LSP client capabilities: Neovim's own plus `experimental.backendai.input`, which tells the
--- server that this client answers `backendai/input` requests.
---@return table
function M.capabilities()
  local caps = vim.lsp.protocol.make_client_capabilities()
  caps.experimental = vim.tbl_deep_extend('force', caps.experimental or {}, {
    backendai = { input = true },
  })
  return caps
end

--- Which workspace folders a client serves.
local function client_workspaces(client)
  local out = {}
  for _, f in ipairs(client and client.workspace_folders or {}) do
    out[#out + 1] = f.uri
  end
  return out
end

--- The workspace folder (of a client) a document belongs to.
local function workspace_of(client_id, uri)
  local folders = client_workspaces(vim.lsp.get_client_by_id(client_id))
  for _, ws in ipairs(folders) do
    if type(uri) == 'string' and vim.startswith(uri, ws:gsub('/$', '') .. '/') then
      return ws
    end
  end
  return folders[1]
end

--- Handlers of the server's notifications and requests.
---@return table<string, function>
function M.handlers()
  return {
    [protocol.notifications.run_started] = function(_, p, ctx)
      status.count_run(workspace_of(ctx.client_id, p.uri), 1)
      output.run_started(M.key_of_client(ctx.client_id), p)
    end,
    [protocol.notifications.output] = function(_, p, ctx)
      output.output(M.key_of_client(ctx.client_id), p)
    end,
    [protocol.notifications.run_finished] = function(_, p, ctx)
      status.count_run(workspace_of(ctx.client_id, p.uri), -1)
      output.run_finished(M.key_of_client(ctx.client_id), p)
      pcall(vim.api.nvim_exec_autocmds, 'User', {
        pattern = 'BackendAIRunFinished',
        modeline = false,
        data = p,
      })
      local long = config.current.notify.long_run_ms
      if p.status ~= 'finished' then
        vim.notify(
          ('BackendAI: run %s%s'):format(
            p.status,
            type(p.message) == 'string' and (': ' .. p.message) or ''
          ),
          vim.log.levels.WARN
        )
      elseif long > 0 and type(p.durationMs) == 'number' and p.durationMs >= long then
        vim.notify(
          ('BackendAI: run finished after %s (exit %s)'):format(
            text.duration(p.durationMs),
            tostring(p.exitCode)
          ),
          vim.log.levels.INFO
        )
      end
    end,
    [protocol.notifications.session_status] = function(_, p, _)
      status.update(p)
      require('backendai.launcher').start_polling()
      -- a lost session is news, unless the server says this user destroyed it; an `error`
      -- status comes with the failing command's own error message, so it only shows in the
      -- statusline
      if p.status == 'terminated' and type(p.message) == 'string' and p.reason ~= protocol.reasons.destroyed_by_user then
        vim.notify(('BackendAI: %s: %s'):format(p.sessionName or '?', p.message), vim.log.levels.WARN)
      end
    end,
    [protocol.requests.input] = function(err, p, ctx)
      return require('backendai.input').handle(err, p, ctx)
    end,
    [protocol.notifications.terminal_output] = function(err, p, ctx)
      require('backendai.terminal').on_output(err, p, ctx)
    end,
    [protocol.notifications.terminal_closed] = function(err, p, ctx)
      require('backendai.terminal').on_closed(err, p, ctx)
    end,
  }
end

---@param _code integer
---@param _signal integer
---@param client_id integer
local function on_exit(code, signal, client_id)
  vim.schedule(function()
    local client = vim.lsp.get_client_by_id(client_id)
    status.forget(client_workspaces(client))
    if code ~= 0 and signal ~= 15 and signal ~= 9 then
      vim.notify(
        ('BackendAI: the server exited with code %d (see :LspLog)'):format(code),
        vim.log.levels.ERROR
      )
    end
  end)
end

---@param t table
---@return table t, or vim.empty_dict() (encoded as {}) when it is empty
local function as_object(t)
  return next(t) == nil and vim.empty_dict() or t
end

--- The client configuration for vim.lsp.config / vim.lsp.start.
---@return table
function M.client_config()
  local opts = config.current
  return {
    name = M.name,
    cmd = require('backendai.install').resolve_cmd(vim.deepcopy(opts.cmd)),
    cmd_env = opts.cmd_env and vim.deepcopy(opts.cmd_env) or nil,
    filetypes = vim.deepcopy(opts.filetypes),
    root_markers = vim.deepcopy(opts.root_markers),
    root_dir = function(bufnr, on_dir)
      on_dir(M.root_dir(bufnr))
    end,
    capabilities = M.capabilities(),
    -- an empty Lua table is encoded as [] (the server wants an object): no setup() settings
    settings = { backendai = as_object(vim.deepcopy(opts.settings)) },
    init_options = { backendai = as_object(vim.deepcopy(opts.settings)) },
    handlers = M.handlers(),
    get_language_id = M.language_id,
    on_exit = on_exit,
    on_init = function(client)
      require('backendai.install').on_init(client)
    end,
  }
end

--- Register the configuration (Neovim 0.11: vim.lsp.config; autostart via vim.lsp.enable or,
--- on 0.10, a FileType autocommand).
function M.register()
  local group = vim.api.nvim_create_augroup('backendai_lsp', { clear = true })
  if has_011 then
    vim.lsp.config(M.name, M.client_config())
    if config.current.autostart then
      vim.lsp.enable(M.name)
    end
  elseif config.current.autostart and #config.current.filetypes > 0 then
    vim.api.nvim_create_autocmd('FileType', {
      group = group,
      pattern = config.current.filetypes,
      callback = function(ev)
        if vim.api.nvim_buf_get_name(ev.buf) ~= '' and vim.bo[ev.buf].buftype == '' then
          M.start(ev.buf)
        end
      end,
    })
  end
end

--- The configuration vim.lsp.start gets for one buffer.
local function start_config(bufnr)
  local cfg
  if has_011 then
    cfg = vim.deepcopy(vim.lsp.config[M.name] or M.client_config())
  else
    cfg = M.client_config()
  end
  cfg.root_dir = M.root_dir(bufnr)
  cfg.workspace_folders = nil
  return cfg
end

--- Start (or reuse) the client for a buffer and attach it.
---@param bufnr integer
---@return integer|nil client id, string|nil error
function M.start(bufnr)
  local cmd = require('backendai.install').resolve_cmd(config.current.cmd)
  if vim.fn.executable(cmd[1]) ~= 1 then
    return nil,
      ('the server command %q was not found: install bai-lsp with :BackendAI install, or set `cmd` in require("backendai").setup()'):format(
        cmd[1]
      )
  end
  local id = vim.lsp.start(start_config(bufnr), { bufnr = bufnr })
  if not id then
    return nil, 'could not start the server (see :LspLog)'
  end
  return id, nil
end

--- Call `fn(client)` once the backendai client is initialized and attached to `bufnr`,
--- starting the server when needed.
---@param bufnr integer
---@param fn fun(client: vim.lsp.Client)
---@param on_error fun(message: string)
function M.with_client(bufnr, fn, on_error)
  if vim.api.nvim_buf_get_name(bufnr) == '' then
    return on_error('save the buffer to a file first: runs are addressed by file')
  end
  for _, c in ipairs(vim.lsp.get_clients({ name = M.name, bufnr = bufnr })) do
    if c.initialized then
      return fn(c)
    end
  end
  local id, err = M.start(bufnr)
  if not id then
    return on_error(err)
  end
  local deadline = vim.uv.now() + 60000
  local timer = assert(vim.uv.new_timer())
  timer:start(
    20,
    50,
    vim.schedule_wrap(function()
      if timer:is_closing() then
        return
      end
      local client = vim.lsp.get_client_by_id(id)
      if not client or client:is_stopped() then
        timer:close()
        return on_error('the server stopped while starting (see :LspLog)')
      end
      if client.initialized and vim.lsp.buf_is_attached(bufnr, id) then
        timer:close()
        return fn(client)
      end
      if vim.uv.now() > deadline then
        timer:close()
        return on_error('the server did not start within 60 s (see :LspLog)')
      end
    end)
  )
end

--- client:request on 0.11, client.request on 0.10.
local function request(client, method, params, handler, bufnr)
  if has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

--- The message a user sees for a failed command.
---@param err table|string
---@return string
function M.error_message(err)
  if type(err) == 'table' then
    local msg = err.message or vim.inspect(err)
    return msg
  end
  return tostring(err)
end

--- Run a server command for a buffer; `cb(err, result, client)` gets the answer.
---@param bufnr integer
---@param command string
---@param argument table
---@param cb fun(err: table|string|nil, result: any, client: vim.lsp.Client|nil)
function M.execute(bufnr, command, argument, cb)
  M.with_client(bufnr, function(client)
    local ok = request(client, 'workspace/executeCommand', {
      command = command,
      arguments = { argument },
    }, function(err, result)
      cb(err, result, client)
    end, bufnr)
    if not ok then
      cb('the request could not be sent: the server is not running', nil, client)
    end
  end, function(message)
    cb(message, nil, nil)
  end)
end

return M
