---@mod backendai.output The output buffer: one scratch buffer per workspace that streams runs.
---
--- Each run gets a header line, its console text (stderr highlighted, "\r" progress bars
--- rewritten in place, ANSI colour codes removed), a line per saved image, and a footer
--- with its status. Windows that show the buffer follow its end unless the user moved the
--- cursor up to read something, and old lines are dropped past `output.max_lines`.

local config = require('backendai.config')
local text = require('backendai.text')

local M = {}

local api = vim.api
M.ns = api.nvim_create_namespace('backendai')

---@class backendai.View
---@field key string workspace name the buffer belongs to
---@field buf integer
---@field empty boolean the buffer holds nothing yet
---@field last_owner string|nil run whose unfinished line is the buffer's last line
---@field last_uri string|nil document of the latest run (for <C-c> in the output buffer)

---@class backendai.RunView
---@field key string
---@field open string|nil the run's unfinished last line
---@field cr boolean its last chunk ended with "\r"
---@field media integer number of media files saved
---@field uri string|nil
---@field media_paths string[]

---@type table<string, backendai.View>
M.views = {}
---@type table<string, backendai.RunView>
M.runs = {}

local function define_highlights()
  local links = {
    BackendAIHeader = 'Title',
    BackendAIFooter = 'Comment',
    BackendAIError = 'DiagnosticError',
    BackendAIStderr = 'ErrorMsg',
    BackendAIMedia = 'Underlined',
    BackendAINote = 'WarningMsg',
  }
  for group, target in pairs(links) do
    api.nvim_set_hl(0, group, { link = target, default = true })
  end
end
define_highlights()
api.nvim_create_autocmd('ColorScheme', {
  group = api.nvim_create_augroup('backendai_output_hl', { clear = true }),
  callback = define_highlights,
})

local function valid(view)
  return view and api.nvim_buf_is_valid(view.buf)
end

--- The view (and its buffer) of a workspace, created on first use.
---@param key string
---@return backendai.View
function M.view(key)
  local view = M.views[key]
  if valid(view) then
    return view
  end
  local buf = api.nvim_create_buf(false, true)
  api.nvim_buf_set_name(buf, 'backendai://' .. key)
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'hide'
  vim.bo[buf].swapfile = false
  vim.bo[buf].modifiable = false
  vim.bo[buf].filetype = 'backendai_output'
  view = { key = key, buf = buf, empty = true }
  M.views[key] = view
  vim.keymap.set('n', 'q', '<cmd>close<cr>', { buffer = buf, desc = 'Close the Backend.AI output' })
  vim.keymap.set('n', '<C-c>', function()
    require('backendai').interrupt()
  end, { buffer = buf, desc = 'Interrupt the Backend.AI run' })
  return view
end

--- The view whose buffer is `buf`, if any.
---@param buf integer
---@return backendai.View|nil
function M.view_of_buffer(buf)
  for _, view in pairs(M.views) do
    if view.buf == buf then
      return view
    end
  end
end

local function with_modifiable(buf, fn)
  vim.bo[buf].modifiable = true
  local ok, err = pcall(fn)
  vim.bo[buf].modifiable = false
  if not ok then
    error(err)
  end
end

