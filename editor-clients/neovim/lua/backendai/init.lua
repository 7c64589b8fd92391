---@mod backendai Run code on Backend.AI compute sessions from Neovim, through bai-lsp.
---
--- Public API (all functions work without setup(); setup() only changes options):
---   setup(opts), run(opts), run_cell(), run_file(mode), interrupt(), restart(), destroy(),
---   start(), sessions(), session_status(), open_output(), clear_output(), status(bufnr),
---   vars(), inspect(name, offset), export(path).
--- Every command function takes an optional `on_done(err, result)` callback.

local protocol = require('backendai.protocol')
local config = require('backendai.config')
local lsp = require('backendai.lsp')
local output = require('backendai.output')
local status = require('backendai.status')

local M = {}

local api = vim.api
local registered = false

local function notify(msg, level)
  vim.notify('BackendAI: ' .. msg, level or vim.log.levels.INFO)
end

local function ensure_registered()
  if not registered then
    registered = true
    lsp.register()
  end
end

--- Configure the plugin. Unknown keys and wrong types are reported by name; on error the
--- previous options stay in force.
---@param opts backendai.Options|table|nil
---@return boolean ok, string|nil error
function M.setup(opts)
  local merged, err = config.resolve(opts)
  if not merged then
    notify('invalid setup() options: ' .. err, vim.log.levels.ERROR)
    return false, err
  end
  config.current = merged
  registered = true
  lsp.register()
  return true, nil
end

--- The buffer a command acts on: the current one, or, in the output buffer, the document of
--- the latest run.
local function target_buffer()
  local buf = api.nvim_get_current_buf()
  local view = output.view_of_buffer(buf)
  if view and view.last_uri then
    return vim.uri_to_bufnr(view.last_uri)
  end
  return buf
end

--- Report a command's error to the user (and to `on_done`).
local function finish(on_done, err, result)
  if err then
    notify(lsp.error_message(err), vim.log.levels.ERROR)
  end
  if on_done then
    on_done(err, result)
  end
end

local function execute(bufnr, command, argument, on_done, on_result)
  ensure_registered()
  lsp.execute(bufnr, command, argument, function(err, result, client)
    if not err and on_result then
      on_result(result, client)
    end
    finish(on_done, err, result)
  end)
end

local function uri_of(bufnr)
  return vim.uri_from_bufnr(bufnr)
end

--- LSP character offset of a byte column in the given encoding.
local function char_offset(bufnr, row, col, encoding)
  if col <= 0 then
    return 0
  end
  return vim.lsp.util.character_offset(bufnr, row, col, encoding)
end

local function encoding_of(bufnr)
  local client = vim.lsp.get_clients({ name = lsp.name, bufnr = bufnr })[1]
  return client and client.offset_encoding or 'utf-16'
end

--- The LSP range of lines `l1`..`l2` (1-based, inclusive) or of a charwise selection.
---@param bufnr integer
---@param l1 integer
---@param l2 integer
---@param c1 integer|nil 0-based byte column of the first character (charwise)
---@param c2 integer|nil 0-based byte column of the last character (charwise, inclusive)
---@param encoding string
---@return table
function M.make_range(bufnr, l1, l2, c1, c2, encoding)
  local last = api.nvim_buf_get_lines(bufnr, l2 - 1, l2, false)[1] or ''
  local start_col, end_col = 0, #last
  if c1 and c2 then
    start_col = c1
    if c2 < #last then
      end_col = c2 + 1 + vim.str_utf_end(last, c2 + 1)
    end
  end
  return {
    start = { line = l1 - 1, character = char_offset(bufnr, l1 - 1, start_col, encoding) },
    ['end'] = { line = l2 - 1, character = char_offset(bufnr, l2 - 1, end_col, encoding) },
  }
end

---@class backendai.RunOpts
---@field line1 integer|nil first line (1-based); default: the cursor line
---@field line2 integer|nil last line (1-based, inclusive)
---@field charwise boolean|nil use the columns of the last visual selection ('< and '>)
---@field bufnr integer|nil

--- Run the given lines (or the current line) in query mode.
---@param opts backendai.RunOpts|nil
---@param on_done fun(err: any, result: table|nil)|nil
--- Runs address lines of a source buffer: refuse them in the output buffer.
local function source_only(bufnr, on_done)
  if output.view_of_buffer(bufnr) then
    finish(on_done, 'go to a source buffer to run code (this is the output buffer)')
    return false
  end
  return true
end

function M.run(opts, on_done)
  opts = opts or {}
  local bufnr = opts.bufnr or api.nvim_get_current_buf()
  if not source_only(bufnr, on_done) then
    return
  end
  local cursor = api.nvim_win_get_cursor(0)[1]
  local l1 = opts.line1 or cursor
  local l2 = opts.line2 or l1
  if l2 < l1 then
    l1, l2 = l2, l1
  end
  local c1, c2
  if opts.charwise then
    local s = api.nvim_buf_get_mark(bufnr, '<')
    local e = api.nvim_buf_get_mark(bufnr, '>')
    if s[1] == l1 and e[1] == l2 then
      c1, c2 = s[2], e[2]
    end
  end
  ensure_registered()
  lsp.with_client(bufnr, function(client)
    local range = M.make_range(bufnr, l1, l2, c1, c2, client.offset_encoding or 'utf-16')
    execute(bufnr, protocol.commands.run_selection, { uri = uri_of(bufnr), range = range }, on_done)
  end, function(message)
    finish(on_done, message, nil)
  end)
