---@mod backendai.terminal The session's shell in a terminal buffer, and its apps.
---
--- `:BackendAI terminal` opens a split with a terminal buffer (nvim_open_term) whose
--- keys go to the shell in the workspace's compute session (backendai.terminal.input) and
--- whose screen is fed by backendai/terminalOutput. The window's size follows the split
--- (backendai.terminal.resize). When the shell exits or the session ends, the reason is
--- written into the buffer and notified. `:BackendAI apps` lists the session's apps and
--- opens the chosen one (backendai.session.openApp → a local URL → vim.ui.open).

local protocol = require('backendai.protocol')
local M = {}

local api = vim.api

---@class backendai.Terminal
---@field id string|nil terminalId, once the server answered
---@field buf integer
---@field chan integer
---@field client vim.lsp.Client|nil
---@field source integer the buffer whose workspace the session belongs to
---@field closed string|nil the reason, once closed
---@field size integer[]|nil the last size sent {cols, rows}

---@type table<string, backendai.Terminal> by terminalId
M.by_id = {}
---@type table<integer, backendai.Terminal> by terminal buffer
M.by_buf = {}
--- Output and close notices that arrived before the open answer (by terminalId).
local early = {}

local has_011 = vim.fn.has('nvim-0.11') == 1

local function notify(msg, level)
  vim.notify('BackendAI: ' .. msg, level or vim.log.levels.INFO)
end

local function request(client, command, argument, cb)
  local params = { command = command, arguments = { argument } }
  local handler = function(err, result)
    if cb then
      cb(err, result)
    end
  end
  if has_011 then
    return client:request('workspace/executeCommand', params, handler)
  end
  return client.request('workspace/executeCommand', params, handler)
end

local function send(term, command, argument)
  if not term.client or not term.id or term.closed then
    return
  end
  argument.terminalId = term.id
  request(term.client, command, argument, function(err)
    if err and not term.closed then
      notify(require('backendai.lsp').error_message(err), vim.log.levels.WARN)
    end
  end)
end

local function window_size(term)
  local win = vim.fn.bufwinid(term.buf)
  if win == -1 then
    return nil
  end
  return { api.nvim_win_get_width(win), api.nvim_win_get_height(win) }
end

--- Tell the server the terminal window's size when it changed.
function M.sync_size(term)
  local size = window_size(term)
  if not size or (term.size and term.size[1] == size[1] and term.size[2] == size[2]) then
    return
  end
  term.size = size
  send(term, protocol.commands.terminal_resize, { cols = size[1], rows = size[2] })
end

local function feed(term, data)
  if api.nvim_buf_is_valid(term.buf) then
    api.nvim_chan_send(term.chan, data)
  end
end

local function mark_closed(term, reason)
  if term.closed then
    return
  end
  term.closed = reason
  feed(term, '\r\n[BackendAI: terminal closed: ' .. reason .. ']\r\n')
  if api.nvim_buf_is_valid(term.buf) then
    vim.b[term.buf].backendai_terminal_closed = reason
  end
  if term.id then
    M.by_id[term.id] = nil
  end
  notify('terminal closed: ' .. reason)
  pcall(api.nvim_exec_autocmds, 'User', {
    pattern = 'BackendAITerminalClosed',
    modeline = false,
    data = { terminalId = term.id, reason = reason, buf = term.buf },
  })
end

--- backendai/terminalOutput
function M.on_output(_, p, _)
  local term = M.by_id[p.terminalId]
  if term then
    feed(term, p.data)
  else
    early[p.terminalId] = early[p.terminalId] or {}
    table.insert(early[p.terminalId], { data = p.data })
  end
end

--- backendai/terminalClosed
function M.on_closed(_, p, _)
  local term = M.by_id[p.terminalId]
  if term then
    mark_closed(term, p.reason or 'closed')
  else
    early[p.terminalId] = early[p.terminalId] or {}
    table.insert(early[p.terminalId], { reason = p.reason or 'closed' })
  end
end