local function windows_of(buf)
  local wins = {}
  for _, win in ipairs(api.nvim_list_wins()) do
    if api.nvim_win_get_buf(win) == buf then
      wins[#wins + 1] = win
    end
  end
  return wins
end

--- Append lines at the end; returns the row of the first one.
local function append(view, lines)
  local first
  with_modifiable(view.buf, function()
    if view.empty then
      api.nvim_buf_set_lines(view.buf, 0, -1, false, lines)
      first = 0
    else
      first = api.nvim_buf_line_count(view.buf)
      api.nvim_buf_set_lines(view.buf, first, first, false, lines)
    end
  end)
  view.empty = false
  return first
end

local function highlight(view, row, col, end_row, group)
  local last = api.nvim_buf_get_lines(view.buf, end_row, end_row + 1, false)[1] or ''
  if row == end_row and col >= #last then
    return
  end
  pcall(api.nvim_buf_set_extmark, view.buf, M.ns, row, col, {
    end_row = end_row,
    end_col = #last,
    hl_group = group,
  })
end

local function add_line(view, line, group)
  view.last_owner = nil
  local row = append(view, { line })
  if group then
    highlight(view, row, 0, row, group)
  end
  return row
end

local function trim(view)
  local max = config.current.output.max_lines
  local n = api.nvim_buf_line_count(view.buf)
  if n > max then
    with_modifiable(view.buf, function()
      api.nvim_buf_set_lines(view.buf, 0, n - max, false, {})
    end)
  end
end

--- Keep every window on the buffer's last line, except the current window when the
--- user moved its cursor away from the end (reading back).
local function follow(view, last_before)
  local n = api.nvim_buf_line_count(view.buf)
  local current = api.nvim_get_current_win()
  for _, win in ipairs(windows_of(view.buf)) do
    local row = api.nvim_win_get_cursor(win)[1]
    if win ~= current or row >= last_before then
      pcall(api.nvim_win_set_cursor, win, { n, 0 })
    end
  end
end

--- Run `fn` on the view, then trim and scroll.
local function write(view, fn)
  local before = api.nvim_buf_line_count(view.buf)
  fn()
  trim(view)
  follow(view, math.min(before, api.nvim_buf_line_count(view.buf)))
end

--- Show the workspace's output buffer in a window of the current tab page (if not shown).
---@param key string
---@param focus boolean|nil move the cursor there (default: `output.focus`)
---@return integer window
function M.open(key, focus)
  local view = M.view(key)
  local opts = config.current.output
  if focus == nil then
    focus = opts.focus
  end
  for _, win in ipairs(api.nvim_tabpage_list_wins(0)) do
    if api.nvim_win_get_buf(win) == view.buf then
      if focus then
        api.nvim_set_current_win(win)
      end
      return win
    end
  end
  local previous = api.nvim_get_current_win()
  local win
  if opts.position == 'tab' then
    vim.cmd('tab sbuffer ' .. view.buf)
    win = api.nvim_get_current_win()
  else
    local cfg = { split = opts.position, win = -1 }
    if opts.size > 0 then
      if opts.position == 'below' or opts.position == 'above' then
        cfg.height = opts.size
      else
        cfg.width = opts.size
      end
    end
    win = api.nvim_open_win(view.buf, false, cfg)
  end
  vim.wo[win].number = false
  vim.wo[win].relativenumber = false
  vim.wo[win].signcolumn = 'no'
  vim.wo[win].spell = false
  vim.wo[win].list = false
  pcall(api.nvim_win_set_cursor, win, { api.nvim_buf_line_count(view.buf), 0 })
  if focus then
    api.nvim_set_current_win(win)
  elseif api.nvim_win_is_valid(previous) then
    api.nvim_set_current_win(previous)
  end
  return win
end

--- Close the workspace's output windows in the current tab page.
---@param key string
function M.close(key)
  local view = M.views[key]
  if not valid(view) then
    return
  end
  for _, win in ipairs(api.nvim_tabpage_list_wins(0)) do
    if api.nvim_win_get_buf(win) == view.buf and #api.nvim_tabpage_list_wins(0) > 1 then
      api.nvim_win_close(win, false)
    end
  end
end

--- Empty the workspace's output buffer.
---@param key string
function M.clear(key)
  local view = M.views[key]
  if not valid(view) then
    return
  end
  with_modifiable(view.buf, function()
    api.nvim_buf_set_lines(view.buf, 0, -1, false, {})
  end)
  api.nvim_buf_clear_namespace(view.buf, M.ns, 0, -1)
  view.empty = true
  view.last_owner = nil
end

local function run_of(key, run_id)
  local run = M.runs[run_id]
  if not run then
    run = { key = key, open = nil, cr = false, media = 0, media_paths = {} }
    M.runs[run_id] = run
  end
  return run
end

local function relative(uri)
  if type(uri) ~= 'string' then
    return '?'
  end
  local ok, path = pcall(vim.uri_to_fname, uri)
  if not ok then
    return uri
  end
  return vim.fn.fnamemodify(path, ':~:.')
end

--- `backendai/runStarted`.
---@param key string
---@param p {runId: string, uri: string, mode: string, sessionName: string}
function M.run_started(key, p)
  local opts = config.current.output
  local view = M.view(key)
  if opts.clear then
    M.clear(key)
  end
  local run = run_of(key, p.runId)
  run.uri = p.uri
  view.last_uri = p.uri
  write(view, function()
    local mode = p.mode == 'batch' and ' (batch)' or ''
    add_line(
      view,
      ('▶ %s%s · %s · %s'):format(relative(p.uri), mode, p.sessionName or '?', p.runId),
      'BackendAIHeader'
    )
  end)
  if opts.auto_open then
    M.open(key)
  end
end

local function add_text(view, run_id, run, chunk, group)
  if chunk == '' then
    return
  end
  local owns = view.last_owner == run_id and run.open ~= nil
  local a = text.assemble(owns and run.open or nil, owns and run.cr or false, chunk)
  local row, col
  if owns then
    row = api.nvim_buf_line_count(view.buf) - 1
    with_modifiable(view.buf, function()
      api.nvim_buf_set_lines(view.buf, row, row + 1, false, a.lines)
    end)
    col = vim.startswith(a.lines[1], run.open) and #run.open or 0
  else
    row = append(view, a.lines)
    col = 0
  end
  if group then
    highlight(view, row, col, row + #a.lines - 1, group)
  end
  run.open = a.open
  run.cr = a.cr
  view.last_owner = run_id
end

local function save_media(view, run_id, run, mime, data)
  local dir = config.media_dir()
  vim.fn.mkdir(dir, 'p')
  run.media = run.media + 1
  local path = dir .. '/' .. text.media_name(run_id, run.media, mime)
  local bytes = data
  if text.is_base64(mime) then
    local ok, decoded = pcall(vim.base64.decode, data)
    if not ok then
      add_line(view, ('[%s] could not decode the data: %s'):format(mime, decoded), 'BackendAIError')
      return
    end
    bytes = decoded
  end
  local f, err = io.open(path, 'wb')
  if not f then
    add_line(view, ('[%s] could not save to %s: %s'):format(mime, path, err), 'BackendAIError')
    return
  end
  f:write(bytes)
  f:close()
  run.media_paths[#run.media_paths + 1] = path
  add_line(view, ('[%s] %s'):format(mime, path), 'BackendAIMedia')
  if config.current.media.open then
    local ok, _, open_err = pcall(vim.ui.open, path)
    if not ok or open_err then
      vim.notify(
        ('BackendAI: could not open %s: %s'):format(path, open_err or _),
        vim.log.levels.WARN
      )
    end
  end
end

--- `backendai/output`.
---@param key string
---@param p {runId: string, seq: integer, records: table[]}
function M.output(key, p)
  local view = M.view(key)
  local run = run_of(key, p.runId)
  write(view, function()
    for _, rec in ipairs(p.records or {}) do
      if rec.type == 'stdout' then
        add_text(view, p.runId, run, rec.text or '', nil)
      elseif rec.type == 'stderr' then
        add_text(view, p.runId, run, rec.text or '', 'BackendAIStderr')
      elseif rec.type == 'media' then
        save_media(view, p.runId, run, rec.mime or 'application/octet-stream', rec.data or '')
      elseif rec.type == 'html' then
        save_media(view, p.runId, run, 'text/html', rec.data or '')
      end
    end
  end)
end

--- `backendai/runFinished`.
---@param key string
---@param p table RunResult + {uri, outputFile?}
function M.run_finished(key, p)
  local view = M.view(key)
  write(view, function()
    if p.outputFile and p.outputFile ~= vim.NIL then
      add_line(view, ('[full output] %s'):format(p.outputFile), 'BackendAIMedia')
    end
    local failed = p.status ~= 'finished' or (tonumber(p.exitCode) or 0) ~= 0
    add_line(view, text.footer(p), failed and 'BackendAIError' or 'BackendAIFooter')
  end)
  M.runs[p.runId] = nil
end

--- A line of information from the plugin itself (e.g. a command error).
---@param key string
---@param line string
---@param group string|nil
function M.note(key, line, group)
  local view = M.view(key)
  write(view, function()
    for _, l in ipairs(vim.split(line, '\n', { plain = true })) do
      add_line(view, l, group or 'BackendAINote')
    end
  end)
end

--- The lines of a workspace's output buffer (for tests and scripts).
---@param key string
---@return string[]
function M.lines(key)
  local view = M.views[key]
  if not valid(view) then
    return {}
  end
  return api.nvim_buf_get_lines(view.buf, 0, -1, false)
end

return M