end

--- Run the `# %%` cell around the cursor.
---@param on_done fun(err: any, result: table|nil)|nil
function M.run_cell(on_done)
  local bufnr = api.nvim_get_current_buf()
  if not source_only(bufnr, on_done) then
    return
  end
  local pos = api.nvim_win_get_cursor(0)
  ensure_registered()
  lsp.with_client(bufnr, function(client)
    local row = pos[1] - 1
    local position = {
      line = row,
      character = char_offset(bufnr, row, pos[2], client.offset_encoding or 'utf-16'),
    }
    execute(bufnr, protocol.commands.run_cell, { uri = uri_of(bufnr), position = position }, on_done)
  end, function(message)
    finish(on_done, message, nil)
  end)
end

--- Run the whole file, in "query" (default) or "batch" mode.
---@param mode 'query'|'batch'|nil
---@param on_done fun(err: any, result: table|nil)|nil
function M.run_file(mode, on_done)
  mode = mode or 'query'
  if mode ~= 'query' and mode ~= 'batch' then
    return finish(on_done, ('run_file: mode must be "query" or "batch", got %q'):format(mode))
  end
  local bufnr = target_buffer()
  execute(bufnr, protocol.commands.run_file, { uri = uri_of(bufnr), mode = mode }, on_done)
end

--- Interrupt the running code of the current workspace.
---@param on_done fun(err: any, result: any)|nil
function M.interrupt(on_done)
  local bufnr = target_buffer()
  execute(bufnr, protocol.commands.interrupt, { uri = uri_of(bufnr) }, on_done)
end

local function session_command(command, verb)
  return function(on_done)
    local bufnr = target_buffer()
    execute(bufnr, command, { uri = uri_of(bufnr) }, on_done, function(result)
      if verb and type(result) == 'table' then
        notify(('%s %s: %s'):format(verb, result.sessionName or '?', result.status or '?'))
      end
    end)
  end
end

--- Start the workspace's session now (runs start it on demand anyway).
M.start = session_command(protocol.commands.session_start, 'session')
--- Restart the workspace's session (a fresh kernel; files stay).
M.restart = session_command(protocol.commands.session_restart, 'restarted')
--- Destroy the workspace's session.
M.destroy = session_command(protocol.commands.session_destroy, 'destroyed')
local session_status = session_command(protocol.commands.session_status, 'session')
--- Show the status of the workspace's session (and refresh the statusline countdowns).
---@param on_done fun(err: any, result: any)|nil
function M.session_status(on_done)
  session_status(function(err, result)
    if not err then
      require('backendai.launcher').record(result)
    end
    if on_done then
      on_done(err, result)
    end
  end)
end