--- Open a terminal on the session of `source` (default: the current buffer's workspace).
---@param source integer|nil
---@param on_done fun(err: any, term: backendai.Terminal|nil)|nil
function M.open(source, on_done)
  source = source or api.nvim_get_current_buf()
  local lsp = require('backendai.lsp')
  vim.cmd('botright split')
  local win = api.nvim_get_current_win()
  local buf = api.nvim_create_buf(false, true)
  api.nvim_win_set_buf(win, buf)
  local term = { buf = buf, source = source }
  term.chan = api.nvim_open_term(buf, {
    on_input = function(_, _, _, data)
      send(term, protocol.commands.terminal_input, { data = data })
    end,
  })
  M.by_buf[buf] = term
  pcall(api.nvim_buf_set_name, buf, 'backendai://terminal/' .. buf)
  vim.bo[buf].bufhidden = 'wipe'
  feed(term, '[BackendAI: opening a terminal in the session…]\r\n')
  local size = window_size(term)
  term.size = size
  lsp.with_client(source, function(client)
    term.client = client
    request(client, protocol.commands.terminal_open, {
      uri = vim.uri_from_bufnr(source),
      cols = size and size[1] or 80,
      rows = size and size[2] or 24,
    }, function(err, result)
      if err then
        mark_closed(term, lsp.error_message(err))
        notify(lsp.error_message(err), vim.log.levels.ERROR)
        return on_done and on_done(err, nil)
      end
      term.id = result.terminalId
      vim.b[buf].backendai_terminal = term.id
      vim.b[buf].backendai_session = result.sessionName
      M.by_id[term.id] = term
      for _, item in ipairs(early[term.id] or {}) do
        if item.data then
          feed(term, item.data)
        else
          mark_closed(term, item.reason)
        end
      end
      early[term.id] = nil
      M.sync_size(term)
      if on_done then
        on_done(nil, term)
      end
    end)
  end, function(message)
    mark_closed(term, message)
    notify(message, vim.log.levels.ERROR)
    if on_done then
      on_done(message, nil)
    end
  end)
  local group = api.nvim_create_augroup('backendai_terminal_' .. buf, { clear = true })
  api.nvim_create_autocmd({ 'WinResized', 'VimResized', 'BufWinEnter' }, {
    group = group,
    callback = function()
      if api.nvim_buf_is_valid(buf) and not term.closed then
        M.sync_size(term)
      end
    end,
  })
  api.nvim_create_autocmd('BufWipeout', {
    group = group,
    buffer = buf,
    callback = function()
      M.by_buf[buf] = nil
      if not term.closed then
        send(term, protocol.commands.terminal_close, {})
        term.closed = 'buffer wiped'
      end
      if term.id then
        M.by_id[term.id] = nil
      end
      pcall(api.nvim_del_augroup_by_id, group)
    end,
  })
  return term
end

--- The lines of an app list, for vim.ui.select.
function M.format_app(app)
  local ports = table.concat(vim.tbl_map(tostring, app.ports or {}), ',')
  return ('%s (%s, port %s)'):format(app.name, app.protocol or '?', ports)
end

--- Open one app by name: the server forwards it to a local URL, which vim.ui.open opens.
---@param source integer
---@param name string
---@param on_done fun(err: any, result: table|nil)|nil
function M.open_app(source, name, on_done)
  local lsp = require('backendai.lsp')
  lsp.execute(source, protocol.commands.session_open_app, { uri = vim.uri_from_bufnr(source), app = name }, function(err, result)
    if err then
      notify(lsp.error_message(err), vim.log.levels.ERROR)
    else
      notify(('app %s of %s: %s'):format(result.app, result.sessionName, result.url))
      if vim.ui.open then
        pcall(vim.ui.open, result.url)
      end
    end
    if on_done then
      on_done(err, result)
    end
  end)
end

--- `:BackendAI apps [name]`: open `name`, or choose among the session's apps.
---@param source integer|nil
---@param name string|nil
---@param on_done fun(err: any, result: table|nil)|nil
function M.apps(source, name, on_done)
  source = source or api.nvim_get_current_buf()
  if name and name ~= '' then
    return M.open_app(source, name, on_done)
  end
  local lsp = require('backendai.lsp')
  lsp.execute(source, protocol.commands.session_apps, { uri = vim.uri_from_bufnr(source) }, function(err, result)
    if err then
      notify(lsp.error_message(err), vim.log.levels.ERROR)
      return on_done and on_done(err, nil)
    end
    local apps = result.apps or {}
    if #apps == 0 then
      notify(('session %s offers no apps; declare ports in the `apps` setting'):format(result.sessionName or '?'))
      return on_done and on_done(nil, result)
    end
    vim.ui.select(apps, { prompt = 'Open app of ' .. (result.sessionName or '?'), format_item = M.format_app }, function(app)
      if app then
        M.open_app(source, app.name, on_done)
      elseif on_done then
        on_done(nil, nil)
      end
    end)
  end)
end

return M