--- Lines describing a session list (name, status, image, workspace).
---@param result table {sessions: table[]}
---@return string[]
function M.format_sessions(result)
  local sessions = type(result) == 'table' and result.sessions or {}
  if #sessions == 0 then
    return { 'no sessions' }
  end
  local lines = {}
  for _, s in ipairs(sessions) do
    local ws = (type(s.workspace) == 'string' and s.workspace ~= '')
        and ('  ' .. vim.fn.fnamemodify(vim.uri_to_fname(s.workspace), ':~'))
      or ''
    lines[#lines + 1] = ('%-28s %-12s %s%s'):format(s.name or '?', s.status or '?', s.image or '?', ws)
  end
  return lines
end

--- List the sessions of this server's keypair.
---@param on_done fun(err: any, result: table|nil)|nil
function M.sessions(on_done)
  local bufnr = target_buffer()
  execute(bufnr, protocol.commands.session_list, vim.empty_dict(), on_done, function(result)
    notify('sessions:\n' .. table.concat(M.format_sessions(result), '\n'))
  end)
end

--- The output buffer's key for the current buffer's workspace.
local function current_key()
  local view = output.view_of_buffer(api.nvim_get_current_buf())
  if view then
    return view.key
  end
  return lsp.key_of_root(lsp.root_dir(api.nvim_get_current_buf()))
end

--- Show the output window of the current workspace.
function M.open_output()
  output.open(current_key(), true)
end

--- Clear the output buffer of the current workspace.
function M.clear_output()
  output.clear(current_key())
end

--- Statusline component: "BAI idle", "BAI busy", "BAI input?"…; "" when no server serves
--- the buffer. Changes fire `User BackendAIStatus`.
---@param bufnr integer|nil
---@return string
function M.status(bufnr)
  return status.text(bufnr)
end

--- The status as a table ({status, session, image, message, runs}) for custom statuslines.
---@param bufnr integer|nil
---@return table|nil
function M.status_info(bufnr)
  return status.get(bufnr)
end

--- Lines of the current workspace's output buffer.
---@param bufnr integer|nil
---@return string[]
function M.output_lines(bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  local view = output.view_of_buffer(bufnr)
  if view then
    return output.lines(view.key)
  end
  return output.lines(lsp.key_of_root(lsp.root_dir(bufnr)))
end

--- Open a terminal (a split with a terminal buffer) on the workspace's session.
---@param on_done fun(err: any, term: table|nil)|nil
---@return table the terminal (buf, id once open, closed = reason once closed)
function M.terminal(on_done)
  ensure_registered()
  return require('backendai.terminal').open(target_buffer(), on_done)
end

--- Open one of the session's apps (`name`), or choose from the list; the local URL opens
--- with vim.ui.open.
---@param name string|nil
---@param on_done fun(err: any, result: table|nil)|nil
function M.apps(name, on_done)
  ensure_registered()
  require('backendai.terminal').apps(target_buffer(), name, on_done)
end

--- The session's variables in a float (backendai.session.variables).
---@param on_done fun(err: any, result: table|nil, float: table|nil)|nil
function M.vars(on_done)
  ensure_registered()
  require('backendai.live').vars(target_buffer(), on_done)
end

--- One page of a variable (the word under the cursor by default) in a float; n/p page.
---@param name string|nil
---@param offset integer|nil
---@param on_done fun(err: any, result: table|nil, float: table|nil)|nil
function M.inspect(name, offset, on_done)
  ensure_registered()
  require('backendai.live').inspect(target_buffer(), name, offset, on_done)
end

--- Write the workspace's run log to `path` (.ipynb: a notebook; else an HTML page).
---@param path string
---@param on_done fun(err: any, result: table|nil)|nil
function M.export(path, on_done)
  ensure_registered()
  require('backendai.live').export(target_buffer(), path, on_done)
end

--- Choose image, preset, resource group and mount for the workspace's next session.
---@param on_done fun(err: any, result: table|nil)|nil
function M.configure(on_done)
  ensure_registered()
  require('backendai.launcher').configure(target_buffer(), on_done)
end

--- Open the vfolder browser.
---@param on_done fun(err: any)|nil
---@return table the folder view
function M.folders(on_done)
  ensure_registered()
  return require('backendai.launcher').folders(target_buffer(), on_done)
end

--- Sub-commands of :BackendAI.
M.subcommands = {
  configure = function()
    M.configure()
  end,
  folders = function()
    M.folders()
  end,
  run = function(cmd)
    if cmd.range > 0 then
      M.run({ line1 = cmd.line1, line2 = cmd.line2, charwise = cmd.charwise })
    else
      M.run()
    end
  end,
  run_cell = function()
    M.run_cell()
  end,
  run_file = function(cmd)
    M.run_file(cmd.fargs[2])
  end,
  interrupt = function()
    M.interrupt()
  end,
  restart = function()
    M.restart()
  end,
  destroy = function()
    M.destroy()
  end,
  start = function()
    M.start()
  end,
  status = function()
    M.session_status()
  end,
  sessions = function()
    M.sessions()
  end,
  output = function()
    M.open_output()
  end,
  clear = function()
    M.clear_output()
  end,
  terminal = function()
    M.terminal()
  end,
  apps = function(cmd)
    M.apps(cmd.fargs[2])
  end,
  vars = function()
    M.vars()
  end,
  inspect = function(cmd)
    M.inspect(cmd.fargs[2], tonumber(cmd.fargs[3]))
  end,
  export = function(cmd)
    M.export(cmd.fargs[2])
  end,
  install = function(cmd)
    require('backendai.install').command(cmd.fargs[2])
  end,
}

--- Entry point of the :BackendAI user command.
---@param cmd table the user command's argument table (fargs, range, line1, line2)
function M.command(cmd)
  local name = cmd.fargs[1]
  local fn = name and M.subcommands[name]
  if not fn then
    local names = vim.tbl_keys(M.subcommands)
    table.sort(names)
    notify(
      ('unknown sub-command %s; use one of: %s'):format(
        name and ('%q'):format(name) or '(none)',
        table.concat(names, ', ')
      ),
      vim.log.levels.ERROR
    )
    return
  end
  if name == 'run_file' and cmd.fargs[2] and cmd.fargs[2] ~= 'batch' and cmd.fargs[2] ~= 'query' then
    notify(('run_file takes "batch" or "query", got %q'):format(cmd.fargs[2]), vim.log.levels.ERROR)
    return
  end
  fn(cmd)
end

--- Completion of :BackendAI arguments.
---@param arglead string
---@param cmdline string
---@return string[]
function M.complete(arglead, cmdline)
  local args = vim.split(cmdline, '%s+', { trimempty = true })
  local n = #args + (cmdline:match('%s$') and 1 or 0)
  local candidates
  if n <= 2 then
    candidates = vim.tbl_keys(M.subcommands)
    table.sort(candidates)
  elseif args[2] == 'run_file' and n == 3 then
    candidates = { 'batch', 'query' }
  elseif args[2] == 'install' and n == 3 then
    return vim.fn.getcompletion(arglead, 'file')
  else
    return {}
  end
  return vim.tbl_filter(function(c)
    return vim.startswith(c, arglead)
  end, candidates)
end

return M
